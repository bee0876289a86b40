"""Click options shared by several commands, defined once and stacked as decorators.

Bad values are rejected here, in callbacks, before any work starts (exit status 2): with
click.BadParameter for how an option is typed; a palette or map file that cannot be used
raises its PaletteError, which the CLI prints as one line naming the file.
"""

from __future__ import annotations

import click


EMBEDDED = "embedded"


def interruptible(path):
    """Reading a palette, map or annotation file given on the command line: when it is not a
    regular file (a FIFO that nobody may write to, a device), a signal stops the read at once.
    Other reads are short: a signal then stops the run as usual, with its summary."""
    import contextlib
    import os
    import stat

    try:
        special = not stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError, TypeError):  # a built-in name, or nothing there (an error soon)
        special = False
    if not special:
        return contextlib.nullcontext()
    from maskcli.runner import interruptible as stoppable

    return stoppable()


def palette_loader(allow_embedded: bool):
    def load(ctx, param, value):
        if value is None:
            return None
        if value == EMBEDDED:
            if allow_embedded:
                return EMBEDDED
            raise click.BadParameter(
                "'embedded' (keep the indices a palettized file stores) works only with "
                "to-index and check", ctx=ctx, param=param)
        from maskcli.palette import load_palette

        with interruptible(value):  # a FIFO nobody writes to must not outlast Ctrl-C
            return load_palette(value)  # a PaletteError is one line, exit 2 (cli._Group): the
        # problem is in a file, not in how the command line was typed, so no usage lines

    return load


def _jobs(ctx, param, value):
    if value is None:
        from maskcli.runner import available_cpus

        return available_cpus()
    return value


def _renames(ctx, param, value):
    from maskcli.errors import UsageError
    from maskcli.plan import parse_rename

    try:
        return tuple(parse_rename(rule) for rule in value)
    except UsageError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


renames_callback = _renames  # for commands that stack their own options


def palette_option(allow_embedded: bool = False, encoded: bool = False):
    extra = " 'embedded' keeps the indices each palettized input stores." if allow_embedded else ""
    if encoded:
        extra += (" Optional with --encoding: then the decoded values are checked against the "
                  "palette's ids, and void becomes its ignore index.")
    return click.option(
        "-p", "--palette", required=not encoded, callback=palette_loader(allow_embedded), metavar="PALETTE",
        help="A built-in palette name (see 'maskcli palettes') or a palette YAML file "
        "(a value with a '/' or an extension is a file)." + extra,
    )


ENCODING_NAMES = ("ade20k-full", "bdd100k-bitmask", "cityscapes-instance", "coco-panoptic", "mapillary-instance")

encoding_options = (
    click.option(
        "--encoding", type=click.Choice(ENCODING_NAMES), metavar="NAME",
        help="The inputs are encoded label images, decoded exactly (never with tolerance): "
        "ade20k-full (*_seg.png, R/10*256+G, 16-bit output), cityscapes-instance (*_instanceIds.png "
        "to label ids), coco-panoptic (with --annotations), bdd100k-bitmask (RGBA, R = category), "
        "mapillary-instance (16-bit, value // 256). See docs/formats.md.",
    ),
    click.option(
        "--annotations", type=click.Path(dir_okay=False), metavar="FILE.json",
        help="With --encoding coco-panoptic: the panoptic annotation JSON (panoptic_val2017.json); "
        "each PNG's segments are found by its file name.",
    ),
    click.option(
        "--categories", type=click.Choice(["original", "contiguous"]), default=None,
        help="With --encoding coco-panoptic: write the JSON's category_id (original, the default) "
        "or 0..N-1 in the order of its 'categories' (contiguous).",
    ),
)


instances_option = click.option(
    "--instances", type=click.Path(file_okay=False), metavar="DIR",
    help="With --encoding ade20k-full, cityscapes-instance or bdd100k-bitmask: also write each "
    "input's instance ids (16-bit PNG, 0 = no instance; the ids the file stores) below DIR, "
    "mirrored like the outputs.",
)


def build_encoding(name, annotations, categories):
    """The run's encodings.Encoding from --encoding/--annotations/--categories, or None;
    raises UsageError for options that do not go together."""
    from maskcli.errors import UsageError

    if name is None:
        if annotations or categories:
            raise UsageError("--annotations and --categories go with --encoding coco-panoptic")
        return None
    if name != "coco-panoptic":
        if annotations or categories:
            raise UsageError(f"--annotations and --categories go with --encoding coco-panoptic, not {name}")
        from maskcli.encodings import Encoding

        return Encoding(name)
    if not annotations:
        raise UsageError("--encoding coco-panoptic needs --annotations FILE.json (panoptic_val2017.json)")
    from maskcli.encodings import load_annotations

    with interruptible(annotations):
        return load_annotations(annotations, categories or "original")


def _inputs(ctx, param, value):
    """Local inputs must exist (checked here, before any work); URLs are checked when listed."""
    import os

    from maskcli import storage

    for item in value:
        path = storage.local_path(item)
        if item != "-" and not storage.is_remote(path) and not os.path.lexists(path):
            raise click.BadParameter(f"{item}: no such file or folder", ctx=ctx, param=param)
    return value


inputs_argument = click.argument("inputs", nargs=-1, metavar="INPUT...", callback=_inputs)

jobs_option = click.option(
    "-j", "--jobs", type=click.IntRange(min=1), callback=_jobs, metavar="N",
    help="Worker processes. Default: the CPUs this process may use. 1 (or fewer than 4 files) runs in-process.",
)

scheduler_option = click.option(
    "--scheduler", envvar="MASKCLI_SCHEDULER", metavar="ADDRESS",
    help="Run the per-file work on this Dask distributed scheduler (e.g. tcp://10.0.0.5:8786) "
    "instead of local processes; also MASKCLI_SCHEDULER. Needs maskcli[dask].",
)

quiet_option = click.option(
    "-q", "--quiet", is_flag=True, help="No progress bar, warnings or summary; errors still print."
)

channel_order_option = click.option(
    "--channel-order", type=click.Choice(["rgb", "bgr"]), default="rgb", show_default=True,
    help="How color files store each color: rgb, or bgr for masks whose red and blue are swapped "
    "(an RGB array saved with OpenCV's cv2.imwrite). Index masks are not affected.",
)

VERBOSE_HELP = {
    "to-index": "Say more: every unknown color of a failed file (not only the first 3), each color "
    "--unknown nearest snapped, names --rename left alone.",
    "to-rgb": "Say more: every unknown value of a failed file (not only the first 3), names --rename left alone.",
    "remap": "Say more: every value the map does not list in a failed file (not only the first 3), "
    "names --rename left alone.",
    "rasterize": "Say more: names --rename left alone.",
    "check": "Say more: every unknown color or value of a failed file (not only the first 3), every "
    "file of an odd size and every size seen (not only the first 5).",
}


def verbose_option(command: str):
    return click.option("-v", "--verbose", is_flag=True, help=VERBOSE_HELP[command])


def _finite(ctx, param, value):
    """click's FloatRange lets nan through (every comparison with nan is false): refuse it."""
    import math

    if value is not None and math.isnan(value):
        raise click.BadParameter("nan is not a number", ctx=ctx, param=param)
    return value


def float_option(*names, low=None, high=None, **kwargs):
    """A float option within [low, high] that refuses nan (exit 2)."""
    return click.option(*names, type=click.FloatRange(min=low, max=high), callback=_finite, **kwargs)


def _not_empty(message: str):
    """An empty path ('') is a usage error (exit 2) with ``message``."""
    def check(ctx, param, value):
        if value == "":
            raise click.UsageError(message, ctx=ctx)
        return value

    return check


report_option = click.option(
    "--report", type=click.Path(dir_okay=False, allow_dash=True), metavar="FILE", callback=_not_empty("--report: empty path"),
    help="Write a JSON report of the run (counts, options, every file's status) to FILE; '-' is stdout. "
    "A regular FILE is replaced whole; a device, FIFO or /dev/fd/N (--report >(jq .total)) is written "
    "in place; a symbolic link is followed. Entries wait in a hidden temporary file beside FILE "
    "(else in TMPDIR), not in memory.",
)

selection_options = (
    click.option("--include", multiple=True, metavar="GLOB",
                 help="Take only files matching GLOB in input folders (repeatable); replaces the "
                 "default extensions. A GLOB with a '/' matches the path relative to the input folder."),
    click.option("--exclude", multiple=True, metavar="GLOB",
                 help="Leave out files matching GLOB in input folders (repeatable)."),
    click.option("--files-from", type=click.Path(dir_okay=False, allow_dash=True), metavar="FILE",
                 help="Read more input paths from FILE, one per line ('-' for stdin)."),
)

base_option = click.option(
    "--base", type=click.Path(file_okay=False), metavar="DIR",
    help="Output paths are the inputs' paths relative to DIR (every input must be inside it). "
    "Default: the input folder (the deepest folder holding them, for several); with no folder "
    "argument, the current folder.",
)


def output_option(help_text: str, required: bool = True):
    return click.option(
        "-o", "--output", required=required, type=click.Path(allow_dash=True), metavar="OUTPUT",
        callback=_not_empty("-o: empty output path"), help=help_text,
    )


def stack(*decorators):
    """Apply decorators so that --help lists them in the order given."""
    def apply(fn):
        for decorator in reversed(decorators):
            fn = decorator(fn)
        return fn
    return apply


def _map_loader(ctx, param, value):
    from maskcli.remap import load_map

    with interruptible(value):
        return load_map(value)  # like a palette: one line, exit 2


map_option = click.option(
    "--map", "mapping", required=True, callback=_map_loader, metavar="MAP",
    help="A built-in map name (cityscapes-trainids) or a map YAML file: see docs/remap.md.",
)


def batch_options(command: str, allow_embedded: bool = False, palette: bool = True, encoded: bool = False,
                  output_help=None):
    """The options every batch conversion takes, in the order --help shows them."""
    source = "palette" if palette else "map"
    return stack(
        inputs_argument,
        output_option(output_help or (
            "Output folder: each input's path relative to --base is written below it, ending in .png. "
            "For a single input file (or '-', stdin), an output file name ending in .png; '-' writes "
            "the PNG of a single input to stdout. An output that is a symbolic link, device or FIFO "
            "is an error for that file."
        )),
        palette_option(allow_embedded, encoded) if palette else map_option,
        *(encoding_options if encoded else ()),
        jobs_option,
        scheduler_option,
        click.option("--update", is_flag=True,
                     help="Skip files whose output is newer than its input and was made by the same "
                     "command, " + source + " content and output options (recorded in the output; see "
                     "'maskcli info'). Outputs without that record are converted again."),
        click.option("-n", "--dry-run", is_flag=True,
                     help="Print what would be converted (input -> output, or up to date); write "
                     "nothing (with '-', read nothing from stdin either)."),
        *selection_options,
        base_option,
        click.option("--rename", "rename", multiple=True, callback=_renames, metavar="OLD:NEW",
                     help="Replace the suffix OLD of an output file's name (without extension) by NEW "
                     "(repeatable; the first match wins), e.g. _gtFine_color:_gtFine_labelTrainIds."),
        report_option,
        quiet_option,
        verbose_option(command),
    )
