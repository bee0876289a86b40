#!/usr/bin/env python3
"""maskcli benchmark suite: throughput, ratios to baselines and to the I/O floor, memory.

    python benchmarks/bench.py [--quick] [--out results.json] [--palette P] [FOLDER...]
    python benchmarks/bench.py --memory        # only the 100,000-queued-files memory test
    python benchmarks/bench.py --scale N       # only maskcli on an N-file tree (see docs/scale.md)

Builds its datasets deterministically under a cache folder (default: $TMPDIR/maskcli-bench),
runs the real CLI (``python -m maskcli``) and the baselines as subprocesses on the same files
in the same run, and prints a plain-text report (and JSON with ``--out``). No network.
See docs/performance.md for what each measurement is.
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import os
import platform
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

import baselines  # noqa: E402
import datasets  # noqa: E402
import procmon  # noqa: E402
import scale  # noqa: E402

PY = sys.executable
MB = 1e6  # figures are in MB = 10**6 bytes (VmHWM's kB are KiB and converted)


class BenchError(Exception):
    """A check the benchmark makes failed (for example maskcli's output differs from the loop's)."""


def cpus() -> int:
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # pragma: no cover
        return os.cpu_count() or 1


def kb_to_mb(kb: float) -> float:
    return kb * 1024 / MB


_T0 = time.perf_counter()


def log(msg: str) -> None:
    print(f"{time.perf_counter() - _T0:7.1f}s {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- measurements


@dataclass
class Measure:
    """One command to time on one dataset."""

    name: str  # e.g. "maskcli to-index -j 1"
    cmd: list
    out_dir: str
    tool: str  # maskcli | baseline
    direction: str  # to-index | to-rgb
    jobs: int
    slow: bool = False  # timed once (a baseline that is 10-1000x slower: noise does not matter)
    samples: list = field(default_factory=list)
    cpu: list = field(default_factory=list)
    minflt: list = field(default_factory=list)
    internal: list = field(default_factory=list)
    monitored: dict | None = None
    failures: list = field(default_factory=list)

    @property
    def best(self) -> float:
        return min(self.samples)


def maskcli_cmd(command: str, inputs: str, out: str, palette: str, jobs: int) -> list:
    return [PY, "-m", "maskcli", command, inputs, "-o", out, "-p", palette, "-j", str(jobs)]


def baseline_cmd(mode: str, inputs: str, out: str, spec: str, jobs: int) -> list:
    return [PY, os.path.join(HERE, "baselines.py"), mode, inputs, out, spec, "-j", str(jobs)]


def internal_seconds(m: Measure, res: procmon.RunResult) -> float | None:
    """The time the tool says it spent (maskcli: its summary line; baselines: their JSON)."""
    try:
        if m.tool == "baseline":
            return json.loads(res.stdout.strip().splitlines()[-1])["seconds"]
        line = [ln for ln in res.stderr.splitlines() if ln.startswith(("to-index:", "to-rgb:"))][-1]
        return float(line.rsplit("(", 1)[1].split()[0])
    except (IndexError, ValueError, KeyError):
        return None


def run_measure(m: Measure, monitor: bool = False) -> procmon.RunResult:
    shutil.rmtree(m.out_dir, ignore_errors=True)
    res = procmon.run(m.cmd, monitor=monitor)
    if res.returncode not in (0, 1):
        raise BenchError(f"{' '.join(m.cmd)} exited {res.returncode}:\n{res.stderr[-2000:]}")
    if res.returncode == 1:
        m.failures = [ln for ln in res.stderr.splitlines() if ln.startswith("error")][:5] or [res.stderr[-500:]]
    return res


def record(m: Measure, res: procmon.RunResult) -> None:
    m.samples.append(res.wall_s)
    m.cpu.append(res.cpu_s)
    m.minflt.append(res.minflt)
    m.internal.append(internal_seconds(m, res))


def monitor_summary(res: procmon.RunResult) -> dict:
    workers = res.role_hwm_kb("worker")
    parent = res.role_hwm_kb("parent")
    procs = list(res.procs.values())
    return {
        "wall_s": res.wall_s,
        # CPU time and page faults of every process of the run (pool workers forked by the
        # fork server are not the parent's children, so rusage would leave them out)
        "cpu_s_by_role": {role: sum(p.cpu_s for p in procs if p.role == role) for role in sorted({p.role for p in procs})},
        "tree_cpu_s": sum(p.cpu_s for p in procs),
        "tree_minflt": sum(p.minflt for p in procs),
        "parent_hwm_mb": kb_to_mb(max(parent)) if parent else None,
        "worker_hwm_mb": [kb_to_mb(k) for k in sorted(workers)],
        "worker_first_rss_mb": [kb_to_mb(p.first_rss_kb) for p in res.procs.values() if p.role == "worker"],
        "tree_maxrss_mb": kb_to_mb(res.tree_maxrss_kb),
        "processes": {role: sum(1 for p in res.procs.values() if p.role == role)
                      for role in sorted({p.role for p in res.procs.values()})},
    }


# --------------------------------------------------------------------------- datasets


@dataclass
class Dataset:
    key: str
    title: str
    masks: str
    palette: str  # the -p value
    generated: bool
    files: list = field(default_factory=list)
    pixels: int = 0
    max_hw: tuple = (0, 0)
    bytes_on_disk: int = 0
    kinds: dict = field(default_factory=dict)


def describe(ds: Dataset) -> None:
    ds.files = datasets.list_masks(ds.masks)
    if not ds.files:
        raise BenchError(f"{ds.masks}: no mask files")
    hmax = wmax = 0
    for path in ds.files:
        with Image.open(path) as img:
            w, h = img.size
            ds.kinds[img.mode] = ds.kinds.get(img.mode, 0) + 1
        ds.pixels += w * h
        hmax, wmax = max(hmax, h), max(wmax, w)
        ds.bytes_on_disk += os.path.getsize(path)
    ds.max_hw = (hmax, wmax)


def palette_spec(palette_arg: str, path: str) -> dict:
    """Write the palette as plain pairs for baselines.py; return facts about it."""
    import maskcli

    pal = maskcli.load_palette(palette_arg)
    spec = {
        "decode": [[*c, v] for c, v in pal.decode_pairs()],
        "encode": [[v, *c] for v, c in pal.encode_pairs()],
        "dtype": "uint8" if pal.bits == 8 else "uint16",
    }
    with open(path, "w") as f:
        json.dump(spec, f)
    # The to-index lookup table a worker builds: 2**24 entries of the index dtype, one size up
    # when every value of that dtype is taken (no free value is left for "unknown").
    values = {v for _, v in pal.decode_pairs()} | {pal.ignore_index}
    itemsize = 1 if pal.bits == 8 else 2
    if len(values) >= 256 ** itemsize:
        itemsize *= 2
    return {"bits": pal.bits, "colors": len(spec["decode"]), "classes": len(pal.classes),
            "decode_table_bytes": (1 << 24) * itemsize, "encode_table_bytes": 65536 * 4}


# --------------------------------------------------------------------------- one dataset


def bench_dataset(ds: Dataset, work: str, jobs: int, rounds: int, quick: bool) -> dict:
    wdir = os.path.join(work, ds.key)
    os.makedirs(wdir, exist_ok=True)
    spec_path = os.path.join(wdir, "palette.json")
    pal_facts = palette_spec(ds.palette, spec_path)
    index_src = os.path.join(wdir, "index-src")

    log(f"[{ds.key}] {ds.title}: {len(ds.files)} files")
    measures: list[Measure] = []

    def add(name, cmd, out, tool, direction, j, slow=False):
        measures.append(Measure(name, cmd, out, tool, direction, j, slow))

    for j in sorted({1, jobs}):
        out = os.path.join(wdir, f"maskcli-index-j{j}")
        add(f"maskcli to-index -j {j}", maskcli_cmd("to-index", ds.masks, out, ds.palette, j), out, "maskcli", "to-index", j)
        if quick and j > 1:
            continue  # --quick: fewer runs; the floors' own scaling is for the full run
        out = os.path.join(wdir, f"floor-index-j{j}")
        add(f"I/O floor to-index, {j} proc", baseline_cmd("floor-index", ds.masks, out, spec_path, j), out, "baseline", "to-index", j)
    add("naive per-class loop", baseline_cmd("naive-index", ds.masks, os.path.join(wdir, "naive-index"), spec_path, 1),
        os.path.join(wdir, "naive-index"), "baseline", "to-index", 1, slow=True)
    add("np.unique inverse", baseline_cmd("unique-index", ds.masks, os.path.join(wdir, "unique-index"), spec_path, 1),
        os.path.join(wdir, "unique-index"), "baseline", "to-index", 1, slow=True)
    for j in sorted({1, jobs}):
        out = os.path.join(wdir, f"maskcli-rgb-j{j}")
        add(f"maskcli to-rgb -j {j}", maskcli_cmd("to-rgb", index_src, out, ds.palette, j), out, "maskcli", "to-rgb", j)
        if quick and j > 1:
            continue
        out = os.path.join(wdir, f"floor-rgb-j{j}")
        add(f"I/O floor to-rgb, {j} proc", baseline_cmd("floor-rgb", index_src, out, spec_path, j), out, "baseline", "to-rgb", j)
    add("naive per-class loop (to-rgb)", baseline_cmd("naive-rgb", index_src, os.path.join(wdir, "naive-rgb"), spec_path, 1),
        os.path.join(wdir, "naive-rgb"), "baseline", "to-rgb", 1, slow=True)

    # 1. one monitored run of each maskcli command (memory; not timed, except in --quick). The
    # first, to-index -j 1, also brings the inputs into the page cache, and its outputs are
    # kept as the inputs of every to-rgb run.
    for m in measures:
        if m.tool == "maskcli":
            log(f"[{ds.key}] memory run: {m.name}")
            res = run_measure(m, monitor=True)
            m.monitored = monitor_summary(res)
            if quick:
                record(m, res)
            if m.name == "maskcli to-index -j 1":
                shutil.rmtree(index_src, ignore_errors=True)
                shutil.copytree(m.out_dir, index_src)
    # 2. timed rounds, interleaved so slow drifts of the shared machine hit every command alike
    for r in range(rounds):
        for m in measures:
            if (m.slow and r > 0) or (quick and m.tool == "maskcli"):
                continue
            log(f"[{ds.key}] round {r + 1}/{rounds}: {m.name}")
            record(m, run_measure(m))

    verification = verify(ds, wdir, index_src, measures, jobs)
    return summarize(ds, measures, pal_facts, verification, jobs)


# --------------------------------------------------------------------------- verification


def _read_any(path: str) -> np.ndarray:
    arr = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise BenchError(f"cannot read {path}")
    return arr


def verify(ds: Dataset, wdir: str, index_src: str, measures: list, jobs: int) -> dict:
    """maskcli's outputs against the naive loop's (to-index and to-rgb), -j 1 against -j N
    (byte-identical), and the round trip to-index -> to-rgb against the input colors."""
    by_name = {m.name: m for m in measures}
    result = {}
    rels = [os.path.splitext(os.path.relpath(f, ds.masks))[0] + ".png" for f in ds.files]

    def compare(dir_a, dir_b, exact_bytes=False, read_b=_read_any):
        same = missing = differ = 0
        first = None
        for rel in rels:
            a, b = os.path.join(dir_a, rel), os.path.join(dir_b, rel)
            if not (os.path.exists(a) and os.path.exists(b)):
                missing += 1
                continue
            if exact_bytes:
                with open(a, "rb") as fa, open(b, "rb") as fb:
                    ok = fa.read() == fb.read()
            else:
                xa, xb = _read_any(a), read_b(b)
                ok = xa.shape == xb.shape and xa.dtype == xb.dtype and np.array_equal(xa, xb)
            if ok:
                same += 1
            else:
                differ += 1
                first = first or rel
        return {"equal": same, "differ": differ, "missing": missing, "first_difference": first,
                "ok": differ == 0 and missing == 0}

    j1, jn = "maskcli to-index -j 1", f"maskcli to-index -j {jobs}"
    result["to_index_equals_naive_loop"] = compare(by_name[j1].out_dir, by_name["naive per-class loop"].out_dir)
    result["to_index_equals_np_unique"] = compare(by_name[j1].out_dir, by_name["np.unique inverse"].out_dir)
    result["to_rgb_equals_naive_loop"] = compare(by_name["maskcli to-rgb -j 1"].out_dir,
                                                 by_name["naive per-class loop (to-rgb)"].out_dir)
    if jobs != 1:
        result["to_index_j1_bytes_equal_jN"] = compare(by_name[j1].out_dir, by_name[jn].out_dir, exact_bytes=True)
        result["to_rgb_j1_bytes_equal_jN"] = compare(by_name["maskcli to-rgb -j 1"].out_dir,
                                                     by_name[f"maskcli to-rgb -j {jobs}"].out_dir, exact_bytes=True)
    if ds.generated and ds.key != "b":  # every color is a class color: to-rgb gives the input back

        def read_input(path):  # the input of this output name, decoded as BGR like to-rgb's output
            return _read_any(path)

        result["round_trip_equals_input"] = compare(by_name["maskcli to-rgb -j 1"].out_dir, ds.masks, read_b=read_input)
    bad = {k: v for k, v in result.items() if not v["ok"]}
    if bad and ds.generated:
        raise BenchError(f"dataset {ds.key}: maskcli's output is not what it should be: {json.dumps(bad)}")
    result["all_ok"] = not bad
    return result


# --------------------------------------------------------------------------- summary


def summarize(ds: Dataset, measures: list, pal_facts: dict, verification: dict, jobs: int) -> dict:
    n, mp = len(ds.files), ds.pixels / 1e6
    rows = {}
    for m in measures:
        if not m.samples:
            continue
        best = m.best
        internal = [x for x in m.internal if x is not None]
        rows[m.name] = {
            "command": " ".join("python" if c == PY else c for c in m.cmd),
            "tool": m.tool, "direction": m.direction, "jobs": m.jobs,
            "best_s": best, "median_s": statistics.median(m.samples), "samples_s": m.samples,
            "files_per_s": n / best, "mp_per_s": mp / best,
            # CPU of the best run from rusage; for a pool, of the monitored run (workers included)
            "cpu_s": (m.monitored["tree_cpu_s"] if m.jobs > 1 and m.tool == "maskcli" and m.monitored
                      else m.cpu[m.samples.index(best)]),
            "minflt_per_file": ((m.monitored["tree_minflt"] if m.jobs > 1 and m.tool == "maskcli" and m.monitored
                                 else m.minflt[m.samples.index(best)]) / n),
            "internal_s": min(internal) if internal else None,
            "memory": m.monitored,
            "failures": m.failures,
        }

    def t(name):
        return rows[name]["best_s"] if name in rows else None

    def ratio(a, b):
        ta, tb = t(a), t(b)
        return ta / tb if ta and tb else None

    one, alln = "maskcli to-index -j 1", f"maskcli to-index -j {jobs}"
    r1, rn = "maskcli to-rgb -j 1", f"maskcli to-rgb -j {jobs}"
    ratios = {
        "to_index_j1_over_floor": ratio(one, "I/O floor to-index, 1 proc"),
        "to_index_jN_over_floor_jN": ratio(alln, f"I/O floor to-index, {jobs} proc"),
        "naive_over_to_index_j1": ratio("naive per-class loop", one),
        "unique_over_to_index_j1": ratio("np.unique inverse", one),
        "naive_over_floor": ratio("naive per-class loop", "I/O floor to-index, 1 proc"),
        "to_rgb_j1_over_floor": ratio(r1, "I/O floor to-rgb, 1 proc"),
        "to_rgb_jN_over_floor_jN": ratio(rn, f"I/O floor to-rgb, {jobs} proc"),
        "naive_rgb_over_to_rgb_j1": ratio("naive per-class loop (to-rgb)", r1),
        "speedup_to_index": ratio(one, alln),
        "speedup_to_rgb": ratio(r1, rn),
        "speedup_floor_index": ratio("I/O floor to-index, 1 proc", f"I/O floor to-index, {jobs} proc"),
        "speedup_floor_rgb": ratio("I/O floor to-rgb, 1 proc", f"I/O floor to-rgb, {jobs} proc"),
    }
    # each row's ratio to the floor of its direction and worker count
    for name, row in rows.items():
        floor = f"I/O floor {row['direction']}, {row['jobs']} proc"
        row["x_floor"] = row["best_s"] / t(floor) if t(floor) else None
    h, w = ds.max_hw
    rgb_image = h * w * 3
    return {
        "title": ds.title, "folder": ds.masks, "palette": ds.palette, "generated": ds.generated,
        "files": n, "megapixels": mp, "largest_hw": [h, w], "bytes_on_disk": ds.bytes_on_disk,
        "image_modes": ds.kinds, "palette_facts": pal_facts,
        "rgb_image_bytes": rgb_image,
        "measurements": rows, "ratios": ratios, "verification": verification,
    }


# --------------------------------------------------------------------------- worker memory


IDLE_IMPORTS = (
    "import maskcli.tasks, maskcli.convert, maskcli.masks, maskcli.runner, maskcli.palette;"
    "import concurrent.futures.process, multiprocessing.forkserver;"
    "import cv2; cv2.setNumThreads(1); from PIL import Image, PngImagePlugin;"
)


def idle_worker_mb(repeats: int = 3) -> float:
    """RSS of a fresh process holding what a pool worker imports (median of ``repeats`` runs)."""
    code = IDLE_IMPORTS + "print(open('/proc/self/status').read())"
    values = []
    for _ in range(repeats):
        res = procmon.run([PY, "-c", code])
        for line in res.stdout.splitlines():
            if line.startswith("VmRSS:"):
                values.append(kb_to_mb(int(line.split()[1])))
    return statistics.median(values)


WORKER_SIM = IDLE_IMPORTS + """
import sys, json, os
from maskcli import tasks, palette
def vm(k):
    for line in open('/proc/self/status'):
        if line.startswith(k + ':'):
            return int(line.split()[1])
command, pal_arg, out_dir = sys.argv[1:4]
settings = tasks.Settings(command=command, palette=palette.load_palette(pal_arg))
def reset_hwm():  # Linux >= 4.0: VmHWM back to the current RSS
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False
idle = vm('VmRSS')
first = retained = None
hwm = 0
steady = []
for i, src in enumerate(sys.argv[4:]):
    before = vm('VmRSS')
    can_reset = i > 0 and reset_hwm()
    tasks.convert_file(src, os.path.join(out_dir, f'{i}.png'), settings)
    if i == 0:
        first, retained = vm('VmHWM'), vm('VmRSS')
    elif can_reset:
        steady.append(vm('VmHWM') - before)
    hwm = max(hwm, vm('VmHWM'))
print(json.dumps({'idle_kb': idle, 'first_hwm_kb': first, 'retained_kb': retained, 'hwm_kb': hwm,
                  'steady_kb': max(steady) if steady else None}))
"""


def worker_growth(command: str, files: list, palette: str, out_dir: str) -> dict:
    """What one worker does, in one process, measured exactly: the worker's imports, the palette
    loaded (VmRSS then = the idle size), then maskcli's per-file function on ``files`` in turn;
    growth = VmHWM - idle. The lookup table is built on the first file, as in a worker."""
    os.makedirs(out_dir, exist_ok=True)
    res = procmon.run([PY, "-c", WORKER_SIM, command, palette, out_dir, *files])
    shutil.rmtree(out_dir, ignore_errors=True)
    try:
        data = json.loads(res.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):  # maskcli's internals moved: say so, do not stop
        return {"files": len(files), "error": res.stderr[-400:]}
    return {"files": len(files), "idle_mb": kb_to_mb(data["idle_kb"]), "hwm_mb": kb_to_mb(data["hwm_kb"]),
            "growth_first_file_mb": kb_to_mb(data["first_hwm_kb"] - data["idle_kb"]),
            "retained_after_first_mb": kb_to_mb(data["retained_kb"] - data["idle_kb"]),
            "steady_file_peak_mb": kb_to_mb(data["steady_kb"]) if data["steady_kb"] is not None else None,
            "growth_mb": kb_to_mb(data["hwm_kb"] - data["idle_kb"])}


# --------------------------------------------------------------------------- kernel


def best_of(fn, repeats: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def bench_kernel(rgb_path: str, many_path: str | None, pal20_path: str, pal300_path: str | None,
                 quick: bool) -> dict:
    """In-memory conversion only: maskcli.rgb_to_index vs the loop vs np.unique, one thread."""
    import maskcli
    from maskcli import convert

    fast, slow = (3, 1) if quick else (9, 3)
    threads_before = cv2.getNumThreads()
    cv2.setNumThreads(1)
    out = {"opencv_threads": 1, "statistic": f"best of {fast} (maskcli) / {slow} (baselines)"}
    try:
        cases = [("20 classes", rgb_path, pal20_path)]
        if many_path:
            cases.append(("300 classes (uint16)", many_path, pal300_path))
        for label, path, pal_path in cases:
            rgb = maskcli.read_mask(path).array
            pal = maskcli.load_palette(pal_path)
            pairs = pal.decode_pairs()
            lookup = {r | (g << 8) | (b << 16): v for (r, g, b), v in pairs}
            dtype = np.uint8 if pal.bits == 8 else np.uint16
            getattr(getattr(convert, "_decoder", None), "cache_clear", lambda: None)()  # time a cold table
            t0 = time.perf_counter()
            first = maskcli.rgb_to_index(rgb, pal)
            cold = time.perf_counter() - t0
            t_mask, res = best_of(lambda: maskcli.rgb_to_index(rgb, pal), fast)
            t_naive, res_naive = best_of(lambda: baselines.naive_rgb_to_index(rgb, pairs, dtype), slow)
            t_uniq, res_uniq = best_of(lambda: baselines.unique_rgb_to_index(rgb, lookup, dtype), slow)
            if not (np.array_equal(res, res_naive) and np.array_equal(res, res_uniq) and np.array_equal(first, res)):
                raise BenchError(f"kernel {label}: maskcli.rgb_to_index differs from the naive loop")
            cv2.setNumThreads(threads_before)
            t_threads, _ = best_of(lambda: maskcli.rgb_to_index(rgb, pal), fast)
            cv2.setNumThreads(1)
            # to-rgb kernel: index_to_rgb vs the article's loop
            enc = pal.encode_pairs()
            t_rgb, back = best_of(lambda: maskcli.index_to_rgb(res, pal), fast)
            t_rgb_naive, back_naive = best_of(lambda: baselines.naive_index_to_rgb(res, enc), slow)
            if not np.array_equal(back, back_naive):
                raise BenchError(f"kernel {label}: maskcli.index_to_rgb differs from the naive loop")
            h, w = rgb.shape[:2]
            out[label] = {
                "image": path, "height": h, "width": w, "megapixels": h * w / 1e6, "colors": len(pairs),
                "distinct_colors_in_image": int(len(np.unique(convert.pack_rgb(rgb)))),
                "maskcli_s": t_mask, "maskcli_first_call_s": cold, "maskcli_opencv_threads_default_s": t_threads,
                "opencv_default_threads": threads_before,
                "naive_loop_s": t_naive, "np_unique_s": t_uniq,
                "speedup_vs_naive": t_naive / t_mask, "speedup_vs_unique": t_uniq / t_mask,
                "to_rgb_maskcli_s": t_rgb, "to_rgb_naive_s": t_rgb_naive, "to_rgb_speedup_vs_naive": t_rgb_naive / t_rgb,
                "equal_outputs": True,
            }
    finally:
        cv2.setNumThreads(threads_before)
    return out


# --------------------------------------------------------------------------- start-up, PNG size


def bench_startup(repeats: int, one_file: str | None = None, work: str | None = None) -> dict:
    """Start-up, and one file converted by the CLI against a Python one-liner that reads it
    with OpenCV and writes one channel. The commands take turns (interleaved rounds)."""
    exe = os.path.join(os.path.dirname(PY), "maskcli")
    script = [exe, "--help"] if os.access(exe, os.X_OK) else [shutil.which("maskcli") or "maskcli", "--help"]
    cases = {"maskcli --help": script, "python -m maskcli --help": [PY, "-m", "maskcli", "--help"],
             "python -c pass (interpreter alone)": [PY, "-c", "pass"],
             "python -c 'import numpy, cv2' (for scale)": [PY, "-c", "import numpy, cv2"]}
    if one_file and work:
        cases["maskcli to-index ONE.png -o out.png -p cityscapes"] = [
            PY, "-m", "maskcli", "to-index", one_file, "-o", os.path.join(work, "one-maskcli.png"), "-p", "cityscapes"]
        cases["one-liner: cv2.imread, cv2.imwrite of one channel"] = [
            PY, "-c", "import cv2, sys; a = cv2.imread(sys.argv[1], cv2.IMREAD_UNCHANGED); "
            "cv2.imwrite(sys.argv[2], a[..., 0].copy())", one_file, os.path.join(work, "one-cv2.png")]
    out = {"statistic": f"median of {repeats}, commands interleaved", "script": script[0]}
    for cmd in cases.values():  # warm the page cache
        procmon.run(cmd)
    times = {name: [] for name in cases}
    for _ in range(repeats):
        for name, cmd in cases.items():
            times[name].append(procmon.run(cmd).wall_s)
    for name, cmd in cases.items():
        out[name] = {"median_s": statistics.median(times[name]), "samples_s": times[name], "command": " ".join(cmd)}
    if one_file and work:
        a = times["maskcli to-index ONE.png -o out.png -p cityscapes"]
        b = times["one-liner: cv2.imread, cv2.imwrite of one channel"]
        out["one_file_ratio"] = statistics.median(x / y for x, y in zip(a, b))
        out["one_file"] = one_file
    return out


def bench_png_size(sets: dict, work: str) -> dict:
    """maskcli's PNG encoders vs OpenCV's defaults (and Pillow's, for scale) on the same arrays,
    and maskcli's CLI output files vs the same decoded arrays re-encoded by cv2 defaults."""
    import maskcli

    out = {}
    for key, (ds, res, folders) in sets.items():
        if "maskcli to-index -j 1" not in res["measurements"]:
            continue
        first = ds.files[0]
        mask = maskcli.read_mask(first)
        pal = maskcli.load_palette(ds.palette)
        if mask.kind == "color":
            index = maskcli.rgb_to_index(mask.array, pal, unknown="ignore")
        elif mask.kind == "palettized":  # its RGB form, through its own PLTE
            index = maskcli.rgb_to_index(np.ascontiguousarray(mask.colors[mask.array]), pal, unknown="ignore")
        else:
            continue
        rgb = maskcli.index_to_rgb(index, pal)
        tmp_index, tmp_rgb = os.path.join(work, "size-index.png"), os.path.join(work, "size-rgb.png")
        maskcli.write_index_mask(tmp_index, index)
        maskcli.write_rgb_mask(tmp_rgb, rgb)
        pil_index, pil_rgb = io.BytesIO(), io.BytesIO()
        Image.fromarray(index).save(pil_index, format="PNG")
        Image.fromarray(rgb).save(pil_rgb, format="PNG")
        entry = {
            "file": first,
            "index_png_maskcli": os.path.getsize(tmp_index),
            "index_png_cv2_default": len(cv2.imencode(".png", index)[1]),
            "index_png_pillow_default": len(pil_index.getvalue()),
            "rgb_png_maskcli": os.path.getsize(tmp_rgb),
            "rgb_png_cv2_default": len(cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))[1]),
            "rgb_png_pillow_default": len(pil_rgb.getvalue()),
        }
        # whole output folders of the CLI, against the same arrays re-encoded by cv2 defaults
        for direction, name in (("index", "maskcli to-index -j 1"), ("rgb", "maskcli to-rgb -j 1")):
            folder = folders[name]
            cli_total = cv2_total = 0
            for base, _, files in os.walk(folder):
                for f in files:
                    p = os.path.join(base, f)
                    cli_total += os.path.getsize(p)
                    cv2_total += len(cv2.imencode(".png", cv2.imread(p, cv2.IMREAD_UNCHANGED))[1])
            entry[f"{direction}_folder_bytes_maskcli"] = cli_total
            entry[f"{direction}_folder_bytes_cv2_default"] = cv2_total
        out[key] = entry
    return out


# --------------------------------------------------------------------------- pool fixed cost


def bench_pool_overhead(src: str, palette: str, work: str, jobs: int, rounds: int) -> dict:
    """What starting the pool costs: ``-j N`` on N copies of one file against ``-j 1`` on one.
    With perfect scaling both take one file's time; the difference is the pool's fixed cost."""
    one, many = os.path.join(work, "pool-one"), os.path.join(work, "pool-many")
    for folder, n in ((one, 1), (many, jobs)):
        os.makedirs(folder, exist_ok=True)
        for i in range(n):
            os.link(src, os.path.join(folder, f"p{i}.png"))
    t1, tn = [], []
    for _ in range(rounds):
        for folder, j, times in ((one, 1, t1), (many, jobs, tn)):
            out = os.path.join(work, "pool-out")
            shutil.rmtree(out, ignore_errors=True)
            res = procmon.run(maskcli_cmd("to-index", folder, out, palette, j))
            if res.returncode != 0:
                raise BenchError(f"pool overhead run: {res.stderr[-500:]}")
            times.append(res.wall_s)
    for folder in (one, many, os.path.join(work, "pool-out")):
        shutil.rmtree(folder, ignore_errors=True)
    return {"file": src, "jobs": jobs, "j1_one_file_s": min(t1), f"jN_{jobs}_files_s": min(tn),
            "pool_fixed_cost_s": min(tn) - min(t1), "statistic": f"best of {rounds}"}


# --------------------------------------------------------------------------- many queued files


def bench_queue(cache: str, work: str, count: int, jobs: int) -> dict:
    """Parent peak RSS of to-index with ``count`` queued inputs (hardlinks of one 4x4 PNG)."""
    root = os.path.join(cache, f"queue-{count}")
    masks = os.path.join(root, "masks")
    t0 = time.perf_counter()
    if not os.path.exists(os.path.join(root, "done")):
        shutil.rmtree(root, ignore_errors=True)
        os.makedirs(masks)
        one = os.path.join(root, "one.png")
        Image.fromarray(np.array(datasets.cityscapes_label_colors()[[7, 8, 26, 23]][None].repeat(4, 0), np.uint8),
                        "RGB").save(one)
        for i in range(count):  # 1,000 a folder, hard links of one copy a folder (links per inode are limited)
            sub = os.path.join(masks, f"{i // 1000:03d}")
            target = os.path.join(sub, f"q_{i:06d}.png")
            if i % 1000 == 0:
                os.makedirs(sub)
                shutil.copyfile(one, target)
                first = target
            else:
                os.link(first, target)
        open(os.path.join(root, "done"), "w").close()
    made = time.perf_counter() - t0
    out_dir = os.path.join(work, "queue-out")
    log(f"[memory] to-index on {count} queued files, -j {jobs}")
    res = procmon.run(maskcli_cmd("to-index", masks, out_dir, "cityscapes", jobs), monitor=True, poll=0.05,
                      scan_every=4)
    if res.returncode != 0:
        raise BenchError(f"queue run exited {res.returncode}: {res.stderr[-1000:]}")
    t1 = time.perf_counter()
    shutil.rmtree(out_dir, ignore_errors=True)
    cleanup = time.perf_counter() - t1
    summary = monitor_summary(res)
    return {"queued_files": count, "jobs": jobs, "wall_s": res.wall_s, "files_per_s": count / res.wall_s,
            "parent_hwm_mb": summary["parent_hwm_mb"], "worker_hwm_mb": summary["worker_hwm_mb"],
            "tree_maxrss_mb": summary["tree_maxrss_mb"], "setup_s": made, "cleanup_s": cleanup,
            "command": f"python -m maskcli to-index {masks} -o OUT -p cityscapes -j {jobs}"}


# --------------------------------------------------------------------------- profile


GROUPS = (  # maskcli functions whose cumulative time is reported (none nested in another group)
    ("read_mask", ("read_mask",)),
    ("convert", ("decode_rgb", "decode_palettized", "index_to_rgba")),
    ("encode", ("encode_index_png", "encode_rgb_png", "encode_indexed_png")),
    ("atomic_write", ("atomic_write",)),
    ("convert_file", ("convert_file",)),
)


def bench_profile(targets: list, work: str, top: int = 12) -> dict:
    """cProfile of the CLI converting a dataset in one process (-j 1 runs in-process)."""
    out = {}
    for label, command, inputs, palette in targets:
        prof = os.path.join(work, f"profile-{label}.out")
        dst = os.path.join(work, f"profile-{label}")
        shutil.rmtree(dst, ignore_errors=True)
        res = procmon.run([PY, "-m", "cProfile", "-o", prof, "-m", "maskcli", command, inputs, "-o", dst,
                           "-p", palette, "-j", "1"])
        if res.returncode != 0:
            raise BenchError(f"profile {label}: {res.stderr[-800:]}")
        stats = pstats.Stats(prof)
        total = stats.total_tt
        rows = []
        entries = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)
        for (fname, line, func), (cc, nc, tt, ct, _callers) in entries[:top]:
            where = func if fname == "~" else f"{os.path.basename(fname)}:{line}({func})"
            rows.append({"function": where, "calls": nc, "tottime_s": tt, "cumtime_s": ct, "share": tt / total})
        groups = {}
        for (fname, line, func), (cc, nc, tt, ct, _c) in stats.stats.items():
            for key, names in GROUPS:
                if func in names and "maskcli" in fname:
                    groups[key] = groups.get(key, 0) + ct
        out[label] = {"total_s": total, "top_by_tottime": rows, "cumulative_s": groups,
                      "command": f"python -m cProfile -m maskcli {command} {inputs} -o OUT -p {palette} -j 1"}
        shutil.rmtree(dst, ignore_errors=True)
    return out


# --------------------------------------------------------------------------- targets


def ok(results: dict, name: str) -> dict:
    """A section of the results, or {} when it is missing or failed."""
    value = results.get(name)
    return value if isinstance(value, dict) and "error" not in value else {}


def evaluate_targets(results: dict, jobs: int) -> list:
    targets = []

    def add(name, value, limit, op, unit, command, note=""):
        met = None if value is None else (value >= limit if op == ">=" else value < limit if op == "<" else value <= limit)
        targets.append({"target": name, "measured": value, "limit": limit, "op": op, "unit": unit,
                        "met": met, "command": command, "note": note})

    k = ok(results, "kernel").get("20 classes")
    if k:
        add("kernel 2 MP, 20 classes: vs per-class loop", k["speedup_vs_naive"], 100, ">=", "x",
            "bench.py kernel section (in-memory maskcli.rgb_to_index)")
        add("kernel 2 MP, 20 classes: vs np.unique", k["speedup_vs_unique"], 10, ">=", "x",
            "bench.py kernel section (in-memory maskcli.rgb_to_index)")
    sets = results.get("datasets", {})
    # round two's targets (issue 12); (b) keeps round one's 1.25x
    for key, limit in (("a", 0.90), ("e", 0.90), ("b", 1.25)):
        if key in sets:
            r = sets[key]["ratios"]
            add(f"({key}) to-index -j 1 at most {limit:.2f}x the I/O floor", r["to_index_j1_over_floor"], limit, "<=",
                "x floor", sets[key]["measurements"]["maskcli to-index -j 1"]["command"])
    for key, limit in (("a", 1.0), ("e", 1.0), ("b", 1.25)):
        if key in sets:
            r = sets[key]["ratios"]
            add(f"({key}) to-rgb -j 1 at most {limit:.2f}x its floor", r["to_rgb_j1_over_floor"], limit, "<=", "x floor",
                sets[key]["measurements"]["maskcli to-rgb -j 1"]["command"])
    for key in ("a", "e"):
        if key in sets and jobs > 1:
            r = sets[key]["ratios"]
            add(f"({key}) to-index -j {jobs} speed-up over -j 1", r["speedup_to_index"], 1.8, ">=", "x",
                sets[key]["measurements"][f"maskcli to-index -j {jobs}"]["command"],
                f"the I/O floor itself scales {r['speedup_floor_index']:.2f}x" if r["speedup_floor_index"] else "")
    if "c" in sets:
        m = sets["c"]["measurements"][f"maskcli to-index -j {jobs}"]
        add(f"(c) small files (10,000), -j {jobs}", m["files_per_s"], 8000, ">=", "files/s", m["command"])
    k = ok(results, "kernel").get("20 classes")
    if k and k.get("maskcli_s") is not None:
        add("rgb_to_index on a 2 MP array", k["maskcli_s"] * 1e3, 4.0, "<", "ms", "maskcli.rgb_to_index(rgb, palette)")
    sc = ok(results, "scale")
    if sc:
        n = sc["files"]
        note = "" if n >= 3_000_000 else f"issue 15's target is at 3,000,000 files; measured at {n:,}"
        for name, r in sc["runs"].items():
            add(f"scale: parent peak RSS, {name}, {n:,} files", r["memory"]["parent_peak_mb"], 150, "<", "MB",
                r["command"], note)
        r = sc["runs"]["to-index"]
        add(f"scale: time to the first output, to-index, {n:,} files", r["first_output_s"], 1.0, "<", "s", r["command"],
            "" if n >= 1_000_000 else f"issue 15's target is at 1,000,000 files; measured at {n:,}")
        r = sc["runs"]["to-index --update"]
        add(f"scale: to-index --update, {n:,} up-to-date files", r["files_per_s"], 50_000, ">=", "files/s", r["command"],
            "" if n >= 1_000_000 else f"issue 15's target is at 1,000,000 files; measured at {n:,}")
    q = ok(results, "queue")
    if q:
        add(f"parent peak RSS, {q['queued_files']} queued files", q["parent_hwm_mb"], 150, "<", "MB", q["command"])
    for key, w in ok(results, "worker_memory").items():
        e = w.get("to-index", {})
        if e.get("growth_mb") is not None:
            s = sets[key]
            add(f"({key}) to-index worker growth over idle", e["growth_mb"], e["budget_mb"], "<", "MB",
                f"bench.py worker simulation, {e['files']} files",
                f"3 x {s['rgb_image_bytes'] / MB:.1f} MB image + {s['palette_facts']['decode_table_bytes'] / MB:.1f} MB table")
    st = ok(results, "startup").get("maskcli --help")
    if st:
        add("maskcli --help start-up", st["median_s"], 0.3, "<", "s", st["command"])
    one = ok(results, "startup").get("one_file_ratio")
    if one is not None:
        add("one file: maskcli to-index / cv2 one-liner (wall)", one, 1.15, "<=", "ratio",
            "python -m maskcli to-index ONE.png -o out.png -p cityscapes")
    for key, p in ok(results, "png_size").items():
        add(f"({key}) index PNG bytes, maskcli / cv2 default", p["index_png_maskcli"] / p["index_png_cv2_default"], 1.0, "<=",
            "ratio", "maskcli.write_index_mask vs cv2.imencode")
        add(f"({key}) RGB PNG bytes, maskcli / cv2 default", p["rgb_png_maskcli"] / p["rgb_png_cv2_default"], 1.0, "<=",
            "ratio", "maskcli.write_rgb_mask vs cv2.imencode")
    return targets


# --------------------------------------------------------------------------- text report


X1, X2 = "{:.1f}x", "{:.2f}x"


def _f(x, fmt="{:.2f}"):
    return "-" if x is None else fmt.format(x)


def table(headers, rows, aligns=None) -> str:
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) if rows else len(str(h)) for i, h in enumerate(headers)]
    aligns = aligns or ["<"] + [">"] * (len(headers) - 1)
    lines = ["  ".join(f"{str(h):{a}{w}}" for h, w, a in zip(headers, widths, aligns))]
    lines.append("  ".join("-" * w for w in widths))
    for r in rows:
        lines.append("  ".join(f"{str(c):{a}{w}}" for c, w, a in zip(r, widths, aligns)))
    return "\n".join(lines)


def report(results: dict) -> str:
    meta = results["meta"]
    kind = "scale" if "scale" in results else "quick" if meta["quick"] else "full"
    out = [f"maskcli {meta['maskcli_version']} benchmark ({kind} run), "
           f"{meta['cpus']} CPUs, Python {meta['python']}, NumPy {meta['numpy']}, OpenCV {meta['opencv']}, "
           f"Pillow {meta['pillow']}",
           f"timings: {meta['statistic']}; wall time of a whole subprocess (interpreter start-up included); "
           f"MB = 10^6 bytes",
           f"maskcli commit {meta['maskcli_source'].get('commit', '?')[:10]}"
           f" (uncommitted: {', '.join(meta['maskcli_source'].get('uncommitted_changes_in_maskcli', [])) or 'none'})", ""]
    jobs = meta["cpus"]
    for key, s in results.get("datasets", {}).items():
        h, w = s["largest_hw"]
        out.append(f"Dataset ({key}) {s['title']}: {s['files']} files, {s['megapixels']:.1f} MP, "
                   f"{s['bytes_on_disk'] / MB:.1f} MB of PNG, palette {os.path.basename(s['palette'])} "
                   f"({s['palette_facts']['colors']} colors, {s['palette_facts']['bits']}-bit)")
        rows = []
        for name, m in s["measurements"].items():
            mem = m["memory"] or {}
            workers = mem.get("worker_hwm_mb") or []
            rows.append([name, _f(m["best_s"], "{:.3f}"), _f(m["files_per_s"], "{:.1f}"), _f(m["mp_per_s"], "{:.1f}"),
                         _f(m["x_floor"]), _f(m["cpu_s"], "{:.2f}"), _f(m["internal_s"], "{:.2f}"),
                         _f(m["minflt_per_file"], "{:.0f}"),
                         _f(mem.get("parent_hwm_mb"), "{:.0f}"), _f(max(workers) if workers else None, "{:.0f}")])
        out.append(table(["measurement", "wall s", "files/s", "MP/s", "x floor", "cpu s", "own s", "faults/file", "parent MB",
                          "worker MB"], rows))
        r = s["ratios"]
        out.append(f"  to-index -j1: {_f(r['to_index_j1_over_floor'], X2)} floor, naive loop {_f(r['naive_over_to_index_j1'], X1)} "
                   f"slower, np.unique {_f(r['unique_over_to_index_j1'], X1)} slower; to-rgb -j1: "
                   f"{_f(r['to_rgb_j1_over_floor'], X2)} floor, naive loop {_f(r['naive_rgb_over_to_rgb_j1'], X1)} slower")
        out.append(f"  parallel (-j {jobs} vs -j 1): to-index {_f(r['speedup_to_index'], X2)}, to-rgb {_f(r['speedup_to_rgb'], X2)}, "
                   f"floor to-index {_f(r['speedup_floor_index'], X2)}, floor to-rgb {_f(r['speedup_floor_rgb'], X2)}")
        v = s["verification"]
        checks = ", ".join(f"{k} {'ok' if c['ok'] else 'FAIL'}" for k, c in v.items() if isinstance(c, dict))
        out.append(f"  checks: {checks}")
        fails = {n: m["failures"] for n, m in s["measurements"].items() if m["failures"]}
        if fails:
            out.append(f"  files failed: {json.dumps(fails)[:400]}")
        out.append("")
    for name in ("kernel", "startup", "png_size", "pool_overhead", "worker_memory", "profile", "queue"):
        if isinstance(results.get(name), dict) and "error" in results[name]:
            out.append(f"{name}: FAILED: {results[name]['error']}")
            out.append("")
    k = ok(results, "kernel")
    if k:
        out.append(f"Kernel (in memory, OpenCV 1 thread, {k['statistic']})")
        rows = []
        for label, e in k.items():
            if isinstance(e, dict):
                rows.append([f"{label}, {e['width']}x{e['height']}", _f(e["maskcli_s"] * 1e3, "{:.1f}"),
                             _f(e["maskcli_first_call_s"] * 1e3, "{:.1f}"), _f(e["naive_loop_s"] * 1e3, "{:.1f}"),
                             _f(e["np_unique_s"] * 1e3, "{:.1f}"), _f(e["speedup_vs_naive"], "{:.0f}x"),
                             _f(e["speedup_vs_unique"], "{:.1f}x"), _f(e["to_rgb_maskcli_s"] * 1e3, "{:.1f}"),
                             _f(e["to_rgb_naive_s"] * 1e3, "{:.1f}")])
        out.append(table(["rgb_to_index", "maskcli ms", "1st call ms", "loop ms", "unique ms", "vs loop", "vs unique",
                          "index_to_rgb ms", "loop ms"], rows))
        out.append("")
    st = ok(results, "startup")
    if st:
        out.append(f"Start-up ({st['statistic']})")
        out.append(table(["command", "s"], [[n, _f(e["median_s"], "{:.3f}")] for n, e in st.items() if isinstance(e, dict)]))
        if st.get("one_file_ratio") is not None:
            out.append(f"  one file ({os.path.basename(st['one_file'])}): maskcli / one-liner, median of the "
                       f"per-round ratios: {st['one_file_ratio']:.2f}x")
        out.append("")
    ps = ok(results, "png_size")
    if ps:
        out.append("PNG size, bytes (same array; first file of each set; and whole CLI output folders)")
        rows = [[k, e["index_png_maskcli"], e["index_png_cv2_default"], e["index_png_pillow_default"], e["rgb_png_maskcli"],
                 e["rgb_png_cv2_default"], e["rgb_png_pillow_default"], e["index_folder_bytes_maskcli"],
                 e["index_folder_bytes_cv2_default"], e["rgb_folder_bytes_maskcli"], e["rgb_folder_bytes_cv2_default"]]
                for k, e in ps.items()]
        out.append(table(["set", "index maskcli", "index cv2", "index PIL", "rgb maskcli", "rgb cv2", "rgb PIL",
                          "idx dir maskcli", "idx dir cv2", "rgb dir maskcli", "rgb dir cv2"], rows))
        out.append("")
    po = ok(results, "pool_overhead")
    if po:
        out.append(f"Pool fixed cost ({po['statistic']}): -j 1 on one file of (a) {po['j1_one_file_s']:.3f} s, -j {po['jobs']} on "
                   f"{po['jobs']} copies of it {po['jN_%d_files_s' % po['jobs']]:.3f} s: the pool costs {po['pool_fixed_cost_s']:.3f} s")
        out.append("")
    mem = ok(results, "worker_memory")
    if mem:
        out.append(f"Worker memory: one process doing a worker's job (imports, palette, then maskcli's per-file function "
                   f"on the first files); growth = VmHWM - VmRSS before the first file. A fresh process with a worker's "
                   f"imports: {results['idle_worker_mb']:.0f} MB")
        rows = []
        for key, w in mem.items():
            for direction, e in w.items():
                if e.get("growth_mb") is None:
                    rows.append([f"({key}) {direction}", e["files"], "-", "-", "-", "-", "-", e.get("error", "")[-60:]])
                    continue
                rows.append([f"({key}) {direction}", e["files"], _f(e["idle_mb"], "{:.0f}"), _f(e["hwm_mb"], "{:.0f}"),
                             _f(e["growth_first_file_mb"], "{:.1f}"), _f(e["retained_after_first_mb"], "{:.1f}"),
                             _f(e["steady_file_peak_mb"], "{:.1f}"), _f(e["growth_mb"], "{:.1f}"),
                             _f(e["budget_mb"], "{:.1f}"), "ok" if e["growth_mb"] < e["budget_mb"] else "OVER"])
        out.append(table(["case", "files", "idle MB", "peak MB", "growth 1st file", "kept after 1st", "later file peak",
                          "growth MB", "budget MB", ""], rows))
        out.append("  growth = peak - idle; kept = RSS after the 1st file - idle (table + what the allocator keeps); "
                   "later file peak = a later file's peak over the RSS before it")
        out.append("")
    q = ok(results, "queue")
    if q:
        out.append(f"Queued files: {q['queued_files']} inputs, -j {q['jobs']}: parent peak RSS {q['parent_hwm_mb']:.0f} MB, "
                   f"workers {', '.join(f'{x:.0f}' for x in q['worker_hwm_mb'])} MB, {q['wall_s']:.1f} s "
                   f"({q['files_per_s']:.0f} files/s); making the links {q['setup_s']:.1f} s, removing outputs {q['cleanup_s']:.1f} s")
        out.append("")
    prof = ok(results, "profile")
    if prof:
        for label, p in prof.items():
            c = p["cumulative_s"]
            out.append(f"Profile {label} (cProfile, one process, {p['total_s']:.2f} s): "
                       + ", ".join(f"{k} {v:.2f} s" for k, v in c.items()))
            out.append(table(["function", "calls", "tottime s", "share"],
                             [[e["function"][:70], e["calls"], _f(e["tottime_s"], "{:.3f}"), _f(e["share"] * 100, "{:.1f}%")]
                              for e in p["top_by_tottime"][:8]]))
            out.append("")
    sc = ok(results, "scale")
    if sc:
        out.extend(scale.report_lines(sc, table))
        out.append("")
    t = results.get("targets")
    if t:
        out.append("Targets")
        rows = [[e["target"], _f(e["measured"], "{:.3g}") + f" {e['unit']}", f"{e['op']} {e['limit']:.3g}",
                 {True: "met", False: "NOT MET", None: "-"}[e["met"]], e["note"]] for e in t]
        out.append(table(["target", "measured", "limit", "", "note"], rows, ["<", ">", "<", "<", "<"]))
    return "\n".join(out)


# --------------------------------------------------------------------------- main


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="maskcli benchmark suite (see docs/performance.md)")
    ap.add_argument("folders", nargs="*", metavar="FOLDER", help="extra folders of color masks to benchmark too")
    ap.add_argument("--palette", default="cityscapes", help="palette of the extra folders (default: cityscapes)")
    ap.add_argument("--quick", action="store_true", help="tiny sizes and few files: a few seconds (for tests)")
    ap.add_argument("--out", help="write the results as JSON here")
    ap.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "maskcli-bench"),
                    help="where datasets are built and kept (default: %(default)s)")
    ap.add_argument("--rounds", type=int, help="timed runs of each command (default 3; --quick 1); the best is kept")
    ap.add_argument("--memory", action="store_true", help="only the many-queued-files memory test")
    ap.add_argument("--scale", type=int, metavar="N",
                    help="only the scale test: to-index, to-rgb, check and to-index --update on an N-file tree "
                         "(hard links, built once under --cache; see docs/scale.md)")
    ap.add_argument("--queue-files", type=int, help="files for the queued-files test (default 100000; --quick 1000)")
    ap.add_argument("--no-queue", action="store_true", help="skip the queued-files memory test")
    ap.add_argument("--only", default="abcde", help="which generated datasets to run (default: abcde)")
    ap.add_argument("-j", "--jobs", type=int, default=cpus(), help="'all cores' (default: %(default)s)")
    ap.add_argument("--live", action="store_true",
                    help="measure maskcli where it is installed (default: a copy taken at the start, so that "
                         "edits made during the run do not mix versions)")
    args = ap.parse_args(argv)
    if args.scale is not None and args.scale < 1:
        ap.error("--scale N needs N >= 1")

    started = time.perf_counter()
    jobs = args.jobs
    rounds = (args.rounds or 1) if args.quick else (args.rounds or 3)
    cache = os.path.join(args.cache, "quick" if args.quick else "full")
    os.makedirs(cache, exist_ok=True)
    work = tempfile.mkdtemp(prefix="work-", dir=cache)
    if args.live:
        import importlib.util

        source_root = os.path.dirname(os.path.dirname(importlib.util.find_spec("maskcli").origin))
    else:
        source_root = snapshot_maskcli(os.path.join(work, "src"))
    import maskcli

    results = {"meta": {
        "maskcli_version": maskcli.__version__, "quick": args.quick, "cpus": jobs, "python": platform.python_version(),
        "numpy": np.__version__, "opencv": cv2.__version__, "pillow": Image.__version__, "machine": platform.machine(),
        "platform": platform.platform(), "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "rounds": rounds, "statistic": (f"best (minimum) of {rounds} timed runs" if not args.quick else
                                        "one run each (quick)") + "; slow baselines timed once",
        "cache": cache, "maskcli_source": maskcli_source(source_root) | {"snapshot": not args.live},
    }}
    queue_count = args.queue_files or (1000 if args.quick else 100_000)
    try:
        if args.scale is not None:
            results["meta"]["statistic"] = "one run each (scale)"
            try:
                results["scale"] = scale.bench_scale(args.cache, work, args.scale, jobs, log,
                                                     save=lambda: save_partial(args, results))
            except scale.ScaleError as exc:
                raise BenchError(str(exc)) from None
        elif args.memory:
            results["queue"] = bench_queue(cache, work, queue_count, jobs)
        else:
            run_all(args, results, cache, work, jobs, rounds, queue_count)
        results["targets"] = evaluate_targets(results, jobs)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["meta"]["total_s"] = time.perf_counter() - started
    text = report(results)
    print(text)
    print(f"\n(total {results['meta']['total_s']:.0f} s)")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1, default=str)
    return 0


def snapshot_maskcli(dest: str) -> str:
    """Copy the maskcli package (and its palettes/) as it is now into ``dest`` and put that copy
    first on the import path of this process and of every subprocess, so that one run measures
    one version even while someone edits the working tree. Returns the folder of the package."""
    import importlib.util

    spec = importlib.util.find_spec("maskcli")
    if spec is None or not spec.origin:
        raise BenchError("maskcli is not importable")
    package = os.path.dirname(spec.origin)
    root = os.path.dirname(package)
    shutil.copytree(package, os.path.join(dest, "maskcli"), ignore=shutil.ignore_patterns("__pycache__"))
    if os.path.isdir(os.path.join(root, "palettes")) and not os.path.isdir(os.path.join(package, "palettes")):
        shutil.copytree(os.path.join(root, "palettes"), os.path.join(dest, "palettes"))
    # byte-compile the copy, as pip does when it installs a package: with PYTHONDONTWRITEBYTECODE
    # set (some shells and containers set it) every run would otherwise compile maskcli's
    # modules again, about 0.1 s that no installed maskcli pays
    import compileall

    compileall.compile_dir(os.path.join(dest, "maskcli"), quiet=1)
    os.environ["PYTHONPATH"] = os.pathsep.join([dest] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    sys.path.insert(0, dest)
    return root


def maskcli_source(folder: str) -> dict:
    """Where the measured maskcli comes from: its folder, and (read-only) its git commit and
    which of its files differed from that commit when the run started."""
    import hashlib
    import subprocess

    import maskcli

    info = {"path": folder, "imported_from": os.path.dirname(maskcli.__file__)}
    digest = hashlib.sha256()
    for base, dirs, files in os.walk(os.path.dirname(maskcli.__file__)):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith(".py"):
                with open(os.path.join(base, name), "rb") as f:
                    digest.update(name.encode() + f.read())
    info["sources_sha256"] = digest.hexdigest()[:16]
    try:
        info["commit"] = subprocess.run(["git", "-C", folder, "rev-parse", "HEAD"], capture_output=True, text=True,
                                        timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", folder, "status", "--porcelain", "--", "maskcli"], capture_output=True,
                               text=True, timeout=10).stdout.split("\n")
        info["uncommitted_changes_in_maskcli"] = [d[3:] for d in dirty if d.strip()]
    except (OSError, subprocess.SubprocessError):
        pass
    return info


def save_partial(args, results) -> None:
    """Write what has been measured so far (a long run that fails late keeps its figures)."""
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results | {"partial": True}, f, indent=1, default=str)


def bench_worker_memory(args, sets: dict, results: dict, work: str) -> dict:
    results["idle_worker_mb"] = idle_worker_mb(1 if args.quick else 3)
    wm = {}
    per_set = 4 if args.quick else 16
    for key, ds in sets.items():
        if not ds.generated or (args.quick and key == "c"):
            continue
        files = ds.files[:per_set]
        wm[key] = {"to-index": worker_growth("to-index", files, ds.palette, os.path.join(work, "sim"))}
        if key in ("a", "b"):
            rgb_inputs = [os.path.join(work, key, "index-src", os.path.splitext(os.path.relpath(f, ds.masks))[0] + ".png")
                          for f in files]
            wm[key]["to-rgb"] = worker_growth("to-rgb", rgb_inputs, ds.palette, os.path.join(work, "sim"))
        facts = results["datasets"][key]
        for direction, entry in wm[key].items():
            table_bytes = facts["palette_facts"]["decode_table_bytes" if direction == "to-index" else "encode_table_bytes"]
            entry["budget_mb"] = (3 * facts["rgb_image_bytes"] + table_bytes) / MB
    return wm


def section(results: dict, name: str, fn, *args):
    """Run one part of the benchmark; an unexpected failure is recorded and the rest goes on.
    A failed check of maskcli's outputs (BenchError) stops the run."""
    try:
        results[name] = fn(*args)
    except BenchError:
        raise
    except Exception as exc:  # noqa: BLE001 - reported in the results and the text
        import traceback

        log(f"{name}: failed: {type(exc).__name__}: {exc}")
        results[name] = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()[-2000:]}


def run_all(args, results, cache, work, jobs, rounds, queue_count) -> None:
    specs = [s for s in datasets.default_specs(args.quick) if s.key in args.only]
    sets: dict[str, Dataset] = {}
    for spec in specs:
        log(f"building dataset ({spec.key}) {spec.title} in {cache} (kept for the next run)")
        t0 = time.perf_counter()
        masks = datasets.build(spec, cache)
        ds = Dataset(spec.key, spec.title, masks, datasets.palette_path(spec, masks), True)
        describe(ds)
        log(f"  {len(ds.files)} files ready ({time.perf_counter() - t0:.1f} s)")
        sets[spec.key] = ds
    for i, folder in enumerate(args.folders, 1):
        ds = Dataset(f"x{i}", f"user folder {folder}", os.path.abspath(folder), args.palette, False)
        describe(ds)
        sets[ds.key] = ds

    pal20 = os.path.join(cache, "bench-20.yaml")
    with open(pal20, "w") as f:
        f.write(datasets.kernel_palette_yaml())

    one = sets.get("e") or sets.get("a")
    section(results, "startup", bench_startup, 2 if args.quick else 9, one.files[0] if one else None, work)
    if "a" in sets:
        log("kernel: in-memory rgb_to_index")
        many = sets.get("d")
        section(results, "kernel", bench_kernel, sets["a"].files[0], many.files[0] if many else None, pal20,
                many.palette if many else None, args.quick)

    results["datasets"] = {}
    folders = {}
    for key, ds in sets.items():
        res = bench_dataset(ds, work, jobs, rounds, args.quick)
        results["datasets"][key] = res
        save_partial(args, results)
        folders[key] = (ds, res, {n: os.path.join(work, key, d) for n, d in (
            ("maskcli to-index -j 1", "maskcli-index-j1"), ("maskcli to-rgb -j 1", "maskcli-rgb-j1"))})
    section(results, "png_size", bench_png_size, folders, work)
    if "a" in sets and jobs > 1:
        log("pool fixed cost")
        section(results, "pool_overhead", bench_pool_overhead, sets["a"].files[0], sets["a"].palette, work, jobs,
                rounds if not args.quick else 1)

    log("worker memory")
    section(results, "worker_memory", bench_worker_memory, args, sets, results, work)
    save_partial(args, results)

    log("profiles")
    targets = [(f"({k}) to-index", "to-index", sets[k].masks, sets[k].palette) for k in ("a", "b") if k in sets]
    if args.quick:
        targets = targets[:1]
    elif "a" in sets:
        targets.append(("(a) to-rgb", "to-rgb", os.path.join(work, "a", "index-src"), sets["a"].palette))
    section(results, "profile", bench_profile, targets, work)

    for key in list(sets):  # outputs are no longer needed; the queue test writes many files
        shutil.rmtree(os.path.join(work, key), ignore_errors=True)
    if not args.no_queue:
        section(results, "queue", bench_queue, cache, work, queue_count, jobs)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"bench.py: error: {exc}", file=sys.stderr)
        sys.exit(1)
