"""extract-palette: the distinct colors of sample masks, as a palette to start from."""

from __future__ import annotations

import os

from maskcli import runner, tasks
from maskcli.errors import MaskcliError, UsageError
from maskcli.masks import DEFAULT_EXTENSIONS
from maskcli.palette import Palette, PaletteClass
from maskcli.plan import find_inputs
from maskcli.report import Report

ORDERS = ("color", "frequency")


class TooManyColors(MaskcliError):
    pass


def scan_colors(inputs, jobs: int, max_colors: int, quiet: bool = False, alpha: str = "error"):
    """Count pixels and files per color over every mask under ``inputs``.

    Returns ``(counts, report)`` where ``counts`` maps an (r, g, b) tuple to ``[pixels, files]``.
    Raises TooManyColors as soon as the inputs hold more than ``max_colors`` colors.
    """
    files = find_inputs(inputs)
    if not files:
        raise UsageError(
            f"no mask files found in {', '.join(map(str, inputs))} "
            f"(looked for {', '.join(DEFAULT_EXTENSIONS)}, recursively)"
        )
    progress = runner.Progress(len(files), "extract-palette", enabled=not quiet)
    report = Report("extract-palette", len(files), progress.write, quiet)
    counts: dict[int, list[int]] = {}

    def on_result(src, result):
        progress.update()
        if isinstance(result, str):
            report.done(src, None, result)
            return
        report.done(src, None, None)
        keys, pixels = result
        for key, n in zip(keys.tolist(), pixels.tolist()):
            entry = counts.setdefault(key, [0, 0])
            entry[0] += n
            entry[1] += 1
        if len(counts) > max_colors:
            raise TooManyColors(
                f"the inputs hold more than --max-colors {max_colors} colors (found {len(counts)} "
                f"by {src}); they are probably photos or lossy masks, not label masks"
            )

    try:
        runner.run(tasks.safe_count_colors, files, args=(max_colors, alpha), jobs=jobs, on_result=on_result)
    finally:
        progress.close()
    colors = {(k & 255, (k >> 8) & 255, (k >> 16) & 255): v for k, v in counts.items()}
    return colors, report


def build_palette(colors: dict, order: str = "color", name: str = "extracted") -> Palette:
    """A palette with one class per color, ids 0..n-1 in ``order`` (by color, or by pixel count
    with ties by color). ignore_index stays 255 up to 255 colors, else it is 65535."""
    if order == "frequency":
        ranked = sorted(colors.items(), key=lambda kv: (-kv[1][0], kv[0]))
    else:
        ranked = sorted(colors.items())
    ignore_index = 255 if len(ranked) <= 255 else 65535
    classes = tuple(
        PaletteClass(i, f"class_{i}", color, pixels=pixels, files=files)
        for i, (color, (pixels, files)) in enumerate(ranked)
    )
    return Palette(name=name, classes=classes, ignore_index=ignore_index)


def default_name(inputs) -> str:
    first = os.path.abspath(os.fspath(inputs[0]))
    base = first if os.path.isdir(first) else os.path.dirname(first)
    return os.path.basename(base) or "extracted"
