"""Mirroring input paths into the output folder (the base rule), renaming, collisions (by what
paths resolve to), what is up to date.

Pure path logic (plus stat): nothing here reads an image. Finding the inputs is walk.py's.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field

from maskcli import provenance, storage
from maskcli.errors import MaskcliError, UsageError
from maskcli.walk import (DEFAULT_EXTENSIONS, Selection, _identity, _key, _Skip, _walk, can_stream, find_inputs,
                          find_mask_files, read_file_list)

# Finding inputs moved to walk.py; its public names stay importable from here.
__all__ = ["DEFAULT_EXTENSIONS", "Plan", "Selection", "check_collisions", "check_reserved", "find_inputs",
           "find_mask_files", "is_up_to_date", "make_plan", "output_root", "read_file_list"]


@dataclass(frozen=True)
class Plan:
    """What a batch run will do: ``jobs`` are ``(input, output)`` path pairs in a stable order;
    ``kept_names`` lists inputs whose names no ``--rename`` rule matched."""

    jobs: list[tuple[str, str]]
    root: str
    kept_names: list[str] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)  # folders that could not be listed
    skipped: list[tuple[str, str]] = field(default_factory=list)  # found by a walk, not regular files


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


def output_name(relpath: str, rename=(), suffix: str = ".png") -> tuple[str, bool]:
    """The output's relative path: the input's with its extension replaced by ``suffix`` and
    the first matching ``(OLD, NEW)`` stem suffix replaced; and whether a rule matched."""
    stem, _ = os.path.splitext(relpath)
    head, base = os.path.split(stem)
    for old, new in rename:
        if base.endswith(old):
            renamed = base[: -len(old)] + new
            if not renamed or renamed.startswith("."):
                raise UsageError(f"--rename {old}:{new} turns {relpath} into a hidden or empty name")
            return os.path.join(head, renamed + suffix), True
    return stem + suffix, not rename


# An -o ending in one of these (and not an existing folder) was meant as a file name, which a
# folder of outputs must not silently take.
OTHER_IMAGE_EXTENSIONS = (".png", ".npy", ".tif", ".tiff", ".bmp", ".gif", ".jpg", ".jpeg", ".webp")


def make_plan(inputs, output: str, selection: Selection = Selection(), rename=(), base=None, listed=(),
              suffix: str = ".png") -> Plan:
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
    if output.lower().endswith(suffix) and not _isdir(output):
        if len(everything) != 1 or _isdir(everything[0]):
            what = "a folder" if len(everything) == 1 else f"{len(everything)} inputs"
            raise UsageError(
                f"-o {output}: a file name ending in {suffix} takes exactly one input file, not {what}; "
                f"give -o a folder (a name without {suffix}, or an existing folder)"
            )
        files = find_mask_files(everything, selection)
        check_collisions([(files[0], output)])
        return Plan([(files[0], output)], os.path.dirname(_absolute(files[0])))
    other = os.path.splitext(output)[1].lower()
    if other in OTHER_IMAGE_EXTENSIONS and not _isdir(output):  # a file name meant as a file
        raise UsageError(f"-o {output}: outputs are {suffix} files: name a single output NAME{suffix}, "
                         f"or give -o a folder (a name without an image extension, or an existing folder)")
    root = output_root(inputs, listed, base)
    files = find_mask_files(everything, selection, skip_dirs=(output,), problems=problems, skipped=skipped)
    if not storage.is_remote(output) and os.path.exists(output) and not os.path.isdir(output):
        raise UsageError(f"{output}: exists and is not a folder (a single input file may have -o NAME.png)")
    join = storage.join if storage.is_remote(output) else os.path.join
    kept: list[str] = []
    jobs = []
    for f in files:
        rel, matched = output_name(_relative(f, root), rename, suffix)
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


def check_outside(path: str, tree: str, what: str, role: str) -> None:
    """Stop when ``path`` is an existing file (or a link to one) inside ``tree``, a folder or
    a file that the run reads besides its inputs (the photos of --images): writing ``path``
    would replace it."""
    path, tree = storage.local_path(path), storage.local_path(tree)
    if path == "-" or storage.is_remote(path) or storage.is_remote(tree) or not os.path.exists(path):
        return
    target, root = os.path.realpath(path), os.path.realpath(tree)
    if target == root or target.startswith(root.rstrip(os.sep) + os.sep):
        raise UsageError(f"{what} {path} is {role}{_through_link(path, target)}; choose another name")


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


# --------------------------------------------------------------------------- streaming

LOOKAHEAD = 10_000  # jobs found before the first is handed out: a run this small is checked whole first


def streamable(inputs, output: str, listed=(), suffix: str = ".png") -> bool:
    """Whether a run into the output folder ``output`` can find its jobs while it runs
    (:class:`StreamedPlan`) rather than list them all first (:func:`make_plan`): every path is
    local, ``output`` names a folder, no input lies inside the output folder (also through a
    link), and no input argument lies inside another (each file is found once without
    remembering every file). Runs that do not qualify are planned whole, as before."""
    paths = [storage.local_path(i) for i in (*inputs, *listed)]
    output = storage.local_path(output)
    if output == "-" or storage.is_remote(output) or not can_stream(paths):
        return False
    if output.lower().endswith(suffix) or os.path.splitext(output)[1].lower() in OTHER_IMAGE_EXTENSIONS:
        return False  # a single output file, or a usage error make_plan words
    out_real = _real_path(output)
    return not any(_within(_real_path(p), out_real) for p in paths)


def _real_path(path: str) -> str:
    return os.path.normcase(os.path.realpath(path))


def _within(path: str, root: str) -> bool:
    """``path`` is ``root`` or below it (both absolute and normalized)."""
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


class StreamedPlan:
    """The jobs of a run into an output folder, found while the run goes (see docs/scale.md).

    :meth:`events` walks the inputs and yields ``("job", input, output)``,
    ``("problem", folder, reason)`` (a folder that cannot be listed), ``("skipped", path,
    reason)`` and ``("kept", input)`` (no --rename rule matched), in the order
    :func:`make_plan` lists them. Memory grows with the number of output folders and the size
    of the largest folder, not with the number of files: collisions are found folder by
    folder (the files of one folder come together, and an output folder takes the outputs of
    one input folder, unless a link in the output tree joins two), and the first
    :data:`LOOKAHEAD` jobs are checked before any is handed out. A collision, or an output
    that would replace an input, sets :attr:`stopped` (a UsageError) and ends the jobs before
    the offending one: no input is overwritten (see docs/scale.md for what may be).
    """

    def __init__(self, inputs, output: str, selection: Selection = Selection(), rename=(), base=None, listed=(),
                 suffix: str = ".png", reserved=()):
        self.inputs = [storage.local_path(i) for i in (*inputs, *listed)]
        self.output = storage.local_path(output)
        self.selection, self.rename, self.suffix = selection, tuple(rename), suffix
        self.root = output_root(inputs, listed, base)
        if os.path.exists(self.output) and not os.path.isdir(self.output):
            raise UsageError(f"{self.output}: exists and is not a folder (a single input file may have -o NAME.png)")
        self.out_real = _real_path(self.output)
        self.input_reals = [_real_path(p) for p in self.inputs]
        self.reserved = [(what, path, os.path.split(_Resolver()(path))) for what, path in reserved]
        self.found = 0  # jobs found so far
        self.complete = False  # the walk is over: found is the total
        self.stopped: UsageError | None = None
        self._out_folders: dict[str, str] = {}  # output folders met, as they resolve -> their input folder
        self._named_outputs: set = set()  # outputs of files named directly: hash((real folder, name))
        self._skipped = 0

    # ---------------------------------------------------------------- the walk

    def events(self):
        """The run's jobs and notes, found as the walk goes (see the class)."""
        head = []
        source = self._checked()
        more = False
        for event in source:  # the first LOOKAHEAD jobs are all checked before any is handed out
            head.append(event)
            if self.found >= LOOKAHEAD:
                more = True
                break
        if self.stopped is not None:
            return  # found before anything was done: the run stops as a plan made whole would
        self.complete = not more  # a small run knows its total before its first file
        yield from head
        del head
        if more:
            yield from source
            self.complete = self.stopped is None

    def _checked(self):
        problems: list = []
        skipped: list = []
        skip = _Skip((self.output,))
        named: set[str] = set()
        listed_problems = 0
        folder = None  # the folder state of the files met last (named files of one folder share it)
        for item in self.inputs:
            is_named = not os.path.isdir(item)
            if is_named:
                if _key(item) in named:
                    continue
                named.add(_key(item))
                groups = [(item, os.path.basename(item), os.path.islink(item), None)]
                prefix = os.path.dirname(_relative(item, self.root))
            else:
                groups = _walk(item, self.selection, skip, problems, skipped)
                prefix = "" if _absolute(item) == self.root else _relative(item, self.root)
            if not is_named:
                folder = None
            for found in groups:
                listed_problems += len(problems)
                yield from self._drain(problems, skipped)
                here = os.path.dirname(found[0])
                if folder is None or here != folder.input:
                    folder = self._folder(found, prefix, self._named_outputs if is_named else set())
                    if folder is None:
                        return
                try:
                    events = self._job(folder, *found)
                except UsageError as exc:  # a --rename that makes a hidden or empty name
                    self.stopped = exc
                    return
                if events is None:
                    return
                for event in events:
                    if event[0] == "job":
                        self.found += 1
                    yield event
            listed_problems += len(problems)
            yield from self._drain(problems, skipped)
        if not self.found and not listed_problems:
            also = f"; skipped {self._skipped} that are not regular files" if self._skipped else ""
            where = ", ".join(map(str, self.inputs))
            self.stopped = UsageError(f"no mask files found in {where} (looked for {self.selection.describe()}, "
                                      f"recursively{also})")

    def _drain(self, problems, skipped):
        while problems:
            yield ("problem", *problems.pop(0))
        while skipped:
            self._skipped += 1
            yield ("skipped", *skipped.pop(0))

    def _folder(self, first, prefix: str, names: set):
        """What the checks of one input folder's files share (see :class:`_Folder`), from its
        first file; None (and :attr:`stopped` set) when its output folder, through a link, is
        another input folder's."""
        src, rel = first[0], first[1]
        rel_folder = os.path.dirname(os.path.join(prefix, rel) if prefix else rel)
        out_folder = os.path.join(self.output, rel_folder) if rel_folder else self.output
        real_folder = _real_path(out_folder)
        in_real_folder = _real_path(os.path.dirname(os.path.abspath(src)))
        if self._out_folders.setdefault(real_folder, in_real_folder) != in_real_folder:
            self.stopped = UsageError(
                f"1 output folder would be written by more than one input folder: {shown_path(out_folder)} "
                f"is {real_folder} (through a link), where the outputs of another input folder went; "
                "choose another -o")
            return None
        linked_away = not _within(real_folder, self.out_real)
        inside = next((r for r in self.input_reals if linked_away and _within(real_folder, r)), None)
        if inside is not None:  # its outputs would land among the inputs, and be walked as inputs
            self.stopped = UsageError(
                f"{shown_path(out_folder)}: the output folder leads (through a link) to {real_folder}, inside the "
                f"input {inside}; outputs there would overwrite inputs or be read as inputs; choose another -o")
            return None
        reserved = [(what, path, folder, name) for what, path, (folder, name) in self.reserved
                    if folder in (real_folder, in_real_folder)]
        return _Folder(os.path.dirname(src), out_folder, real_folder, in_real_folder,
                       linked_away, *_listing(out_folder), reserved, names)

    def _name(self, base: str) -> tuple[str, bool]:
        """The output's file name for an input's file name, and whether a --rename rule matched."""
        if self.rename:
            return output_name(base, self.rename, self.suffix)
        dot = base.rfind(".")  # output_name's rule without a rename, for the common case
        return (base[:dot] if dot > 0 else base) + self.suffix, True

    def _job(self, f: "_Folder", src: str, rel: str, link: bool, inode):
        """The events of one input file, or None (and :attr:`stopped` set) when its output
        would write over an input, another output or the report."""
        events = []
        if link and _within(_real_path(src), self.out_real):
            return [("skipped", src, "a link into the output folder (outputs are never read as inputs)")]
        name, matched = self._name(rel.rpartition("/")[2])
        if not matched:
            events.append(("kept", src, None))
        dst = os.path.join(f.output, name)
        key = (f.real, os.path.normcase(name))
        if hash(key) in f.names:  # the names' hashes are kept (8 bytes, not the name)
            other = self._earlier_input(f, src, key[1])
            self.stopped = UsageError(f"1 output(s) would be written by more than one input: {other} and {src} -> {dst}")
            return None
        f.names.add(hash(key))
        problem = None
        if f.linked_away:  # a link in the output tree leads elsewhere: maybe into an input folder
            real_dst = os.path.join(f.real, key[1])
            if any(_within(real_dst, r) for r in self.input_reals) and os.path.lexists(real_dst):
                problem = f"{dst}: the output would overwrite the input {real_dst} (the same file, through a link)"
        if problem is None and (name in f.links or (inode is None or link or inode in f.inodes) and f.inodes):
            problem = self._replaces_input(src, dst, link)
        if problem is not None:
            self.stopped = UsageError(problem + "; choose another -o")
            return None
        for what, path, folder, reserved_name in f.reserved:
            if key[1] == reserved_name and f.real == folder:
                self.stopped = UsageError(f"{what} {path} is an output of this run{_through_link(path, dst)}; choose another name")
                return None
            real_src = _real_path(src) if link else os.path.join(f.input_real, os.path.normcase(os.path.basename(src)))
            if real_src == os.path.join(folder, reserved_name):
                self.stopped = UsageError(f"{what} {path} is an input of this run{_through_link(path, src)}; choose another name")
                return None
        events.append(("job", src, dst))
        return events

    def _earlier_input(self, f: "_Folder", src: str, name: str) -> str:
        """The other input whose output is ``name`` too, for the message (the folder's output
        names are kept as hashes, not its inputs: it is looked up again in the folder)."""
        try:
            with os.scandir(f.input or os.curdir) as it:
                for entry in sorted(it, key=lambda e: e.name):
                    if entry.path != src and not entry.name.startswith(".") and \
                            os.path.normcase(self._name(entry.name)[0]) == name:
                        return entry.path
        except (OSError, UsageError):
            pass
        return "an earlier input"

    def _replaces_input(self, src: str, dst: str, link: bool) -> str | None:
        """Why writing ``dst`` would replace an input, or None. Outputs are written by renaming
        a new file over the name, so what matters is what the name is: a link into an input
        folder, or a hard link to its own input."""
        try:
            st = os.lstat(dst)
        except (OSError, ValueError):
            return None
        if stat.S_ISLNK(st.st_mode):
            target = _real_path(dst)
            if any(_within(target, r) for r in self.input_reals):
                return f"{dst}: the output would overwrite the input {target} (the same file, through a link)"
            return None
        if st.st_nlink > 1 and _identity(src) == (st.st_dev, st.st_ino):
            return f"{dst}: the output would overwrite the input {src} (the same file, through a link)"
        return None


def _listing(folder: str) -> tuple[set, set]:
    """(names of symbolic links, inodes of everything else) in an existing folder, from one
    listing (no stat per file); two empty sets when it does not exist yet."""
    links, inodes = set(), set()
    try:
        with os.scandir(folder) as it:
            for entry in it:
                if entry.is_symlink():
                    links.add(entry.name)
                else:
                    inodes.add(entry.inode())
    except OSError:  # not there yet (a fresh run), or not a folder: writing will say
        pass
    return links, inodes


@dataclass
class _Folder:
    """One input folder's share of the checks: where its outputs go (``output``, resolved
    ``real``), the input folder resolved (``input_real``), whether a link in the output tree
    leads elsewhere (``linked_away``), what the output folder holds already (from one listing), the reserved
    names (the report) that live in either folder, and the output names met so far (hashed)."""

    input: str
    output: str
    real: str
    input_real: str
    linked_away: bool
    links: set  # names in the existing output folder that are symbolic links
    inodes: set  # inodes of the other entries there (an output may be a hard link to its input)
    reserved: list
    names: set  # hash((real folder, output name)) of the outputs met


def shown_path(path: str) -> str:
    from maskcli.report import shown

    return shown(path)
