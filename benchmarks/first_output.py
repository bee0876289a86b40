"""When do outputs appear? Time to the first written output, how outputs arrive (one by one, or
in bursts), and -j N against -j 1, for whole `maskcli to-index` processes.

    python benchmarks/first_output.py FOLDER [-p PALETTE] [-j 1 2] [--rounds 5]

Each run writes into a fresh folder while this script lists it every 2 ms; a file counts once
its final name is there (maskcli renames a finished temporary file into place). The runs of the
different -j values are interleaved, and medians are printed, because a shared machine's speed
drifts from minute to minute.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def outputs(folder: str) -> int:
    count = 0
    for _base, _dirs, files in os.walk(folder):
        count += sum(1 for f in files if f.endswith(".png") and not f.startswith("."))
    return count


def one_run(folder: str, palette: str, jobs: int, work: str) -> dict:
    out = tempfile.mkdtemp(prefix=f"j{jobs}-", dir=work)
    cmd = [sys.executable, "-m", "maskcli", "to-index", folder, "-o", out, "-p", palette, "-j", str(jobs), "-q"]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen, arrivals = 0, []
    while proc.poll() is None:
        now = outputs(out)
        if now > seen:
            arrivals.append((time.perf_counter() - start, now - seen))
            seen = now
        time.sleep(0.002)
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace")
    now = outputs(out)
    if now > seen:
        arrivals.append((wall, now - seen))
    shutil.rmtree(out, ignore_errors=True)
    if proc.returncode != 0:
        raise SystemExit(f"maskcli failed ({proc.returncode}): {err.strip()}")
    return {"wall": wall, "first": arrivals[0][0] if arrivals else None,
            "largest_burst": max((n for _, n in arrivals), default=0), "files": sum(n for _, n in arrivals)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder")
    ap.add_argument("-p", "--palette", default="cityscapes")
    ap.add_argument("-j", "--jobs", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args(argv)
    work = tempfile.mkdtemp(prefix="maskcli-first-")
    try:
        runs = {j: [] for j in args.jobs}
        for _ in range(args.rounds):
            for j in args.jobs:
                runs[j].append(one_run(args.folder, args.palette, j, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    base = statistics.median(r["wall"] for r in runs[args.jobs[0]])
    print(f"{args.folder}: {runs[args.jobs[0]][0]['files']} files, {args.rounds} rounds, medians")
    print(f"{'-j':>3}  {'wall s':>7}  {'first output s':>14}  {'largest burst':>13}  {'speed-up vs -j ' + str(args.jobs[0]):>16}")
    for j, rs in runs.items():
        wall = statistics.median(r["wall"] for r in rs)
        first = statistics.median(r["first"] for r in rs)
        burst = statistics.median(r["largest_burst"] for r in rs)
        print(f"{j:>3}  {wall:7.3f}  {first:14.3f}  {burst:13.0f}  {base / wall:16.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
