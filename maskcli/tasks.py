"""The per-file work of each command, as module-level functions a worker process can run.

Each takes one input (and output) path plus the run's frozen settings and returns a plain,
picklable outcome ``(error, info)``: ``error`` is None or the one-line reason the file failed,
``info`` None or a small dict of what conversion had to do (snapped or ignored pixels).
Problems with one file are outcomes, never exceptions that escape, so one bad file cannot
stop a run.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from maskcli.errors import MaskcliError, MaskError, UnknownColorsError, WrongKindError, error_message
from maskcli.palette import Palette

EMBEDDED = "embedded"  # the reserved palette name: keep the indices a palettized file stores


@dataclass(frozen=True)
class Settings:
    """Everything a worker needs for one run; sent to each worker process once."""

    command: str  # "to-index" | "to-rgb" | "remap"
    palette: Palette | None  # None: -p embedded
    unknown: str = "error"  # "error" | "ignore" | "nearest"
    max_distance: float | None = None
    beyond: str = "error"
    alpha: str = "error"  # "error" | "ignore": fully transparent pixels become the ignore index
    format: str = "gray"  # "gray" | "indexed" | "npy" (to-index, remap); to-rgb: "gray" (= RGB) | "indexed"
    verbose: bool = False  # error lines list every unknown color or value, not the first 3
    remap: object = None  # a remap.RemapTable for "remap"
    channel_order: str = "rgb"  # "bgr": color files store red and blue swapped (cv2.imwrite of RGB)
    encoding: object = None  # an encodings.Encoding: inputs are encoded label images (--encoding)
    instances: str | None = None  # --instances DIR: also write each input's instance ids below DIR
    output_root: str = ""  # the folder outputs mirror below (where --instances mirrors from)
    max_unknown: float | None = None  # to-index: fail a file with more than this % of unknown-color px
    # Every field but those in provenance.NOT_OUTPUT (verbose) is part of the digest an output
    # records when it differs from its default: a new field that changes outputs needs nothing
    # more; one that does not must be added to NOT_OUTPUT.

    def digest(self) -> str:
        """``sha256:<hex>`` of the command, palette/map content and output-affecting options:
        what an output of this run records, and what ``--update`` compares."""
        from maskcli.provenance import digest

        return digest(self)

    @cached_property
    def record_chunk(self) -> bytes:
        """The PNG chunk every output of this run carries (made once per process)."""
        from maskcli.provenance import chunk

        return chunk(self)

    def policy(self):
        from maskcli.convert import UnknownPolicy

        return UnknownPolicy(self.unknown, self.max_distance, self.beyond)


def _transparent(mask, settings: Settings):
    if mask.transparent is None:
        return None
    if settings.alpha != "ignore":
        n = int(mask.transparent.sum())
        raise WrongKindError(
            f"has {n} fully transparent px; use --alpha ignore to write them as the ignore index"
        )
    return mask.transparent


def to_index(mask, settings: Settings):
    """A decoded mask -> (index array, info dict or None, PLTE colors for --format indexed)."""
    from maskcli import convert

    if settings.palette is None:  # -p embedded
        if mask.kind != "palettized":
            raise WrongKindError(f"is {mask.a_mode} image and has no embedded palette")
        index = mask.array.copy()
        transparent = _transparent(mask, settings)
        info = None
        if transparent is not None and transparent.any():
            index[transparent] = 255
            info = {"pixels": int(index.size), "transparent": int(transparent.sum())}
        return index, info, mask.colors
    transparent = _transparent(mask, settings)
    policy = settings.policy()
    try:
        if mask.kind == "color":
            decoded = convert.decode_rows(mask.keys, mask.shape, settings.palette, policy, transparent)
        elif mask.kind == "palettized":
            decoded = convert.decode_palettized(mask.array, mask.colors, settings.palette, policy, transparent)
        else:
            raise WrongKindError(
                f"is {mask.a_mode} image, so it looks like an index mask already; "
                "to-index needs a color mask (RGB, RGBA or palettized)"
            )
    except UnknownColorsError as exc:
        hint = swapped_hint(mask, settings.palette, settings.channel_order, transparent)
        if hint:
            raise exc.with_hint(hint) from None
        rgb = mask.array
        if mask.kind == "color" and (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all():
            raise exc.with_hint("every pixel has R == G == B: it may be an index mask stored as RGB") from None
        raise
    info = None
    if decoded.snapped or decoded.ignored or decoded.transparent:
        info = {
            "pixels": int(decoded.index.size),
            "snapped": decoded.snapped,
            "ignored": decoded.ignored,
            "transparent": decoded.transparent,
        }
        if settings.verbose and decoded.snaps:
            info["snaps"] = decoded.snaps
        _check_max_unknown(decoded, settings)
    return decoded.index, info, None


def swapped_hint(mask, palette: Palette, channel_order: str = "rgb", transparent=None, colors=None) -> str:
    """The hint for a file whose unknown colors are mostly (by pixels) palette colors with red
    and blue swapped, else "". ``colors`` are the file's unknown colors and their counts when
    the caller has them already."""
    from maskcli import convert

    if colors is None:
        all_colors, counts = mask_colors(mask, None if transparent is None else ~transparent)
        _, known = convert.lookup_colors(all_colors, palette)
        colors = (all_colors[~known], counts[~known])
    unknown, counts = colors
    if convert.swapped_pixels(unknown, counts, palette) * 2 <= int(counts.sum()):
        return ""
    fix = ("saved from an RGB array with OpenCV? try --channel-order bgr" if channel_order == "rgb"
           else "try without --channel-order bgr")
    return f"they are palette colors with red and blue swapped: {fix}"


def _check_max_unknown(decoded, settings: Settings) -> None:
    """--max-unknown P: a file whose unknown colors (snapped or ignored) cover more than P % of
    its pixels fails, so a wrong palette cannot turn a whole dataset into ignore."""
    if settings.max_unknown is None:
        return
    unknown, pixels = decoded.snapped + decoded.ignored, max(1, decoded.index.size)
    share = 100 * unknown / pixels
    if share > settings.max_unknown:
        done = " and ".join(f"{n} {what}" for n, what in ((decoded.snapped, "snapped"), (decoded.ignored, "ignored")) if n)
        raise MaskError(
            f"{share:.2f}% of its pixels have colors the palette does not know ({done} of {pixels} px), "
            f"more than --max-unknown {settings.max_unknown:g}%"
        )


def convert_mask(mask, settings: Settings, name: str = "") -> tuple[bytes, dict | None]:
    """Convert a decoded mask as ``settings.command`` says: the output PNG's bytes (carrying
    the record of what made it, see provenance.py), and info. ``name`` is the input's file
    name (a coco-panoptic image's segments are found by it)."""
    from maskcli import provenance

    data, info = _encode(mask, settings, name)
    if settings.format == "npy":  # a .npy file has no place for the record (--update converts it again)
        return data, info
    return provenance.stamp(data, settings.record_chunk), info


def read_input(src: str, settings: Settings):
    """Read an input as ``settings`` need it: its samples as stored for an encoding, else a Mask."""
    from maskcli import masks

    if settings.encoding is not None:
        return masks.read_raw(src)
    return masks.read_mask(src, settings.channel_order)


def decode_input(data: bytes, settings: Settings):
    """:func:`read_input` for the bytes of a file (stdin)."""
    from maskcli import masks

    if settings.encoding is not None:
        return masks.decode_raw(data)
    return masks.decode_mask(data, settings.channel_order)


def decode_encoded(raw, encoding, palette: Palette | None, name: str = "", unknown: str = "error"):
    """The class ids of an encoded label image (``raw``: its samples as stored), void as the
    palette's ignore index; with a palette, values it does not know fail the file (or, with
    ``unknown="ignore"``, become its ignore index). Returns ``(values, ignored pixels)``."""
    import numpy as np

    from maskcli import encodings

    values = encodings.decode(encoding, raw, name, None if palette is None else palette.ignore_index)
    if palette is None:
        return values, 0
    found, counts, known = known_values(values, palette, raise_unknown=unknown != "ignore")
    if known.all():
        return values, 0
    bad = np.isin(values, found[~known])
    if palette.ignore_index > np.iinfo(values.dtype).max:
        values = values.astype(np.uint16)
    values[bad] = palette.ignore_index
    return values, int(counts[~known].sum())


def known_values(values, palette: Palette, raise_unknown: bool = True):
    """The distinct ``values`` of an index mask, their pixel counts and whether the palette
    knows each (a class id or the ignore index); with ``raise_unknown``, values it does not
    know raise UnknownIndicesError (most frequent first)."""
    import numpy as np

    from maskcli import convert
    from maskcli.errors import LISTED, UnknownIndicesError

    found, counts = convert.value_counts(values)
    known = np.isin(found, [c.id for c in palette.classes] + [palette.ignore_index])
    if raise_unknown and not known.all():
        entries = sorted(((int(v), int(n)) for v, n in zip(found[~known], counts[~known])), key=lambda e: (-e[1], e[0]))
        raise UnknownIndicesError(entries[:LISTED], total=len(entries))
    return found, counts, known


def _encode_encoded(raw, settings: Settings, name: str) -> tuple[bytes, dict | None]:
    import numpy as np

    from maskcli import masks

    palette = settings.palette if settings.command == "to-index" else None
    values, ignored = decode_encoded(raw, settings.encoding, palette, name, settings.unknown)
    info = {"pixels": int(values.size), "ignored": ignored} if ignored else None
    if settings.command == "remap":
        from maskcli.remap import remap

        values = remap(values, settings.remap)
    elif settings.format == "indexed":
        if values.size and int(values.max()) > 255:
            raise WrongKindError(f"decodes to values up to {int(values.max())}; --format indexed holds 0..255")
        return masks.encode_indexed_png(values.astype(np.uint8), indexed_colors(settings.palette)), info
    if settings.format == "npy":
        return masks.encode_npy(values), info
    return masks.encode_index_png(values), info


def instances_path(dst: str, settings: Settings) -> str:
    """Where --instances writes the instance ids of the input whose output is ``dst``: the
    same path relative to the --instances folder as ``dst`` has below the output folder."""
    import os

    return os.path.join(settings.instances, os.path.relpath(dst, settings.output_root or os.path.dirname(dst) or "."))


def _encode(mask, settings: Settings, name: str = "") -> tuple[bytes, dict | None]:
    import numpy as np

    from maskcli import convert, masks

    if settings.encoding is not None:
        return _encode_encoded(mask.data, settings, name)
    if settings.command == "to-index":
        index, info, plte = to_index(mask, settings)
        if settings.format == "indexed":
            colors = plte if plte is not None else indexed_colors(settings.palette)
            return masks.encode_indexed_png(index, colors), info
        if settings.format == "npy":
            return masks.encode_npy(index), info
        return masks.encode_index_png(index), info
    if mask.kind == "color":
        raise WrongKindError(
            f"is {mask.a_mode} color image; {settings.command} needs an index mask "
            "(grayscale 8/16-bit, or palettized for its stored indices)"
        )
    if settings.command == "remap":
        from maskcli.remap import remap

        out = remap(mask.array, settings.remap)
        if settings.format == "npy":
            return masks.encode_npy(out), None
        if mask.kind == "palettized":  # keep the file's own PLTE
            if out.dtype != np.uint8:
                raise WrongKindError("is palettized, but the map writes values above 255")
            return masks.encode_indexed_png(out, mask.colors), None
        return masks.encode_index_png(out), None
    if settings.format == "indexed":  # to-rgb --format indexed: the ids, with the colors in the PLTE
        known_values(mask.array, settings.palette)
        return masks.encode_indexed_png(mask.array.astype(np.uint8), indexed_colors(settings.palette)), None
    colors = convert.colorize(mask.array, settings.palette, order="bgr")  # OpenCV writes BGR
    return masks.encode_rgb_png(colors, order="bgr"), None


def convert_file(src: str, dst: str, settings: Settings):
    """Read ``src``, convert it, write ``dst`` whole or not at all; returns info. With
    --instances, the instance ids are written first, so an output that exists (and that
    --update trusts) always has its instance file beside it."""
    import os

    from maskcli import masks

    mask = read_input(src, settings)
    name = os.path.basename(src)
    data, info = convert_mask(mask, settings, name)
    if settings.instances:
        write_instances(mask, settings, instances_path(dst, settings))
    masks.atomic_write(dst, data)
    return info


def write_instances(raw, settings: Settings, path: str) -> None:
    from maskcli import encodings, masks, provenance

    ids = encodings.instances(settings.encoding, raw.data)
    if settings.format == "npy":
        masks.atomic_write(path, masks.encode_npy(ids))
    else:
        masks.atomic_write(path, provenance.stamp(masks.encode_index_png(ids), settings.record_chunk))


def indexed_colors(palette: Palette):
    """The 256-entry PLTE of a palettized output: class colors, the ignore color, else black."""
    import numpy as np

    plte = np.zeros((256, 3), dtype=np.uint8)
    for value, color in palette.encode_pairs():
        plte[value] = color
    return plte


def describe_failure(exc: BaseException, dst: str | None = None, verbose: bool = False) -> str:
    """A one-line reason for a file's failure (listing every unknown color with ``verbose``)."""
    if isinstance(exc, MaskcliError):
        return error_message(exc, verbose)
    if isinstance(exc, OSError):
        from maskcli.report import shown

        target = f" {shown(dst)}" if dst else ""
        return f"cannot write{target}: {exc.strerror or exc}"
    return f"internal error, please report it: {type(exc).__name__}: {exc}"


def guarded(work, dst: str, verbose: bool = False, doing: str = "converting"):
    """Run ``work()`` for one file -> ``(None, its info)``, or ``(the one-line reason it
    failed, info)``: a file's problem (or a bug) is an outcome, never an exception that stops
    the run. Every command that writes one output per input runs its files through this."""
    try:
        return None, work()
    except (MaskError, OSError) as exc:
        return failure(exc, dst, verbose)
    except MemoryError:
        return f"out of memory while {doing} it", None
    except Exception as exc:  # a bug: report it for this file, keep going with the others
        return describe_failure(exc), None


def safe_convert(item, settings: Settings):
    """``(src, dst)`` -> ``(error or None, info or None)``."""
    src, dst = item
    return guarded(lambda: convert_file(src, dst, settings), dst, settings.verbose)


def failure(exc: BaseException, dst: str | None, verbose: bool):
    """``(line, info)`` of a failed file: the line stderr shows, and in info the long form
    (every unknown color) for the JSON report when the line is shorter."""
    line = describe_failure(exc, dst, verbose)
    full = describe_failure(exc, dst, True)
    return line, ({"error_detail": full} if full != line else None)


def safe_count_colors(src: str, max_colors: int, alpha: str = "error", channel_order: str = "rgb"):
    """``src`` -> ``(keys, counts)`` of its distinct colors, or the reason it failed."""
    try:
        return count_colors(src, max_colors, alpha, channel_order)
    except MaskError as exc:
        return str(exc)
    except Exception as exc:
        return describe_failure(exc)


def mask_colors(mask, keep=None):
    """The distinct colors of a color or palettized mask (of its ``keep`` pixels) and their
    pixel counts, sorted by (r, g, b); a palettized file is counted through its PLTE."""
    import numpy as np

    from maskcli import convert

    if mask.kind == "color":
        keys = mask.keys()
        return convert.key_counts(keys if keep is None else keys[keep])
    stored = mask.array if keep is None else mask.array[keep]
    per_entry = np.bincount(stored.reshape(-1), minlength=len(mask.colors))
    used = np.flatnonzero(per_entry)
    return convert.merge_counts(convert.pack_rgb(mask.colors[used][None])[0], per_entry[used])


def count_colors(src: str, max_colors: int, alpha: str = "error", channel_order: str = "rgb"):
    from maskcli import convert, masks

    mask = masks.read_mask(src, channel_order)
    keep = None
    if mask.transparent is not None:
        if alpha != "ignore":
            raise WrongKindError(
                f"has {int(mask.transparent.sum())} fully transparent px; use --alpha ignore to skip them"
            )
        keep = ~mask.transparent
    if mask.kind == "index":
        raise WrongKindError(
            f"is {mask.a_mode} image, so it looks like an index mask; extract-palette reads color masks"
        )
    colors, counts = mask_colors(mask, keep)
    if len(colors) > max_colors:
        raise MaskError(
            f"has {len(colors)} colors, more than --max-colors {max_colors} "
            "(a photo, or a mask saved lossily or resized with interpolation?)"
        )
    return convert.pack_rgb(colors[None])[0], counts


def safe_count_values(src: str, encoding):
    """``src`` (an encoded label image) -> ``(values, counts)`` of its decoded class ids, or
    the reason it failed."""
    import os

    from maskcli import convert, encodings, masks

    try:
        values = encodings.decode(encoding, masks.read_raw(src).data, os.path.basename(src))
        return convert.value_counts(values)
    except MaskError as exc:
        return str(exc)
    except Exception as exc:
        return describe_failure(exc)
