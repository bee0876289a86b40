"""Walking inputs, mirroring paths into the output folder, renaming, collisions, what is up to date.

Pure path logic (plus directory listing and stat): nothing here reads an image.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field

from maskcli.errors import UsageError
from maskcli.masks import DEFAULT_EXTENSIONS


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
        item = os.fspath(item)
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


def _key(path: str) -> str:
    return os.path.normcase(os.path.abspath(path))


def common_root(inputs) -> str:
    """The deepest folder containing every input: a folder input counts as itself, a file
    input as its parent folder."""
    bases = []
    for item in inputs:
        item = os.path.abspath(os.fspath(item))
        bases.append(item if os.path.isdir(item) else os.path.dirname(item))
    try:
        return os.path.commonpath(bases)
    except ValueError:
        raise UsageError("the inputs have no common folder (different drives?)") from None


def parse_rename(rule: str) -> tuple[str, str]:
    """'OLD:NEW' -> (OLD, NEW); OLD must not be empty."""
    old, sep, new = rule.partition(":")
    if not sep or not old:
        raise UsageError(f"--rename {rule!r}: expected OLD:NEW with a non-empty OLD")
    return old, new


def output_name(relpath: str, rename=()) -> tuple[str, bool]:
    """The output's relative path: the input's with its extension replaced by .png and the
    first matching ``(OLD, NEW)`` stem suffix replaced; and whether a rule matched."""
    stem, _ = os.path.splitext(relpath)
    head, base = os.path.split(stem)
    for old, new in rename:
        if base.endswith(old):
            return os.path.join(head, base[: -len(old)] + new + ".png"), True
    return stem + ".png", not rename


def make_plan(inputs, output: str, selection: Selection = Selection(), rename=()) -> Plan:
    """Map every input file to its output path under ``output``, mirroring folders.

    A single input file with an ``output`` ending in ``.png`` (and not an existing folder)
    writes exactly that file. Raises UsageError when nothing is found, when two inputs would
    write the same output, or when an output would overwrite an input.
    """
    inputs = [os.fspath(i) for i in inputs]
    output = os.fspath(output)
    single = (
        len(inputs) == 1
        and not os.path.isdir(inputs[0])
        and output.lower().endswith(".png")
        and not os.path.isdir(output)
    )
    problems: list[tuple[str, str]] = []
    files = find_inputs(inputs, selection, skip_dirs=() if single else (output,), problems=problems)
    if not files and not problems:
        where = ", ".join(inputs)
        raise UsageError(f"no mask files found in {where} (looked for {selection.describe()}, recursively)")
    kept: list[str] = []
    if single:
        jobs = [(files[0], output)]
        root = os.path.dirname(os.path.abspath(files[0]))
    else:
        root = common_root(inputs)
        jobs = []
        for f in files:
            rel, matched = output_name(os.path.relpath(os.path.abspath(f), root), rename)
            if not matched:
                kept.append(f)
            jobs.append((f, os.path.join(output, rel)))
    check_collisions(jobs)
    return Plan(jobs, root, kept, problems)


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


def is_up_to_date(src: str, dst: str, newer_than_ns: int = 0) -> bool:
    """The output exists and is newer than its input and than ``newer_than_ns`` (the palette)."""
    try:
        out = os.stat(dst).st_mtime_ns
        return out > os.stat(src).st_mtime_ns and out > newer_than_ns
    except OSError:
        return False


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
