"""The benchmark suite runs end to end (--quick) and checks maskcli's outputs as it goes.

benchmarks/bench.py itself raises (exit 1) when maskcli's output differs from the naive
per-class loop's on a generated dataset; this test runs it as a user would and reads its JSON.
How fast it was is the benchmark's business (its targets), never this test's: the suite must
pass on a machine whose cores are busy, so the only limit here is a generous deadline against
a hang.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks" / "bench.py"


def test_quick_benchmark_runs_and_verifies_outputs(tmp_path):
    out = tmp_path / "r.json"
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--out", str(out), "--cache", str(tmp_path / "cache")],
        capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL,  # about 15 s idle, 1 min busy
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(out.read_text())

    assert {"meta", "datasets", "kernel", "startup", "png_size", "worker_memory", "queue", "profile", "targets"} <= set(results)
    assert results["meta"]["quick"] is True
    assert set(results["datasets"]) == {"a", "b", "c", "d", "e"}
    jobs = results["meta"]["cpus"]
    for key, ds in results["datasets"].items():
        names = set(ds["measurements"])
        expected = {"maskcli to-index -j 1", "maskcli to-rgb -j 1", "I/O floor to-index, 1 proc",
                    "I/O floor to-rgb, 1 proc", "naive per-class loop", "np.unique inverse",
                    "naive per-class loop (to-rgb)", f"maskcli to-index -j {jobs}", f"maskcli to-rgb -j {jobs}"}
        assert expected <= names, (key, names)
        for name, m in ds["measurements"].items():
            assert m["best_s"] > 0 and m["files_per_s"] > 0, (key, name)
            assert not m["failures"], (key, name, m["failures"])
        # maskcli's index masks equal the seed article's loop, and to-rgb's output its loop's
        v = ds["verification"]
        assert v["all_ok"], (key, v)
        assert v["to_index_equals_naive_loop"]["ok"] and v["to_index_equals_naive_loop"]["equal"] == ds["files"]
        assert v["to_rgb_equals_naive_loop"]["ok"]
        assert v["to_index_equals_np_unique"]["ok"]
        if jobs > 1:
            assert v["to_index_j1_bytes_equal_jN"]["ok"] and v["to_rgb_j1_bytes_equal_jN"]["ok"]
        # memory was sampled from the real processes: the CLI parent, and pool workers at -j N
        assert ds["measurements"]["maskcli to-index -j 1"]["memory"]["parent_hwm_mb"] > 10
        assert ds["ratios"]["to_index_j1_over_floor"] > 0
    assert results["datasets"]["a"]["verification"]["round_trip_equals_input"]["ok"]
    assert results["datasets"]["d"]["palette_facts"]["bits"] == 16

    for label in ("20 classes", "300 classes (uint16)"):
        k = results["kernel"][label]
        assert k["equal_outputs"] and k["speedup_vs_naive"] > 0 and k["np_unique_s"] > 0  # measured, not judged
    assert results["startup"]["maskcli --help"]["median_s"] > 0
    assert results["queue"]["queued_files"] == 1000 and results["queue"]["parent_hwm_mb"] > 10
    assert results["png_size"]["a"]["index_png_maskcli"] > 0
    assert all("growth_mb" in w["to-index"] for w in results["worker_memory"].values())
    assert {t["met"] for t in results["targets"]} <= {True, False, None}
    assert any(t["target"].startswith("kernel") for t in results["targets"])
    assert "Targets" in proc.stdout and "Dataset (a)" in proc.stdout


def test_benchmark_refuses_a_wrong_conversion(tmp_path):
    """The check that makes the benchmark raise: a maskcli output that differs from the loop's."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import numpy as np
        from PIL import Image

        import bench
    finally:
        sys.path.pop(0)
    masks = tmp_path / "masks"
    masks.mkdir()
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(masks / "m.png")
    outs = {}
    for name, value in (("maskcli to-index -j 1", 1), ("naive per-class loop", 2), ("np.unique inverse", 2),
                        ("maskcli to-rgb -j 1", 0), ("naive per-class loop (to-rgb)", 0)):
        folder = tmp_path / name.replace(" ", "_")
        folder.mkdir()
        Image.fromarray(np.full((4, 4), value, np.uint8)).save(folder / "m.png")
        outs[name] = bench.Measure(name, [], str(folder), "maskcli", "to-index", 1)
    ds = bench.Dataset("a", "t", str(masks), "cityscapes", generated=True)
    bench.describe(ds)
    try:
        bench.verify(ds, str(tmp_path), str(tmp_path), list(outs.values()), jobs=1)
    except bench.BenchError as exc:
        assert "to_index_equals_naive_loop" in str(exc)
    else:
        raise AssertionError("verify() accepted an output that differs from the naive loop's")


def test_scale_benchmark_measures_every_run(tmp_path):
    """`bench.py --scale 300`: the tree is built and cached, every command runs as a subprocess,
    and the figures a reader needs are there and plausible (not how fast they are)."""
    out = tmp_path / "scale.json"
    cache = tmp_path / "cache"
    cmd = [sys.executable, str(BENCH), "--scale", "300", "-j", "2", "--out", str(out), "--cache", str(cache)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr[-3000:]
    s = json.loads(out.read_text())["scale"]

    assert s["files"] == 300 and s["jobs"] == 2
    assert s["tree"]["reused"] is False and s["tree"]["build_s"] >= 0
    masks = Path(s["tree"]["path"])
    assert masks.parent.parent == cache  # the tree is cached under --cache, keyed by N
    found = sorted(p.relative_to(masks).as_posix() for p in masks.rglob("*.png"))
    assert len(found) == 300 and found[0] == "part000/city00/0000.png" and found[-1] == "part000/city00/0299.png"
    assert all((masks / f).stat().st_mtime < 1.6e9 for f in found[:10])  # dated long before any output
    assert s["disk"]["needed"]["inodes"] >= 600 and s["disk"]["free"]["bytes"] > 0

    assert list(s["runs"]) == ["to-index", "to-rgb", "check", "to-index --update"]
    for name, r in s["runs"].items():
        assert r["returncode"] == 0, (name, r["stderr_tail"])
        assert r["wall_s"] > 0 and r["files_per_s"] > 0, name
        assert r["memory"]["parent_peak_mb"] > 10, name
    seen = []
    for name in ("to-index", "to-rgb"):
        r = s["runs"][name]
        assert r["converted"] == 300 and r["outputs"]["pngs"] == 300 and r["outputs"]["temporary_files"] == 0
        assert 0 < r["first_output_s"] <= r["wall_s"]
        workers = r["memory"]["workers"]  # started on demand, and a run this small is short: 0-2 seen
        assert len(workers) <= 2 and all(w["peak_mb"] > 10 for w in workers), workers
        seen += workers
    assert seen, "no pool worker was seen in either run"
    assert s["runs"]["to-rgb"]["round_trip"]["ok"] and s["runs"]["check"]["ok"] == 300
    assert s["runs"]["to-index --update"]["up_to_date"] == 300 and s["runs"]["to-index --update"]["converted"] == 0
    assert set(s["removal"]) == {"to-rgb outputs", "to-index outputs"}
    assert all(r["seconds"] >= 0 for r in s["removal"].values())
    assert "Scale: 300 files" in proc.stdout and "to-index --update" in proc.stdout

    # a second run reuses the cached tree
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads(out.read_text())["scale"]["tree"]["reused"] is True


def test_scale_benchmark_stops_when_the_outputs_would_not_fit(tmp_path):
    """The disk check refuses, with a clear message and before building anything, a size whose
    outputs cannot fit (here: more files than the filesystem has inodes or blocks)."""
    cache = tmp_path / "cache"
    proc = subprocess.run([sys.executable, str(BENCH), "--scale", str(10**12), "--cache", str(cache)],
                          capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert proc.returncode == 1
    assert "does not fit" in proc.stderr and "inode" in proc.stderr, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert not (cache / f"scale-{10**12}").exists()


def test_codec_comparison_runs_and_names_every_way(tmp_path):
    import numpy as np
    from PIL import Image

    rgb = np.zeros((64, 96, 3), np.uint8)
    rgb[20:] = (128, 64, 128)
    Image.fromarray(rgb, "RGB").save(tmp_path / "m.png")
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "codecs.py"), str(tmp_path), "--rounds", "1"],
                          capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "1 files, (64, 96, 3)" in proc.stdout
    for way in ("cv2.imdecode", "maskcli decode_mask, zlib-ng inflates", "maskcli decode_mask, decoder inflates"):
        assert way in proc.stdout, proc.stdout


def test_codec_comparison_names_both_inflaters_whatever_the_environment_says(tmp_path):
    # The row for zlib-ng was named after MASKCLI_PNG_INFLATE as set when the benchmark
    # started: with "decoder" there, both rows had the same name and one was lost.
    import os

    from PIL import Image

    Image.new("RGB", (32, 16), (128, 64, 128)).save(tmp_path / "m.png")
    env = dict(os.environ, MASKCLI_PNG_INFLATE="decoder")
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "codecs.py"), str(tmp_path), "--rounds", "1"],
                          capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for way in ("maskcli decode_mask, zlib-ng inflates", "maskcli decode_mask, decoder inflates"):
        assert way in proc.stdout, proc.stdout
