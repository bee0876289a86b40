"""Counting outcomes, the messages of a run, the summary line, the JSON report, the exit status.

Every message goes to stderr (through the progress bar's writer, so the bar stays intact);
stdout is kept for data.
"""

from __future__ import annotations

import json
import time

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

    Per-file entries are kept only when a JSON report was asked for (``keep_files``), so a run
    over 100,000 files holds counts, not results.
    """

    def __init__(self, command: str, total: int, write, quiet: bool = False, verbose: bool = False,
                 keep_files: bool = False):
        self.command = command
        self.total = total
        self.converted = 0
        self.skipped = 0
        self.failed = 0
        self.snapped = 0  # pixels snapped to a nearest palette color
        self.ignored = 0  # pixels written as ignore because their color is unknown
        self.transparent = 0  # pixels written as ignore because they are transparent
        self.files_snapped = 0
        self.files: list[dict] | None = [] if keep_files else None
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
            self.files.append({
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
            of = f"{self.total} files" if self.total_known else "the files found so far"
            return f"{self.command}: interrupted by {interrupted} after {done} of {of}: {counts} ({seconds:.1f} s)"
        return f"{self.command}: {counts} ({seconds:.1f} s)"

    def finish(self, interrupted: str | None = None) -> None:
        """Print the summary line (unless quiet)."""
        if not self._quiet:
            self._write(self.summary(interrupted))

    def to_json(self, version: str, options: dict, interrupted: str | None = None) -> str:
        """The JSON report: see docs/report.md for the schema."""
        data = {
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
            "files": self.files or [],
        }
        return json.dumps(data, indent=2, default=str) + "\n"  # ASCII: names that are not UTF-8 survive
