"""Label encodings: label images whose class is computed from the channels, not looked up.

Pure functions, arrays in and arrays out (no files, no click), one pair per public format:

================== ============================================ ==========================
name               stored                                       class id written
================== ============================================ ==========================
ade20k-full        ``*_seg.png`` RGB, instance in B             R // 10 * 256 + G (16-bit)
cityscapes-instance ``*_instanceIds.png`` 16-bit gray           v if v < 1000 else v // 1000
coco-panoptic      RGB, segment id R + 256 G + 65536 B          the segment's category_id
bdd100k-bitmask    RGBA: R category, G attributes, B*256+A inst R
mapillary-instance 16-bit gray, label * 256 + instance          v // 256
================== ============================================ ==========================

These are packed integers, not colors: no tolerance or nearest-color matching ever applies
to them (a value one off is another class or another segment).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import dataclass, field

import numpy as np

from maskcli.errors import MaskError, UsageError

ENCODINGS = ("ade20k-full", "bdd100k-bitmask", "cityscapes-instance", "coco-panoptic", "mapillary-instance")
# Encodings with a void value (pixels no class was drawn on) and what it is written as when no
# palette names an ignore index. ADE20K's own "unlabeled" is class 0, and 255 is a real ADE20K
# class, so void stays 0 there; COCO panoptic's void (segment 0) becomes 255.
VOID_DEFAULT = {"ade20k-full": 0, "coco-panoptic": 255}
# Encodings that also store an instance id per pixel (--instances writes it).
WITH_INSTANCES = ("ade20k-full", "bdd100k-bitmask", "cityscapes-instance")
CATEGORIES = ("original", "contiguous")
MAX_LISTED = 10


@dataclass(frozen=True)
class Encoding:
    """How a run decodes its label images: the encoding's name and, for coco-panoptic, the
    annotations. Only ``name``, ``categories`` and ``annotations`` (the JSON file's sha256)
    are compared, so a settings digest covers the annotation content, not its path."""

    name: str
    categories: str = "original"
    annotations: str = ""  # "sha256:<hex>" of the annotation JSON's bytes
    segments: object = field(default=None, compare=False, repr=False)  # a SegmentTable: file name -> segments
    categories_info: tuple = field(default=(), compare=False, repr=False)  # (value, name, color or None) per category

    def void(self, ignore_index: int | None = None) -> int:
        """The value void pixels are written as: the palette's ignore index when one is given."""
        return VOID_DEFAULT.get(self.name, 255) if ignore_index is None else ignore_index


# --------------------------------------------------------------------------- checks


def _check(array, what: str, ndim: int, channels: int | None = None, dtypes=(np.uint8,)) -> np.ndarray:
    array = np.asarray(array)
    shape_ok = array.ndim == ndim and (channels is None or array.shape[-1] == channels)
    if not shape_ok or array.dtype not in dtypes:
        expected = "/".join(np.dtype(d).name for d in dtypes)
        raise ValueError(f"expected {what} {expected} array, got {array.shape} {array.dtype}")
    return array


def _narrow(values: np.ndarray) -> np.ndarray:
    """uint8 when every value fits, else the array as it is (uint16)."""
    if values.dtype != np.uint8 and (values.size == 0 or int(values.max()) <= 255):
        return values.astype(np.uint8)
    return values


# --------------------------------------------------------------------------- ADE20K full


_TENTHS = (np.arange(256) // 10).astype(np.uint8)


def ade20k_full_to_index(rgb, void: int = 0) -> np.ndarray:
    """An ADE20K full-dataset ``*_seg.png`` ((H, W, 3) uint8 RGB) -> (H, W) uint16 class ids,
    ``R // 10 * 256 + G`` (the ADE20K toolkit's ``loadAde20K``); class 0 (unlabeled) is
    written as ``void``. Class ids are the ``name_ndx`` of the image's JSON objects."""
    import cv2

    rgb = _check(rgb, "an (H, W, 3) RGB", 3, 3)
    tens = cv2.LUT(np.ascontiguousarray(rgb[..., 0]), _TENTHS)
    out = tens.astype(np.uint16)
    np.left_shift(out, 8, out=out)
    np.bitwise_or(out, rgb[..., 1], out=out)
    if void:
        out[out == 0] = void
    return out


def ade20k_full_instances(rgb) -> np.ndarray:
    """The instance channel (B) of an ADE20K ``*_seg.png``: (H, W) uint8, 0 = no instance."""
    rgb = _check(rgb, "an (H, W, 3) RGB", 3, 3)
    return np.ascontiguousarray(rgb[..., 2])


# --------------------------------------------------------------------------- Cityscapes


def cityscapes_instance_to_index(ids) -> np.ndarray:
    """A Cityscapes ``*_instanceIds.png`` ((H, W) uint16, or uint8) -> (H, W) label ids:
    values below 1000 are label ids, the others label id * 1000 + instance number. The result
    equals the frame's ``*_labelIds.png`` (uint8 when every id fits)."""
    ids = _check(ids, "an (H, W)", 2, dtypes=(np.uint8, np.uint16))
    if ids.dtype == np.uint8:
        return ids.copy()
    out = ids // 1000
    small = ids < 1000
    out[small] = ids[small]
    return _narrow(out)


def cityscapes_instance_instances(ids) -> np.ndarray:
    """The instance ids of a Cityscapes ``*_instanceIds.png`` as (H, W) uint16: the stored id
    (label id * 1000 + instance number) on instance pixels, 0 elsewhere."""
    ids = _check(ids, "an (H, W)", 2, dtypes=(np.uint8, np.uint16))
    out = ids.astype(np.uint16)
    out[out < 1000] = 0
    return out


# --------------------------------------------------------------------------- COCO panoptic


def panoptic_segment_ids(rgb) -> np.ndarray:
    """A COCO panoptic PNG ((H, W, 3) uint8 RGB) -> (H, W) uint32 segment ids
    ``R + 256 G + 65536 B`` (panopticapi's ``rgb2id``); 0 is void."""
    from maskcli.convert import pack_rgb

    rgb = _check(rgb, "an (H, W, 3) RGB", 3, 3)
    bgr = rgb[..., ::-1]
    if bgr.flags.c_contiguous and bgr.size and np.little_endian:  # an OpenCV image seen as RGB: no copy
        import cv2

        keys = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGBA).view(np.uint32)[..., 0]
        np.bitwise_and(keys, 0x00FFFFFF, out=keys)
        return keys
    return pack_rgb(rgb)


def coco_panoptic_to_index(rgb, segments: dict, void: int = 255) -> np.ndarray:
    """A COCO panoptic PNG -> (H, W) category ids: each pixel takes its segment's category
    (``segments`` maps segment id -> category id, from the image's ``segments_info``); void
    (segment 0) becomes ``void``. A segment id ``segments`` does not list raises MaskError
    naming the ids and their pixel counts. uint8 when every value fits, else uint16."""
    from maskcli.convert import _marked, _zeroed, lookup

    ids = panoptic_segment_ids(rgb)
    values = {int(void), *map(int, segments.values())}
    # A value no category uses marks unlisted segments; as in convert.py, the 2**24-entry
    # table holds value - sentinel (wrapping), so its untouched zero pages mean "not listed"
    # and only the pages of listed ids are ever written.
    small = max(values) <= 255 and len(values) < 256
    dtype = np.uint8 if small else np.uint16
    sentinel = next(v for v in range(256 if small else 65536) if v not in values)
    table = _zeroed(1 << 24, dtype)
    wrap = int(np.iinfo(dtype).max) + 1
    table[0] = (void - sentinel) % wrap
    for segment, category in segments.items():
        if segment:
            table[segment] = (category - sentinel) % wrap
    out = lookup(table, ids, shift=sentinel)
    missing = _marked(out, sentinel)
    if missing is not None:
        found, counts = np.unique(ids[missing], return_counts=True)
        order = np.lexsort((found, -counts))[:MAX_LISTED]
        shown = ", ".join(f"{int(found[i])} ({int(counts[i])} px)" for i in order)
        more = f" (and {len(found) - MAX_LISTED} more)" if len(found) > MAX_LISTED else ""
        raise MaskError(f"{len(found)} segment id(s) not in the annotations: {shown}{more}")
    return out


class SegmentTable:
    """Every image's segments of a panoptic annotation JSON, compact: two flat arrays and a
    span per file name, so that the table of a training set (about a million segments) is a
    few tens of MB and is sent to each worker quickly, not a dict per image."""

    def __init__(self, per_file: dict):
        self.spans: dict[str, tuple[int, int]] = {}
        ids, categories = [], []
        for name, table in per_file.items():
            self.spans[name] = (len(ids), len(ids) + len(table))
            ids.extend(table)
            categories.extend(table.values())
        self.ids = np.array(ids, dtype=np.uint32)
        self.categories = np.array(categories, dtype=np.uint16)

    def get(self, file_name: str) -> dict | None:
        """{segment id: category} of one PNG, or None when the JSON does not list it."""
        span = self.spans.get(file_name)
        if span is None:
            return None
        a, b = span
        return dict(zip(self.ids[a:b].tolist(), self.categories[a:b].tolist()))

    def __len__(self) -> int:
        return len(self.spans)


# The largest annotation JSON read: COCO's panoptic_train2017.json is under 1 GiB; from a pipe
# or device (no size to check first) a smaller bound keeps /dev/zero from eating memory.
MAX_ANNOTATIONS_BYTES = 2 * 2**30
MAX_STREAMED_ANNOTATIONS_BYTES = 256 * 2**20


def load_annotations(path: str, categories: str = "original") -> Encoding:
    """A COCO panoptic annotation JSON (``panoptic_val2017.json``) as the coco-panoptic
    :class:`Encoding`: per PNG file name, its segments' category ids, ``original`` or
    ``contiguous`` (0..N-1 in the order of the JSON's ``categories``). Raises UsageError."""
    if categories not in CATEGORIES:
        raise UsageError(f"--categories {categories}: expected original or contiguous")
    try:
        with open(path, "rb") as f:
            regular = stat.S_ISREG(os.fstat(f.fileno()).st_mode)
            limit = MAX_ANNOTATIONS_BYTES if regular else MAX_STREAMED_ANNOTATIONS_BYTES
            raw = f.read(limit + 1)
    except OSError as exc:
        raise UsageError(f"--annotations {path}: cannot read: {exc.strerror or exc}") from None
    if len(raw) > limit:
        raise UsageError(f"--annotations {path}: more than {limit // 2**20} MiB: too big for an annotation file")
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise UsageError(f"--annotations {path}: not valid JSON ({exc})") from None

    def fail(message):
        raise UsageError(f"--annotations {path}: {message}")

    if not isinstance(data, dict) or not isinstance(data.get("annotations"), list):
        fail("expected a COCO panoptic JSON object with an 'annotations' list")
    cats = data.get("categories")
    if not isinstance(cats, list) or not all(isinstance(c, dict) and _is_int(c.get("id")) for c in cats):
        fail("expected a 'categories' list of objects with an integer 'id'")
    contiguous = {c["id"]: i for i, c in enumerate(cats)}
    segments: dict[str, dict[int, int]] = {}
    for n, ann in enumerate(data["annotations"]):
        if not isinstance(ann, dict) or not isinstance(ann.get("file_name"), str) \
                or not isinstance(ann.get("segments_info"), list):
            fail(f"annotation #{n} has no 'file_name' string and 'segments_info' list")
        table = segments.setdefault(ann["file_name"], {})
        for seg in ann["segments_info"]:
            if not isinstance(seg, dict) or not _is_int(seg.get("id")) or not _is_int(seg.get("category_id")):
                fail(f"{ann['file_name']}: a segment without integer 'id' and 'category_id'")
            if not 0 < seg["id"] < 1 << 24:
                fail(f"{ann['file_name']}: segment id {seg['id']} is outside 1..16777215 (R + 256 G + 65536 B)")
            category = seg["category_id"]
            if category not in contiguous:
                fail(f"{ann['file_name']}: segment {seg['id']} has category_id {category}, not in 'categories'")
            value = contiguous[category] if categories == "contiguous" else category
            if not 0 <= value <= 65534:
                fail(f"{ann['file_name']}: category_id {category} does not fit a 16-bit mask")
            table[seg["id"]] = value
    info = []
    for i, c in enumerate(cats):
        color = c.get("color")
        ok = isinstance(color, list) and len(color) == 3 and all(_is_int(v) and 0 <= v <= 255 for v in color)
        name = c.get("name") if isinstance(c.get("name"), str) else f"category_{c['id']}"
        info.append((i if categories == "contiguous" else c["id"], name, tuple(color) if ok else None))
    digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    return Encoding("coco-panoptic", categories, digest, SegmentTable(segments), tuple(info))


def annotation_palette(encoding: Encoding):
    """The palette a coco-panoptic annotation JSON defines: its categories as classes (ids as
    ``--categories`` says, names, the JSON's ``color`` where it has one, else the VOC
    colormap's), void as the ignore index 255. None for other encodings."""
    from maskcli.formats import voc_color
    from maskcli.palette import Palette, PaletteClass

    if not encoding.categories_info:
        return None
    classes = tuple(PaletteClass(v, name, color or voc_color(v)) for v, name, color in encoding.categories_info
                    if 0 <= v <= 65535)
    ignore = VOID_DEFAULT["coco-panoptic"]
    if any(c.id == ignore for c in classes):
        ignore = 65535
    return Palette(name="annotations", classes=classes, ignore_index=ignore)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# --------------------------------------------------------------------------- BDD100K


def bdd100k_bitmask_to_index(rgba) -> np.ndarray:
    """A BDD100K bitmask ((H, W, 4) uint8 RGBA: R category id, G attribute bits, B * 256 + A
    instance id) -> (H, W) uint8 category ids (R). Alpha is data, not transparency."""
    rgba = _check(rgba, "an (H, W, 4) RGBA", 3, 4)
    return np.ascontiguousarray(rgba[..., 0])


def bdd100k_bitmask_instances(rgba) -> np.ndarray:
    """The instance ids of a BDD100K bitmask, B * 256 + A, as (H, W) uint16 (0 = none)."""
    rgba = _check(rgba, "an (H, W, 4) RGBA", 3, 4)
    out = rgba[..., 2].astype(np.uint16)
    np.left_shift(out, 8, out=out)
    np.bitwise_or(out, rgba[..., 3], out=out)
    return out


# --------------------------------------------------------------------------- Mapillary


def mapillary_instance_to_index(values) -> np.ndarray:
    """A Mapillary Vistas instance PNG ((H, W) uint16, label * 256 + instance) -> (H, W)
    label ids ``value // 256`` (uint8)."""
    values = _check(values, "an (H, W)", 2, dtypes=(np.uint16,))
    return (values >> 8).astype(np.uint8)


# --------------------------------------------------------------------------- dispatch


def _channels(raw: np.ndarray, name: str, need: str) -> np.ndarray:
    """``raw`` (a decoded file's samples) as the decoder of ``name`` takes it, or MaskError."""
    shape = {"rgb": 3, "rgba": 4}
    if need == "gray":
        if raw.ndim == 2:
            return raw
        got = f"{raw.shape[2]}-channel"
        raise MaskError(f"is a {got} image; {name} label images are single-channel (grayscale)")
    if raw.ndim == 3 and raw.shape[2] == shape[need]:
        return raw
    if need == "rgb" and raw.ndim == 3 and raw.shape[2] == 4:
        if int(raw[..., 3].min()) == 255:  # an opaque alpha channel carries nothing
            return raw[..., :3]
        raise MaskError(f"has an alpha channel that is not opaque; {name} label images are RGB")
    got = "grayscale" if raw.ndim == 2 else f"{raw.shape[2]}-channel"
    raise MaskError(f"is a {got} image; {name} label images are {need.upper()}")


def decode(encoding: Encoding, raw: np.ndarray, file_name: str = "", void: int | None = None) -> np.ndarray:
    """Class ids of one label image's samples ``raw`` (as masks.decode_raw gives them) under
    ``encoding``; ``file_name`` finds a coco-panoptic image's segments; ``void`` is what void
    pixels become (default: the encoding's, see VOID_DEFAULT). Raises MaskError."""
    name = encoding.name
    void = encoding.void(void)
    if name == "ade20k-full":
        return ade20k_full_to_index(_channels(raw, name, "rgb"), void)
    if name == "cityscapes-instance":
        return cityscapes_instance_to_index(_channels(raw, name, "gray"))
    if name == "mapillary-instance":
        gray = _channels(raw, name, "gray")
        if gray.dtype != np.uint16:
            raise MaskError("is an 8-bit image; mapillary-instance label images are 16-bit (label * 256 + instance)")
        return mapillary_instance_to_index(gray)
    if name == "bdd100k-bitmask":
        return bdd100k_bitmask_to_index(_channels(raw, name, "rgba"))
    if name == "coco-panoptic":
        if encoding.segments is None:
            raise ValueError("coco-panoptic needs the annotations (load_annotations)")
        if not file_name:
            raise MaskError("has no file name to find in the annotations (read from stdin?): give its path")
        segments = encoding.segments.get(file_name)
        if segments is None:
            raise MaskError(f"has no entry in the annotations (no file_name {file_name!r})")
        return coco_panoptic_to_index(_channels(raw, name, "rgb"), segments, void)
    raise ValueError(f"unknown encoding {name!r}: expected one of {', '.join(ENCODINGS)}")


def decode_encoded(encoding, raw, file_name: str = "", void: int | None = None) -> np.ndarray:
    """:func:`decode` for the API: ``encoding`` may be a name (all but coco-panoptic, which
    needs :func:`load_annotations`) or an :class:`Encoding`."""
    if isinstance(encoding, str):
        if encoding not in ENCODINGS:
            raise ValueError(f"unknown encoding {encoding!r}: expected one of {', '.join(ENCODINGS)}")
        encoding = Encoding(encoding)
    return decode(encoding, np.asarray(raw), file_name, void)


def instances(encoding: Encoding, raw: np.ndarray) -> np.ndarray:
    """The instance ids of one label image (0 = no instance), for the encodings that store
    them (WITH_INSTANCES)."""
    name = encoding.name
    if name == "ade20k-full":
        return ade20k_full_instances(_channels(raw, name, "rgb"))
    if name == "cityscapes-instance":
        return cityscapes_instance_instances(_channels(raw, name, "gray"))
    if name == "bdd100k-bitmask":
        return bdd100k_bitmask_instances(_channels(raw, name, "rgba"))
    raise ValueError(f"{name} stores no instance ids maskcli writes (those that do: {', '.join(WITH_INSTANCES)})")
