import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from conftest import read_png, write_png
from maskcli import __version__
from maskcli.cli import cli

PALETTE = """\
name: three
ignore_index: 255
ignore_colors: [[224, 224, 192]]
classes:
  - {id: 0, name: background, color: [0, 0, 0]}
  - {id: 1, name: road, color: [128, 64, 128]}
  - {id: 2, name: car, color: "#00008e"}
"""
COLORS = np.array([[0, 0, 0], [128, 64, 128], [0, 0, 142], [224, 224, 192]], np.uint8)
VALUES = np.array([0, 1, 2, 255], np.uint8)


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def color_mask(seed, h=6, w=7):
    picks = np.random.default_rng(seed).integers(0, len(COLORS), (h, w))
    return COLORS[picks], VALUES[picks]


@pytest.fixture
def palette(tmp_path):
    path = tmp_path / "three.yaml"
    path.write_text(PALETTE)
    return path


def make_tree(root, names):
    expected = {}
    for i, name in enumerate(names):
        rgb, index = color_mask(i)
        if name.endswith(".png"):
            write_png(root / name, rgb)
        else:
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            from PIL import Image

            Image.fromarray(rgb).save(root / name)
        expected[name] = (rgb, index)
    return expected


def test_to_index_mirrors_one_folder(tmp_path, palette):
    masks = tmp_path / "masks"
    expected = make_tree(masks, ["a.png", "sub/b.png", "sub/deeper/c.bmp", "d.tiff"])
    (masks / "notes.txt").write_text("not a mask")
    (masks / "._a.png").write_bytes(b"macOS resource fork")
    result = invoke("to-index", masks, "-o", tmp_path / "out", "-p", palette, "-j", 1)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert "to-index: 4 converted, 0 failed" in result.stderr
    for name, (_, index) in expected.items():
        out = (tmp_path / "out" / name).with_suffix(".png")
        mode, arr = read_png(out)
        assert mode == "L"
        np.testing.assert_array_equal(arr, index)
    assert sorted(p.name for p in (tmp_path / "out").rglob("*") if p.is_file()) == ["a.png", "b.png", "c.png", "d.png"]


def test_two_folders_keep_their_names_and_a_single_file_maps_below_base(tmp_path, palette):
    make_tree(tmp_path / "data", ["train/a.png", "val/b.png"])
    result = invoke("to-index", tmp_path / "data/train", tmp_path / "data/val", "-o", tmp_path / "out", "-p", palette)
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "out/train/a.png").is_file() and (tmp_path / "out/val/b.png").is_file()
    result = invoke("to-index", tmp_path / "data/val/b.png", "--base", tmp_path / "data/val", "-o", tmp_path / "one",
                    "-p", palette)
    assert result.exit_code == 0
    assert [p.name for p in (tmp_path / "one").iterdir()] == ["b.png"]


def test_single_file_with_png_output_writes_exactly_that_file(tmp_path, palette):
    expected = make_tree(tmp_path, ["in.png"])
    result = invoke("to-index", tmp_path / "in.png", "-o", tmp_path / "deep/er/result.png", "-p", palette)
    assert result.exit_code == 0, result.stderr
    np.testing.assert_array_equal(read_png(tmp_path / "deep/er/result.png")[1], expected["in.png"][1])


def test_colliding_outputs_stop_before_anything_is_written(tmp_path, palette):
    make_tree(tmp_path / "m", ["a.png", "a.bmp", "b.png"])
    result = invoke("to-index", tmp_path / "m", "-o", tmp_path / "out", "-p", palette)
    assert result.exit_code == 2
    assert "1 output(s) would be written by more than one input" in result.stderr
    assert f"{tmp_path / 'm/a.bmp'} and {tmp_path / 'm/a.png'} -> {tmp_path / 'out/a.png'}" in result.stderr
    assert not (tmp_path / "out").exists()


def test_output_inside_input_is_not_walked_and_inputs_are_never_overwritten(tmp_path, palette):
    make_tree(tmp_path / "m", ["a.png", "b.png"])
    for _ in range(2):  # the second run must not read m/out/*.png (index masks) as inputs
        result = invoke("to-index", tmp_path / "m", "-o", tmp_path / "m/out", "-p", palette)
        assert result.exit_code == 0, result.stderr
        assert "2 converted, 0 failed" in result.stderr
    before = (tmp_path / "m/a.png").read_bytes()
    result = invoke("to-index", tmp_path / "m", "-o", tmp_path / "m", "-p", palette)
    assert result.exit_code == 2
    assert "would overwrite the input" in result.stderr
    assert (tmp_path / "m/a.png").read_bytes() == before


def test_bad_files_are_reported_and_the_others_converted(tmp_path, palette):
    expected = make_tree(tmp_path / "m", ["good1.png", "good2.png"])
    (tmp_path / "m/corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    rgb, _ = color_mask(5)
    rgb[2, 3] = (1, 2, 3)
    write_png(tmp_path / "m/unknown.png", rgb)
    write_png(tmp_path / "m/gray.png", np.zeros((3, 3), np.uint8))
    result = invoke("to-index", tmp_path / "m", "-o", tmp_path / "out", "-p", palette)
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert f"error: {tmp_path / 'm/corrupt.png'}: not a valid PNG" in result.stderr
    assert f"error: {tmp_path / 'm/unknown.png'}: 1 unknown color on 1 px: (1, 2, 3) 1 px first at x=3 y=2" in lines
    assert f"error: {tmp_path / 'm/gray.png'}: is a grayscale 8-bit image, so it looks like an index mask already" in result.stderr
    assert lines[-1].startswith("to-index: 2 converted, 3 failed")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["good1.png", "good2.png"]
    for name in expected:
        np.testing.assert_array_equal(read_png(tmp_path / "out" / name)[1], expected[name][1])
    assert "Traceback" not in result.stderr


def test_unknown_ignore_writes_the_ignore_index(tmp_path, palette):
    rgb, index = color_mask(1)
    rgb[0, 0] = (5, 5, 5)
    write_png(tmp_path / "a.png", rgb)
    result = invoke("to-index", tmp_path / "a.png", "-o", tmp_path / "o.png", "-p", palette, "--unknown", "ignore")
    assert result.exit_code == 0
    index[0, 0] = 255
    np.testing.assert_array_equal(read_png(tmp_path / "o.png")[1], index)


def test_quiet_silences_the_summary_but_not_errors(tmp_path, palette):
    make_tree(tmp_path / "m", ["a.png"])
    write_png(tmp_path / "m/u.png", np.full((2, 2, 3), (7, 8, 9), np.uint8))
    result = invoke("to-index", tmp_path / "m", "-o", tmp_path / "out", "-p", palette, "-q")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [f"error: {tmp_path / 'm/u.png'}: 1 unknown color on 4 px: (7, 8, 9) 4 px first at x=0 y=0"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["-p", "nope"], "unknown palette 'nope': built-ins are "),
        (["-p", "missing.yaml"], "missing.yaml: no such palette file"),
        (["-p", "cityscapes", "-j", "0"], "0 is not in the range x>=1"),
        (["-p", "cityscapes", "--unknown", "maybe"], "'maybe' is not one of 'error', 'ignore'"),
    ],
)
def test_usage_errors_exit_2_without_traceback(tmp_path, args, message):
    make_tree(tmp_path / "m", ["a.png"])
    result = invoke("to-index", tmp_path / "m", "-o", tmp_path / "out", *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_no_inputs_found_and_missing_input(tmp_path):
    (tmp_path / "empty").mkdir()
    result = invoke("to-index", tmp_path / "empty", "-o", tmp_path / "out", "-p", "cityscapes")
    assert result.exit_code == 2
    assert f"no mask files found in {tmp_path / 'empty'} (looked for .png, .bmp, .tif, .tiff, recursively)" in result.stderr
    result = invoke("to-index", tmp_path / "nothing", "-o", tmp_path / "out", "-p", "cityscapes")
    assert result.exit_code == 2 and f"{tmp_path / 'nothing'}: no such file or folder" in result.stderr


def test_bad_palette_file_is_a_one_line_usage_error(tmp_path):
    make_tree(tmp_path / "m", ["a.png"])
    (tmp_path / "bad.yaml").write_text("classes:\n  - {id: 0, name: a, color: [0, 0, 300]}\n")
    result = invoke("to-index", tmp_path / "m", "-o", tmp_path / "o", "-p", tmp_path / "bad.yaml")
    assert result.exit_code == 2
    assert f"{tmp_path / 'bad.yaml'}: classes[0] ('a'): color channel 300 is outside 0..255" in result.stderr


def test_to_rgb_round_trip_and_wrong_kinds(tmp_path, palette):
    expected = make_tree(tmp_path / "m", ["a.png", "s/b.png"])
    assert invoke("to-index", tmp_path / "m", "-o", tmp_path / "idx", "-p", palette).exit_code == 0
    result = invoke("to-rgb", tmp_path / "idx", "-o", tmp_path / "rgb", "-p", palette)
    assert result.exit_code == 0, result.stderr
    for name, (rgb, _) in expected.items():
        mode, arr = read_png(tmp_path / "rgb" / name)
        assert mode == "RGB"
        np.testing.assert_array_equal(arr, rgb)
    result = invoke("to-rgb", tmp_path / "m/a.png", "-o", tmp_path / "x.png", "-p", palette)
    assert result.exit_code == 1 and "color image; to-rgb needs an index mask" in result.stderr
    write_png(tmp_path / "v.png", np.array([[0, 9]], np.uint8))
    result = invoke("to-rgb", tmp_path / "v.png", "-o", tmp_path / "y.png", "-p", palette)
    assert result.exit_code == 1 and "1 index value not in the palette: 9 (1 px)" in result.stderr
    assert not (tmp_path / "y.png").exists()


def test_to_rgb_reads_the_stored_indices_of_palettized_files(tmp_path, palette):
    indices = np.array([[0, 1], [2, 255]], np.uint8)
    write_png(tmp_path / "p.png", indices, mode="P", palette=[(9, 9, 9)] * 256)  # PLTE colors are not used
    result = invoke("to-rgb", tmp_path / "p.png", "-o", tmp_path / "o.png", "-p", palette)
    assert result.exit_code == 0, result.stderr
    np.testing.assert_array_equal(read_png(tmp_path / "o.png")[1], COLORS[[[0, 1], [2, 3]]])


def test_sixteen_bit_palettes_write_16_bit_masks(tmp_path):
    (tmp_path / "big.yaml").write_text(
        "classes:\n  - {id: 0, name: a, color: [0, 0, 0]}\n  - {id: 300, name: b, color: [1, 2, 3]}\n"
        "  - {id: 65534, name: c, color: [4, 5, 6]}\n"
    )
    rgb = np.array([[[0, 0, 0], [1, 2, 3], [4, 5, 6]]], np.uint8)
    write_png(tmp_path / "a.png", rgb)
    assert invoke("to-index", tmp_path / "a.png", "-o", tmp_path / "i.png", "-p", tmp_path / "big.yaml").exit_code == 0
    mode, arr = read_png(tmp_path / "i.png")
    assert mode.startswith("I;16")
    np.testing.assert_array_equal(arr, [[0, 300, 65534]])
    assert invoke("to-rgb", tmp_path / "i.png", "-o", tmp_path / "r.png", "-p", tmp_path / "big.yaml").exit_code == 0
    np.testing.assert_array_equal(read_png(tmp_path / "r.png")[1], rgb)


def test_shared_colors_warn_for_user_palettes_only(tmp_path):
    (tmp_path / "s.yaml").write_text(
        "classes:\n  - {name: road, color: [1, 1, 1]}\n  - {name: skyscraper, color: [1, 1, 1]}\n"
    )
    write_png(tmp_path / "a.png", np.ones((2, 2, 3), np.uint8))
    result = invoke("to-index", tmp_path / "a.png", "-o", tmp_path / "o.png", "-p", tmp_path / "s.yaml")
    assert result.exit_code == 0
    assert result.stderr.count("warning:") == 1
    assert "(1, 1, 1) -> 0 'road', 1 'skyscraper'" in result.stderr
    np.testing.assert_array_equal(read_png(tmp_path / "o.png")[1], np.zeros((2, 2)))
    result = invoke("to-index", tmp_path / "a.png", "-o", tmp_path / "o.png", "-p", tmp_path / "s.yaml", "-q")
    assert result.stderr == ""


def test_extract_palette_round_trips_through_to_index_and_to_rgb(tmp_path):
    rng = np.random.default_rng(3)
    colors = rng.integers(0, 256, (9, 3)).astype(np.uint8)
    for i in range(3):
        write_png(tmp_path / f"m/{i}.png", colors[rng.integers(0, 9, (8, 8))])
    result = invoke("extract-palette", tmp_path / "m", "-o", tmp_path / "p.yaml")
    assert result.exit_code == 0, result.stderr
    data = yaml.safe_load((tmp_path / "p.yaml").read_text())
    assert data["ignore_index"] == 255
    found = [tuple(c["color"]) for c in data["classes"]]
    assert found == sorted(found)  # sorted by color
    assert [c["id"] for c in data["classes"]] == list(range(len(found)))
    assert sum(c["pixels"] for c in data["classes"]) == 3 * 64
    assert invoke("to-index", tmp_path / "m", "-o", tmp_path / "i", "-p", tmp_path / "p.yaml").exit_code == 0
    assert invoke("to-rgb", tmp_path / "i", "-o", tmp_path / "r", "-p", tmp_path / "p.yaml").exit_code == 0
    for i in range(3):
        np.testing.assert_array_equal(read_png(tmp_path / f"r/{i}.png")[1], read_png(tmp_path / f"m/{i}.png")[1])


def test_extract_palette_stdout_order_and_limits(tmp_path):
    rgb = np.zeros((2, 5, 3), np.uint8)
    rgb[0, :4] = (200, 0, 0)  # 4 px
    rgb[1, :] = (10, 0, 0)  # 5 px
    write_png(tmp_path / "a.png", rgb)  # and (0, 0, 0): 1 px
    result = invoke("extract-palette", tmp_path / "a.png", "--order", "frequency")
    assert result.exit_code == 0
    data = yaml.safe_load(result.stdout)
    assert [(c["color"], c["pixels"], c["files"]) for c in data["classes"]] == [
        ([10, 0, 0], 5, 1), ([200, 0, 0], 4, 1), ([0, 0, 0], 1, 1)
    ]
    result = invoke("extract-palette", tmp_path / "a.png", "--max-colors", 2)
    assert result.exit_code == 1 and "more than --max-colors 2" in result.stderr


def test_extract_palette_over_255_colors_uses_16_bit(tmp_path):
    rgb = np.zeros((1, 300, 3), np.uint8)
    rgb[0, :, 0] = np.arange(300) % 256
    rgb[0, :, 1] = np.arange(300) // 256
    write_png(tmp_path / "a.png", rgb)
    result = invoke("extract-palette", tmp_path / "a.png", "--max-colors", 1000, "-o", tmp_path / "p.yaml")
    assert result.exit_code == 0
    data = yaml.safe_load((tmp_path / "p.yaml").read_text())
    assert data["ignore_index"] == 65535 and len(data["classes"]) == 300
    assert invoke("to-index", tmp_path / "a.png", "-o", tmp_path / "i.png", "-p", tmp_path / "p.yaml").exit_code == 0
    mode, arr = read_png(tmp_path / "i.png")
    assert mode.startswith("I;16") and arr.max() == 299


def test_palettes_list_and_show(tmp_path):
    result = invoke("palettes")
    assert result.exit_code == 0
    assert "cityscapes" in result.stdout and "19 classes" in result.stdout
    result = invoke("palettes", "show", "pascal-voc")
    assert "   15  person" in result.stdout and "(224, 224, 192)" in result.stdout
    (tmp_path / "s.yaml").write_text("classes:\n  - {name: a, color: [1, 1, 1]}\n  - {name: b, color: [1, 1, 1]}\n")
    result = invoke("palettes", "show", tmp_path / "s.yaml")
    assert result.exit_code == 0 and "#010101 *" in result.stdout
    assert invoke("palettes", "show", "nope").exit_code == 2


def test_version():
    assert invoke("--version").stdout.strip() == f"maskcli, version {__version__}"


@pytest.mark.parametrize("option", ["-p", "--names-from", "--map"])
def test_a_bad_palette_or_map_file_is_one_error_line_without_usage_lines(tmp_path, option):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nclasses:\n  - {id: 0, name: a, color: [128, 064, 128]}\n")
    write_png(tmp_path / "m" / "a.png", np.zeros((2, 2, 3), np.uint8))
    args = {"-p": ["to-index", tmp_path / "m", "-o", tmp_path / "o", "-p", bad],
            "--names-from": ["extract-palette", tmp_path / "m", "--names-from", bad],
            "--map": ["remap", tmp_path / "m", "-o", tmp_path / "o", "--map", bad]}[option]
    result = invoke(*args)
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"Error: {bad}: line 3") and "064" in lines[0]
    assert not (tmp_path / "o").exists()
