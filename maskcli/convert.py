"""The conversion core: pure array functions, no files, no printing, no click.

Colors are RGB. A color is looked up as one packed integer ``r | g << 8 | b << 16`` in a table
with one entry per possible 24-bit color, so the cost is one pass over the pixels whatever the
number of classes. The tables are built once per palette and process and cached.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from maskcli.errors import LISTED, UnknownColorsError, UnknownIndicesError
from maskcli.palette import Palette

UNKNOWN_POLICIES = ("error", "ignore", "nearest")
MAX_LISTED = LISTED  # the most unknown colors or values an error keeps (errors.LISTED)
_LITTLE_ENDIAN = sys.byteorder == "little"


# --------------------------------------------------------------------------- packing


def pack_rgb(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 RGB -> (...) uint32 keys ``r | g << 8 | b << 16``."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    if rgb.size == 0:  # OpenCV refuses empty images
        return np.zeros(rgb.shape[:-1], dtype=np.uint32)
    if _LITTLE_ENDIAN and rgb.ndim == 3:
        import cv2  # about 6x faster than the NumPy version below on a 2-megapixel mask

        rgba = cv2.cvtColor(rgb, cv2.COLOR_RGB2RGBA)
        keys = rgba.view(np.uint32)[..., 0]
        np.bitwise_and(keys, 0x00FFFFFF, out=keys)
        return keys
    r, g, b = (rgb[..., i].astype(np.uint32) for i in range(3))
    return r | (g << 8) | (b << 16)


def unpack_keys(keys: np.ndarray) -> np.ndarray:
    """uint32 keys -> (..., 3) uint8 RGB."""
    keys = np.asarray(keys, dtype=np.uint32)
    return np.stack([keys & 255, (keys >> 8) & 255, (keys >> 16) & 255], axis=-1).astype(np.uint8)


def _key_color(key: int) -> tuple[int, int, int]:
    return (key & 255, (key >> 8) & 255, (key >> 16) & 255)


# --------------------------------------------------------------------------- RGB -> index


def index_dtype(palette: Palette) -> np.dtype:
    """uint8 when every id and the ignore index fit in 8 bits, else uint16."""
    return np.dtype(np.uint8 if palette.bits == 8 else np.uint16)


@dataclass(frozen=True)
class UnknownPolicy:
    """What to do with colors a palette does not know.

    ``mode``: ``"error"`` (raise), ``"ignore"`` (write the ignore index) or ``"nearest"`` (take
    the value of the nearest palette color, Euclidean in RGB, when it is at most
    ``max_distance`` away; colors farther away raise when ``beyond == "error"`` or become the
    ignore index when ``beyond == "ignore"``). Ties go to the palette color listed first
    (classes in file order, each class's ``color`` before its ``also`` colors, then the ignore
    colors).
    """

    mode: str = "error"
    max_distance: float | None = None
    beyond: str = "error"

    def __post_init__(self):
        if self.mode not in UNKNOWN_POLICIES:
            raise ValueError(f"unknown={self.mode!r}: expected one of {', '.join(UNKNOWN_POLICIES)}")
        if self.beyond not in ("error", "ignore"):
            raise ValueError(f"beyond={self.beyond!r}: expected 'error' or 'ignore'")
        if self.mode == "nearest" and (self.max_distance is None or self.max_distance < 0):
            raise ValueError("unknown='nearest' needs a max_distance >= 0")


@dataclass
class Decoded:
    """A decoded index mask and what decoding had to do: pixels snapped to a nearest color,
    pixels set to the ignore index because their color is unknown (or transparent), and the
    snapped colors as ``((r, g, b), (r, g, b) taken, value, pixels)``."""

    index: np.ndarray
    snapped: int = 0
    ignored: int = 0
    transparent: int = 0
    _snap_data: tuple | None = field(default=None, repr=False)

    @property
    def snaps(self) -> list:
        """The snapped colors, most pixels first (built on demand: it is Python-level work)."""
        if self._snap_data is None:
            return []
        keys, took, values, counts = self._snap_data
        return sorted(
            (
                (_key_color(int(k)), tuple(int(c) for c in t), int(v), int(n))
                for k, t, v, n in zip(keys, took, values, counts)
            ),
            key=lambda s: (-s[3], s[0]),
        )


@lru_cache(maxsize=4)
def _decoder(palette: Palette) -> tuple[np.ndarray, int]:
    """A 2**24-entry table from packed color to value *minus the sentinel* (wrapping), so
    that unknown colors are the table's zeros: the table is allocated zeroed and only the
    pages holding palette colors are ever written, so of its 16 MiB (32 MiB for 16-bit
    palettes) little becomes resident memory. :func:`lookup` adds the sentinel back."""
    keys, values, sentinel = _sorted_pairs(palette)
    table = _zeroed(1 << 24, values.dtype)
    table[keys] = values - values.dtype.type(sentinel)  # wraps around: sentinel -> 0
    return table, sentinel


def _zeroed(n: int, dtype) -> np.ndarray:
    """A zeroed array whose pages become resident only when written. An anonymous mmap, not
    np.zeros: NumPy asks Linux for 2 MiB huge pages on large arrays, and then a few scattered
    writes would make the whole table resident."""
    import mmap

    dtype = np.dtype(dtype)
    return np.frombuffer(mmap.mmap(-1, n * dtype.itemsize), dtype=dtype)


def sorted_pairs(palette: Palette) -> tuple[np.ndarray, np.ndarray, int]:
    """The palette's sorted packed colors, their values and the sentinel, for
    :func:`decode_palettized` (``pairs=``)."""
    return _sorted_pairs(palette)


@lru_cache(maxsize=4)
def _sorted_pairs(palette: Palette) -> tuple[np.ndarray, np.ndarray, int]:
    """The palette's packed colors (sorted) with their values, and the sentinel: the smallest
    value no class uses, in the smallest dtype that has one."""
    pairs = palette.decode_pairs()
    out_dtype = index_dtype(palette)
    used = np.zeros(65537, dtype=bool)
    used[[v for _, v in pairs] + [palette.ignore_index]] = True
    free = np.flatnonzero(~used[: np.iinfo(out_dtype).max + 1])
    if free.size:
        dtype, sentinel = out_dtype, int(free[0])
    else:
        dtype = np.dtype(np.uint16 if out_dtype == np.uint8 else np.uint32)
        sentinel = np.iinfo(out_dtype).max + 1
    keys = pack_rgb(np.array([c for c, _ in pairs], dtype=np.uint8).reshape(-1, 3))
    order = np.argsort(keys)
    return keys[order], np.array([v for _, v in pairs], dtype=dtype)[order], sentinel


def decoder_tables(palette: Palette) -> tuple[np.ndarray, int]:
    """The palette's color table and its sentinel, for :func:`decode_rows` (``tables=``)."""
    return _decoder(palette)


_last: dict = {}  # kind -> (palette, value): the last palette's tables, found by identity


def _same_palette(kind: str, palette: Palette, build):
    """``build(palette)`` (an lru_cache), but for the palette used last time found by identity:
    hashing a Palette walks all its classes (~20-30 us), per file on tiny masks."""
    last = _last.get(kind)
    if last is not None and last[0] is palette:
        return last[1]
    value = build(palette)
    _last[kind] = (palette, value)
    return value


def _lookup_few(keys: np.ndarray, palette: Palette, pairs=None) -> tuple[np.ndarray, int]:
    """Values of a few packed colors (a PLTE's) by binary search: no 16 MiB table needed."""
    sorted_keys, values, sentinel = pairs if pairs is not None else _same_palette("pairs", palette, _sorted_pairs)
    at = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    found = sorted_keys[at] == keys
    return np.where(found, values[at], sentinel).astype(values.dtype), sentinel


def _policy(unknown, max_distance=None, beyond="error") -> UnknownPolicy:
    if isinstance(unknown, UnknownPolicy):
        return unknown
    return UnknownPolicy(unknown, max_distance, beyond)


def rgb_to_index(
    rgb: np.ndarray,
    palette: Palette,
    unknown: str = "error",
    max_distance: float | None = None,
    beyond: str = "error",
) -> np.ndarray:
    """Decode an (H, W, 3) uint8 RGB color mask to an (H, W) class-index mask.

    The result is uint8 when the palette's ids and ignore index fit in 8 bits, else uint16.
    ``unknown="error"`` raises :class:`UnknownColorsError` listing the colors the palette does
    not know; ``unknown="ignore"`` writes the palette's ignore index for them;
    ``unknown="nearest"`` snaps them to the nearest palette color within ``max_distance``
    (see :class:`UnknownPolicy`). :func:`decode_rgb` also says what was snapped.
    """
    return decode_rgb(rgb, palette, _policy(unknown, max_distance, beyond)).index


def decode_rgb(rgb, palette: Palette, policy: UnknownPolicy = UnknownPolicy(), transparent=None) -> Decoded:
    """:func:`rgb_to_index` with its statistics. ``transparent`` (a boolean (H, W) array) marks
    pixels to write as the ignore index whatever their color."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB array, got {rgb.shape} {rgb.dtype}")
    return decode_keys(pack_rgb(rgb), palette, policy, transparent)


def decode_keys(keys, palette: Palette, policy: UnknownPolicy = UnknownPolicy(), transparent=None) -> Decoded:
    """:func:`decode_rgb` on colors already packed by :func:`pack_rgb`."""
    table, sentinel = _same_palette("table", palette, _decoder)
    out = lookup(table, keys, shift=sentinel)
    return _resolve(out, sentinel, lambda: keys, palette, policy, transparent)


ROWS_PIXELS = 1 << 18  # pixels per block of rows when colors are packed a block at a time


def decode_rows(keys_of_rows, shape, palette: Palette, policy: UnknownPolicy = UnknownPolicy(),
                transparent=None, tables=None) -> Decoded:
    """:func:`decode_keys` with the colors packed a block of rows at a time by
    ``keys_of_rows(slice)``, so the whole image's packed colors (4 bytes per pixel) never
    exist at once. They are packed whole only to describe unknown colors. ``tables`` is
    ``decoder_tables(palette)`` when the caller keeps it (no per-call palette work)."""
    table, sentinel = tables if tables is not None else _same_palette("table", palette, _decoder)
    height, width = shape
    out = np.empty(shape, dtype=table.dtype)
    step = max(1, ROWS_PIXELS // max(1, width))
    for top in range(0, height, step):
        rows = slice(top, top + step)
        np.take(table, keys_of_rows(rows).reshape(-1), out=out[rows].reshape(-1))
    np.add(out, out.dtype.type(sentinel), out=out)  # wraps around, undoing the table's offset
    return _resolve(out, sentinel, lambda: keys_of_rows(slice(None)), palette, policy, transparent)


def lookup(table: np.ndarray, keys: np.ndarray, shift: int = 0) -> np.ndarray:
    """``table[keys] + shift`` (wrapping) in slices of 256 Ki pixels: np.take would first copy
    all of ``keys`` as 64-bit indices (16 MiB more per 2 megapixels) for no gain in speed."""
    if keys.dtype == np.uint8 and table.dtype in (np.uint8, np.uint16) and table.ndim == 1 and table.size <= 256:
        out = _byte_lut(table, keys)
        if out is not None:
            if shift:
                np.add(out, out.dtype.type(shift), out=out)
            return out
    out = np.empty(keys.shape, dtype=table.dtype)
    flat_keys, flat_out = keys.reshape(-1), out.reshape(-1)
    step = 1 << 18
    for i in range(0, flat_keys.size, step):
        np.take(table, flat_keys[i : i + step], out=flat_out[i : i + step])
    if shift:
        np.add(out, out.dtype.type(shift), out=out)  # wraps around, undoing the table's offset
    return out


def _byte_lut(table: np.ndarray, keys: np.ndarray) -> np.ndarray | None:
    """``table[keys]`` for 8-bit keys and a table of at most 256 entries, with OpenCV's LUT (a
    palettized mask's stored indices through its PLTE's values: 0.05 ms against np.take's
    0.6 ms on 500x375 pixels, which casts every key to a 64-bit index first). None when a key
    is past the table's end (np.take then raises, as before) or the keys are not one plain
    2-D image."""
    import cv2

    if keys.ndim != 2 or not keys.size or not keys.flags.c_contiguous:
        return None
    if table.size < 256 and int(cv2.minMaxLoc(keys)[1]) >= table.size:
        return None
    lut = np.zeros(256, table.dtype)
    lut[: table.size] = table
    return cv2.LUT(keys, lut)


def palettized_to_index(
    indices: np.ndarray, colors: np.ndarray, palette: Palette, unknown: str = "error", **policy
) -> np.ndarray:
    """Decode a palettized image: stored ``indices`` (H, W) and its PLTE ``colors`` (N, 3) RGB.

    Only the N entries of the PLTE are looked up, then each pixel takes its entry's value.
    """
    return decode_palettized(indices, colors, palette, _policy(unknown, **policy)).index


def decode_palettized(indices, colors, palette: Palette, policy: UnknownPolicy = UnknownPolicy(), transparent=None,
                      pairs=None) -> Decoded:
    """:func:`palettized_to_index` with its statistics. ``pairs`` is ``sorted_pairs(palette)``
    when the caller keeps it."""
    colors = np.asarray(colors, dtype=np.uint8).reshape(1, -1, 3)
    entry_keys = pack_rgb(colors)[0]
    entry_values, sentinel = _lookup_few(entry_keys, palette, pairs)
    out = lookup(entry_values, indices)
    if not (entry_values == sentinel).any() and transparent is None:
        return Decoded(_as_index_dtype(out, palette))
    return _resolve(out, sentinel, lambda: np.take(entry_keys, indices), palette, policy, transparent)


def _marked(out: np.ndarray, sentinel: int) -> np.ndarray | None:
    """The pixels equal to ``sentinel``, or None when there are none (checked in slices, so
    the common case allocates no full-size mask)."""
    flat = out.reshape(-1)
    step = 1 << 18
    for i in range(0, flat.size, step):
        if (flat[i : i + step] == sentinel).any():
            return out == sentinel
    return None


def _resolve(out, sentinel, get_keys, palette: Palette, policy: UnknownPolicy, transparent) -> Decoded:
    """Apply the unknown-color policy to the pixels the table marked with ``sentinel``."""
    result = Decoded(out)
    bad = _marked(out, sentinel)
    if bad is None and transparent is None:
        result.index = _as_index_dtype(out, palette)
        return result
    if bad is None:
        bad = np.zeros(out.shape, dtype=bool)
    if transparent is not None:
        result.transparent = int(np.count_nonzero(transparent))
        if result.transparent:
            out[transparent] = palette.ignore_index
            bad &= ~transparent
    if not bad.any():
        result.index = _as_index_dtype(out, palette)
        return result
    keys = get_keys()
    if policy.mode == "error":
        raise unknown_colors_error(keys, bad)
    flat = np.flatnonzero(bad)
    if policy.mode == "ignore":
        out.reshape(-1)[flat] = palette.ignore_index
        result.ignored = int(flat.size)
    else:
        _snap(out, keys, flat, palette, policy, result)
    result.index = _as_index_dtype(out, palette)
    return result


def _distinct(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct values of a 1-D array with their counts and the position of their first
    occurrence. Masks are runs of equal values, so only the runs are sorted."""
    starts = np.concatenate(([0], np.flatnonzero(values[1:] != values[:-1]) + 1))
    lengths = np.diff(np.append(starts, values.size))
    uniq, first_run, inverse = np.unique(values[starts], return_index=True, return_inverse=True)
    counts = np.bincount(inverse.reshape(-1), weights=lengths, minlength=uniq.size)
    return uniq, np.rint(counts).astype(np.int64), starts[first_run]


def _snap(out, keys, flat, palette: Palette, policy: UnknownPolicy, result: Decoded) -> None:
    """Nearest palette color for each distinct unknown color (not each pixel)."""
    bad_keys = keys.reshape(-1)[flat]
    uniq, counts, _ = _distinct(bad_keys)
    pairs = palette.decode_pairs()
    ref = np.array([c for c, _ in pairs], dtype=np.int32)
    ref_values = np.array([v for _, v in pairs], dtype=np.int64)
    have = unpack_keys(uniq).astype(np.int32)
    best = np.empty(len(uniq), dtype=np.int64)
    best_d2 = np.empty(len(uniq), dtype=np.int64)
    step = max(1, 4_000_000 // max(1, len(ref)))  # bound the (colors x palette) distance block
    for i in range(0, len(uniq), step):
        d2 = ((have[i : i + step, None, :] - ref[None, :, :]) ** 2).sum(axis=-1)
        best[i : i + step] = np.argmin(d2, axis=1)  # the first minimum: the entry listed first
        best_d2[i : i + step] = d2[np.arange(len(d2)), best[i : i + step]]
    within = best_d2 <= policy.max_distance**2
    values = ref_values[best]
    if not within.all():
        if policy.beyond == "error":
            far_keys = uniq[~within]
            far = np.zeros(keys.size, dtype=bool)
            far[flat] = np.isin(bad_keys, far_keys)
            raise unknown_colors_error(
                keys, far.reshape(keys.shape), f"farther than --max-distance {policy.max_distance:g} from the palette"
            )
        values[~within] = palette.ignore_index
        result.ignored = int(counts[~within].sum())
    if bad_keys.size < 500_000:  # few pixels: a binary search in the sorted distinct colors
        out.reshape(-1)[flat] = values[np.searchsorted(uniq, bad_keys)]
    else:  # many: a private copy of the table that also knows this image's unknown colors
        table, sentinel = _decoder(palette)
        patched = table.copy()
        patched[uniq] = values.astype(table.dtype) - table.dtype.type(sentinel)
        out.reshape(-1)[flat] = np.take(patched, bad_keys) + table.dtype.type(sentinel)
    result.snapped = int(counts[within].sum())
    result._snap_data = (uniq[within], ref[best[within]], ref_values[best[within]], counts[within])


def _as_index_dtype(out: np.ndarray, palette: Palette) -> np.ndarray:
    dtype = index_dtype(palette)
    return out if out.dtype == dtype else out.astype(dtype)


def unknown_colors_error(keys: np.ndarray, bad: np.ndarray, what: str = "") -> UnknownColorsError:
    """Describe the unknown colors at the ``bad`` pixels: counts and first position of each."""
    flat = np.flatnonzero(bad)
    values, counts, first = _distinct(keys.reshape(-1)[flat])
    width = keys.shape[-1]
    entries = [
        (_key_color(int(k)), int(n), (int(p % width), int(p // width)))
        for k, n, p in zip(values, counts, flat[first])
    ]
    entries.sort(key=lambda e: (-e[1], e[0]))
    return UnknownColorsError(entries[:LISTED], total=len(entries), pixels=int(flat.size), what=what)


# --------------------------------------------------------------------------- index -> RGB


@lru_cache(maxsize=4)
def _encoder(palette: Palette) -> np.ndarray:
    """65536 packed RGBA entries (``r | g << 8 | b << 16 | 255 << 24``); 0 marks no class."""
    table = np.zeros(65536, dtype=np.uint32)
    for value, (r, g, b) in palette.encode_pairs():
        table[value] = r | (g << 8) | (b << 16) | (255 << 24)
    return table


@lru_cache(maxsize=8)
def _color_lut(palette: Palette, order: str) -> tuple[np.ndarray, np.ndarray]:
    """For 8-bit masks: a (256, 1, 3) color table in ``order`` ("rgb" or "bgr") and which of
    the 256 values the palette defines."""
    lut = np.zeros((256, 1, 3), dtype=np.uint8)
    valid = np.zeros(256, dtype=bool)
    for value, color in palette.encode_pairs():
        if value < 256:
            lut[value, 0] = color if order == "rgb" else color[::-1]
            valid[value] = True
    return lut, valid


def _as_index(index: np.ndarray) -> np.ndarray:
    """Check an index mask's shape and range; 8- and 16-bit masks pass as they are."""
    index = np.asarray(index)
    if index.ndim != 2 or index.dtype.kind not in "ui":
        raise ValueError(f"expected an (H, W) integer array, got {index.shape} {index.dtype}")
    if index.dtype not in (np.uint8, np.uint16):
        lo, hi = (int(index.min()), int(index.max())) if index.size else (0, 0)
        if lo < 0 or hi > 65535:
            raise _unknown_indices_error(index[(index < 0) | (index > 65535)])
        index = index.astype(np.uint16)
    return index


def colorize(index: np.ndarray, palette: Palette, order: str = "rgb") -> np.ndarray:
    """(H, W) index mask -> (H, W, 3) uint8 colors with the channels in ``order`` ("rgb", or
    "bgr" for a writer that wants OpenCV's order), checking every value first.

    8-bit masks go through a 256-entry table with OpenCV (a histogram finds values the palette
    lacks, one pass; the colors, another); 16-bit masks through a 65536-entry table."""
    import cv2

    index = _as_index(index)
    if index.dtype == np.uint8 and index.size:
        lut, valid = _color_lut(palette, order)
        counts = cv2.calcHist([index], [0], None, [256], [0, 256]).reshape(-1)
        if (counts[~valid] > 0).any():
            raise _unknown_indices_error(index[~valid[index]])
        return cv2.applyColorMap(index, lut)
    rgba = index_to_rgba(index, palette)
    if order == "bgr":
        return cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGR)
    return np.ascontiguousarray(rgba[..., :3])


def index_to_rgba(index: np.ndarray, palette: Palette) -> np.ndarray:
    """(H, W) integer index mask -> (H, W, 4) uint8 RGBA (alpha 255), checking every value."""
    index = _as_index(index)
    packed = lookup(_encoder(palette), index)
    bad = packed == 0
    if bad.any():
        raise _unknown_indices_error(index[bad])
    return packed.view(np.uint8).reshape(*index.shape, 4) if _LITTLE_ENDIAN else _rgba_be(packed)


def _rgba_be(packed: np.ndarray) -> np.ndarray:
    return np.stack([(packed >> s) & 255 for s in (0, 8, 16, 24)], axis=-1).astype(np.uint8)


def index_to_rgb(index: np.ndarray, palette: Palette) -> np.ndarray:
    """Encode an (H, W) class-index mask to an (H, W, 3) uint8 RGB color mask.

    Each class id takes its class's ``color`` and the ignore index the palette's first ignore
    color (black when it has none). Any other value raises :class:`UnknownIndicesError`.
    """
    return colorize(index, palette, "rgb")


def _unknown_indices_error(values: np.ndarray) -> UnknownIndicesError:
    uniq, counts = np.unique(values, return_counts=True)
    entries = sorted(((int(v), int(n)) for v, n in zip(uniq, counts)), key=lambda e: (-e[1], e[0]))
    return UnknownIndicesError(entries[:LISTED], total=len(entries))


# --------------------------------------------------------------------------- color statistics


def color_counts(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct colors of an (H, W, 3) uint8 RGB image and their pixel counts.

    Returns ``(colors, counts)``: (N, 3) uint8 RGB sorted by (r, g, b), and int64 counts. Label
    masks are runs of equal colors, so the runs are found first and only they are sorted.
    """
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB array, got {rgb.shape} {rgb.dtype}")
    return key_counts(pack_rgb(rgb))


def key_counts(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`color_counts` on packed colors."""
    keys = keys.reshape(-1)
    if keys.size == 0:
        return np.zeros((0, 3), np.uint8), np.zeros(0, np.int64)
    starts = np.concatenate(([0], np.flatnonzero(keys[1:] != keys[:-1]) + 1))
    lengths = np.diff(np.append(starts, keys.size))
    return merge_counts(keys[starts], lengths)


def lookup_colors(colors: np.ndarray, palette: Palette) -> tuple[np.ndarray, np.ndarray]:
    """The value each (N, 3) RGB color decodes to, and whether the palette knows it."""
    values, sentinel = _lookup_few(pack_rgb(np.asarray(colors, np.uint8).reshape(1, -1, 3))[0], palette)
    return values.astype(np.int64), values != sentinel


def value_counts(index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values of an integer index mask and their pixel counts, sorted by value."""
    index = np.asarray(index)
    if index.dtype in (np.uint8, np.uint16) and index.size:
        counts = np.bincount(index.reshape(-1), minlength=1)
        values = np.flatnonzero(counts)
        return values, counts[values]
    values, counts = np.unique(index, return_counts=True)
    return values.astype(np.int64), counts


def merge_counts(keys: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sum ``counts`` per distinct packed key; colors sorted by (r, g, b)."""
    uniq, inverse = np.unique(keys, return_inverse=True)
    totals = np.bincount(inverse.reshape(-1), weights=counts, minlength=uniq.size)
    colors = unpack_keys(uniq)
    order = np.lexsort((colors[:, 2], colors[:, 1], colors[:, 0]))
    return colors[order], np.rint(totals[order]).astype(np.int64)


def swapped_pixels(colors: np.ndarray, counts: np.ndarray, palette: Palette) -> int:
    """How many of these pixels (``colors`` (N, 3) RGB, none of them known to ``palette``,
    with their ``counts``) have a color the palette knows once red and blue are swapped: the
    mark of a mask saved from an RGB array with OpenCV, which writes arrays as BGR."""
    colors = np.asarray(colors, dtype=np.uint8).reshape(-1, 3)
    if not len(colors):
        return 0
    _, known = lookup_colors(colors[:, ::-1], palette)
    return int(np.asarray(counts)[known].sum())
