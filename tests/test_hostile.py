"""Hostile and broken inputs: each gets a one-line error naming the file, never a traceback,
never a hang, and the other files of the run are converted."""

import os
import struct
import zlib

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import write_png
from maskcli.cli import cli
from maskcli.errors import MaskError
from maskcli.masks import decode_mask, read_mask

ROAD = (128, 64, 128)


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_declaring(width, height, color_type=2):
    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def good_png_bytes(tmp_path):
    return write_png(tmp_path / "good_source.png", np.full((8, 8, 3), ROAD, np.uint8)).read_bytes()


def run_one(tmp_path, name_or_path, content=None):
    """Convert a folder holding one good file and the bad one; return the bad file's error line."""
    folder = tmp_path / "in"
    write_png(folder / "good.png", np.full((4, 4, 3), ROAD, np.uint8))
    bad = folder / name_or_path
    if content is not None:
        bad.write_bytes(content)
    result = invoke("to-index", folder, "-o", tmp_path / "out", "-p", "cityscapes", "-j", 1)
    assert result.exit_code == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert (tmp_path / "out/good.png").is_file()
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    leftovers = [p for p in (tmp_path / "out").rglob("*") if p.name != "good.png" and p.is_file()]
    assert leftovers == []
    return errors[0]


def test_empty_file(tmp_path):
    assert run_one(tmp_path, "empty.png", b"").endswith("empty.png: empty file")


def test_truncated_png(tmp_path):
    data = good_png_bytes(tmp_path)
    assert run_one(tmp_path, "cut.png", data[:-20]).endswith("cut.png: not a valid PNG (cannot decode; truncated or corrupt?)")


def test_bad_crc(tmp_path):
    data = bytearray(good_png_bytes(tmp_path))
    idat = data.index(b"IDAT")
    length = struct.unpack(">I", data[idat - 4 : idat])[0]
    data[idat + 4 + length] ^= 0xFF  # the IDAT chunk's CRC
    assert "crc.png: not a valid PNG" in run_one(tmp_path, "crc.png", bytes(data))


def test_not_an_image(tmp_path):
    assert run_one(tmp_path, "text.png", b"hello, I am text").endswith("text.png: not an image file maskcli can read")


def test_a_folder_named_like_a_png_is_walked_or_refused(tmp_path):
    (tmp_path / "in/x.png").mkdir(parents=True)
    write_png(tmp_path / "in/x.png/inside.png", np.full((2, 2, 3), ROAD, np.uint8))
    result = invoke("to-index", tmp_path / "in", "-o", tmp_path / "out", "-p", "cityscapes")
    assert result.exit_code == 0 and (tmp_path / "out/x.png/inside.png").is_file()
    (tmp_path / "list").write_text(str(tmp_path / "in/x.png") + "\n")
    result = invoke("to-index", "--files-from", tmp_path / "list", "--base", tmp_path / "in", "-o", tmp_path / "o2",
                    "-p", "cityscapes", "-j", 1)
    assert result.exit_code == 0 and (tmp_path / "o2/x.png/inside.png").is_file()  # listed folders are walked too
    with pytest.raises(MaskError, match="is a folder, not a file"):
        read_mask(tmp_path / "in/x.png")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_unreadable_file(tmp_path):
    path = tmp_path / "in/secret.png"
    path.parent.mkdir()
    path.write_bytes(good_png_bytes(tmp_path))
    path.chmod(0)
    assert run_one(tmp_path, "secret.png").endswith("secret.png: cannot read: Permission denied")


def test_symlink_loops(tmp_path):
    (tmp_path / "in").mkdir()
    os.symlink(tmp_path / "in", tmp_path / "in/loop")  # a folder loop: not followed
    os.symlink("self.png", tmp_path / "in/self.png")  # a file that points at itself
    assert run_one(tmp_path, "self.png").endswith("self.png: cannot read: Too many levels of symbolic links")


def test_decompression_bomb_is_refused_before_decoding(tmp_path, monkeypatch):
    line = run_one(tmp_path, "bomb.png", png_declaring(100_000, 100_000))
    assert line.endswith("bomb.png: declares 100000x100000 = 10000000000 pixels, more than the limit of 250000000 (set MASKCLI_MAX_PIXELS to allow it)")
    palettized = png_declaring(50_000, 50_000, color_type=3)
    with pytest.raises(MaskError, match="declares 50000x50000"):
        decode_mask(palettized)
    monkeypatch.setenv("MASKCLI_MAX_PIXELS", "10")
    with pytest.raises(MaskError, match="more than the limit of 10"):
        decode_mask(good_png_bytes(tmp_path))


def test_tiny_and_zero_sized_images(tmp_path):
    write_png(tmp_path / "one.png", np.array([[ROAD]], np.uint8))
    assert invoke("to-index", tmp_path / "one.png", "-o", tmp_path / "o.png", "-p", "cityscapes").exit_code == 0
    assert run_one(tmp_path, "zero.png", png_declaring(0, 0)).endswith("zero.png: not a valid PNG (cannot decode; truncated or corrupt?)")


def test_non_utf8_file_names(tmp_path):
    folder = os.fsencode(tmp_path / "in")
    os.makedirs(folder)
    data = good_png_bytes(tmp_path)
    name = folder + b"/caf\xe9.png"  # Latin-1, not UTF-8
    with open(name, "wb") as f:
        f.write(data)
    result = invoke("to-index", tmp_path / "in", "-o", tmp_path / "out", "-p", "cityscapes", "--report", tmp_path / "r.json")
    assert result.exit_code == 0, result.stderr
    assert os.listdir(os.fsencode(tmp_path / "out")) == [b"caf\xe9.png"]
    assert "caf" in (tmp_path / "r.json").read_text()
    dry = invoke("to-index", tmp_path / "in", "-o", tmp_path / "out", "-p", "cityscapes", "-n")
    assert dry.exit_code == 0 and b"caf\xe9.png" in dry.stdout_bytes


def test_palette_that_is_not_a_mapping_or_constructs_objects(tmp_path):
    write_png(tmp_path / "a.png", np.full((2, 2, 3), ROAD, np.uint8))
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    (tmp_path / "evil.yaml").write_text("!!python/object/apply:os.system ['touch pwned']\n")
    for name, message in (("list.yaml", "a palette is a mapping"), ("evil.yaml", "tags (!!python/object/apply:os.system) are not supported")):
        result = invoke("to-index", tmp_path / "a.png", "-o", tmp_path / "o.png", "-p", tmp_path / name)
        assert result.exit_code == 2 and message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "pwned").exists() and not os.path.exists("pwned")


SEEDS = []


def _seed_pngs():
    import io

    from PIL import Image

    rng = np.random.default_rng(1)
    out = []
    for mode in ("RGB", "RGBA", "L", "P"):
        arr = rng.integers(0, 4, (6, 7) + ((3,) if mode == "RGB" else (4,) if mode == "RGBA" else ())).astype(np.uint8)
        if mode == "RGBA":
            arr[..., 3] = 255
        img = Image.fromarray(arr) if mode != "P" else Image.frombytes("P", (7, 6), arr.tobytes())
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        out.append(buf.getvalue())
    return out


SEEDS = _seed_pngs()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SEEDS), st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=6),
       st.integers(0, 10_000))
def test_mutated_pngs_decode_or_fail_cleanly(seed, flips, cut):
    data = bytearray(seed)
    for pos, value in flips:
        data[pos % len(data)] = value
    data = bytes(data[: max(1, len(data) - cut % 40)])
    try:
        mask = decode_mask(data)
    except MaskError:
        return
    assert mask.kind in ("color", "index", "palettized") and mask.array.ndim in (2, 3)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_decode_or_fail_cleanly(data):
    try:
        decode_mask(data)
    except MaskError:
        pass


def test_read_mask_of_a_missing_file(tmp_path):
    with pytest.raises(MaskError, match="cannot read: No such file or directory"):
        read_mask(tmp_path / "nope.png")
