"""The per-file work of each command, as module-level functions a worker process can run.

Each takes one input (and output) path plus the run's frozen settings and returns a plain,
picklable outcome. Problems with one file are outcomes (an error message), never exceptions
that escape, so one bad file cannot stop a run.
"""

from __future__ import annotations

from dataclasses import dataclass

from maskcli.errors import MaskcliError, MaskError, WrongKindError
from maskcli.palette import Palette


@dataclass(frozen=True)
class Settings:
    """Everything a worker needs for one run; sent to each worker process once."""

    command: str  # "to-index" | "to-rgb"
    palette: Palette
    unknown: str = "error"


def convert_file(src: str, dst: str, settings: Settings) -> None:
    """Read ``src``, convert it as ``settings.command`` says, write ``dst``."""
    from maskcli import convert, masks

    mask = masks.read_mask(src)
    palette = settings.palette
    if settings.command == "to-index":
        if mask.kind == "color":
            index = convert.rgb_to_index(mask.array, palette, settings.unknown)
        elif mask.kind == "palettized":
            index = convert.palettized_to_index(mask.array, mask.colors, palette, settings.unknown)
        else:
            raise WrongKindError(
                f"is a {mask.mode} image, so it looks like an index mask already; "
                "to-index needs a color mask (RGB, RGBA or palettized)"
            )
        masks.write_index_mask(dst, index)
    else:
        if mask.kind == "color":
            raise WrongKindError(
                f"is a {mask.mode} color image; to-rgb needs an index mask "
                "(grayscale 8/16-bit, or palettized for its stored indices)"
            )
        masks.write_rgb_mask(dst, convert.index_to_rgba(mask.array, palette))


def describe_failure(exc: BaseException, dst: str | None = None) -> str:
    """A one-line reason for a file's failure."""
    if isinstance(exc, MaskcliError):
        return str(exc)
    if isinstance(exc, OSError):
        target = f" {dst}" if dst else ""
        return f"cannot write{target}: {exc.strerror or exc}"
    return f"internal error, please report it: {type(exc).__name__}: {exc}"


def safe_convert(item, settings: Settings):
    """``(src, dst)`` -> ``None`` on success or the reason it failed."""
    src, dst = item
    try:
        convert_file(src, dst, settings)
    except (MaskError, OSError) as exc:
        return describe_failure(exc, dst)
    except Exception as exc:  # a bug: report it for this file, keep converting the others
        return describe_failure(exc)
    return None


def safe_count_colors(src: str, max_colors: int):
    """``src`` -> ``(keys, counts)`` of its distinct colors, or the reason it failed."""
    try:
        return count_colors(src, max_colors)
    except MaskError as exc:
        return str(exc)
    except Exception as exc:
        return describe_failure(exc)


def count_colors(src: str, max_colors: int):
    import numpy as np

    from maskcli import convert, masks

    mask = masks.read_mask(src)
    if mask.kind == "color":
        colors, counts = convert.color_counts(mask.array)
    elif mask.kind == "palettized":
        per_entry = np.bincount(mask.array.reshape(-1), minlength=len(mask.colors))
        used = np.flatnonzero(per_entry)
        colors, counts = convert.merge_counts(convert.pack_rgb(mask.colors[used][None])[0], per_entry[used])
    else:
        raise WrongKindError(
            f"is a {mask.mode} image, so it looks like an index mask; extract-palette reads color masks"
        )
    if len(colors) > max_colors:
        raise MaskError(
            f"has {len(colors)} colors, more than --max-colors {max_colors} "
            "(a photo, or a mask saved lossily or resized with interpolation?)"
        )
    return convert.pack_rgb(colors[None])[0], counts
