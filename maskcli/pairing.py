"""Finding each mask's photo: by relative path and stem, with stem rewrites (``--pair``).

Pure path logic plus folder listings: nothing here reads an image. The rule (docs/visualize.md):
a mask whose path relative to the folder the outputs mirror (the input folder, or --base) is
``DIR/STEM.EXT`` pairs with ``IMAGES/DIR/STEM'.X``, where STEM' is STEM with the first
matching ``--pair OLD:NEW`` suffix rewritten and X any of the photo extensions (in any case).
"""

from __future__ import annotations

import os

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


class Photos:
    """Looks photos up below one folder, listing each sub-folder once."""

    def __init__(self, images: str, rules=()):
        self.images = images
        self.rules = tuple(rules)
        self._listed: dict[str, dict[str, list[str]] | None] = {}

    def _names(self, folder: str) -> dict[str, list[str]] | None:
        if folder not in self._listed:
            try:
                names = sorted(os.listdir(folder))
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

    def find(self, relpath: str, mask: str | None = None) -> tuple[str | None, str | None]:
        """``(photo path, None)`` for the mask at ``relpath`` (relative to the mirrored
        folder), or ``(None, reason)`` when there is no photo or more than one. The ``mask``
        file itself is never its own photo (masks and photos may share a folder)."""
        head, name = os.path.split(relpath)
        stem = photo_stem(os.path.splitext(name)[0], self.rules)
        folder = os.path.join(self.images, head) if head else self.images
        wanted = os.path.join(folder, stem)
        itself = os.path.abspath(mask) if mask else None
        found = [n for n in (self._names(folder) or {}).get(stem, [])
                 if os.path.abspath(os.path.join(folder, n)) != itself and os.path.isfile(os.path.join(folder, n))]
        if not found:
            return None, f"no photo for it: looked for {wanted}.* (.jpg .jpeg .png .webp .bmp .tif .tiff)"
        if len(found) > 1:
            shown = " and ".join(os.path.join(folder, n) for n in found)
            return None, f"{len(found)} candidate photos: {shown}; keep one, or pass --images a folder with one"
        return os.path.join(folder, found[0]), None
