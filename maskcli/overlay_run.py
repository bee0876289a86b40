"""``maskcli overlay``: pair masks with photos, draw each overlay, write it, report.

The batch layer around the pure drawing in overlay.py: planning reuses plan.py (the output
path rule, --base, collisions), the work runs through runner.py, counts and exit status are
report.py's. Per-file problems (no photo, two photos, a photo of another size, unknown
colors) are outcomes of that file; the run goes on.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from functools import cached_property

from maskcli import runner
from maskcli.errors import MaskError, ReadError, UnknownColorsError, UsageError, WrongKindError
from maskcli.palette import Palette

OUTPUT_EXTENSIONS = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg"}


@dataclass(frozen=True)
class OverlaySettings:
    """What every overlay of a run is drawn with; sent to each worker once. Every field but
    ``verbose`` goes into the digest outputs record (provenance.py), so ``--update`` redraws
    an overlay whose options changed."""

    command: str  # "overlay"
    palette: Palette | None  # None: -p embedded
    alpha: float = 0.5
    show_ignore: bool = False
    outline: bool = False
    legend: bool = False
    only: tuple[int, ...] = ()  # class ids to draw (empty: all)
    format: str = "png"  # "png" | "jpeg"
    quality: int = 90  # JPEG quality
    channel_order: str = "rgb"
    verbose: bool = False

    def digest(self) -> str:
        from maskcli.provenance import digest

        return digest(self)

    @cached_property
    def record_bytes(self) -> bytes:
        """The PNG chunk or JPEG comment segment every output of this run carries."""
        from maskcli import provenance

        return provenance.jpeg_comment(self) if self.format == "jpeg" else provenance.chunk(self)


# --------------------------------------------------------------------------- one file


def read_photo(path: str, expect=None):
    """A photo as an (H, W, 3) uint8 BGR array, as stored (EXIF orientation is not applied:
    masks are drawn on the stored pixels). Gray photos become three equal channels, 16-bit
    ones 8-bit, alpha is dropped. ``path`` is a local path or a remote URL (s3://...). Raises
    ReadError naming the photo; with ``expect`` (width, height), a photo whose header says
    another size raises MaskError before decoding."""
    import cv2
    import numpy as np

    from maskcli import storage
    from maskcli.masks import max_pixels, read_regular_file

    try:
        local = storage.local_path(path)
        data = storage.read_bytes(local) if storage.is_remote(local) else read_regular_file(local)
    except ReadError as exc:
        raise ReadError(f"its photo {path}: {exc}") from None
    if expect is not None and data:  # a photo of another size is refused before it is decoded
        size = photo_size(data)
        if size is not None and size != tuple(expect):
            raise _size_error(*expect, path, *size)
    flags = cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), flags) if data else None
    except cv2.error:
        image = None
    if image is None:
        raise ReadError(f"its photo {path}: cannot decode it as an image")
    if image.shape[0] * image.shape[1] > max_pixels():
        raise ReadError(f"its photo {path}: more than {max_pixels()} pixels (set MASKCLI_MAX_PIXELS to allow it)")
    return image


def classes_of(mask, settings: OverlaySettings):
    """A decoded mask -> (index (H, W), colors (H, W, 3) BGR, ignore value, PLTE or None).

    Index masks are colored through the palette; color masks keep their own colors after
    every color is checked against the palette (as to-index does); -p embedded reads a
    palettized file's stored indices and PLTE colors (255 is the ignore value)."""
    import cv2

    from maskcli import convert, tasks

    palette = settings.palette
    if palette is None:
        if mask.kind != "palettized":
            raise WrongKindError(f"is {mask.a_mode} image and has no embedded palette (-p embedded)")
        index = mask.array.copy()
        if mask.transparent is not None:
            index[mask.transparent] = 255
        return index, _through_plte(mask.array, mask.colors), 255, mask.colors
    policy = convert.UnknownPolicy("error")
    try:
        if mask.kind == "color":
            decoded = convert.decode_rows(mask.keys, mask.shape, palette, policy, mask.transparent)
            colors = mask.data if mask.channels == "bgr" else cv2.cvtColor(mask.array, cv2.COLOR_RGB2BGR)
            return decoded.index, colors, palette.ignore_index, None
        if mask.kind == "palettized":
            decoded = convert.decode_palettized(mask.array, mask.colors, palette, policy, mask.transparent)
            return decoded.index, _through_plte(mask.array, mask.colors), palette.ignore_index, None
    except UnknownColorsError as exc:
        hint = tasks.swapped_hint(mask, palette, settings.channel_order, mask.transparent)
        raise (exc.with_hint(hint) if hint else exc) from None
    index = mask.array
    return index, convert.colorize(index, palette, order="bgr"), palette.ignore_index, None


def _through_plte(stored, plte):
    import cv2
    import numpy as np

    lut = np.zeros((256, 1, 3), np.uint8)
    lut[: len(plte), 0] = np.asarray(plte, np.uint8)[:256, ::-1]
    return cv2.applyColorMap(stored, lut)


def _selected(index, ids):
    import numpy as np

    table = np.zeros(65536 if index.dtype == np.uint16 else 256, dtype=bool)
    table[[i for i in ids if i < table.size]] = True
    return table[index]


def legend_entries(index, drawn, settings: OverlaySettings, plte=None):
    """(id, name, (r, g, b)) of the classes drawn on this image, by id; ``drawn(value)`` says
    whether pixels of a value are drawn (labeled, and selected by --only)."""
    import numpy as np

    values = np.flatnonzero(np.bincount(index.reshape(-1)))
    palette = settings.palette
    entries = []
    for value in values.tolist():
        if not drawn(value):
            continue
        if palette is None:
            color = tuple(plte[value]) if value < len(plte) else (0, 0, 0)
            entries.append((value, "ignore" if value == 255 else f"index {value}", color))
            continue
        cls = next((c for c in palette.classes if c.id == value), None)
        if cls is not None:
            entries.append((value, cls.name, cls.color))
        elif value == palette.ignore_index:
            entries.append((value, "ignore", palette.ignore_color))
    return entries


def render(mask, photo, settings: OverlaySettings, classes=None, in_place: bool = False):
    """The overlay of a decoded mask on its photo ((H, W, 3) BGR), as a BGR array.
    ``classes`` is ``classes_of(mask, settings)`` when the caller has it already; with
    ``in_place`` the photo's array is drawn on (and returned) instead of a copy."""
    import numpy as np

    from maskcli import overlay

    index, colors, ignore, plte = classes if classes is not None else classes_of(mask, settings)
    labeled = np.ones(index.shape, bool) if settings.show_ignore else index != ignore
    if settings.only:
        labeled &= _selected(index, settings.only)
    out = overlay.blend(photo, colors, labeled, settings.alpha, in_place=in_place)
    if settings.outline:
        overlay.draw_outline(out, colors, overlay.boundaries(index, labeled))
    if settings.legend:
        def drawn(value):
            return (settings.show_ignore or value != ignore) and (not settings.only or value in settings.only)

        strip = overlay.legend_strip(legend_entries(index, drawn, settings, plte), out.shape[0], order="bgr")
        out = overlay.beside(out, strip)
    return out


def encode(image, settings: OverlaySettings) -> bytes:
    """A BGR array as the output file's bytes, carrying the record of what made it."""
    import cv2

    from maskcli import provenance

    if settings.format == "jpeg":
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, settings.quality])
        return provenance.stamp_jpeg(buf.tobytes(), settings.record_bytes)
    ok, buf = cv2.imencode(".png", image)
    return provenance.stamp(buf.tobytes(), settings.record_bytes)


def photo_size(data: bytes):
    """(width, height) from a photo's header without decoding it, or None when Pillow does not
    know the format (OpenCV may still decode it)."""
    import io

    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as img:
            return img.size
    except Exception:
        return None


def overlay_file(src: str, photo_path: str, dst: str, settings: OverlaySettings, concurrent: bool = False) -> None:
    """Draw one overlay. With ``concurrent``, the photo is read and decoded in a second thread
    while this one decodes and checks the mask (OpenCV and libspng release the GIL): less wall
    time where a core is idle, more CPU time (docs/performance.md#overlays; the CLI does not
    use it). Either way a file's errors are the same and come in the same order: the mask's,
    then the photo's (or their sizes), then the mask's colors."""
    from maskcli import masks

    if concurrent:
        mask, photo, classes = _read_both(src, photo_path, settings)
    else:
        mask = masks.read_mask(src, settings.channel_order)
        height, width = mask.shape
        photo = read_photo(photo_path, expect=(width, height))
        classes = None
    height, width = mask.shape
    if photo.shape[:2] != (height, width):
        raise _size_error(width, height, photo_path, photo.shape[1], photo.shape[0])
    if isinstance(classes, BaseException):
        raise classes
    masks.atomic_write(dst, encode(render(mask, photo, settings, classes, in_place=True), settings))


def _read_both(src: str, photo_path: str, settings: OverlaySettings):
    """(mask, photo, classes_of(mask) or the MaskError it raised), the photo decoded in a
    second thread. The photo's size is compared with the mask's after decoding (the caller
    does it), since neither is known first."""
    from concurrent.futures import ThreadPoolExecutor

    from maskcli import masks

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="maskcli-photo") as pool:
        photo = pool.submit(read_photo, photo_path)
        mask = masks.read_mask(src, settings.channel_order)  # its error first (the pool waits)
        try:
            classes = classes_of(mask, settings)
        except MaskError as exc:  # after the photo's errors, as when run in turn
            classes = exc
        return mask, photo.result(), classes


def _size_error(width, height, photo_path, pw, ph) -> MaskError:
    return MaskError(f"is {width}x{height}, but its photo {photo_path} is {pw}x{ph}: "
                     "a mask and its photo must be the same size")


def safe_overlay(item, settings: OverlaySettings):
    """``(mask, output, photo)`` -> ``(error or None, None)``; never raises for one file."""
    from maskcli.tasks import guarded

    src, dst, photo = item
    return guarded(lambda: overlay_file(src, photo, dst, settings), dst, doing="drawing")


# --------------------------------------------------------------------------- the run


def resolve_only(names, palette: Palette | None) -> tuple[int, ...]:
    """--only values (class names or ids, comma-separated too) -> sorted class ids; an unknown
    one is a usage error."""
    wanted = [part.strip() for value in names for part in value.split(",") if part.strip()]
    ids, unknown = set(), []
    for item in wanted:
        if palette is not None:
            match = [c.id for c in palette.classes if c.name == item] or \
                [c.id for c in palette.classes if c.name.lower() == item.lower()]
            if match:
                ids.update(match)
                continue
        if item.isdigit() and (palette is None or any(c.id == int(item) for c in palette.classes)):
            ids.add(int(item))
            continue
        unknown.append(item)
    if unknown:
        where = "(-p embedded knows ids only)" if palette is None else f"in palette {palette.path or palette.name}"
        raise UsageError(f"--only: no class {', '.join(map(repr, unknown[:5]))} {where}")
    return tuple(sorted(ids))


def _plan(inputs, output, settings: OverlaySettings, run):
    """(the plan, its jobs as (mask, output) pairs). A single mask with -o NAME.png/.jpg/.jpeg
    writes exactly that file; a folder -o mirrors the inputs as every batch command does."""
    from maskcli.plan import Plan, check_collisions, make_plan
    from maskcli.walk import find_mask_files, read_file_list

    listed = read_file_list(run.files_from) if run.files_from else []
    if not inputs and not listed:
        raise UsageError("no inputs: give MASK... or --files-from")
    ext = os.path.splitext(output)[1]
    single = ext.lower() in OUTPUT_EXTENSIONS and not os.path.isdir(output)
    if single:
        everything = list(inputs) + list(listed)
        if len(everything) != 1 or os.path.isdir(everything[0]):
            what = "a folder" if len(everything) == 1 else f"{len(everything)} inputs"
            raise UsageError(f"-o {output}: a file name ending in {ext} takes exactly one mask file, not {what}; "
                             "give -o a folder (a name without an image extension, or an existing folder)")
        src = find_mask_files(everything, run.selection)[0]
        plan = Plan([(src, output)], os.path.dirname(os.path.abspath(src)))
    else:
        plan = make_plan(inputs, output, run.selection, run.rename, base=run.base, listed=listed)
    jobs = plan.jobs
    if settings.format == "jpeg" and not single:
        jobs = [(src, os.path.splitext(dst)[0] + ".jpg") for src, dst in jobs]
    check_collisions(jobs)
    return plan, jobs


def _pair(plan, jobs, images: str, rules):
    """Each (mask, output) job with its photo, or the reason it has none."""
    from maskcli.pairing import Photos, is_one_photo
    from maskcli.plan import _relative

    if is_one_photo(images):
        if len(jobs) != 1:
            raise UsageError(f"--images {images} is a file: it pairs with exactly one mask, not {len(jobs)}")
        return [(jobs[0][0], jobs[0][1], images, None)]
    photos = Photos(images, rules)
    paired = []
    for src, dst in jobs:
        photo, reason = photos.find(_relative(src, plan.root), src)
        paired.append((src, dst, photo, reason))
    return paired


def output_format(output: str, fmt: str | None) -> str:
    """The format of the outputs: -o NAME.png/.jpg/.jpeg decides for one file, else --format
    (default png). A conflict is a usage error."""
    ext = os.path.splitext(output)[1].lower()
    named = OUTPUT_EXTENSIONS.get(ext) if not os.path.isdir(output) else None
    if named and fmt and fmt != named:
        raise UsageError(f"-o {output} is a {named.upper()} name, but --format is {fmt}")
    return named or fmt or "png"


def overlay_tree(inputs, output: str, images: str, rules, settings: OverlaySettings, run) -> int:
    """Draw the overlay of every mask under ``inputs`` into ``output``; the exit status."""
    from maskcli import batch
    from maskcli.report import EXIT_OK, Report

    if "-" in inputs or output == "-":
        raise UsageError("overlay reads mask files and photos, not stdin, and writes files, not stdout")
    listing, interrupted = None, None
    try:
        with runner.interruptible():  # listing and pairing may take long and leave nothing behind
            listing = _list(list(inputs), output, images, rules, settings, run)
    except runner.Interrupted as stop:
        interrupted = stop
    if run.dry_run and interrupted:
        raise interrupted
    plan, total, todo, current, unpaired = listing or (None, 0, [], [], [])
    if run.dry_run:
        for src, dst, reason in unpaired:
            print(f"error: {src}: {reason}", file=sys.stderr)
        for src, dst in current:
            batch._print_path_line(f"{src}: up to date ({dst})")
        for src, dst, photo in todo:
            batch._print_path_line(f"{src} + {photo} -> {dst}")
        sys.stdout.flush()
        return EXIT_OK

    progress = runner.Progress(len(todo), "overlay", enabled=not run.quiet and not interrupted)
    report = Report("overlay", total, progress.write, run.quiet, run.verbose, report_to=run.report)
    if plan is not None:
        for path, reason in plan.problems:
            report.done(path, None, reason)
        for path, reason in plan.skipped:
            report.warn(f"{path}: skipped: {reason}")
    for src, dst, reason in unpaired:
        report.done(src, dst, reason)
    for src, dst in current:
        report.up_to_date(src, dst)

    return batch.run_and_finish(safe_overlay, todo, settings, run, report, progress, interrupted)


def _list(inputs, output, images, rules, settings: OverlaySettings, run):
    """(plan, number of masks, jobs to do as (mask, output, photo), jobs up to date as (mask,
    output), masks without a photo as (mask, output, reason))."""
    from maskcli.plan import check_collisions, check_reserved, is_up_to_date

    plan, jobs = _plan(inputs, output, settings, run)
    paired = _pair(plan, jobs, images, rules)
    check_collisions([(photo, dst) for _, dst, photo, _ in paired if photo])  # never write over a photo
    if run.report not in (None, "-"):
        check_reserved(run.report, jobs + [(p, p) for _, _, p, _ in paired if p], "--report")
    digest = settings.digest() if run.update else None
    todo, current, unpaired = [], [], []
    for src, dst, photo, reason in paired:
        if reason:
            unpaired.append((src, dst, reason))
        elif run.update and is_up_to_date(src, dst, digest) and _newer(dst, photo):
            current.append((src, dst))
        else:
            todo.append((src, dst, photo))
    return plan, len(paired), todo, current, unpaired


def _newer(dst: str, photo: str) -> bool:
    """The output is newer than its photo (a new photo redraws the overlay). Either may be
    remote; where a store keeps no modification times, the output's record alone decides (as
    for the mask, plan.is_up_to_date)."""
    from maskcli.pairing import modified

    try:
        out, into = modified(dst), modified(photo)
    except (OSError, MaskError):
        return False
    return out is None or into is None or out > into
