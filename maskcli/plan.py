"""Walking inputs, mirroring paths into the output folder, renaming, collisions, what is up to date.

Pure path logic (plus directory listing and stat): nothing here reads an image.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field

from maskcli import storage
from maskcli.errors import UsageError

# Read from folders by default. Kept here, not in masks.py, so that planning a run does not
# import NumPy: with worker processes the parent never needs it.
DEFAULT_EXTENSIONS = (".png", ".bmp", ".tif", ".tiff")


@dataclass(frozen=True)
class Selection:
    """Which files a folder walk takes: ``include`` globs replace the default extensions,
    ``exclude`` globs drop files. A glob with a ``/`` matches the path relative to the folder
    given as input, any other the file name."""

    extensions: tuple[str, ...] = DEFAULT_EXTENSIONS
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def wants(self, name: str, relpath: str) -> bool:
        if self.include:
            if not any(_match(p, name, relpath) for p in self.include):
                return False
        elif not name.lower().endswith(tuple(e.lower() for e in self.extensions)):
            return False
        return not any(_match(p, name, relpath) for p in self.exclude)

    def describe(self) -> str:
        if self.include:
            return "files matching " + ", ".join(self.include)
        return ", ".join(self.extensions)


def _match(pattern: str, name: str, relpath: str) -> bool:
    return fnmatch.fnmatch(relpath if "/" in pattern else name, pattern)


@dataclass(frozen=True)
class Plan:
    """What a batch run will do: ``jobs`` are ``(input, output)`` path pairs in a stable order;
    ``kept_names`` lists inputs whose names no ``--rename`` rule matched."""

    jobs: list[tuple[str, str]]
    root: str
    kept_names: list[str] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)  # folders that could not be listed


def find_inputs(inputs, selection: Selection = Selection(), skip_dirs=(), problems=None) -> list[str]:
    """Files named directly, and the files ``selection`` wants under named folders.

    Folders are walked recursively in sorted order, without following symbolic links to
    folders (no loops); hidden files and folders (a leading dot, such as macOS' ``._x.png``)
    are skipped, and so is any folder in ``skip_dirs`` (the output folder when it sits inside
    an input folder). Each file is listed once. A folder that cannot be listed is added to
    ``problems`` as ``(path, reason)`` (or raises UsageError when ``problems`` is None).
    """
    skip = {_key(d) for d in skip_dirs}
    found: list[str] = []
    seen: set[str] = set()

    def add(path: str) -> None:
        key = _key(path)
        if key not in seen:
            seen.add(key)
            found.append(path)

    for item in inputs:
        item = storage.local_path(item)
        if storage.is_remote(item):
            for url in _find_remote(item, selection, skip_dirs):
                add(url)
            continue
        if not os.path.isdir(item):
            if not os.path.lexists(item):
                raise UsageError(f"{item}: no such file or folder")
            add(item)
            continue
        def unlisted(exc: OSError) -> None:
            if problems is None:
                raise UsageError(f"{exc.filename}: cannot list folder: {exc.strerror}")
            problems.append((exc.filename, f"cannot list folder: {exc.strerror}"))

        for folder, dirs, files in os.walk(item, onerror=unlisted):
            dirs[:] = sorted(
                d for d in dirs if not d.startswith(".") and _key(os.path.join(folder, d)) not in skip
            )
            rel_folder = os.path.relpath(folder, item)
            for name in sorted(files):
                if name.startswith("."):
                    continue
                rel = name if rel_folder == "." else f"{rel_folder}/{name}".replace(os.sep, "/")
                if selection.wants(name, rel):
                    add(os.path.join(folder, name))
    return found


def find_mask_files(inputs, selection: Selection = Selection(), skip_dirs=(), problems=None) -> list[str]:
    """:func:`find_inputs`, as a usage error when it finds nothing (and no folder failed to list)."""
    files = find_inputs(inputs, selection, skip_dirs, problems)
    if not files and not problems:
        where = ", ".join(map(str, inputs)) or "(no inputs)"
        raise UsageError(f"no mask files found in {where} (looked for {selection.describe()}, recursively)")
    return files


def _find_remote(url: str, selection: Selection, skip_dirs) -> list[str]:
    """The objects under a remote folder that ``selection`` wants (or the object itself)."""
    url = storage.normalize(url)
    if not storage.is_dir(url):
        if not storage.exists(url):
            raise UsageError(f"{url}: no such object or folder")
        return [url]
    skip = tuple(storage.normalize(d) + "/" for d in map(storage.local_path, skip_dirs) if storage.is_remote(d))
    found = []
    for obj, rel in storage.find(url):
        if any(part.startswith(".") for part in rel.split("/")) or (skip and obj.startswith(skip)):
            continue
        if selection.wants(rel.rsplit("/", 1)[-1], rel):
            found.append(obj)
    return found


def _key(path: str) -> str:
    if storage.is_remote(path):
        return path
    return os.path.normcase(os.path.abspath(path))


def _isdir(path: str) -> bool:
    return storage.is_dir(path) if storage.is_remote(path) else os.path.isdir(path)


def common_root(inputs) -> str:
    """The deepest folder containing every input: a folder input counts as itself, a file
    input as its parent folder. Inputs are all local, or all in one remote store."""
    inputs = [storage.local_path(i) for i in inputs]
    protocols = {storage.protocol(i) if storage.is_remote(i) else None for i in inputs}
    if len(protocols) > 1:
        raise UsageError("the inputs must all be local or all in the same store (one URL scheme)")
    proto = protocols.pop()
    if proto is not None:
        import posixpath

        prefix = f"{proto}://"
        bases = [storage.normalize(i)[len(prefix):] for i in inputs]
        bases = [b if storage.is_dir(prefix + b) else posixpath.dirname(b) for b in bases]
        return prefix + posixpath.commonpath(bases)
    bases = []
    for item in inputs:
        item = os.path.abspath(os.fspath(item))
        bases.append(item if os.path.isdir(item) else os.path.dirname(item))
    try:
        return os.path.commonpath(bases)
    except ValueError:
        raise UsageError("the inputs have no common folder (different drives?)") from None


def _relative(path: str, root: str) -> str:
    if storage.is_remote(path):
        rel = path[len(root.rstrip("/")) + 1 :]
        if not path.startswith(root.rstrip("/") + "/") or not rel or rel.startswith("/"):
            raise UsageError(f"{path}: not inside {root}")  # never write outside the output folder
        return rel
    return os.path.relpath(os.path.abspath(path), root)


def parse_rename(rule: str) -> tuple[str, str]:
    """'OLD:NEW' -> (OLD, NEW); OLD must not be empty, and neither may hold a path separator
    (a rename changes a file name, never the folder it is written to)."""
    old, sep, new = rule.partition(":")
    if not sep or not old:
        raise UsageError(f"--rename {rule!r}: expected OLD:NEW with a non-empty OLD")
    if any(ch in part for part in (old, new) for ch in ("/", os.sep)) or new in (".", ".."):
        raise UsageError(f"--rename {rule!r}: OLD and NEW are parts of a file name, without '/'")
    return old, new


def output_name(relpath: str, rename=()) -> tuple[str, bool]:
    """The output's relative path: the input's with its extension replaced by .png and the
    first matching ``(OLD, NEW)`` stem suffix replaced; and whether a rule matched."""
    stem, _ = os.path.splitext(relpath)
    head, base = os.path.split(stem)
    for old, new in rename:
        if base.endswith(old):
            renamed = base[: -len(old)] + new
            if not renamed or renamed.startswith("."):
                raise UsageError(f"--rename {old}:{new} turns {relpath} into a hidden or empty name")
            return os.path.join(head, renamed + ".png"), True
    return stem + ".png", not rename


def make_plan(inputs, output: str, selection: Selection = Selection(), rename=()) -> Plan:
    """Map every input file to its output path under ``output``, mirroring folders.

    A single input file with an ``output`` ending in ``.png`` (and not an existing folder)
    writes exactly that file. Raises UsageError when nothing is found, when two inputs would
    write the same output, or when an output would overwrite an input.
    """
    inputs = [storage.local_path(i) for i in inputs]
    output = storage.local_path(output)
    if storage.is_remote(output):
        storage.filesystem(storage.protocol(output))  # a missing extra is a usage error, now
    single = (
        len(inputs) == 1
        and not _isdir(inputs[0])
        and output.lower().endswith(".png")
        and not _isdir(output)
    )
    problems: list[tuple[str, str]] = []
    files = find_mask_files(inputs, selection, skip_dirs=() if single else (output,), problems=problems)
    kept: list[str] = []
    if not single and not storage.is_remote(output) and os.path.exists(output) and not os.path.isdir(output):
        raise UsageError(f"{output}: exists and is not a folder (a single input file may have -o NAME.png)")
    join = storage.join if storage.is_remote(output) else os.path.join
    if single:
        jobs = [(files[0], output)]
        root = common_root(files)
    else:
        root = common_root(inputs)
        jobs = []
        for f in files:
            rel, matched = output_name(_relative(f, root), rename)
            if not matched:
                kept.append(f)
            jobs.append((f, join(output, rel)))
    check_collisions(jobs)
    return Plan(jobs, root, kept, problems)


def check_reserved(path: str, jobs, what: str) -> None:
    """Stop when a file the run writes besides its outputs (a report) is an input or output."""
    key = _key(storage.local_path(path))
    for src, dst in jobs:
        if key in (_key(src), _key(dst)):
            role = "an input" if key == _key(src) else "an output"
            raise UsageError(f"{what} {path} is {role} of this run; choose another name")


def check_collisions(jobs) -> None:
    """Stop before any work when two inputs map to one output or an output is an input."""
    sources = {_key(src): src for src, _ in jobs}
    by_output: dict[str, list[str]] = {}
    shown_as: dict[str, str] = {}
    for src, dst in jobs:
        key = _key(dst)
        if key in sources:
            raise UsageError(f"{dst}: the output would overwrite the input {sources[key]}; choose another -o")
        by_output.setdefault(key, []).append(src)
        shown_as.setdefault(key, dst)
    clashes = [(shown_as[key], srcs) for key, srcs in by_output.items() if len(srcs) > 1]
    if clashes:
        shown = "; ".join(f"{' and '.join(srcs)} -> {dst}" for dst, srcs in clashes[:5])
        more = f" (and {len(clashes) - 5} more)" if len(clashes) > 5 else ""
        raise UsageError(f"{len(clashes)} output(s) would be written by more than one input: {shown}{more}")


def is_up_to_date(src: str, dst: str, digest: str) -> bool:
    """The output exists, is newer than its input, and records ``digest``: it was made by the
    same command, palette content and options (see provenance.py). Only the first bytes of
    the output are read. An output without a record (made by another tool, or by a maskcli
    from before outputs had one) is not up to date. In a store that keeps no modification
    times, the record alone decides."""
    from maskcli import provenance
    from maskcli.errors import MaskcliError

    try:
        if storage.is_remote(dst):
            text = provenance.read_text(dst)
            out = _mtime_ns(dst) if text is not None else None
        else:
            text, out = provenance.read_local(dst, follow=False)
        if provenance.digest_of(text) != digest:
            return False
        if out is None:
            return True
        into = _mtime_ns(src)
        return into is None or out > into
    except (OSError, MaskcliError):
        return False


def _mtime_ns(path: str) -> int | None:
    if storage.is_remote(path):
        seconds = storage.modified(path)
        return None if seconds is None else int(seconds * 1e9)
    return os.stat(path).st_mtime_ns


def read_file_list(path: str, stdin=None) -> list[str]:
    """The paths listed in a file (or stdin for '-'), one per line; blank lines are skipped."""
    import sys

    try:
        if path == "-":
            text = (stdin or sys.stdin).read()
        else:
            with open(path, encoding="utf-8", errors="surrogateescape") as f:
                text = f.read()
    except OSError as exc:
        raise UsageError(f"--files-from {path}: {exc.strerror or exc}") from None
    return [line.rstrip("\r") for line in text.split("\n") if line.strip()]
