"""maskcli check and maskcli remap."""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from conftest import read_png, write_png
from maskcli.cli import cli
from test_corpus import LABEL_TO_TRAIN

ROAD, CAR = (128, 64, 128), (0, 0, 142)


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_check_counts_classes_and_flags_unknown_colors(tmp_path):
    a = np.full((4, 4, 3), ROAD, np.uint8)
    a[0, :2] = CAR
    write_png(tmp_path / "m/a.png", a)
    b = np.full((4, 4, 3), CAR, np.uint8)
    b[3, 3] = (1, 2, 3)
    write_png(tmp_path / "m/b.png", b)
    write_png(tmp_path / "m/c.png", np.full((2, 8, 3), ROAD, np.uint8))
    result = invoke("check", tmp_path / "m", "-p", "cityscapes", "--report", tmp_path / "r.json")
    assert result.exit_code == 1
    assert f"error: {tmp_path / 'm/b.png'}: 1 unknown color(s) on 1 px: (1, 2, 3) 1 px" in result.stderr
    assert "warning: 1 file(s) differ from the most common size 4x4" in result.stderr
    rows = {line.split()[1]: line.split() for line in result.stdout.splitlines()[1:]}
    assert rows["road"][2:] == ["30", "63.830", "2"] and rows["car"][2:] == ["17", "36.170", "2"]  # % of known px
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["failed"] == 1 and report["passed"] == 2
    assert {c["name"]: (c["pixels"], c["files"]) for c in report["classes"]} == {"road": (30, 2), "car": (17, 2)}
    assert [f["status"] for f in report["files"]] == ["ok", "failed", "ok"]
    assert not any(p.suffix == ".png" for p in tmp_path.glob("*"))  # wrote nothing


def test_check_strict_and_indices(tmp_path):
    write_png(tmp_path / "m/a.png", np.full((4, 4, 3), ROAD, np.uint8))
    write_png(tmp_path / "m/c.png", np.full((2, 8, 3), ROAD, np.uint8))
    assert invoke("check", tmp_path / "m", "-p", "cityscapes").exit_code == 0
    assert invoke("check", tmp_path / "m", "-p", "cityscapes", "--strict").exit_code == 1
    write_png(tmp_path / "i/a.png", np.array([[0, 13], [255, 19]], np.uint8))
    result = invoke("check", tmp_path / "i", "-p", "cityscapes", "--indices")
    assert result.exit_code == 1 and "1 value(s) not in the palette: 19 (1 px)" in result.stderr


def test_check_on_the_corpus(corpus):
    ok = invoke("check", corpus / "PhotographicImageSynthesis/data/cityscapes", "-p", "cityscapes")
    assert ok.exit_code == 0, ok.stderr
    assert "check: 8 ok, 0 failed" in ok.stderr
    bad = invoke("check", corpus / "maning00-BiSeNet/CamVid", "--include", "*_L.png", "-p", "cityscapes")
    assert bad.exit_code == 1 and "(228, 0, 144)" in bad.stderr


def test_remap_cityscapes_label_ids_to_train_ids(tmp_path):
    ids = np.arange(35, dtype=np.uint8).reshape(5, 7)
    write_png(tmp_path / "bad_labelIds.png", ids)  # 34 is not a Cityscapes label id
    write_png(tmp_path / "m/x_labelIds.png", ids[:, :] % 34)
    result = invoke("remap", tmp_path / "m", "-o", tmp_path / "out", "--map", "cityscapes-trainids",
                    "--rename", "_labelIds:_labelTrainIds")
    assert result.exit_code == 0, result.stderr
    expected = np.vectorize(lambda v: LABEL_TO_TRAIN.get(v, 255) if v != 18 else 255)(ids % 34)
    np.testing.assert_array_equal(read_png(tmp_path / "out/x_labelTrainIds.png")[1], expected)
    result = invoke("remap", tmp_path / "bad_labelIds.png", "-o", tmp_path / "o.png", "--map", "cityscapes-trainids")
    assert result.exit_code == 1 and "1 index value the map does not list: 34 (1 px)" in result.stderr


def test_remap_defaults_sixteen_bit_and_palettized(tmp_path):
    write_png(tmp_path / "i.png", np.array([[0, 1, 2, 3]], np.uint8))
    (tmp_path / "keep.yaml").write_text("default: keep\nmap: {1: 0, 2: ignore}\n")
    (tmp_path / "big.yaml").write_text("default: 7\nmap: {0: 1000}\n")
    assert invoke("remap", tmp_path / "i.png", "-o", tmp_path / "k.png", "--map", tmp_path / "keep.yaml").exit_code == 0
    np.testing.assert_array_equal(read_png(tmp_path / "k.png")[1], [[0, 0, 255, 3]])
    assert invoke("remap", tmp_path / "i.png", "-o", tmp_path / "b.png", "--map", tmp_path / "big.yaml").exit_code == 0
    mode, arr = read_png(tmp_path / "b.png")
    assert mode.startswith("I;16")
    np.testing.assert_array_equal(arr, [[1000, 7, 7, 7]])
    write_png(tmp_path / "p.png", np.array([[0, 1, 2]], np.uint8), mode="P", palette=[(0, 0, 0), (9, 9, 9), (7, 7, 7)])
    assert invoke("remap", tmp_path / "p.png", "-o", tmp_path / "po.png", "--map", tmp_path / "keep.yaml").exit_code == 0
    img = Image.open(tmp_path / "po.png")
    assert img.mode == "P" and np.asarray(img).tolist() == [[0, 0, 255]]
    assert img.getpalette()[3:6] == [9, 9, 9]  # the input's PLTE is kept


@pytest.mark.parametrize("text, message", [
    ("map: {a: 1}\n", "map key 'a' is not an integer"),
    ("map: {1: 70000}\n", "map[1] 70000 is outside 0..65535"),
    ("maps: {1: 2}\n", "a map file is a mapping with a 'map'"),
    ("default: maybe\nmap: {1: 2}\n", "default 'maybe' is not an integer"),
])
def test_bad_map_files(tmp_path, text, message):
    (tmp_path / "m.yaml").write_text(text)
    write_png(tmp_path / "i.png", np.zeros((2, 2), np.uint8))
    result = invoke("remap", tmp_path / "i.png", "-o", tmp_path / "o.png", "--map", tmp_path / "m.yaml")
    assert result.exit_code == 2 and message in result.stderr
