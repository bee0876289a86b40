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
    skipped: list[tuple[str, str]] = field(default_factory=list)  # found by a walk, not regular files


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
        for path in _walk(item, selection, skip, problems, skipped):
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
    """The files under ``top`` that ``selection`` wants, in sorted order (a folder's files,
    then its subfolders one by one)."""
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
                yield entry.path
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


def _real(path: str) -> str:
    """What a path resolves to (symbolic links followed, also where it does not exist yet)."""
    if storage.is_remote(path):
        return path
    return os.path.normcase(os.path.realpath(path))


class _Resolver:
    """:func:`_real` for many paths, resolving each folder once."""

    def __init__(self):
        self._folders: dict[str, str] = {}

    def __call__(self, path: str) -> str:
        if storage.is_remote(path):
            return path
        folder, name = os.path.split(os.path.abspath(path))
        real_folder = self._folders.get(folder)
        if real_folder is None:
            real_folder = self._folders[folder] = os.path.realpath(folder)
        full = os.path.join(real_folder, name)
        return os.path.normcase(os.path.realpath(full) if os.path.islink(full) else full)


def _identity(path: str):
    """(device, inode) of an existing local file or folder (links followed), else None."""
    if storage.is_remote(path):
        return None
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return st.st_dev, st.st_ino


def _isdir(path: str) -> bool:
    return storage.is_dir(path) if storage.is_remote(path) else os.path.isdir(path)


def _absolute(path: str) -> str:
    return storage.normalize(path) if storage.is_remote(path) else os.path.abspath(path)


def _inside(path: str, root: str) -> bool:
    """Whether ``path`` is ``root`` or below it, comparing the paths as written (normalized)."""
    if storage.is_remote(path) != storage.is_remote(root):
        return False
    path = _absolute(path)
    if storage.is_remote(root):
        return path == root or path.startswith(root.rstrip("/") + "/")
    path, root = os.path.normcase(path), os.path.normcase(root)
    try:
        return os.path.commonpath([path, root]) == root
    except ValueError:  # different drives
        return False


def common_root(folders) -> str:
    """The deepest folder containing every folder given: all local, or all in one remote store."""
    folders = [storage.local_path(i) for i in folders]
    protocols = {storage.protocol(i) if storage.is_remote(i) else None for i in folders}
    if len(protocols) > 1:
        raise UsageError("the inputs must all be local or all in the same store (one URL scheme)")
    proto = protocols.pop()
    if proto is not None:
        import posixpath

        prefix = f"{proto}://"
        return prefix + posixpath.commonpath([storage.normalize(i)[len(prefix):] for i in folders])
    try:
        return os.path.commonpath([os.path.abspath(os.fspath(f)) for f in folders])
    except ValueError:
        raise UsageError("the inputs have no common folder (different drives?)") from None


def output_root(inputs, listed=(), base=None) -> str:
    """The folder whose layout the outputs mirror, fixed by the command line alone (never by
    which files a run happens to include):

    - ``base`` (``--base DIR``) when given;
    - else the deepest folder holding every folder argument in ``inputs`` (one folder is its
      own root);
    - else the current folder.

    Every input (``inputs`` and the ``listed`` ones from ``--files-from``) must lie inside it,
    compared as written: an input outside is a usage error that says to pass ``--base``.
    """
    inputs = [storage.local_path(i) for i in inputs]
    listed = [storage.local_path(i) for i in listed]
    if base is not None:
        base = storage.local_path(base)
        if storage.is_remote(base):
            storage.filesystem(storage.protocol(base))
        root = _absolute(base)
        where = f"--base {base}"
    else:
        folders = [i for i in inputs if _isdir(i)]
        if folders:
            root = common_root(folders)
            where = (f"the input folder {root}" if len(folders) == 1
                     else f"{root}, the deepest folder holding the input folders")
        else:
            root = os.getcwd()
            where = f"the current folder {root}"
    for item in inputs + listed:
        if not _inside(item, root):
            raise UsageError(
                f"{item}: not inside {where}, which output paths are relative to; "
                "pass --base DIR, a folder that holds every input"
            )
    return root


def _relative(path: str, root: str) -> str:
    if storage.is_remote(path):
        rel = path[len(root.rstrip("/")) + 1 :]
        if not path.startswith(root.rstrip("/") + "/") or not rel or rel.startswith("/"):
            raise UsageError(f"{path}: not inside {root}")  # never write outside the output folder
        return rel
    rel = os.path.relpath(os.path.abspath(path), root)
    if rel == os.curdir or rel == os.pardir or rel.startswith(os.pardir + os.sep):
        raise UsageError(f"{path}: not inside {root}")  # never write outside the output folder
    return rel


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


def make_plan(inputs, output: str, selection: Selection = Selection(), rename=(), base=None, listed=()) -> Plan:
    """Map every input file to its output path under ``output``, mirroring folders below
    :func:`output_root` (``listed`` are the inputs read from ``--files-from``).

    A single input file with an ``output`` ending in ``.png`` (and not an existing folder)
    writes exactly that file; such an ``output`` with a folder or several inputs is a usage
    error. Raises UsageError when nothing is found, when two inputs would write the same
    output, or when an output would overwrite an input (also through a link).
    """
    inputs = [storage.local_path(i) for i in inputs]
    listed = [storage.local_path(i) for i in listed]
    everything = inputs + listed
    output = storage.local_path(output)
    if storage.is_remote(output):
        storage.filesystem(storage.protocol(output))  # a missing extra is a usage error, now
    problems: list[tuple[str, str]] = []
    skipped: list[tuple[str, str]] = []
    if output.lower().endswith(".png") and not _isdir(output):
        if len(everything) != 1 or _isdir(everything[0]):
            what = "a folder" if len(everything) == 1 else f"{len(everything)} inputs"
            raise UsageError(
                f"-o {output}: a file name ending in .png takes exactly one input file, not {what}; "
                "give -o a folder (a name without .png, or an existing folder)"
            )
        files = find_mask_files(everything, selection)
        check_collisions([(files[0], output)])
        return Plan([(files[0], output)], os.path.dirname(_absolute(files[0])))
    root = output_root(inputs, listed, base)
    files = find_mask_files(everything, selection, skip_dirs=(output,), problems=problems, skipped=skipped)
    if not storage.is_remote(output) and os.path.exists(output) and not os.path.isdir(output):
        raise UsageError(f"{output}: exists and is not a folder (a single input file may have -o NAME.png)")
    join = storage.join if storage.is_remote(output) else os.path.join
    kept: list[str] = []
    jobs = []
    for f in files:
        rel, matched = output_name(_relative(f, root), rename)
        if not matched:
            kept.append(f)
        jobs.append((f, join(output, rel)))
    check_collisions(jobs)
    return Plan(jobs, root, kept, problems, skipped)


def check_reserved(path: str, jobs, what: str) -> None:
    """Stop when a file the run writes besides its outputs (a report) is an input or output,
    also through a link."""
    path = storage.local_path(path)
    real = _Resolver()
    key, ident = real(path), _identity(path)
    for src, dst in jobs:
        for role, other in (("an input", src), ("an output", dst)):
            if real(other) == key or (ident is not None and _identity(other) == ident):
                raise UsageError(f"{what} {path} is {role} of this run{_through_link(path, other)}; choose another name")


def check_collisions(jobs) -> None:
    """Stop before any work when two inputs map to one output or an output is an input.
    Paths are compared by what they resolve to (symbolic links followed) and, for files that
    exist, by device and inode, so a link never lets an output replace an input."""
    real = _Resolver()
    sources = {real(src): src for src, _ in jobs}
    source_ids = {}
    for src, _ in jobs:
        ident = _identity(src)
        if ident is not None:
            source_ids.setdefault(ident, src)
    by_output: dict[str, list[str]] = {}
    shown_as: dict[str, str] = {}
    for src, dst in jobs:
        key = real(dst)
        same = sources.get(key)
        if same is None and source_ids:
            same = source_ids.get(_identity(dst))
        if same is not None:
            raise UsageError(
                f"{dst}: the output would overwrite the input {same}{_through_link(dst, same)}; choose another -o"
            )
        by_output.setdefault(key, []).append(src)
        shown_as.setdefault(key, dst)
    clashes = [(shown_as[key], srcs) for key, srcs in by_output.items() if len(srcs) > 1]
    if clashes:
        shown = "; ".join(f"{' and '.join(srcs)} -> {dst}" for dst, srcs in clashes[:5])
        more = f" (and {len(clashes) - 5} more)" if len(clashes) > 5 else ""
        raise UsageError(f"{len(clashes)} output(s) would be written by more than one input: {shown}{more}")


def _through_link(dst: str, src: str) -> str:
    return "" if _key(dst) == _key(src) else " (the same file, through a link)"


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
