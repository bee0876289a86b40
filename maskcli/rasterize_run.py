"""``maskcli rasterize``: polygon annotations (Cityscapes, labelme) to masks, over folders.

The batch layer around the pure drawing in polygons.py: reading and checking a JSON file is
annotations.py's, planning (the path rule, --base, --rename, collisions, --update) and the
run itself (workers, progress, signals, report, exit status) are batch.py's, as for the other
batch commands; only the per-file work differs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from maskcli.errors import MaskError, UsageError
from maskcli.palette import Palette

FORMATS = ("gray", "indexed", "color", "npy")
# Cityscapes labels (cityscapesScripts labels.py) that have no id: never drawn by json2labelImg.
CITYSCAPES_NO_ID = ("license plate",)
CITYSCAPES_LABELS_PALETTE = "cityscapes-labelids"


@dataclass(frozen=True)
class RasterizeSettings:
    """What every mask of a run is drawn with; sent to each worker once. Every field but
    ``verbose`` and ``labels`` goes into the digest outputs record (provenance.py): the
    palette's content (ids, colors) and, since labels are matched by name, ``labels_digest``
    (a short hash of the name table, so the record stays small for any palette)."""

    command: str  # "rasterize"
    palette: Palette
    format: str = "gray"  # "gray" | "indexed" | "color" | "npy"
    labels_digest: str = ""
    labels: object = field(default=None, repr=False)  # the polygons.LabelTable (in provenance.NOT_OUTPUT)
    verbose: bool = False
    instances = None  # batch.py's --instances hook: rasterize writes none

    def digest(self) -> str:
        from maskcli.provenance import digest

        return digest(self)

    @cached_property
    def record_chunk(self) -> bytes:
        from maskcli.provenance import chunk

        return chunk(self)


def build_settings(palette: Palette, fmt: str, verbose: bool = False) -> RasterizeSettings:
    """The settings of a run; raises UsageError for a format the palette cannot fill."""
    from maskcli.palette import load_palette

    if fmt == "indexed" and palette.bits > 8:
        raise UsageError(f"--format indexed holds ids 0..255, but palette {palette.path or palette.name} "
                         f"uses values up to {palette.max_value}: use --format gray (16-bit)")
    import hashlib
    import json

    from maskcli.polygons import LabelTable

    known = tuple(c.name for c in load_palette(CITYSCAPES_LABELS_PALETTE).classes)
    table = LabelTable(tuple((c.name, c.id) for c in palette.classes), palette.ignore_index, known,
                       CITYSCAPES_NO_ID)
    text = json.dumps([table.names, table.ignore, table.known, table.skip], ensure_ascii=True)
    return RasterizeSettings("rasterize", palette, format=fmt, verbose=verbose, labels=table,
                             labels_digest="sha256:" + hashlib.sha256(text.encode("ascii")).hexdigest()[:16])


def draw(annotation, settings: RasterizeSettings):
    """A parsed annotation -> its index mask (H, W) uint8/uint16; raises MaskError."""
    from maskcli import polygons

    try:
        if annotation.format == "cityscapes":
            return polygons.cityscapes_mask(annotation.height, annotation.width, annotation.items, settings.labels)
        return polygons.labelme_mask(annotation.height, annotation.width, annotation.items, settings.labels)
    except polygons.LabelError as exc:
        where = f"objects[{exc.index}]" if annotation.format == "cityscapes" else f"shapes[{exc.index}]"
        pal = settings.palette.path or settings.palette.name
        also = " nor a Cityscapes label" if annotation.format == "cityscapes" else ""
        raise MaskError(f"{where}: label {_quoted(exc.label)} is not a class of palette {pal}{also}") from None
    except polygons.ShapeError as exc:
        where = "objects" if annotation.format == "cityscapes" else "shapes"
        raise MaskError(f"{where}[{exc.index}]: {exc}") from None


def _quoted(label: str) -> str:
    text = repr(label[:60] + ("..." if len(label) > 60 else ""))
    return "".join(ch if ch.isprintable() else "?" for ch in text)


def encode(index, settings: RasterizeSettings) -> bytes:
    """An index mask as the output file's bytes (with the record of what made it)."""
    import numpy as np

    from maskcli import masks, provenance

    if settings.format == "npy":
        return masks.encode_npy(index)
    if settings.format == "color":
        from maskcli.convert import colorize

        data = masks.encode_rgb_png(colorize(index, settings.palette, order="bgr"), order="bgr")
    elif settings.format == "indexed":
        from maskcli.tasks import indexed_colors

        data = masks.encode_indexed_png(index.astype(np.uint8), indexed_colors(settings.palette))
    else:
        data = masks.encode_index_png(index)
    return provenance.stamp(data, settings.record_chunk)


def rasterize_file(src: str, dst: str, settings: RasterizeSettings) -> None:
    from maskcli import masks
    from maskcli.annotations import read_annotation

    masks.atomic_write(dst, encode(draw(read_annotation(src), settings), settings))


def safe_rasterize(item, settings: RasterizeSettings):
    """``(annotation, output)`` -> ``(error or None, None)``; never raises for one file."""
    from maskcli.tasks import guarded

    src, dst = item
    return guarded(lambda: rasterize_file(src, dst, settings), dst, doing="drawing")


def rasterize_tree(inputs, output: str, settings: RasterizeSettings, run) -> int:
    """Draw the mask of every annotation under ``inputs`` into ``output``; the exit status."""
    from maskcli.batch import convert_tree

    if "-" in inputs or output == "-":
        raise UsageError("rasterize reads annotation files and writes mask files: '-' (stdin/stdout) "
                         "is not supported")
    return convert_tree(inputs, output, settings, run, worker=safe_rasterize)
