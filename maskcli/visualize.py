"""Pictures of a dataset: the per-file thumbnail worker, `maskcli sheet`, and the chart and
HTML report `maskcli check --plot/--html` write.

Reading and the pool happen here (through runner.py); drawing is in sheet.py, chart.py and
html_report.py, which take arrays and numbers.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from maskcli import runner
from maskcli.palette import Palette

PLOT_EXTRA = "pip install 'maskcli[plot]'"


@dataclass(frozen=True)
class ThumbSettings:
    size: int
    palette: Palette | None
    channel_order: str = "rgb"
    alpha: float = 0.5  # overlays on photos (--images)
    encoding: object = None  # an encodings.Encoding (check --encoding): thumbnails of the decoded class ids


@dataclass(frozen=True)
class Photos:
    """--images and --pair: where each mask's photo is (see pairing.py)."""

    images: str
    rules: tuple = ()


def thumbnail_file(job, settings: ThumbSettings) -> dict:
    """One file's thumbnail (an RGB uint8 array) and size. ``job``: a path, or (path, unknown
    colors (packed keys) or values, photo) where the photo is (path, None), (None, why there is
    none) or None; then also where the unknown pixels are ("marks") and the mask over its photo
    ("overlay", or "photo_error"). Per-file problems become {"error": ...}."""
    from maskcli.errors import MaskError

    src, unknown, photo = job if isinstance(job, tuple) else (job, (), None)
    try:
        return _thumbnail(src, unknown, photo, settings)
    except MaskError as exc:
        return {"error": str(exc)}
    except Exception as exc:  # a bug: report it for this file
        return {"error": f"internal error, please report it: {type(exc).__name__}: {exc}"}


def _thumbnail(src: str, unknown, photo, settings: ThumbSettings) -> dict:
    import numpy as np

    from maskcli import masks, sheet
    from maskcli.errors import MaskError

    if settings.encoding is not None:
        from maskcli import encodings

        raw = masks.read_raw(src)
        ignore = None if settings.palette is None else settings.palette.ignore_index
        values = encodings.decode(settings.encoding, raw.data, os.path.basename(src), ignore)
        mask = masks.Mask("index", values, raw.mode)  # the decoded class ids, drawn as an index mask
    else:
        mask = masks.read_mask(src, settings.channel_order)
    out = {"thumb": sheet.mask_thumbnail(mask, settings.size, settings.palette),
           "size": [int(mask.shape[1]), int(mask.shape[0])]}
    if photo is not None:  # (path, None) or (None, why there is none)
        try:
            if photo[0] is None:
                raise MaskError(photo[1])
            from maskcli.overlay_run import read_photo

            image = read_photo(photo[0], expect=tuple(out["size"]))[..., ::-1]  # BGR -> RGB
            labeled = sheet.labeled_pixels(mask, out["thumb"], settings.size, settings.palette)
            out["overlay"] = sheet.overlay_thumbnail(image, out["thumb"], labeled, settings.alpha)
        except MaskError as exc:
            out["photo_error"] = str(exc)
    if unknown:
        if mask.kind == "color":
            where = np.isin(mask.keys(), np.array(unknown, np.uint32))
        else:
            where = np.isin(mask.array, np.array(unknown))
        out["marks"] = sheet.unknown_marks(where, settings.size)
    return out


def run_thumbnails(jobs_list, settings: ThumbSettings, jobs: int, progress=None) -> dict:
    """Thumbnails of many files through the pool: {src: result}."""
    results = {}

    def on_result(job, result):
        if progress is not None:
            progress.update()
        results[job[0] if isinstance(job, tuple) else job] = result

    runner.run(thumbnail_file, jobs_list, args=(settings,), jobs=jobs, on_result=on_result,
               lost_result={"error": runner.LOST})
    return results


def pair_photos(files, inputs, run_options, photos: Photos) -> dict:
    """{mask: (photo path, None) or (None, why there is none)}, by the pairing rule of
    `maskcli overlay` (relative path below the input folder, stem rewritten by --pair)."""
    from maskcli import storage
    from maskcli.errors import UsageError
    from maskcli.pairing import Photos as Finder
    from maskcli.pairing import is_one_photo
    from maskcli.plan import _inside, _relative, common_root

    if is_one_photo(photos.images):
        if len(files) != 1:
            raise UsageError(f"--images {photos.images} is a file: it pairs with exactly one mask, not {len(files)}")
        return {files[0]: (photos.images, None)}
    inputs = [storage.local_path(i) for i in inputs]
    folders = [i for i in inputs if (storage.is_dir(i) if storage.is_remote(i) else os.path.isdir(i))]
    root = common_root(folders) if folders else None
    finder = Finder(photos.images, photos.rules)
    # relative to the input folder(s), as overlay pairs them; a mask named directly by its name
    return {src: finder.find(_relative(src, root) if root and _inside(src, root) else _name(src), src)
            for src in files}


def _name(path: str) -> str:
    from maskcli import storage

    return path.rstrip("/").rsplit("/", 1)[-1] if storage.is_remote(path) else os.path.basename(path)


def find_files(inputs, run_options, problems: list, skipped: list) -> list[str]:
    from maskcli.walk import find_mask_files, read_file_list

    inputs = list(inputs) + (read_file_list(run_options.files_from) if run_options.files_from else [])
    if inputs or not run_options.files_from:
        return find_mask_files(inputs, run_options.selection, problems=problems, skipped=skipped)
    return []


# --------------------------------------------------------------------------- sheet


@dataclass(frozen=True)
class SheetOptions:
    output: str
    max_files: int = 64
    columns: int = 8
    size: int = 256
    sample: str = "random"
    seed: int = 0
    photos: Photos | None = None  # --images: overlays instead of masks
    alpha: float = 0.5


def badness(found: dict) -> tuple:
    """How bad a check result is, for --sample worst: unreadable first, then the number of
    unknown colors or values, then their pixels."""
    if "error" in found:
        return (1, 0, 0)
    items = found.get("unknown_colors") or found.get("unknown_values") or []
    return (0, len(items), sum(n for _, n in items))


def _note(found: dict) -> str:
    if found.get("unknown_colors"):
        n = len(found["unknown_colors"])
        return f"{n} unknown color{'s' if n > 1 else ''}"
    if found.get("unknown_values"):
        n = len(found["unknown_values"])
        return f"{n} unknown value{'s' if n > 1 else ''}"
    return ""


def make_sheet(inputs, palette: Palette | None, options: SheetOptions, run_options, channel_order: str = "rgb",
               encoding=None) -> int:
    """`maskcli sheet`: choose the files, thumbnail them in the pool, draw and write the sheet.
    Returns the exit status (1 when some file could not be read; the sheet is written anyway).
    ``encoding`` (an encodings.Encoding, --encoding): the inputs are encoded label images,
    drawn as the index masks of their decoded class ids."""
    from maskcli import sheet
    from maskcli.errors import UsageError
    from maskcli.pairing import is_one_photo
    from maskcli.report import EXIT_FAILED, EXIT_OK

    problems: list = []
    skipped: list = []
    with runner.interruptible():  # listing may take long and leaves nothing behind
        files = find_files(inputs, run_options, problems, skipped)
    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    for path, reason in skipped:
        if not run_options.quiet:
            say(f"warning: {path}: skipped: {reason}")
    if not files and not problems:
        raise UsageError("no mask files found in the inputs")
    _check_sheet_size(min(options.max_files, len(files)), options)
    if options.photos is not None and is_one_photo(options.photos.images) and len(files) != 1:
        raise UsageError(f"--images {options.photos.images} is a file: it pairs with exactly one mask, not {len(files)}")
    if options.output != "-":
        from maskcli.plan import check_reserved

        check_reserved(options.output, [(f, f) for f in files], "-o")
        if options.photos is not None:
            from maskcli.plan import check_outside

            check_outside(options.output, options.photos.images, "-o", "one of the --images photos")
    failed = 0
    for path, reason in problems:
        failed += 1
        say(f"error: {path}: {reason}")
    # A signal stops these runs between files (runner.Interrupted reaches the command line,
    # which says so and exits 128 + its number); the sheet is then not written.
    checked = _check_all(files, palette, channel_order, run_options, encoding) if options.sample == "worst" else {}
    chosen = sheet.choose(files, options.sample, options.max_files, options.seed,
                          {src: badness(found) for src, found in checked.items()})
    jobs = chosen
    if options.photos is not None:
        paired = pair_photos(chosen, inputs, run_options, options.photos)
        jobs = [(src, (), paired[src]) for src in chosen]
    progress = runner.Progress(len(chosen), "sheet", enabled=not run_options.quiet)
    try:
        thumbs = run_thumbnails(jobs, ThumbSettings(options.size, palette, channel_order, options.alpha, encoding),
                                run_options.jobs, progress)
    finally:
        progress.close()
    stop = runner.settle()  # from here on signals change nothing: the sheet is written whole
    if stop is not None:
        raise stop
    tiles = []
    for src in chosen:
        result = thumbs[src]
        if "error" in result:
            failed += 1
            say(f"error: {src}: {result['error']}")
            tiles.append(sheet.Tile(None, os.path.basename(src), "cannot read"))
        elif "photo_error" in result:
            failed += 1
            say(f"error: {src}: {result['photo_error']}")
            tiles.append(sheet.Tile(result["thumb"], os.path.basename(src), "no overlay: " + result["photo_error"]))
        else:
            tiles.append(sheet.Tile(result.get("overlay", result["thumb"]), os.path.basename(src),
                                    _note(checked.get(src, {}))))
    how = {"first": "the first in path order", "random": f"a random sample (seed {options.seed})",
           "worst": "the most unknown colors or values first"}[options.sample]
    title = f"{len(chosen)} of {len(files)} masks, {how}"
    if len(chosen) == len(files):
        title = f"{len(files)} masks" + (f", {how}" if options.sample == "worst" else "")
    if encoding is not None:
        title += f", {encoding.name} decoded"
    if options.photos is not None:
        title += f"; over their photos (alpha {options.alpha:g})"
    data = sheet.png_bytes(sheet.layout(tiles, options.columns, options.size, title))
    if not _write_output(options.output, data, say):
        return EXIT_FAILED
    if not run_options.quiet:
        say(f"sheet: {len(chosen)} of {len(files)} file(s) drawn to {options.output}"
            + (f", {failed} with errors" if failed else ""))
    return EXIT_FAILED if failed else EXIT_OK


def _check_all(files, palette, channel_order, run_options, encoding=None) -> dict:
    """check's findings for every file (for --sample worst), through the pool."""
    from maskcli import check

    checked = {}
    settings = check.CheckSettings(palette, indices=None, channel_order=channel_order, encoding=encoding)
    progress = runner.Progress(len(files), "check", enabled=not run_options.quiet)

    def on_result(src, found):
        progress.update()
        checked[src] = found

    try:
        check.run(files, settings, run_options.jobs, on_result)
    finally:
        progress.close()
    return checked


def _check_sheet_size(count: int, options: SheetOptions) -> None:
    """Stop before any work when the sheet would be larger than maskcli reads (MASKCLI_MAX_PIXELS)."""
    from maskcli.errors import UsageError
    from maskcli.masks import max_pixels

    columns = max(1, min(options.columns, count))
    rows = -(-count // columns)
    width, height = columns * (options.size + 12), rows * (options.size + 50)
    if width * height > max_pixels():
        raise UsageError(f"a sheet of {count} thumbnails of {options.size} px in {columns} columns would be about "
                         f"{width}x{height} px, more than MASKCLI_MAX_PIXELS ({max_pixels()}): "
                         "lower --max or --size")


def _write_output(path: str, data: bytes, say) -> bool:
    from maskcli.masks import write_named_file

    if path == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return True
    try:
        write_named_file(path, data)
    except OSError as exc:
        say(f"error: {path}: cannot write: {exc.strerror or exc}")
        return False
    return True


# --------------------------------------------------------------------------- check --plot / --html


@dataclass(frozen=True)
class CheckPictures:
    """What `check` draws besides its table: --plot FILE, --html FILE, the chart's scale."""

    plot: str | None = None
    html: str | None = None
    scale: str = "linear"
    photos: Photos | None = None  # --images: overlays in the HTML report
    alpha: float = 0.5

    def __bool__(self) -> bool:
        return bool(self.plot or self.html)


def have_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def class_rows(data: dict, palette: Palette | None) -> list[dict]:
    """The chart's and the HTML table's rows: every class of the palette (found or not) and every
    value found, by id, with name, color, pixels, files and share."""
    from maskcli import sheet

    found = {c["id"]: c for c in data["classes"]}
    total = sum(c["pixels"] for c in data["classes"]) or 1
    rows = {}
    if palette is not None:
        for c in palette.classes:
            rows.setdefault(c.id, {"id": c.id, "name": c.name, "color": tuple(c.color)})
        rows.setdefault(palette.ignore_index,
                        {"id": palette.ignore_index, "name": "(ignore)", "color": tuple(palette.ignore_color),
                         "ignore": True})
    fallback = None
    for value in found:
        if value not in rows:
            if fallback is None:
                fallback = sheet.fallback_colors()
            rows[value] = {"id": value, "name": "", "color": tuple(int(v) for v in fallback[value])}
    out = []
    for value in sorted(rows):
        row = dict(rows[value])
        row["pixels"] = found.get(value, {}).get("pixels", 0)
        row["files"] = found.get(value, {}).get("files", 0)
        row["share"] = 100 * row["pixels"] / total
        out.append(row)
    if palette is not None and not any(r["pixels"] for r in out if r.get("ignore")):
        out = [r for r in out if not r.get("ignore")]  # an ignore entry nobody uses is noise
    return out


def write_pictures(pictures: CheckPictures, data: dict, palette: Palette | None, run_options, settings,
                   say) -> int:
    """Write check's --plot and --html from the run's data (the JSON report's dict). Returns
    the number of outputs that could not be written."""
    from maskcli import chart

    rows = class_rows(data, palette)
    failed = 0
    chart_png = None
    if pictures.plot or (pictures.html and have_matplotlib()):
        title = f"{data['total']} mask(s)" + (f", palette {_palette_name(palette)}" if palette else "")
        chart_png = chart.class_chart(rows, scale=pictures.scale, title=title)
    if pictures.plot and not _write_output(pictures.plot, chart_png, say):
        failed += 1
    if pictures.html:
        page = _html(data, rows, chart_png, palette, run_options, settings, pictures)
        if not _write_output(pictures.html, page.encode("utf-8"), say):
            failed += 1
    return failed


def _palette_name(palette: Palette | None) -> str:
    if palette is None:
        return "embedded"
    return palette.path or palette.name


def _html(data, rows, chart_png, palette, run_options, settings, pictures) -> str:
    from maskcli import html_report, sheet

    listed, n_bad, chosen = _pick_files(data["files"], html_report.MAX_PROBLEMS, html_report.SAMPLE_SIZE)
    inputs = data["options"].get("inputs") or []
    paired = {}
    if pictures.photos is not None:
        paired = pair_photos([f["input"] for f in listed] + chosen, inputs, run_options, pictures.photos)
    jobs = []
    for f in listed:
        keys = [c[0] | c[1] << 8 | c[2] << 16 for c, _ in f.get("unknown_colors") or []]
        keys += [v for v, _ in f.get("unknown_values") or []]
        jobs.append((f["input"], tuple(keys), paired.get(f["input"])))
    thumbs_settings = ThumbSettings(html_report.THUMB_SIZE, palette, settings.channel_order, pictures.alpha,
                                    settings.encoding)
    problem_thumbs = run_thumbnails(jobs, thumbs_settings, run_options.jobs) if jobs else {}
    sample = run_thumbnails([(s, (), paired.get(s)) for s in chosen],
                            ThumbSettings(html_report.SAMPLE_THUMB, palette, settings.channel_order, pictures.alpha,
                                          settings.encoding),
                            run_options.jobs)
    tiles = []
    for s in chosen:
        t = sample[s]
        shown_image = t.get("overlay", t.get("thumb"))
        tiles.append((s, sheet.png_bytes(_pil(shown_image)) if shown_image is not None else None))
    shown = []
    for f in listed:
        t = problem_thumbs.get(f["input"], {})
        images = []
        if "thumb" in t:
            images.append(("mask", sheet.png_bytes(_pil(t["thumb"]))))
            if t.get("marks") is not None and t["marks"].any():
                images.append(("unknown pixels", sheet.png_bytes(_pil(sheet.problem_view(t["thumb"], t["marks"])))))
            if "overlay" in t:
                images.append(("over its photo", sheet.png_bytes(_pil(t["overlay"]))))
        if t.get("photo_error"):
            f = {**f, "photo_error": t["photo_error"]}
        shown.append({**f, "images": images})
    return html_report.render(data, rows, chart_png, shown, n_bad - len(listed), tiles,
                              palette_name=_palette_name(palette), **_sample_note(pictures),
                              plot_note=None if chart_png else f"no chart: matplotlib is not installed ({PLOT_EXTRA})")


def _pick_files(files, max_problems: int, sample_size: int) -> tuple[list[dict], int, list[str]]:
    """From the report's file entries (a list, or a spool read back from disk, twice): the first
    ``max_problems`` failed entries, how many failed, and the seeded random sample of readable
    files (sheet.choose's, so the page is the same however the entries are held). Holds the
    listed entries and the sample, never every entry."""
    from maskcli import sheet

    listed, n_bad, n_readable = [], 0, 0
    for f in files:
        if f["status"] == "failed":
            n_bad += 1
            if len(listed) < max_problems:
                listed.append(f)
        if "size" in f:
            n_readable += 1
    picked = set(sheet.choose(range(n_readable), "random", sample_size, 0))  # which readable files, by number
    chosen, k = [], 0
    if picked:
        for f in files:
            if "size" in f:
                if k in picked:
                    chosen.append(f["input"])
                k += 1
    return listed, n_bad, chosen


def _sample_note(pictures: CheckPictures) -> dict:
    if pictures.photos is None:
        return {}
    return {"sample_note": f"Each mask over its photo (alpha {pictures.alpha:g}; ignore pixels show the photo); "
                           "a mask without a photo is shown alone."}


def _pil(array):
    from PIL import Image

    return Image.fromarray(array, "RGB")
