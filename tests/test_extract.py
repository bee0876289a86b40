"""extract-palette at dataset scale: rare colors, noise, identifying datasets, --names-from."""

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from PIL import Image

from conftest import write_png
from maskcli.cli import cli
from maskcli.extract import TooManyColors, build_palette, drop_rare, identify, palette_text, probable_noise
from maskcli.palette import Palette, PaletteClass, load_palette

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
    assert identify(colors, {"cityscapes": city})[0].describe() == "all 19 colors belong to cityscapes: use -p cityscapes"
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


# --------------------------------------------------------------------------- messages, ranking, never invalid


def distinct_colors(n, width=300):
    """An (H, width, 3) mask whose first n pixels are n distinct colors (the rest black)."""
    v = np.zeros(-(-n // width) * width, np.uint32)
    v[:n] = np.arange(n, dtype=np.uint32) + 1
    v[0] = 0
    rgb = np.stack([v & 255, (v >> 8) & 255, (v >> 16) & 255], -1).astype(np.uint8)
    return rgb.reshape(-1, width, 3)


def test_voc_masks_name_pascal_voc_first_and_say_use_p(corpus, tmp_path):
    # the datumaro VOC mask's one color is also coco-stuff's: the smaller palette wins the tie
    voc = [corpus / "datumaro/tests/assets/voc_dataset/voc_dataset1/SegmentationClass",
           corpus / "labelme/examples/semantic_segmentation/data_dataset_voc/SegmentationClass"]
    for inputs in ([voc[0]], voc):
        result = invoke("extract-palette", *inputs, "-o", tmp_path / "p.yaml")
        assert result.exit_code == 0, result.stderr
        matches = [line for line in result.stderr.splitlines() if line.startswith("match: ")]
        assert matches[0].startswith("match: all ") and matches[0].endswith(
            " colors belong to pascal-voc: use -p pascal-voc")
        text = (tmp_path / "p.yaml").read_text()
        assert "# these colors are all in the built-in palette pascal-voc: use -p pascal-voc\n" in text


def test_identify_ranks_the_smallest_palette_that_knows_every_color_first():
    voc, coco = load_palette("pascal-voc"), load_palette("coco-stuff")
    colors = {voc.classes[1].color: [5, 1], voc.classes[0].color: [5, 1]}
    assert {colors.keys() <= set(dict(p.decode_pairs())) for p in (voc, coco)} == {True}
    assert [m.palette for m in identify(colors, {"coco-stuff": coco, "pascal-voc": voc})] == ["pascal-voc", "coco-stuff"]


def test_partial_or_swapped_matches_do_not_say_use_p():
    city = load_palette("cityscapes")
    colors = {c.color: [1, 1] for c in city.classes[:4]} | {(1, 2, 3): [1, 1]}
    assert "use -p" not in identify(colors, {"cityscapes": city})[0].describe()
    swapped = {(b, g, r): v for (r, g, b), v in colors.items() if (r, g, b) != (1, 2, 3)}
    assert "use -p" not in identify(swapped, {"cityscapes": city})[0].describe()


def test_names_from_lists_ten_new_colors_and_says_how_many_more(tmp_path):
    mask = distinct_colors(13, width=13)  # black (cityscapes' ignore color) and 12 new colors
    write_png(tmp_path / "in" / "a.png", mask)
    result = invoke("extract-palette", tmp_path / "in", "--names-from", "cityscapes", "-o", tmp_path / "p.yaml")
    assert result.exit_code == 0, result.stderr
    line = next(line for line in result.stderr.splitlines() if "not in cityscapes" in line)
    assert line.startswith("12 color(s) not in cityscapes, given new ids: ") and line.endswith(" (and 2 more)")
    assert line.count("), (") == 9  # ten shown
    header = (tmp_path / "p.yaml").read_text().split("\nname:")[0]
    assert "# names from cityscapes; the 12 new color(s) have placeholder names (class_N): rename them" in header
    assert "class names are placeholders" not in header


def test_names_from_that_names_every_color_says_no_placeholders(tmp_path):
    write_png(tmp_path / "a.png", np.array([[[128, 64, 128], [0, 0, 142]]], np.uint8))
    result = invoke("extract-palette", tmp_path / "a.png", "--names-from", "cityscapes")
    assert result.exit_code == 0, result.stderr
    assert "placeholder" not in result.stdout
    assert "# names from cityscapes\n" in result.stdout
    assert "# these colors are all in cityscapes: use -p cityscapes\n" in result.stdout


def test_noise_list_says_how_many_more(tmp_path):
    mask = np.zeros((200, 200, 3), np.uint8)
    mask[:, 100:] = (200, 0, 0)
    for i in range(14):  # 14 one-pixel near-black colors: probable noise, 10 listed
        mask[i, 0] = (i + 1, 0, 0)
    write_png(tmp_path / "a.png", mask)
    result = invoke("extract-palette", tmp_path / "a.png")
    assert result.exit_code == 0, result.stderr
    assert "14 color(s), 14 px, are probable anti-aliasing / resampling noise (marked noise?):" in result.stderr
    assert "\n  ... and 4 more\n" in result.stderr


def test_more_colors_than_16_bit_ids_is_an_error_and_writes_nothing(tmp_path):
    write_png(tmp_path / "many.png", distinct_colors(90_000))
    result = invoke("extract-palette", tmp_path / "many.png", "--max-colors", 100_000, "-o", tmp_path / "p.yaml")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "Error: 90000 colors: an index mask holds at most 65535 classes besides the ignore index (16 bits); "
        "no palette written (raise --min-pixels / --min-files: these are probably not label masks)")
    assert not (tmp_path / "p.yaml").exists()


def test_build_palette_ids_skip_the_ignore_index_and_stop_at_16_bits():
    base = Palette("base", (PaletteClass(0, "a", (1, 1, 1)),), ignore_index=3)
    colors = {(9, 9, i): [1, 1] for i in range(5)}
    palette, new = build_palette(colors, names_from=base)
    assert [c.id for c in palette.classes] == [1, 2, 4, 5, 6]
    top = Palette("top", (PaletteClass(65530, "a", (1, 1, 1)),), ignore_index=65533)
    with pytest.raises(TooManyColors, match=r"5 colors are not in top, but only 4 ids are free above its highest id 65530"):
        build_palette(colors, names_from=top)
    many = {(i & 255, i >> 8, 7): [1, 1] for i in range(65536)}
    with pytest.raises(TooManyColors, match="^65536 colors: an index mask holds at most 65535 classes"):
        build_palette(many)


def test_an_invalid_palette_is_never_written():
    bad = Palette("bad", (PaletteClass(255, "a", (1, 1, 1)),), ignore_index=255)
    with pytest.raises(TooManyColors, match=r"no palette written: it would not be valid \(the extracted palette: "
                                            r"classes\[0\] \('a'\): id 255 is the ignore_index\)"):
        palette_text(bad, header="")


def test_max_colors_help_shows_a_metavar():
    result = invoke("extract-palette", "--help")
    assert "--max-colors N" in result.stdout and "INTEGER RANGE" not in result.stdout
