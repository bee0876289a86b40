"""--report streams to disk (issue 15): per-file entries are spooled as JSON lines in a hidden
temporary file, the final JSON is written from it piece by piece, and the bytes are the ones
json.dumps(..., indent=2) gives for the whole document, as before."""

from __future__ import annotations

import gc
import json
import os
import signal
import subprocess
import sys
import tempfile
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import write_png
from maskcli import __version__, masks, report as report_mod
from maskcli.cli import cli
from maskcli.report import Report, Spool, json_chunks, write_json

COLORS = np.array([[128, 64, 128], [70, 70, 70], [0, 0, 142], [107, 142, 35]], np.uint8)  # cityscapes


def color_mask(seed: int, size: int = 4):
    rng = np.random.default_rng(seed)
    return COLORS[rng.integers(0, 4, (size, size))]


def leftovers(*folders) -> list[str]:
    """maskcli's hidden temporary files in ``folders``."""
    return sorted(str(p) for folder in folders for p in Path(folder).rglob(".maskcli-*"))


@pytest.fixture
def temp_folder(tmp_path, monkeypatch):
    """The system's temp folder, for this test: a folder of its own under tmp_path."""
    folder = tmp_path / "systemp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    monkeypatch.setenv("TMPDIR", str(folder))
    return folder


def invoke(args):
    return CliRunner().invoke(cli, args, catch_exceptions=False)


# --------------------------------------------------------------------------- the same bytes as before


def test_report_is_byte_for_byte_json_dumps_of_the_whole_document(tmp_path, temp_folder):
    """converted, failed and up-to-date files, a name with a non-ASCII letter: the streamed file
    is exactly what json.dumps(document, indent=2) + newline gives (the old writer's output)."""
    src = tmp_path / "in"
    for name in ("a.png", "b.png"):
        write_png(src / name, color_mask(len(name)))
        os.utime(src / name, (1_600_000_000, 1_600_000_000))  # older than their outputs, whatever the clock's grain
    out, rep = tmp_path / "out", tmp_path / "report.json"
    assert invoke(["to-index", str(src), "-o", str(out), "-p", "cityscapes", "-q"]).exit_code == 0
    write_png(src / "c\u00e9.png", color_mask(3))  # new: converted
    (src / "d.png").write_bytes(b"not a png")  # fails
    bad = np.array([[[1, 2, 3]] * 4] * 4, np.uint8)
    write_png(src / "e.png", bad)  # unknown colors: fails

    result = invoke(["to-index", str(src), "-o", str(out), "-p", "cityscapes", "--update", "-q",
                     "--report", str(rep)])
    assert result.exit_code == 1
    written = rep.read_bytes()
    got = json.loads(written)

    def entry(name, status, error=None):
        return {"input": str(src / name), "output": str(out / name), "status": status, "error": error,
                "snapped_pixels": 0, "ignored_pixels": 0}

    errors = {f["input"]: f["error"] for f in got["files"]}
    assert errors[str(src / "d.png")] and "unknown color" in errors[str(src / "e.png")]
    expected = {
        "schema": 1, "maskcli": __version__, "command": "to-index", "options": got["options"],
        "interrupted": None, "total": 5, "converted": 1, "skipped": 2, "failed": 2,
        "snapped_pixels": 0, "ignored_pixels": 0,
        "files": [entry("a.png", "skipped"), entry("b.png", "skipped"), entry("c\u00e9.png", "converted"),
                  entry("d.png", "failed", errors[str(src / "d.png")]),
                  entry("e.png", "failed", errors[str(src / "e.png")])],
    }
    assert got["options"]["update"] is True
    assert written == (json.dumps(expected, indent=2, default=str) + "\n").encode()
    assert b"c\\u00e9.png" in written  # ASCII, as before
    assert leftovers(tmp_path) == []


def test_report_without_files_and_with_nested_entries_keeps_json_dumps_layout():
    header = {"schema": 1, "options": {"inputs": ["x"], "empty": [], "none": {}}, "total": 0}
    assert "".join(json_chunks(header, [])) == json.dumps({**header, "files": []}, indent=2) + "\n"
    entries = [{"input": "a\udcff\nb", "values": {"0": 3, "7": 1}, "unknown_colors": [[[1, 2, 3], 4]],
                "size": [4, 4], "e": [], "d": {}, "f": 1.5e-7}] * (2 * report_mod.FLUSH_EVERY + 3)
    chunks = list(json_chunks(header, entries))
    assert len(chunks) > 2  # written in pieces
    assert "".join(chunks) == json.dumps({**header, "files": entries}, indent=2, default=str) + "\n"


def test_check_report_is_json_dumps_layout_and_html_sample_is_unchanged(tmp_path, temp_folder):
    src = tmp_path / "in"
    for i in range(30):
        write_png(src / f"{i:02d}.png", color_mask(i, 4 if i % 7 else 6))
    write_png(src / "bad.png", np.array([[[1, 2, 3]] * 4] * 4, np.uint8))
    rep = tmp_path / "check.json"
    result = invoke(["check", str(src), "-p", "cityscapes", "-q", "--report", str(rep)])
    assert result.exit_code == 1
    text = rep.read_text()
    data = json.loads(text)
    assert text == json.dumps(data, indent=2) + "\n"
    assert [f["input"] for f in data["files"]] == sorted(str(p) for p in src.iterdir())
    assert data["checked"] == 31 and data["failed"] == 1 and data["files"][0]["values"]
    assert leftovers(tmp_path) == []

    from maskcli import html_report, sheet, visualize

    files = data["files"] * 40  # more than a sample, more problems than are listed
    listed, n_bad, chosen = visualize._pick_files(files, html_report.MAX_PROBLEMS, html_report.SAMPLE_SIZE)
    bad = [f for f in files if f["status"] == "failed"]
    assert (listed, n_bad) == (bad[: html_report.MAX_PROBLEMS], len(bad))
    readable = [f["input"] for f in files if "size" in f]
    assert chosen == sheet.choose(readable, "random", html_report.SAMPLE_SIZE, 0)


def test_check_names_odd_sizes_with_and_without_v(tmp_path, temp_folder):
    """-v lists every file of another size; without -v the first five and how many more, as
    before the report's entries left memory."""
    src = tmp_path / "in"
    sizes = [4] * 4 + [6] * 8 + [8] * 8  # most common: 6x6 (the first of the tie), 12 odd files
    for i, size in enumerate(sizes):
        write_png(src / f"{i:02d}.png", color_mask(i, size))
    odd = [f"{src / f'{i:02d}.png'} ({n}x{n})" for i, n in enumerate(sizes) if n != 6]

    def note(args):
        result = invoke(["check", str(src), "-p", "cityscapes", *args])
        return next(line for line in result.output.splitlines() if "differ from the most common size" in line)

    assert note(["-v"]) == f"warning: 12 file(s) differ from the most common size 6x6: {', '.join(odd)}"
    assert note([]) == (f"warning: 12 file(s) differ from the most common size 6x6: {', '.join(odd[:5])}"
                        ", and 7 more (-v lists all)")
    assert leftovers(tmp_path) == []


# --------------------------------------------------------------------------- the spool


def spool_path(spool: Spool) -> str:
    return os.readlink(f"/proc/self/fd/{spool._file.fileno()}")


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc to see where the open spool is")
def test_spool_goes_beside_the_report_else_to_the_temp_folder_and_has_no_name_left(tmp_path, temp_folder):
    (tmp_path / "reports").mkdir()
    cases = {
        str(tmp_path / "reports" / "r.json"): tmp_path / "reports",  # nothing there yet
        "-": temp_folder,
        str(tmp_path / "missing" / "r.json"): temp_folder,  # the folder is made later, when written
        os.devnull: temp_folder,  # a device is written in place
    }
    (tmp_path / "reports" / "old.json").write_text("{}")
    os.symlink(tmp_path / "reports" / "old.json", tmp_path / "link.json")
    cases[str(tmp_path / "link.json")] = tmp_path / "reports"  # beside the link's target
    for near, folder in cases.items():
        spool = Spool(near)
        where = spool_path(spool)
        assert where.startswith(f"{folder}{os.sep}.maskcli-") and where.endswith(".tmp (deleted)"), (near, where)
        assert len(os.path.basename(where)) < 60
        spool.add({"input": near})
        assert list(spool) == [{"input": near}]
        spool.close()
    assert leftovers(tmp_path) == []


def test_spool_without_early_removal_is_removed_on_close_and_when_collected(tmp_path, monkeypatch):
    """Where an open file cannot be removed (Windows), the name goes when the spool is closed,
    or collected."""
    real_unlink = os.unlink
    calls = []

    def refuse_once(path, *a, **k):
        if not calls:
            calls.append(path)
            raise PermissionError(13, "in use")
        return real_unlink(path, *a, **k)

    monkeypatch.setattr(report_mod.os, "unlink", refuse_once)
    spool = Spool(str(tmp_path / "r.json"))
    assert len(leftovers(tmp_path)) == 1
    spool.close()
    assert leftovers(tmp_path) == []
    calls.clear()
    spool = Spool(str(tmp_path / "r.json"))
    spool.add({"a": 1})
    assert len(leftovers(tmp_path)) == 1
    del spool
    gc.collect()
    assert leftovers(tmp_path) == []


def test_spool_that_cannot_be_written_makes_a_one_line_failure_not_a_short_report(tmp_path, temp_folder):
    spool = Spool(str(tmp_path / "r.json"))
    spool.add({"input": "a"})

    class Full:
        def write(self, data):
            raise OSError(28, "No space left on device")

    real, spool._file = spool._file, Full()
    spool.add({"input": "b"})
    spool._file = real
    assert spool.error == "cannot write its entries to a temporary file: No space left on device"
    assert write_json(str(tmp_path / "r.json"), {"total": 2}, spool) == spool.error
    assert not (tmp_path / "r.json").exists()
    spool.close()


def test_report_file_that_cannot_be_written_is_one_line_and_leaves_nothing(tmp_path, temp_folder):
    src = tmp_path / "in"
    write_png(src / "a.png", color_mask(1))
    (tmp_path / "afile").write_text("x")
    rep = tmp_path / "afile" / "r.json"  # a file is in the way
    result = invoke(["to-index", str(src), "-o", str(tmp_path / "out"), "-p", "cityscapes", "-q",
                     "--report", str(rep)])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if "cannot write the report" in line]
    assert len(lines) == 1 and lines[0].startswith(f"error: {rep}: cannot write the report: ")
    assert "Traceback" not in result.output
    assert leftovers(tmp_path) == []

    check = invoke(["check", str(src), "-p", "cityscapes", "-q", "--report", str(rep)])
    assert check.exit_code == 1
    assert [line for line in check.output.splitlines() if "cannot write the report" in line] == [
        next(line for line in check.output.splitlines() if line.startswith(f"error: {rep}: cannot write the report: "))]
    assert leftovers(tmp_path) == []


def test_report_that_fails_midway_leaves_the_old_report_whole(tmp_path):
    target = tmp_path / "r.json"
    target.write_text("old")

    def chunks():
        yield b"{\n"
        raise OSError(5, "Input/output error")

    with pytest.raises(OSError):
        masks.write_named_file(target, chunks())
    assert target.read_text() == "old"
    assert leftovers(tmp_path) == []
    masks.write_named_file(target, iter([b"a", b"", b"bc"]))
    assert target.read_text() == "abc"
    if os.geteuid() == 0:  # a device (/dev/null's numbers, made here): written in place, never replaced
        import stat

        device = tmp_path / "null"
        os.mknod(device, 0o600 | stat.S_IFCHR, os.makedev(1, 3))
        masks.write_named_file(device, iter([b"x"] * 3))
        assert stat.S_ISCHR(os.lstat(device).st_mode)
        assert leftovers(tmp_path) == []


# --------------------------------------------------------------------------- bounded memory


def test_report_of_200000_files_stays_within_a_few_megabytes(tmp_path):
    """The parent's memory does not grow with the files (the old Report kept a dict per file:
    about 100 MB here); writing the JSON does not hold it either."""
    rep = tmp_path / "r.json"
    tracemalloc.start()
    try:
        report = Report("to-index", 200_000, lambda message: None, quiet=True, report_to=str(rep))
        info = {"snapped": 0, "ignored": 1, "transparent": 2, "pixels": 16}
        for k in range(200_000):
            report.done(f"masks/city_{k:07d}_leftImg8bit_gtFine_color.png",
                        f"out/city_{k:07d}_leftImg8bit_gtFine_labelIds.png", None if k % 1000 else "bad", info)
        during = tracemalloc.get_traced_memory()[1]
        assert report.write_json(str(rep), __version__, {"inputs": ["masks"]}) is None
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert during < 4_000_000, f"peak {during} bytes while recording"
    assert peak < 4_000_000, f"peak {peak} bytes while writing the JSON"
    size = rep.stat().st_size
    assert size > 40_000_000  # the report itself is large: it was not held in memory
    with open(rep, "rb") as f:
        f.seek(size - 200)
        assert f.read().endswith(b'"ignored_pixels": 3\n    }\n  ]\n}\n')
    assert report.failed == 200 and report.converted == 199_800
    assert leftovers(tmp_path) == []


# --------------------------------------------------------------------------- real runs


def test_cli_run_over_hundreds_of_tiny_pngs_with_a_pool(tmp_path, temp_folder):
    src = tmp_path / "in"
    for k in range(300):
        write_png(src / f"{k % 3}" / f"{k:04d}.png", color_mask(k))
    (src / "1" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    rep = tmp_path / "rep" / "report.json"
    rep.parent.mkdir()
    args = ["to-index", str(src), "-o", str(tmp_path / "out"), "-p", "cityscapes", "-j", "2", "-q"]
    proc = subprocess.run([sys.executable, "-m", "maskcli", *args, "--report", str(rep)],
                          capture_output=True, text=True, timeout=300, env={**os.environ, "TMPDIR": str(temp_folder)})
    assert proc.returncode == 1, proc.stderr
    text = rep.read_text()
    data = json.loads(text)
    assert text == json.dumps(data, indent=2) + "\n"
    assert (data["total"], data["converted"], data["failed"]) == (301, 300, 1)
    assert len(data["files"]) == 301
    assert [f["input"] for f in data["files"]] == sorted(str(p) for p in src.rglob("*.png"))
    converted = sorted(f["output"] for f in data["files"] if f["status"] == "converted")
    assert converted == sorted(str(p) for p in (tmp_path / "out").rglob("*.png"))

    to_stdout = subprocess.run([sys.executable, "-m", "maskcli", *args, "--report", "-"],
                               capture_output=True, text=True, timeout=300,
                               env={**os.environ, "TMPDIR": str(temp_folder)})
    assert to_stdout.returncode == 1
    again = json.loads(to_stdout.stdout)
    assert again["files"] == data["files"]
    assert to_stdout.stdout == json.dumps(again, indent=2) + "\n"
    assert leftovers(tmp_path) == []


@pytest.mark.skipif(os.name != "posix" or not os.path.isdir("/proc"), reason="needs POSIX signals")
@pytest.mark.parametrize("command", ["to-index", "check"])
def test_sigint_mid_run_writes_the_true_report_and_leaves_no_spool(tmp_path, command, monkeypatch):
    """A real process interrupted mid-run: the report says what is on disk, and no spool is left
    beside it or in the temp folder."""
    from test_signals import DEADLINE, N_FILES, command_args, make_inputs, reads, start, wait_for

    make_inputs(tmp_path / "in", command)
    systemp = tmp_path / "systemp"
    systemp.mkdir()
    monkeypatch.setenv("TMPDIR", str(systemp))  # start() hands the environment on
    proc = start(command_args(command, tmp_path, 1), tmp_path, slow_files=0.1)
    wait_for(proc, "a file read", lambda: reads(tmp_path) >= 3)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=DEADLINE)
    assert proc.returncode == 128 + signal.SIGINT, err
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["interrupted"] == "SIGINT"
    if command == "check":
        assert report["checked"] == len(report["files"]) < N_FILES
    else:
        on_disk = sorted(str(p) for p in (tmp_path / "out").rglob("*.png"))
        assert sorted(f["output"] for f in report["files"] if f["status"] == "converted") == on_disk
        assert report["converted"] == len(on_disk) < N_FILES
    assert leftovers(tmp_path) == []


def test_check_counts_lossy_inputs_and_names_the_first(tmp_path):
    from PIL import Image

    src = tmp_path / "in"
    write_png(src / "a.png", color_mask(1))
    for name in ("b.jpg", "c.jpeg", "d.webp"):
        Image.fromarray(color_mask(2, 16)).save(src / name)
    result = invoke(["check", str(src), "-p", "cityscapes", *(x for ext in ("png", "jpg", "jpeg", "webp")
                                                            for x in ("--include", f"*.{ext}"))])
    assert f"warning: 3 file(s) are in a lossy format (first: {src / 'b.jpg'}); colors near edges are probably off" \
        in result.output
