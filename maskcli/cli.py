"""The command line: one short function per command (parse, build settings, call, exit).

Only click and the standard library are imported at start-up; the commands import the parts
they need, so ``maskcli --help`` stays fast.
"""

from __future__ import annotations

import sys

import click

from maskcli import __version__
from maskcli.errors import MaskcliError, PaletteError, UsageError
from maskcli.options import (
    EMBEDDED,
    base_option,
    palette_loader,
    batch_options,
    build_encoding,
    channel_order_option,
    encoding_options,
    float_option,
    inputs_argument,
    instances_option,
    jobs_option,
    output_option,
    palette_option,
    renames_callback,
    quiet_option,
    report_option,
    scheduler_option,
    selection_options,
    stack,
    verbose_option,
)


class _UsageProblem(click.ClickException):
    exit_code = 2


class _Group(click.Group):
    """Turns maskcli's own exceptions into one-line errors: usage problems exit 2, others 1."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (UsageError, PaletteError) as exc:
            raise _UsageProblem(str(exc)) from None
        except MaskcliError as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="maskcli")
def cli():
    """Convert segmentation label masks between RGB colors and class indices.

    \b
    $ maskcli to-index masks/ -o labels/ -p cityscapes
    $ maskcli to-rgb predictions/ -o colored/ -p cityscapes
    $ maskcli extract-palette masks/ -o my-palette.yaml
    $ maskcli check masks/ -p my-palette.yaml
    $ maskcli remap labelIds/ -o trainIds/ --map cityscapes-trainids
    $ maskcli info trainIds/aachen_000000_000019.png
    $ maskcli overlay gtFine/ --images leftImg8bit/ -o overlays/ -p cityscapes --pair _gtFine_color:_leftImg8bit
    $ maskcli sheet masks/ -o sheet.png
    $ maskcli rasterize gtFine/ -o labelIds/ -p cityscapes-labelids --rename _polygons:_labelIds
    $ maskcli palettes

    Exit status: 0 all files converted, 1 some files failed, 2 usage error
    (bad option, palette or input; colliding outputs), 130/143 interrupted.
    """


def _interruptible(command):
    """For a command that is not a batch run (those stop between files, see runner): a signal
    stops it wherever it is, at once."""
    import functools

    @functools.wraps(command)
    def run(*args, **kwargs):
        from maskcli.runner import interruptible

        with interruptible():
            return command(*args, **kwargs)

    return run


def _recorded(params: dict) -> dict:
    """The options of a run as the JSON report records them."""
    out = {}
    for key, value in params.items():
        if key == "palette" and value is not None:
            value = value if isinstance(value, str) else (value.path or value.name)
        elif key == "rename":
            value = [f"{old}:{new}" for old, new in value]
        elif key == "fmt":
            key = "format"
        elif isinstance(value, tuple):
            value = list(value)
        out[key] = value
    return out


def _pair_rules(ctx, param, value):
    from maskcli.pairing import parse_pair

    try:
        return tuple(parse_pair(rule) for rule in value)
    except UsageError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


def _images_path(folder_only: bool):
    """--images: a local photo or folder that exists, or a remote URL (s3://bucket/photos, any
    fsspec store, as for mask inputs) that exists; file:// URLs become local paths."""

    def callback(ctx, param, value):
        import os

        from maskcli import storage

        if value is None:
            return None
        path = storage.local_path(value)
        if storage.is_remote(path):
            try:
                storage.filesystem(storage.protocol(path))
            except UsageError as exc:
                raise click.BadParameter(str(exc), ctx=ctx, param=param) from None
            if storage.is_dir(path):
                return path
            if folder_only or not storage.exists(path):
                raise click.BadParameter(f"{value}: no such folder in the store" if folder_only
                                         else f"{value}: no such folder or object in the store", ctx=ctx, param=param)
            return path
        if not os.path.exists(path):
            raise click.BadParameter(f"Path {value!r} does not exist.", ctx=ctx, param=param)
        if folder_only and not os.path.isdir(path):
            raise click.BadParameter(f"Directory {value!r} is a file.", ctx=ctx, param=param)
        return path

    return callback


def _png_name(ctx, param, value):
    """A picture maskcli writes as PNG must not get another image format's name."""
    import os

    if value and os.path.splitext(value)[1].lower() in (".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".tif", ".tiff"):
        raise click.BadParameter(f"{value}: this picture is written as PNG: name it .png", ctx=ctx, param=param)
    return value


def _plot_name(ctx, param, value):
    return _needs_matplotlib(ctx, param, _png_name(ctx, param, value))


def _needs_matplotlib(ctx, param, value):
    from maskcli.visualize import PLOT_EXTRA, have_matplotlib

    if value is not None and not have_matplotlib():
        raise click.BadParameter(f"needs matplotlib, which is not installed: {PLOT_EXTRA}", ctx=ctx, param=param)
    return value


def _run_options(params: dict, index_inputs: bool = False, suffix: str = ".png", extensions=None):
    """The run's options; ``index_inputs``: the command reads index masks, so folders are
    also walked for .npy arrays; ``suffix``: the outputs' extension; ``extensions``: what
    folders are walked for instead of image files."""
    from maskcli.batch import RunOptions
    from maskcli.walk import DEFAULT_EXTENSIONS, Selection

    if extensions is None:
        extensions = DEFAULT_EXTENSIONS + ((".npy",) if index_inputs else ())
    return RunOptions(
        suffix=suffix,
        jobs=params["jobs"],
        quiet=params["quiet"],
        verbose=params["verbose"],
        update=params["update"],
        dry_run=params["dry_run"],
        report=params["report"],
        selection=Selection(extensions, include=tuple(params["include"]), exclude=tuple(params["exclude"])),
        rename=params["rename"],
        files_from=params["files_from"],
        base=params.get("base"),
        scheduler=params.get("scheduler"),
        recorded=_recorded(params),
    )


def _encoded_run(ctx, encoding_name, palette, output, instances, **defaults):
    """The Encoding of a run with --encoding (None without), after checking that the other
    options go with it; ``defaults`` are options that must keep their default values."""
    encoding = build_encoding(encoding_name, ctx.params.get("annotations"), ctx.params.get("categories"))
    if encoding is None:
        if instances:
            raise _UsageProblem("--instances goes with --encoding")
        if palette is None and "palette" in ctx.params:
            raise click.UsageError("Missing option '-p' / '--palette' (it is optional only with --encoding).", ctx=ctx)
        return None
    if palette == EMBEDDED:
        raise _UsageProblem("-p embedded keeps a palettized file's indices; with --encoding give a palette or no -p")
    for option, (value, default) in defaults.items():
        if value != default:
            why = ("encoded inputs are decoded from their channels, not read as index masks" if option == "--indices"
                   else "encoded values are decoded exactly, never matched as colors")
            raise _UsageProblem(f"{option} does not apply to --encoding: {why}")
    if instances:
        from maskcli.encodings import WITH_INSTANCES

        if encoding.name not in WITH_INSTANCES:
            raise _UsageProblem(f"--instances: {encoding.name} stores no instance ids maskcli writes "
                                f"(those that do: {', '.join(WITH_INSTANCES)})")
        if output == "-" or "-" in ctx.params.get("inputs", ()):
            raise _UsageProblem("--instances writes files below DIR: it does not go with '-' (stdin or stdout)")
    return encoding


def _suffix(fmt: str) -> str:
    return ".npy" if fmt == "npy" else ".png"


def _output_root(output: str) -> str:
    import os

    if output.lower().endswith((".png", ".npy")) and not os.path.isdir(output):
        return os.path.dirname(output) or "."
    return output


def _check_instances_dir(instances, output):
    import os

    if instances and os.path.realpath(instances) == os.path.realpath(_output_root(output)):
        raise _UsageProblem(f"--instances {instances}: is the output folder; instance ids would overwrite the class ids")


@cli.command("to-index")
@batch_options("to-index", allow_embedded=True, encoded=True)
@instances_option
@click.option(
    "--unknown",
    type=click.Choice(["error", "ignore", "nearest"]),
    default="error",
    show_default=True,
    help="Colors not in the palette: fail the file and list them; write the ignore index; or "
    "snap them to the nearest palette color within --max-distance.",
)
@float_option("--max-distance", low=0, metavar="D",
              help="With --unknown nearest: the largest RGB (Euclidean) distance a color may be snapped across.")
@click.option("--beyond", type=click.Choice(["error", "ignore"]), default=None,
              help="With --unknown nearest: colors farther than D fail the file (error, the default) "
              "or become the ignore index.")
@float_option("--max-unknown", low=0, high=100, metavar="P",
              help="With --unknown ignore or nearest: fail a file when colors the palette does not know "
              "(snapped or ignored) cover more than P percent of its pixels. Default: no limit.")
@click.option("--alpha", type=click.Choice(["error", "ignore"]), default="error", show_default=True,
              help="Fully transparent pixels (alpha 0): fail the file, or write the ignore index. "
              "Partial transparency is always an error.")
@click.option("--format", "fmt", type=click.Choice(["gray", "indexed", "npy"]), default="gray", show_default=True,
              help="gray: 8/16-bit grayscale PNG. indexed: palettized PNG with the palette's colors "
              "embedded (ids up to 255). npy: a NumPy .npy array (uint8/uint16), outputs ending in .npy.")
@channel_order_option
@click.pass_context
def to_index(ctx, inputs, output, palette, unknown, max_distance, beyond, max_unknown, alpha, fmt, channel_order,
             encoding, instances, **_):
    """Convert color masks (RGB, RGBA, palettized) to class-index masks.

    Writes 8-bit grayscale PNGs, or 16-bit when a class id or the ignore index is above 255.
    Folders are walked recursively for .png, .bmp, .tif and .tiff files and mirrored into
    OUTPUT (paths relative to the input folder, or to --base DIR); every output ends in .png.

    \b
    $ maskcli to-index gtFine_color/ -o gtFine_trainIds/ -p cityscapes
    $ maskcli to-index train/ val/ -o labels/ -p my-palette.yaml --unknown ignore
    $ find masks -newer last-run | maskcli to-index --files-from - --base masks -o labels/ -p cityscapes
    $ maskcli to-index resized/ -o labels/ -p cityscapes --unknown nearest --max-distance 30
    $ maskcli to-index masks/ -o labels/ -p my-palette.yaml --unknown ignore --max-unknown 5
    $ maskcli to-index SegmentationClass/ -o plain/ -p embedded
    $ maskcli to-index a.png -o a_index.png -p pascal-voc
    $ maskcli to-index - -o - -p cityscapes < a_color.png > a_ids.png
    $ maskcli to-index saved_with_cv2/ -o labels/ -p cityscapes --channel-order bgr
    $ maskcli to-index ADE20K_2021_17_01/images/ -o ade_ids/ --encoding ade20k-full --include '*_seg.png'
    $ maskcli to-index gtFine/ --include '*_instanceIds.png' -o ids/ --encoding cityscapes-instance \\
          -p cityscapes-labelids --instances instances/
    $ maskcli to-index panoptic_val2017/ -o cats/ --encoding coco-panoptic \\
          --annotations panoptic_val2017.json --categories contiguous
    """
    from maskcli.batch import convert_tree
    from maskcli.tasks import Settings

    enc = _encoded_run(ctx, encoding, palette, output, instances, **{
        "--unknown nearest": (unknown == "nearest", False), "--max-distance": (max_distance, None),
        "--beyond": (beyond, None), "--max-unknown": (max_unknown, None), "--alpha": (alpha, "error"),
        "--channel-order": (channel_order, "rgb")})
    if enc is not None:
        if fmt == "indexed" and palette is None:
            raise _UsageProblem("--format indexed takes its colors from -p PALETTE: give one, or use --format gray")
        _check_instances_dir(instances, output)
        settings = Settings("to-index", palette, unknown=unknown, format=fmt, verbose=ctx.params["verbose"],
                            encoding=enc, instances=instances, output_root=_output_root(output) if instances else "")
        sys.exit(convert_tree(inputs, output, settings, _run_options(ctx.params, suffix=_suffix(fmt))))
    if unknown == "nearest" and max_distance is None:
        raise _UsageProblem("--unknown nearest needs --max-distance D (the largest distance to snap across)")
    if unknown != "nearest" and (max_distance is not None or beyond is not None):
        raise _UsageProblem("--max-distance and --beyond go with --unknown nearest")
    if unknown == "error" and max_unknown is not None:
        raise _UsageProblem("--max-unknown goes with --unknown ignore or --unknown nearest")
    if fmt == "indexed" and palette != EMBEDDED and palette.bits > 8:
        raise _UsageProblem(
            f"--format indexed holds ids 0..255, but palette {palette.path or palette.name} "
            f"uses values up to {palette.max_value}: use --format gray (16-bit)"
        )
    settings = Settings(
        "to-index",
        None if palette == EMBEDDED else palette,
        unknown=unknown,
        max_distance=max_distance,
        beyond=beyond or "error",
        alpha=alpha,
        format=fmt,
        verbose=ctx.params["verbose"],
        channel_order=channel_order,
        max_unknown=max_unknown,
    )
    sys.exit(convert_tree(inputs, output, settings, _run_options(ctx.params, suffix=_suffix(fmt))))


@cli.command("to-rgb")
@batch_options("to-rgb")
@click.option("--format", "fmt", type=click.Choice(["rgb", "indexed"]), default="rgb", show_default=True,
              help="rgb: 8-bit RGB PNG. indexed: palettized PNG that keeps the ids and holds the palette's "
              "colors in its PLTE (the smallest file; any viewer shows the colors; ids up to 255).")
@click.pass_context
def to_rgb(ctx, inputs, output, palette, fmt, **_):
    """Convert class-index masks (8/16-bit grayscale, palettized) to RGB color masks.

    Each class id becomes its class's color, the ignore index the palette's first ignore color
    (black when it has none). A value that is neither fails the file.

    \b
    $ maskcli to-rgb predictions/ -o colored/ -p cityscapes
    $ maskcli to-rgb pred.png -o pred_color.png -p pascal-voc
    $ maskcli to-rgb trainIds/ -o colored/ -p cityscapes --format indexed
    """
    from maskcli.batch import convert_tree
    from maskcli.tasks import Settings

    if fmt == "indexed" and palette.bits > 8:
        raise _UsageProblem(
            f"--format indexed holds ids 0..255, but palette {palette.path or palette.name} "
            f"uses values up to {palette.max_value}: use --format rgb")
    settings = Settings("to-rgb", palette, format=fmt if fmt == "indexed" else "gray",
                        verbose=ctx.params["verbose"])
    sys.exit(convert_tree(inputs, output, settings, _run_options(ctx.params, index_inputs=True)))


@cli.command("remap")
@batch_options("remap", palette=False, encoded=True)
@instances_option
@click.option("--format", "fmt", type=click.Choice(["png", "npy"]), default="png", show_default=True,
              help="png: 8/16-bit grayscale PNG (palettized inputs keep their PLTE). npy: a NumPy .npy array "
              "(uint8/uint16), outputs ending in .npy.")
@click.pass_context
def remap(ctx, inputs, output, mapping, encoding, instances, fmt, **_):
    """Rewrite index masks through a table: many-to-one, to ignore, with a default.

    Inputs are index masks (8/16-bit grayscale, or palettized: the stored indices are
    rewritten and the file's PLTE is kept). Values the map does not list fail the file,
    unless the map's default says otherwise.

    \b
    $ maskcli remap gtFine/ --include '*_labelIds.png' -o trainIds/ --map cityscapes-trainids \\
          --rename _labelIds:_labelTrainIds
    $ maskcli remap labels/ -o merged/ --map merge-vehicles.yaml
    $ maskcli remap gtFine/ --include '*_instanceIds.png' --encoding cityscapes-instance \\
          --map cityscapes-trainids -o trainIds/
    """
    from maskcli.batch import convert_tree
    from maskcli.tasks import Settings

    enc = _encoded_run(ctx, encoding, None, output, instances)
    _check_instances_dir(instances, output)
    params = {**ctx.params, "palette": None}
    params["map"] = mapping.path
    params.pop("mapping")
    settings = Settings("remap", None, remap=mapping, encoding=enc, instances=instances, verbose=ctx.params["verbose"],
                        output_root=_output_root(output) if instances else "",
                        **({"format": "npy"} if fmt == "npy" else {}))
    sys.exit(convert_tree(inputs, output, settings, _run_options(params, index_inputs=enc is None, suffix=_suffix(fmt))))


@cli.command("check")
@inputs_argument
@palette_option(allow_embedded=True, encoded=True)
@stack(*encoding_options)
@click.option("--indices", is_flag=True,
              help="Check index masks (grayscale, 16-bit, palettized stored indices) as to-rgb reads them, "
              "instead of color masks.")
@click.option("--strict", is_flag=True, help="Size differences and lossy inputs fail the check too.")
@channel_order_option
@jobs_option
@scheduler_option
@stack(*selection_options)
@report_option
@click.option("--plot", type=click.Path(dir_okay=False, allow_dash=True), callback=_plot_name,
              metavar="FILE.png", help="Draw the per-class pixel share and files per class as bars in the "
              "class colors to FILE.png (needs matplotlib: pip install 'maskcli[plot]').")
@click.option("--plot-scale", type=click.Choice(["linear", "log"]), default="linear", show_default=True,
              help="The scale of the class chart's axes (--plot, --html); log shows rare classes.")
@click.option("--html", type=click.Path(dir_okay=False, allow_dash=True), metavar="FILE.html",
              help="Write a self-contained HTML report (summary, class table and chart, files with "
              "problems with their unknown colors and thumbnails, a sample of thumbnails) to FILE.html.")
@click.option("--images", callback=_images_path(folder_only=True), metavar="IMAGES",
              help="With --html: the photos (a folder laid out like the masks', paired as 'maskcli overlay' "
              "pairs them; local or a URL such as s3://bucket/photos); the report then shows each mask "
              "over its photo too.")
@click.option("--pair", "pair", multiple=True, callback=_pair_rules, metavar="OLD:NEW",
              help="With --images: a mask whose stem ends in OLD pairs with the photo whose stem ends in NEW.")
@float_option("--alpha", low=0, high=1, default=0.5, show_default=True, metavar="A",
              help="With --images: the opacity of the class colors over the photos (see 'maskcli overlay').")
@quiet_option
@verbose_option("check")
@click.pass_context
def check(ctx, inputs, palette, indices, strict, channel_order, encoding, plot, plot_scale, html, images, pair,
          alpha, **_):
    """Validate a dataset against a palette: read every mask, write nothing.

    Reports files with unknown colors (or, with --indices, unknown values) with the offending
    colors and pixel counts, files whose size differs from the majority, and a table of
    pixels and files per class on stdout. Exit status 1 when any file has unknown colors or
    values or cannot be read, so `make check` can gate a training run.

    \b
    $ maskcli check gtFine/ --include '*_color.png' -p cityscapes
    $ maskcli check trainIds/ --indices -p cityscapes --report stats.json
    $ maskcli check gtFine/ --include '*_instanceIds.png' --encoding cityscapes-instance -p cityscapes-labelids
    $ maskcli check gtFine/ --include '*_color.png' -p cityscapes --plot classes.png --html report.html
    """
    from maskcli.check import CheckSettings, check_tree
    from maskcli.visualize import CheckPictures, Photos

    enc = _encoded_run(ctx, encoding, palette, None, None, **{
        "--indices": (indices, False), "--channel-order": (channel_order, "rgb")})
    params = {**ctx.params, "output": None, "update": False, "dry_run": False, "rename": ()}
    if enc is not None and palette is None:  # coco-panoptic: the annotation JSON's categories name the ids
        from maskcli.encodings import annotation_palette

        palette = annotation_palette(enc)
    settings = CheckSettings(None if palette == EMBEDDED else palette, indices or palette == EMBEDDED, channel_order,
                             enc)
    to_stdout = [name for name, value in (("--report", ctx.params["report"]), ("--plot", plot), ("--html", html))
                 if value == "-"]
    if len(to_stdout) > 1:
        raise _UsageProblem(f"{' and '.join(to_stdout)} cannot all write to stdout ('-'): give one of them a file")
    if (images or pair) and not html:
        raise _UsageProblem("--images and --pair go with --html (the report's overlays)")
    photos = Photos(images, pair) if images else None
    pictures = CheckPictures(plot=plot, html=html, scale=plot_scale, photos=photos, alpha=alpha)
    sys.exit(check_tree(inputs, settings, _run_options(params, index_inputs=settings.indices), strict,
                        pictures or None))


@cli.command("sheet")
@inputs_argument
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, allow_dash=True),
              callback=_png_name, metavar="SHEET.png", help="The contact sheet image (PNG; '-' writes it to stdout).")
@click.option("-p", "--palette", callback=palette_loader(False), metavar="PALETTE",
              help="Colors for index masks (a built-in name or a palette file); needed by --sample worst. "
              "Without it index masks use a fixed color map; color masks are shown as they are.")
@click.option("--max", "max_files", type=click.IntRange(min=1), default=64, show_default=True, metavar="N",
              help="Draw at most N masks.")
@click.option("--columns", type=click.IntRange(min=1), default=8, show_default=True, metavar="N",
              help="Thumbnails per row.")
@click.option("--size", type=click.IntRange(min=16, max=2048), default=256, show_default=True, metavar="PX",
              help="Thumbnails fit in PX x PX (nearest-neighbour scaling: no new colors).")
@click.option("--sample", type=click.Choice(["random", "first", "worst"]), default="random", show_default=True,
              help="Which masks when there are more than --max: a seeded random sample, the first in path "
              "order, or the worst first (most unknown colors or values, as check finds; needs -p).")
@click.option("--seed", type=int, default=0, show_default=True, metavar="N", help="The seed of --sample random.")
@click.option("--images", callback=_images_path(folder_only=False), metavar="IMAGES",
              help="Draw each mask over its photo: a folder laid out like the masks' (paired as 'maskcli "
              "overlay' pairs them; local or a URL such as s3://bucket/photos), or one photo for one mask. "
              "Needs -p (or coco-panoptic's --annotations).")
@click.option("--pair", "pair", multiple=True, callback=_pair_rules, metavar="OLD:NEW",
              help="With --images: a mask whose stem ends in OLD pairs with the photo whose stem ends in NEW "
              "(repeatable), e.g. _gtFine_color:_leftImg8bit.")
@float_option("--alpha", low=0, high=1, default=0.5, show_default=True, metavar="A",
              help="With --images: the opacity of the class colors, blended as 'maskcli overlay' does.")
@channel_order_option
@stack(*encoding_options)
@jobs_option
@stack(*selection_options)
@quiet_option
@click.pass_context
def sheet(ctx, inputs, output, palette, max_files, columns, size, sample, seed, images, pair, alpha, channel_order,
          encoding, annotations, categories, **_):
    """Draw a contact sheet: thumbnails of masks with their file names, to see a dataset at a glance.

    Color masks are shown as they are, palettized ones through their own colors, index masks
    through the palette. With --encoding, encoded label images (instance, panoptic) are decoded
    to class ids first and drawn as index masks. Thumbnails are scaled with nearest neighbour,
    so every color on the sheet is a color of a mask. Files are read with -j workers.

    \b
    $ maskcli sheet gtFine/val --include '*_color.png' -o sheet.png
    $ maskcli sheet trainIds/ -p cityscapes -o sheet.png --max 32 --columns 4 --size 320
    $ maskcli sheet masks/ -p my-palette.yaml --sample worst -o problems.png
    $ maskcli sheet gtFine/val --include '*_color.png' -p cityscapes --images leftImg8bit/val \\
          --pair _gtFine_color:_leftImg8bit -o overlays.png
    $ maskcli sheet panoptic_val2017/ --encoding coco-panoptic --annotations panoptic_val2017.json -o sheet.png
    """
    from maskcli.visualize import Photos, SheetOptions, make_sheet

    enc = build_encoding(encoding, annotations, categories)
    if enc is not None:
        if channel_order != "rgb":
            raise _UsageProblem("--channel-order does not apply to --encoding: encoded values are decoded exactly, "
                                "never matched as colors")
        if palette is None:  # coco-panoptic: the annotation JSON's categories name and color the ids
            from maskcli.encodings import annotation_palette

            palette = annotation_palette(enc)
    if images and palette is None:
        raise _UsageProblem("--images needs -p PALETTE (which pixels are ignore pixels, left as the photo)")
    if pair and not images:
        raise _UsageProblem("--pair goes with --images")
    if sample == "worst" and palette is None:
        raise _UsageProblem("--sample worst needs -p PALETTE (the unknown colors are those the palette lacks)")
    if not inputs and not ctx.params["files_from"]:
        raise _UsageProblem("no inputs: give INPUT... or --files-from")
    params = {**ctx.params, "output": output, "update": False, "dry_run": False, "rename": (), "verbose": False,
              "report": None}
    options = SheetOptions(output, max_files, columns, size, sample, seed, Photos(images, pair) if images else None,
                           alpha)
    sys.exit(make_sheet(inputs, palette, options, _run_options(params), channel_order, enc))


@cli.command("extract-palette")
@inputs_argument
@output_option("Write the palette YAML here (default: stdout). A regular file is replaced whole; "
               "/dev/stdout, a device, FIFO or /dev/fd/N is written in place; a link is followed.",
               required=False)
@click.option(
    "--order",
    type=click.Choice(["color", "frequency"]),
    default="color",
    show_default=True,
    help="Id order: by color (r, g, b), or by pixel count, most frequent first.",
)
@click.option("--min-pixels", type=click.IntRange(min=0), default=0, metavar="N",
              help="Drop colors with fewer than N pixels over all inputs.")
@click.option("--min-files", type=click.IntRange(min=0), default=0, metavar="N",
              help="Drop colors found in fewer than N files.")
@click.option(
    "--max-colors",
    type=click.IntRange(min=1),
    default=256,
    show_default=True,
    metavar="N",
    help="Stop with an error when the inputs hold more colors (counted after --min-pixels and "
    "--min-files): they are probably photos or lossy masks.",
)
@click.option("--names-from", "names_from", callback=palette_loader(False), metavar="PALETTE",
              help="Name the colors this palette (a built-in or a file) knows, with its ids and ignore "
              "settings; new colors get ids above its highest id.")
@click.option("--alpha", type=click.Choice(["error", "ignore"]), default="error", show_default=True,
              help="Fully transparent pixels: fail the file, or leave them out of the counts.")
@channel_order_option
@stack(*encoding_options)
@jobs_option
@scheduler_option
@quiet_option
@click.pass_context
def extract_palette(ctx, inputs, output, order, min_pixels, min_files, max_colors, names_from, alpha, channel_order,
                    encoding, annotations, categories, jobs, scheduler, quiet):
    """Find the colors in sample color masks and write a palette to start from.

    Every distinct color becomes a class with its pixel and file counts and a placeholder
    name (or its --names-from name); ids are assigned by color (or by frequency), whatever
    order files are read in. A table of colors and the built-in palettes that match them go
    to stderr ('use -p NAME' when one knows every color). Rename the classes, then use the
    file with -p.

    \b
    $ maskcli extract-palette masks/ -o my-palette.yaml
    $ maskcli extract-palette gta5/labels --min-pixels 50 --names-from cityscapes
    $ maskcli extract-palette a.png b.png --order frequency
    $ maskcli extract-palette street/*_seg.png --encoding ade20k-full --max-colors 4000 -o ade-full.yaml
    """
    from maskcli import extract
    from maskcli.palette import builtin_palettes, load_palette

    if not inputs:
        raise _UsageProblem("no inputs: give INPUT...")
    from maskcli.runner import Interrupted

    filtered = bool(min_pixels or min_files)
    enc = _encoded_run(ctx, encoding, None, None, None, **{
        "--alpha": (alpha, "error"), "--channel-order": (channel_order, "rgb")})
    if enc is not None:
        _extract_encoded(inputs, output, enc, order, min_pixels, min_files, max_colors, names_from, jobs,
                         scheduler, quiet, filtered)
        return
    try:
        found, report = extract.scan_colors(inputs, jobs, max_colors, quiet, alpha, filtered, scheduler, channel_order,
                                            output=output)
    except extract.TooManyColors as exc:
        raise click.ClickException(str(exc)) from None
    except Interrupted as stop:
        click.echo("extract-palette: no palette written", err=True)
        sys.exit(stop.exit_code)
    if report.failed:
        report.finish()
        raise click.ClickException(f"no palette written: {report.failed} file(s) could not be read")
    colors, n_dropped, px_dropped = extract.drop_rare(found, min_pixels, min_files)
    if len(colors) > max_colors:
        raise click.ClickException(
            f"{len(colors)} colors remain, more than --max-colors {max_colors}: they are probably "
            "photos or lossy masks (or raise --min-pixels / --min-files)"
        )
    if not colors:
        raise click.ClickException(f"no colors remain after --min-pixels {min_pixels} / --min-files {min_files}")
    candidates = {n: load_palette(n) for n in builtin_palettes()}
    if names_from is not None:
        candidates = {names_from.path or names_from.name: names_from}
    matches = extract.identify(colors, candidates, best=None)
    known = set()
    if matches and not matches[0].swapped:
        known = set(dict(candidates[matches[0].palette].decode_pairs()))
    noise = extract.probable_noise(colors, known)
    try:
        palette, new_colors = extract.build_palette(colors, order, extract.default_name(inputs), names_from)
        text = extract.palette_text(palette, extract.header(report.converted, matches, names_from, new_colors,
                                                            __version__))
    except extract.TooManyColors as exc:
        raise click.ClickException(str(exc)) from None
    _emit_text(output, text)
    if quiet:
        return
    hint = None
    if matches and matches[0].swapped:
        hint = ("hint: red and blue are swapped in these files (saved from RGB arrays with OpenCV?): try --channel-order bgr"
                if channel_order == "rgb" else "hint: the colors match with red and blue as stored: try without --channel-order bgr")
    for line in extract.summary_lines(colors, noise, matches, n_dropped, px_dropped, min_pixels, min_files,
                                      names_from, new_colors, hint):
        click.echo(line, err=True)
    click.echo(f"extract-palette: {len(palette.classes)} classes from {len(colors)} colors in {report.converted} file(s)", err=True)


def _emit_text(output, text: str) -> None:
    """A palette's YAML to stdout (no -o, or '-') or to the file -o names."""
    from maskcli.masks import write_named_file
    from maskcli.report import shown

    if output in (None, "-"):
        click.echo(text, nl=False)
        return
    try:
        write_named_file(output, text.encode("utf-8"))
    except OSError as exc:
        raise click.ClickException(f"cannot write {shown(output)}: {exc.strerror or exc}") from None


def _extract_encoded(inputs, output, enc, order, min_pixels, min_files, max_colors, names_from, jobs, scheduler,
                     quiet, filtered):
    """extract-palette --encoding: one class per decoded id, the encoding's void as ignore."""
    from maskcli import extract
    from maskcli.encodings import VOID_DEFAULT, annotation_palette
    from maskcli.palette import palette_to_yaml

    if names_from is None:
        names_from = annotation_palette(enc)  # coco-panoptic: names and colors from the JSON's categories

    try:
        found, report = extract.scan_values(inputs, jobs, enc, max_colors, quiet, filtered, scheduler, output=output)
    except extract.TooManyColors as exc:
        raise click.ClickException(str(exc)) from None
    if report.failed:
        report.finish()
        raise click.ClickException(f"no palette written: {report.failed} file(s) could not be read")
    values, n_dropped, _ = extract.drop_rare(found, min_pixels, min_files)
    if len(values) > max_colors:
        raise click.ClickException(f"{len(values)} class ids remain, more than --max-colors {max_colors}")
    if not values:
        raise click.ClickException(f"no class ids remain after --min-pixels {min_pixels} / --min-files {min_files}")
    palette = extract.build_encoded_palette(values, VOID_DEFAULT.get(enc.name), order, extract.default_name(inputs),
                                            names_from)
    lines = [f"written by maskcli {__version__} extract-palette --encoding {enc.name} from {report.converted} file(s)",
             "colors are the VOC colormap of each id" + (f" where {names_from.path or names_from.name} has none"
                                                          if names_from else "") + "; class names are placeholders "
             "(class_N) where no --names-from names them: rename them"]
    text = palette_to_yaml(palette, header="\n".join(lines))
    _emit_text(output, text)
    if not quiet:
        dropped = f" ({n_dropped} rare id(s) dropped)" if n_dropped else ""
        click.echo(f"extract-palette: {len(palette.classes)} classes from {len(values)} ids in "
                   f"{report.converted} file(s){dropped}", err=True)


@cli.command("overlay")
@stack(
    inputs_argument,
    output_option("Output folder: each mask's overlay is written at its path relative to --base, ending in "
                  ".png (or .jpg with --format jpeg). For a single mask, a file name ending in .png, .jpg "
                  "or .jpeg (the extension picks the format)."),
    palette_option(allow_embedded=True),
    click.option("--images", required=True, callback=_images_path(folder_only=False), metavar="IMAGES",
                 help="The photos: a folder laid out like the masks' (same relative folders and stems, "
                 "any of .jpg .jpeg .png .webp .bmp .tif .tiff), or one photo for one mask; local, or a "
                 "URL such as s3://bucket/photos."),
    click.option("--pair", "pair", multiple=True, callback=_pair_rules, metavar="OLD:NEW",
                 help="A mask whose stem ends in OLD pairs with the photo whose stem ends in NEW instead "
                 "(repeatable; the first match wins), e.g. _gtFine_color:_leftImg8bit."),
    float_option("--alpha", low=0, high=1, default=0.5, show_default=True, metavar="A",
                 help="Opacity of the class colors: each labeled pixel becomes "
                 "round((1 - A) * photo + A * color) per channel, halves rounded up."),
    click.option("--show-ignore", is_flag=True,
                 help="Blend ignore pixels too, in their color (by default they show the photo)."),
    click.option("--outline", is_flag=True, help="Draw 1-pixel class boundaries in the class colors, opaque."),
    click.option("--legend", is_flag=True,
                 help="Add a strip on the right listing the classes drawn (swatch, id, name)."),
    click.option("--only", multiple=True, metavar="CLASS",
                 help="Draw only these classes (names or ids; repeatable or comma-separated); the "
                 "other pixels show the photo."),
    click.option("--format", "fmt", type=click.Choice(["png", "jpeg"]), default=None,
                 help="Output format for a folder -o (default png); a file -o takes its extension's."),
    click.option("--quality", type=click.IntRange(1, 100), default=90, show_default=True, metavar="Q",
                 help="JPEG quality."),
    channel_order_option,
    jobs_option,
    scheduler_option,
    click.option("--update", is_flag=True,
                 help="Skip masks whose overlay is newer than the mask and its photo and was drawn with "
                 "the same palette content and options (recorded in the output)."),
    click.option("-n", "--dry-run", is_flag=True,
                 help="Print each mask with its photo and output (and pairing errors); write nothing."),
    *selection_options,
    base_option,
    click.option("--rename", "rename", multiple=True, callback=renames_callback,
                 metavar="OLD:NEW", help="Replace the suffix OLD of an output file's name by NEW."),
    report_option,
    quiet_option,
    click.option("-v", "--verbose", is_flag=True, help="Say more."),
)
@click.pass_context
def overlay(ctx, inputs, output, palette, images, pair, alpha, show_ignore, outline, legend, only, fmt,
            quality, channel_order, **_):
    """Draw each mask's class colors over its photo, for looking at a dataset.

    Masks may be index masks (colored through the palette) or color masks (every color is
    checked against the palette, as to-index does: an unknown color fails the file). Each
    mask pairs with the photo at the same path relative to --images, with the stem rewritten
    by --pair and any image extension; a mask with no photo, two photos, or a photo of
    another size is an error for that file. See docs/visualize.md for the exact formula.

    \b
    $ maskcli overlay gtFine/ --include '*_color.png' --images leftImg8bit/ -o overlays/ -p cityscapes \\
          --pair _gtFine_color:_leftImg8bit --format jpeg
    $ maskcli overlay VOC2012/SegmentationClass --images VOC2012/JPEGImages -o overlays/ -p pascal-voc --legend
    $ maskcli overlay mask.png --images photo.jpg -o out.jpg -p cityscapes --outline
    """
    from maskcli.overlay_run import OverlaySettings, output_format, overlay_tree, resolve_only

    pal = None if palette == EMBEDDED else palette
    settings = OverlaySettings(
        "overlay", pal, alpha=alpha, show_ignore=show_ignore, outline=outline, legend=legend,
        only=resolve_only(only, pal), format=output_format(output, fmt), quality=quality,
        channel_order=channel_order, verbose=ctx.params["verbose"],
    )
    params = dict(ctx.params)
    params["pair"] = [f"{old}:{new}" for old, new in pair]
    sys.exit(overlay_tree(inputs, output, images, pair, settings, _run_options(params)))


@cli.command("rasterize")
@batch_options("rasterize", output_help="Output folder: each annotation's path relative to --base is written below it, "
               "ending in .png (.npy with --format npy). For a single annotation file, an output file "
               "name ending in .png (.npy). An output that is a symbolic link, device or FIFO is an "
               "error for that file.")
@click.option("--format", "fmt", type=click.Choice(["gray", "indexed", "color", "npy"]), default="gray",
              show_default=True,
              help="gray: 8/16-bit grayscale PNG of the ids. indexed: palettized PNG of the ids with the "
              "palette's colors in its PLTE (as labelme exports; ids up to 255). color: RGB PNG in the "
              "palette's colors. npy: a NumPy .npy array, outputs ending in .npy.")
@click.pass_context
def rasterize(ctx, inputs, output, palette, fmt, **_):
    """Draw polygon annotations (Cityscapes, labelme JSON) as masks, as the datasets' own tools do.

    Folders are walked for .json files. Cityscapes *_gtFine_polygons.json files are drawn as
    cityscapesScripts' json2labelImg does (objects in file order, later over earlier, deleted
    ones skipped, 'cargroup' as car); labelme files as labelme2voc exports them (polygon,
    rectangle, circle, line, linestrip, point; background 0). Labels become ids through the
    palette's class names (case and spaces do not matter); a label it does not know fails the
    file. -p cityscapes-labelids writes labelIds, -p cityscapes trainIds (void labels 255).
    See docs/formats.md.

    \b
    $ maskcli rasterize gtFine/ -o gtFine/ -p cityscapes-labelids --rename _polygons:_labelIds
    $ maskcli rasterize gtFine/ -o gtFine/ -p cityscapes --rename _polygons:_labelTrainIds
    $ maskcli rasterize gtFine/ -o colors/ -p cityscapes-labelids --format color
    $ maskcli rasterize data_annotated/ -o SegmentationClass/ -p class_names.txt --format indexed
    $ maskcli rasterize a.json -o a.png -p labels.txt
    """
    from maskcli.rasterize_run import build_settings, rasterize_tree

    settings = build_settings(palette, fmt, ctx.params["verbose"])
    sys.exit(rasterize_tree(inputs, output, settings,
                            _run_options(ctx.params, suffix=_suffix(fmt), extensions=(".json",))))


@cli.command("info")
@inputs_argument
@click.option("--json", "as_json", is_flag=True,
              help="One JSON object per file on stdout: {\"file\": ..., \"record\": {...} or null}.")
@_interruptible
def info(inputs, as_json):
    """Say what made each output: the command, palette, options and digest maskcli recorded.

    Reads only the first bytes of each PNG or JPEG (folders: every .png, .jpg and .jpeg in
    them, recursively; JPEGs are overlays).
    A file without a record says 'not written by maskcli'; --update converts such outputs
    again. Exit status 1 when a file cannot be read.

    \b
    $ maskcli info labels/aachen_000000_000019.png
    $ maskcli info labels/ --json | jq -r .record.digest | sort | uniq -c
    """
    import json

    from maskcli import provenance
    from maskcli.errors import MaskError
    from maskcli.plan import Selection, find_mask_files

    if not inputs:
        raise _UsageProblem("no inputs: give FILE... or folders")
    failed = 0
    for path in find_mask_files(inputs, Selection(extensions=(".png", ".jpg", ".jpeg"))):
        try:
            rec = provenance.read_any(path)
        except (OSError, MaskError) as exc:
            failed += 1
            reason = str(exc) if isinstance(exc, MaskError) else f"cannot read: {exc.strerror or exc}"
            from maskcli.report import shown

            click.echo(f"error: {shown(path)}: {reason}", err=True)
            continue
        if as_json:
            line = json.dumps({"file": path, "record": rec})
        else:
            line = f"{path}: {provenance.describe(rec)}"
        click.echo((line + "\n").encode("utf-8", "surrogateescape"), nl=False)  # names as on disk
    sys.exit(1 if failed else 0)


@cli.group("palettes", invoke_without_command=True)
@click.pass_context
def palettes(ctx):
    """List the built-in palettes (or show one with 'palettes show NAME').

    \b
    $ maskcli palettes
    $ maskcli palettes show cityscapes
    """
    if ctx.invoked_subcommand is None:
        ctx.invoke(palettes_list)


@palettes.command("list")
@_interruptible
def palettes_list():
    """List the built-in palettes: name, class count, description."""
    from maskcli.palette import builtin_palettes, load_palette

    names = list(builtin_palettes())
    width = max(map(len, names), default=0)
    for name in names:
        p = load_palette(name)
        click.echo(f"{name:<{width}}  {len(p.classes):>4} classes  {p.description}")


@palettes.command("show")
@click.argument("name", metavar="NAME")
@click.option("--legend", type=click.Path(dir_okay=False), metavar="FILE.png",
              help="Also render a legend image: a row per class (and ignore) in its color, with id and name. "
              "Written as --report files are: replaced whole, in place for a device/FIFO, through links.")
@click.option("--color/--no-color", "colored", default=None,
              help="Color swatches before each class (default: when stdout is a terminal and NO_COLOR is unset).")
@_interruptible
def palettes_show(name, legend, colored):
    """Print one palette (a built-in name or a file): id, name, color, ignore settings.

    Colors shared by several classes are marked with '*' (to-index decodes them to the
    first class listed).

    \b
    $ maskcli palettes show cityscapes
    $ maskcli palettes show my-palette.yaml --legend legend.png
    """
    import os

    from maskcli.palette import load_palette
    from maskcli.show import format_palette, format_palette_colored, legend_png

    palette = load_palette(name)
    if colored is None:
        colored = sys.stdout.isatty() and "NO_COLOR" not in os.environ
    click.echo(format_palette_colored(palette) if colored else format_palette(palette), color=colored)
    if legend:
        from maskcli.masks import write_named_file

        _not_the_palette(legend, palette, "--legend")
        try:
            write_named_file(legend, legend_png(palette))
        except OSError as exc:
            from maskcli.report import shown

            raise click.ClickException(f"cannot write {shown(legend)}: {exc.strerror or exc}") from None


def _not_the_palette(path: str, palette, what: str) -> None:
    """What a palettes command writes must not replace the palette file it read."""
    if palette.path:
        from maskcli.plan import check_reserved

        check_reserved(path, [(palette.path, palette.path)], what)


@palettes.command("convert")
@click.argument("source", metavar="PALETTE")
@click.argument("target", metavar="OUT.yaml", type=click.Path(dir_okay=False, allow_dash=True))
@_interruptible
def palettes_convert(source, target):
    """Write any palette (a built-in, or a file in any format maskcli reads) as maskcli YAML.

    Reads maskcli YAML, CamVid label_colors.txt, class_dict.csv / labelmap.csv, CVAT/Datumaro
    labelmap.txt, Datumaro dataset_meta.json, Mapillary config.json and labelme
    class_names.txt (VOC colormap colors). '-' writes to stdout.
    A regular OUT.yaml is replaced whole; a device, FIFO or /dev/fd/N is written to in place;
    a symbolic link is followed (its target is replaced, the link stays).

    \b
    $ maskcli palettes convert CamVid/class_dict.csv my-palette.yaml
    $ maskcli palettes convert config_v2.0.json -
    """
    from maskcli.masks import write_named_file
    from maskcli.palette import load_palette, palette_to_yaml

    palette = load_palette(source)
    text = palette_to_yaml(palette, header=f"converted by maskcli {__version__} from {palette.path or source}")
    if target == "-":
        click.echo(text, nl=False)
        return
    _not_the_palette(target, palette, "the output")
    try:
        write_named_file(target, text.encode("utf-8"))
    except OSError as exc:
        from maskcli.report import shown

        raise click.ClickException(f"cannot write {shown(target)}: {exc.strerror or exc}") from None


def main(*args, **kwargs):
    """The console entry point. SIGINT and SIGTERM end any command with status 128 + the
    signal's number and no traceback (see runner); batch commands first print their summary
    and write their report."""
    from maskcli import runner

    runner.catch_signals()
    try:
        cli.main(*args, **kwargs)
        code = 0
    except SystemExit as exc:
        code = exc.code
    except runner.Interrupted as stop:  # raised outside a run: nothing to summarize
        print(f"maskcli: interrupted by {stop}", file=sys.stderr, flush=True)
        code = stop.exit_code
    stop = runner.settle()
    runner.release_signals()
    sys.exit(stop.exit_code if stop is not None else code)
