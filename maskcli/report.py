"""Counting outcomes, the messages of a run, the summary line, the JSON report, the exit status.

Every message goes to stderr (through the progress bar's writer, so the bar stays intact);
stdout is kept for data.
"""

from __future__ import annotations

import json
import os
import sys
import time
import weakref

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
REPORT_SCHEMA = 1

_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}


def shown(path) -> str:
    """A path as a message line shows it: a name holding a newline, tab or another character
    that cannot be printed is escaped (\\n, \\t, \\x07, \\u200b; bytes that are not UTF-8
    as \\xff, backslashes doubled) so one file's error stays one line. Printable names are
    shown as they are. Only for messages: --dry-run's plan and the JSON report keep names whole."""
    text = str(path)
    if text.isprintable():
        return text
    out = []
    for ch in text:
        code = ord(ch)
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif 0xDC80 <= code <= 0xDCFF:  # a byte that is not UTF-8 (surrogateescape)
            out.append(f"\\x{code - 0xDC00:02x}")
        elif code < 0x100:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    return "".join(out)


class Report:
    """Counts converted, up-to-date and failed files for one command and owns its exit status.

    Per-file entries are kept only when a JSON report was asked for (``report_to``, the
    report's path or '-'; or ``keep_files``), and then on disk, not in memory: each goes to a
    :class:`Spool` as it comes, so a run over millions of files holds counts, not results.
    """

    def __init__(self, command: str, total: int, write, quiet: bool = False, verbose: bool = False,
                 keep_files: bool = False, report_to: str | None = None):
        self.command = command
        self.total = total
        self.converted = 0
        self.skipped = 0
        self.failed = 0
        self.snapped = 0  # pixels snapped to a nearest palette color
        self.ignored = 0  # pixels written as ignore because their color is unknown
        self.transparent = 0  # pixels written as ignore because they are transparent
        self.files_snapped = 0
        self.files: Spool | None = Spool(report_to) if keep_files or report_to is not None else None
        self.total_known = True  # False while a streamed run is still finding its files
        self._write = write
        self._quiet = quiet
        self._verbose = verbose
        self._started = time.monotonic()

    def done(self, src: str, dst: str | None, error: str | None, info: dict | None = None) -> None:
        """Record one file's outcome; a failure is printed at once, quiet or not."""
        if error is None:
            self.converted += 1
            if info:
                self._note(src, info)
        else:
            self.failed += 1
            self._write(f"error: {shown(src)}: {error}")
        self._keep(src, dst, "failed" if error else "converted", error, info)

    def up_to_date(self, src: str, dst: str) -> None:
        self.skipped += 1
        self._keep(src, dst, "skipped", None, None)

    def _keep(self, src, dst, status, error, info) -> None:
        if self.files is not None:
            error = (info or {}).get("error_detail", error)  # every unknown color, not the first 3
            self.files.add({
                "input": src, "output": dst, "status": status, "error": error,
                "snapped_pixels": (info or {}).get("snapped", 0),
                "ignored_pixels": (info or {}).get("ignored", 0) + (info or {}).get("transparent", 0),
            })

    def _note(self, src: str, info: dict) -> None:
        snapped, ignored, transparent = info.get("snapped", 0), info.get("ignored", 0), info.get("transparent", 0)
        self.snapped += snapped
        self.ignored += ignored
        self.transparent += transparent
        if snapped:
            self.files_snapped += 1
        if self._quiet:
            return
        pixels = max(1, info.get("pixels", 1))
        parts = []
        if snapped:
            parts.append(f"snapped {100 * snapped / pixels:.2f}% of pixels")
        if ignored:
            parts.append(f"ignored {100 * ignored / pixels:.2f}% (unknown colors)")
        if transparent:
            parts.append(f"ignored {100 * transparent / pixels:.2f}% (transparent)")
        self._write(f"note: {shown(src)}: {', '.join(parts)}")
        if self._verbose:
            for have, took, value, n in info.get("snaps", ()):
                self._write(f"  snapped ({have[0]}, {have[1]}, {have[2]}) -> ({took[0]}, {took[1]}, {took[2]}) = {value}: {n} px")

    def warn(self, message: str) -> None:
        if not self._quiet:
            self._write(f"warning: {message}")

    def info(self, message: str) -> None:
        """A message shown only with -v."""
        if self._verbose and not self._quiet:
            self._write(message)

    @property
    def outcomes(self) -> int:
        """Files whose outcome is known (converted, up to date or failed)."""
        return self.converted + self.skipped + self.failed

    @property
    def exit_code(self) -> int:
        return EXIT_FAILED if self.failed else EXIT_OK

    def summary(self, interrupted: str | None = None) -> str:
        seconds = time.monotonic() - self._started
        counts = f"{self.converted} converted"
        if self.skipped:
            counts += f", {self.skipped} up to date"
        counts += f", {self.failed} failed"
        if self.snapped:
            counts += f"; {self.snapped} px snapped in {self.files_snapped} file(s)"
        if self.ignored or self.transparent:
            counts += f"; {self.ignored + self.transparent} px ignored"
        if interrupted:
            done = self.converted + self.failed + self.skipped
            of = f"{self.total} files" if self.total_known else f"the {self.total} files found so far"
            return f"{self.command}: interrupted by {interrupted} after {done} of {of}: {counts} ({seconds:.1f} s)"
        return f"{self.command}: {counts} ({seconds:.1f} s)"

    def finish(self, interrupted: str | None = None) -> None:
        """Print the summary line (unless quiet)."""
        if not self._quiet:
            self._write(self.summary(interrupted))

    def header(self, version: str, options: dict, interrupted: str | None = None) -> dict:
        """The JSON report's fields before ``files``, in the order the report has them."""
        return {
            "schema": REPORT_SCHEMA,
            "maskcli": version,
            "command": self.command,
            "options": options,
            "interrupted": interrupted,
            "total": self.total,
            "converted": self.converted,
            "skipped": self.skipped,
            "failed": self.failed,
            "snapped_pixels": self.snapped,
            "ignored_pixels": self.ignored + self.transparent,
        }

    def to_json(self, version: str, options: dict, interrupted: str | None = None) -> str:
        """The JSON report as one string (see docs/cli.md#json-report for the schema); fine for
        a few files. :meth:`write_json` streams it instead."""
        return "".join(json_chunks(self.header(version, options, interrupted), self.files or ()))

    def write_json(self, target: str, version: str, options: dict, interrupted: str | None = None) -> str | None:
        """Write the JSON report to ``target`` (a path, or '-' for stdout), streamed from the
        spooled entries; the spool is removed. Returns why it could not be written, or None."""
        try:
            return write_json(target, self.header(version, options, interrupted), self.files or Spool.empty())
        finally:
            self.close()

    def close(self) -> None:
        """Remove the spooled entries (also done when the Report is collected, or at exit)."""
        if self.files is not None:
            self.files.close()


# --------------------------------------------------------------------------- the JSON report on disk


_ENCODE = json.JSONEncoder(default=str).encode  # one line, ASCII, as json.dumps(default=str)
_DECODE = json.JSONDecoder().decode


class Spool:
    """The per-file entries of a JSON report, written to disk as they come, one JSON line each,
    and read back in order (as dicts) by iterating; memory holds a write buffer and a count.

    The temporary file is made beside the report (``near``) when it names a regular file or
    nothing yet, so the entries take space on the disk the user chose for the report (the
    system's temp folder may be a RAM disk); else (stdout, a device, a FIFO, a folder that does
    not exist yet, one that cannot be written) in the system's temp folder. Its name is hidden
    and short (``.maskcli-<hash>.<pid>.<random>.tmp``). On POSIX the name is removed right after
    the file is opened, so nothing is left behind however the process ends (an error, a signal,
    even SIGKILL); elsewhere it is removed by :meth:`close`, when the spool is collected, or at
    exit. An entry that cannot be written (a full disk) is remembered as ``error``: the report
    is then not written, and says why.
    """

    def __init__(self, near: str | None = None):
        self.count = 0
        self.error: str | None = None
        self._file = None
        for folder in _spool_folders(near):
            try:
                self._file, name = _open_spool(folder, os.path.basename(near or "") or "report")
                break
            except OSError as exc:
                self.error = f"cannot make a temporary file for its entries in {folder}: {exc.strerror or exc}"
        else:
            return
        self.error = None
        try:
            os.unlink(name)  # the open file stays usable; nothing is left whatever ends the process
            name = None
        except OSError:  # Windows: an open file cannot be removed
            pass
        self._finalizer = weakref.finalize(self, _close_spool, self._file, name)

    @classmethod
    def empty(cls) -> "Spool":
        spool = cls.__new__(cls)
        spool.count, spool.error, spool._file = 0, None, None
        return spool

    def add(self, entry: dict) -> None:
        if self._file is None or self.error is not None:
            return
        try:  # ASCII: names that are not UTF-8 survive (as \udcXX escapes)
            self._file.write(_ENCODE(entry).encode("ascii") + b"\n")
        except OSError as exc:
            self.error = f"cannot write its entries to a temporary file: {exc.strerror or exc}"
            return
        self.count += 1

    def __len__(self) -> int:
        return self.count

    def __iter__(self):
        """The entries, in the order they were added (as JSON gives them back: dict keys are strings)."""
        if self._file is None or not self.count:
            return
        f = self._file
        f.flush()
        end = f.tell()
        f.seek(0)
        try:
            for _ in range(self.count):
                yield _DECODE(f.readline().decode("ascii"))
        finally:
            f.seek(end)

    def close(self) -> None:
        if self._file is not None:
            self._finalizer()
            self._file = None


def _spool_folders(near: str | None):
    """Where a spool may go: beside the report when it is a regular file (or nothing yet, in a
    folder that exists), then the system's temp folder."""
    import tempfile

    if near not in (None, "-"):
        from maskcli import storage

        path = storage.local_path(near)
        if not storage.is_remote(path):
            path = os.fspath(path)
            try:  # a regular file, or nothing yet (also at the end of links), in a folder that exists
                folder = os.path.dirname(os.path.realpath(path))
                if (os.path.isfile(path) or not os.path.exists(path)) and os.path.isdir(folder):
                    yield folder
            except (TypeError, ValueError, OSError):  # an odd name: the temp folder will do
                pass
    yield tempfile.gettempdir()


def _open_spool(folder: str, name: str):
    from maskcli.masks import temp_path

    path = temp_path(folder, name, os.getpid())
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
    return os.fdopen(fd, "w+b"), path


def _close_spool(file, name: str | None) -> None:
    try:
        file.close()
    finally:
        if name is not None:
            try:
                os.unlink(name)
            except OSError:
                pass


FLUSH_EVERY = 512  # file entries per chunk of the streamed JSON


def json_chunks(header: dict, files):
    r"""The JSON report in chunks of text, exactly as ``json.dumps({**header, "files":
    list(files)}, indent=2, default=str) + "\n"`` writes it, with ``files`` (an iterable of
    entries: a Spool) read one entry at a time: the whole document is never in memory."""
    head = json.dumps(header, indent=2, default=str)
    if not header:
        raise ValueError("a report has fields before its files")
    parts = [head[:-2], ',\n  "files": ']  # without the closing "\n}"
    first = True
    for entry in files:
        parts.append("[\n    " if first else ",\n    ")
        parts.append(_pretty(entry, "\n    "))  # one level deeper than the document's fields
        first = False
        if len(parts) >= 2 * FLUSH_EVERY:
            yield "".join(parts)
            parts = []
    parts.append("[]\n}\n" if first else "\n  ]\n}\n")
    yield "".join(parts)


_STRING = json.encoder.encode_basestring_ascii  # the C function json.dumps uses for strings
_CONSTANTS = {None: "null", True: "true", False: "false"}


def _pretty(value, newline: str) -> str:
    """``json.dumps(value, indent=2, default=str)`` with every line break followed by the
    indent in ``newline``, built directly: with an indent json.dumps runs its pure-Python
    encoder, several times slower, and a report of millions of files goes through here."""
    if isinstance(value, str):
        return _STRING(value)
    if type(value) is int:
        return int.__repr__(value)
    if value is None or value is True or value is False:
        return _CONSTANTS[value]
    inner = newline + "  "
    if type(value) is dict and all(type(k) is str for k in value):
        if not value:
            return "{}"
        return "{" + inner + ("," + inner).join(f"{_STRING(k)}: {_pretty(v, inner)}" for k, v in value.items()) + \
            newline + "}"
    if type(value) is list:
        if not value:
            return "[]"
        return "[" + inner + ("," + inner).join(_pretty(v, inner) for v in value) + newline + "]"
    return json.dumps(value, indent=2, default=str).replace("\n", newline)  # floats, tuples, other types


def write_json(target: str, header: dict, files) -> str | None:
    """Write the JSON report (``header``'s fields, then ``files``) to ``target``: '-' for stdout,
    else a named file written as every named file is (replaced whole, in place for a device or
    FIFO, through links: masks.write_named_file), streamed. Returns why it could not be
    written (one line), or None."""
    error = getattr(files, "error", None)
    if error is not None:
        return error
    chunks = json_chunks(header, files)
    if target == "-":
        for chunk in chunks:
            sys.stdout.write(chunk)
        sys.stdout.flush()
        return None
    from maskcli.masks import write_named_file

    try:
        write_named_file(target, (chunk.encode("utf-8") for chunk in chunks))
    except OSError as exc:
        return exc.strerror or str(exc)
    return None
