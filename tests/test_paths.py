"""Where outputs go, and what may be read: output paths fixed by the command line (never by
which other files a run includes), collisions through links, inputs that are not files."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import read_png, write_png
from maskcli import walk
from maskcli.cli import cli
from maskcli.errors import ReadError
from maskcli.masks import read_mask

ROAD = (128, 64, 128)
SKY = (70, 130, 180)
NAMES = ["frankfurt/x.png", "frankfurt/y.png", "lindau/z.png", "w.png"]
DEADLINE = 120  # seconds: against a hang, not a measurement


def invoke(*args, input=None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input, catch_exceptions=False)


def make_masks(folder, names=NAMES):
    for i, name in enumerate(names):
        write_png(folder / name, np.full((3, 4, 3), ROAD if i % 2 else SKY, np.uint8))
    return folder


def written(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def maskcli(*args, cwd, limit_memory=False, stdin=None, **env):
    """A real maskcli process with a deadline; with ``limit_memory``, at most 3 GiB of address
    space, so that an unbounded read fails fast instead of filling the machine."""
    def limit():
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))

    env = {**os.environ, **env}
    if limit_memory:  # thread pools reserve address space per core: keep them small under the limit
        env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    try:
        return subprocess.run([sys.executable, "-m", "maskcli", *map(str, args)], cwd=cwd, capture_output=True,
                              text=True, timeout=DEADLINE, preexec_fn=limit if limit_memory else None, env=env,
                              stdin=stdin)
    except subprocess.TimeoutExpired:
        pytest.fail(f"maskcli {' '.join(map(str, args))} still running after {DEADLINE} s: it hangs")


def mknod_zero(path):
    """A character device with /dev/zero's number, inside the test's own folder."""
    try:
        os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 5))
    except (PermissionError, OSError) as exc:
        pytest.skip(f"cannot make a device node here: {exc}")
    return path


# ----------------------------------------------------------------- the output path rule


def test_a_subset_of_files_lands_where_the_full_run_puts_it(tmp_path, monkeypatch):
    """The recipe that wrote labels/frankfurt/x.png on one run and labels/x.png on the next."""
    monkeypatch.chdir(tmp_path)
    make_masks(tmp_path / "masks")
    assert invoke("to-index", "masks", "-o", "full", "-p", "cityscapes").exit_code == 0
    assert written(tmp_path / "full") == NAMES
    for subset in (["frankfurt/x.png"], ["frankfurt/x.png", "lindau/z.png"], ["w.png"]):
        listing = "".join(f"masks/{name}\n" for name in subset)
        out = f"list{len(subset)}{subset[0][0]}"
        result = invoke("to-index", "--files-from", "-", "--base", "masks", "-o", out, "-p", "cityscapes", input=listing)
        assert result.exit_code == 0, result.stderr
        assert written(tmp_path / out) == sorted(subset)
        out = "glob" + out
        result = invoke("to-index", "--base", "masks", *[f"masks/{n}" for n in subset], "-o", out, "-p", "cityscapes")
        assert result.exit_code == 0, result.stderr
        assert written(tmp_path / out) == sorted(subset)


def test_files_without_base_map_relative_to_the_current_folder(tmp_path, monkeypatch):
    make_masks(tmp_path / "masks")
    monkeypatch.chdir(tmp_path)
    one = invoke("to-index", "masks/frankfurt/x.png", "-o", "a", "-p", "cityscapes")
    two = invoke("to-index", "--files-from", "-", "-o", "b", "-p", "cityscapes",
                 input="masks/frankfurt/x.png\nmasks/lindau/z.png\n")
    assert one.exit_code == 0 and two.exit_code == 0, one.stderr + two.stderr
    assert written(tmp_path / "a") == ["masks/frankfurt/x.png"]
    assert written(tmp_path / "b") == ["masks/frankfurt/x.png", "masks/lindau/z.png"]


def test_an_input_outside_the_base_is_a_usage_error_that_names_base(tmp_path, monkeypatch):
    make_masks(tmp_path / "masks")
    make_masks(tmp_path / "other", ["o.png"])
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    result = invoke("to-index", tmp_path / "masks/w.png", "-o", "out", "-p", "cityscapes")
    assert result.exit_code == 2
    assert "masks/w.png: not inside the current folder" in result.stderr and "pass --base DIR" in result.stderr
    result = invoke("to-index", "--base", tmp_path / "masks", tmp_path / "other/o.png", "-o", "out", "-p", "cityscapes")
    assert result.exit_code == 2 and "o.png: not inside --base" in result.stderr
    result = invoke("to-index", "--base", tmp_path / "masks/lindau", tmp_path / "masks", "-o", "out", "-p", "cityscapes")
    assert result.exit_code == 2 and "not inside --base" in result.stderr  # a folder outside the base too
    result = invoke("to-index", tmp_path / "masks/lindau", tmp_path / "other/o.png", "-o", "out", "-p", "cityscapes")
    assert result.exit_code == 2 and "not inside the input folder" in result.stderr
    assert not (tmp_path / "work/out").exists()


def test_folder_arguments_and_base_give_the_same_paths(tmp_path, monkeypatch):
    make_masks(tmp_path / "masks")
    monkeypatch.chdir(tmp_path)
    assert invoke("to-index", "masks/frankfurt", "masks/lindau", "-o", "two", "-p", "cityscapes").exit_code == 0
    assert written(tmp_path / "two") == ["frankfurt/x.png", "frankfurt/y.png", "lindau/z.png"]
    # a file beside the folders maps below the folders' common folder, as the folders do
    assert invoke("to-index", "masks/frankfurt", "masks/lindau", "masks/w.png", "-o", "mix", "-p", "cityscapes").exit_code == 0
    assert written(tmp_path / "mix") == NAMES
    assert invoke("to-index", "--base", "masks", "masks/lindau", "-o", "based", "-p", "cityscapes").exit_code == 0
    assert written(tmp_path / "based") == ["lindau/z.png"]
    # listed folders are walked but do not move the base: the current folder stays it
    result = invoke("to-index", "--files-from", "-", "-o", "listed", "-p", "cityscapes", input="masks/lindau\n")
    assert result.exit_code == 0 and written(tmp_path / "listed") == ["masks/lindau/z.png"]


def test_png_output_name_takes_exactly_one_input_file(tmp_path, monkeypatch):
    make_masks(tmp_path / "masks")
    monkeypatch.chdir(tmp_path)
    for args in (["masks"], ["masks/w.png", "masks/lindau/z.png"]):
        result = invoke("to-index", *args, "-o", "name.png", "-p", "cityscapes")
        assert result.exit_code == 2
        assert "-o name.png: a file name ending in .png takes exactly one input file" in result.stderr
        assert not os.path.lexists(tmp_path / "name.png")
    result = invoke("to-index", "masks/lindau/z.png", "-o", "deep/name.png", "-p", "cityscapes")
    assert result.exit_code == 0 and read_png(tmp_path / "deep/name.png")[0] == "L"
    (tmp_path / "folder.png").mkdir()  # an existing folder is a folder, whatever its name
    assert invoke("to-index", "masks/lindau", "-o", "folder.png", "-p", "cityscapes").exit_code == 0
    assert written(tmp_path / "folder.png") == ["z.png"]


def test_an_empty_list_is_a_run_over_no_files(tmp_path):
    (tmp_path / "empty.txt").write_text("")
    result = invoke("to-index", "--files-from", tmp_path / "empty.txt", "-o", tmp_path / "out", "-p", "cityscapes")
    assert result.exit_code == 0 and "0 converted, 0 failed" in result.stderr
    assert invoke("to-index", "-o", tmp_path / "out", "-p", "cityscapes").exit_code == 2  # no inputs at all


def test_remote_inputs_follow_the_same_rule(tmp_path):
    fsspec = pytest.importorskip("fsspec", reason="needs fsspec")
    fs = fsspec.filesystem("memory")
    source = make_masks(tmp_path / "src")
    for name in NAMES:
        fs.pipe_file(f"/pathrule/masks/{name}", (source / name).read_bytes())
    full = invoke("to-index", "memory://pathrule/masks", "-o", tmp_path / "full", "-p", "cityscapes", "-j", 1)
    assert full.exit_code == 0, full.stderr
    listing = "memory://pathrule/masks/frankfurt/x.png\nmemory://pathrule/masks/lindau/z.png\n"
    part = invoke("to-index", "--files-from", "-", "--base", "memory://pathrule/masks", "-o", tmp_path / "part",
                  "-p", "cityscapes", "-j", 1, input=listing)
    assert part.exit_code == 0, part.stderr
    assert written(tmp_path / "part") == ["frankfurt/x.png", "lindau/z.png"]
    assert all((tmp_path / "part" / n).read_bytes() == (tmp_path / "full" / n).read_bytes() for n in written(tmp_path / "part"))
    alone = invoke("to-index", "memory://pathrule/masks/w.png", "-o", tmp_path / "alone", "-p", "cityscapes")
    assert alone.exit_code == 2 and "pass --base DIR" in alone.stderr


# ----------------------------------------------------------------- links never cost an input


def assert_inputs_kept(before: dict):
    for path, data in before.items():
        assert Path(path).read_bytes() == data, f"{path} was overwritten"


@pytest.mark.parametrize("case", ["linked output folder", "linked parent of the output file", "input through a link",
                                  "linked output file", "hard-linked output file"])
def test_an_output_that_is_an_input_through_a_link_stops_the_run(tmp_path, monkeypatch, case):
    monkeypatch.chdir(tmp_path)
    make_masks(tmp_path / "masks", ["a.png"])
    before = {"masks/a.png": (tmp_path / "masks/a.png").read_bytes()}
    if case == "linked output folder":
        os.symlink("masks", "out")
        args = ["masks", "-o", "out"]
    elif case == "linked parent of the output file":
        os.symlink("masks", "alias")
        args = ["masks/a.png", "-o", "alias/a.png"]
    elif case == "input through a link":
        os.symlink("masks", "mlink")
        args = ["mlink", "-o", "masks"]
    elif case == "linked output file":
        (tmp_path / "out").mkdir()
        os.symlink("../masks/a.png", "out/a.png")
        args = ["masks", "-o", "out"]
    else:
        (tmp_path / "out").mkdir()
        os.link("masks/a.png", "out/a.png")
        args = ["masks", "-o", "out"]
    result = invoke("to-index", *args, "-p", "cityscapes")
    assert result.exit_code == 2, result.stderr
    assert "the output would overwrite the input" in result.stderr
    assert_inputs_kept(before)


def test_two_outputs_that_are_one_file_through_a_link_collide(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_masks(tmp_path / "masks", ["a/x.png", "b/x.png"])
    (tmp_path / "out/a").mkdir(parents=True)
    os.symlink("a", tmp_path / "out/b")
    result = invoke("to-index", "masks", "-o", "out", "-p", "cityscapes")
    assert result.exit_code == 2 and "would be written by more than one input" in result.stderr
    assert written(tmp_path / "out") == []


def test_a_report_that_is_an_input_through_a_link_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_masks(tmp_path / "masks", ["a.png"])
    os.symlink("masks", "ml")
    before = {"masks/a.png": (tmp_path / "masks/a.png").read_bytes()}
    result = invoke("to-index", "masks", "-o", "out", "-p", "cityscapes", "--report", "ml/a.png")
    assert result.exit_code == 2 and "--report ml/a.png is an input of this run" in result.stderr
    assert_inputs_kept(before)


def test_an_output_folder_reached_through_a_link_inside_the_input_is_not_walked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_masks(tmp_path / "masks", ["a.png", "b.png"])
    (tmp_path / "masks/labels").mkdir()
    os.symlink("masks/labels", "out")
    for _ in range(2):  # the second run must not take the first run's index masks as inputs
        result = invoke("to-index", "masks", "-o", "out", "-p", "cityscapes")
        assert result.exit_code == 0, result.stderr
        assert "2 converted, 0 failed" in result.stderr
    assert written(tmp_path / "masks/labels") == ["a.png", "b.png"]


# ----------------------------------------------------------------- inputs that are not files


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_in_an_input_folder_is_skipped_by_every_command(tmp_path):
    make_masks(tmp_path / "masks", ["a.png", "b.png"])
    os.mkfifo(tmp_path / "masks/x.png")
    os.symlink("x.png", tmp_path / "masks/y.png")  # a link to a FIFO is no file either
    warning = "warning: masks/x.png: skipped: not a regular file (FIFO)"
    result = maskcli("to-index", "masks", "-o", "out", "-p", "cityscapes", "-j", 1, cwd=tmp_path)
    assert result.returncode == 0 and warning in result.stderr and "2 converted, 0 failed" in result.stderr
    assert "warning: masks/y.png: skipped: not a regular file (FIFO)" in result.stderr
    assert written(tmp_path / "out") == ["a.png", "b.png"]
    result = maskcli("to-index", "masks", "-o", "out", "-p", "cityscapes", "--dry-run", cwd=tmp_path)
    assert result.returncode == 0 and warning in result.stderr
    assert result.stdout.splitlines() == ["masks/a.png -> out/a.png", "masks/b.png -> out/b.png"]
    result = maskcli("check", "masks", "-p", "cityscapes", cwd=tmp_path)
    assert result.returncode == 0 and warning in result.stderr and "check: 2 ok, 0 failed, 2 warning(s)" in result.stderr
    assert maskcli("check", "masks", "-p", "cityscapes", "--strict", "-q", cwd=tmp_path).returncode == 1
    result = maskcli("extract-palette", "masks", cwd=tmp_path)
    assert result.returncode == 0 and warning in result.stderr and "from 2 file(s)" in result.stdout


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_named_directly_fails_without_blocking(tmp_path):
    make_masks(tmp_path / "masks", ["a.png"])
    os.mkfifo(tmp_path / "masks/x.png")
    result = maskcli("to-index", "masks/a.png", "masks/x.png", "-o", "out", "-p", "cityscapes", "-j", 1, cwd=tmp_path)
    assert result.returncode == 1
    assert "error: masks/x.png: is not a regular file (FIFO)\n" in result.stderr
    assert written(tmp_path / "out") == ["masks/a.png"]


def test_read_mask_refuses_what_is_not_a_regular_file(tmp_path):
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "pipe.png")
        done = []

        def read():
            try:
                read_mask(tmp_path / "pipe.png")
            except ReadError as exc:
                done.append(str(exc))

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(DEADLINE)
        if reader.is_alive():  # unblock the reader, then fail
            os.close(os.open(tmp_path / "pipe.png", os.O_WRONLY | os.O_NONBLOCK))
            pytest.fail("read_mask blocks on a FIFO")
        assert done == ["is not a regular file (FIFO)"]
    with pytest.raises(ReadError, match="^is a folder, not a file$"):
        read_mask(tmp_path)


def test_a_device_input_is_refused_not_read(tmp_path):
    make_masks(tmp_path / "masks", ["a.png"])
    mknod_zero(tmp_path / "masks/zero.png")
    result = maskcli("to-index", "masks/a.png", "masks/zero.png", "-o", "out", "-p", "cityscapes", "-j", 1,
                     cwd=tmp_path, limit_memory=True)
    assert result.returncode == 1, result.stderr
    assert "error: masks/zero.png: is not a regular file (character device)\n" in result.stderr
    result = maskcli("to-index", "masks", "-o", "walked", "-p", "cityscapes", "-j", 1, cwd=tmp_path, limit_memory=True)
    assert result.returncode == 0, result.stderr
    assert "warning: masks/zero.png: skipped: not a regular file (character device)" in result.stderr
    with pytest.raises(ReadError, match=r"^is not a regular file \(character device\)$"):
        read_mask(tmp_path / "masks/zero.png")


def test_stdin_is_read_bounded(tmp_path):
    zero = mknod_zero(tmp_path / "zero")
    with open(zero, "rb") as endless:
        result = maskcli("to-index", "-", "-o", "out.png", "-p", "cityscapes", cwd=tmp_path, limit_memory=True,
                         stdin=endless, MASKCLI_MAX_PIXELS="1000")
    assert result.returncode == 1, result.stderr
    limit = 8 * 1000 + 2**20
    assert f"error: -: more than {limit} bytes, more than a mask of 1000 pixels takes" in result.stderr
    assert not (tmp_path / "out.png").exists()


def test_files_from_a_device_stops_at_the_line_limit(tmp_path):
    mknod_zero(tmp_path / "zero")
    result = maskcli("to-index", "--files-from", "zero", "-o", "out", "-p", "cityscapes", cwd=tmp_path, limit_memory=True)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == (
        "Error: --files-from zero: a line is longer than 4096 bytes, the limit for a path "
        "(is it a list of paths, one per line?)")
    result = maskcli("check", "--files-from", "zero", "-p", "cityscapes", cwd=tmp_path, limit_memory=True)
    assert result.returncode == 2 and "--files-from zero: a line is longer than 4096 bytes" in result.stderr


def test_files_from_limits(tmp_path, monkeypatch):
    make_masks(tmp_path / "masks", ["a.png"])
    monkeypatch.chdir(tmp_path)
    (tmp_path / "nul.txt").write_bytes(b"masks/a.png\0masks/b.png\0")
    result = invoke("to-index", "--files-from", "nul.txt", "-o", "out", "-p", "cityscapes")
    assert result.exit_code == 2 and "--files-from nul.txt: a line holds a NUL byte" in result.stderr
    monkeypatch.setattr(walk, "MAX_LIST_BYTES", 1000)
    (tmp_path / "long.txt").write_text("masks/a.png\n" * 200)
    result = invoke("to-index", "--files-from", "long.txt", "-o", "out", "-p", "cityscapes")
    assert result.exit_code == 2 and "--files-from long.txt: longer than" in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_files_from_a_pipe_still_works(tmp_path):
    """A list is not a mask: it may come from a pipe, such as bash's <(find ...)."""
    make_masks(tmp_path / "masks", ["a.png"])
    os.mkfifo(tmp_path / "list")

    def feed():
        with open(tmp_path / "list", "w") as f:
            f.write("masks/a.png\n")

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    result = maskcli("to-index", "--files-from", "list", "--base", "masks", "-o", "out", "-p", "cityscapes",
                     "-j", 1, cwd=tmp_path)
    writer.join(DEADLINE)
    assert result.returncode == 0, result.stderr
    assert written(tmp_path / "out") == ["a.png"]


def test_files_from_with_rename_writes_beside_the_inputs_like_the_full_run(tmp_path, monkeypatch):
    """The Cityscapes layout: remap writes *_labelTrainIds.png beside each *_labelIds.png."""
    monkeypatch.chdir(tmp_path)
    for city, frame in (("aachen", "a_000001"), ("bochum", "b_000002"), ("bochum", "b_000003")):
        write_png(tmp_path / f"gtFine/train/{city}/{frame}_gtFine_labelIds.png", np.full((3, 4), 7, np.uint8))
    common = ["-o", "gtFine", "--map", "cityscapes-trainids", "--rename", "_labelIds:_labelTrainIds", "-j", 1]
    full = invoke("remap", "gtFine", "--include", "*_labelIds.png", *common)
    assert full.exit_code == 0, full.stderr
    layout = written(tmp_path / "gtFine")
    assert "train/bochum/b_000003_gtFine_labelTrainIds.png" in layout and len(layout) == 6
    listing = "gtFine/train/bochum/b_000003_gtFine_labelIds.png\n"
    result = invoke("remap", "--files-from", "-", "--base", "gtFine", *common, input=listing)
    assert result.exit_code == 0 and "1 converted" in result.stderr, result.stderr
    assert written(tmp_path / "gtFine") == layout  # no new top-level folders
    everything = "".join(f"gtFine/{name}\n" for name in layout if name.endswith("_labelIds.png"))
    result = invoke("remap", "--files-from", "-", "--base", "gtFine", "--update", *common, input=everything)
    assert result.exit_code == 0 and "0 converted, 3 up to date" in result.stderr, result.stderr
