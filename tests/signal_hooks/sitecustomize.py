"""Test hooks for tests/test_signals.py, loaded by every Python process the tests start (this
folder is put first on PYTHONPATH), so also by the fork server and the worker processes.
Nothing here runs unless MASKCLI_TEST_MARKS names a folder; maskcli itself knows nothing of it.

- writes ``started`` in that folder when maskcli's CLI module starts being imported (maskcli's
  signal handlers are in place by then), and ``pool`` when the worker pool is about to start;
- with MASKCLI_TEST_SLOW_FILES=SECONDS: every mask (or annotation, for rasterize) read writes
  ``<name>.read`` there and then sleeps that long, so that "in the middle of a run" lasts;
- with MASKCLI_TEST_SLOW_LIST=FOLDER: listing a folder under FOLDER writes ``listing`` there and
  sleeps half a second, so that "while the inputs are listed" lasts;
- with MASKCLI_TEST_THREAD=1: a thread that does nothing runs in maskcli's process from the start
  (as an S3 client's would), so it may not fork its workers itself.
"""

import os
import sys
import time

MARKS = os.environ.get("MASKCLI_TEST_MARKS")


def _mark(name: str) -> None:
    with open(os.path.join(MARKS, name), "a"):
        pass


def _audit(event, args):
    if event == "import" and args[0] == "maskcli.cli":
        _mark("started")
    elif event == "import" and args[0] == "concurrent.futures.process":
        _mark("pool")  # the worker pool (and multiprocessing's fork server) is about to start


SLOWED = {"maskcli.masks": "read_mask", "maskcli.annotations": "read_annotation"}


def _slow_reads(module, name: str) -> None:
    seconds = float(os.environ["MASKCLI_TEST_SLOW_FILES"])
    real = getattr(module, name)

    def read(path, *args, **kwargs):
        mask = real(path, *args, **kwargs)
        _mark(os.path.basename(os.fspath(path)) + ".read")
        time.sleep(seconds)
        return mask

    setattr(module, name, read)


class _PatchOnImport:
    """Patches maskcli.masks (and maskcli.annotations) right after it is first imported."""

    def find_spec(self, name, path=None, target=None):
        if name not in SLOWED:
            return None
        from importlib.machinery import PathFinder

        spec = PathFinder.find_spec(name, path)
        if spec is None:
            return None
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            _slow_reads(module, SLOWED[name])

        spec.loader.exec_module = exec_module
        return spec


def _slow_listing(root: str) -> None:
    real = os.scandir

    def scandir(path="."):
        if os.path.abspath(os.fspath(path)).startswith(root):
            _mark("listing")
            time.sleep(0.5)
        return real(path)

    os.scandir = scandir


if MARKS:
    sys.addaudithook(_audit)
    if os.environ.get("MASKCLI_TEST_SLOW_FILES"):
        sys.meta_path.insert(0, _PatchOnImport())
    if os.environ.get("MASKCLI_TEST_SLOW_LIST"):
        _slow_listing(os.path.abspath(os.environ["MASKCLI_TEST_SLOW_LIST"]))
    if os.environ.pop("MASKCLI_TEST_THREAD", None):  # popped: not in the processes maskcli starts
        import threading

        threading.Thread(target=threading.Event().wait, daemon=True).start()
