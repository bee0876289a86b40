"""extract-palette at dataset scale: rare colors, noise, identifying datasets, --names-from."""

import numpy as np
import yaml
from click.testing import CliRunner
from PIL import Image

from conftest import write_png
from maskcli.cli import cli
from maskcli.extract import build_palette, drop_rare, identify, probable_noise
from maskcli.palette import load_palette

GTA5 = "FCN-in-the-wild/data/GTA5"


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_drop_rare_counts_what_it_dropped():
    colors = {(1, 1, 1): [100, 5], (2, 2, 2): [3, 1], (3, 3, 3): [50, 1]}
    kept, n, px = drop_rare(colors, min_pixels=10, min_files=2)
    assert kept == {(1, 1, 1): [100, 5]} and (n, px) == (2, 53)


def test_noise_near_and_between_frequent_colors():
    colors = {(0, 0, 0): [50_000, 3], (200, 0, 0): [50_000, 3], (0, 0, 255): [40_000, 3],
              (100, 1, 0): [5, 1],   # on the segment black - red: a blend
              (3, 250, 0): [5, 1],   # far from everything: a real rare class
              (0, 4, 250): [4, 1]}   # within 12 of blue
    noise = probable_noise(colors)
    assert set(noise) == {(100, 1, 0), (0, 4, 250)}
    assert noise[(100, 1, 0)] == "between (0, 0, 0) and (200, 0, 0)"
    assert probable_noise(colors, known={(100, 1, 0)}).keys() == {(0, 4, 250)}


def test_names_from_keeps_ids_and_numbers_new_colors_above():
    city = load_palette("cityscapes")
    colors = {(128, 64, 128): [10, 1], (0, 0, 142): [5, 1], (0, 0, 0): [7, 1], (9, 9, 9): [1, 1], (8, 8, 8): [2, 1]}
    palette, new = build_palette(colors, names_from=city)
    assert [(c.id, c.name) for c in palette.classes] == [(0, "road"), (13, "car"), (19, "class_19"), (20, "class_20")]
    assert palette.ignore_index == 255 and palette.ignore_colors == city.ignore_colors
    assert new == [(8, 8, 8), (9, 9, 9)]


def test_identify_reports_channel_swaps():
    city = load_palette("cityscapes")
    colors = {c.color: [1, 1] for c in city.classes}
    assert identify(colors, {"cityscapes": city})[0].describe() == "all 19 colors belong to cityscapes"
    swapped = {(b, g, r): v for (r, g, b), v in colors.items()}
    match = identify(swapped, {"cityscapes": city})[0]
    assert match.swapped and "channels reversed" in match.describe()


def test_gta5_folder_is_recognised(corpus):
    result = invoke("extract-palette", corpus / GTA5)
    assert result.exit_code == 0
    assert "match: all 22 colors belong to cityscapes" in result.stderr
    assert "match: all 22 colors belong to gta5" in result.stderr
    assert "noise" not in result.stderr  # bicycle is rare, but a known class


def test_channel_swapped_masks_are_called_so(corpus, tmp_path):
    for name in ("00001", "00002"):
        rgb = np.asarray(Image.open(corpus / GTA5 / f"train/labels/{name}.png").convert("RGB"))
        write_png(tmp_path / f"{name}.png", rgb[..., ::-1])
    result = invoke("extract-palette", tmp_path)
    assert "with the channels reversed (the masks were probably written from BGR arrays)" in result.stderr


def test_min_pixels_makes_a_resized_mask_usable(corpus, tmp_path):
    src = corpus / "DeepLabV3Plus-Pytorch/samples/city_1_target.png"
    assert invoke("extract-palette", src).exit_code == 1  # thousands of colors
    result = invoke("extract-palette", src, "--min-pixels", 200, "--max-colors", 40, "-o", tmp_path / "p.yaml")
    assert result.exit_code == 0, result.stderr
    assert "dropped 3390 rare color(s), 11685 px" in result.stderr
    data = yaml.safe_load((tmp_path / "p.yaml").read_text())
    assert len(data["classes"]) == 16


def test_names_from_on_the_corpus(corpus, tmp_path):
    result = invoke("extract-palette", corpus / "PhotographicImageSynthesis/data/GTA", "--names-from", "cityscapes", "-o", tmp_path / "p.yaml")
    assert result.exit_code == 0, result.stderr
    data = yaml.safe_load((tmp_path / "p.yaml").read_text())
    assert data["classes"][0]["name"] == "road" and data["ignore_index"] == 255
    assert all(not c["name"].startswith("class_") for c in data["classes"])


def test_legend_image_and_colored_rows(tmp_path):
    result = invoke("palettes", "show", "cityscapes", "--legend", tmp_path / "legend.png", "--color")
    assert result.exit_code == 0
    assert "\x1b[48;2;128;64;128m" in result.stdout  # road's swatch
    img = np.asarray(Image.open(tmp_path / "legend.png").convert("RGB"))
    assert img.shape[0] >= 20 * 20  # 19 classes + ignore
    colors = {tuple(int(v) for v in px) for px in img.reshape(-1, 3)}
    city = load_palette("cityscapes")
    assert all(c.color in colors for c in city.classes)  # every class shows its color
    plain = invoke("palettes", "show", "cityscapes", "--no-color")
    assert "\x1b[" not in plain.stdout


def test_text_color_contrast():
    from maskcli.show import text_color

    assert text_color((255, 255, 0)) == (0, 0, 0)
    assert text_color((0, 0, 142)) == (255, 255, 255)
    assert text_color((255, 255, 255)) == (0, 0, 0)
