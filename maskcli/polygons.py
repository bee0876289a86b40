"""Polygon annotations to index masks: pure drawing, shapes in and arrays out (no files).

Both tools whose exports maskcli reproduces draw with Pillow's ``ImageDraw``, so maskcli
does too, with the same calls, in the same order, on the same coordinates:

- Cityscapes (``cityscapesScripts`` ``json2labelImg.py``): an image filled with the value of
  the label ``unlabeled``, then each object's polygon filled (no outline) in file order, later
  objects over earlier ones; deleted objects are skipped, a ``...group`` label that is not a
  label itself is drawn as its class, a label without an id (``license plate``) is not drawn.
- labelme (``labelme/utils/shape.py``, as ``labelme2voc.py`` exports VOC masks): background 0,
  then each shape in file order, filled and outlined with its class value: polygon, rectangle
  (two corners), circle (center and a point on it), line and linestrip (width 10), point (a
  disc of radius 5).

Pixels are those of the installed Pillow: Pillow 11.1 changed which edge pixels a polygon
fill takes, so exports made with an older Pillow can differ on a few boundary pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SHAPE_TYPES = ("polygon", "rectangle", "circle", "line", "linestrip", "point")
LINE_WIDTH = 10  # labelme's shape_to_mask defaults
POINT_SIZE = 5
# How many points each labelme shape type takes: (fewest, most); None = no limit.
POINT_COUNTS = {"polygon": (3, None), "rectangle": (2, 2), "circle": (2, 2), "line": (2, 2),
                "linestrip": (2, None), "point": (1, 1)}
# Labels drawn as the ignore index when the palette has no class of that name (labelme's
# __ignore__ is -1, saved as 255).
IGNORE_LABELS = frozenset({"__ignore__", "ignore", "ignored", "void"})


class ShapeError(ValueError):
    """A shape that cannot be drawn; ``index`` is its position in the shapes drawn."""

    def __init__(self, index: int, reason: str):
        super().__init__(reason)
        self.index = index


@dataclass(frozen=True)
class Shape:
    """One shape to draw: its type (one of SHAPE_TYPES), its points ((x, y) pairs, in image
    pixels, floats kept as they are) and the value its pixels get."""

    kind: str
    points: tuple
    value: int


def normalize_name(name: str) -> str:
    """A class name as labels are matched: case-folded, runs of spaces and ``_`` as one space."""
    return " ".join(name.replace("_", " ").split()).casefold() or name


def check_points(kind: str, count: int) -> str | None:
    """Why ``count`` points do not make a ``kind`` shape (labelme's own checks), or None."""
    if kind not in POINT_COUNTS:
        return f"shape_type {kind!r} is not one maskcli draws ({', '.join(SHAPE_TYPES)})"
    low, high = POINT_COUNTS[kind]
    if count < low or (high is not None and count > high):
        want = f"{low}" if low == high else f"at least {low}" if high is None else f"{low} to {high}"
        return f"a {kind} takes {want} point(s), this one has {count}"
    return None


def rasterize_shapes(height: int, width: int, shapes, background: int = 0, outline: bool = True) -> np.ndarray:
    """Draw ``shapes`` (Shape values, in order, later over earlier) on a ``height`` x ``width``
    image filled with ``background``: an (H, W) uint8 array, or uint16 when a value is above
    255. ``outline=True`` draws polygons, rectangles and circles filled and outlined, as
    labelme does; ``outline=False`` fills polygons only, as Cityscapes' json2labelImg does."""
    from PIL import Image, ImageDraw

    shapes = list(shapes)
    top = max([background] + [s.value for s in shapes])
    if min([background] + [s.value for s in shapes]) < 0 or top > 65535:
        raise ValueError("shape values and the background must be in 0..65535")
    mode = "L" if top <= 255 else "I"
    image = Image.new(mode, (width, height), background)
    draw = ImageDraw.Draw(image)
    for i, shape in enumerate(shapes):
        try:
            draw_shape(draw, shape, outline)
        except (ValueError, TypeError, OverflowError) as exc:
            raise ShapeError(i, f"Pillow cannot draw this {shape.kind}: {exc}") from None
    out = np.asarray(image)
    return out.astype(np.uint16) if mode == "I" else out.copy()


def draw_shape(draw, shape: Shape, outline: bool = True) -> None:
    """Draw one shape with a Pillow ImageDraw (labelme's shape_to_mask, with its value)."""
    xy = [tuple(p) for p in shape.points]
    value = shape.value
    edge = value if outline else None
    kind = shape.kind
    if kind == "circle":
        (cx, cy), (px, py) = xy
        d = math.sqrt((cx - px) ** 2 + (cy - py) ** 2)
        draw.ellipse([cx - d, cy - d, cx + d, cy + d], outline=edge, fill=value)
    elif kind == "rectangle":
        (x0, y0), (x1, y1) = xy  # corners in either order (Pillow wants the top-left first)
        draw.rectangle([(min(x0, x1), min(y0, y1)), (max(x0, x1), max(y0, y1))], outline=edge, fill=value)
    elif kind in ("line", "linestrip"):
        draw.line(xy=xy, fill=value, width=LINE_WIDTH)
    elif kind == "point":
        cx, cy = xy[0]
        r = POINT_SIZE
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=edge, fill=value)
    elif kind == "polygon":
        draw.polygon(xy, fill=value, outline=edge)
    else:
        raise ValueError(f"unknown shape type {kind!r}")


@dataclass(frozen=True)
class LabelTable:
    """How label names become values: the palette's classes by name (exact first, then
    normalized: case and spaces), its ignore index, and for Cityscapes the dataset's own
    label names (``known``: drawn as the ignore index when the palette has no class of that
    name, as trainIds does) and those it never draws (``skip``: ``license plate``)."""

    names: tuple  # ((name, id), ...) in palette order; the first of a name wins
    ignore: int
    known: tuple = ()
    skip: tuple = ()

    def _lookup(self, name: str):
        for n, value in self.names:
            if n == name:
                return value
        wanted = normalize_name(name)
        for n, value in self.names:
            if normalize_name(n) == wanted:
                return value
        return None

    def _is(self, name: str, group) -> bool:
        wanted = normalize_name(name)
        return any(normalize_name(n) == wanted for n in group)

    def cityscapes(self, label: str):
        """The value a Cityscapes object of ``label`` is drawn with, None when it is not
        drawn (a label without an id); raises KeyError for a label nobody knows."""
        if not self._known(label) and label.casefold().endswith("group"):
            label = label[: -len("group")]  # cargroup -> car (polegroup is a label itself)
        value = self._lookup(label)
        if value is not None:
            return value
        if self._is(label, self.skip):
            return None
        if self._is(label, self.known):
            return self.ignore
        raise KeyError(label)

    def _known(self, label: str) -> bool:
        return self._lookup(label) is not None or self._is(label, self.known) or self._is(label, self.skip)

    def cityscapes_background(self) -> int:
        """The value of 'unlabeled' (labelIds: 0); the ignore index without one (trainIds: 255)."""
        value = self._lookup("unlabeled")
        return self.ignore if value is None else value

    def labelme(self, label: str) -> int:
        """The value a labelme shape of ``label`` is drawn with; ``__ignore__`` (and other
        ignore names the palette has no class for) is the ignore index; raises KeyError."""
        value = self._lookup(label)
        if value is not None:
            return value
        if normalize_name(label) in {normalize_name(n) for n in IGNORE_LABELS}:
            return self.ignore
        raise KeyError(label)


def cityscapes_mask(height: int, width: int, objects, table: LabelTable) -> np.ndarray:
    """A Cityscapes polygons annotation as json2labelImg draws it. ``objects`` are
    ``(label, points, deleted)`` in file order. Raises LabelError for an unknown label,
    ShapeError (its ``index`` the object's position in ``objects``) for a polygon Pillow
    cannot draw (fewer than 2 points: json2labelImg stops there too)."""
    shapes, positions = [], []
    for i, (label, points, deleted) in enumerate(objects):
        if deleted:
            continue
        try:
            value = table.cityscapes(label)
        except KeyError:
            raise LabelError(i, label) from None
        if value is not None:
            shapes.append(Shape("polygon", tuple(points), value))
            positions.append(i)
    try:
        return rasterize_shapes(height, width, shapes, table.cityscapes_background(), outline=False)
    except ShapeError as exc:
        raise ShapeError(positions[exc.index], str(exc)) from None


def labelme_mask(height: int, width: int, shapes, table: LabelTable) -> np.ndarray:
    """A labelme annotation as labelme2voc exports it (the class values, background 0).
    ``shapes`` are ``(label, shape_type, points)`` in file order (shape_type None is a
    polygon). Raises LabelError for an unknown label, ShapeError for a shape that cannot be
    drawn (its ``index`` the shape's position)."""
    drawn = []
    for i, (label, kind, points) in enumerate(shapes):
        kind = kind or "polygon"
        why = check_points(kind, len(points))
        if why:
            raise ShapeError(i, why)
        try:
            drawn.append(Shape(kind, tuple(points), table.labelme(label)))
        except KeyError:
            raise LabelError(i, label) from None
    return rasterize_shapes(height, width, drawn, 0, outline=True)


class LabelError(KeyError):
    """A label the palette (and, for Cityscapes, the dataset) does not know."""

    def __init__(self, index: int, label: str):
        super().__init__(label)
        self.index = index
        self.label = label
