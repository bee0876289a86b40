"""Throughput of a local Dask cluster against the process pool, on the same machine.

    python benchmarks/dask_vs_pool.py            # needs maskcli[dask]; about 1 minute on 2 cores

Builds two sets under $TMPDIR/maskcli-dask-bench (120 street-like 2048x1024 masks, 2,000
64x64 masks), then times `maskcli to-index` in-process (-j 1), with the process pool (-j 2)
and on a 2-worker LocalCluster (--scheduler), best of 3 runs each.
"""

import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from PIL import Image

COLORS = np.array([[128, 64, 128], [70, 70, 70], [0, 0, 142], [107, 142, 35], [70, 130, 180],
                   [244, 35, 232], [220, 20, 60]], np.uint8)
ROOT = os.path.join(tempfile.gettempdir(), "maskcli-dask-bench")
SETS = {"120 files 2048x1024": ("big", 120, 1024, 2048, 64), "2000 files 64x64": ("small", 2000, 64, 64, 8)}


def make(folder, n, h, w, cell):
    if os.path.isdir(folder):
        return
    os.makedirs(folder)
    rng = np.random.default_rng(0)
    for i in range(n):
        blocks = rng.integers(0, len(COLORS), (h // cell, w // cell))
        Image.fromarray(COLORS[np.kron(blocks, np.ones((cell, cell), int))]).save(f"{folder}/{i:05d}.png")


def timed(args):
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "maskcli", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    return time.perf_counter() - start


def main():
    from distributed import LocalCluster

    for name, n, h, w, cell in SETS.values():
        make(os.path.join(ROOT, name), n, h, w, cell)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        for label, (name, n, *_ ) in SETS.items():
            src, out = os.path.join(ROOT, name), os.path.join(ROOT, f"out-{name}")
            for how, extra in (("in-process -j 1", ["-j", "1"]), ("pool -j 2", ["-j", "2"]),
                               ("dask, 2 workers", ["--scheduler", cluster.scheduler_address])):
                best = min(timed(["to-index", src, "-o", out, "-p", "cityscapes", "-q", *extra]) for _ in range(3))
                print(f"{label}: {how}: {best:.2f} s, {n / best:.0f} files/s")


if __name__ == "__main__":
    main()
