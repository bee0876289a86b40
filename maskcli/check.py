"""maskcli check: read every mask, write nothing, report what to-index (or to-rgb) would see."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass

from maskcli import runner
from maskcli.errors import LISTED, MaskError, listing
from maskcli.palette import Palette

LOSSY = (".jpg", ".jpeg", ".jpe", ".jfif", ".webp")


@dataclass(frozen=True)
class CheckSettings:
    palette: Palette | None  # None: -p embedded (palettized files' stored indices)
    indices: bool | None = False  # check index masks (as to-rgb reads them) instead of color masks; None: by each file's kind
    channel_order: str = "rgb"  # "bgr": color files store red and blue swapped (cv2.imwrite of RGB)
    encoding: object = None  # an encodings.Encoding: the inputs are encoded label images


def check_file(src: str, settings: CheckSettings) -> dict:
    """One file's findings: size, mode, per-value pixel counts, unknown colors or values."""
    try:
        return _check(src, settings)
    except MaskError as exc:
        return {"error": str(exc)}
    except Exception as exc:  # a bug: report it for this file
        return {"error": f"internal error, please report it: {type(exc).__name__}: {exc}"}


def _check(src: str, settings: CheckSettings) -> dict:
    import numpy as np

    from maskcli import convert, masks
    from maskcli.tasks import mask_colors, swapped_hint

    if settings.encoding is not None:
        return _check_encoded(src, settings)
    mask = masks.read_mask(src, settings.channel_order)
    found = {"size": [int(mask.shape[1]), int(mask.shape[0])], "mode": mask.mode}
    if mask.transparent is not None:
        raise MaskError(f"has {int(mask.transparent.sum())} fully transparent px (to-index needs --alpha ignore)")
    palette = settings.palette
    indices = settings.indices if settings.indices is not None else mask.kind == "index"
    if indices or palette is None:
        if mask.kind == "color":
            raise MaskError(f"is {mask.a_mode} color image, not an index mask")
        values, counts = convert.value_counts(mask.array)
        if palette is None:
            found["values"] = {int(v): int(n) for v, n in zip(values, counts)}
            return found
        known = {c.id for c in palette.classes} | {palette.ignore_index}
        good = np.isin(values, list(known))
        found["values"] = {int(v): int(n) for v, n in zip(values[good], counts[good])}
        found["unknown_values"] = [[int(v), int(n)] for v, n in zip(values[~good], counts[~good])]
        return found
    if mask.kind == "index":
        raise MaskError(f"is {mask.a_mode} image, so it looks like an index mask (use --indices)")
    colors, counts = mask_colors(mask)
    values, known = convert.lookup_colors(colors, palette)
    per_value = Counter()
    for v, n in zip(values[known].tolist(), counts[known].tolist()):
        per_value[v] += n
    found["values"] = dict(per_value)
    order = np.argsort(-counts[~known], kind="stable")
    found["unknown_colors"] = [[list(map(int, c)), int(n)] for c, n in zip(colors[~known][order], counts[~known][order])]
    hint = swapped_hint(mask, palette, settings.channel_order, colors=(colors[~known], counts[~known]))
    if hint:
        found["hint"] = hint
    return found


def _check_encoded(src: str, settings: CheckSettings) -> dict:
    """check --encoding: the decoded values' pixel counts; with a palette, those it does not know."""
    import os

    import numpy as np

    from maskcli import convert, encodings, masks

    raw = masks.read_raw(src)
    found = {"size": [int(raw.shape[1]), int(raw.shape[0])], "mode": raw.mode}
    palette = settings.palette
    values = encodings.decode(settings.encoding, raw.data, os.path.basename(src),
                              None if palette is None else palette.ignore_index)
    found_values, counts = convert.value_counts(values)
    good = np.ones(len(found_values), dtype=bool)
    if palette is not None:
        good = np.isin(found_values, [c.id for c in palette.classes] + [palette.ignore_index])
        found["unknown_values"] = [[int(v), int(n)] for v, n in zip(found_values[~good], counts[~good])]
    found["values"] = {int(v): int(n) for v, n in zip(found_values[good], counts[good])}
    return found


def describe_unknown(found: dict, verbose: bool = False) -> str | None:
    """The one-line problem of a file, or None: the first unknown colors (or values) and how
    many more there are; every one with ``verbose``."""
    if found.get("unknown_colors"):
        items = found["unknown_colors"]
        px = sum(n for _, n in items)
        shown = listing([f"({c[0]}, {c[1]}, {c[2]}) {n} px" for c, n in items[:LISTED]], len(items), "; ", verbose)
        hint = f" ({found['hint']})" if found.get("hint") else ""
        return f"{len(items)} unknown color(s) on {px} px: {shown}{hint}"
    if found.get("unknown_values"):
        items = sorted(found["unknown_values"], key=lambda e: (-e[1], e[0]))  # most pixels first
        shown = listing([f"{v} ({n} px)" for v, n in items[:LISTED]], len(items), ", ", verbose)
        return f"{len(items)} value(s) not in the palette: {shown}"
    return None


KEPT_PER_SIZE = 1000  # file names check keeps for each image size (to name files of odd sizes)...
KEPT_NAMES = 20_000  # ...and in all


class Totals:
    """What check adds up over the files: per-value pixels and files, sizes, modes."""

    def __init__(self):
        self.pixels = Counter()
        self.files = Counter()
        self.sizes = Counter()
        self.modes = Counter()
        self.by_size: dict[tuple[int, int], list[str]] = {}  # the first files of each size
        self._kept = 0

    def add(self, src: str, found: dict) -> None:
        size = tuple(found["size"])
        self.sizes[size] += 1
        self.modes[found["mode"]] += 1
        first = self.by_size.setdefault(size, [])
        if len(first) < KEPT_PER_SIZE and self._kept < KEPT_NAMES:  # bounded: millions of files hold counts
            first.append(src)
            self._kept += 1
        for value, n in found.get("values", {}).items():
            self.pixels[value] += n
            self.files[value] += 1

    def odd_sizes(self) -> tuple[list[tuple[str, tuple[int, int]]], int]:
        """The files whose size differs from the most common one (the first
        :data:`KEPT_PER_SIZE` of each size), and how many such files there are."""
        if len(self.sizes) < 2:
            return [], 0
        common = self.sizes.most_common(1)[0][0]
        odd = [(src, size) for size, first in self.by_size.items() if size != common for src in first]
        return odd, sum(n for size, n in self.sizes.items() if size != common)


def table(totals: Totals, palette: Palette | None) -> str:
    """Per-value pixel totals and file counts as a text table (the table check prints).

    '% of px' is each value's share of the pixels column's total: every pixel counted, that
    is every pixel of the files read except those of unknown colors or values."""
    names = {}
    if palette is not None:
        names = {c.id: c.name for c in palette.classes}
        names[palette.ignore_index] = "(ignore)"
    all_px = sum(totals.pixels.values()) or 1
    width = max([4] + [len(n) for n in names.values()])
    lines = [f"{'id':>6}  {'name':<{width}}  {'pixels':>14}  {'% of px':>7}  {'files':>7}"]
    for value in sorted(totals.pixels):
        px = totals.pixels[value]
        lines.append(
            f"{value:>6}  {names.get(value, ''):<{width}}  {px:>14}  {100 * px / all_px:>7.3f}  {totals.files[value]:>7}"
        )
    return "\n".join(lines)


def _first(items: list[str], verbose: bool, n: int = 5) -> str:
    """The first ``n`` items (all with ``verbose``) and how many more there are."""
    shown = items if verbose else items[:n]
    more = f", and {len(items) - n} more (-v lists all)" if len(items) > len(shown) else ""
    return ", ".join(shown) + more


def _is_stdout(path: str | None) -> bool:
    """``--report`` goes to stdout: '-', /dev/stdout, /dev/fd/1, or the very file stdout is."""
    import os
    import sys

    if path is None:
        return False
    if path == "-":
        return True
    try:
        here, there = os.stat(path), os.fstat(sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # io.UnsupportedOperation: no real stdout (tests)
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


def run(files, settings: CheckSettings, jobs: int, on_result, scheduler=None) -> None:
    runner.run(check_file, files, args=(settings,), jobs=jobs, on_result=on_result,
               lost_result={"error": runner.LOST}, scheduler=scheduler)


class _Walk:
    """check's inputs found while files are checked: items for runner.run (problems as
    decided results), with counts and the skipped files kept for the summary; a --report
    that is one of the inputs is found on the way (:attr:`usage`), before it is written."""

    def __init__(self, inputs, selection, written):
        self.inputs, self.selection = inputs, selection
        self.found = 0
        self.total = None  # once the walk is over
        self.lossy = 0
        self.complete = False
        self.skipped: list = []
        self.usage = None
        self._written = [(what, path, os.path.realpath(path)) for what, path in written]

    def items(self, progress):
        import itertools

        from maskcli.plan import LOOKAHEAD
        from maskcli.walk import stream_inputs

        folder = real_folder = None
        source = stream_inputs(self.inputs, self.selection)
        head = list(itertools.islice(source, LOOKAHEAD))  # a small run knows its total at once
        if len(head) < LOOKAHEAD:
            self.complete = True
            self.total = sum(1 for kind, *_ in head if kind != "skipped")
            progress.set_total(self.total)
        for kind, path, *reason in itertools.chain(head, source):
            if kind == "skipped":
                self.skipped.append((path, reason[0]))
                continue
            self.found += 1
            if kind == "problem":
                yield runner.Ready(path, {"error": reason[0]})
                continue
            if self._written:
                here, name = os.path.split(os.path.abspath(path))
                if here != folder:
                    folder, real_folder = here, os.path.realpath(here)
                real = os.path.realpath(path) if os.path.islink(path) else os.path.join(real_folder, name)
                for what, reserved, real_reserved in self._written:
                    if real == real_reserved:
                        from maskcli.errors import UsageError
                        from maskcli.plan import _through_link

                        self.usage = UsageError(f"{what} {reserved} is an input of this run"
                                                f"{_through_link(reserved, path)}; choose another name")
                        return
            if path.lower().endswith(LOSSY):
                self.lossy += 1
            progress.found(self.found)
            yield path
        if not self.complete:
            self.complete = True
            self.total = self.found
            progress.set_total(self.found)


def check_tree(inputs, settings: CheckSettings, run_options, strict: bool = False, pictures=None) -> int:
    """Check every mask under ``inputs``; print the class table on stdout; return the exit status.
    ``pictures`` (visualize.CheckPictures): also draw the class chart and/or the HTML report."""
    import sys

    from maskcli import __version__
    from maskcli.walk import can_stream, find_mask_files, read_file_list
    from maskcli.report import EXIT_FAILED, EXIT_OK, Spool, shown, write_json

    problems: list = []
    skipped: list = []
    files: list = []
    interrupted = None
    stream = None  # a walk that goes on while files are checked (see docs/scale.md)
    written = [("--report", run_options.report)]
    if pictures:
        written += [("--plot", pictures.plot), ("--html", pictures.html)]
    written = [(what, path) for what, path in written if path not in (None, "-")]
    try:
        with runner.interruptible():  # listing may take long and leaves nothing behind
            inputs = list(inputs) + (read_file_list(run_options.files_from) if run_options.files_from else [])
            if not pictures and inputs and can_stream(inputs):
                stream = _Walk(inputs, run_options.selection, written)
            elif inputs or not run_options.files_from:
                files = find_mask_files(inputs, run_options.selection, problems=problems, skipped=skipped)
    except runner.Interrupted as stop:
        interrupted = stop
    for what, path in written:
        if stream is None:
            from maskcli.plan import check_reserved

            check_reserved(path, [(f, f) for f in files], what)
        if pictures and pictures.photos is not None:
            from maskcli.plan import check_outside

            check_outside(path, pictures.photos.images, what, "one of the --images photos")
    progress = runner.Progress(None if stream else len(files), "check", enabled=not run_options.quiet and not interrupted)
    lossy = []
    say = progress.write
    totals = Totals()
    failed = 0
    checked = 0  # files whose outcome came back (all of them, unless interrupted)
    warnings = 0
    # the per-file entries of the report (and of --html) wait on disk, not in memory; nothing is
    # left of them however the run ends (see report.Spool)
    kept = Spool(run_options.report) if run_options.report or pictures else None

    def on_result(src, found):
        nonlocal failed, checked
        checked += 1
        progress.update()
        if not lossy and src.lower().endswith(LOSSY):
            lossy.append(src)
        problem = found.get("error") or describe_unknown(found, run_options.verbose)
        if problem:
            failed += 1
            say(f"error: {shown(src)}: {problem}")
        if "size" in found:
            totals.add(src, found)
        if kept is not None:
            detail = found.get("error") or describe_unknown(found, verbose=True)  # every color
            kept.add({"input": src, "status": "failed" if problem else "ok", "error": detail,
                      **{k: v for k, v in found.items() if k != "error"}})

    for path, reason in problems:
        on_result(path, {"error": reason})
    total = len(files) + len(problems)
    lossy_count = sum(1 for f in files if f.lower().endswith(LOSSY))
    if interrupted is None:
        try:
            run(stream.items(progress) if stream else files, settings, run_options.jobs, on_result, run_options.scheduler)
        except runner.Interrupted as stop:
            interrupted = stop
    interrupted = runner.settle() or interrupted  # also a signal that came after the last file
    progress.close()
    if stream is not None:
        if stream.usage is not None and not interrupted:
            raise stream.usage  # the run wrote nothing yet: the report, chart and page come last
        if stream.complete and not stream.found:
            find_mask_files(inputs, run_options.selection)  # nothing found: its usage error says so
        total = stream.total if stream.complete else stream.found
        skipped, lossy_count = stream.skipped, stream.lossy
    notes = [f"{shown(path)}: skipped: {reason}" for path, reason in skipped]
    odd, odd_count = totals.odd_sizes()
    if odd:
        common = totals.sizes.most_common(1)[0][0]
        odd_files = _first([f"{shown(src)} ({w}x{h})" for src, (w, h) in odd], run_options.verbose)
        unlisted = odd_count - len(odd)
        if unlisted:
            odd_files += f" (and {unlisted} more not named: check keeps {KEPT_PER_SIZE} names a size, {KEPT_NAMES} in all)"
        notes.append(f"{odd_count} file(s) differ from the most common size {common[0]}x{common[1]}: {odd_files}")
    if lossy_count:
        first = lossy[0] if lossy else next(f for f in files if f.lower().endswith(LOSSY))
        notes.append(f"{lossy_count} file(s) are in a lossy format (first: {shown(first)}); colors near edges are probably off")
    for note in notes:
        warnings += 1
        if strict:
            say(f"error: {note}")
        elif not run_options.quiet:
            say(f"warning: {note}")
    picture_on_stdout = bool(pictures and "-" in (pictures.plot, pictures.html))  # stdout carries the picture
    if not _is_stdout(run_options.report) and not picture_on_stdout:  # data: printed with -q too
        sys.stdout.write(table(totals, settings.palette) + "\n")
        sys.stdout.flush()  # before the summary on stderr, as a terminal shows them
    if not run_options.quiet:
        modes = ", ".join(f"{mode}: {n}" for mode, n in sorted(totals.modes.items()))
        sizes = _first([f"{w}x{h}: {n}" for (w, h), n in totals.sizes.most_common()], run_options.verbose)
        say(f"modes: {modes or 'none'}; sizes: {sizes or 'none'}")
        of = f"{total} files" if stream is None or stream.complete else f"the {total} files found so far"
        stopped = f"interrupted by {interrupted} after {checked} of {of}; " if interrupted else ""
        say(f"check: {stopped}{checked - failed} ok, {failed} failed, {warnings} warning(s)")
    if run_options.report or pictures:
        names = {c.id: c.name for c in settings.palette.classes} if settings.palette else {}
        header = {
            "schema": 1, "maskcli": __version__, "command": "check", "options": run_options.recorded,
            "interrupted": str(interrupted) if interrupted else None,
            "total": total, "checked": checked, "passed": checked - failed, "failed": failed, "warnings": notes,
            "classes": [{"id": v, "name": names.get(v), "pixels": totals.pixels[v], "files": totals.files[v]}
                        for v in sorted(totals.pixels)],
            "sizes": [{"width": w, "height": h, "files": n} for (w, h), n in totals.sizes.most_common()],
        }
        data = {**header, "files": kept}  # the entries are read back from disk, one at a time
    if pictures and not interrupted:
        from maskcli import visualize

        try:
            failed += visualize.write_pictures(pictures, data, settings.palette, run_options, settings, say)
        except runner.Interrupted as stop:
            interrupted = stop
    if run_options.report:
        error = write_json(run_options.report, header, kept)
        if error is not None:
            say(f"error: {shown(run_options.report)}: cannot write the report: {error}")
            failed += 1
    if kept is not None:
        kept.close()
    if interrupted:
        return interrupted.exit_code
    return EXIT_FAILED if failed or (strict and warnings) else EXIT_OK
