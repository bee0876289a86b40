"""Batch commands: plan the run, convert every file through the runner, report.

The glue between the CLI and the parts: it knows the order of the steps, not how each is done.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field, replace

from maskcli import __version__, runner, tasks
from maskcli.errors import UsageError
from maskcli.plan import Plan, StreamedPlan, check_reserved, is_up_to_date, make_plan, streamable
from maskcli.walk import Selection, read_file_list
from maskcli.report import EXIT_OK, Report, shown

LOSSY_EXTENSIONS = (".jpg", ".jpeg", ".jpe", ".jfif", ".webp")


@dataclass(frozen=True)
class RunOptions:
    """How to run a batch: everything that is not about converting one file."""

    jobs: int = 1
    quiet: bool = False
    verbose: bool = False
    update: bool = False
    dry_run: bool = False
    report: str | None = None
    selection: Selection = Selection()
    rename: tuple[tuple[str, str], ...] = ()
    files_from: str | None = None
    base: str | None = None
    scheduler: str | None = None
    recorded: dict = field(default_factory=dict)  # the options as given, for the JSON report
    suffix: str = ".png"  # the outputs' extension (".npy" with --format npy)
    listed: list | None = None  # --files-from, once read


def convert_tree(inputs, output, settings: tasks.Settings, run: RunOptions, worker=tasks.safe_convert) -> int:
    """Convert every mask under ``inputs`` into ``output``; returns the exit status.
    ``worker((src, dst), settings) -> (error, info)`` does one file (a module-level function,
    so that worker processes can run it): tasks.safe_convert unless a command has its own."""
    inputs = list(inputs)
    if "-" in inputs or output == "-":
        return convert_stream(inputs, output, settings, run)
    if run.jobs > 1 and not run.dry_run and not run.scheduler and _may_be_many(inputs, run):
        runner.prestart(run.jobs)  # the fork server starts up while the inputs are listed
    try:
        return _convert_listed(inputs, output, settings, run, worker)
    finally:
        runner.stop_helpers()  # reaped even when no pool was used (one file, an error, a signal)


def _may_be_many(inputs, run: RunOptions) -> bool:
    """Whether the inputs may make enough files for a pool (a folder, a list, a remote URL):
    a few files named directly run in-process, so no fork server is started for them."""
    from maskcli import storage

    if run.files_from or len(inputs) >= runner.POOL_MIN_ITEMS:
        return True
    for path in inputs:
        try:
            if storage.is_remote(os.fspath(path)) or os.path.isdir(path):
                return True
        except (TypeError, ValueError):  # an odd name: listing will say what is wrong with it
            pass
    return False


def _convert_listed(inputs, output, settings: tasks.Settings, run: RunOptions, worker) -> int:
    plan, todo, interrupted = None, [], None  # todo stays empty when a signal stops the listing
    try:
        with runner.interruptible():  # listing may take long and leaves nothing behind
            stream = False
            if not settings.instances:
                listed = read_file_list(run.files_from) if run.files_from else []
                run = replace(run, listed=listed)
                stream = bool(inputs or listed) and streamable(inputs, output, listed, run.suffix)
            if stream and run.dry_run:
                return _dry_run_streamed(inputs, output, settings, run)
            if not stream:
                plan, todo, current = _list(inputs, output, settings, run)
    except runner.Interrupted as stop:
        interrupted = stop
    else:
        if stream:
            return _convert_streamed(inputs, output, settings, run, worker)

    if run.dry_run and interrupted:
        raise interrupted  # nothing to summarize: the command line says it was interrupted
    if run.dry_run:
        up_to_date = set(current)
        for path, reason in plan.problems:
            print(f"error: {shown(path)}: {reason}", file=sys.stderr)
        for path, reason in plan.skipped:
            print(f"warning: {shown(path)}: skipped: {reason}", file=sys.stderr)
        for job in plan.jobs:
            _print_path_line(f"{job[0]}: up to date ({job[1]})" if job in up_to_date else f"{job[0]} -> {job[1]}")
        sys.stdout.flush()
        return EXIT_OK

    progress = runner.Progress(len(todo) if plan else 0, settings.command, enabled=not run.quiet and not interrupted)
    report = Report(settings.command, len(plan.jobs) if plan else 0, progress.write, run.quiet, run.verbose,
                    report_to=run.report)
    if plan is not None:
        _warn_before(settings, run, plan, todo, report)
        for path, reason in plan.problems:
            report.done(path, None, reason)
        for src, dst in current:
            report.up_to_date(src, dst)

    return run_and_finish(worker, todo, settings, run, report, progress, interrupted)


def _streamed_plan(inputs, output, run: RunOptions) -> StreamedPlan:
    """The StreamedPlan of a run (its --files-from list read already, in ``run.listed``)."""
    reserved = [("--report", run.report)] if run.report not in (None, "-") else []
    return StreamedPlan(inputs, output, run.selection, run.rename, base=run.base, listed=run.listed,
                        suffix=run.suffix, reserved=reserved)


def _convert_streamed(inputs, output, settings: tasks.Settings, run: RunOptions, worker) -> int:
    """The run of :func:`convert_tree` whose jobs are found while it converts (a
    StreamedPlan): the first file is converted at once, and memory does not grow with the
    number of files. Up-to-date checks (--update) run where the files are converted."""
    plan = _streamed_plan(inputs, output, run)
    progress = runner.Progress(None, settings.command, enabled=not run.quiet)
    report = Report(settings.command, 0, progress.write, run.quiet, run.verbose, report_to=run.report)
    report.total_known = False
    _warn_settings(settings, run, report)
    lossy = settings.command == "to-index" and settings.unknown != "nearest"

    def todo():
        nonlocal lossy
        for kind, path, other in plan.events():
            if plan.complete and not report.total_known:
                report.total, report.total_known = plan.found, True
                progress.set_total(plan.found)
            if kind == "job":
                if not report.total_known:  # the JSON report's total, if the run stops before the walk ends
                    report.total = plan.found
                    progress.found(plan.found)
                if lossy and path.lower().endswith(LOSSY_EXTENSIONS):
                    _warn_lossy(report, None, path)
                    lossy = False
                yield (path, other)
            elif kind == "problem":
                yield runner.Ready((path, None), (other, None))
            elif kind == "skipped":
                report.warn(f"{shown(path)}: skipped: {other}")
            else:
                report.info(f"{shown(path)}: no --rename rule matches its name; it keeps its name")
        if plan.complete and not report.total_known:
            report.total, report.total_known = plan.found, True
            progress.set_total(plan.found)

    if run.update:
        fn, args = convert_if_stale, (worker, settings, settings.digest())
    else:
        fn, args = worker, (settings,)
    return run_and_finish(worker, todo(), settings, run, report, progress, call=(fn, args), stopped=lambda: plan.stopped)


def _dry_run_streamed(inputs, output, settings: tasks.Settings, run: RunOptions) -> int:
    """--dry-run of a run that streams: the plan's lines as the walk finds them (so a plan of
    millions of lines starts at once and takes no memory), problems on stderr as they come."""
    plan = _streamed_plan(inputs, output, run)
    digest = settings.digest() if run.update else None
    for kind, path, other in plan.events():
        if kind == "job":
            current = digest is not None and is_up_to_date(path, other, digest)
            _print_path_line(f"{path}: up to date ({other})" if current else f"{path} -> {other}")
        elif kind == "problem":
            print(f"error: {shown(path)}: {other}", file=sys.stderr)
        elif kind == "skipped":
            print(f"warning: {shown(path)}: skipped: {other}", file=sys.stderr)
    sys.stdout.flush()
    if plan.stopped is not None:
        raise plan.stopped
    return EXIT_OK


UP_TO_DATE = "up to date"  # the outcome of a file --update did not need to convert


def convert_if_stale(item, worker, settings: tasks.Settings, digest: str):
    """``worker(item, settings)``, unless the output is up to date (--update): then
    :data:`UP_TO_DATE`. Runs where the files are converted, so the checks share the workers."""
    if is_up_to_date(item[0], item[1], digest):
        return UP_TO_DATE
    return worker(item, settings)


def run_and_finish(worker, todo, settings, run: RunOptions, report: Report, progress, interrupted=None,
                   call=None, stopped=None) -> int:
    """Run ``worker(item, settings) -> (error, info)`` over ``todo`` (items whose first two
    fields are input and output), then write the report and the summary; returns the exit
    status. Shared by every command that writes one output per input. ``call`` = ``(fn,
    args)`` runs ``fn(item, *args)`` instead (an outcome may then be :data:`UP_TO_DATE`);
    ``stopped()`` gives the UsageError that ended a streamed plan early, if one did: raised
    after the summary (at once when nothing was done)."""

    def on_result(item, outcome):
        if outcome == UP_TO_DATE:
            report.up_to_date(item[0], item[1])
        else:
            error, info = outcome
            report.done(item[0], item[1], error, info)
        progress.update()

    fn, args = call or (worker, (settings,))
    if interrupted is None:
        try:
            runner.run(fn, todo, args=args, jobs=run.jobs, on_result=on_result,
                       lost_result=(runner.LOST, None), scheduler=run.scheduler, on_crash=_discard_partial)
        except runner.Interrupted as stop:
            interrupted = stop
    interrupted = runner.settle() or interrupted  # also a signal that came after the last file
    progress.close()
    usage = stopped() if stopped is not None else None
    if usage is not None and not interrupted and not report.outcomes:
        raise usage  # nothing was done: the error line alone, as for any usage error
    if usage is not None and not interrupted:  # the command line is wrong (the report's name may be why):
        report.finish()  # say what was done before it was found, then the error; no report
        raise usage
    _write_report(report, run, interrupted)  # first: a report that cannot be written is a failure
    report.finish(interrupted=str(interrupted) if interrupted else None)
    return interrupted.exit_code if interrupted else report.exit_code


def _list(inputs, output, settings: tasks.Settings, run: RunOptions):
    """The plan, the jobs to do and the jobs already up to date (with --update)."""
    listed = run.listed if run.listed is not None else read_file_list(run.files_from) if run.files_from else []
    if not inputs and not listed and not run.files_from:
        raise UsageError("no inputs: give INPUT... or --files-from")
    if inputs or listed:
        plan = make_plan(inputs, output, run.selection, run.rename, base=run.base, listed=listed, suffix=run.suffix)
    else:  # an empty list: nothing changed since the last incremental run
        plan = Plan([], "")
    if run.report not in (None, "-"):
        check_reserved(run.report, plan.jobs, "--report")
    if settings.instances:  # the instance files must not overwrite an input either
        from maskcli.plan import check_collisions

        check_collisions([(src, tasks.instances_path(dst, settings)) for src, dst in plan.jobs])
    digest = settings.digest() if run.update else None
    todo, current = [], []
    for job in plan.jobs:
        (current if run.update and is_up_to_date(*job, digest) else todo).append(job)
    return plan, todo, current


def _print_path_line(line: str) -> None:
    """Print a line of paths on stdout; a file name that is not valid UTF-8 is written back as
    the bytes it has on disk, so the plan can be piped into other tools."""
    sys.stdout.flush()
    sys.stdout.buffer.write((line + "\n").encode(sys.stdout.encoding or "utf-8", "surrogateescape"))


def _discard_partial(jobs, pids) -> None:
    """Workers that were killed could not remove their temporary files: do it for them."""
    from maskcli.masks import discard_temp_files_of

    for item in jobs:
        discard_temp_files_of(item[1], pids)


def _warn_before(settings, run: RunOptions, plan, todo, report: Report) -> None:
    _warn_settings(settings, run, report)
    if settings.command == "to-index" and settings.unknown != "nearest":
        lossy = [src for src, _ in todo if src.lower().endswith(LOSSY_EXTENSIONS)]
        if lossy:
            _warn_lossy(report, len(lossy), lossy[0])
    for path, reason in plan.skipped:
        report.warn(f"{shown(path)}: skipped: {reason}")
    for src in plan.kept_names:
        report.info(f"{shown(src)}: no --rename rule matches its name; it keeps its name")


def _warn_settings(settings, run: RunOptions, report: Report) -> None:
    """The warnings that depend on the options alone."""
    if run.update and settings.format == "npy":
        report.warn("--update: .npy outputs hold no record of what made them, so every file is converted again")
    palette = settings.palette
    if settings.command == "to-index" and palette is not None and not palette.builtin:
        shared = palette.shared_colors_message()
        if shared:
            report.warn(shared)


def _warn_lossy(report: Report, count, first: str) -> None:
    """``count`` inputs (None: not known yet, the run is finding them) are JPEG or WebP."""
    what = f"{count} input(s) are" if count is not None else "some inputs are"
    report.warn(f"{what} in a lossy format (first: {shown(first)}): their colors are "
                "probably off near edges; consider --unknown nearest --max-distance D")


def _write_report(report: Report, run: RunOptions, interrupted) -> None:
    """Write the JSON report, streamed from the entries the Report spooled to disk."""
    if run.report is None:
        return
    error = report.write_json(run.report, __version__, run.recorded, str(interrupted) if interrupted else None)
    if error is not None:
        report.done(run.report, None, f"cannot write the report: {error}")


def convert_stream(inputs, output: str, settings: tasks.Settings, run: RunOptions) -> int:
    """One mask, when stdin ('-' as the input) or stdout (-o -) is involved: stdin to stdout,
    stdin to a file (``- -o out.png``) or a file to stdout (``a.png -o -``)."""
    from maskcli import masks
    from maskcli.errors import MaskError

    src = _stream_source(inputs, output, run)
    if output != "-" and (not output.lower().endswith(run.suffix) or os.path.isdir(output)):
        raise UsageError(f"-o {output}: with the input '-', -o names the output file (ending in {run.suffix}), or is '-'")
    if run.report == "-" and output == "-":
        raise UsageError("--report - cannot share stdout with the PNG; give --report a file name")
    if run.report not in (None, "-"):
        check_reserved(run.report, [(p, p) for p in (src, output) if p != "-"], "--report")
    if output != "-" and src != "-" and os.path.abspath(src) == os.path.abspath(output):
        raise UsageError(f"{output}: the output would overwrite the input {src}; choose another -o")
    if run.dry_run:  # nothing is read, nothing written
        _print_path_line(f"{src} -> {output}")
        sys.stdout.flush()
        return EXIT_OK
    report = Report(settings.command, 1, lambda m: print(m, file=sys.stderr), quiet=True,
                    report_to=run.report)
    try:
        if src == "-":
            with runner.interruptible():  # waiting for stdin
                data = masks.read_stream(sys.stdin.buffer)
            mask = tasks.decode_input(data, settings)
        else:
            mask = tasks.read_input(src, settings)
        data, info = tasks.convert_mask(mask, settings, "" if src == "-" else os.path.basename(src))
        if output == "-":
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        else:
            masks.atomic_write(output, data)
    except (MaskError, OSError) as exc:
        report.done(src, output, *tasks.failure(exc, None if output == "-" else output, settings.verbose))
    else:
        report.done(src, output, None, info)
    _write_report(report, run, None)
    return report.exit_code


def _stream_source(inputs, output: str, run: RunOptions) -> str:
    """The one input of a stdin/stdout run, checked before anything is read."""
    from maskcli import storage

    if len(inputs) != 1 or run.files_from:
        raise UsageError(
            "'-' (stdin) and -o - (stdout) convert one mask: give a single INPUT (a file, or '-') "
            "and no --files-from"
        )
    src = inputs[0]
    if src == "-" or storage.is_remote(storage.local_path(src)):
        return src
    if os.path.isdir(src):
        raise UsageError(f"{shown(src)}: is a folder; -o - writes one PNG to stdout: give a single file")
    if not os.path.lexists(src):
        raise UsageError(f"{shown(src)}: no such file or folder")
    return src
