"""Palette files other tools write: detected by name and content, converted to maskcli palettes."""

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from maskcli.cli import cli
from maskcli.errors import PaletteError
from maskcli.palette import load_palette

DATUMARO = "datumaro/tests/assets"


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_label_colors_txt_tolerates_repeated_tabs(tmp_path):
    (tmp_path / "label_colors.txt").write_text("64 128 64\tAnimal\n192 0 128\t\tArchway\n0 0 0  Void\n")
    p = load_palette(tmp_path / "label_colors.txt")
    assert [(c.id, c.name, c.color) for c in p.classes] == [(0, "Animal", (64, 128, 64)), (1, "Archway", (192, 0, 128))]
    assert p.ignore_colors == ((0, 0, 0),)  # Void is an ignore color, not a class


def test_class_dict_csv_with_extra_columns_and_spaces(tmp_path):
    (tmp_path / "labelmap.csv").write_text("name,r,g,b,class_11\nsky, 1, 2, 3, 1\nunlabeled,0,0,0,0\ncar,4,5,6,1\n")
    p = load_palette(tmp_path / "labelmap.csv")
    assert [(c.id, c.name, c.color) for c in p.classes] == [(0, "sky", (1, 2, 3)), (2, "car", (4, 5, 6))]
    assert p.ignore_colors == ((0, 0, 0),)


def test_cvat_labelmap_txt(tmp_path):
    (tmp_path / "labelmap.txt").write_text("# label:color_rgb:parts:actions\nbackground:0,0,0::\nignored:9,9,9::\ncat:64,0,0:head,tail:\n")
    p = load_palette(tmp_path / "labelmap.txt")
    assert [(c.id, c.name, c.color) for c in p.classes] == [(0, "background", (0, 0, 0)), (2, "cat", (64, 0, 0))]
    assert p.ignore_colors == ((9, 9, 9),)


def test_unrecognised_file_is_a_clear_error(tmp_path):
    (tmp_path / "what.txt").write_text("this is not a palette\n")
    with pytest.raises(PaletteError, match="not a palette file maskcli can read"):
        load_palette(tmp_path / "what.txt")
    (tmp_path / "bad.json").write_text('{"foo": 1}')
    with pytest.raises(PaletteError, match="Datumaro dataset_meta.json or a Mapillary config"):
        load_palette(tmp_path / "bad.json")


@pytest.mark.parametrize(
    "palette_file, masks, command, classes",
    [
        ("iizukak-SegNet-Tutorial/CamVid/label_colors.txt", None, None, 11),
        ("maning00-BiSeNet/CamVid/class_dict.csv", None, None, 4),
        (f"{DATUMARO}/synthia_dataset/rand_custom_labelmap/label_colors.txt", f"{DATUMARO}/synthia_dataset/rand_custom_labelmap/GT", "to-index", 5),
        (f"{DATUMARO}/voc_dataset/voc_dataset2/labelmap.txt", f"{DATUMARO}/voc_dataset/voc_dataset1/SegmentationClass", "to-index", 21),
        (f"{DATUMARO}/common_semantic_segmentation_dataset/dataset/dataset_meta.json", f"{DATUMARO}/common_semantic_segmentation_dataset/dataset/masks", "to-index", 5),
        (f"{DATUMARO}/mapillary_vistas_dataset/config_v1.2.json", f"{DATUMARO}/mapillary_vistas_dataset/val/v1.2/labels", "to-rgb", 3),
        (f"{DATUMARO}/kaggle_dataset/image_mask_with_labelmap/labelmap.csv", f"{DATUMARO}/kaggle_dataset/image_mask_with_labelmap/masks", "to-rgb", 3),
    ],
)
def test_corpus_palette_files_load_and_convert_their_masks(corpus, tmp_path, palette_file, masks, command, classes):
    p = load_palette(corpus / palette_file)
    assert len(p.classes) == classes
    converted = invoke("palettes", "convert", corpus / palette_file, tmp_path / "p.yaml")
    assert converted.exit_code == 0
    assert load_palette(tmp_path / "p.yaml") == p  # the YAML says the same
    if masks:
        result = invoke(command, corpus / masks, "-o", tmp_path / "out", "-p", corpus / palette_file)
        assert result.exit_code == 0, result.stderr
        assert "0 failed" in result.stderr


def test_datumaro_meta_keeps_its_ids(corpus):
    p = load_palette(corpus / DATUMARO / "common_semantic_segmentation_dataset/dataset/dataset_meta.json")
    assert [(c.id, c.name) for c in p.classes][:2] == [(1, "Animal"), (2, "Archway")]
    assert p.ignore_colors == ((0, 0, 0),)  # "Void"


def test_palettes_convert_to_stdout():
    result = invoke("palettes", "convert", "pascal-voc", "-")
    assert result.exit_code == 0
    data = yaml.safe_load(result.stdout)
    assert data["name"] == "pascal-voc" and len(data["classes"]) == 21


def test_mode_article_in_messages(tmp_path):
    from conftest import write_png

    write_png(tmp_path / "a.png", np.zeros((2, 2, 3), np.uint8))
    result = invoke("to-rgb", tmp_path / "a.png", "-o", tmp_path / "o.png", "-p", "cityscapes")
    assert "is an RGB 8-bit color image" in result.stderr
