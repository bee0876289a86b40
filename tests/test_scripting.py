"""Incremental, scriptable runs: --update, --dry-run, --report, selection, --rename, stdin/stdout."""

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import read_png, write_png
from maskcli.cli import cli

ROAD, CAR = (128, 64, 128), (0, 0, 142)


def invoke(*args, input=None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input, catch_exceptions=False)


def make(path, color=ROAD):
    return write_png(path, np.full((4, 4, 3), color, np.uint8))


def age(path, seconds):
    t = time.time() - seconds
    os.utime(path, (t, t))


def test_update_skips_what_is_current_and_redoes_exactly_what_changed(tmp_path):
    for name in ("a", "b", "c"):
        make(tmp_path / f"m/{name}.png")
        age(tmp_path / f"m/{name}.png", 100)
    first = invoke("to-index", tmp_path / "m", "-o", tmp_path / "out", "-p", "cityscapes", "--update")
    assert "3 converted, 0 failed" in first.stderr
    second = invoke("to-index", tmp_path / "m", "-o", tmp_path / "out", "-p", "cityscapes", "--update")
    assert second.exit_code == 0 and "0 converted, 3 up to date, 0 failed" in second.stderr
    make(tmp_path / "m/b.png", CAR)  # touched: newer than its output
    third = invoke("to-index", tmp_path / "m", "-o", tmp_path / "out", "-p", "cityscapes", "--update", "--report", "-")
    assert "1 converted, 2 up to date, 0 failed" in third.stderr
    report = json.loads(third.stdout)
    assert [(os.path.basename(f["input"]), f["status"]) for f in report["files"]] == [  # in the inputs' order
        ("a.png", "skipped"), ("b.png", "converted"), ("c.png", "skipped")]
    assert read_png(tmp_path / "out/b.png")[1][0, 0] == 13
    palette = tmp_path / "p.yaml"
    palette.write_text("classes:\n  - {id: 0, name: road, color: [128, 64, 128]}\n  - {id: 1, name: car, color: [0, 0, 142]}\n")
    fourth = invoke("to-index", tmp_path / "m", "-o", tmp_path / "out", "-p", palette, "--update")
    assert "3 converted, 0 failed" in fourth.stderr  # a newer palette file redoes everything


def test_dry_run_prints_the_plan_and_writes_nothing(tmp_path):
    make(tmp_path / "m/a.png")
    make(tmp_path / "m/s/b.png")
    result = invoke("to-index", tmp_path / "m", "-o", tmp_path / "out", "-p", "cityscapes", "-n")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        f"{tmp_path / 'm/a.png'} -> {tmp_path / 'out/a.png'}",
        f"{tmp_path / 'm/s/b.png'} -> {tmp_path / 'out/s/b.png'}",
    ]
    assert not (tmp_path / "out").exists()
    invoke("to-index", tmp_path / "m", "-o", tmp_path / "out", "-p", "cityscapes")
    result = invoke("to-index", tmp_path / "m", "-o", tmp_path / "out", "-p", "cityscapes", "-n", "--update")
    assert result.stdout.splitlines()[0] == f"{tmp_path / 'm/a.png'}: up to date ({tmp_path / 'out/a.png'})"


def test_report_file_schema(tmp_path):
    make(tmp_path / "m/a.png")
    make(tmp_path / "m/b.png", (1, 2, 3))
    result = invoke("to-index", tmp_path / "m", "-o", tmp_path / "out", "-p", "cityscapes", "--report", tmp_path / "r.json")
    assert result.exit_code == 1
    report = json.loads((tmp_path / "r.json").read_text())
    assert {k: report[k] for k in ("schema", "command", "total", "converted", "skipped", "failed", "interrupted")} == {
        "schema": 1, "command": "to-index", "total": 2, "converted": 1, "skipped": 0, "failed": 1, "interrupted": None}
    assert report["options"]["palette"] == "cityscapes" and report["options"]["unknown"] == "error"
    bad = report["files"][1]
    assert bad["status"] == "failed" and bad["error"].startswith("1 unknown color on 16 px")
    assert bad["output"] == str(tmp_path / "out/b.png")


def test_include_exclude_and_files_from(tmp_path):
    city = tmp_path / "gtFine/val/x"
    make(city / "f_gtFine_color.png")
    write_png(city / "f_gtFine_labelIds.png", np.zeros((4, 4), np.uint8))
    (city / "f_gtFine_polygons.json").write_text("{}")
    make(city / "g_gtFine_color.png")
    result = invoke("to-index", tmp_path / "gtFine", "-o", tmp_path / "out", "-p", "cityscapes",
                    "--include", "*_color.png", "--exclude", "val/x/g_*", "--rename", "_gtFine_color:_gtFine_labelTrainIds")
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "out").rglob("*.png")) == ["f_gtFine_labelTrainIds.png"]
    (tmp_path / "list.txt").write_text(f"{city / 'g_gtFine_color.png'}\n\n")
    result = invoke("to-index", "--files-from", tmp_path / "list.txt", "--base", city, "-o", tmp_path / "o2", "-p", "cityscapes")
    assert result.exit_code == 0, result.stderr
    assert [p.name for p in (tmp_path / "o2").iterdir()] == ["g_gtFine_color.png"]
    result = invoke("to-index", "--files-from", "-", "--base", city, "-o", tmp_path / "o3", "-p", "cityscapes",
                    input=f"{city / 'f_gtFine_color.png'}\n")
    assert result.exit_code == 0 and (tmp_path / "o3/f_gtFine_color.png").is_file()


def test_rename_collisions_are_checked_after_renaming(tmp_path):
    make(tmp_path / "m/a_color.png")
    make(tmp_path / "m/a_x.png")
    result = invoke("to-index", tmp_path / "m", "-o", tmp_path / "out", "-p", "cityscapes",
                    "--rename", "_color:_ids", "--rename", "_x:_ids", "-v")
    assert result.exit_code == 2 and "would be written by more than one input" in result.stderr
    result = invoke("to-index", tmp_path / "m", "-o", tmp_path / "out", "-p", "cityscapes", "--rename", "_color:_ids", "-v")
    assert result.exit_code == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a_ids.png", "a_x.png"]
    assert f"{tmp_path / 'm/a_x.png'}: no --rename rule matches its name" in result.stderr
    assert invoke("to-index", tmp_path / "m", "-o", tmp_path / "o", "-p", "cityscapes", "--rename", "nocolon").exit_code == 2


def test_stdin_to_stdout():
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.full((3, 5, 3), CAR, np.uint8)).save(buf, format="PNG")
    result = subprocess.run([sys.executable, "-m", "maskcli", "to-index", "-", "-o", "-", "-p", "cityscapes"],
                            input=buf.getvalue(), capture_output=True, timeout=300)
    assert result.returncode == 0, result.stderr
    out = np.asarray(Image.open(io.BytesIO(result.stdout)))
    assert out.shape == (3, 5) and (out == 13).all()
    result = subprocess.run([sys.executable, "-m", "maskcli", "to-index", "-", "-o", "-", "-p", "cityscapes"],
                            input=b"junk", capture_output=True, timeout=300)
    assert result.returncode == 1 and result.stdout == b"" and b"error: -: " in result.stderr


def test_completion_script_is_available():
    result = subprocess.run([sys.executable, "-c", "from maskcli.cli import main; main(prog_name='maskcli')"], capture_output=True, text=True,
                            env={**os.environ, "_MASKCLI_COMPLETE": "bash_source"}, timeout=300)
    assert "_maskcli_completion" in result.stdout


@pytest.mark.skipif(os.geteuid() == 0 if hasattr(os, "geteuid") else True, reason="root ignores permissions")
def test_unwritable_output_folder_is_a_per_file_error(tmp_path):
    make(tmp_path / "m/a.png")
    (tmp_path / "out").mkdir()
    os.chmod(tmp_path / "out", 0o500)
    result = invoke("to-index", tmp_path / "m", "-o", tmp_path / "out", "-p", "cityscapes")
    assert result.exit_code == 1 and "Permission denied" in result.stderr


def test_a_file_where_a_folder_should_be(tmp_path):
    make(tmp_path / "m/sub/a.png")
    make(tmp_path / "m/b.png")
    (tmp_path / "out").mkdir()
    (tmp_path / "out/sub").write_text("in the way")
    result = invoke("to-index", tmp_path / "m", "-o", tmp_path / "out", "-p", "cityscapes")
    assert result.exit_code == 1
    assert f"error: {tmp_path / 'm/sub/a.png'}: cannot write {tmp_path / 'out/sub/a.png'}: cannot create folder" in result.stderr
    assert (tmp_path / "out/b.png").is_file()
    assert sorted(os.listdir(tmp_path / "out")) == ["b.png", "sub"]


def _mount_tmpfs(tmp_path, options):
    mount = tmp_path / "mnt"
    mount.mkdir()
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount)], capture_output=True)
    except FileNotFoundError:
        pytest.skip("no mount command")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.decode().strip()}")
    return mount


@pytest.fixture
def tiny_disk(tmp_path):
    """A 64 KiB tmpfs, where this machine lets us mount one (root on Linux)."""
    mount = _mount_tmpfs(tmp_path, "size=64k")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


@pytest.fixture
def read_only_disk(tmp_path):
    """A read-only tmpfs: not writable even for root."""
    mount = _mount_tmpfs(tmp_path, "size=64k,ro")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_read_only_output_folder_is_a_per_file_error(tmp_path, read_only_disk):
    make(tmp_path / "m/a.png")
    make(tmp_path / "m/b.png")
    result = invoke("to-index", tmp_path / "m", "-o", read_only_disk, "-p", "cityscapes", "-j", 1)
    assert result.exit_code == 1
    assert result.stderr.count("Read-only file system") == 2
    assert "0 converted, 2 failed" in result.stderr


def test_disk_full_is_a_per_file_error_and_leaves_nothing_partial(tmp_path, tiny_disk):
    rng = np.random.default_rng(0)
    palette_colors = np.array([ROAD, CAR, (70, 70, 70), (107, 142, 35)], np.uint8)
    write_png(tmp_path / "m/big.png", palette_colors[rng.integers(0, 4, (512, 512))])  # noise: a large PNG
    make(tmp_path / "m/small.png")
    result = invoke("to-index", tmp_path / "m", "-o", tiny_disk, "-p", "cityscapes", "-j", 1)
    assert result.exit_code == 1
    assert f"error: {tmp_path / 'm/big.png'}: cannot write {tiny_disk / 'big.png'}: No space left on device" in result.stderr
    assert sorted(os.listdir(tiny_disk)) == ["small.png"]


def test_rename_cannot_leave_the_output_folder_or_hide_files(tmp_path):
    make(tmp_path / "m/a.png")
    for rule in ("a:/tmp/escaped", "a:x/../../escaped", "a:.."):
        result = invoke("to-index", tmp_path / "m", "-o", tmp_path / "out", "-p", "cityscapes", "--rename", rule)
        assert result.exit_code == 2 and "without '/'" in result.stderr, rule
    result = invoke("to-index", tmp_path / "m", "-o", tmp_path / "out", "-p", "cityscapes", "--rename", "a:")
    assert result.exit_code == 2 and "hidden or empty name" in result.stderr
    assert not (tmp_path / "out").exists()


def test_report_never_overwrites_an_input_or_an_output(tmp_path):
    make(tmp_path / "m/a.png")
    before = (tmp_path / "m/a.png").read_bytes()
    for target, role in ((tmp_path / "m/a.png", "an input"), (tmp_path / "out/a.png", "an output")):
        result = invoke("to-index", tmp_path / "m", "-o", tmp_path / "out", "-p", "cityscapes", "--report", target)
        assert result.exit_code == 2 and f"is {role} of this run" in result.stderr
    assert (tmp_path / "m/a.png").read_bytes() == before
    check = invoke("check", tmp_path / "m", "-p", "cityscapes", "--report", tmp_path / "m/a.png")
    assert check.exit_code == 2 and (tmp_path / "m/a.png").read_bytes() == before


def test_unwritable_report_is_one_line_and_counts_as_a_failure(tmp_path):
    make(tmp_path / "m/a.png")
    (tmp_path / "afile").write_text("in the way")
    result = invoke("to-index", tmp_path / "m", "-o", tmp_path / "out", "-p", "cityscapes", "--report", tmp_path / "afile/r.json")
    assert result.exit_code == 1
    assert "cannot write the report: cannot create folder" in result.stderr and "a file is in the way" in result.stderr
    assert result.stderr.splitlines()[-1].startswith("to-index: 1 converted, 1 failed")  # summary agrees
    check = invoke("check", tmp_path / "m", "-p", "cityscapes", "--report", tmp_path / "afile/r.json", "-q")
    assert check.exit_code == 1 and "Traceback" not in check.stderr and "cannot write the report" in check.stderr


def test_an_existing_file_as_output_folder_is_a_usage_error(tmp_path):
    make(tmp_path / "m/a.png")
    make(tmp_path / "m/b.png")
    (tmp_path / "afile").write_text("x")
    result = invoke("to-index", tmp_path / "m", "-o", tmp_path / "afile", "-p", "cityscapes")
    assert result.exit_code == 2 and "exists and is not a folder" in result.stderr


def test_remap_update_notices_a_changed_map(tmp_path):
    write_png(tmp_path / "i.png", np.array([[0, 1]], np.uint8))
    (tmp_path / "m.yaml").write_text("map: {0: 5, 1: 6}\n")
    assert invoke("remap", tmp_path / "i.png", "-o", tmp_path / "o.png", "--map", tmp_path / "m.yaml").exit_code == 0
    age(tmp_path / "i.png", 100)
    time.sleep(0.05)
    (tmp_path / "m.yaml").write_text("map: {0: 7, 1: 8}\n")
    result = invoke("remap", tmp_path / "i.png", "-o", tmp_path / "o.png", "--map", tmp_path / "m.yaml", "--update")
    assert "1 converted" in result.stderr
    assert read_png(tmp_path / "o.png")[1].tolist() == [[7, 8]]


def test_stdin_mode_writes_its_report(tmp_path):
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.full((2, 2, 3), ROAD, np.uint8)).save(buf, format="PNG")
    result = subprocess.run([sys.executable, "-m", "maskcli", "to-index", "-", "-o", "-", "-p", "cityscapes",
                             "--format", "indexed", "--report", str(tmp_path / "r.json")], input=buf.getvalue(), capture_output=True, timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["converted"] == 1 and report["options"]["format"] == "indexed"
