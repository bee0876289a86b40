"""Memory of a Dask run at scale: the scheduler's and the client's RSS while maskcli converts N files.

    python benchmarks/dask_scale.py 200000          # needs maskcli[dask]; minutes on 2 cores
    python benchmarks/dask_scale.py 5000 --keep     # keep the tree and outputs (printed)

Builds N mask files under a temporary folder: hard links of one 64x64 RGB PNG (cityscapes
colors; a new copy every 50,000 links), 1,000 to a folder, so the tree costs inodes, not
data. Starts a local cluster with the `dask scheduler` and `dask worker` commands (2 worker
processes of 1 thread, under a nanny, as LocalCluster starts them; the scheduler in a process
of its own so that its RSS is its own, not the benchmark's), then runs

    python -m maskcli to-index TREE -o OUT -p cityscapes --scheduler ADDRESS

and polls /proc every 0.5 s: the scheduler's VmRSS and VmHWM (peak), the workers' VmHWM, and the
client's (maskcli's) VmHWM; the client's peak is also taken from wait4 when it exits. Prints
the figures, a timeline of the scheduler's RSS, and checks that every file was converted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

POLL = 0.5  # seconds between looks at /proc
LINKS = 50_000  # hard links per copy of the PNG


def status_kb(pid: int) -> dict:
    """VmRSS and VmHWM of a process in KiB ({} when it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            lines = f.read().splitlines()
    except OSError:
        return {}
    out = {}
    for line in lines:
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0])
    return out


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (children, grandchildren, ...)."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            parents.setdefault(int(stat[stat.rindex(")") + 2 :].split()[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def build_tree(root: str, n: int) -> str:
    """N hard links of one 64x64 PNG under root/masks, 1,000 to a folder."""
    import numpy as np
    from PIL import Image

    colors = np.array([[128, 64, 128], [70, 70, 70], [0, 0, 142], [107, 142, 35], [220, 20, 60]], np.uint8)
    rng = np.random.default_rng(0)
    blocks = rng.integers(0, len(colors), (8, 8))
    one = os.path.join(root, "one.png")
    Image.fromarray(colors[np.kron(blocks, np.ones((8, 8), int))]).save(one)
    tree = os.path.join(root, "masks")
    for i in range(n):
        folder = os.path.join(tree, f"d{i // 1000:05d}")
        if i % 1000 == 0:
            os.makedirs(folder)
        if i % LINKS == 0:  # a file has at most 65,000 links on ext4: a fresh copy now and then
            source = os.path.join(root, f"one-{i // LINKS}.png")
            shutil.copyfile(one, source)
        os.link(source, os.path.join(folder, f"m{i:07d}.png"))
    return tree


def start_cluster(root: str, workers: int):
    """(scheduler process, worker process, address): `dask scheduler` and `dask worker`."""
    scheduler_file = os.path.join(root, "scheduler.json")
    quiet = {"stdout": subprocess.DEVNULL, "stderr": open(os.path.join(root, "cluster.log"), "ab")}
    scheduler = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                                  "--port", "0", "--dashboard-address", ":0", "--scheduler-file", scheduler_file], **quiet)
    deadline = time.monotonic() + 120
    while not os.path.exists(scheduler_file):
        if scheduler.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the scheduler did not start (see {root}/cluster.log)")
        time.sleep(0.2)
    time.sleep(0.5)  # the file is written whole shortly after it appears
    worker = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file", scheduler_file,
                               "--nworkers", str(workers), "--nthreads", "1", "--no-dashboard"], **quiet)
    from distributed import Client

    with Client(scheduler_file=scheduler_file, timeout="60s") as client:
        client.wait_for_workers(workers, timeout=120)
        address = client.scheduler.address
    return scheduler, worker, address


def mb(kb: int) -> str:
    return f"{kb / 1024:.0f} MB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int, help="number of mask files")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (1 thread each)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()

    root = tempfile.mkdtemp(prefix="maskcli-dask-scale-")
    os.environ["DASK_TEMPORARY_DIRECTORY"] = os.path.join(root, "dask")  # scratch space of every Dask process here
    scheduler = worker = None
    try:
        start = time.monotonic()
        tree = build_tree(root, args.n)
        print(f"tree: {args.n:,} files under {tree} (built in {time.monotonic() - start:.0f} s)", flush=True)
        scheduler, worker, address = start_cluster(root, args.workers)
        idle = status_kb(scheduler.pid)
        print(f"cluster: {address}, {args.workers} workers x 1 thread; scheduler idle RSS {mb(idle['VmRSS'])}", flush=True)

        out = os.path.join(root, "out")
        cmd = [sys.executable, "-m", "maskcli", "to-index", tree, "-o", out, "-p", "cityscapes", "--scheduler", address]
        started = time.monotonic()
        log = open(os.path.join(root, "maskcli.log"), "w+")  # a file, not a pipe nobody reads while it runs
        client = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log, text=True)
        timeline, client_hwm, worker_hwm = [], 0, {}
        while True:
            pid, status, usage = os.wait4(client.pid, os.WNOHANG)
            if pid:
                break
            now = time.monotonic() - started
            s = status_kb(scheduler.pid)
            timeline.append((now, s.get("VmRSS", 0)))
            client_hwm = max(client_hwm, status_kb(client.pid).get("VmHWM", 0))
            for w in descendants(worker.pid):
                worker_hwm[w] = max(worker_hwm.get(w, 0), status_kb(w).get("VmHWM", 0))
            time.sleep(POLL)
        wall = time.monotonic() - started
        client.returncode = os.waitstatus_to_exitcode(status)
        log.seek(0)
        stderr = log.read()
        end = status_kb(scheduler.pid)
        made = sum(len(files) for _, _, files in os.walk(out))

        print(f"command: {' '.join(cmd[1:])}")
        print(f"exit status {client.returncode}; {made:,} of {args.n:,} outputs; {wall:.0f} s, {args.n / wall:,.0f} files/s")
        print(f"maskcli's summary: {stderr.strip().splitlines()[-1] if stderr.strip() else '(none)'}")
        print(f"error lines: {sum(line.startswith('error') for line in stderr.splitlines())}")
        print(f"client (maskcli) peak RSS: {mb(max(client_hwm, usage.ru_maxrss))}")
        print(f"scheduler RSS: idle {mb(idle['VmRSS'])}, peak {mb(end['VmHWM'])}, after the run {mb(end['VmRSS'])}")
        if worker_hwm:
            print(f"worker processes' peak RSS: {', '.join(mb(v) for v in sorted(worker_hwm.values()))} "
                  "(nanny and workers)")
        if timeline:
            marks = [timeline[min(len(timeline) - 1, int(len(timeline) * q))] for q in (0.1, 0.25, 0.5, 0.75, 0.95)]
            print("scheduler RSS during the run: " + ", ".join(f"{t:.0f} s {mb(kb)}" for t, kb in marks))
        if client.returncode != 0 or made != args.n:
            print(stderr[-3000:], file=sys.stderr)
            raise SystemExit(1)
    finally:
        for proc in (worker, scheduler):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(60)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
