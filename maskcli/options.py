"""Click options shared by several commands, defined once and stacked as decorators.

Bad values are rejected here, in callbacks, with click.BadParameter (exit status 2) before
any work starts.
"""

from __future__ import annotations

import click

from maskcli.errors import PaletteError


def _load_palette(ctx, param, value):
    if value is None:
        return None
    from maskcli.palette import load_palette

    try:
        return load_palette(value)
    except PaletteError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


def _jobs(ctx, param, value):
    if value is None:
        from maskcli.runner import available_cpus

        return available_cpus()
    return value


inputs_argument = click.argument(
    "inputs", nargs=-1, required=True, metavar="INPUT...", type=click.Path(exists=True)
)

palette_option = click.option(
    "-p",
    "--palette",
    required=True,
    callback=_load_palette,
    metavar="PALETTE",
    help="A built-in palette name (see 'maskcli palettes') or a palette YAML file "
    "(a value with a '/' or an extension is a file).",
)

jobs_option = click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    callback=_jobs,
    metavar="N",
    help="Worker processes. Default: the CPUs this process may use. 1 runs in-process.",
)

quiet_option = click.option(
    "-q", "--quiet", is_flag=True, help="No progress bar, warnings or summary; errors still print."
)


def output_option(help_text: str, required: bool = True):
    return click.option(
        "-o", "--output", required=required, type=click.Path(), metavar="OUTPUT", help=help_text
    )


def batch_options(fn):
    """The options every batch conversion takes, in the order --help shows them."""
    for decorator in reversed(
        (
            inputs_argument,
            output_option(
                "Output folder, mirroring the input folders; or, for a single input file, "
                "an output file name ending in .png."
            ),
            palette_option,
            jobs_option,
            quiet_option,
        )
    ):
        fn = decorator(fn)
    return fn
