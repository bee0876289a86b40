"""Drawing overlays: class colors blended over a photo, class outlines, a legend strip.

Pure array functions (arrays in, arrays out): no files, no click, no printing. The batch
layer (overlay_run.py) pairs masks with photos, reads and writes; ``maskcli sheet`` and the
HTML report may call these too.

The blend, exactly (docs/visualize.md): for a labeled pixel, each channel becomes
``round_half_up((1 - A) * photo + A * color)``, the expression evaluated in IEEE double
precision as written (``1.0 - A`` first, then the two products, then their sum), and
``round_half_up(x)`` the integer nearest to x with halves rounded up (x >= 0 here, so that is
also "half away from zero"; not Python's or NumPy's round-half-to-even). Unlabeled pixels keep
the photo's value. The channel order does not matter as long as photo and colors share it.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

BACKGROUND = (32, 32, 32)  # the legend strip, and below the photo when the legend is taller
TEXT = (235, 235, 235)


def blend_value(photo: float, color: float, alpha: float) -> int:
    """The blend of one channel value: the formula above on Python floats (for docs/tests)."""
    x = (1.0 - alpha) * photo + alpha * color
    r = math.floor(x)
    return r + 1 if x - r >= 0.5 else r


@lru_cache(maxsize=8)
def blend_table(alpha: float) -> np.ndarray:
    """The 65536-entry uint8 table of the blend: entry ``color * 256 + photo``."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    photo = np.arange(256, dtype=np.float64)[None, :]
    color = np.arange(256, dtype=np.float64)[:, None]
    x = (1.0 - alpha) * photo + alpha * color
    r = np.floor(x)
    r += (x - r) >= 0.5  # x - r is exact: r is x's integer part
    table = r.astype(np.uint8).reshape(-1)
    table.setflags(write=False)
    return table


def blend(photo: np.ndarray, colors: np.ndarray, labeled: np.ndarray, alpha: float,
          in_place: bool = False) -> np.ndarray:
    """``photo`` (H, W, 3) uint8 with ``colors`` (H, W, 3) uint8 blended over the ``labeled``
    (H, W) bool pixels at opacity ``alpha``: a new array, or with ``in_place`` ``photo`` itself,
    changed (saves a copy; when ``photo`` is not a writable C-contiguous array a copy is
    made all the same: use the returned array). See the module docstring.

    Works on blocks of rows. When ``alpha * 256`` is a whole number k (0.5, 0.25, 0.75, ...)
    the formula is exact in integers: ``((256 - k) * photo + k * color + 128) >> 8`` (every
    term of the double expression is exact then), which for A = 0.5 is the rounded-up mean
    ``(photo + color + 1) >> 1 = (photo | color) - ((photo ^ color) >> 1)``, computed in
    8 bits; any other alpha goes through :func:`blend_table`. All give the formula's value
    bit for bit."""
    import cv2

    photo, colors = _rgb_array(photo, "photo"), _rgb_array(colors, "colors")
    if photo.shape != colors.shape or labeled.shape != photo.shape[:2]:
        raise ValueError(f"shapes differ: photo {photo.shape}, colors {colors.shape}, labeled {labeled.shape}")
    alpha = float(alpha)
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    k = alpha * 256
    table = None if k == int(k) else blend_table(alpha)
    out = photo if in_place and photo.flags.c_contiguous and photo.flags.writeable else photo.copy()
    height, width = labeled.shape
    if not height or not width:
        return out
    keep8 = np.ascontiguousarray(labeled, dtype=bool).view(np.uint8)
    step = max(1, (1 << 16) // width)  # blocks of ~64 Ki pixels stay in the cache
    half = k == 128
    wide = np.empty((min(step, height), width, 3), np.uint8 if half else np.uint16)
    other = np.empty_like(wide)
    mixed = np.empty(wide.shape, np.uint8)
    for top in range(0, height, step):
        rows = slice(top, top + step)
        n = min(step, height - top)
        a, b, m = wide[:n], other[:n], mixed[:n]
        if half:  # (p | c) - ((p ^ c) >> 1): the mean rounded up, no widening
            np.bitwise_xor(photo[rows], colors[rows], out=a)
            a >>= 1
            np.bitwise_or(photo[rows], colors[rows], out=m)
            m -= a
        elif table is None:
            np.multiply(photo[rows], 256 - int(k), out=a, dtype=np.uint16)
            np.multiply(colors[rows], int(k), out=b, dtype=np.uint16)
            a += b
            a += 128
            a >>= 8
            np.copyto(m, a, casting="unsafe")
        else:
            np.left_shift(colors[rows], 8, out=a, dtype=np.uint16)
            a |= photo[rows]
            np.take(table, a, out=m)
        cv2.copyTo(m, keep8[rows], out[rows])
    return out


def _rgb_array(array: np.ndarray, what: str) -> np.ndarray:
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise ValueError(f"{what}: expected an (H, W, 3) uint8 array, got {array.shape} {array.dtype}")
    return array


def boundaries(index: np.ndarray, labeled: np.ndarray) -> np.ndarray:
    """The 1-pixel class boundaries of an (H, W) index map, as an (H, W) bool array.

    Where two labeled classes meet, the line is drawn once, on the pixel left of (or above)
    the change. Where a labeled region meets an unlabeled one (ignore, or a class --only
    leaves out), the line is on the labeled side. Unlabeled pixels are never on a line; the
    image's own border is not a boundary.
    """
    out = np.zeros(index.shape, dtype=bool)
    across = index[:, 1:] != index[:, :-1]  # pixel (y, x) differs from (y, x + 1)
    down = index[1:, :] != index[:-1, :]  # pixel (y, x) differs from (y + 1, x)
    out[:, :-1] |= across
    out[:-1, :] |= down
    out[:, 1:] |= across & ~labeled[:, :-1]  # the left neighbour is unlabeled: the line is here
    out[1:, :] |= down & ~labeled[:-1, :]
    out &= labeled
    return out


def draw_outline(image: np.ndarray, colors: np.ndarray, line: np.ndarray) -> np.ndarray:
    """``image`` with the ``line`` pixels set to their class color at full strength (in place)."""
    np.copyto(image, colors, where=line[..., None])
    return image


@lru_cache(maxsize=1)
def _font():
    from PIL import ImageFont

    return ImageFont.load_default()


def legend_strip(entries, height: int, order: str = "rgb") -> np.ndarray:
    """A side strip listing ``entries`` ((id, name, (r, g, b)) each) as a color swatch and
    "id name", at least ``height`` pixels tall (taller when the list needs it). Drawn with
    Pillow's default font; ``order="bgr"`` returns the channels in OpenCV's order."""
    from PIL import Image, ImageDraw

    font = _font()
    labels = [f"{cid} {name}" for cid, name, _ in entries] or ["(no classes)"]
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    boxes = [probe.textbbox((0, 0), text, font=font) for text in labels]
    text_h = max(b[3] - b[1] for b in boxes)
    row = max(14, text_h + 6)
    swatch = row - 4
    width = 8 + swatch + 6 + max(b[2] for b in boxes) + 8
    total = max(height, 8 + row * len(labels) + 4)
    img = Image.new("RGB", (width, total), BACKGROUND)
    draw = ImageDraw.Draw(img)
    for i, text in enumerate(labels):
        top = 6 + i * row
        if entries:
            color = tuple(int(v) for v in entries[i][2])
            draw.rectangle([8, top + 2, 8 + swatch - 1, top + 2 + swatch - 1], fill=color, outline=TEXT)
        draw.text((8 + swatch + 6, top + 2 + (swatch - text_h) // 2 - boxes[i][1]), text, fill=TEXT, font=font)
    strip = np.asarray(img)
    return np.ascontiguousarray(strip[..., ::-1]) if order == "bgr" else strip


def beside(image: np.ndarray, strip: np.ndarray) -> np.ndarray:
    """``image`` with ``strip`` to its right; when the strip is taller, the image's column is
    padded below with the background color (the photo's pixels are never covered)."""
    height, width = max(image.shape[0], strip.shape[0]), image.shape[1]
    out = np.empty((height, width + strip.shape[1], 3), dtype=np.uint8)
    out[: image.shape[0], :width] = image
    out[image.shape[0] :, :width] = BACKGROUND
    out[: strip.shape[0], width:] = strip
    out[strip.shape[0] :, width:] = BACKGROUND
    return out
