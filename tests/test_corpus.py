"""maskcli against real masks made by other projects (../shared/corpus, see its SOURCES.md)."""

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from conftest import SEED_BGR_TO_CLASS, read_png, seed_palette_yaml
from maskcli.cli import cli
from maskcli.masks import read_mask

GTA5 = "FCN-in-the-wild/data/GTA5"
CITYSCAPES = "PhotographicImageSynthesis/data/cityscapes"
# Cityscapes label id -> train id (cityscapesScripts labels.py); everything else is 255.
LABEL_TO_TRAIN = {7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 18: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10,
                  24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18}


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def article_rgb_to_index_mask(rgb_mask, rgb_to_class):
    """The seed article's function, verbatim in behaviour (its input comes from cv2.imread)."""
    class_mask = np.zeros(rgb_mask.shape[:2], dtype=np.uint8)
    for rgb, class_id in rgb_to_class.items():
        class_mask[np.all(rgb_mask == rgb, axis=-1)] = class_id
    return class_mask


def test_seed_article_dictionary_as_an_rgb_palette_reproduces_the_article(corpus, tmp_path):
    (tmp_path / "seed.yaml").write_text(seed_palette_yaml())
    labels = corpus / GTA5 / "train/labels"
    names = [f"0000{i}.png" for i in range(1, 9)]
    result = invoke("to-index", *[labels / n for n in names], "--base", labels, "-o", tmp_path / "out",
                    "-p", tmp_path / "seed.yaml")
    assert result.exit_code == 0, result.stderr
    for name in names:
        article = article_rgb_to_index_mask(cv2.imread(str(labels / name), cv2.IMREAD_COLOR), SEED_BGR_TO_CLASS)
        mode, ours = read_png(tmp_path / "out" / name)
        assert mode == "L"
        np.testing.assert_array_equal(ours, article, err_msg=name)


def test_gta5_val_unknown_colors_are_named_and_the_rest_converted(corpus, tmp_path):
    (tmp_path / "seed.yaml").write_text(seed_palette_yaml())
    result = invoke("to-index", corpus / GTA5, "-o", tmp_path / "out", "-p", tmp_path / "seed.yaml")
    assert result.exit_code == 1
    bad = corpus / GTA5 / "val/labels/00146.png"
    assert (
        f"error: {bad}: 2 unknown colors on 472 px: (255, 0, 0) 290 px first at x=1112 y=404; "
        "(119, 11, 32) 182 px first at x=1102 y=417"
    ) in result.stderr.splitlines()
    assert "to-index: 9 converted, 1 failed" in result.stderr
    assert not (tmp_path / "out/val/labels/00146.png").exists()
    assert (tmp_path / "out/val/labels/00145.png").is_file()


def test_gta5_with_the_cityscapes_builtin_gives_train_ids(corpus, tmp_path):
    result = invoke("to-index", corpus / GTA5, "-o", tmp_path / "out", "-p", "cityscapes")
    assert result.exit_code == 0, result.stderr
    lut = np.full(256, 255, np.uint8)
    for label, train in LABEL_TO_TRAIN.items():
        lut[label] = train
    lut[34] = 13  # GTA5 stores license plate as 34 with car's color (0, 0, 142): decoded as car
    for src in sorted((corpus / GTA5).rglob("*.png")):
        stored = np.asarray(Image.open(src))  # the label ids the file stores
        ours = read_png(tmp_path / "out" / src.relative_to(corpus / GTA5))[1]
        np.testing.assert_array_equal(ours, lut[stored], err_msg=str(src))


def test_cityscapes_color_masks_round_trip(corpus, tmp_path):
    result = invoke("to-index", corpus / CITYSCAPES, "-o", tmp_path / "idx", "-p", "cityscapes")
    assert result.exit_code == 0, result.stderr
    assert "8 converted, 0 failed" in result.stderr
    result = invoke("to-rgb", tmp_path / "idx", "-o", tmp_path / "rgb", "-p", "cityscapes")
    assert result.exit_code == 0, result.stderr
    for src in sorted((corpus / CITYSCAPES).rglob("*.png")):
        rel = src.relative_to(corpus / CITYSCAPES)
        original = np.asarray(Image.open(src).convert("RGB"))
        index = read_png(tmp_path / "idx" / rel)[1]
        back = read_png(tmp_path / "rgb" / rel)[1]
        keep = index != 255
        assert keep.mean() > 0.5
        np.testing.assert_array_equal(back[keep], original[keep], err_msg=str(rel))
        assert (back[~keep] == 0).all()  # ignore is written black


def test_voc_rgb_renders_and_labelme_palettized_masks(corpus, tmp_path):
    renders = sorted((corpus / "DeepLabV3Plus-Pytorch/samples").glob("[0-9]*_target.png"))
    assert len(renders) == 3
    result = invoke("to-index", *renders, "--base", corpus / "DeepLabV3Plus-Pytorch/samples", "-o", tmp_path / "voc",
                    "-p", "pascal-voc")
    assert result.exit_code == 0, result.stderr
    values = np.unique(np.concatenate([read_png(p)[1].ravel() for p in (tmp_path / "voc").iterdir()]))
    assert 255 in values and 0 in values  # boundary (224, 224, 192) -> 255
    labelme = corpus / "labelme/examples/semantic_segmentation/data_dataset_voc/SegmentationClass"
    result = invoke("to-index", labelme, "-o", tmp_path / "lm", "-p", "pascal-voc")
    assert result.exit_code == 0, result.stderr
    for src in sorted(labelme.glob("*.png")):
        stored = np.asarray(Image.open(src))  # VOC colormap PLTE: stored index == class id
        np.testing.assert_array_equal(read_png(tmp_path / "lm" / src.name)[1], stored)


def test_sixteen_bit_instance_ids_are_reported_not_wrapped(corpus, tmp_path):
    src = corpus / "mmsegmentation/tests/data/pseudo_cityscapes_dataset/gtFine/val/frankfurt/frankfurt_000000_000294_gtFine_instanceIds.png"
    assert read_mask(src).array.dtype == np.uint16
    result = invoke("to-rgb", src, "-o", tmp_path / "x.png", "-p", "cityscapes")
    assert result.exit_code == 1
    assert "26002 (1572 px)" in result.stderr and "not in the palette" in result.stderr
    every = invoke("to-rgb", src, "-o", tmp_path / "x.png", "-p", "cityscapes", "-v")
    assert "24000" in every.stderr and "more" not in every.stderr


def test_extract_palette_on_cityscapes_finds_only_cityscapes_colors(corpus, tmp_path):
    import yaml

    from maskcli.palette import load_palette

    result = invoke("extract-palette", corpus / CITYSCAPES / "Label1024Full")
    assert result.exit_code == 0, result.stderr
    found = {tuple(c["color"]) for c in yaml.safe_load(result.stdout)["classes"]}
    known = set(dict(load_palette("cityscapes").decode_pairs()))
    assert 12 <= len(found) and found <= known


@pytest.mark.parametrize("name", ["labelme/examples/semantic_segmentation/data_dataset_voc/SegmentationClassVisualization/2011_000003.jpg"])
def test_a_jpeg_overlay_is_refused_with_its_colors(corpus, tmp_path, name):
    result = invoke("to-index", corpus / name, "-o", tmp_path / "x.png", "-p", "pascal-voc")
    assert result.exit_code == 1
    assert "unknown colors" in result.stderr and " more (-v lists 1000)" in result.stderr  # 17,744 colors
