"""Reading polygon annotation files: the I/O boundary of ``maskcli rasterize``.

A file is read whole (regular files only, at most MASKCLI_MAX_JSON_BYTES, default 64 MiB),
parsed as JSON and checked field by field before anything is drawn, so a hostile or broken
file becomes one line saying where it is wrong (a per-file error), never a traceback:

- Cityscapes ``*_gtFine_polygons.json``: ``imgHeight``, ``imgWidth``, ``objects``: a list of
  ``{"label": str, "polygon": [[x, y], ...], "deleted": ...}``.
- labelme ``*.json``: ``imageHeight``, ``imageWidth``, ``shapes``: a list of
  ``{"label": str, "points": [[x, y], ...], "shape_type": str or null}``.

Which of the two a file is, is told by its keys (``objects`` or ``shapes``).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from maskcli.errors import MaskError, ReadError

DEFAULT_MAX_JSON_BYTES = 64 << 20
MAX_COORDINATE = 1 << 24  # farther than any image; Pillow's integer conversions stay exact
FORMATS = ("cityscapes", "labelme")


@dataclass(frozen=True)
class Annotation:
    """A parsed annotation file: its format, image size and items in file order:
    Cityscapes ``(label, points, deleted)``, labelme ``(label, shape_type, points)``."""

    format: str
    height: int
    width: int
    items: tuple


def max_json_bytes() -> int:
    try:
        return int(os.environ.get("MASKCLI_MAX_JSON_BYTES", DEFAULT_MAX_JSON_BYTES))
    except ValueError:
        return DEFAULT_MAX_JSON_BYTES


def read_annotation(path: str) -> Annotation:
    """Read and check one annotation file; raises ReadError or MaskError (one line)."""
    from maskcli.masks import read_regular_file

    try:
        size = os.stat(path).st_size
    except OSError as exc:
        raise ReadError(f"cannot read: {exc.strerror or exc}") from None
    limit = max_json_bytes()
    if size > limit:
        raise ReadError(f"is {size} bytes, more than the {limit} an annotation may have "
                        "(set MASKCLI_MAX_JSON_BYTES to allow it)")
    data = read_regular_file(path)
    if len(data) > limit:
        raise ReadError(f"is more than the {limit} bytes an annotation may have")
    return parse_annotation(data)


def parse_annotation(data: bytes) -> Annotation:
    """The bytes of an annotation file, parsed and checked; raises MaskError."""
    import json

    try:
        doc = json.loads(data)
    except RecursionError:
        raise MaskError("not valid annotation JSON: nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, bad UTF-8, an integer with too many digits
        raise MaskError(f"not valid JSON: {_one_line(exc)}") from None
    if not isinstance(doc, dict):
        raise MaskError(f"not an annotation: the JSON is {_kind(doc)}, not an object")
    if "objects" in doc:
        return _cityscapes(doc)
    if "shapes" in doc:
        return _labelme(doc)
    raise MaskError("not a polygon annotation: no 'objects' (Cityscapes *_polygons.json) "
                    "or 'shapes' (labelme) key")


def _cityscapes(doc: dict) -> Annotation:
    height, width = _size(doc, "imgHeight", "imgWidth")
    objects = _list(doc, "objects", "objects")
    items = []
    for i, obj in enumerate(objects):
        where = f"objects[{i}]"
        if not isinstance(obj, dict):
            raise MaskError(f"{where}: expected an object with label and polygon, got {_kind(obj)}")
        label = _label(obj, where)
        points = _points(obj, "polygon", where)
        deleted = obj.get("deleted", 0)
        if isinstance(deleted, (dict, list)):
            raise MaskError(f"{where}.deleted: expected 0/1 or true/false, got {_kind(deleted)}")
        items.append((label, points, bool(deleted)))
    return Annotation("cityscapes", height, width, tuple(items))


def _labelme(doc: dict) -> Annotation:
    height, width = _size(doc, "imageHeight", "imageWidth")
    shapes = _list(doc, "shapes", "shapes")
    items = []
    for i, shape in enumerate(shapes):
        where = f"shapes[{i}]"
        if not isinstance(shape, dict):
            raise MaskError(f"{where}: expected an object with label and points, got {_kind(shape)}")
        label = _label(shape, where)
        kind = shape.get("shape_type")
        if kind is not None and not isinstance(kind, str):
            raise MaskError(f"{where}.shape_type: expected a string, got {_kind(kind)}")
        items.append((label, kind, _points(shape, "points", where)))
    return Annotation("labelme", height, width, tuple(items))


def _size(doc: dict, h_key: str, w_key: str) -> tuple[int, int]:
    from maskcli.masks import max_pixels

    sizes = []
    for key in (h_key, w_key):
        if key not in doc:
            raise MaskError(f"no '{key}': the image size is needed to draw the mask")
        value = doc[key]
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1 << 20:
            raise MaskError(f"{key}: expected a whole number of pixels (1 or more), got {_short(value)}")
        sizes.append(value)
    if sizes[0] * sizes[1] > max_pixels():
        raise MaskError(f"is {sizes[1]}x{sizes[0]}: more than {max_pixels()} pixels "
                        "(set MASKCLI_MAX_PIXELS to allow it)")
    return sizes[0], sizes[1]


def _list(doc: dict, key: str, where: str) -> list:
    value = doc[key]
    if not isinstance(value, list):
        raise MaskError(f"{where}: expected a list, got {_kind(value)}")
    return value


def _label(obj: dict, where: str) -> str:
    label = obj.get("label")
    if not isinstance(label, str):
        raise MaskError(f"{where}.label: expected a string, got {_kind(label) if label is not None else 'none'}")
    return label


def _points(obj: dict, key: str, where: str) -> tuple:
    points = obj.get(key)
    if not isinstance(points, list):
        raise MaskError(f"{where}.{key}: expected a list of [x, y] points, got "
                        f"{_kind(points) if points is not None else 'none'}")
    out = []
    for j, point in enumerate(points):
        if not isinstance(point, list) or len(point) != 2 or not all(_coordinate(v) for v in point):
            raise MaskError(f"{where}.{key}[{j}]: expected [x, y] with numbers within "
                            f"±{MAX_COORDINATE}, got {_short(point)}")
        out.append((point[0], point[1]))
    return tuple(out)


def _coordinate(value) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value) and abs(value) <= MAX_COORDINATE)


def _kind(value) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false", type(None): "null",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)


def _short(value, limit: int = 40) -> str:
    try:
        text = repr(value)
    except RecursionError:
        text = "..."
    text = "".join(ch if ch.isprintable() else "?" for ch in text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200]
