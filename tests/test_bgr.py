"""Masks saved with OpenCV from RGB arrays (cv2.imwrite takes arrays as BGR, so the files hold
red and blue swapped): to-index and check say so where it happens, and --channel-order bgr
reads them right. The files here are written with cv2.imwrite itself, as people do."""

import json
import pickle
import subprocess
import sys

import cv2
import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from conftest import read_png, write_png
from maskcli import load_palette
from maskcli.check import CheckSettings
from maskcli.cli import cli
from maskcli.masks import read_mask
from maskcli.tasks import Settings

HINT = "they are palette colors with red and blue swapped: saved from an RGB array with OpenCV? try --channel-order bgr"


def invoke(*args, input=None):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False, input=input)


def city_colors():
    """Cityscapes' train classes: id -> RGB, for ids 0..18."""
    palette = load_palette("cityscapes")
    by_id = {value: color for color, value in palette.decode_pairs()}
    return np.array([by_id[i] for i in range(19)], np.uint8)


def saved_with_cv2(folder, n=3, size=(40, 56), seed=0):
    """Index masks and the RGB masks made from them, saved the way the seed article does:
    cv2.imwrite of an RGB array. Returns {name: index}."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    colors = city_colors()
    made = {}
    for i in range(n):
        index = np.repeat(rng.integers(0, 19, (size[0] // 4, size[1])), 4, axis=0).astype(np.uint8)
        rgb = colors[index]
        assert cv2.imwrite(str(folder / f"m{i}.png"), rgb)  # the mistake: an RGB array, no conversion
        made[f"m{i}.png"] = index
    return made


def test_files_written_with_cv2_from_rgb_really_are_swapped(tmp_path):
    made = saved_with_cv2(tmp_path / "m", n=1)
    _, stored = read_png(tmp_path / "m/m0.png")  # Pillow, not maskcli
    np.testing.assert_array_equal(stored, city_colors()[made["m0.png"]][..., ::-1])


def test_to_index_names_the_mistake_and_the_option(tmp_path):
    saved_with_cv2(tmp_path / "m")
    result = invoke("to-index", tmp_path / "m", "-o", tmp_path / "out", "-p", "cityscapes", "-j", 1)
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 3
    assert all(line.endswith(f"({HINT})") for line in errors), result.stderr
    assert "unknown colors on" in errors[0]


@pytest.mark.parametrize("jobs", [1, 2])
def test_channel_order_bgr_reads_them_right(tmp_path, jobs):
    made = saved_with_cv2(tmp_path / "m")
    result = invoke("to-index", tmp_path / "m", "-o", tmp_path / "out", "-p", "cityscapes",
                    "--channel-order", "bgr", "-j", jobs)
    assert result.exit_code == 0, result.stderr
    for name, index in made.items():
        mode, arr = read_png(tmp_path / "out" / name)
        assert mode == "L"
        np.testing.assert_array_equal(arr, index)


def test_the_same_bytes_with_one_worker_and_two_in_real_processes(tmp_path):
    saved_with_cv2(tmp_path / "m", n=4)
    outputs = {}
    for jobs in ("1", "2"):
        out = tmp_path / f"j{jobs}"
        done = subprocess.run([sys.executable, "-m", "maskcli", "to-index", str(tmp_path / "m"), "-o", str(out),
                               "-p", "cityscapes", "--channel-order", "bgr", "-j", jobs, "-q"],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        outputs[jobs] = {p.name: p.read_bytes() for p in out.iterdir()}
    assert len(outputs["1"]) == 4 and outputs["1"] == outputs["2"]


def test_check_names_the_mistake_and_passes_with_the_option(tmp_path):
    made = saved_with_cv2(tmp_path / "m")
    result = invoke("check", tmp_path / "m", "-p", "cityscapes", "-j", 1)
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 3 and all(line.endswith(f"({HINT})") for line in errors), result.stderr
    for jobs in (1, 2):
        result = invoke("check", tmp_path / "m", "-p", "cityscapes", "--channel-order", "bgr", "-j", jobs,
                        "--report", tmp_path / f"r{jobs}.json")
        assert result.exit_code == 0, result.stderr
        classes = json.loads((tmp_path / f"r{jobs}.json").read_text())["classes"]
        expected = np.bincount(np.concatenate([i.ravel() for i in made.values()]), minlength=19)
        assert {c["id"]: c["pixels"] for c in classes} == {i: int(n) for i, n in enumerate(expected) if n}


def test_no_hint_when_the_unknown_colors_are_not_swapped_palette_colors(tmp_path):
    colors = city_colors()
    rgb = colors[np.zeros((8, 8), np.uint8)]
    rgb[:2] = (1, 2, 3)  # off-palette either way
    rgb[2, 0] = colors[11][::-1]  # one swapped pixel: a minority of the unknown ones
    write_png(tmp_path / "m/a.png", rgb)
    for command in (["to-index", "-o", tmp_path / "out"], ["check"]):
        result = invoke(command[0], tmp_path / "m", *command[1:], "-p", "cityscapes", "-j", 1)
        assert result.exit_code == 1
        assert "unknown colo" in result.stderr and "swapped" not in result.stderr


def test_an_rgb_file_read_as_bgr_gets_the_hint_back(tmp_path):
    write_png(tmp_path / "a.png", city_colors()[np.arange(19, dtype=np.uint8).reshape(1, 19)])  # Pillow: RGB
    result = invoke("to-index", tmp_path / "a.png", "-o", tmp_path / "o.png", "-p", "cityscapes", "--channel-order", "bgr")
    assert result.exit_code == 1
    assert "they are palette colors with red and blue swapped: try without --channel-order bgr" in result.stderr


def test_rgba_and_palettized_files_with_swapped_channels(tmp_path):
    colors = city_colors()
    index = np.tile(np.arange(19, dtype=np.uint8), (3, 1))
    rgba = np.dstack([colors[index], np.full(index.shape, 255, np.uint8)])
    rgba[0, 0, 3] = 0
    (tmp_path / "m").mkdir()
    assert cv2.imwrite(str(tmp_path / "m/rgba.png"), rgba)  # RGBA array taken as BGRA
    write_png(tmp_path / "m/pal.png", index, mode="P", palette=[tuple(c[::-1]) for c in colors])  # a BGR PLTE
    result = invoke("to-index", tmp_path / "m", "-o", tmp_path / "out", "-p", "cityscapes", "--alpha", "ignore",
                    "--channel-order", "bgr", "-j", 1)
    assert result.exit_code == 0, result.stderr
    _, out = read_png(tmp_path / "out/rgba.png")
    expected = index.copy()
    expected[0, 0] = 255  # transparent: the ignore index
    np.testing.assert_array_equal(out, expected)
    _, out = read_png(tmp_path / "out/pal.png")
    np.testing.assert_array_equal(out, index)
    mask = read_mask(tmp_path / "m/pal.png", "bgr")
    np.testing.assert_array_equal(mask.colors[:19], colors)
    result = invoke("to-index", tmp_path / "m/pal.png", "-o", tmp_path / "p.png", "-p", "cityscapes")
    assert result.exit_code == 1 and HINT in result.stderr


def test_extract_palette_reads_them_right_with_the_option(tmp_path):
    saved_with_cv2(tmp_path / "m")
    result = invoke("extract-palette", tmp_path / "m", "-o", tmp_path / "swapped.yaml", "-j", 1)
    assert result.exit_code == 0
    assert "with the channels reversed" in result.stderr
    assert "hint: red and blue are swapped in these files (saved from RGB arrays with OpenCV?): try --channel-order bgr" in result.stderr
    for jobs in (1, 2):
        result = invoke("extract-palette", tmp_path / "m", "-o", tmp_path / "p.yaml", "--channel-order", "bgr", "-j", jobs)
        assert result.exit_code == 0, result.stderr
        assert "match: all 19 colors belong to cityscapes: use -p cityscapes\n" in result.stderr
        assert "hint:" not in result.stderr
        found = {tuple(c["color"]) for c in yaml.safe_load((tmp_path / "p.yaml").read_text())["classes"]}
        assert found == {tuple(int(v) for v in c) for c in city_colors()}


def test_index_masks_ignore_the_option_and_stdin_takes_it(tmp_path):
    index = np.array([[0, 1], [18, 255]], np.uint8)
    write_png(tmp_path / "i.png", index)
    result = invoke("check", tmp_path / "i.png", "--indices", "-p", "cityscapes", "--channel-order", "bgr",
                    "--report", tmp_path / "r.json")
    assert result.exit_code == 0, result.stderr
    assert json.loads((tmp_path / "r.json").read_text())["files"][0]["values"] == {"0": 1, "1": 1, "18": 1, "255": 1}
    saved_with_cv2(tmp_path / "m", n=1)
    result = CliRunner().invoke(cli, ["to-index", "-", "-o", "-", "-p", "cityscapes", "--channel-order", "bgr"],
                                input=(tmp_path / "m/m0.png").read_bytes(), catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    assert result.stdout_bytes.startswith(b"\x89PNG")


def test_the_option_travels_with_the_settings_and_is_documented(tmp_path):
    assert pickle.loads(pickle.dumps(Settings("to-index", None, channel_order="bgr"))).channel_order == "bgr"
    assert CheckSettings(None, channel_order="bgr").channel_order == "bgr"
    for command in ("to-index", "check", "extract-palette"):
        assert "--channel-order [rgb|bgr]" in invoke(command, "--help").output
    result = invoke("to-index", tmp_path, "-o", tmp_path / "o", "-p", "cityscapes", "--channel-order", "grb")
    assert result.exit_code == 2
