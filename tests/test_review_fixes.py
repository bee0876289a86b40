"""What an independent trial of the round-two code found: files a command reads besides its
masks (photos, the palette itself) were not protected from its outputs; a palette, map or
annotation file that is a FIFO outlasted Ctrl-C; an annotation file was read without bound;
a hostile output record crashed --update; an -o with another image extension became a folder."""

from __future__ import annotations

import os
import signal
import stat
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import write_png
from maskcli.cli import cli

ROAD = (128, 64, 128)


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def masks_and_photos(tmp_path: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        write_png(tmp_path / "m" / f"{name}.png", np.full((8, 8, 3), ROAD, np.uint8))
        write_png(tmp_path / "photos" / f"{name}.png", rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
    return tmp_path / "m", tmp_path / "photos"


def test_extract_palette_never_writes_its_palette_over_an_input(tmp_path):
    masks, _ = masks_and_photos(tmp_path)
    before = (masks / "a.png").read_bytes()
    result = invoke("extract-palette", masks, "-q", "-o", masks / "a.png")
    assert result.exit_code == 2 and "is an input of this run" in result.stderr
    (tmp_path / "link.yaml").symlink_to(masks / "a.png")
    result = invoke("extract-palette", masks / "a.png", "-q", "-o", tmp_path / "link.yaml")
    assert result.exit_code == 2 and "through a link" in result.stderr
    assert (masks / "a.png").read_bytes() == before
    assert invoke("extract-palette", masks, "-q", "-o", tmp_path / "p.yaml").exit_code == 0


@pytest.mark.parametrize("how", ["sheet -o", "check --html", "sheet -o through a link"])
def test_pictures_never_replace_the_photos_they_show(tmp_path, how):
    masks, photos = masks_and_photos(tmp_path)
    target = photos / "a.png"
    before = target.read_bytes()
    if how.endswith("link"):
        (tmp_path / "s.png").symlink_to(target)
        target = tmp_path / "s.png"
    if how.startswith("sheet"):
        args = ["sheet", masks, "--images", photos, "-p", "cityscapes", "-o", target, "-q"]
    else:
        args = ["check", masks, "-p", "cityscapes", "--images", photos, "--html", target, "-q"]
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert "one of the --images photos" in result.stderr
    assert (photos / "a.png").read_bytes() == before


def test_palettes_commands_never_replace_the_palette_they_read(tmp_path):
    source = tmp_path / "p.yaml"
    assert invoke("palettes", "convert", "cityscapes", source).exit_code == 0
    before = source.read_bytes()
    for args in (["palettes", "convert", source, source], ["palettes", "show", source, "--legend", source]):
        result = invoke(*args)
        assert result.exit_code == 2 and "is an input of this run" in result.stderr, args
    assert source.read_bytes() == before
    assert invoke("palettes", "show", source, "--legend", tmp_path / "legend.png").exit_code == 0


@pytest.mark.parametrize("option", ["-p", "--map", "--names-from", "--annotations"])
def test_a_fifo_given_as_a_palette_map_or_annotation_file_stops_on_sigint(tmp_path, option):
    masks, _ = masks_and_photos(tmp_path)
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    args = {"-p": ["to-index", masks, "-o", tmp_path / "o", "-p", fifo],
            "--map": ["remap", masks, "-o", tmp_path / "o", "--map", fifo],
            "--names-from": ["extract-palette", masks, "--names-from", fifo],
            "--annotations": ["to-index", masks, "-o", tmp_path / "o", "--encoding", "coco-panoptic",
                              "--annotations", fifo]}[option]
    proc = subprocess.Popen([sys.executable, "-m", "maskcli", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, start_new_session=True)
    writer = None
    try:
        deadline = time.monotonic() + 120  # a hang guard, not a timing
        while writer is None:  # opening the write end succeeds once maskcli has it open to read
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            try:
                writer = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:  # ENXIO: no reader yet
                time.sleep(0.05)
        proc.send_signal(signal.SIGINT)  # maskcli now waits in read() for data that never comes
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        if writer is not None:
            os.close(writer)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted by SIGINT" in err
    assert not (tmp_path / "o").exists()


def test_annotations_from_an_endless_device_are_refused_in_bounded_memory(tmp_path):
    masks, _ = masks_and_photos(tmp_path)
    zero = tmp_path / "zero"
    try:
        os.mknod(zero, stat.S_IFCHR | 0o600, os.makedev(1, 5))  # /dev/zero's numbers, in tmp_path
    except PermissionError:
        pytest.skip("mknod needs root (CAP_MKNOD)")
    code = ("import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30));"
            "from maskcli.__main__ import main; sys.argv[0] = 'maskcli'; main()")
    proc = subprocess.run([sys.executable, "-c", code, "to-index", str(masks), "-o", str(tmp_path / "o"),
                           "--encoding", "coco-panoptic", "--annotations", str(zero)],
                          capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert proc.returncode == 2, proc.stderr
    assert f"--annotations {zero}: more than 256 MiB" in proc.stderr and "Traceback" not in proc.stderr


def _png_with_text(path: Path, text: bytes) -> None:
    import cv2

    ok, buf = cv2.imencode(".png", np.zeros((8, 8), np.uint8))
    data = b"maskcli\0" + text
    chunk = struct.pack(">I", len(data)) + b"tEXt" + data + struct.pack(">I", zlib.crc32(b"tEXt" + data))
    raw = buf.tobytes()
    path.write_bytes(raw[:33] + chunk + raw[33:])


def test_a_deeply_nested_record_counts_as_no_record(tmp_path):
    masks, _ = masks_and_photos(tmp_path)
    out = tmp_path / "o"
    assert invoke("to-index", masks, "-o", out, "-p", "cityscapes", "-q").exit_code == 0
    _png_with_text(out / "a.png", b"[" * 5000 + b"]" * 5000)
    result = invoke("info", out / "a.png")
    assert result.exit_code == 0 and "not written by maskcli" in result.output
    result = invoke("to-index", masks, "-o", out, "-p", "cityscapes", "--update")
    assert result.exit_code == 0 and "1 converted, 1 up to date" in result.stderr


@pytest.mark.parametrize("name", ["aa.tif", "aa.jpg", "aa.bmp"])
def test_an_output_named_like_another_image_format_is_refused_not_made_a_folder(tmp_path, name):
    masks, _ = masks_and_photos(tmp_path)
    result = invoke("to-index", masks / "a.png", "-o", tmp_path / name, "-p", "cityscapes")
    assert result.exit_code == 2 and "outputs are .png files" in result.stderr
    assert not (tmp_path / name).exists()


@pytest.mark.parametrize("args", [["sheet", "-o", "s.jpg"], ["check", "-p", "cityscapes", "--plot", "p.jpg"]])
def test_pictures_written_as_png_refuse_another_extension(tmp_path, args):
    masks, _ = masks_and_photos(tmp_path)
    args = [args[0], masks, *[str(tmp_path / a) if a.endswith(".jpg") else a for a in args[1:]]]
    result = invoke(*args)
    assert result.exit_code == 2 and "this picture is written as PNG" in result.stderr
    assert not list(tmp_path.glob("*.jpg"))
