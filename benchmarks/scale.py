"""``bench.py --scale N``: maskcli on a dataset of N files (issue 15: millions of masks).

Builds (once, cached under the bench cache folder) an N-file tree of hard links to a few small
distinct 64x64 Cityscapes color masks, laid out like a dataset (``partPPP/cityCC/NNNN.png``,
1,000 files a folder), then runs, each as a real subprocess, one after the other:

1. ``to-index -j J`` of the tree;
2. ``to-rgb -j J`` of to-index's outputs;
3. ``check -j J`` of the tree;
4. ``to-index --update -j J`` of the tree over to-index's outputs, all already up to date.

For each run it records the parent's peak RSS (VmHWM), each pool worker's RSS over the run
(sampled from /proc, reported as the largest value in the first and in the last third of the
time the workers were working, to show whether it stays flat), the time until the first output
file appears on disk, the wall time and files/s. Outputs are removed between runs by parallel
``rm -rf`` of the output folders, timed separately. See docs/scale.md ("Millions of files: the
benchmark") for the method.
"""

from __future__ import annotations

import datetime
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
from PIL import Image

import datasets
import procmon

PY = sys.executable
MB = 1e6
PER_FOLDER = 1000  # files a folder
CITIES = 100  # folders of files a top-level folder
SOURCES = 8  # distinct masks; each folder holds its own copy of each, the rest are hard links to them
BLOCK = 4096  # what one small output costs on disk (one block), besides its inode
DIR_BYTES = 32 * 1024  # a folder of 1,000 short names (its entries take a few blocks)
KEEP_FREE_BYTES = 1 << 30  # what the benchmark leaves free on the filesystem
KEEP_FREE_INODES = 10_000
INPUT_MTIME = 1_577_836_800  # 2020-01-01 00:00 UTC: the inputs' modification time
TREE_VERSION = 2  # bump when the layout or the sources change: cached trees are rebuilt


class ScaleError(Exception):
    """The scale benchmark cannot run or a check of maskcli's work failed."""


# --------------------------------------------------------------------------- layout


def folder_of(i: int) -> str:
    """The folder (relative to the tree root) of file number ``i``."""
    f = i // PER_FOLDER
    return os.path.join(f"part{f // CITIES:03d}", f"city{f % CITIES:02d}")


def path_of(i: int) -> str:
    """The path (relative to the tree root) of file number ``i``: partPPP/cityCC/NNNN.png."""
    return os.path.join(folder_of(i), f"{i % PER_FOLDER:04d}.png")


def folder_count(n: int) -> tuple[int, int]:
    """(folders of files, top-level folders) of an n-file tree."""
    leaves = -(-n // PER_FOLDER)
    return leaves, -(-leaves // CITIES)


def source_pngs() -> list[bytes]:
    """SOURCES distinct 64x64 RGB masks in Cityscapes colors (crops of generated street scenes),
    encoded as PNG the way dataset (c) is saved (Pillow, zlib level 6)."""
    lut = datasets.cityscapes_label_colors()
    rng = np.random.default_rng(15)
    out = []
    for k in range(SOURCES):
        scene = datasets.street_labels(15_000 + k, 1024, 512)
        y = int(rng.integers(0, scene.shape[0] - 64))
        x = int(rng.integers(0, scene.shape[1] - 64))
        buf = io.BytesIO()
        Image.fromarray(lut[scene[y : y + 64, x : x + 64]], "RGB").save(buf, format="PNG")
        out.append(buf.getvalue())
    return out


# --------------------------------------------------------------------------- disk


def disk_free(path: str) -> dict:
    st = os.statvfs(path)
    return {"bytes": st.f_bavail * st.f_frsize, "inodes": st.f_favail if st.f_files else None,
            "total_bytes": st.f_blocks * st.f_frsize, "total_inodes": st.f_files or None}


def space_needed(n: int, tree_built: bool) -> dict:
    """What the run will take on disk at most. The input tree (when still to be built) costs its
    folders and SOURCES real files a folder (links cost a directory entry, no inode); the runs
    keep two output trees at once (to-index's outputs while to-rgb writes its own), each output
    one inode and one block."""
    leaves, tops = folder_count(n)
    folders = leaves + tops + 1
    need = {"outputs_inodes": 2 * (n + folders), "outputs_bytes": 2 * (n * BLOCK + folders * DIR_BYTES)}
    if tree_built:
        need |= {"tree_inodes": 0, "tree_bytes": 0}
    else:
        need |= {"tree_inodes": folders + leaves * SOURCES,
                 "tree_bytes": folders * DIR_BYTES + leaves * SOURCES * BLOCK}
    need["inodes"] = need["outputs_inodes"] + need["tree_inodes"]
    need["bytes"] = need["outputs_bytes"] + need["tree_bytes"]
    return need


def check_space(where: str, n: int, tree_built: bool) -> dict:
    free = disk_free(where)
    need = space_needed(n, tree_built)
    short = []
    if free["bytes"] - need["bytes"] < KEEP_FREE_BYTES:
        short.append(f"{need['bytes'] / 1e9:.1f} GB (+{KEEP_FREE_BYTES / 2**30:.0f} GiB kept free), "
                     f"{free['bytes'] / 1e9:.1f} GB free")
    if free["inodes"] is not None and free["inodes"] - need["inodes"] < KEEP_FREE_INODES:
        short.append(f"{need['inodes']:,} inodes (+{KEEP_FREE_INODES:,} kept free), {free['inodes']:,} free")
    if short:
        raise ScaleError(f"--scale {n} does not fit in {where}: it needs {' and '.join(short)} "
                         f"(every output costs one inode and one {BLOCK // 1024} KiB block, and two output trees "
                         f"exist at once); pass --cache on a bigger filesystem or a smaller N")
    return {"free": free, "needed": need}


def flush(path: str) -> float:
    """Write the filesystem's dirty pages out (``sync -f``), so that a measurement does not pay
    for the writeback of the one before it; returns the time it took."""
    started = time.perf_counter()
    try:
        if subprocess.run(["sync", "-f", path], stdin=subprocess.DEVNULL, capture_output=True).returncode:
            os.sync()
    except OSError:
        os.sync()
    return time.perf_counter() - started


def remove_tree(path: str, jobs: int) -> dict:
    """Remove a big output tree fast: ``rm -rf`` of its folders of files, ``jobs`` at a time
    (unlinking is kernel work that runs in parallel across folders), then what is left.
    Returns the time taken."""
    started = time.perf_counter()
    if not os.path.lexists(path):
        return {"seconds": 0.0, "method": "nothing to remove"}
    rm = shutil.which("rm")
    if rm is None:
        shutil.rmtree(path)
        return {"seconds": time.perf_counter() - started, "method": "shutil.rmtree"}
    leaves = []
    with os.scandir(path) as top:
        for part in top:
            if part.is_dir(follow_symlinks=False):
                with os.scandir(part.path) as it:
                    leaves.extend(e.path for e in it)
            else:
                leaves.append(part.path)
    leaves.sort()
    groups = max(1, min(len(leaves), jobs))
    codes = []

    def remove(paths):  # one rm at a time per group, 500 folders each (command lines stay short)
        for k in range(0, len(paths), 500):
            codes.append(subprocess.run([rm, "-rf", "--one-file-system", "--", *paths[k : k + 500]],
                                        stdin=subprocess.DEVNULL).returncode)

    threads = [threading.Thread(target=remove, args=(leaves[k::groups],)) for k in range(groups)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if subprocess.run([rm, "-rf", "--one-file-system", "--", path]).returncode or any(codes):
        raise ScaleError(f"could not remove {path}")
    return {"seconds": time.perf_counter() - started, "method": f"rm -rf, {groups} in parallel",
            "loadavg_1min": os.getloadavg()[0]}


# --------------------------------------------------------------------------- the tree


def build_tree(cache: str, n: int, jobs: int, log) -> dict:
    """The n-file tree under ``cache/scale-N/masks``, built once (later runs reuse it)."""
    root = os.path.join(cache, f"scale-{n}")
    masks = os.path.join(root, "masks")
    stamp_path = os.path.join(root, "tree.json")
    want = {"version": TREE_VERSION, "files": n, "per_folder": PER_FOLDER, "sources": SOURCES}
    try:
        with open(stamp_path) as f:
            stamp = json.load(f)
        if {k: stamp.get(k) for k in want} == want and os.path.isdir(masks):
            return {"masks": masks, "reused": True, **stamp}
    except (OSError, ValueError):
        pass
    os.makedirs(root, exist_ok=True)
    for name in os.listdir(root):  # an older or half-built tree
        if name != "tree.json":
            remove_tree(os.path.join(root, name), jobs)
    partial = os.path.join(root, f"masks.partial-{os.getpid()}")
    pngs = source_pngs()
    started = time.perf_counter()
    last_log = started
    i = 0
    while i < n:
        folder = os.path.join(partial, folder_of(i))
        os.makedirs(folder)
        dfd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            end = min(n, i + PER_FOLDER)
            for j in range(end - i):
                name = f"{j:04d}.png"
                if j < SOURCES:
                    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=dfd)
                    try:
                        os.write(fd, pngs[j])
                    finally:
                        os.close(fd)
                    # older than any output, as a real dataset's files are (--update compares
                    # times; the links share the inode, so this dates every file)
                    os.utime(name, (INPUT_MTIME, INPUT_MTIME), dir_fd=dfd)
                else:
                    os.link(f"{j % SOURCES:04d}.png", name, src_dir_fd=dfd, dst_dir_fd=dfd)
            i = end
        finally:
            os.close(dfd)
        now = time.perf_counter()
        if now - last_log > 10:
            log(f"[scale] building: {i:,} of {n:,} files ({now - started:.0f} s, "
                f"about {(now - started) * (n - i) / i:.0f} s to go)")
            last_log = now
    os.rename(partial, masks)
    stamp = want | {"build_s": time.perf_counter() - started,
                    "built": datetime.datetime.now().isoformat(timespec="seconds"),
                    "source_bytes": [len(p) for p in pngs]}
    with open(stamp_path, "w") as f:
        json.dump(stamp, f)
    return {"masks": masks, "reused": False, **stamp}


# --------------------------------------------------------------------------- one run


def _watch_first(folder: str, started: float, found: dict, stop: threading.Event, poll: float) -> None:
    """Note when the first finished output (a visible .png, not a temporary file) appears in ``folder``."""
    while not stop.is_set():
        try:
            with os.scandir(folder) as it:
                for entry in it:
                    if entry.name.endswith(".png") and not entry.name.startswith("."):
                        found["first_output_s"] = time.perf_counter() - started
                        found["first_output"] = entry.name
                        return
        except FileNotFoundError:
            pass
        # every 2 ms at first, then every 10 ms: a slow start is timed to 1 % of a 1 s target
        time.sleep(poll if time.perf_counter() - started < 2 else max(poll, 0.01))


def run_watched(cmd: list, first_folder: str | None, poll: float = 0.1) -> dict:
    """Run ``cmd`` (stdin /dev/null, stdout/stderr to files), sample the RSS and CPU time of it
    and of its descendants every ``poll`` s, and (with ``first_folder``) note when its first
    output appears there."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        found: dict = {}
        stop = threading.Event()
        watcher = None
        if first_folder:
            watcher = threading.Thread(target=_watch_first, args=(first_folder, started, found, stop, 0.002),
                                       daemon=True)
            watcher.start()
        tree = procmon._Tree(proc.pid)
        series: dict[int, list] = {}  # pid -> [(t, rss_kb, cpu_s)]
        next_scan = 0.0
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            now = time.perf_counter() - started
            if now >= next_scan:  # at every sample for 2 s (a small run's workers live well under a
                tree.scan()         # second), then less and less often, down to once a second
                next_scan = now + (0 if now < 2 else min(1.0, 0.1 + now / 20))
            for info in tree.procs.values():
                fields = procmon._stat_fields(info.pid)
                kb = procmon._status_kb(info.pid)
                if not fields or fields[0] == "Z" or kb is None:
                    continue
                cpu = (int(fields[11]) + int(fields[12])) / procmon._TICK
                info.hwm_kb = max(info.hwm_kb, kb[0])
                info.cpu_s = max(info.cpu_s, cpu)
                series.setdefault(info.pid, []).append((now, kb[1], cpu))
            time.sleep(poll)
        wall = time.perf_counter() - started
        stop.set()
        if watcher:
            watcher.join(5)
        out.seek(0)
        err.seek(0)
        return {"cmd": cmd, "returncode": os.waitstatus_to_exitcode(status), "wall_s": wall,
                "tree_maxrss_kb": usage.ru_maxrss, "stdout": out.read().decode("utf-8", "replace"),
                "stderr": err.read().decode("utf-8", "replace"), "procs": tree.procs, "series": series, **found}


def _kb_mb(kb) -> float | None:
    return None if kb is None else kb * 1024 / MB


def _downsample(points: list, keep: int = 60) -> list:
    step = max(1, -(-len(points) // keep))
    return [[round(t, 2), round(_kb_mb(rss), 1)] for t, rss, _cpu in points[::step]]


def summarize_memory(res: dict) -> dict:
    """Parent peak RSS; each worker's peak, and its largest RSS in the first and the last third
    of the working span: from the first sample at which any worker had used 50 ms of CPU more
    than when first seen (workers start before the work reaches them) to the last sample of a
    live worker (the parent outlives its workers)."""
    procs, series = res["procs"], res["series"]
    workers = [p for p in procs.values() if p.role == "worker" and series.get(p.pid)]
    work_start = res["wall_s"]
    for p in workers:
        cpu0 = series[p.pid][0][2]
        busy = [t for t, _rss, cpu in series[p.pid] if cpu - cpu0 >= 0.05]
        if busy:
            work_start = min(work_start, busy[0])
    if work_start >= res["wall_s"]:
        work_start = 0.0
    work_end = max((series[p.pid][-1][0] for p in workers), default=res["wall_s"])
    span = max(0.0, work_end - work_start)
    a, b = work_start + span / 3, work_start + 2 * span / 3
    worker_rows = []
    for p in sorted(workers, key=lambda p: p.pid):
        pts = series[p.pid]
        first = [rss for t, rss, _ in pts if work_start <= t < a]
        last = [rss for t, rss, _ in pts if b <= t <= work_end]
        worker_rows.append({"pid": p.pid, "peak_mb": _kb_mb(p.hwm_kb),
                            "first_third_mb": _kb_mb(max(first, default=None)),
                            "last_third_mb": _kb_mb(max(last, default=None)), "samples": len(pts),
                            "cpu_s": p.cpu_s, "rss_mb_series": _downsample(pts)})
    parent = next((p for p in procs.values() if p.role == "parent"), None)
    parent_pts = series.get(parent.pid, []) if parent else []
    roles = {}
    for p in procs.values():
        roles[p.role] = roles.get(p.role, 0) + 1
    cpu = {}
    for p in procs.values():
        cpu[p.role] = cpu.get(p.role, 0.0) + p.cpu_s
    return {
        "cpu_s_by_role": cpu,  # user + system, as last sampled (a worker's last poll interval is missed)
        "cpu_s": sum(cpu.values()),
        "parent_peak_mb": _kb_mb(parent.hwm_kb) if parent and parent.hwm_kb else _kb_mb(res["tree_maxrss_kb"]),
        "parent_rss_mb_series": _downsample(parent_pts),
        "workers": worker_rows,
        "work_span_s": [work_start, work_end],
        "processes": roles,
        "tree_maxrss_mb": _kb_mb(res["tree_maxrss_kb"]),
    }


SUMMARY = re.compile(r"(\d+) converted(?:, (\d+) up to date)?, (\d+) failed")


def parse_summary(command: str, stderr: str) -> dict:
    lines = [ln for ln in stderr.splitlines() if ln.startswith(f"{command}:")]
    if not lines:
        return {}
    m = SUMMARY.search(lines[-1])
    own = re.search(r"\((\d+(?:\.\d+)?) s\)\s*$", lines[-1])
    out = {"summary": lines[-1]}
    if m:
        out |= {"converted": int(m[1]), "up_to_date": int(m[2] or 0), "failed": int(m[3])}
    elif m := re.search(r"(\d+) ok, (\d+) failed", lines[-1]):  # check's summary
        out |= {"ok": int(m[1]), "failed": int(m[2])}
    if own:
        out["own_s"] = float(own[1])
    return out


def count_outputs(folder: str) -> dict:
    """Visible .png files and leftover temporary files under ``folder``."""
    pngs = temps = 0
    stack = [folder]
    while stack:
        with os.scandir(stack.pop()) as it:
            for e in it:
                if e.is_dir(follow_symlinks=False):
                    stack.append(e.path)
                elif e.name.endswith(".tmp") and e.name.startswith("."):
                    temps += 1
                elif e.name.endswith(".png") and not e.name.startswith("."):
                    pngs += 1
    return {"pngs": pngs, "temporary_files": temps}


# --------------------------------------------------------------------------- the benchmark


def round_trip_ok(masks: str, rgb_out: str, n: int) -> dict:
    """to-rgb(to-index(x)) == x, pixel for pixel, on the first folder's distinct masks and the last file."""
    import cv2

    picks = sorted(set(range(min(n, SOURCES))) | {n - 1})
    bad = []
    for i in picks:
        a = cv2.imread(os.path.join(masks, path_of(i)), cv2.IMREAD_UNCHANGED)
        b = cv2.imread(os.path.join(rgb_out, path_of(i)), cv2.IMREAD_UNCHANGED)
        if a is None or b is None or a.shape != b.shape or not np.array_equal(a, b):
            bad.append(path_of(i))
    return {"checked": len(picks), "differ": bad, "ok": not bad}


def bench_scale(cache_root: str, work: str, n: int, jobs: int, log, save=lambda: None,
                palette: str = "cityscapes") -> dict:
    if n < 1:
        raise ScaleError("--scale N needs N >= 1")
    cache = cache_root
    os.makedirs(cache, exist_ok=True)
    stamp = os.path.join(cache, f"scale-{n}", "tree.json")
    tree_built = os.path.exists(stamp)
    space = check_space(cache, n, tree_built)
    leaves, tops = folder_count(n)
    need = space["needed"]
    log(f"[scale] {n:,} files in {leaves:,} folders of {PER_FOLDER:,} ({tops} top-level): input tree "
        f"{'cached' if tree_built else 'to build'} in {cache}; needs up to {_size(need['bytes'])} and "
        f"{need['inodes']:,} inodes ({space['free']['bytes'] / 1e9:.1f} GB and "
        f"{space['free']['inodes'] or 0:,} inodes free)")
    out: dict = {"files": n, "jobs": jobs, "palette": palette,
                 "layout": "partPPP/cityCC/NNNN.png, 1,000 files a folder",
                 "disk": space, "runs": {}, "removal": {}}
    t0 = time.perf_counter()
    tree = build_tree(cache, n, jobs, log)
    out["tree"] = {k: v for k, v in tree.items() if k != "masks"} | {"path": tree["masks"],
                                                                      "prepare_s": time.perf_counter() - t0}
    log(f"[scale] input tree {'reused' if tree['reused'] else 'built'}: {tree['masks']} "
        f"(built in {tree['build_s']:.1f} s)")
    save()
    masks = tree["masks"]
    index_out = os.path.join(work, "scale-index")
    rgb_out = os.path.join(work, "scale-rgb")
    for d in (index_out, rgb_out):
        remove_tree(d, jobs)
    first_rel = folder_of(0)
    poll = 0.02 if n <= 20_000 else 0.1
    mc = [PY, "-m", "maskcli"]
    runs = [
        ("to-index", "to-index", mc + ["to-index", masks, "-o", index_out, "-p", palette, "-j", str(jobs)], index_out),
        ("to-rgb", "to-rgb", mc + ["to-rgb", index_out, "-o", rgb_out, "-p", palette, "-j", str(jobs)], rgb_out),
        ("check", "check", mc + ["check", masks, "-p", palette, "-j", str(jobs)], None),
        ("to-index --update", "to-index",
         mc + ["to-index", masks, "-o", index_out, "-p", palette, "-j", str(jobs), "--update"], None),
    ]
    try:
        for name, command, cmd, dest in runs:
            if name == "check":  # to-rgb's outputs are not needed any more
                synced = flush(work)
                out["removal"]["to-rgb outputs"] = removal = remove_tree(rgb_out, jobs) | {"sync_before_s": synced}
                log(f"[scale] removed to-rgb's {n:,} outputs in {removal['seconds']:.1f} s")
            synced = flush(work)
            load_before = os.getloadavg()[0]
            log(f"[scale] {name} -j {jobs} on {n:,} files")
            res = run_watched(cmd, os.path.join(dest, first_rel) if dest else None, poll)
            entry = {"command": " ".join(os.path.basename(c) if c == PY else c for c in cmd),
                     "returncode": res["returncode"],
                     "wall_s": res["wall_s"], "files_per_s": n / res["wall_s"],
                     "first_output_s": res.get("first_output_s"), **parse_summary(command, res["stderr"]),
                     "memory": summarize_memory(res), "sync_before_s": synced,
                     "loadavg_1min": [load_before, os.getloadavg()[0]], "stderr_tail": res["stderr"][-1500:]}
            out["runs"][name] = entry
            mem = entry["memory"]
            log(f"[scale] {name}: exit {res['returncode']}, {res['wall_s']:.1f} s, "
                f"{entry['files_per_s']:,.0f} files/s, "
                f"first output {_s(entry['first_output_s'])} s, parent {mem['parent_peak_mb']:.0f} MB, workers "
                + ", ".join(f"{_s(w['peak_mb'], '{:.0f}')}" for w in mem["workers"]) + " MB")
            save()
            problems = []
            if res["returncode"] != 0:
                problems.append(f"exit status {res['returncode']}")
            if entry.get("failed") is None:
                problems.append("no summary line")
            elif command == "check" and entry.get("ok") != n:
                problems.append(f"expected {n} ok: {entry.get('summary')}")
            if name == "to-index --update":
                if entry.get("up_to_date") != n or entry.get("converted") != 0:
                    problems.append(f"expected {n} up to date and 0 converted: {entry.get('summary')}")
            elif dest:
                if entry.get("converted") != n:
                    problems.append(f"expected {n} converted: {entry.get('summary')}")
                t1 = time.perf_counter()
                entry["outputs"] = count_outputs(dest) | {"count_s": time.perf_counter() - t1}
                if entry["outputs"]["pngs"] != n or entry["outputs"]["temporary_files"]:
                    problems.append(f"found {entry['outputs']} in {dest}, expected {n} outputs")
                if name == "to-rgb":
                    entry["round_trip"] = round_trip_ok(masks, rgb_out, n)
                    if not entry["round_trip"]["ok"]:
                        problems.append(f"to-rgb(to-index(x)) differs from x: {entry['round_trip']['differ'][:5]}")
            if problems:
                raise ScaleError(f"--scale {n}: {name}: {'; '.join(problems)}\n{res['stderr'][-1500:]}")
    except BaseException:  # a failed check or ^C: do not leave millions of files behind
        for d in (index_out, rgb_out):
            remove_tree(d, jobs)
        raise
    synced = flush(work)
    out["removal"]["to-index outputs"] = removal = remove_tree(index_out, jobs) | {"sync_before_s": synced}
    log(f"[scale] removed to-index's {n:,} outputs in {removal['seconds']:.1f} s")
    return out


def _size(b: float) -> str:
    return f"{b / 1e9:.2f} GB" if b >= 1e9 else f"{b / 1e6:.1f} MB"


def _s(x, fmt="{:.2f}") -> str:
    return "-" if x is None else fmt.format(x)


def report_lines(s: dict, table) -> list[str]:
    """The plain-text section of the report (``table`` is bench.py's table formatter)."""
    n = s["files"]
    tree = s["tree"]
    need, free = s["disk"]["needed"], s["disk"]["free"]
    out = [f"Scale: {n:,} files ({s['layout']}; hard links of {SOURCES} distinct 64x64 Cityscapes color masks), "
           f"-j {s['jobs']}, palette {s['palette']}",
           f"  input tree: {'reused from the cache' if tree['reused'] else 'built'} ({tree['path']}), built in "
           f"{tree['build_s']:.1f} s ({n / max(tree['build_s'], 1e-9):,.0f} files/s)",
           f"  disk: up to {_size(need['bytes'])} and {need['inodes']:,} inodes needed "
           f"(two output trees of {n:,} files at once); {free['bytes'] / 1e9:.1f} GB and "
           f"{free['inodes'] or 0:,} inodes were free"]
    rows = []
    for name, r in s["runs"].items():
        m = r["memory"]
        ws = m["workers"]
        rows.append([name, f"{n:,}", _s(r["wall_s"], "{:.1f}"), _s(m.get("cpu_s"), "{:.1f}"),
                     _s(r["files_per_s"], "{:,.0f}"),
                     _s(r["first_output_s"], "{:.3f}"), _s(m["parent_peak_mb"], "{:.0f}"),
                     ", ".join(_s(w["peak_mb"], "{:.0f}") for w in ws) or "-",
                     ", ".join(_s(w["first_third_mb"], "{:.0f}") for w in ws) or "-",
                     ", ".join(_s(w["last_third_mb"], "{:.0f}") for w in ws) or "-",
                     r["returncode"], " - ".join(f"{x:.1f}" for x in r.get("loadavg_1min", [])) or "-"])
    out.append(table(["run", "files", "wall s", "cpu s", "files/s", "1st output s", "parent MB", "worker peak MB",
                      "workers 1st third MB", "workers last third MB", "exit", "load"], rows))
    out.append("  " + "; ".join(f"removing {k} ({n:,} files): {v['seconds']:.1f} s, "
                                f"{n / max(v['seconds'], 1e-9):,.0f} files/s"
                                f" ({v['method']})" for k, v in s["removal"].items()))
    out.append("  MB = 10^6 bytes. parent = peak RSS (VmHWM) of the maskcli process; workers = each pool worker's peak "
               "RSS, and its largest sampled RSS in the first and last third of the time the workers worked; cpu s = "
               "user+system CPU of every process of the run; load = the machine's 1-minute load average before - after")
    rt = s["runs"].get("to-rgb", {}).get("round_trip")
    if rt:
        out.append(f"  checks: {n:,} outputs of to-index and of to-rgb counted; round trip to-rgb(to-index(x)) == x on "
                   f"{rt['checked']} files {'ok' if rt['ok'] else 'FAILED'}; check found {n:,} ok; "
                   f"--update found all {n:,} up to date")
    return out
