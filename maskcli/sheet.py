"""Contact sheets, pure: thumbnails of decoded masks, sampling, and the grid layout.

No files and no processes here (visualize.py reads the masks and runs the pool). Thumbnails
use nearest-neighbour sampling, so a thumbnail holds only colors of its mask: a class color
never blends into a new color that looks like another class.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

UNKNOWN_VALUE_COLOR = (255, 0, 255)  # index values the palette lacks, in thumbnails
BACKGROUND = (236, 236, 236)
TEXT = (20, 20, 20)
PROBLEM_TEXT = (176, 0, 32)


def fit(width: int, height: int, size: int) -> tuple[int, int]:
    """The thumbnail size of a ``width`` x ``height`` mask that fits in ``size`` x ``size``
    (aspect ratio kept, at least 1 px; small masks are enlarged by whole pixels only)."""
    scale = min(size / width, size / height)
    if scale > 1:
        scale = float(int(scale))
    return max(1, round(width * scale)), max(1, round(height * scale))


def sample_grid(width: int, height: int, tw: int, th: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of the source pixels nearest to the thumbnail's pixel centers."""
    ys = np.minimum(((np.arange(th) + 0.5) * height / th).astype(np.intp), height - 1)
    xs = np.minimum(((np.arange(tw) + 0.5) * width / tw).astype(np.intp), width - 1)
    return ys, xs


def downscale(array: np.ndarray, size: int) -> np.ndarray:
    """Nearest-neighbour resize of an (H, W) or (H, W, C) array to fit in ``size`` x ``size``."""
    h, w = array.shape[:2]
    tw, th = fit(w, h, size)
    ys, xs = sample_grid(w, h, tw, th)
    return np.ascontiguousarray(array[ys[:, None], xs])


def fallback_colors(n: int = 65536) -> np.ndarray:
    """A fixed color per index value for index masks shown without a palette: the bit-spreading
    color map Pascal VOC uses (0 black, 1 dark red, 2 dark green, ...)."""
    values = np.arange(n, dtype=np.uint32)
    colors = np.zeros((n, 3), np.uint8)
    v = values.copy()
    for shift in range(7, -1, -1):
        for channel in range(3):
            colors[:, channel] |= (((v >> channel) & 1) << shift).astype(np.uint8)
        v >>= 3
    return colors


def index_colors(index: np.ndarray, palette=None) -> np.ndarray:
    """(H, W) class values -> (H, W, 3) uint8 RGB through the palette (values it lacks in
    UNKNOWN_VALUE_COLOR), or through fallback_colors() without one."""
    if palette is None:
        table = fallback_colors(65536 if index.dtype != np.uint8 else 256)
    else:
        table = np.empty((65536 if index.dtype != np.uint8 else 256, 3), np.uint8)
        table[:] = UNKNOWN_VALUE_COLOR
        for value, color in palette.encode_pairs():
            if value < len(table):
                table[value] = color
        if palette.ignore_index < len(table):
            table[palette.ignore_index] = palette.ignore_color
    return table[index]


def mask_thumbnail(mask, size: int, palette=None) -> np.ndarray:
    """A decoded maskcli Mask as an RGB thumbnail: color masks as they are, palettized masks
    through their own PLTE, index masks through ``palette`` (see index_colors)."""
    small = downscale(mask.data, size)
    if mask.kind == "palettized":
        colors = np.zeros((256, 3), np.uint8)
        colors[: len(mask.colors)] = mask.colors[:256]
        return colors[small]
    if mask.kind == "index":
        return index_colors(small, palette)
    order = mask.channels
    if order in ("bgr", "bgra"):
        small = small[..., 2::-1]
    return np.ascontiguousarray(small[..., :3])


def labeled_pixels(mask, thumb: np.ndarray, size: int, palette=None) -> np.ndarray:
    """Which thumbnail pixels are labeled (not ignore), as overlays draw them: index masks by
    the palette's ignore index, color and palettized masks by the palette's ignore colors (the
    colors to-index decodes to the ignore index). Without a palette every pixel is labeled."""
    if palette is None:
        return np.ones(thumb.shape[:2], bool)
    if mask.kind == "index":
        return downscale(mask.data, size) != palette.ignore_index
    from maskcli.convert import pack_rgb

    ignore = np.array(sorted({palette.ignore_color, *palette.ignore_colors}), np.uint8).reshape(-1, 3)
    return ~np.isin(pack_rgb(thumb), pack_rgb(ignore[None]).reshape(-1))


def overlay_thumbnail(photo: np.ndarray, thumb: np.ndarray, labeled: np.ndarray, alpha: float) -> np.ndarray:
    """A thumbnail of a mask over its photo: the (H, W, 3) RGB photo scaled to the thumbnail's
    size (area averaging: it is a photo), then the thumbnail's colors blended over its labeled
    pixels with maskcli.overlay.blend (the documented formula, at opacity ``alpha``)."""
    import cv2

    from maskcli.overlay import blend

    th, tw = thumb.shape[:2]
    h, w = photo.shape[:2]
    how = cv2.INTER_AREA if tw <= w else cv2.INTER_NEAREST
    small = cv2.resize(np.ascontiguousarray(photo), (tw, th), interpolation=how)
    return blend(small, thumb, labeled, alpha)


def unknown_marks(unknown: np.ndarray, size: int) -> np.ndarray:
    """(H, W) bool 'this pixel is unknown' -> a thumbnail-sized bool array where a thumbnail
    pixel is True when ANY source pixel it covers is unknown (so one bad pixel still shows)."""
    h, w = unknown.shape
    tw, th = fit(w, h, size)
    ys = (np.arange(h) * th // h)
    xs = (np.arange(w) * tw // w)
    out = np.zeros((th, tw), bool)
    rows, cols = np.nonzero(unknown)
    out[ys[rows], xs[cols]] = True
    return out


def problem_view(thumb: np.ndarray, marks: np.ndarray, color=(255, 0, 255)) -> np.ndarray:
    """The thumbnail faded to a light gray, with the marked pixels in ``color``: where a file's
    unknown colors are."""
    gray = thumb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    faded = (200 + gray * (55 / 255)).astype(np.uint8)
    out = np.repeat(faded[..., None], 3, axis=2)
    out[marks] = color
    return out


def choose(files: list[str], how: str, count: int, seed: int = 0, badness: dict | None = None) -> list[str]:
    """Which files a sheet shows, in order: the first ``count``; a seeded random ``count`` (in
    path order); or the worst first (``badness[path]`` is a tuple of numbers, higher is worse;
    files without a score last; ties in path order)."""
    if how == "first":
        return files[:count]
    if how == "random":
        if len(files) <= count:
            return list(files)
        picked = set(random.Random(seed).sample(range(len(files)), count))
        return [f for k, f in enumerate(files) if k in picked]
    if how == "worst":
        badness = badness or {}
        scored = lambda k: (0, _negated(badness[files[k]])) if files[k] in badness else (1, ())  # noqa: E731
        order = sorted(range(len(files)), key=lambda k: (scored(k), k))
        return [files[k] for k in order[:count]]
    raise ValueError(f"unknown sample {how!r}")


def _negated(score) -> tuple:
    return tuple(-x for x in score)


@dataclass(frozen=True)
class Tile:
    """One cell of a sheet: a thumbnail (None: the file could not be read), its caption and
    an optional second line (a problem, drawn in red)."""

    thumb: np.ndarray | None
    caption: str
    note: str = ""


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # pragma: no cover - Pillow < 10.1 has only the small bitmap font
        return ImageFont.load_default()


def shorten(text: str, width: float, measure) -> str:
    """``text`` cut in the middle with '...' until ``measure(text)`` fits ``width`` (file names
    differ at both ends: a dataset's prefix and the frame number or suffix)."""
    if measure(text) <= width:
        return text
    keep = len(text)
    while keep > 1:
        keep -= 1
        head = (keep + 1) // 2
        tail = keep - head
        short = text[:head] + "..." + (text[-tail:] if tail else "")
        if measure(short) <= width:
            return short
    return "..."


def layout(tiles: list[Tile], columns: int, size: int, title: str = ""):
    """Draw the tiles in a grid of ``columns`` (fewer when there are fewer tiles), each cell
    ``size`` wide, with the caption (and note) under the thumbnail. Returns a PIL RGB image."""
    from PIL import Image, ImageDraw

    columns = max(1, min(columns, len(tiles) or 1))
    rows = max(1, -(-len(tiles) // columns))
    font_px = max(10, min(16, size // 14))
    font = _font(font_px)
    pad, line = 6, font_px + 5
    thumb_h = max([t.thumb.shape[0] for t in tiles if t.thumb is not None] or [size // 2])
    has_notes = any(t.note for t in tiles)
    cell_w, cell_h = size + 2 * pad, thumb_h + 2 * pad + line * (2 if has_notes else 1)
    top = (line + 2 * pad) if title else 0
    img = Image.new("RGB", (columns * cell_w + pad, rows * cell_h + top + pad), BACKGROUND)
    draw = ImageDraw.Draw(img)
    if title:
        draw.text((pad + 2, pad), shorten(title, img.width - 2 * pad, lambda s: draw.textlength(s, font=font)),
                  fill=TEXT, font=font)
    measure = lambda s: draw.textlength(s, font=font)  # noqa: E731
    for k, tile in enumerate(tiles):
        x0 = pad + (k % columns) * cell_w
        y0 = top + pad + (k // columns) * cell_h
        if tile.thumb is None:
            draw.rectangle([x0 + pad, y0 + pad, x0 + pad + size - 1, y0 + pad + thumb_h - 1],
                           fill=(255, 255, 255), outline=PROBLEM_TEXT, width=2)
        else:
            th, tw = tile.thumb.shape[:2]
            tx, ty = x0 + pad + (size - tw) // 2, y0 + pad + (thumb_h - th) // 2
            draw.rectangle([tx - 1, ty - 1, tx + tw, ty + th], outline=(160, 160, 160))
            img.paste(Image.fromarray(tile.thumb, "RGB"), (tx, ty))
        ty = y0 + pad + thumb_h + 3
        draw.text((x0 + pad, ty), shorten(tile.caption, size, measure), fill=TEXT, font=font)
        if tile.note:
            draw.text((x0 + pad, ty + line), shorten(tile.note, size, measure), fill=PROBLEM_TEXT, font=font)
    return img


def png_bytes(img) -> bytes:
    import io

    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False, compress_level=6)
    return buf.getvalue()
