"""`python -m maskcli` and the `maskcli` command."""

import os
import sys

from maskcli.runner import catch_signals, keep_freed_memory


def main() -> None:
    catch_signals()  # first: a signal during start-up then ends the run quietly, with 128 + its number
    # maskcli does no linear algebra: OpenBLAS would otherwise start a thread per core when NumPy
    # is imported, which spins for a while (about 20 ms of CPU per process, also in every pool
    # worker, which inherit this). A value the user set is kept.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    if _will_convert(sys.argv[1:]):
        import numpy  # noqa: F401  here, not deep inside the command: see _will_convert

        keep_freed_memory()  # see its docstring: buffers of the next file reuse this one's pages
    from maskcli.cli import main as cli_main

    try:
        cli_main(prog_name="maskcli")
    except SystemExit as exc:
        _exit_now(exc.code)
        raise


def _will_convert(args) -> bool:
    """Whether this run will need NumPy (anything but help, the version and shell completion).
    It is then imported here, near the bottom of the call stack. Imported where the command
    first needs it, some 40 frames deep, NumPy's import (its typing module's Literal aliases)
    runs a loop of calls right at a boundary of CPython 3.11's frame stack, which then maps and
    unmaps a 16 KiB chunk on every call: about 1,600 mmap/munmap pairs, 20-35 ms of a one-file
    run's 150 ms. Imported near the bottom, the loop stays inside the first chunk."""
    if len(args) < 2 or any(a in ("--help", "-h", "--version") for a in args):
        return False
    return "_MASKCLI_COMPLETE" not in os.environ  # click's shell completion


def _exit_now(code) -> None:
    """End the process at once with ``code`` once everything is written and the exit handlers
    have run, skipping the interpreter's teardown of every module and object (NumPy's and
    OpenCV's among them): about 30 ms of CPU, which is a tenth of a one-file run. Returns,
    leaving the ordinary exit to Python, when the code is not a number, when another Python
    thread is still running, under a profiler or tracer (``python -m cProfile -m maskcli``,
    coverage), or when stdout or stderr cannot be flushed (a closed pipe then gets Python's
    usual handling)."""
    if code is None:
        code = 0
    if not isinstance(code, int):
        return
    threading = sys.modules.get("threading")
    if threading is not None and threading.active_count() > 1:
        return
    if sys.getprofile() is not None or sys.gettrace() is not None:
        return  # under a profiler, a debugger or coverage: they report at the interpreter's exit
    if not _flushed():
        return
    import atexit

    atexit._run_exitfuncs()  # what Python runs at exit (multiprocessing's, logging's, weakref.finalize ...)
    if not _flushed():
        return
    os._exit(code & 0xFF)


def _flushed() -> bool:
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):  # a closed pipe, a closed stream
            return False
    return True


if __name__ == "__main__":
    main()
