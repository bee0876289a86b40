"""What a short conversion run loads and does beyond reading, converting and writing: a
one-file run pays for every module it imports and every system call it makes, so these
guard the hot path against work it does not need (issue 12: one file, small files).

Each run is a real ``python -m maskcli`` process (what it imports depends on the whole
process), which prints the modules it ended with."""

import json
import subprocess
import sys

import numpy as np
from PIL import Image

# Runs maskcli's entry point as ``python -m maskcli`` does, then reports which of the named
# modules the process imported along the way.
_PROBE = """
import json, runpy, sys
watch = json.loads(sys.argv[1])
sys.argv = ["maskcli", *sys.argv[2:]]
try:
    runpy.run_module("maskcli", run_name="__main__", alter_sys=True)
except SystemExit as exc:
    code = exc.code
else:
    code = 0
print(json.dumps({"code": code, "imported": sorted(m for m in watch if m in sys.modules)}))
"""


def _run(args, watch, cwd):
    out = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(watch), *args], capture_output=True,
                         text=True, timeout=120, cwd=cwd)
    return json.loads(out.stdout.strip().splitlines()[-1]), out.stderr


def _color_mask(path):
    rgb = np.zeros((8, 8, 3), np.uint8)
    rgb[:4] = (128, 64, 128)  # road
    rgb[4:] = (70, 130, 180)  # sky
    Image.fromarray(rgb, "RGB").save(path)


def test_a_one_file_run_starts_no_pool_machinery(tmp_path):
    # No pool is started for one file, so stopping the (absent) fork server must not import
    # multiprocessing (sockets, tempfile, shutil, ...) or run a full garbage collection.
    _color_mask(tmp_path / "a.png")
    for jobs in ([], ["-j", "1"], ["-j", "2"]):
        result, err = _run(["to-index", "a.png", "-o", "out.png", "-p", "cityscapes", *jobs],
                           ["multiprocessing", "multiprocessing.forkserver", "multiprocessing.resource_tracker"], tmp_path)
        assert result == {"code": 0, "imported": []}, (jobs, err)
        assert (tmp_path / "out.png").exists()
