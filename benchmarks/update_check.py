"""What the output record costs: stamping it into each PNG, and checking it on --update.

    python benchmarks/update_check.py [--files 2000] [--dir /tmp/somewhere]

Writes N small color masks (64x64) and one 2048x1024 mask into a temporary folder, converts
them, then reports (best of several repeats, in this process):
- the time to stamp the record into an encoded PNG, next to a whole file's work;
- the up-to-date check alone (plan.is_up_to_date over every output), in files/s;
- a whole `maskcli to-index --update` process over the up-to-date outputs (median of 5).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from pathlib import Path

import numpy as np

COLORS = np.array([[128, 64, 128], [70, 70, 70], [0, 0, 142], [107, 142, 35]], np.uint8)


def make(folder: Path, n: int) -> None:
    import cv2

    rng = np.random.default_rng(0)
    for i in range(n):
        sub = folder / "small" / f"s{i % 20}"
        sub.mkdir(parents=True, exist_ok=True)
        img = COLORS[np.kron(rng.integers(0, 4, (8, 8)), np.ones((8, 8), int))]
        cv2.imwrite(str(sub / f"m{i}.png"), img[..., ::-1])
    big = COLORS[np.kron(rng.integers(0, 4, (64, 128)), np.ones((16, 16), int))]
    (folder / "big").mkdir(exist_ok=True)
    cv2.imwrite(str(folder / "big" / "b.png"), big[..., ::-1])


def stamp_cost(folder: Path) -> None:
    from maskcli import masks, provenance, tasks
    from maskcli.palette import load_palette

    settings = tasks.Settings("to-index", load_palette("cityscapes"))
    for path in (folder / "small/s0/m0.png", folder / "big/b.png"):
        mask = masks.read_mask(path)
        png, _ = tasks.convert_mask(mask, settings)
        n = 10 if "big" in path.name else 200
        whole = min(timeit.repeat(lambda: tasks.convert_mask(masks.read_mask(path), settings), number=n, repeat=5)) / n
        stamp = min(timeit.repeat(lambda: provenance.stamp(png, settings.record_chunk), number=2000, repeat=5)) / 2000
        print(f"{mask.shape[1]}x{mask.shape[0]}: read+convert+encode {whole * 1e6:.0f} us, stamping the "
              f"{len(settings.record_chunk)}-byte record {stamp * 1e6:.2f} us ({stamp / whole:.2%})")


def check_rate(folder: Path) -> None:
    from maskcli.palette import load_palette
    from maskcli.plan import is_up_to_date, make_plan
    from maskcli.tasks import Settings

    plan = make_plan([str(folder / "small")], str(folder / "out"))
    digest = Settings("to-index", load_palette("cityscapes")).digest()
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        current = sum(is_up_to_date(src, dst, digest) for src, dst in plan.jobs)
        best = min(best, time.perf_counter() - start)
    assert current == len(plan.jobs), "every output should be up to date"
    print(f"up-to-date check: {len(plan.jobs)} outputs in {best * 1e3:.1f} ms = {len(plan.jobs) / best:,.0f} files/s")


def whole_run(folder: Path) -> None:
    cmd = [sys.executable, "-m", "maskcli", "to-index", str(folder / "small"), "-o", str(folder / "out"),
           "-p", "cityscapes", "--update", "-q"]
    times = []
    for _ in range(6):
        start = time.perf_counter()
        subprocess.run(cmd, check=True)
        times.append(time.perf_counter() - start)
    print(f"whole `to-index --update` process, all up to date: median {statistics.median(times[1:]):.3f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--dir", help="work here instead of a new temporary folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.dir or tmp)
        make(folder, args.files)
        subprocess.run([sys.executable, "-m", "maskcli", "to-index", str(folder / "small"), "-o",
                        str(folder / "out"), "-p", "cityscapes", "-q"], check=True)
        old = time.time() - 100
        for src in (folder / "small").rglob("*.png"):
            os.utime(src, (old, old))
        stamp_cost(folder)
        check_rate(folder)
        whole_run(folder)


if __name__ == "__main__":
    main()
