"""Messy real-world masks: snapping, alpha, palettized inputs, odd encodings (issue 4)."""

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from conftest import read_png, write_png
from maskcli.cli import cli
from maskcli.convert import UnknownPolicy, decode_rgb, rgb_to_index
from maskcli.errors import UnknownColorsError
from maskcli.palette import Palette, PaletteClass, load_palette


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def palette_of(colors, ignore_colors=()):
    return Palette("t", tuple(PaletteClass(i, f"c{i}", tuple(c)) for i, c in enumerate(colors)),
                   ignore_colors=tuple(ignore_colors))


def brute_force_nearest(rgb, palette, max_distance, beyond):
    """Per pixel: the first listed palette color at the smallest distance."""
    pairs = palette.decode_pairs()
    ref = np.array([c for c, _ in pairs], np.int64)
    values = np.array([v for _, v in pairs])
    flat = rgb.reshape(-1, 3).astype(np.int64)
    d2 = ((flat[:, None, :] - ref[None]) ** 2).sum(-1)
    best = d2.argmin(1)
    out = values[best]
    far = d2[np.arange(len(flat)), best] > max_distance ** 2
    if beyond == "ignore":
        out[far] = palette.ignore_index
    return out.reshape(rgb.shape[:2]), far.reshape(rgb.shape[:2])


@settings(max_examples=120, deadline=None)
@given(
    st.lists(st.tuples(*[st.integers(0, 255)] * 3), min_size=1, max_size=8, unique=True),
    st.lists(st.tuples(*[st.integers(0, 255)] * 3), min_size=1, max_size=40),
    st.floats(0, 450),
)
def test_nearest_matches_a_brute_force_search(palette_colors, pixels, max_distance):
    palette = palette_of(palette_colors)
    rgb = np.array(pixels, np.uint8).reshape(1, -1, 3)
    expected, far = brute_force_nearest(rgb, palette, max_distance, "ignore")
    decoded = decode_rgb(rgb, palette, UnknownPolicy("nearest", max_distance, "ignore"))
    np.testing.assert_array_equal(decoded.index, expected)
    known = np.isin(rgb.reshape(-1, 3).view([("", np.uint8)] * 3), np.array(palette_colors, np.uint8).view([("", np.uint8)] * 3)).reshape(far.shape)
    assert decoded.ignored == int((far & ~known).sum())
    assert decoded.snapped == int((~far & ~known).sum())
    if (far & ~known).any():
        with pytest.raises(UnknownColorsError, match="farther than --max-distance"):
            rgb_to_index(rgb, palette, "nearest", max_distance)


def test_ties_go_to_the_palette_color_listed_first():
    palette = palette_of([(10, 0, 0), (0, 0, 0)], ignore_colors=[(5, 0, 10)])
    rgb = np.array([[[5, 0, 0]]], np.uint8)  # 5 from both classes
    assert rgb_to_index(rgb, palette, "nearest", 10)[0, 0] == 0
    palette = palette_of([(0, 0, 0), (10, 0, 0)])
    assert rgb_to_index(rgb, palette, "nearest", 10)[0, 0] == 0
    swapped = palette_of([(10, 0, 0), (0, 0, 0)])
    assert rgb_to_index(rgb, swapped, "nearest", 10)[0, 0] == 0  # still the first listed: (10, 0, 0)


def test_nearest_can_snap_to_an_ignore_color():
    palette = palette_of([(0, 0, 0)], ignore_colors=[(200, 200, 200)])
    assert rgb_to_index(np.array([[[198, 201, 200]]], np.uint8), palette, "nearest", 5)[0, 0] == 255


def test_nearest_needs_a_distance():
    with pytest.raises(ValueError):
        UnknownPolicy("nearest")
    result = invoke("to-index", "x", "-o", "y", "-p", "cityscapes", "--unknown", "nearest")
    assert result.exit_code == 2


def industrial_palette(tmp_path):
    # maning00-BiSeNet/CamVid/class_dict.csv, typed out (name,r,g,b)
    path = tmp_path / "industrial.yaml"
    path.write_text(
        "name: industrial\nignore_colors: [[255, 255, 255]]  # Void\nclasses:\n"
        "  - {id: 0, name: scraper, color: [1, 175, 76]}\n"
        "  - {id: 1, name: slag, color: [227, 0, 144]}\n"
        "  - {id: 2, name: iron_water, color: [2, 140, 210]}\n"
        "  - {id: 3, name: needle, color: [255, 225, 2]}\n"
    )
    return path


def test_industrial_masks_are_off_by_a_few_and_snap_within_3(corpus, tmp_path):
    import csv

    rows = list(csv.reader(open(corpus / "maning00-BiSeNet/CamVid/class_dict.csv")))
    palette = industrial_palette(tmp_path)
    colors = {tuple(c.color) for c in load_palette(palette).classes}
    assert colors == {tuple(int(v) for v in r[1:4]) for r in rows[1:] if r[0] != "Void"}
    masks = corpus / "maning00-BiSeNet/CamVid"
    exact = invoke("to-index", masks, "--include", "*_L.png", "-o", tmp_path / "exact", "-p", palette)
    assert exact.exit_code == 1 and "unknown colors" in exact.stderr
    snapped = invoke("to-index", masks, "--include", "*_L.png", "-o", tmp_path / "out", "-p", palette,
                     "--unknown", "nearest", "--max-distance", 3, "-v")
    assert snapped.exit_code == 0, snapped.stderr
    assert "to-index: 6 converted, 0 failed;" in snapped.stderr and "px snapped in 6 file(s)" in snapped.stderr
    assert "snapped (228, 0, 144) -> (227, 0, 144) = 1" in snapped.stderr
    notes = [line for line in snapped.stderr.splitlines() if line.startswith("note:")]
    assert len(notes) == 6 and all("% of pixels" in n for n in notes)
    for out in (tmp_path / "out").rglob("*.png"):
        assert set(np.unique(read_png(out)[1])) <= {0, 1, 2, 3, 255}


@pytest.mark.parametrize("name", ["DeepLabV3Plus-Pytorch/samples/city_1_target.png",
                                  "awesome-semantic-segmentation-pytorch/docs/weimar_000091_000019_gtFine_color.png"])
def test_resampled_and_shifted_cityscapes_renders(corpus, tmp_path, name):
    src = corpus / name
    palette = load_palette("cityscapes")
    rgb = np.asarray(Image.open(src).convert("RGB"))
    everything = invoke("to-index", src, "-o", tmp_path / "all.png", "-p", "cityscapes", "--unknown", "nearest", "--max-distance", 450)
    assert everything.exit_code == 0, everything.stderr
    expected, _ = brute_force_nearest(rgb, palette, 450, "ignore")
    np.testing.assert_array_equal(read_png(tmp_path / "all.png")[1], expected)
    bounded = invoke("to-index", src, "-o", tmp_path / "b.png", "-p", "cityscapes", "--unknown", "nearest",
                     "--max-distance", 30, "--beyond", "ignore")
    assert bounded.exit_code == 0
    assert "ignored" in bounded.stderr and "snapped" in bounded.stderr
    expected, far = brute_force_nearest(rgb, palette, 30, "ignore")
    np.testing.assert_array_equal(read_png(tmp_path / "b.png")[1], expected)
    failing = invoke("to-index", src, "-o", tmp_path / "c.png", "-p", "cityscapes", "--unknown", "nearest", "--max-distance", 30)
    assert failing.exit_code == 1 and "farther than --max-distance 30" in failing.stderr


def test_alpha_ignore_writes_transparent_pixels_as_ignore(tmp_path):
    rgba = np.zeros((2, 3, 4), np.uint8)
    rgba[..., :3] = (128, 64, 128)
    rgba[..., 3] = 255
    rgba[0, 0] = (1, 2, 3, 0)  # a transparent pixel hiding an unknown color
    write_png(tmp_path / "a.png", rgba)
    refused = invoke("to-index", tmp_path / "a.png", "-o", tmp_path / "o.png", "-p", "cityscapes")
    assert refused.exit_code == 1 and "1 fully transparent px; use --alpha ignore" in refused.stderr
    done = invoke("to-index", tmp_path / "a.png", "-o", tmp_path / "o.png", "-p", "cityscapes", "--alpha", "ignore")
    assert done.exit_code == 0, done.stderr
    np.testing.assert_array_equal(read_png(tmp_path / "o.png")[1], [[255, 0, 0], [0, 0, 0]])
    assert "ignored 16.67% (transparent)" in done.stderr


def test_bdd100k_bitmask_alpha_is_called_data(corpus, tmp_path):
    result = invoke("to-index", corpus / "bdd100k/tests/common/testcases/example_bitmask.png", "-o", tmp_path / "x.png", "-p", "cityscapes")
    assert result.exit_code == 1 and "looks like data, not transparency" in result.stderr


def test_embedded_keeps_stored_indices_and_indexed_round_trips(corpus, tmp_path):
    sources = sorted((corpus / "labelme/examples/semantic_segmentation/data_dataset_voc/SegmentationClass").glob("*.png"))
    sources.append(corpus / "awesome-semantic-segmentation-pytorch/tests/test_mask.png")
    for i, src in enumerate(sources):
        stored = np.asarray(Image.open(src))
        plain = invoke("to-index", src, "-o", tmp_path / f"plain{i}.png", "-p", "embedded")
        assert plain.exit_code == 0, plain.stderr
        mode, arr = read_png(tmp_path / f"plain{i}.png")
        assert mode == "L"
        np.testing.assert_array_equal(arr, stored)
        indexed = invoke("to-index", src, "-o", tmp_path / f"idx{i}.png", "-p", "pascal-voc", "--format", "indexed")
        assert indexed.exit_code == 0, indexed.stderr
        img = Image.open(tmp_path / f"idx{i}.png")
        assert img.mode == "P"
        np.testing.assert_array_equal(np.asarray(img), stored)  # indices unchanged
        plte = np.array(img.getpalette()).reshape(-1, 3)
        assert tuple(plte[15]) == (192, 128, 128) and tuple(plte[255]) == (224, 224, 192)
        again = invoke("to-index", tmp_path / f"idx{i}.png", "-o", tmp_path / f"again{i}.png", "-p", "embedded", "--format", "indexed")
        assert again.exit_code == 0
        np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / f"again{i}.png")), stored)


def test_embedded_refuses_files_without_a_palette_and_other_commands(tmp_path):
    write_png(tmp_path / "rgb.png", np.zeros((2, 2, 3), np.uint8))
    result = invoke("to-index", tmp_path / "rgb.png", "-o", tmp_path / "o.png", "-p", "embedded")
    assert result.exit_code == 1 and "has no embedded palette" in result.stderr
    write_png(tmp_path / "i.png", np.zeros((2, 2), np.uint8))
    result = invoke("to-rgb", tmp_path / "i.png", "-o", tmp_path / "r.png", "-p", "embedded")
    assert result.exit_code == 2 and "works only with to-index" in result.stderr


def test_indexed_format_refuses_16_bit_palettes(tmp_path):
    (tmp_path / "big.yaml").write_text("classes:\n  - {id: 300, name: a, color: [1, 2, 3]}\n")
    write_png(tmp_path / "a.png", np.full((2, 2, 3), (1, 2, 3), np.uint8))
    result = invoke("to-index", tmp_path / "a.png", "-o", tmp_path / "o.png", "-p", tmp_path / "big.yaml", "--format", "indexed")
    assert result.exit_code == 2 and "--format indexed holds ids 0..255" in result.stderr
    assert not (tmp_path / "o.png").exists()


def test_gray_triplets_get_a_hint(corpus, tmp_path):
    src = corpus / "mmsegmentation/tests/data/pseudo_refuge_dataset/ann_dir/pseudo_g0001.png"
    result = invoke("to-index", src, "-o", tmp_path / "o.png", "-p", "pascal-voc")
    assert result.exit_code == 1
    assert "every pixel has R == G == B: it may be an index mask stored as RGB" in result.stderr


def test_jpeg_inputs_get_a_warning(tmp_path):
    Image.fromarray(np.full((8, 8, 3), (128, 64, 128), np.uint8)).save(tmp_path / "a.jpg", quality=100)
    result = invoke("to-index", tmp_path / "a.jpg", "-o", tmp_path / "o.png", "-p", "cityscapes", "--unknown", "ignore")
    assert "warning: 1 input(s) are in a lossy format" in result.stderr
    assert "--unknown nearest" in result.stderr
