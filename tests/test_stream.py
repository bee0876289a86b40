"""Runs over folders find their files while they convert (issue 15): the first outputs come
before the walk is over, memory does not grow with the number of files, and every check of a
plan made whole (collisions, outputs over inputs, the report's name) still stops the run before
anything that existed is overwritten. Real files, real subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from conftest import read_png, write_png
from maskcli import plan as plan_module
from maskcli.cli import cli
from maskcli.plan import Selection, StreamedPlan, make_plan, streamable

HOOKS = Path(__file__).parent / "stream_hooks"
DEADLINE = 180  # seconds: against a hang, not a measurement
ROAD, SKY = (128, 64, 128), (70, 130, 180)


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def tree(folder: Path, folders: int, per_folder: int) -> list[str]:
    """``folders`` x ``per_folder`` masks (hard links of two files), as relative paths."""
    folder.mkdir(parents=True)
    seeds = []
    for i, color in enumerate((ROAD, SKY)):
        seeds.append(folder / f".seed{i}.png")
        write_png(seeds[-1], np.full((4, 5, 3), color, np.uint8))
        os.utime(seeds[-1], ns=(1_600_000_000 * 10**9,) * 2)  # older than any output (--update)
    names = []
    for f in range(folders):
        (folder / f"c{f:03d}").mkdir()
        for n in range(per_folder):
            name = f"c{f:03d}/{n:04d}.png"
            os.link(seeds[(f + n) % 2], folder / name)
            names.append(name)
    return names


def peak(make) -> int:
    """The peak of Python's allocations while ``make()`` runs, in bytes."""
    tracemalloc.start()
    try:
        make()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def maskcli(*args, cwd, marks=None, **env):
    environment = {**os.environ, **{k: str(v) for k, v in env.items()}}
    if marks is not None:
        environment["MASKCLI_TEST_STREAM"] = str(marks)
        environment["PYTHONPATH"] = os.pathsep.join([str(HOOKS), *filter(None, [os.environ.get("PYTHONPATH")])])
    try:
        return subprocess.run([sys.executable, "-m", "maskcli", *map(str, args)], cwd=cwd, capture_output=True,
                              text=True, timeout=DEADLINE, env=environment, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        pytest.fail(f"maskcli {' '.join(map(str, args))} still running after {DEADLINE} s: it hangs")


@pytest.mark.parametrize("jobs", [1, 2])
def test_the_first_outputs_are_written_while_the_walk_goes_on(tmp_path, jobs):
    names = tree(tmp_path / "masks", 6, 5)
    marks = tmp_path / "marks"
    marks.mkdir()
    first = tmp_path / "out" / "c000" / "0000.png"
    result = maskcli("to-index", "masks", "-o", "out", "-p", "cityscapes", "-j", jobs, cwd=tmp_path, marks=marks,
                     MASKCLI_TEST_LOOKAHEAD=1, MASKCLI_TEST_WAIT_AFTER=12, MASKCLI_TEST_WAIT_FOR=first)
    assert result.returncode == 0, result.stderr
    assert (marks / "appeared").exists(), "the first output was not written while the walk went on"
    assert f"{len(names)} converted, 0 failed" in result.stderr


def test_the_walk_holds_folders_not_files(tmp_path, monkeypatch):
    """The plan of 6,000 files made whole holds every job; the streamed plan, iterated to the
    end, holds about one folder's worth beyond its look-ahead (memory measured, not time)."""
    tree(tmp_path / "masks", 60, 100)
    monkeypatch.setattr(plan_module, "LOOKAHEAD", 100)

    def streamed():
        plan = StreamedPlan([str(tmp_path / "masks")], str(tmp_path / "out"))
        count = sum(1 for event in plan.events() if event[0] == "job")
        assert count == 6000 and plan.complete and plan.stopped is None

    whole = peak(lambda: make_plan([str(tmp_path / "masks")], str(tmp_path / "out")))
    stream = peak(streamed)
    assert stream * 5 < whole, (stream, whole)


def test_streamed_and_whole_plans_list_the_same_jobs_in_the_same_order(tmp_path, monkeypatch):
    tree(tmp_path / "masks" / "train", 3, 4)
    tree(tmp_path / "masks" / "val", 2, 3)
    (tmp_path / "masks" / "val" / "c000" / "notes.txt").write_text("not a mask")
    monkeypatch.setattr(plan_module, "LOOKAHEAD", 2)
    rename = (("0001", "one"),)
    for inputs in ([tmp_path / "masks"], [tmp_path / "masks" / "val", tmp_path / "masks" / "train" / "c001"]):
        inputs = [str(i) for i in inputs]
        whole = make_plan(inputs, str(tmp_path / "out"), Selection(), rename, base=str(tmp_path / "masks"))
        stream = StreamedPlan(inputs, str(tmp_path / "out"), Selection(), rename, base=str(tmp_path / "masks"))
        events = list(stream.events())
        assert [(src, dst) for kind, src, dst in events if kind == "job"] == whole.jobs
        assert [src for kind, src, _ in events if kind == "kept"] == whole.kept_names


def test_runs_that_cannot_stream_safely_are_planned_whole(tmp_path):
    (tmp_path / "masks" / "sub").mkdir(parents=True)
    masks, out = str(tmp_path / "masks"), str(tmp_path / "out")
    assert streamable([masks], out)
    assert not streamable([masks, str(tmp_path / "masks" / "sub")], out)  # one input inside another
    assert not streamable([str(tmp_path / "masks" / "sub")], masks)  # an input inside the output folder
    assert not streamable([masks], "s3://bucket/out")
    assert not streamable([masks], str(tmp_path / "one.png"))
    os.symlink("masks", tmp_path / "alias")
    assert not streamable([masks], str(tmp_path / "alias"))  # the output folder is the input, through a link
    assert streamable([masks], str(tmp_path / "masks" / "out"))  # the output folder inside the input: not walked


@pytest.mark.parametrize("jobs", [1, 2])
def test_outputs_and_report_are_the_same_whatever_the_jobs_and_the_streaming(tmp_path, jobs):
    names = tree(tmp_path / "masks", 4, 6)
    (tmp_path / "masks" / "c002" / "bad.png").write_bytes(b"not a png")
    whole = maskcli("to-index", "masks", "masks/c001", "-o", "whole", "-p", "cityscapes", "-j", 1, "--report",
                    "whole.json", cwd=tmp_path)  # one input inside another: planned whole
    stream = maskcli("to-index", "masks", "-o", "out", "-p", "cityscapes", "-j", jobs, "--report", "out.json",
                     cwd=tmp_path, marks=tmp_path, MASKCLI_TEST_LOOKAHEAD=3)
    assert whole.returncode == stream.returncode == 1
    for name in names:
        assert (tmp_path / "out" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes()
    a = json.loads((tmp_path / "whole.json").read_text())
    b = json.loads((tmp_path / "out.json").read_text())
    assert [(f["input"], f["status"]) for f in a["files"]] == [(f["input"], f["status"]) for f in b["files"]]
    assert [f["output"] for f in a["files"]] == [f["output"].replace("out/", "whole/", 1) for f in b["files"]]
    assert (b["total"], b["converted"], b["failed"]) == (len(names) + 1, len(names), 1)


def test_update_checks_run_with_the_conversions_and_keep_the_order(tmp_path):
    names = tree(tmp_path / "masks", 3, 5)
    first = maskcli("to-index", "masks", "-o", "out", "-p", "cityscapes", "-j", 2, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    stale = tmp_path / "masks" / names[7]
    os.unlink(stale)
    write_png(stale, np.full((4, 5, 3), ROAD, np.uint8))
    os.utime(stale, ns=(os.stat(tmp_path / "out" / names[7]).st_mtime_ns + 10**9,) * 2)
    again = maskcli("to-index", "masks", "-o", "out", "-p", "cityscapes", "-j", 2, "--update", "--report", "r.json",
                    cwd=tmp_path, marks=tmp_path, MASKCLI_TEST_LOOKAHEAD=2)
    assert again.returncode == 0, again.stderr
    assert f"1 converted, {len(names) - 1} up to date, 0 failed" in again.stderr
    files = json.loads((tmp_path / "r.json").read_text())["files"]
    assert [f["input"] for f in files] == [f"masks/{n}" for n in names]
    assert [f["status"] for f in files].count("converted") == 1 and files[7]["status"] == "converted"
    road = read_png(tmp_path / "out" / names[0])[1]  # names[0] is a road mask, names[7] was sky
    assert np.array_equal(read_png(tmp_path / "out" / names[7])[1], road)


def test_a_collision_found_after_the_first_outputs_stops_before_it_is_written(tmp_path):
    """Two output folders that are one (a link in the output tree), met after the first jobs
    went out: the run stops with exit 2 before the second folder writes, says what it did, and
    what it wrote is right."""
    tree(tmp_path / "masks", 3, 4)
    for n in range(4):  # c002's masks are cars: an output of theirs is told apart from c000's
        os.unlink(tmp_path / "masks" / "c002" / f"{n:04d}.png")
        write_png(tmp_path / "masks" / "c002" / f"{n:04d}.png", np.full((4, 5, 3), (0, 0, 142), np.uint8))
    (tmp_path / "out" / "c000").mkdir(parents=True)
    os.symlink("c000", tmp_path / "out" / "c002")
    result = maskcli("to-index", "masks", "-o", "out", "-p", "cityscapes", "-j", 1, "--report", "r.json",
                     cwd=tmp_path, marks=tmp_path, MASKCLI_TEST_LOOKAHEAD=1)
    assert result.returncode == 2, result.stderr
    assert "would be written by more than one input folder" in result.stderr
    assert "to-index: 8 converted, 0 failed" in result.stderr  # c000 and c001: what was done before
    assert "Traceback" not in result.stderr
    road, sky = (read_png(tmp_path / "out" / "c001" / f"{n:04d}.png")[1] for n in (1, 0))  # (f + n) % 2: ROAD, SKY
    for n in range(4):  # c000's outputs are c000's, not c002's cars
        assert np.array_equal(read_png(tmp_path / "out" / "c000" / f"{n:04d}.png")[1], sky if n % 2 else road)
    assert not (tmp_path / "r.json").exists()  # a usage error writes no report


def test_an_output_folder_linked_into_the_inputs_never_overwrites_them(tmp_path):
    names = tree(tmp_path / "masks", 3, 2)
    before = {n: (tmp_path / "masks" / n).read_bytes() for n in names}
    (tmp_path / "out").mkdir()
    os.symlink(tmp_path / "masks" / "c000", tmp_path / "out" / "c001")  # c001's outputs would land on c000's masks
    result = maskcli("to-index", "masks", "-o", "out", "-p", "cityscapes", cwd=tmp_path, marks=tmp_path,
                     MASKCLI_TEST_LOOKAHEAD=1)
    assert result.returncode == 2 and "the output folder leads (through a link) to" in result.stderr, result.stderr
    assert "outputs there would overwrite inputs" in result.stderr
    assert {n: (tmp_path / "masks" / n).read_bytes() for n in names} == before


def test_an_input_that_links_into_the_output_folder_is_skipped(tmp_path):
    tree(tmp_path / "masks", 1, 2)
    (tmp_path / "out" / "c000").mkdir(parents=True)
    write_png(tmp_path / "out" / "old.png", np.full((4, 5, 3), ROAD, np.uint8))
    os.symlink(tmp_path / "out" / "old.png", tmp_path / "masks" / "c000" / "zlink.png")
    result = invoke("to-index", tmp_path / "masks", "-o", tmp_path / "out", "-p", "cityscapes")
    assert result.exit_code == 0, result.stderr
    assert "zlink.png: skipped: a link into the output folder" in result.stderr
    assert "2 converted, 0 failed" in result.stderr
    assert not (tmp_path / "out" / "c000" / "zlink.png").exists()


def test_a_report_named_like_an_output_found_late_stops_the_run(tmp_path):
    tree(tmp_path / "masks", 2, 2)
    result = maskcli("to-index", "masks", "-o", "out", "-p", "cityscapes", "--report", "out/c001/0001.png",
                     cwd=tmp_path, marks=tmp_path, MASKCLI_TEST_LOOKAHEAD=1)
    assert result.returncode == 2 and "--report out/c001/0001.png is an output of this run" in result.stderr
    assert not (tmp_path / "out" / "c001" / "0001.png").exists()


def test_nothing_found_is_still_a_usage_error(tmp_path):
    (tmp_path / "masks" / "empty").mkdir(parents=True)
    result = invoke("to-index", tmp_path / "masks", "-o", tmp_path / "out", "-p", "cityscapes")
    assert result.exit_code == 2 and "no mask files found in" in result.stderr
    assert "converted" not in result.stderr


# ----------------------------------------------------------------- check


def test_check_streams_and_says_what_a_listed_run_says(tmp_path):
    names = tree(tmp_path / "masks", 3, 4)
    write_png(tmp_path / "masks" / "c001" / "wide.png", np.full((4, 9, 3), ROAD, np.uint8))
    write_png(tmp_path / "masks" / "c002" / "odd.png", np.full((4, 5, 3), (1, 2, 3), np.uint8))
    streamed = maskcli("check", "masks", "-p", "cityscapes", "-j", 2, "--report", "a.json", cwd=tmp_path)
    listed = maskcli("check", "masks", "masks/c001", "-p", "cityscapes", "-j", 2, "--report", "b.json", cwd=tmp_path)
    assert streamed.returncode == listed.returncode == 1
    assert streamed.stdout == listed.stdout  # the class table
    assert "1 file(s) differ from the most common size 5x4: masks/c001/wide.png (9x4)" in streamed.stderr
    assert "check: 13 ok, 1 failed, 1 warning(s)" in streamed.stderr
    a = json.loads((tmp_path / "a.json").read_text())
    b = json.loads((tmp_path / "b.json").read_text())
    a.pop("options"), b.pop("options")
    assert a == b and a["total"] == len(names) + 2


def test_check_names_a_bounded_number_of_files_of_odd_sizes(tmp_path, monkeypatch):
    from maskcli import check

    monkeypatch.setattr(check, "KEPT_NAMES", 3)
    tree(tmp_path / "masks", 1, 2)
    for n in range(5):
        write_png(tmp_path / "masks" / "c000" / f"w{n}.png", np.full((4, 9, 3), ROAD, np.uint8))
    for n in range(4):
        write_png(tmp_path / "masks" / "c000" / f"x{n}.png", np.full((7, 5, 3), ROAD, np.uint8))
    result = invoke("check", tmp_path / "masks", "-p", "cityscapes", "-v")
    # 2 of 5x4 and 4 of 5x7 differ; the 3 names kept are the first 3 files (the two 5x4 and w0)
    assert "6 file(s) differ from the most common size 9x4" in result.stderr, result.stderr
    assert "c000/0001.png (5x4) (and 4 more not named: check keeps 1000 names a size, 3 in all)" in result.stderr


def test_check_finds_a_report_that_is_one_of_its_inputs(tmp_path):
    tree(tmp_path / "masks", 2, 2)
    os.symlink("masks", tmp_path / "ml")
    result = maskcli("check", "masks", "-p", "cityscapes", "--report", "ml/c001/0000.png", cwd=tmp_path)
    assert result.returncode == 2
    assert "--report ml/c001/0000.png is an input of this run (the same file, through a link)" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_check_walk_holds_folders_not_files(tmp_path, monkeypatch):
    from maskcli.check import _Walk
    from maskcli.walk import find_mask_files

    tree(tmp_path / "masks", 60, 100)
    monkeypatch.setattr(plan_module, "LOOKAHEAD", 100)

    class Quiet:
        def found(self, n): pass
        def set_total(self, n): pass

    def streamed():
        walk = _Walk([str(tmp_path / "masks")], Selection(), [])
        assert sum(1 for _ in walk.items(Quiet())) == 6000 and walk.complete

    whole = peak(lambda: find_mask_files([str(tmp_path / "masks")]))
    assert peak(streamed) * 5 < whole


def test_a_streamed_dry_run_prints_the_plan_a_whole_one_prints(tmp_path):
    names = tree(tmp_path / "masks", 3, 3)
    done = maskcli("to-index", "masks", "-o", "out", "-p", "cityscapes", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    os.unlink(tmp_path / "out" / names[4])
    streamed = maskcli("to-index", "masks", "-o", "out", "-p", "cityscapes", "-n", "--update", cwd=tmp_path,
                       marks=tmp_path, MASKCLI_TEST_LOOKAHEAD=1)
    whole = maskcli("to-index", "masks", "masks/c000", "-o", "out", "-p", "cityscapes", "-n", "--update", cwd=tmp_path)
    assert streamed.returncode == whole.returncode == 0, streamed.stderr
    assert streamed.stdout == whole.stdout
    assert streamed.stdout.splitlines()[4] == f"masks/{names[4]} -> out/{names[4]}"
    assert streamed.stdout.splitlines()[0] == f"masks/{names[0]}: up to date (out/{names[0]})"
    assert not (tmp_path / "out" / names[4]).exists()


def test_a_run_interrupted_while_it_walks_reports_the_files_found_so_far(tmp_path):
    """SIGINT while the walk is still going (the hook holds the walk until the first output
    exists, then the signal comes): the summary and the report say what was found, not 0."""
    import signal
    import time

    tree(tmp_path / "masks", 4, 5)
    marks = tmp_path / "marks"
    marks.mkdir()
    env = {**os.environ, "MASKCLI_TEST_STREAM": str(marks), "MASKCLI_TEST_LOOKAHEAD": "1",
           "MASKCLI_TEST_WAIT_AFTER": "3", "MASKCLI_TEST_WAIT_FOR": str(tmp_path / "release"),
           "PYTHONPATH": os.pathsep.join([str(HOOKS), *filter(None, [os.environ.get("PYTHONPATH")])])}
    proc = subprocess.Popen([sys.executable, "-m", "maskcli", "to-index", "masks", "-o", "out", "-p", "cityscapes",
                             "-j", "1", "--report", "r.json"], cwd=tmp_path, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + DEADLINE
    while not (tmp_path / "out" / "c000" / "0002.png").exists():  # the walk now waits for "release"
        assert proc.poll() is None and time.monotonic() < deadline, "the run ended or hangs"
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.5)  # the signal is noted while the walk waits; then the walk goes on, and stops
    (tmp_path / "release").touch()
    _, err = proc.communicate(timeout=DEADLINE)
    assert proc.returncode == 130, err
    import re

    summary = re.search(r"interrupted by SIGINT after (\d+) of the (\d+) files found so far: (\d+) converted", err)
    assert summary and summary.group(1) == summary.group(3), err  # (3, unless the signal came late)
    done, found = int(summary.group(1)), int(summary.group(2))
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["interrupted"] == "SIGINT" and report["converted"] == done >= 3
    assert done <= report["total"] == found < 20  # found so far: the walk was not over


# ----------------------------------------------------------------- review findings


def test_two_inputs_of_one_output_stop_the_run_whatever_the_selection(tmp_path):
    (tmp_path / "masks" / "sub").mkdir(parents=True)
    write_png(tmp_path / "masks" / "sub" / "x.png", np.full((4, 5, 3), ROAD, np.uint8))
    Image.fromarray(np.full((4, 5, 3), SKY, np.uint8)).save(tmp_path / "masks" / "sub" / "x.tif")
    walked = maskcli("to-index", "masks", "-o", "out", "-p", "cityscapes", "--include", "sub/x.*", cwd=tmp_path)
    assert walked.returncode == 2, walked.stderr
    assert "would be written by more than one input: masks/sub/x.png and masks/sub/x.tif -> out/sub/x.png" in walked.stderr
    named = maskcli("to-index", "masks/sub/x.tif", "masks/sub/x.png", "-o", "out2", "-p", "cityscapes", "--include",
                    "*.png", cwd=tmp_path)
    assert named.returncode == 2 and "masks/sub/x.tif and masks/sub/x.png -> out2/masks/sub/x.png" in named.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "out2").exists()


def test_an_output_folder_linked_into_the_inputs_stops_before_writing_there(tmp_path):
    names = tree(tmp_path / "masks", 3, 2)
    before = {n: (tmp_path / "masks" / n).read_bytes() for n in names}
    (tmp_path / "out").mkdir()
    os.symlink(tmp_path / "masks" / "c002", tmp_path / "out" / "c000")  # c000's outputs would land in c002
    result = maskcli("to-index", "masks", "-o", "out", "-p", "cityscapes", cwd=tmp_path, marks=tmp_path,
                     MASKCLI_TEST_LOOKAHEAD=1)
    assert result.returncode == 2, result.stderr
    assert "the output folder leads (through a link) to" in result.stderr
    assert sorted(p.name for p in (tmp_path / "masks" / "c002").iterdir()) == ["0000.png", "0001.png"]
    assert {n: (tmp_path / "masks" / n).read_bytes() for n in names} == before


def test_a_list_of_files_of_one_folder_lists_the_output_folder_once(tmp_path, monkeypatch):
    """--files-from of one folder's files into an existing output folder: the output folder is
    listed once, not once a file (that made 20,000 files take minutes)."""
    tree(tmp_path / "masks", 1, 50)
    (tmp_path / "out" / "c000").mkdir(parents=True)
    listed = [str(tmp_path / "masks" / "c000" / f"{n:04d}.png") for n in range(50)]
    calls = []
    real = plan_module._listing
    monkeypatch.setattr(plan_module, "_listing", lambda folder: calls.append(folder) or real(folder))
    plan = StreamedPlan([], str(tmp_path / "out"), base=str(tmp_path / "masks"), listed=listed)
    assert sum(1 for e in plan.events() if e[0] == "job") == 50
    assert len(calls) == 1
