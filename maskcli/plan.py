"""Walking inputs, mirroring paths into the output folder, collisions.

Pure path logic (plus directory listing): nothing here reads an image.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from maskcli.errors import UsageError
from maskcli.masks import DEFAULT_EXTENSIONS


@dataclass(frozen=True)
class Plan:
    """What a batch run will do: ``jobs`` are ``(input, output)`` path pairs in a stable order."""

    jobs: list[tuple[str, str]]
    root: str


def find_inputs(inputs, extensions=DEFAULT_EXTENSIONS, skip_dirs=()) -> list[str]:
    """Files named directly, and files with one of ``extensions`` under named folders.

    Folders are walked recursively in sorted order; hidden files and folders (a leading dot,
    such as macOS' ``._x.png``) are skipped, and so is any folder in ``skip_dirs`` (the output
    folder when it sits inside an input folder). Each file is listed once.
    """
    exts = tuple(e.lower() for e in extensions)
    skip = {os.path.normcase(os.path.abspath(d)) for d in skip_dirs}
    found: list[str] = []
    seen: set[str] = set()

    def add(path: str) -> None:
        key = os.path.normcase(os.path.abspath(path))
        if key not in seen:
            seen.add(key)
            found.append(path)

    for item in inputs:
        item = os.fspath(item)
        if not os.path.isdir(item):
            if not os.path.exists(item):
                raise UsageError(f"{item}: no such file or folder")
            add(item)
            continue
        for folder, dirs, files in os.walk(item):
            dirs[:] = sorted(
                d for d in dirs
                if not d.startswith(".")
                and os.path.normcase(os.path.abspath(os.path.join(folder, d))) not in skip
            )
            for name in sorted(files):
                if not name.startswith(".") and name.lower().endswith(exts):
                    add(os.path.join(folder, name))
    return found


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


def output_name(relpath: str) -> str:
    """The output's relative path: the input's, with its extension replaced by .png."""
    stem, _ = os.path.splitext(relpath)
    return stem + ".png"


def make_plan(inputs, output: str, extensions=DEFAULT_EXTENSIONS) -> Plan:
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
    files = find_inputs(inputs, extensions, skip_dirs=() if single else (output,))
    if not files:
        where = ", ".join(inputs)
        raise UsageError(
            f"no mask files found in {where} (looked for {', '.join(extensions)}, recursively)"
        )
    if single:
        jobs = [(files[0], output)]
        root = os.path.dirname(os.path.abspath(files[0]))
    else:
        root = common_root(inputs)
        jobs = [
            (f, os.path.join(output, output_name(os.path.relpath(os.path.abspath(f), root))))
            for f in files
        ]
    check_collisions(jobs)
    return Plan(jobs, root)


def check_collisions(jobs) -> None:
    """Stop before any work when two inputs map to one output or an output is an input."""
    sources = {os.path.normcase(os.path.abspath(src)): src for src, _ in jobs}
    by_output: dict[str, list[str]] = {}
    shown_as: dict[str, str] = {}
    for src, dst in jobs:
        key = os.path.normcase(os.path.abspath(dst))
        if key in sources:
            raise UsageError(
                f"{dst}: the output would overwrite the input {sources[key]}; choose another -o"
            )
        by_output.setdefault(key, []).append(src)
        shown_as.setdefault(key, dst)
    clashes = [(shown_as[key], srcs) for key, srcs in by_output.items() if len(srcs) > 1]
    if clashes:
        shown = "; ".join(f"{' and '.join(srcs)} -> {key}" for key, srcs in clashes[:5])
        more = f" (and {len(clashes) - 5} more)" if len(clashes) > 5 else ""
        raise UsageError(
            f"{len(clashes)} output(s) would be written by more than one input: {shown}{more}"
        )
