"""Deep, odd and damaged images: every container follows the same rule, nothing is cut to 8
bits or reduced to its first page silently, and only maskcli's own lines reach stderr.

TIFF and PNG files are built byte by byte here (no encoder library decides what they hold)."""

import re
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import write_png
from maskcli import color_counts, index_to_rgb, load_palette, rgb_to_index, write_index_mask
from maskcli.cli import cli
from maskcli.errors import ReadError, WrongKindError
from maskcli.masks import decode_mask, read_mask

ROAD = (128, 64, 128)


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def palette_file(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("name: t\nclasses:\n  - {id: 0, name: a, color: [0, 0, 0]}\n"
                    "  - {id: 3, name: b, color: [3, 3, 3]}\n  - {id: 300, name: c, color: [30, 0, 0]}\n")
    return path


# --------------------------------------------------------------------------- file builders


def tiff_bytes(pages) -> bytes:
    """An uncompressed little-endian TIFF with one page per array: (H, W) gray or (H, W, C)
    RGB/RGBA (C = 3 or 4), uint8 or uint16 samples, one strip per page."""
    out = bytearray(b"II*\x00\x00\x00\x00\x00")
    next_ifd_at = 4
    for arr in pages:
        arr = np.ascontiguousarray(arr)
        height, width = arr.shape[:2]
        spp = 1 if arr.ndim == 2 else arr.shape[2]
        bps = arr.dtype.itemsize * 8
        pixels = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
        strip = len(out)
        out += pixels + b"\0" * (len(pixels) % 2)
        bps_at = len(out)
        out += struct.pack(f"<{spp}H", *[bps] * spp) + b"\0\0"
        entries = [
            (256, 4, 1, width), (257, 4, 1, height),
            (258, 3, spp, bps if spp == 1 else bps_at) if spp != 2 else (258, 3, 2, bps | bps << 16),
            (259, 3, 1, 1), (262, 3, 1, 2 if spp >= 3 else 1), (273, 4, 1, strip), (277, 3, 1, spp),
            (278, 4, 1, height), (279, 4, 1, len(pixels)), (284, 3, 1, 1),
        ]
        if spp == 4:
            entries.append((338, 3, 1, 2))  # ExtraSamples: unassociated alpha
        ifd = len(out)
        struct.pack_into("<I", out, next_ifd_at, ifd)
        out += struct.pack("<H", len(entries))
        for tag, kind, count, value in entries:
            if kind == 3 and count == 1:
                out += struct.pack("<HHIHH", tag, kind, count, value, 0)
            else:
                out += struct.pack("<HHII", tag, kind, count, value)
        next_ifd_at = len(out)
        out += b"\0\0\0\0"
    return bytes(out)


def chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_bytes(samples: np.ndarray, color_type: int, extra: bytes = b"", plte: bytes = b"") -> bytes:
    """A PNG of ``samples`` ((H, W) or (H, W, C), uint8 or uint16 = the bit depth)."""
    height, width = samples.shape[:2]
    depth = samples.dtype.itemsize * 8
    rows = samples.astype(samples.dtype.newbyteorder(">")).reshape(height, -1)
    raw = b"".join(b"\0" + row.tobytes() for row in rows)
    header = struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + extra + (chunk(b"PLTE", plte) if plte else b"")
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def corrupt_crc(data: bytes, kind: bytes = b"IDAT") -> bytes:
    at = data.index(kind)
    length = struct.unpack(">I", data[at - 4 : at])[0]
    out = bytearray(data)
    out[at + 4 + length] ^= 0xFF
    return bytes(out)


def rgb16():
    arr = np.zeros((4, 5, 3), np.uint16)
    arr[..., 0] = 0x1234
    arr[..., 1] = 0x80FF
    arr[:2, :, 2] = 300
    return arr


# --------------------------------------------------------------------------- deep color


@pytest.mark.parametrize("alpha", [False, True])
def test_16bit_color_tiff_is_refused_like_the_same_png(tmp_path, alpha):
    arr = rgb16()
    if alpha:
        arr = np.dstack([arr, np.full(arr.shape[:2], 65535, np.uint16)])
    (tmp_path / "m").mkdir()
    (tmp_path / "m/deep.tif").write_bytes(tiff_bytes([arr]))
    (tmp_path / "m/deep16.png").write_bytes(png_bytes(arr, 6 if alpha else 2))
    for command in (["to-index", "-o", tmp_path / "out"], ["check"], ["to-rgb", "-o", tmp_path / "out2"]):
        result = invoke(command[0], tmp_path / "m", *command[1:], "-p", "cityscapes", "-j", 1)
        assert result.exit_code == 1, result.stderr
        kind = "RGBA" if alpha else "RGB"
        assert f"deep.tif: is a TIFF {kind} 16-bit color image; color masks must be 8 bits per channel" in result.stderr
        assert f"deep16.png: is an {kind} 16-bit color image; color masks must be 8 bits per channel" in result.stderr
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []
    result = invoke("extract-palette", tmp_path / "m", "-j", 1)
    assert result.exit_code == 1 and "deep.tif: is a TIFF" in result.stderr


def test_8bit_tiff_still_reads_and_16bit_ppm_is_refused(tmp_path):
    road = np.full((3, 4, 3), ROAD, np.uint8)
    (tmp_path / "a.tif").write_bytes(tiff_bytes([road]))
    np.testing.assert_array_equal(read_mask(tmp_path / "a.tif").array, road)
    result = invoke("to-index", tmp_path / "a.tif", "-o", tmp_path / "a.png", "-p", "cityscapes")
    assert result.exit_code == 0, result.stderr
    gray16 = np.array([[0, 300], [65535, 7]], np.uint16)
    (tmp_path / "g.tif").write_bytes(tiff_bytes([gray16]))
    mask = read_mask(tmp_path / "g.tif")
    assert mask.kind == "index" and mask.array.dtype == np.uint16
    np.testing.assert_array_equal(mask.array, gray16)
    ppm = b"P6 5 4 65535\n" + rgb16().astype(">u2").tobytes()
    with pytest.raises(WrongKindError, match="is a PPM RGB 16-bit color image; color masks must be 8 bits per channel"):
        decode_mask(ppm)


# --------------------------------------------------------------------------- gray + alpha


def gray_alpha(depth, alpha_values=(0,)):
    """Values 0 and 3 (and 300 for 16 bits), opaque except the top-left pixel."""
    dtype = np.uint16 if depth == 16 else np.uint8
    top = 65535 if depth == 16 else 255
    arr = np.zeros((4, 5, 2), dtype)
    arr[..., 0] = 3
    arr[:, 0, 0] = 0
    if depth == 16:
        arr[3, 4, 0] = 300
    arr[..., 1] = top
    arr[0, 0, 1] = alpha_values[0]
    return arr


@pytest.mark.parametrize("depth", [8, 16])
def test_gray_alpha_png_is_an_index_mask_with_alpha(tmp_path, depth):
    arr = gray_alpha(depth)
    mask = decode_mask(png_bytes(arr, 4))
    assert mask.kind == "index"
    assert mask.array.dtype == (np.uint16 if depth == 16 else np.uint8)
    np.testing.assert_array_equal(mask.array, arr[..., 0])
    np.testing.assert_array_equal(mask.transparent, arr[..., 1] == 0)
    opaque = arr.copy()
    opaque[..., 1] = opaque[0, 1, 1]
    assert decode_mask(png_bytes(opaque, 4)).transparent is None
    partial = arr.copy()
    partial[0, 0, 1] = 1000 if depth == 16 else 100
    with pytest.raises(WrongKindError, match="1 partly transparent px"):
        decode_mask(png_bytes(partial, 4))


@pytest.mark.parametrize("depth", [8, 16])
def test_gray_alpha_png_through_the_commands(tmp_path, depth):
    palette = palette_file(tmp_path)
    arr = gray_alpha(depth)
    src = tmp_path / "la.png"
    src.write_bytes(png_bytes(arr, 4))

    result = invoke("to-index", src, "-o", tmp_path / "i.png", "-p", palette, "--alpha", "ignore")
    assert result.exit_code == 1
    assert "looks like an index mask already" in result.stderr
    assert not (tmp_path / "i.png").exists()

    result = invoke("to-rgb", src, "-o", tmp_path / "c.png", "-p", palette)
    assert result.exit_code == 0, result.stderr
    colors = read_mask(tmp_path / "c.png").array
    expected = np.zeros(arr.shape[:2] + (3,), np.uint8)
    expected[arr[..., 0] == 3] = (3, 3, 3)
    expected[arr[..., 0] == 300] = (30, 0, 0)
    np.testing.assert_array_equal(colors, expected)

    result = invoke("check", src, "--indices", "-p", palette)
    assert result.exit_code == 1 and "has 1 fully transparent px" in result.stderr
    opaque = arr.copy()
    opaque[0, 0, 1] = opaque[0, 1, 1]
    src.write_bytes(png_bytes(opaque, 4))
    result = invoke("check", src, "--indices", "-p", palette, "--report", tmp_path / "r.json")
    assert result.exit_code == 0, result.stderr
    import json

    values = json.loads((tmp_path / "r.json").read_text())["files"][0]["values"]
    assert values == ({"0": 4, "3": 15, "300": 1} if depth == 16 else {"0": 4, "3": 16})

    result = invoke("extract-palette", src)
    assert result.exit_code == 1 and "looks like an index mask" in result.stderr


# --------------------------------------------------------------------------- several images in one file


def test_multi_page_tiff_and_animated_png_are_refused(tmp_path):
    road = np.full((3, 4, 3), ROAD, np.uint8)
    (tmp_path / "m").mkdir()
    (tmp_path / "m/two.tif").write_bytes(tiff_bytes([road, road]))
    actl = chunk(b"acTL", struct.pack(">II", 3, 0))
    (tmp_path / "m/anim.png").write_bytes(png_bytes(road, 2, extra=actl))
    result = invoke("to-index", tmp_path / "m", "-o", tmp_path / "out", "-p", "cityscapes", "-j", 1)
    assert result.exit_code == 1
    assert "two.tif: has 2 pages; maskcli reads single-image files" in result.stderr
    assert "anim.png: is an animated PNG with 3 frames; maskcli reads single-image files" in result.stderr
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").rglob("*.png")) == []
    (tmp_path / "m/two.tif").write_bytes(tiff_bytes([road]))
    (tmp_path / "m/anim.png").write_bytes(png_bytes(road, 2, extra=chunk(b"acTL", struct.pack(">II", 1, 0))))
    assert invoke("to-index", tmp_path / "m", "-o", tmp_path / "out", "-p", "cityscapes", "-j", 1).exit_code == 0


def test_animated_gif_is_refused_and_a_still_one_reads(tmp_path):
    from PIL import Image

    frames = [Image.fromarray(np.full((3, 4), v, np.uint8), "P") for v in (0, 1)]
    for frame in frames:
        frame.putpalette([0, 0, 0, *ROAD] + [0] * 762)
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    with pytest.raises(WrongKindError, match="has 2 frames; maskcli reads single-image files"):
        read_mask(tmp_path / "anim.gif")
    frames[1].save(tmp_path / "still.gif")
    mask = read_mask(tmp_path / "still.gif")
    assert mask.kind == "palettized" and tuple(mask.colors[mask.array[0, 0]]) == ROAD


# --------------------------------------------------------------------------- one rule for damaged PNGs


def test_bad_idat_crc_fails_palettized_and_rgb_alike(tmp_path):
    indices = np.zeros((6, 7), np.uint8)
    indices[2:, 3:] = 1
    plte = bytes([0, 0, 0, *ROAD])
    palettized = png_bytes(indices, 3, plte=plte)
    assert decode_mask(palettized).kind == "palettized"  # the undamaged file reads
    rgb = png_bytes(np.full((6, 7, 3), ROAD, np.uint8), 2)
    messages = set()
    for name, data in (("p.png", palettized), ("c.png", rgb)):
        (tmp_path / name).write_bytes(corrupt_crc(data))
        with pytest.raises(ReadError) as err:
            read_mask(tmp_path / name)
        messages.add(str(err.value))
    assert messages == {"not a valid PNG (CRC error in its IDAT chunk: corrupt)"}
    with pytest.raises(ReadError, match="CRC error in its PLTE chunk"):
        decode_mask(corrupt_crc(palettized, b"PLTE"))


def test_ancillary_chunks_change_no_pixel_and_a_bad_one_is_skipped(tmp_path):
    rng = np.random.default_rng(0)
    rgb = (rng.integers(0, 4, (9, 11, 3)) * 60).astype(np.uint8)
    plain = decode_mask(png_bytes(rgb, 2)).array
    short_iccp = chunk(b"iCCP", b"x\0\0" + zlib.compress(b"abc"))
    extras = chunk(b"gAMA", struct.pack(">I", 45455)) + chunk(b"sRGB", b"\0") + chunk(b"tEXt", b"k\0v") + short_iccp
    np.testing.assert_array_equal(decode_mask(png_bytes(rgb, 2, extra=extras)).array, plain)
    indices = rng.integers(0, 3, (9, 11)).astype(np.uint8)
    mask = decode_mask(png_bytes(indices, 3, extra=short_iccp, plte=bytes(range(9))))
    np.testing.assert_array_equal(mask.array, indices)
    trns = chunk(b"tRNS", b"\0\0\0\0\0\0")  # RGB tRNS: black is transparent, as before
    rgb[0, 0] = 0
    assert decode_mask(png_bytes(rgb, 2, extra=short_iccp + trns)).transparent[0, 0]


def test_unknown_critical_chunk_and_bad_header_are_refused(tmp_path):
    rgb = np.full((2, 2, 3), ROAD, np.uint8)
    with pytest.raises(ReadError, match="unknown critical chunk CgBI"):
        decode_mask(png_bytes(rgb, 2, extra=chunk(b"CgBI", b"\0\0\0\0")))
    bad_depth = bytearray(png_bytes(rgb, 2))
    bad_depth[24] = 3  # bit depth 3 does not exist
    bad_depth[29:33] = struct.pack(">I", zlib.crc32(bytes(bad_depth[12:29])))
    with pytest.raises(ReadError, match="not a valid PNG"):
        decode_mask(bytes(bad_depth))


def run_quiet(tmp_path, *args):
    return subprocess.run([sys.executable, "-m", "maskcli", *map(str, args), "-q"], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)


def test_libpng_prints_nothing_of_its_own_under_quiet(tmp_path):
    """libpng writes its warnings and errors to fd 2 from C; maskcli checks PNGs first so that
    libpng never sees what it would complain about. Only maskcli's lines reach stderr."""
    rng = np.random.default_rng(0)
    rgb = (rng.integers(0, 4, (64, 64, 3)) * 60).astype(np.uint8)
    data = png_bytes(rgb, 2)
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "cut.png").write_bytes(data[: len(data) // 2])
    (folder / "crc.png").write_bytes(corrupt_crc(data))
    (folder / "zero.png").write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 0, 0, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))
    (folder / "iccp.png").write_bytes(png_bytes(rgb, 2, extra=chunk(b"iCCP", b"x\0\0" + zlib.compress(b"abc"))))
    for command in (["to-index", folder, "-o", tmp_path / "out", "-p", "cityscapes", "-j", "1"],
                    ["check", folder, "-p", "cityscapes", "-j", "1"]):
        result = run_quiet(tmp_path, *command)
        assert result.returncode == 1
        lines = result.stderr.splitlines()
        assert lines and all(line.startswith("error: ") for line in lines), result.stderr
        assert sorted(line.split(": ")[1].rsplit("/", 1)[1] for line in lines) == ["crc.png", "cut.png", "iccp.png", "zero.png"]
        assert re.search(r"iccp.png: \d+ unknown color", result.stderr)  # decoded: its colors are not cityscapes'
    (folder / "cut.png").unlink()
    (folder / "crc.png").unlink()
    (folder / "zero.png").unlink()
    result = run_quiet(tmp_path, "extract-palette", folder, "-o", tmp_path / "p.yaml")
    assert result.returncode == 0 and result.stderr == ""


# --------------------------------------------------------------------------- messages and the API


def test_articles():
    from maskcli.masks import with_article

    assert [with_article(m) for m in ("RGB 16-bit", "RGBA 8-bit", "TIFF RGB 16-bit", "PNG palettized",
                                      "grayscale 8-bit", "8-bit", "1-bit", "SGI RGB", "image", "JPEG RGB")] == [
        "an RGB 16-bit", "an RGBA 8-bit", "a TIFF RGB 16-bit", "a PNG palettized", "a grayscale 8-bit",
        "an 8-bit", "a 1-bit", "an SGI RGB", "an image", "a JPEG RGB"]


def test_api_refuses_wrong_arrays_clearly_and_takes_big_endian(tmp_path):
    city = load_palette("cityscapes")
    with pytest.raises(ValueError, match=r"expected an \(H, W, 3\) uint8 RGB array, got \(2, 3\) uint8"):
        color_counts(np.zeros((2, 3), np.uint8))
    with pytest.raises(ValueError, match=r"expected an \(H, W, 3\) uint8 RGB array, got \(2, 3, 3\) uint16"):
        color_counts(np.zeros((2, 3, 3), np.uint16))
    colors, counts = color_counts(np.zeros((0, 4, 3), np.uint8))
    assert colors.shape == (0, 3) and counts.shape == (0,)
    assert rgb_to_index(np.zeros((0, 4, 3), np.uint8), city).shape == (0, 4)
    assert index_to_rgb(np.zeros((0, 4), np.uint8), city).shape == (0, 4, 3)
    with pytest.raises(ValueError, match=r"cannot write an empty \(0, 4\) array"):
        write_index_mask(tmp_path / "e.png", np.zeros((0, 4), np.uint8))
    with pytest.raises(ValueError, match=r"expected an \(H, W\) uint8 or uint16 array, got \(2, 2\) int64"):
        write_index_mask(tmp_path / "e.png", np.zeros((2, 2), np.int64))
    assert not (tmp_path / "e.png").exists()
    big = np.array([[0, 300], [65535, 7]], dtype=">u2")
    write_index_mask(tmp_path / "b.png", big)
    np.testing.assert_array_equal(read_mask(tmp_path / "b.png").array, big.astype(np.uint16))
    np.testing.assert_array_equal(index_to_rgb(big[:1, :1], city), index_to_rgb(np.zeros((1, 1), np.uint8), city))


def test_channel_order_is_checked():
    with pytest.raises(ValueError, match="channel_order='grb'"):
        decode_mask(b"x", "grb")


def test_pillow_written_masks_still_read(tmp_path):
    """A control: files written by a common encoder keep working under the new checks."""
    write_png(tmp_path / "c.png", np.full((5, 6, 3), ROAD, np.uint8))
    write_png(tmp_path / "p.png", np.ones((5, 6), np.uint8), mode="P", palette=[(0, 0, 0), ROAD])
    write_png(tmp_path / "g.png", np.full((5, 6), 7, np.uint16))
    assert read_mask(tmp_path / "c.png").kind == "color"
    assert read_mask(tmp_path / "p.png").kind == "palettized"
    assert read_mask(tmp_path / "g.png").array.dtype == np.uint16
