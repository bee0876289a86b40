"""maskcli overlay: the blend formula, pairing (Cityscapes, VOC, ADE20K layouts), options.

Expected overlays are computed here independently of maskcli's code: the formula
round_half_up((1 - A) * photo + A * color) is evaluated with Python floats and rounded with
decimal.Decimal(x).quantize(ROUND_HALF_UP) (Decimal(x) is the exact value of the double), for
each distinct (photo, color) value pair of an image; masks and photos are read with Pillow.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from conftest import write_png
from maskcli.cli import cli
from maskcli.palette import load_palette

CITYSCAPES = "PhotographicImageSynthesis/data/cityscapes"
VOC = "labelme/examples/semantic_segmentation/data_dataset_voc"


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def half_up(x: float) -> int:
    return int(Decimal(x).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def expected_overlay(photo: np.ndarray, colors: np.ndarray, labeled: np.ndarray, alpha: float) -> np.ndarray:
    """The documented formula, value pair by value pair (not maskcli's code)."""
    p = photo.astype(np.int64).reshape(-1)
    c = colors.astype(np.int64).reshape(-1)
    pairs, inverse = np.unique(c * 256 + p, return_inverse=True)
    values = np.array([half_up((1 - alpha) * float(k % 256) + alpha * float(k // 256)) for k in pairs.tolist()])
    mixed = values[inverse.reshape(-1)].reshape(photo.shape).astype(np.uint8)
    return np.where(labeled[..., None], mixed, photo)


def random_photo(shape, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (*shape, 3), dtype=np.uint8)


def gradient_photo(shape) -> np.ndarray:
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([xx * 255 // max(1, w - 1), yy * 255 // max(1, h - 1), (xx + yy) % 256], -1).astype(np.uint8)


def read_rgb(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def ignore_mask(rgb: np.ndarray, palette) -> np.ndarray:
    keys = rgb.astype(np.int64) @ np.array([1 << 16, 1 << 8, 1])
    ignore = [r << 16 | g << 8 | b for r, g, b in palette.ignore_colors]
    return np.isin(keys, ignore)


# --------------------------------------------------------------------------- the formula


@pytest.mark.parametrize("alpha", [0.5, 0.25, 0.3, 0.7, 0.1, 1.0, 0.0])
def test_blend_equals_the_formula_for_every_value_pair(alpha):
    from maskcli.overlay import blend

    photo = np.tile(np.arange(256, dtype=np.uint8), (256, 1))  # every photo value against
    colors = photo.T.copy()  # every color value
    photo3, colors3 = np.repeat(photo[..., None], 3, -1), np.repeat(colors[..., None], 3, -1)
    labeled = np.ones(photo.shape, bool)
    labeled[::7] = False
    out = blend(photo3, colors3, labeled, alpha)
    assert np.array_equal(out, expected_overlay(photo3, colors3, labeled, alpha))


def test_halves_round_up_not_to_even():
    from maskcli.overlay import blend

    photo = np.full((1, 2, 3), 2, np.uint8)
    colors = np.full((1, 2, 3), 5, np.uint8)  # (2 + 5) / 2 = 3.5 -> 4 (half-to-even would say 4 too)
    colors[0, 1] = 3  # (2 + 3) / 2 = 2.5 -> 3 (half-to-even: 2)
    out = blend(photo, colors, np.ones((1, 2), bool), 0.5)
    assert out[0, 0].tolist() == [4, 4, 4] and out[0, 1].tolist() == [3, 3, 3]


# --------------------------------------------------------------------------- real masks


def cityscapes_tree(corpus, tmp_path, files):
    """gtFine/val/frankfurt/*_gtFine_color.png (corpus masks) + leftImg8bit photos made here."""
    photos = {}
    for i, rel in enumerate(files):
        name = f"frankfurt_000000_{i:06d}"
        mask = tmp_path / "gtFine/val/frankfurt" / f"{name}_gtFine_color.png"
        mask.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(corpus / CITYSCAPES / rel, mask)
        if i == 2:  # the official *_gtFine_color.png files are RGBA (opaque)
            Image.open(mask).convert("RGBA").save(mask)
        shape = read_rgb(mask).shape[:2]
        photo = random_photo(shape, i) if i % 2 == 0 else gradient_photo(shape)
        photos[mask] = photo
        write_png(tmp_path / "leftImg8bit/val/frankfurt" / f"{name}_leftImg8bit.png", photo)
    return photos


def test_cityscapes_color_masks_from_the_corpus_blend_exactly(corpus, tmp_path):
    files = ["Label256Full/00100027.png", "Label512Full/00100027.png", "Label1024Full/00100167.png"]
    photos = cityscapes_tree(corpus, tmp_path, files)
    result = invoke("overlay", tmp_path / "gtFine", "--images", tmp_path / "leftImg8bit", "-o", tmp_path / "out",
                    "-p", "cityscapes", "--pair", "_gtFine_color:_leftImg8bit", "-j", "1")
    assert result.exit_code == 0, result.stderr
    palette = load_palette("cityscapes")
    for mask, photo in photos.items():
        rgb = read_rgb(mask)
        out = read_rgb(tmp_path / "out" / mask.relative_to(tmp_path / "gtFine"))
        assert np.array_equal(out, expected_overlay(photo, rgb, ~ignore_mask(rgb, palette), 0.5))


def test_cityscapes_jpeg_output_is_the_png_overlay_encoded(corpus, tmp_path):
    cityscapes_tree(corpus, tmp_path, ["Label512Full/00100027.png"])
    common = ["--images", tmp_path / "leftImg8bit", "-p", "cityscapes", "--pair", "_gtFine_color:_leftImg8bit",
              "--alpha", "0.3"]
    assert invoke("overlay", tmp_path / "gtFine", "-o", tmp_path / "png", *common).exit_code == 0
    result = invoke("overlay", tmp_path / "gtFine", "-o", tmp_path / "jpg", "--format", "jpeg", "--quality", "95", *common)
    assert result.exit_code == 0, result.stderr
    rel = "val/frankfurt/frankfurt_000000_000000_gtFine_color"
    jpeg = tmp_path / "jpg" / f"{rel}.jpg"
    assert Image.open(jpeg).format == "JPEG"
    png, jpg = read_rgb(tmp_path / "png" / f"{rel}.png"), read_rgb(jpeg)
    assert png.shape == jpg.shape
    import cv2  # the same JPEG encoder at the same quality: the JPEG is the PNG overlay, encoded

    ok, again = cv2.imencode(".jpg", np.ascontiguousarray(png[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok and np.array_equal(jpg, np.asarray(Image.open(io.BytesIO(again.tobytes())).convert("RGB")))


def test_voc_masks_from_the_corpus_on_generated_jpegs(corpus, tmp_path):
    voc = tmp_path / "VOC2012"
    shutil.copytree(corpus / VOC / "SegmentationClass", voc / "SegmentationClass")
    photos = {}
    for i, mask in enumerate(sorted((voc / "SegmentationClass").glob("*.png"))):
        w, h = Image.open(mask).size
        (voc / "JPEGImages").mkdir(exist_ok=True)
        Image.fromarray(gradient_photo((h, w)) if i % 2 else random_photo((h, w), i)).save(
            voc / "JPEGImages" / f"{mask.stem}.jpg", quality=90)
        photos[mask] = read_rgb(voc / "JPEGImages" / f"{mask.stem}.jpg")  # what the JPEG decodes to
    assert len(photos) == 3
    result = invoke("overlay", voc / "SegmentationClass", "--images", voc / "JPEGImages", "-o", tmp_path / "out",
                    "-p", "pascal-voc")
    assert result.exit_code == 0, result.stderr
    for mask, photo in photos.items():
        stored = np.asarray(Image.open(mask))  # P: the stored indices
        plte = np.array(Image.open(mask).getpalette()[:768], np.uint8).reshape(-1, 3)
        expected = expected_overlay(photo, plte[stored], stored != 255, 0.5)
        out = read_rgb(tmp_path / "out" / f"{mask.stem}.png")
        diff = np.abs(out.astype(int) - expected.astype(int))
        assert diff.max() <= 1  # two JPEG decoders (Pillow's and OpenCV's) may differ by 1
        assert (diff == 0).mean() > 0.99
    embedded = invoke("overlay", voc / "SegmentationClass", "--images", voc / "JPEGImages", "-o", tmp_path / "emb",
                      "-p", "embedded")
    assert embedded.exit_code == 0, embedded.stderr
    for mask in photos:
        assert np.array_equal(read_rgb(tmp_path / "emb" / f"{mask.stem}.png"), read_rgb(tmp_path / "out" / f"{mask.stem}.png"))


def test_ade20k_layout_index_masks(tmp_path):
    ade = tmp_path / "ADEChallengeData2016"
    rng = np.random.default_rng(3)
    index = rng.integers(0, 151, (40, 60)).astype(np.uint8)  # 0 = ignore, 1..150 classes
    write_png(ade / "annotations/training/ADE_train_00000001.png", index)
    photo = random_photo(index.shape, 9)
    (ade / "images/training").mkdir(parents=True)
    Image.fromarray(photo).save(ade / "images/training/ADE_train_00000001.png")  # lossless: exact check
    result = invoke("overlay", ade / "annotations", "--images", ade / "images", "-o", tmp_path / "out",
                    "-p", "ade20k", "--alpha", "0.6")
    assert result.exit_code == 0, result.stderr
    palette = load_palette("ade20k")
    lut = np.zeros((256, 3), np.uint8)
    for c in palette.classes:
        lut[c.id] = c.color
    out = read_rgb(tmp_path / "out/training/ADE_train_00000001.png")
    assert np.array_equal(out, expected_overlay(photo, lut[index], index != 0, 0.6))
    # ADE20K's own photos are JPEGs, in a deeper folder
    write_png(ade / "annotations/validation/street/ADE_val_00000002.png", index)
    (ade / "images/validation/street").mkdir(parents=True)
    Image.fromarray(gradient_photo(index.shape)).save(ade / "images/validation/street/ADE_val_00000002.jpg", quality=95)
    jpeg_photo = read_rgb(ade / "images/validation/street/ADE_val_00000002.jpg")
    result = invoke("overlay", ade / "annotations", "--images", ade / "images", "-o", tmp_path / "out", "-p", "ade20k",
                    "--alpha", "0.6")
    assert result.exit_code == 0, result.stderr
    out = read_rgb(tmp_path / "out/validation/street/ADE_val_00000002.png")
    diff = np.abs(out.astype(int) - expected_overlay(jpeg_photo, lut[index], index != 0, 0.6).astype(int))
    assert diff.max() <= 1  # Pillow's and OpenCV's JPEG decoders may differ by 1


# --------------------------------------------------------------------------- pairing errors


def test_missing_mis_sized_and_ambiguous_photos_are_per_file_errors(tmp_path):
    index = np.zeros((8, 10), np.uint8)
    for name in ("good", "missing", "small", "twice", "broken"):
        write_png(tmp_path / "masks/a" / f"{name}.png", index)
    write_png(tmp_path / "photos/a/good.jpg.png", random_photo((8, 10), 0))  # not a photo of 'good'
    Image.fromarray(random_photo((8, 10), 0)).save(tmp_path / "photos/a/good.jpeg")
    Image.fromarray(random_photo((4, 5), 0)).save(tmp_path / "photos/a/small.png")
    Image.fromarray(random_photo((8, 10), 0)).save(tmp_path / "photos/a/twice.png")
    Image.fromarray(random_photo((8, 10), 0)).save(tmp_path / "photos/a/twice.webp")
    (tmp_path / "photos/a/broken.jpg").write_bytes(b"\xff\xd8 not really a JPEG")
    result = invoke("overlay", tmp_path / "masks", "--images", tmp_path / "photos", "-o", tmp_path / "out",
                    "-p", "cityscapes", "-j", "1")
    assert result.exit_code == 1
    err = result.stderr
    assert f"error: {tmp_path / 'masks/a/missing.png'}: no photo for it: looked for {tmp_path / 'photos/a/missing'}.*" in err
    assert (f"error: {tmp_path / 'masks/a/small.png'}: is 10x8, but its photo {tmp_path / 'photos/a/small.png'} "
            "is 5x4: a mask and its photo must be the same size") in err
    assert (f"error: {tmp_path / 'masks/a/twice.png'}: 2 candidate photos: {tmp_path / 'photos/a/twice.png'} and "
            f"{tmp_path / 'photos/a/twice.webp'}") in err
    assert f"error: {tmp_path / 'masks/a/broken.png'}: its photo {tmp_path / 'photos/a/broken.jpg'}: cannot decode it" in err
    assert "1 converted, 4 failed" in err
    assert (tmp_path / "out/a/good.png").is_file()
    assert not (tmp_path / "out/a/missing.png").exists() and not (tmp_path / "out/a/small.png").exists()


def test_unknown_color_in_a_color_mask_fails_that_file(tmp_path):
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[0, 0] = (1, 2, 3)
    write_png(tmp_path / "m/x.png", rgb)
    (tmp_path / "p").mkdir()
    Image.fromarray(random_photo((4, 4), 1)).save(tmp_path / "p/x.jpg")
    result = invoke("overlay", tmp_path / "m", "--images", tmp_path / "p", "-o", tmp_path / "out", "-p", "cityscapes")
    assert result.exit_code == 1
    assert f"error: {tmp_path / 'm/x.png'}: " in result.stderr and "unknown color" in result.stderr
    assert "(1, 2, 3)" in result.stderr


def test_output_may_not_replace_a_photo(tmp_path):
    write_png(tmp_path / "SegmentationClass/x.png", np.zeros((4, 4), np.uint8))
    (tmp_path / "JPEGImages").mkdir()
    Image.fromarray(random_photo((4, 4), 1)).save(tmp_path / "JPEGImages/x.jpg")
    before = (tmp_path / "JPEGImages/x.jpg").read_bytes()
    result = invoke("overlay", tmp_path / "SegmentationClass", "--images", tmp_path / "JPEGImages",
                    "-o", tmp_path / "JPEGImages", "--format", "jpeg", "-p", "pascal-voc")
    assert result.exit_code == 2
    assert "would overwrite the input" in result.stderr
    assert (tmp_path / "JPEGImages/x.jpg").read_bytes() == before


def test_unknown_only_class_is_a_usage_error(tmp_path):
    write_png(tmp_path / "m/x.png", np.zeros((4, 4), np.uint8))
    result = invoke("overlay", tmp_path / "m", "--images", tmp_path, "-o", tmp_path / "o", "-p", "cityscapes",
                    "--only", "car,dragon")
    assert result.exit_code == 2
    assert "no class 'dragon' in palette cityscapes" in result.stderr


# --------------------------------------------------------------------------- one file, options


def test_single_file_to_jpeg_records_what_made_it_and_update_skips_it(tmp_path):
    from maskcli import provenance

    index = np.full((6, 8), 13, np.uint8)
    write_png(tmp_path / "mask.png", index)
    Image.fromarray(random_photo((6, 8), 2)).save(tmp_path / "photo.jpg")
    aged(tmp_path / "mask.png", tmp_path / "photo.jpg")
    args = ["overlay", tmp_path / "mask.png", "--images", tmp_path / "photo.jpg", "-o", tmp_path / "out.jpg",
            "-p", "cityscapes"]
    result = invoke(*args)
    assert result.exit_code == 0, result.stderr
    data = (tmp_path / "out.jpg").read_bytes()
    assert data[:2] == b"\xff\xd8" and Image.open(tmp_path / "out.jpg").size == (8, 6)
    rec = provenance.read_any(str(tmp_path / "out.jpg"))
    assert rec["command"] == "overlay" and rec["options"] == {"format": "jpeg"}
    assert "1 up to date" in invoke(*args, "--update").stderr
    shown = invoke("info", tmp_path)  # maskcli info finds JPEG overlays in folders too
    assert f"{tmp_path / 'out.jpg'}: maskcli overlay -p cityscapes --format jpeg (" in shown.stdout
    assert "1 converted" in invoke(*args, "--update", "--alpha", "0.4").stderr  # other options: redrawn
    assert "1 up to date" in invoke(*args, "--update", "--alpha", "0.4").stderr


def test_decoding_mask_and_photo_in_two_threads_draws_the_same_overlay(tmp_path):
    from maskcli import overlay_run

    index = two_class_mask()
    write_png(tmp_path / "m.png", index)
    photo = random_photo(index.shape, 8)
    Image.fromarray(photo).save(tmp_path / "p.png")
    settings = overlay_run.OverlaySettings("overlay", load_palette("cityscapes"), alpha=0.3)
    for concurrent in (False, True):
        overlay_run.overlay_file(str(tmp_path / "m.png"), str(tmp_path / "p.png"), str(tmp_path / f"{concurrent}.png"),
                                 settings, concurrent=concurrent)
    assert (tmp_path / "True.png").read_bytes() == (tmp_path / "False.png").read_bytes()
    lut = np.zeros((256, 3), np.uint8)
    lut[0], lut[13] = (128, 64, 128), (0, 0, 142)
    assert np.array_equal(read_rgb(tmp_path / "True.png"), expected_overlay(photo, lut[index], index != 255, 0.3))


def test_two_threads_report_the_same_error_first(tmp_path):
    """A mask with unknown colors and a photo of another size: the size is the error, in both
    ways of reading; a mask that cannot be read: the mask's error, even when the photo is gone."""
    from maskcli import overlay_run
    from maskcli.errors import MaskError

    rgb = np.zeros((4, 6, 3), np.uint8)
    rgb[0, 0] = (1, 2, 3)
    write_png(tmp_path / "bad.png", rgb)
    Image.fromarray(random_photo((5, 6), 1)).save(tmp_path / "p.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    settings = overlay_run.OverlaySettings("overlay", load_palette("cityscapes"))
    for concurrent in (False, True):
        with pytest.raises(MaskError) as err:
            overlay_run.overlay_file(str(tmp_path / "bad.png"), str(tmp_path / "p.png"), str(tmp_path / "o.png"),
                                     settings, concurrent=concurrent)
        assert str(err.value) == f"is 6x4, but its photo {tmp_path / 'p.png'} is 6x5: a mask and its photo must be the same size"
        with pytest.raises(MaskError) as err:
            overlay_run.overlay_file(str(tmp_path / "broken.png"), str(tmp_path / "gone.png"), str(tmp_path / "o.png"),
                                     settings, concurrent=concurrent)
        assert "not a valid PNG" in str(err.value)
    Image.fromarray(random_photo((4, 6), 1)).save(tmp_path / "p.png")
    with pytest.raises(MaskError, match="unknown color"):
        overlay_run.overlay_file(str(tmp_path / "bad.png"), str(tmp_path / "p.png"), str(tmp_path / "o.png"),
                                 settings, concurrent=True)
    assert not (tmp_path / "o.png").exists()


def test_blend_in_place_draws_on_the_photo_and_leaves_it_alone_otherwise():
    from maskcli.overlay import blend

    photo = random_photo((5, 7), 3)
    colors = random_photo((5, 7), 4)
    labeled = np.zeros((5, 7), bool)
    labeled[1:4, 2:6] = True
    before = photo.copy()
    for alpha in (0.5, 0.25, 0.3):
        out = blend(photo, colors, labeled, alpha)
        assert out is not photo and np.array_equal(photo, before)
        work = photo.copy()
        assert blend(work, colors, labeled, alpha, in_place=True) is work
        assert np.array_equal(work, expected_overlay(before, colors, labeled, alpha))
    view = np.zeros((5, 14, 3), np.uint8)[:, ::2]  # not contiguous: a copy all the same
    assert blend(view, colors, labeled, 0.5, in_place=True) is not view


def two_class_mask():
    index = np.full((12, 16), 0, np.uint8)  # road
    index[3:9, 4:12] = 13  # car
    index[10:, :] = 255  # ignore strip
    return index


def test_only_show_ignore_and_outline(tmp_path):
    index = two_class_mask()
    write_png(tmp_path / "m.png", index)
    photo = random_photo(index.shape, 5)
    Image.fromarray(photo).save(tmp_path / "p.png")
    palette = load_palette("cityscapes")
    lut = np.zeros((256, 3), np.uint8)
    for c in palette.classes:
        lut[c.id] = c.color
    lut[255] = palette.ignore_color
    colors = lut[index]

    def run(name, *extra):
        result = invoke("overlay", tmp_path / "m.png", "--images", tmp_path / "p.png", "-o", tmp_path / name,
                        "-p", "cityscapes", *extra)
        assert result.exit_code == 0, result.stderr
        return read_rgb(tmp_path / name)

    assert np.array_equal(run("plain.png"), expected_overlay(photo, colors, index != 255, 0.5))
    assert np.array_equal(run("only.png", "--only", "car"), expected_overlay(photo, colors, index == 13, 0.5))
    assert np.array_equal(run("ign.png", "--show-ignore"), expected_overlay(photo, colors, np.ones(index.shape, bool), 0.5))
    outlined = run("outline.png", "--outline")
    line = np.zeros(index.shape, bool)
    line[3:9, 3] = True  # road pixels left of the car
    line[2, 4:12] = True  # road pixels above the car
    line[3:9, 11] = True  # the car's right column (its right neighbour is road)
    line[8, 4:12] = True  # the car's bottom row
    line[9, :] = True  # road above the ignore strip (the line is on the labeled side)
    expected = expected_overlay(photo, colors, index != 255, 0.5)
    expected[line] = colors[line]
    assert np.array_equal(outlined, expected)


def test_legend_is_a_strip_beside_the_pixels(tmp_path):
    index = two_class_mask()
    write_png(tmp_path / "m.png", index)
    Image.fromarray(random_photo(index.shape, 5)).save(tmp_path / "p.png")
    base = ["overlay", tmp_path / "m.png", "--images", tmp_path / "p.png", "-p", "cityscapes"]
    assert invoke(*base, "-o", tmp_path / "plain.png").exit_code == 0
    assert invoke(*base, "-o", tmp_path / "legend.png", "--legend").exit_code == 0
    plain, legend = read_rgb(tmp_path / "plain.png"), read_rgb(tmp_path / "legend.png")
    assert legend.shape[1] > plain.shape[1] + 40 and legend.shape[0] >= plain.shape[0]
    assert np.array_equal(legend[: plain.shape[0], : plain.shape[1]], plain)  # never over the pixels
    strip = legend[:, plain.shape[1]:].reshape(-1, 3)
    present = {tuple(c) for c in strip.tolist()}
    assert (0, 0, 142) in present and (128, 64, 128) in present  # car and road swatches


def test_pool_gives_the_same_bytes_as_one_process(tmp_path):
    (tmp_path / "p").mkdir()
    for i in range(4):
        index = np.full((10, 12), i, np.uint8)
        write_png(tmp_path / f"m/{i}.png", index)
        Image.fromarray(random_photo(index.shape, i)).save(tmp_path / f"p/{i}.jpg")
    outs = {}
    for jobs in ("1", "2"):
        out = tmp_path / f"out{jobs}"
        proc = subprocess.run([sys.executable, "-m", "maskcli", "overlay", str(tmp_path / "m"), "--images",
                               str(tmp_path / "p"), "-o", str(out), "-p", "cityscapes", "-j", jobs, "--legend",
                               "--outline"], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        outs[jobs] = {p.name: p.read_bytes() for p in sorted(out.glob("*.png"))}
    assert len(outs["1"]) == 4 and outs["1"] == outs["2"]


def test_the_overlay_example_is_what_the_script_makes(tmp_path, monkeypatch):
    import runpy
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    monkeypatch.chdir(root)
    runpy.run_path(str(root / "scripts/make_overlay_example.py"))["main"](tmp_path)
    for photo in sorted((root / "examples/photos").rglob("*.png")):
        made = tmp_path / "examples/photos" / photo.relative_to(root / "examples/photos")
        assert np.array_equal(read_rgb(made), read_rgb(photo))
    made, shipped = read_rgb(tmp_path / "docs/overlay-example.png"), read_rgb(root / "docs/overlay-example.png")
    assert np.array_equal(made[:128, :256], shipped[:128, :256])  # the legend's text depends on Pillow's font
    assert made.shape[1] > 256 and shipped.shape[1] > 256


def small_pair(tmp_path, name="x", photo_ext=".png"):
    write_png(tmp_path / "m" / f"{name}.png", two_class_mask())
    (tmp_path / "p").mkdir(exist_ok=True)
    Image.fromarray(random_photo((12, 16), 4)).save(tmp_path / "p" / f"{name}{photo_ext}")
    aged(tmp_path / "m" / f"{name}.png", tmp_path / "p" / f"{name}{photo_ext}")


def aged(*paths):
    """Date inputs a minute back: an output written within the same clock tick as its input
    (file times move in steps of a few ms) has the same time, and --update wants it newer."""
    import os
    import time

    for path in paths:
        os.utime(path, (time.time() - 60, time.time() - 60))


@pytest.mark.parametrize("args, message", [
    (["--pair", "nocolon"], "--pair 'nocolon': expected OLD:NEW"),
    (["--pair", "a/b:c"], "without '/'"),
    (["-o", "{tmp}/one.jpg"], "-o {tmp}/one.jpg: a file name ending in .jpg takes exactly one mask file, not a folder"),
    (["--images", "{tmp}/p/x.png", "-o", "{tmp}/o"], "--images {tmp}/p/x.png is a file: it pairs with exactly one mask, not 2"),
    (["--alpha", "1.5"], "1.5 is not in the range 0<=x<=1"),
])
def test_usage_errors_exit_2_before_any_work(tmp_path, args, message):
    small_pair(tmp_path, "x")
    small_pair(tmp_path, "y")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    base = {"-o": str(tmp_path / "out"), "--images": str(tmp_path / "p")}
    base = {k: v for k, v in base.items() if k not in args}
    extra = [x for k, v in base.items() for x in (k, v)]
    result = invoke("overlay", tmp_path / "m", "-p", "cityscapes", *extra, *args)
    assert result.exit_code == 2, result.output
    assert message.replace("{tmp}", str(tmp_path)) in result.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "o").exists()


def test_format_must_agree_with_the_output_name(tmp_path):
    small_pair(tmp_path)
    result = invoke("overlay", tmp_path / "m/x.png", "--images", tmp_path / "p/x.png", "-o", tmp_path / "x.jpg",
                    "-p", "cityscapes", "--format", "png")
    assert result.exit_code == 2
    assert f"-o {tmp_path / 'x.jpg'} is a JPEG name, but --format is png" in result.stderr


def test_embedded_needs_a_palettized_mask(tmp_path):
    small_pair(tmp_path)
    result = invoke("overlay", tmp_path / "m", "--images", tmp_path / "p", "-o", tmp_path / "out", "-p", "embedded")
    assert result.exit_code == 1
    assert f"error: {tmp_path / 'm/x.png'}: is a grayscale 8-bit image and has no embedded palette" in result.stderr


def test_update_redraws_when_the_photo_is_newer(tmp_path):
    import os

    small_pair(tmp_path)
    args = ["overlay", tmp_path / "m", "--images", tmp_path / "p", "-o", tmp_path / "out", "-p", "cityscapes", "--update"]
    assert "1 converted" in invoke(*args).stderr
    assert "1 up to date" in invoke(*args).stderr
    out = tmp_path / "out/x.png"
    stamp = out.stat().st_mtime_ns
    os.utime(tmp_path / "p/x.png", ns=(stamp + 10**9, stamp + 10**9))  # a new photo
    assert "1 converted" in invoke(*args).stderr


def test_dry_run_and_report(tmp_path):
    import json

    small_pair(tmp_path, "x")
    write_png(tmp_path / "m/lonely.png", two_class_mask())
    result = invoke("overlay", tmp_path / "m", "--images", tmp_path / "p", "-o", tmp_path / "out", "-p", "cityscapes", "-n")
    assert result.exit_code == 0
    assert f"{tmp_path / 'm/x.png'} + {tmp_path / 'p/x.png'} -> {tmp_path / 'out/x.png'}" in result.stdout
    assert f"error: {tmp_path / 'm/lonely.png'}: no photo for it" in result.stderr
    assert not (tmp_path / "out").exists()
    result = invoke("overlay", tmp_path / "m", "--images", tmp_path / "p", "-o", tmp_path / "out", "-p", "cityscapes",
                    "--report", tmp_path / "r.json", "--pair", "_a:_b")
    assert result.exit_code == 1
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["command"] == "overlay" and report["converted"] == 1 and report["failed"] == 1
    assert report["options"]["pair"] == ["_a:_b"] and report["options"]["images"] == str(tmp_path / "p")
    assert {f["status"] for f in report["files"]} == {"converted", "failed"}


def test_cityscapes_folder_with_other_files_and_include(corpus, tmp_path):
    cityscapes_tree(corpus, tmp_path, ["Label256Full/00100027.png"])
    write_png(tmp_path / "gtFine/val/frankfurt/frankfurt_000000_000000_gtFine_labelIds.png", np.zeros((256, 512), np.uint8))
    result = invoke("overlay", tmp_path / "gtFine", "--include", "*_color.png", "--images", tmp_path / "leftImg8bit",
                    "-o", tmp_path / "out", "-p", "cityscapes", "--pair", "_gtFine_color:_leftImg8bit",
                    "--pair", "_gtFine_labelIds:_leftImg8bit")
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "out").rglob("*.png")) == ["frankfurt_000000_000000_gtFine_color.png"]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and process groups")
@pytest.mark.parametrize("jobs, signals", [(1, "INT"), (2, "TERM")])
def test_a_signal_mid_run_stops_overlay_cleanly(tmp_path, jobs, signals):
    import json
    import re

    from test_signals import assert_group_ends, interrupt, reads, start, wait_for

    (tmp_path / "p").mkdir()
    for i in range(30):
        write_png(tmp_path / f"m/{i:03d}.png", two_class_mask())
        Image.fromarray(random_photo((12, 16), i)).save(tmp_path / f"p/{i:03d}.jpg")
    proc = start(["overlay", str(tmp_path / "m"), "--images", str(tmp_path / "p"), "-o", str(tmp_path / "out"),
                  "-p", "cityscapes", "-j", str(jobs), "--report", str(tmp_path / "report.json")], tmp_path)
    wait_for(proc, "files read", lambda: reads(tmp_path) >= 3)
    interrupt(proc, signals)
    _, stderr = proc.communicate(timeout=120)
    stderr = stderr.decode(errors="replace")
    assert_group_ends(proc.pid)
    name = "SIGINT" if signals == "INT" else "SIGTERM"
    assert proc.returncode == 128 + (2 if signals == "INT" else 15), stderr
    assert "Traceback" not in stderr
    summary = [line for line in stderr.splitlines() if line.startswith("overlay: ")][-1]
    assert f"interrupted by {name} after" in summary
    written = sorted(str(p) for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert all(not os.path.basename(p).startswith(".") for p in written), written  # no temporary files
    assert int(re.search(r"(\d+) converted", summary).group(1)) == len(written) < 30
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["interrupted"] == name and report["converted"] == len(written)


def test_masks_and_photos_in_one_folder(tmp_path):
    index = two_class_mask()
    write_png(tmp_path / "data/x.png", index)
    photo = random_photo(index.shape, 8)
    Image.fromarray(photo).save(tmp_path / "data/x.bmp")  # lossless, and not a photo named like a mask
    result = invoke("overlay", tmp_path / "data/x.png", "--images", tmp_path / "data", "-o", tmp_path / "x_over.png",
                    "-p", "cityscapes")
    assert result.exit_code == 0, result.stderr
    palette = load_palette("cityscapes")
    lut = np.zeros((256, 3), np.uint8)
    for c in palette.classes:
        lut[c.id] = c.color
    assert np.array_equal(read_rgb(tmp_path / "x_over.png"), expected_overlay(photo, lut[index], index != 255, 0.5))
