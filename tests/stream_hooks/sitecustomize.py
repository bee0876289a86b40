"""Test hooks for tests/test_stream.py, loaded by every Python process those tests start (this
folder is put first on PYTHONPATH). Nothing here runs unless MASKCLI_TEST_STREAM names a folder;
maskcli itself knows nothing of it.

- MASKCLI_TEST_LOOKAHEAD=N: a streamed plan hands out its first job once N are found (the real
  value, 10,000, would need trees of that size to show streaming);
- MASKCLI_TEST_WAIT_AFTER=N and MASKCLI_TEST_WAIT_FOR=PATH: after the walk has found N files,
  it waits (at most 60 s, against a hang) until PATH exists, and writes ``appeared`` or
  ``never appeared`` in the MASKCLI_TEST_STREAM folder. A tool that lists every file before
  converting one never sees PATH appear while it lists.
"""

import os
import sys
import time

MARKS = os.environ.get("MASKCLI_TEST_STREAM")


class _PatchOnImport:
    """Patches maskcli.plan right after it is first imported."""

    def find_spec(self, name, path=None, target=None):
        if name != "maskcli.plan":
            return None
        from importlib.machinery import PathFinder

        spec = PathFinder.find_spec(name, path)
        if spec is None:
            return None
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            _patch(module)

        spec.loader.exec_module = exec_module
        return spec


def _patch(plan) -> None:
    if "MASKCLI_TEST_LOOKAHEAD" in os.environ:
        plan.LOOKAHEAD = int(os.environ["MASKCLI_TEST_LOOKAHEAD"])
    if "MASKCLI_TEST_WAIT_FOR" in os.environ:
        after = int(os.environ["MASKCLI_TEST_WAIT_AFTER"])
        target = os.environ["MASKCLI_TEST_WAIT_FOR"]
        real = plan._walk

        def walk(*args, **kwargs):
            for n, found in enumerate(real(*args, **kwargs), 1):
                if n == after + 1:
                    deadline = time.monotonic() + 60
                    while not os.path.exists(target) and time.monotonic() < deadline:
                        time.sleep(0.02)
                    with open(os.path.join(MARKS, "appeared" if os.path.exists(target) else "never appeared"), "w"):
                        pass
                yield found

        plan._walk = walk


if MARKS:
    sys.meta_path.insert(0, _PatchOnImport())
