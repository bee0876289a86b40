import os
import stat

import numpy as np
import pytest
from PIL import Image

from conftest import read_png, write_png
from maskcli.errors import ReadError, WrongKindError
from maskcli import masks
from maskcli.masks import atomic_write, read_mask, write_index_mask, write_rgb_mask

RGB = np.array([[[255, 0, 0], [0, 255, 0]], [[0, 0, 255], [10, 20, 30]]], np.uint8)


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".tif", ".tiff"])
def test_rgb_files_read_in_rgb_order(tmp_path, suffix):
    path = tmp_path / f"m{suffix}"
    Image.fromarray(RGB).save(path)
    mask = read_mask(path)
    assert mask.kind == "color"
    np.testing.assert_array_equal(mask.array, RGB)


def test_opaque_rgba_drops_alpha_transparent_is_marked_partial_is_an_error(tmp_path):
    rgba = np.dstack([RGB, np.full((2, 2), 255, np.uint8)])
    mask = read_mask(write_png(tmp_path / "a.png", rgba))
    np.testing.assert_array_equal(mask.array, RGB)
    assert mask.transparent is None
    rgba[0, 0, 3] = 0
    mask = read_mask(write_png(tmp_path / "b.png", rgba))
    np.testing.assert_array_equal(mask.transparent, [[True, False], [False, False]])
    rgba[0, 1, 3] = 128
    with pytest.raises(WrongKindError, match=r"has 1 partly transparent px \(alpha between 1 and 254\)"):
        read_mask(write_png(tmp_path / "c.png", rgba))


def test_alpha_that_holds_data_is_called_so(tmp_path):
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 3] = np.arange(64).reshape(8, 8)  # like BDD100K bitmasks: instance ids in alpha
    with pytest.raises(WrongKindError, match="alpha channel that looks like data, not transparency"):
        read_mask(write_png(tmp_path / "d.png", rgba))


def test_palettized_keeps_indices_and_plte(tmp_path):
    indices = np.array([[0, 1], [2, 255]], np.uint8)
    plte = [(0, 0, 0), (128, 0, 0), (0, 128, 0)] + [(9, 9, 9)] * 252 + [(224, 224, 192)]
    mask = read_mask(write_png(tmp_path / "p.png", indices, mode="P", palette=plte))
    assert mask.kind == "palettized"
    np.testing.assert_array_equal(mask.array, indices)
    assert tuple(mask.colors[1]) == (128, 0, 0) and tuple(mask.colors[255]) == (224, 224, 192)


def test_palettized_transparency_is_checked(tmp_path):
    path = tmp_path / "t.png"
    img = Image.fromarray(np.array([[0, 1]], np.uint8), "P")
    img.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    img.save(path, transparency=1)
    np.testing.assert_array_equal(read_mask(path).transparent, [[False, True]])


def test_grayscale_and_16bit_are_index_masks(tmp_path):
    gray = np.array([[0, 7], [255, 3]], np.uint8)
    mask = read_mask(write_png(tmp_path / "g.png", gray))
    assert mask.kind == "index" and mask.array.dtype == np.uint8
    np.testing.assert_array_equal(mask.array, gray)
    deep = np.array([[0, 300], [65535, 3]], np.uint16)
    mask = read_mask(write_png(tmp_path / "d.png", deep))
    assert mask.kind == "index" and mask.array.dtype == np.uint16
    np.testing.assert_array_equal(mask.array, deep)
    Image.fromarray(deep).save(tmp_path / "d.tif")
    np.testing.assert_array_equal(read_mask(tmp_path / "d.tif").array, deep)


@pytest.mark.parametrize(
    "content, expected",
    [(b"", "empty file"), (b"not an image at all", "not an image file"),
     (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "cannot decode")],
)
def test_unreadable_files(tmp_path, content, expected):
    path = tmp_path / "bad.png"
    path.write_bytes(content)
    with pytest.raises(ReadError, match=expected):
        read_mask(path)


def test_truncated_png(tmp_path):
    good = write_png(tmp_path / "g.png", np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    data = good.read_bytes()
    (tmp_path / "t.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ReadError):
        read_mask(tmp_path / "t.png")


def test_16bit_color_is_refused(tmp_path):
    import cv2

    cv2.imwrite(str(tmp_path / "c16.png"), np.zeros((2, 2, 3), np.uint16))
    with pytest.raises(WrongKindError, match="8 bits per channel"):
        read_mask(tmp_path / "c16.png")


def test_writers_round_trip_through_pillow(tmp_path):
    index8 = np.array([[0, 1], [254, 255]], np.uint8)
    write_index_mask(tmp_path / "i8.png", index8)
    mode, arr = read_png(tmp_path / "i8.png")
    assert mode == "L"
    np.testing.assert_array_equal(arr, index8)
    index16 = np.array([[0, 256], [40000, 65535]], np.uint16)
    write_index_mask(tmp_path / "i16.png", index16)
    mode, arr = read_png(tmp_path / "i16.png")
    assert mode.startswith("I;16")
    np.testing.assert_array_equal(arr, index16)
    write_rgb_mask(tmp_path / "rgb.png", RGB)
    mode, arr = read_png(tmp_path / "rgb.png")
    assert mode == "RGB"
    np.testing.assert_array_equal(arr, RGB)


def test_atomic_write_leaves_nothing_on_failure_and_uses_normal_permissions(tmp_path):
    with pytest.raises(TypeError):
        atomic_write(tmp_path / "x.png", object())  # fails while writing
    assert os.listdir(tmp_path) == []
    old = os.umask(0o022)
    try:
        atomic_write(tmp_path / "sub" / "y.png", b"data")
    finally:
        os.umask(old)
    assert (tmp_path / "sub" / "y.png").read_bytes() == b"data"
    assert stat.S_IMODE(os.stat(tmp_path / "sub" / "y.png").st_mode) == 0o644
    assert os.listdir(tmp_path / "sub") == ["y.png"]


def test_atomic_write_reports_a_file_in_place_of_a_folder(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(OSError, match="cannot create folder"):
        atomic_write(tmp_path / "f" / "y.png", b"data")


def _row_filters(png: bytes) -> set:
    """The filter type bytes of a non-interlaced PNG's scanlines."""
    import struct
    import zlib

    pos, idat, header = 8, b"", None
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos : pos + 8])
        body = png[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, color_type = header[:4]
    row = 1 + (width * {0: 1, 2: 3}[color_type] * depth + 7) // 8
    raw = zlib.decompress(idat)
    return {raw[y * row] for y in range(height)}


@pytest.mark.parametrize("kind", ["index8", "index16", "rgb"])
def test_written_masks_filter_every_row_up(kind, tmp_path):
    """maskcli's PNG masks are written with the "up" filter on every row (OpenCV's default is
    "sub"): smaller files that decode faster, with the same pixels."""
    import cv2

    if not hasattr(cv2, "IMWRITE_PNG_FILTER"):
        pytest.skip("this OpenCV has no PNG filter setting: its default is written")
    rng = np.random.default_rng(4)
    index = np.repeat(rng.integers(0, 19, (1, 300)), 40, axis=0).astype(np.uint16 if kind == "index16" else np.uint8)
    index[7:] = np.roll(index[7:], 3, axis=1)
    if kind == "index16":
        index *= 1000
    path = tmp_path / "m.png"
    if kind == "rgb":
        rgb = np.stack([index * 9, index * 5, 255 - index], axis=-1).astype(np.uint8)
        masks.write_rgb_mask(path, rgb)
        assert np.array_equal(masks.read_mask(path).array, rgb)
    else:
        masks.write_index_mask(path, index)
        assert np.array_equal(masks.read_mask(path).array, index)
    data = path.read_bytes()
    assert _row_filters(data) == {2}
    default = cv2.imencode(".png", index if kind != "rgb" else rgb[..., ::-1].copy())[1].tobytes()
    assert _row_filters(default) == {1}  # OpenCV's own default, for contrast
