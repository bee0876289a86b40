"""Finding the input files of a run: walking folders (regular files only, never opened),
objects under remote prefixes, and reading --files-from lists (bounded).

Directory listing and stat only: nothing here reads an image, or imports NumPy.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass
from functools import cached_property

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
        elif not name.lower().endswith(self._lower_extensions):
            return False
        return not self.exclude or not any(_match(p, name, relpath) for p in self.exclude)

    @cached_property
    def _lower_extensions(self) -> tuple[str, ...]:
        return tuple(e.lower() for e in self.extensions)

    def describe(self) -> str:
        if self.include:
            return "files matching " + ", ".join(self.include)
        return ", ".join(self.extensions)


def _match(pattern: str, name: str, relpath: str) -> bool:
    return fnmatch.fnmatch(relpath if "/" in pattern else name, pattern)


def find_inputs(inputs, selection: Selection = Selection(), skip_dirs=(), problems=None, skipped=None) -> list[str]:
    """Files named directly, and the regular files ``selection`` wants under named folders.

    Folders are walked recursively in sorted order, without following symbolic links to
    folders (no loops); hidden files and folders (a leading dot, such as macOS' ``._x.png``)
    are skipped, and so is any folder in ``skip_dirs`` (the output folder when it sits inside
    an input folder; compared by what the paths resolve to). Each file is listed once. A
    folder that cannot be listed is added to ``problems`` as ``(path, reason)`` (or raises
    UsageError when ``problems`` is None). What a walk finds that is not a regular file (a
    FIFO, a device, a socket) is never opened: it is added to ``skipped`` as ``(path, reason)``.
    A file named directly is taken whatever it is: reading it says what is wrong.
    """
    skip = _Skip(skip_dirs)
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
        for path, _, _, _ in _walk(item, selection, skip, problems, skipped):
            add(path)
    return found


class _Skip:
    """The folders a walk leaves out, known by path and, when they exist, by device and inode
    (so a link to the output folder, or the output folder reached through a link, is known)."""

    def __init__(self, folders):
        local = [storage.local_path(d) for d in folders if not storage.is_remote(storage.local_path(d))]
        self.keys = {_key(d) for d in local} | {_real(d) for d in local}
        self.ids = {i for i in map(_identity, local) if i is not None}

    def __contains__(self, entry) -> bool:
        if not self.keys:
            return False
        if _key(entry.path) in self.keys:
            return True
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            return False
        return (st.st_dev, st.st_ino) in self.ids


def _walk(top: str, selection: Selection, skip: _Skip, problems, skipped):
    """``(path, relative path, whether it is a symbolic link, inode of the entry)`` of the files under ``top``
    that ``selection`` wants, in sorted order: a folder's files, then its subfolders one by
    one (so the files of one folder come together)."""
    stack = [(top, "")]
    while stack:
        folder, rel_folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            if problems is None:
                raise UsageError(f"{folder}: cannot list folder: {exc.strerror}") from None
            problems.append((folder, f"cannot list folder: {exc.strerror}"))
            continue
        subfolders = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            rel = entry.name if not rel_folder else f"{rel_folder}/{entry.name}"
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            if is_dir:
                if not entry.is_symlink() and entry not in skip:
                    subfolders.append((entry.path, rel))
                continue
            if not selection.wants(entry.name, rel):
                continue
            kind = _file_kind(entry)
            if kind is None:
                yield entry.path, rel, entry.is_symlink(), entry.inode()
            elif skipped is not None:
                skipped.append((entry.path, f"not a regular file ({kind})"))
        stack.extend(reversed(subfolders))


def _file_kind(entry) -> str | None:
    """None for a regular file (or a link to one, or a link to nothing: reading it will say
    so); else what it is, for messages."""
    try:
        if entry.is_file():
            return None
        mode = entry.stat().st_mode
    except OSError:
        return None
    return storage.file_kind(mode)


def find_mask_files(inputs, selection: Selection = Selection(), skip_dirs=(), problems=None, skipped=None) -> list[str]:
    """:func:`find_inputs`, as a usage error when it finds nothing (and no folder failed to list)."""
    if skipped is None:
        skipped = []
    files = find_inputs(inputs, selection, skip_dirs, problems, skipped)
    if not files and not problems:
        where = ", ".join(map(str, inputs)) or "(no inputs)"
        also = f"; skipped {len(skipped)} that are not regular files" if skipped else ""
        raise UsageError(f"no mask files found in {where} (looked for {selection.describe()}, recursively{also})")
    return files


def _find_remote(url: str, selection: Selection, skip_dirs):
    """The objects under a remote folder that ``selection`` wants (or the object itself),
    yielded as the store's listing pages arrive, in sorted order (see :func:`storage.find`)."""
    url = storage.normalize(url)
    if not storage.is_dir(url):
        if not storage.exists(url):
            raise UsageError(f"{url}: no such object or folder")
        yield url
        return
    skip = tuple(storage.normalize(d) + "/" for d in map(storage.local_path, skip_dirs) if storage.is_remote(d))
    for obj, rel in storage.find(url):
        if any(part.startswith(".") for part in rel.split("/")) or (skip and obj.startswith(skip)):
            continue
        if selection.wants(rel.rsplit("/", 1)[-1], rel):
            yield obj


def _key(path: str) -> str:
    if storage.is_remote(path):
        return path
    return os.path.normcase(os.path.abspath(path))


def _real(path: str) -> str:
    """What a path resolves to (symbolic links followed, also where it does not exist yet)."""
    if storage.is_remote(path):
        return path
    return os.path.normcase(os.path.realpath(path))


def _identity(path: str):
    """(device, inode) of an existing local file or folder (links followed), else None."""
    if storage.is_remote(path):
        return None
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return st.st_dev, st.st_ino


MAX_LIST_LINE = 4096  # bytes in one line of a --files-from list (PATH_MAX on Linux)
MAX_LIST_BYTES = 256 * 2**20  # bytes in a whole list


def read_file_list(path: str, stdin=None) -> list[str]:
    """The paths listed in a file (or stdin for '-'), one per line; blank lines are skipped.

    Reading is bounded, so a list that is no list (``/dev/zero``, a binary file) is a usage
    error naming the file and the limit, not a process that grows without end."""
    import sys

    try:
        if path == "-":
            stream = stdin or sys.stdin
            return _read_lines(getattr(stream, "buffer", stream), path)
        with open(path, "rb") as f:
            return _read_lines(f, path)
    except OSError as exc:
        raise UsageError(f"--files-from {path}: {exc.strerror or exc}") from None


def _read_lines(stream, path: str) -> list[str]:
    lines: list[str] = []
    pending = b""
    total = 0

    def take(line: bytes) -> None:
        line = line.rstrip(b"\r")
        if len(line) > MAX_LIST_LINE:
            raise UsageError(f"--files-from {path}: a line is longer than {MAX_LIST_LINE} bytes, the limit "
                             "for a path (is it a list of paths, one per line?)")
        if b"\0" in line:
            raise UsageError(f"--files-from {path}: a line holds a NUL byte (is it a list of paths, one per "
                             "line? find's -print0 output is not)")
        if line.strip():
            lines.append(line.decode("utf-8", "surrogateescape"))

    while True:
        chunk = stream.read(65536)
        if not chunk:
            break
        if isinstance(chunk, str):
            chunk = chunk.encode("utf-8", "surrogateescape")
        total += len(chunk)
        if total > MAX_LIST_BYTES:
            raise UsageError(f"--files-from {path}: longer than {MAX_LIST_BYTES // 2**20} MiB, the limit for "
                             "a list of paths")
        parts = (pending + chunk).split(b"\n")
        pending = parts.pop()
        for line in parts:
            take(line)
        if len(pending) > MAX_LIST_LINE + 1:
            take(pending)
    if pending:
        take(pending)
    return lines


def can_stream(inputs) -> bool:
    """Whether :func:`stream_inputs` finds the same files as :func:`find_inputs` without
    remembering them: every input local, and none inside a folder given as another input
    (compared as written and as resolved)."""
    paths = [storage.local_path(i) for i in inputs]
    if not paths or any(p == "-" or storage.is_remote(p) or not os.path.lexists(p) for p in paths):
        return False
    folders = [p for p in paths if os.path.isdir(p)]
    keys = {_key(p) for p in folders}
    reals = {_real(p) for p in folders}
    if len(keys) < len(folders) or len(reals) < len(folders):
        return False
    for p in paths:
        for chain, known in ((_key(p), keys), (_real(p), reals)):
            parent = os.path.dirname(chain)
            while parent and parent != chain:
                if parent in known:
                    return False
                chain, parent = parent, os.path.dirname(parent)
    return True


def stream_inputs(inputs, selection: Selection = Selection(), skip_dirs=()):
    """:func:`find_inputs` as it goes, for inputs :func:`can_stream` accepts: yields
    ``("file", path)``, ``("problem", folder, reason)`` and ``("skipped", path, reason)`` in
    the order find_inputs lists them, holding one folder's entries at a time."""
    skip = _Skip(skip_dirs)
    named: set[str] = set()
    problems: list = []
    skipped: list = []
    for item in map(storage.local_path, inputs):
        if not os.path.isdir(item):
            if _key(item) not in named:
                named.add(_key(item))
                yield ("file", item)
            continue
        for path, _, _, _ in _walk(item, selection, skip, problems, skipped):
            while problems:
                yield ("problem", *problems.pop(0))
            while skipped:
                yield ("skipped", *skipped.pop(0))
            yield ("file", path)
        while problems:
            yield ("problem", *problems.pop(0))
        while skipped:
            yield ("skipped", *skipped.pop(0))
