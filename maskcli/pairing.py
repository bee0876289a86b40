"""Finding each mask's photo: by relative path and stem, with stem rewrites (``--pair``).

Pure path logic plus folder listings: nothing here reads an image. The rule (docs/visualize.md):
a mask whose path relative to the folder the outputs mirror (the input folder, or --base) is
``DIR/STEM.EXT`` pairs with ``IMAGES/DIR/STEM'.X``, where STEM' is STEM with the first
matching ``--pair OLD:NEW`` suffix rewritten and X any of the photo extensions (in any case).
IMAGES may be a local folder or a remote one (an fsspec URL such as ``s3://bucket/photos``,
listed through storage.py, one listing per sub-folder).
"""

from __future__ import annotations

import os

from maskcli import storage
from maskcli.errors import UsageError

PHOTO_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")


def parse_pair(rule: str) -> tuple[str, str]:
    """'OLD:NEW' -> (OLD, NEW): a suffix of the mask's stem and what the photo's stem has there.
    OLD must not be empty; neither may hold a '/'."""
    old, sep, new = rule.partition(":")
    if not sep or not old:
        raise UsageError(f"--pair {rule!r}: expected OLD:NEW with a non-empty OLD, e.g. _gtFine_color:_leftImg8bit")
    if any(ch in part for part in (old, new) for ch in ("/", os.sep)):
        raise UsageError(f"--pair {rule!r}: OLD and NEW are parts of a file name, without '/'")
    return old, new


def photo_stem(stem: str, rules) -> str:
    """The stem the photo of a mask named ``stem`` has: the first rule whose OLD ends it wins."""
    for old, new in rules:
        if stem.endswith(old):
            return stem[: -len(old)] + new
    return stem


def is_one_photo(images: str) -> bool:
    """Whether --images names one photo (a file, or a remote object that is not a folder)
    rather than a folder of photos."""
    images = storage.local_path(images)
    if storage.is_remote(images):
        return not storage.is_dir(images) and storage.exists(images)
    return os.path.isfile(images)


def modified(path: str) -> float | None:
    """A photo's modification time in seconds (None when its store keeps none); raises
    OSError when it cannot be asked."""
    path = storage.local_path(path)
    if storage.is_remote(path):
        return storage.modified(path)
    return os.stat(path).st_mtime


class Photos:
    """Looks photos up below one folder (local, or a remote URL), listing each sub-folder once."""

    def __init__(self, images: str, rules=()):
        images = storage.local_path(images)
        self.remote = storage.is_remote(images)
        self.images = images.rstrip("/") if self.remote else images
        self.rules = tuple(rules)
        self._listed: dict[str, dict[str, list[str]] | None] = {}

    def _join(self, folder: str, name: str) -> str:
        return storage.join(folder, name) if self.remote else os.path.join(folder, name)

    def _names(self, folder: str) -> dict[str, list[str]] | None:
        """{stem: [names]} of the photos in ``folder`` (remote: objects only; local: any entry,
        :meth:`find` keeps the files), None when it cannot be listed (it does not exist)."""
        if folder not in self._listed:
            try:
                names = self._list_remote(folder) if self.remote else sorted(os.listdir(folder))
            except OSError:
                self._listed[folder] = None
                return None
            by_stem: dict[str, list[str]] = {}
            for name in names:
                stem, ext = os.path.splitext(name)
                if ext.lower() in PHOTO_EXTENSIONS:
                    by_stem.setdefault(stem, []).append(name)
            self._listed[folder] = by_stem
        return self._listed[folder]

    @staticmethod
    def _list_remote(folder: str) -> list[str]:
        fs, path = storage.split(folder)
        try:
            entries = fs.ls(path, detail=True)
        except OSError:
            raise
        except Exception as exc:  # the store's own errors (permissions, ...): no photos found there
            raise OSError(str(exc)) from None
        names = [e["name"].rstrip("/").rsplit("/", 1)[-1] for e in entries if e.get("type") == "file"]
        return sorted(names)

    def _same(self, photo: str, mask: str | None) -> bool:
        if not mask:
            return False
        if self.remote:
            return storage.is_remote(mask) and storage.normalize(photo) == storage.normalize(mask)
        return not storage.is_remote(mask) and os.path.abspath(photo) == os.path.abspath(mask)

    def find(self, relpath: str, mask: str | None = None) -> tuple[str | None, str | None]:
        """``(photo path, None)`` for the mask at ``relpath`` (relative to the mirrored
        folder), or ``(None, reason)`` when there is no photo or more than one. The ``mask``
        file itself is never its own photo (masks and photos may share a folder)."""
        head, name = os.path.split(relpath)
        stem = photo_stem(os.path.splitext(name)[0], self.rules)
        folder = self._join(self.images, head) if head else self.images
        wanted = self._join(folder, stem)
        found = [n for n in (self._names(folder) or {}).get(stem, []) if not self._same(self._join(folder, n), mask)
                 and (self.remote or os.path.isfile(os.path.join(folder, n)))]
        if not found:
            return None, f"no photo for it: looked for {wanted}.* (.jpg .jpeg .png .webp .bmp .tif .tiff)"
        if len(found) > 1:
            shown = " and ".join(self._join(folder, n) for n in found)
            return None, f"{len(found)} candidate photos: {shown}; keep one, or pass --images a folder with one"
        return self._join(folder, found[0]), None
