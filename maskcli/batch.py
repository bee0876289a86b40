"""Batch commands: plan the run, convert every file through the runner, report.

The glue between the CLI and the parts: it knows the order of the steps, not how each is done.
"""

from __future__ import annotations

from maskcli import runner, tasks
from maskcli.plan import make_plan
from maskcli.report import Report


def convert_tree(inputs, output, settings: tasks.Settings, jobs: int, quiet: bool = False) -> int:
    """Convert every mask under ``inputs`` into ``output``; returns the exit status."""
    plan = make_plan(inputs, output)
    progress = runner.Progress(len(plan.jobs), settings.command, enabled=not quiet)
    report = Report(settings.command, len(plan.jobs), progress.write, quiet)
    if settings.command == "to-index" and not settings.palette.builtin:
        shared = settings.palette.shared_colors_message()
        if shared:
            report.warn(shared)

    def on_result(item, error):
        report.done(item[0], error)
        progress.update()

    try:
        runner.run(tasks.safe_convert, plan.jobs, args=(settings,), jobs=jobs, on_result=on_result)
    except runner.Interrupted as stop:
        progress.close()
        report.finish(interrupted=str(stop))
        return stop.exit_code
    progress.close()
    report.finish()
    return report.exit_code
