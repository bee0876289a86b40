"""maskcli.IndexLoader: one file to class indices per call, for a data loader's __getitem__."""

import pickle

import numpy as np
import pytest
from PIL import Image

import maskcli
from maskcli.errors import UnknownColorsError, WrongKindError

CITY = maskcli.load_palette("cityscapes")


def _street(seed=0, shape=(40, 64)):
    rng = np.random.default_rng(seed)
    colors = np.array([c.color for c in CITY.classes][:8], dtype=np.uint8)
    return colors[rng.integers(0, len(colors), shape)]


def test_a_color_file_gives_what_rgb_to_index_and_the_cli_give(tmp_path):
    from click.testing import CliRunner

    from maskcli.cli import cli

    rgb = _street()
    Image.fromarray(rgb).save(tmp_path / "m.png")
    loader = maskcli.IndexLoader(CITY)
    got = loader(tmp_path / "m.png")
    assert np.array_equal(got, maskcli.rgb_to_index(rgb, CITY))
    assert np.array_equal(loader.from_array(rgb), got)
    assert np.array_equal(loader.from_bytes((tmp_path / "m.png").read_bytes()), got)
    CliRunner().invoke(cli, ["to-index", str(tmp_path / "m.png"), "-o", str(tmp_path / "o.png"), "-p", "cityscapes", "-q"],
                       catch_exceptions=False)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "o.png")), got)


def test_a_palettized_file_reads_through_its_plte(tmp_path):
    colors = np.array([c.color for c in CITY.classes][:4], dtype=np.uint8)
    idx = np.random.default_rng(1).integers(0, 4, (20, 30)).astype(np.uint8)
    img = Image.fromarray(idx, "P")
    img.putpalette(colors.reshape(-1).tolist())
    img.save(tmp_path / "p.png")
    got = maskcli.IndexLoader(CITY)(tmp_path / "p.png")
    assert np.array_equal(got, maskcli.rgb_to_index(colors[idx], CITY))


def test_it_pickles_without_its_tables_and_works_after(tmp_path):
    rgb = _street(2)
    loader = maskcli.IndexLoader(CITY)
    first = loader.from_array(rgb)  # tables built
    blob = pickle.dumps(loader)
    assert len(blob) < 1_000_000  # not the 16 MiB table
    again = pickle.loads(blob)
    assert again._tables is None
    assert np.array_equal(again.from_array(rgb), first)


def test_unknown_colors_and_policies(tmp_path):
    rgb = _street(3)
    rgb[0, 0] = (1, 2, 3)
    Image.fromarray(rgb).save(tmp_path / "u.png")
    with pytest.raises(UnknownColorsError) as info:
        maskcli.IndexLoader(CITY)(tmp_path / "u.png")
    if hasattr(info.value, "__notes__"):
        assert info.value.__notes__ == [f"file: {tmp_path / 'u.png'}"]
    got = maskcli.IndexLoader(CITY, unknown="ignore")(tmp_path / "u.png")
    assert got[0, 0] == CITY.ignore_index
    assert np.array_equal(got, maskcli.rgb_to_index(rgb, CITY, unknown="ignore"))


def test_transparent_pixels_need_alpha_ignore(tmp_path):
    rgba = np.dstack([_street(4), np.full((40, 64), 255, np.uint8)])
    rgba[:2, :2, 3] = 0
    Image.fromarray(rgba, "RGBA").save(tmp_path / "t.png")
    with pytest.raises(WrongKindError, match="transparent"):
        maskcli.IndexLoader(CITY)(tmp_path / "t.png")
    got = maskcli.IndexLoader(CITY, alpha="ignore")(tmp_path / "t.png")
    assert (got[:2, :2] == CITY.ignore_index).all()


def test_an_index_mask_and_bad_arguments_are_refused(tmp_path):
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "i.png")
    with pytest.raises(WrongKindError, match="index mask already"):
        maskcli.IndexLoader(CITY)(tmp_path / "i.png")
    with pytest.raises(ValueError):
        maskcli.IndexLoader(CITY, alpha="maybe")
    with pytest.raises(ValueError):
        maskcli.IndexLoader(CITY).from_array(np.zeros((4, 4), np.uint8))
