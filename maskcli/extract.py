"""extract-palette: the distinct colors of sample masks, as a palette to start from.

Scanning counts pixels and files per color in parallel; the rest is pure: filtering rare
colors, flagging probable edge noise, recognising a built-in dataset palette (also with
swapped channels), naming colors from a known palette, and building the palette.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from maskcli import runner, tasks
from maskcli.errors import MaskcliError, PaletteError
from maskcli.palette import MAX_ID, Palette, PaletteClass, palette_to_yaml, parse_palette_text
from maskcli.walk import find_mask_files
from maskcli.report import Report, shown

ORDERS = ("color", "frequency")
HARD_LIMIT = 1_000_000  # distinct colors kept in memory at most, whatever the filters
RARE_SHARE = 0.0005  # a color under 0.05 % of all pixels is rare; at or above it, frequent
NEAR = 12.0  # a rare color this close to a frequent one is probably noise
ON_SEGMENT = 4.0  # a rare color this close to the segment between two frequent ones is a blend

RGB = tuple[int, int, int]


class TooManyColors(MaskcliError):
    pass


def _never_an_input(output, files) -> None:
    """The palette file must not replace one of the masks it is made from (also through a link)."""
    if output not in (None, "-"):
        from maskcli.plan import check_reserved

        check_reserved(output, [(f, f) for f in files], "-o")


def scan_colors(inputs, jobs: int, max_colors: int, quiet: bool = False, alpha: str = "error",
                filtered: bool = False, scheduler: str | None = None, channel_order: str = "rgb", output=None):
    """Count pixels and files per color over every mask under ``inputs``.

    Returns ``(colors, report)``: ``colors`` maps (r, g, b) to ``[pixels, files]``. Without
    filters it stops as soon as the inputs hold more than ``max_colors`` colors; with filters
    (``filtered``) the limit applies after filtering, and scanning stops at HARD_LIMIT.
    """
    skipped: list = []
    try:
        with runner.interruptible():  # listing may take long and leaves nothing behind
            files = find_mask_files(inputs, skipped=skipped)
    except runner.Interrupted:
        files = []
    _never_an_input(output, files)
    limit = HARD_LIMIT if filtered else max_colors
    progress = runner.Progress(len(files), "extract-palette", enabled=not quiet)
    report = Report("extract-palette", len(files), progress.write, quiet)
    for path, reason in skipped:
        report.warn(f"{shown(path)}: skipped: {reason}")
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
        if len(counts) > limit:
            raise TooManyColors(
                f"the inputs hold more than {'--max-colors ' if limit == max_colors else ''}{limit} colors "
                f"(found {len(counts)} by {shown(src)}); they are probably photos or lossy masks, not label masks"
            )

    interrupted = None
    try:
        runner.run(tasks.safe_count_colors, files, args=(limit, alpha, channel_order), jobs=jobs, on_result=on_result,
                   scheduler=scheduler)  # raises at once when the listing was interrupted
    except runner.Interrupted as stop:
        interrupted = stop
    finally:
        progress.close()
    interrupted = runner.settle() or interrupted  # also a signal that came after the last file
    if interrupted:
        report.finish(interrupted=str(interrupted))
        raise interrupted
    colors = {(k & 255, (k >> 8) & 255, (k >> 16) & 255): v for k, v in counts.items()}
    return colors, report


def scan_values(inputs, jobs: int, encoding, max_values: int, quiet: bool = False, filtered: bool = False,
                scheduler: str | None = None, output=None):
    """extract-palette --encoding: pixels and files per decoded class id over every input.
    Returns ``(values, report)``: ``values`` maps id to ``[pixels, files]``."""
    skipped: list = []
    files = find_mask_files(inputs, skipped=skipped)
    _never_an_input(output, files)
    limit = HARD_LIMIT if filtered else max_values
    progress = runner.Progress(len(files), "extract-palette", enabled=not quiet)
    report = Report("extract-palette", len(files), progress.write, quiet)
    for path, reason in skipped:
        report.warn(f"{path}: skipped: {reason}")
    counts: dict[int, list[int]] = {}

    def on_result(src, result):
        progress.update()
        if isinstance(result, str):
            report.done(src, None, result)
            return
        report.done(src, None, None)
        for value, n in zip(*(a.tolist() for a in result)):
            entry = counts.setdefault(value, [0, 0])
            entry[0] += n
            entry[1] += 1
        if len(counts) > limit:
            raise TooManyColors(
                f"the inputs hold more than {'--max-colors ' if limit == max_values else ''}{limit} class ids "
                f"(found {len(counts)} by {src}): raise --max-colors"
            )

    try:
        runner.run(tasks.safe_count_values, files, args=(encoding,), jobs=jobs, on_result=on_result,
                   scheduler=scheduler)
    finally:
        progress.close()
    return counts, report


def id_color(value: int) -> RGB:
    """The color extract-palette --encoding gives id ``value``: its Pascal VOC colormap color."""
    from maskcli.formats import voc_color

    return voc_color(value)


def build_encoded_palette(values: dict, void: int | None, order: str = "color", name: str = "extracted",
                          names_from: Palette | None = None) -> Palette:
    """A palette with one class per decoded id (``values``: id -> [pixels, files]); ``void``
    (the encoding's void value, if it has one) becomes the ignore index, not a class. Names and
    colors come from ``names_from`` where it has the id, else ``class_N`` and the VOC colormap."""
    known = {c.id: c for c in names_from.classes} if names_from is not None else {}
    items = [(v, pn) for v, pn in values.items() if v != void]
    items.sort(key=(lambda kv: (-kv[1][0], kv[0])) if order == "frequency" else (lambda kv: kv[0]))
    classes = tuple(
        PaletteClass(v, known[v].name if v in known else f"class_{v}", known[v].color if v in known else id_color(v),
                     pixels=px, files=nf)
        for v, (px, nf) in items
    )
    if void is None:
        used = {v for v, _ in items}
        void = 255 if 255 not in used and max(used, default=0) <= 255 else MAX_ID
    return Palette(name=name, classes=classes, ignore_index=void)


# --------------------------------------------------------------------------- pure analysis


def drop_rare(colors: dict, min_pixels: int = 0, min_files: int = 0) -> tuple[dict, int, int]:
    """Keep colors with at least ``min_pixels`` pixels and ``min_files`` files; returns the
    kept colors, and how many colors and pixels were dropped."""
    kept = {c: v for c, v in colors.items() if v[0] >= min_pixels and v[1] >= min_files}
    dropped = [v[0] for c, v in colors.items() if c not in kept]
    return kept, len(dropped), sum(dropped)


def probable_noise(colors: dict, known=frozenset()) -> dict[RGB, str]:
    """Rare colors that look like anti-aliasing or resampling noise, with the reason: close to
    a frequent color, or lying between two frequent colors (a blend). Colors in ``known`` (a
    matching dataset palette's) are real classes, however rare."""
    import numpy as np

    total = sum(v[0] for v in colors.values()) or 1
    frequent = [c for c, v in colors.items() if v[0] / total >= RARE_SHARE or c in known]
    rare = [c for c, v in colors.items() if v[0] / total < RARE_SHARE and c not in known]
    if not frequent or not rare:
        return {}
    f = np.array(frequent, dtype=np.float64)
    r = np.array(rare, dtype=np.float64)
    d = np.sqrt(((r[:, None, :] - f[None, :, :]) ** 2).sum(-1))
    nearest = d.argmin(1)
    found: dict[RGB, str] = {}
    for i in np.flatnonzero(d[np.arange(len(r)), nearest] <= NEAR):
        found[rare[i]] = f"within {d[i, nearest[i]]:.1f} of {frequent[nearest[i]]}"
    if len(frequent) >= 2:
        a_idx, b_idx = np.triu_indices(len(frequent), 1)
        a, b = f[a_idx], f[b_idx]  # (P, 3)
        ab = b - a
        length2 = (ab**2).sum(-1)
        for i in range(len(r)):
            if rare[i] in found:
                continue
            t = ((r[i] - a) * ab).sum(-1) / length2
            inside = (t > 0.05) & (t < 0.95)
            dist = np.sqrt((((a + t[:, None] * ab) - r[i]) ** 2).sum(-1))
            hit = np.flatnonzero(inside & (dist <= ON_SEGMENT))
            if hit.size:
                j = hit[dist[hit].argmin()]
                found[rare[i]] = f"between {frequent[a_idx[j]]} and {frequent[b_idx[j]]}"
    return found


@dataclass(frozen=True)
class Match:
    palette: str  # what -p takes: a built-in's name or a file
    known: int  # found colors the palette knows
    total: int  # found colors
    swapped: bool  # matched only with the channels reversed (BGR written as RGB)
    size: int = 0  # colors the palette knows (classes' colors, their 'also' colors, ignore colors)

    @property
    def complete(self) -> bool:
        """Every found color is the palette's, channels as they are: -p can convert these masks."""
        return self.known == self.total and not self.swapped

    def describe(self) -> str:
        how = " with the channels reversed (the masks were probably written from BGR arrays)" if self.swapped else ""
        if self.complete:
            return f"all {self.total} colors belong to {self.palette}: use -p {self.palette}"
        if self.known == self.total:
            return f"all {self.total} colors belong to {self.palette}{how}"
        return f"{self.known} of {self.total} colors belong to {self.palette}{how}"


def identify(colors: dict, candidates: dict[str, Palette], best: int | None = 3) -> list[Match]:
    """The palettes that know most of the found colors (at least half), best first; a palette
    that knows more colors once each color's channels are reversed is reported as swapped.

    Best is: knows the most found colors; then matches with the channels as they are; then
    has the fewest colors it knows but the masks do not use (the smallest palette that
    explains everything: pascal-voc before coco-stuff for VOC masks); then by name.
    ``best=None`` returns every match."""
    found = set(colors)
    swapped = {(b, g, r) for r, g, b in found}
    matches = []
    for name, palette in candidates.items():
        known = set(dict(palette.decode_pairs()))
        straight, reverse = len(found & known), len(swapped & known)
        is_swapped = reverse > straight
        hits = reverse if is_swapped else straight
        if hits * 2 >= len(found) and hits:
            matches.append(Match(name, hits, len(found), is_swapped, len(known)))
    matches.sort(key=lambda m: (-m.known, m.swapped, m.size - m.known, m.palette))
    return matches if best is None else matches[:best]


def build_palette(colors: dict, order: str = "color", name: str = "extracted",
                  names_from: Palette | None = None) -> tuple[Palette, list[RGB]]:
    """A palette with one class per color. Without ``names_from``: ids 0..n-1 in ``order`` (by
    color, or by pixel count with ties by color); ignore_index stays 255 up to 255 colors,
    else 65535. With it: the colors it knows keep its ids, names and ignore settings; the
    others get new ids above its highest id (skipping its ignore index) and are returned."""
    if order == "frequency":
        ranked = sorted(colors.items(), key=lambda kv: (-kv[1][0], kv[0]))
    else:
        ranked = sorted(colors.items())
    if names_from is None:
        ignore_index = 255 if len(ranked) <= 255 else MAX_ID
        if len(ranked) > MAX_ID:
            raise TooManyColors(
                f"{len(ranked)} colors: an index mask holds at most {MAX_ID} classes besides the ignore index "
                "(16 bits); no palette written (raise --min-pixels / --min-files: these are probably not label masks)"
            )
        classes = tuple(
            PaletteClass(i, f"class_{i}", color, pixels=pixels, files=files)
            for i, (color, (pixels, files)) in enumerate(ranked)
        )
        return Palette(name=name, classes=classes, ignore_index=ignore_index), []
    by_color = {}
    for c in names_from.classes:
        for color in (c.color, *c.also):
            by_color.setdefault(color, c)
    ignore_colors = set(names_from.ignore_colors)
    known, unknown, seen_ignore = {}, [], []
    for color, (pixels, files) in ranked:
        if color in by_color:
            cls = by_color[color]
            entry = known.setdefault(cls.id, [cls, 0, 0])
            entry[1] += pixels
            entry[2] += files
        elif color in ignore_colors:
            seen_ignore.append(color)
        else:
            unknown.append((color, pixels, files))
    classes = [PaletteClass(c.id, c.name, c.color, c.also, pixels=px, files=nf)
               for c, px, nf in (known[i] for i in sorted(known))]
    highest = max((c.id for c in names_from.classes), default=-1)
    free = [i for i in range(highest + 1, MAX_ID + 1) if i != names_from.ignore_index]
    if len(unknown) > len(free):
        where = names_from.path or names_from.name
        raise TooManyColors(
            f"{len(unknown)} colors are not in {where}, but only {len(free)} ids are free above its highest id "
            f"{highest} (16 bits, less its ignore index {names_from.ignore_index}); no palette written"
        )
    for new_id, (color, pixels, files) in zip(free, unknown):
        classes.append(PaletteClass(new_id, f"class_{new_id}", color, pixels=pixels, files=files))
    palette = Palette(name=name, classes=tuple(classes), ignore_index=names_from.ignore_index,
                      ignore_colors=names_from.ignore_colors)
    return palette, [color for color, _, _ in unknown]


def palette_text(palette: Palette, header: str) -> str:
    """The palette as maskcli YAML, checked by reading it back through the same validation
    every palette file gets: extract-palette never writes a palette maskcli would refuse."""
    text = palette_to_yaml(palette, header=header)
    try:
        again = parse_palette_text(text, "the extracted palette")
    except PaletteError as exc:
        raise TooManyColors(f"no palette written: it would not be valid ({exc}); this is a maskcli bug") from None
    if again != palette:
        raise TooManyColors("no palette written: it does not read back as extracted; this is a maskcli bug")
    return text


def summary_table(colors: dict, noise: dict, limit: int = 40) -> str:
    """color, pixels, % of pixels, files (most pixels first), for stderr."""
    total = sum(v[0] for v in colors.values()) or 1
    rows = sorted(colors.items(), key=lambda kv: (-kv[1][0], kv[0]))
    lines = [f"{'color':<17} {'pixels':>12} {'%':>8} {'files':>6}"]
    for color, (pixels, files) in rows[:limit]:
        mark = "  noise?" if color in noise else ""
        lines.append(f"{'({}, {}, {})'.format(*color):<17} {pixels:>12} {100 * pixels / total:>8.3f} {files:>6}{mark}")
    if len(rows) > limit:
        lines.append(f"... and {len(rows) - limit} more colors")
    return "\n".join(lines)


SHOWN = 10  # entries of a list printed on stderr before "... and N more"
SHOWN_MATCHES = 3


def header(files: int, matches: list[Match], names_from: Palette | None, new_colors: list, version: str) -> str:
    """The comment lines at the top of the written palette."""
    lines = [f"written by maskcli {version} extract-palette from {files} file(s)"]
    if matches and matches[0].complete:
        best = matches[0]
        what = "the built-in palette " if names_from is None else ""
        lines.append(f"these colors are all in {what}{best.palette}: use -p {best.palette}")
    if names_from is None:
        lines.append("class names are placeholders: rename them")
    elif new_colors:
        lines.append(f"names from {names_from.path or names_from.name}; the {len(new_colors)} new color(s) "
                     "have placeholder names (class_N): rename them")
    else:
        lines.append(f"names from {names_from.path or names_from.name}")
    return "\n".join(lines)


def _more(total: int, shown: int, what: str = "") -> str:
    return f" (and {total - shown} more{what})" if total > shown else ""


def summary_lines(colors: dict, noise: dict, matches: list[Match], n_dropped: int, px_dropped: int,
                  min_pixels: int, min_files: int, names_from: Palette | None, new_colors: list,
                  hint: str | None = None) -> list[str]:
    """What extract-palette tells on stderr after writing the palette; every truncated list
    says how many it left out."""
    lines = [summary_table(colors, noise)]
    if n_dropped:
        lines.append(f"dropped {n_dropped} rare color(s), {px_dropped} px (--min-pixels {min_pixels}, "
                     f"--min-files {min_files})")
    if noise:
        noise_px = sum(colors[c][0] for c in noise)
        lines.append(f"{len(noise)} color(s), {noise_px} px, are probable anti-aliasing / resampling noise "
                     "(marked noise?):")
        ranked = sorted(noise.items(), key=lambda kv: (-colors[kv[0]][0], kv[0]))
        lines += [f"  {color} {colors[color][0]} px: {why}" for color, why in ranked[:SHOWN]]
        if len(ranked) > SHOWN:
            lines.append(f"  ... and {len(ranked) - SHOWN} more")
    lines += [f"match: {m.describe()}" for m in matches[:SHOWN_MATCHES]]
    if len(matches) > SHOWN_MATCHES:
        lines.append(f"match: ... and {len(matches) - SHOWN_MATCHES} more palette(s) knowing fewer of the colors")
    if hint:
        lines.append(hint)
    if names_from is not None and new_colors:
        shown = ", ".join(str(c) for c in new_colors[:SHOWN])
        lines.append(f"{len(new_colors)} color(s) not in {names_from.path or names_from.name}, given new ids: "
                     f"{shown}{_more(len(new_colors), SHOWN)}")
    return lines


def default_name(inputs) -> str:
    from maskcli import storage

    first = storage.local_path(inputs[0])
    if storage.is_remote(first):
        return first.rstrip("/").rsplit("/", 1)[-1] or "extracted"
    first = os.path.abspath(first)
    base = first if os.path.isdir(first) else os.path.dirname(first)
    return os.path.basename(base) or "extracted"
