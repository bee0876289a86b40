"""maskcli sheet, check --plot and check --html: the pictures a person looks at.

Images are decoded and their pixels compared; the HTML is parsed with html.parser and also
rendered in headless Chromium with JavaScript off (skipped with a reason where Chromium is not
installed)."""

from __future__ import annotations

import base64
import io
import json
import os
import runpy
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from maskcli import sheet
from maskcli.cli import cli
from maskcli.palette import load_palette

from conftest import write_png

ROOT = Path(__file__).resolve().parents[1]
ROAD, CAR, SKY, TRAIN = (128, 64, 128), (0, 0, 142), (70, 130, 180), (0, 80, 100)
ODD = (1, 2, 3)  # in no palette used here


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def colors_of(path) -> set:
    rgb = np.asarray(Image.open(path).convert("RGB")).reshape(-1, 3)
    return set(map(tuple, np.unique(rgb, axis=0).tolist()))


def solid(path, color, size=(40, 20)):
    arr = np.zeros((size[1], size[0], 3), np.uint8)
    arr[:] = color
    return write_png(path, arr)


# --------------------------------------------------------------------------- pure sheet


def test_thumbnails_hold_only_colors_of_the_mask():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 4, (301, 517, 3), dtype=np.uint8) * 60
    small = sheet.downscale(rgb, 64)
    assert small.shape == (37, 64, 3)  # aspect kept, fits 64x64
    mine = set(map(tuple, rgb.reshape(-1, 3).tolist()))
    assert set(map(tuple, small.reshape(-1, 3).tolist())) <= mine


def test_fit_enlarges_small_masks_by_whole_pixels_only():
    assert sheet.fit(2048, 1024, 256) == (256, 128)
    assert sheet.fit(10, 5, 256) == (250, 125)  # x25
    assert sheet.fit(100, 100, 256) == (200, 200)  # x2, not x2.56
    assert sheet.fit(1, 5000, 256) == (1, 256)


def test_unknown_marks_keep_a_single_bad_pixel_visible():
    unknown = np.zeros((1000, 2000), bool)
    unknown[517, 1333] = True
    marks = sheet.unknown_marks(unknown, 100)
    assert marks.shape == (50, 100) and marks.sum() == 1 and marks[25, 66]


def test_long_names_are_cut_in_the_middle_visibly():
    name = "aachen_000000_000019_gtFine_color_with_a_very_long_tail.png"
    short = sheet.shorten(name, 20, len)
    assert len(short) <= 20 and "..." in short
    assert short.startswith("aachen") and short.endswith(".png")
    assert sheet.shorten("a.png", 20, len) == "a.png"


def test_choose_is_seeded_and_worst_puts_problems_first():
    files = [f"f{k:02d}.png" for k in range(20)]
    a = sheet.choose(files, "random", 5, seed=1)
    assert a == sheet.choose(files, "random", 5, seed=1) and a == sorted(a) and len(a) == 5
    assert a != sheet.choose(files, "random", 5, seed=2)
    assert sheet.choose(files, "first", 3) == files[:3]
    bad = {"f07.png": (0, 3, 10), "f02.png": (0, 1, 900), "f11.png": (1, 0, 0)}
    assert sheet.choose(files, "worst", 4, badness=bad) == ["f11.png", "f07.png", "f02.png", "f00.png"]


# --------------------------------------------------------------------------- sheet command


def test_sheet_of_the_examples_shows_their_colors_and_names(tmp_path):
    out = tmp_path / "sheet.png"
    res = invoke("sheet", ROOT / "examples/masks", "-o", out, "--columns", "2", "--size", "128", "-q")
    assert res.exit_code == 0, res.output
    img = Image.open(out)
    assert img.mode == "RGB" and img.width < 2 * 128 + 40  # two columns
    assert img.height > 3 * 64  # three rows of 128x64 thumbnails
    palette_colors = {tuple(c.color) for c in load_palette("cityscapes").classes}
    assert {ROAD, CAR, SKY} <= colors_of(out)
    assert TRAIN not in colors_of(out) and TRAIN in palette_colors


def test_sheet_colors_index_masks_through_the_palette(tmp_path):
    index = np.zeros((30, 60), np.uint8)
    index[:, 30:] = 13  # car
    write_png(tmp_path / "m" / "a.png", index)
    res = invoke("sheet", tmp_path / "m", "-o", tmp_path / "s.png", "-p", "cityscapes", "-q")
    assert res.exit_code == 0, res.output
    assert {ROAD, CAR} <= colors_of(tmp_path / "s.png")
    # without a palette: the fixed fallback map (0 black, 13 -> VOC's color 13)
    res = invoke("sheet", tmp_path / "m", "-o", tmp_path / "s2.png", "-q")
    assert res.exit_code == 0
    assert tuple(sheet.fallback_colors()[13]) in colors_of(tmp_path / "s2.png")
    assert tuple(sheet.fallback_colors()[1]) == (128, 0, 0)


def test_sheet_worst_first_shows_the_file_with_unknown_colors(tmp_path):
    for name, color in (("a.png", ROAD), ("b.png", SKY), ("c.png", ODD), ("d.png", CAR)):
        solid(tmp_path / "m" / name, color)
    out = tmp_path / "worst.png"
    res = invoke("sheet", tmp_path / "m", "-o", out, "-p", "cityscapes", "--sample", "worst", "--max", "1", "-q")
    assert res.exit_code == 0, res.output
    shown = colors_of(out)
    assert ODD in shown and not {ROAD, SKY, CAR} & shown
    res = invoke("sheet", tmp_path / "m", "-o", out, "--sample", "first", "--max", "1", "-q")
    assert ROAD in colors_of(out) and ODD not in colors_of(out)


def test_sheet_worst_needs_a_palette_before_any_work(tmp_path):
    solid(tmp_path / "m" / "a.png", ROAD)
    res = invoke("sheet", tmp_path / "m", "-o", tmp_path / "s.png", "--sample", "worst")
    assert res.exit_code == 2 and "--sample worst needs -p PALETTE" in res.output
    assert not (tmp_path / "s.png").exists()


def test_sheet_draws_unreadable_files_and_exits_1(tmp_path):
    solid(tmp_path / "m" / "a.png", ROAD)
    (tmp_path / "m" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    res = invoke("sheet", tmp_path / "m", "-o", tmp_path / "s.png", "-q")
    assert res.exit_code == 1
    assert "broken.png" in res.output and "Traceback" not in res.output
    assert ROAD in colors_of(tmp_path / "s.png")


def test_sheet_never_replaces_an_input(tmp_path):
    solid(tmp_path / "m" / "a.png", ROAD)
    res = invoke("sheet", tmp_path / "m", "-o", tmp_path / "m" / "a.png")
    assert res.exit_code == 2 and "is an input of this run" in res.output
    assert colors_of(tmp_path / "m" / "a.png") == {ROAD}


def test_sheet_too_large_is_refused_before_any_work(tmp_path, monkeypatch):
    for k in range(4):
        solid(tmp_path / "m" / f"{k}.png", ROAD)
    monkeypatch.setenv("MASKCLI_MAX_PIXELS", "100000")
    res = invoke("sheet", tmp_path / "m", "-o", tmp_path / "s.png", "--size", "512")
    assert res.exit_code == 2 and "lower --max or --size" in res.output
    assert not (tmp_path / "s.png").exists()
    res = invoke("sheet", tmp_path / "m", "-o", tmp_path / "s.png", "--size", "64", "-q")
    assert res.exit_code == 0, res.output


def test_sheet_is_the_same_with_a_pool(tmp_path):
    for k in range(6):
        solid(tmp_path / "m" / f"{k}.png", [ROAD, SKY, CAR][k % 3], size=(30 + k, 20))
    outs = []
    for jobs in ("1", "2"):
        out = tmp_path / f"s{jobs}.png"
        subprocess.run([sys.executable, "-m", "maskcli", "sheet", str(tmp_path / "m"), "-o", str(out), "-j", jobs,
                        "-q", "--max", "4", "--seed", "3"], check=True, timeout=120)
        outs.append(np.asarray(Image.open(out)))
    np.testing.assert_array_equal(*outs)


@pytest.mark.skipif(os.name != "posix" or not os.path.isdir("/proc"), reason="needs POSIX signals and /proc")
@pytest.mark.parametrize("args", [["sheet", "-j", "2", "--sample", "worst", "-p", "cityscapes"],
                                  ["check", "-j", "2", "-p", "cityscapes", "--plot", "PLOT", "--report", "REPORT"]])
def test_ctrl_c_mid_run_writes_no_picture(tmp_path, args):
    from test_signals import assert_group_ends, interrupt, make_inputs, reads, start, wait_for

    make_inputs(tmp_path / "in", "check")
    out, plot, report = tmp_path / "sheet.png", tmp_path / "plot.png", tmp_path / "report.json"
    args = [args[0], str(tmp_path / "in")] + [{"PLOT": str(plot), "REPORT": str(report)}.get(a, a) for a in args[1:]]
    if args[0] == "sheet":
        args += ["-o", str(out)]
    proc = start(args, tmp_path, slow_files=0.1)
    wait_for(proc, "some files read", lambda: reads(tmp_path) >= 3)
    interrupt(proc, "INT")
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr.decode()
    assert not out.exists() and not plot.exists()
    if args[0] == "check":
        assert json.loads(report.read_text())["interrupted"] == "SIGINT"  # the JSON report still says what was seen
    else:
        assert stderr.decode().strip().endswith("maskcli: interrupted by SIGINT")
    assert_group_ends(proc.pid)


def test_corpus_cityscapes_thumbnails_add_no_colors(corpus):
    from maskcli.masks import read_mask

    path = corpus / "PhotographicImageSynthesis/data/cityscapes/Label1024Full/00100027.png"
    if not path.exists():
        pytest.skip(f"{path} is not in the corpus")
    mask = read_mask(path)
    thumb = sheet.mask_thumbnail(mask, 256)
    assert thumb.shape == (128, 256, 3)
    full = set(map(tuple, mask.array.reshape(-1, 3).tolist()))
    assert set(map(tuple, thumb.reshape(-1, 3).tolist())) <= full


# --------------------------------------------------------------------------- check --plot


def dataset(tmp_path, bad=1):
    """Three clean masks (road/car/sky) and ``bad`` with an unknown color."""
    for k in range(3):
        arr = np.zeros((40, 80, 3), np.uint8)
        arr[:] = SKY
        arr[20:] = ROAD
        arr[25:32, 10 + k * 10 : 30 + k * 10] = CAR
        write_png(tmp_path / "m" / f"ok_{k}.png", arr)
    for k in range(bad):
        arr = np.zeros((40, 80, 3), np.uint8)
        arr[:] = ROAD
        arr[5:9, 5:9] = ODD
        write_png(tmp_path / "m" / f"bad_{k}.png", arr)
    return tmp_path / "m"


@pytest.mark.parametrize("scale", ["linear", "log"])
def test_plot_draws_bars_in_the_class_colors(tmp_path, scale):
    out = tmp_path / "classes.png"
    res = invoke("check", dataset(tmp_path, 0), "-p", "cityscapes", "--plot", out, "--plot-scale", scale, "-q")
    assert res.exit_code == 0, res.output
    img = Image.open(out)
    assert img.format == "PNG" and img.width >= 600
    found = colors_of(out)
    assert {ROAD, CAR, SKY} <= found  # bars filled with the exact class colors
    assert TRAIN not in found  # a class with no pixels has no bar


@pytest.mark.parametrize("palette", ["cityscapes", "embedded"])
def test_plot_and_html_when_no_file_could_be_read(tmp_path, palette):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "a.png").write_bytes(b"xx")
    res = invoke("check", tmp_path / "m", "-p", palette, "--plot", tmp_path / "c.png", "--plot-scale", "log",
                 "--html", tmp_path / "r.html", "-q")
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert Image.open(tmp_path / "c.png").format == "PNG"
    assert "a.png" in Page((tmp_path / "r.html").read_text()).words


def test_plot_without_matplotlib_is_a_usage_error_before_any_work(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    res = invoke("check", dataset(tmp_path), "-p", "cityscapes", "--plot", tmp_path / "c.png")
    assert res.exit_code == 2
    assert "needs matplotlib" in res.output and "maskcli[plot]" in res.output
    assert "road" not in res.output and "bad_0" not in res.output  # nothing was checked
    assert not (tmp_path / "c.png").exists()


# --------------------------------------------------------------------------- check --html


class Page(HTMLParser):
    """Collects what the tests look at: tags, attributes, text."""

    def __init__(self, text):
        super().__init__()
        self.tags, self.text, self.imgs, self.metas, self.links = [], [], [], [], []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if tag == "img":
            self.imgs.append(attrs)
        if tag == "meta":
            self.metas.append(attrs)
        for key in ("href", "src", "action", "srcset"):
            if key in attrs:
                self.links.append(attrs[key])

    def handle_data(self, data):
        self.text.append(data)

    @property
    def words(self) -> str:
        return " ".join(" ".join(self.text).split())


def decode_data_uri(uri: str) -> Image.Image:
    assert uri.startswith("data:image/png;base64,")
    img = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    img.load()
    return img


def test_html_report_is_self_contained_and_says_what_check_found(tmp_path):
    out = tmp_path / "report.html"
    res = invoke("check", dataset(tmp_path), "-p", "cityscapes", "--html", out, "-q")
    assert res.exit_code == 1  # the bad file fails the check as before
    page = Page(out.read_text(encoding="utf-8"))
    assert "script" not in page.tags and "link" not in page.tags and "iframe" not in page.tags
    assert all(link.startswith("data:image/png;base64,") for link in page.links), page.links
    assert any(m.get("name") == "viewport" for m in page.metas)
    words = page.words
    assert "4 files checked" in words and "3 passed" in words and "1 with problems" in words
    for name in ("road", "car", "sky", "train"):  # the class table, found or not
        assert name in words
    assert "bad_0.png" in words and "(1, 2, 3) #010203: 16 px" in words
    assert "ok_1.png" in words  # in the sample
    images = [decode_data_uri(i["src"]) for i in page.imgs]
    assert any(i.width >= 600 for i in images)  # the chart
    views = [i for i in page.imgs if i.get("alt") == "unknown pixels"]
    assert len(views) == 1
    marks = np.asarray(decode_data_uri(views[0]["src"]).convert("RGB"))
    assert (marks == (255, 0, 255)).all(axis=2).sum() == 16  # where the 4x4 unknown pixels are


@pytest.mark.parametrize("option", ["--html", "--plot"])
def test_check_pictures_never_replace_an_input(tmp_path, option):
    masks = dataset(tmp_path, 0)
    res = invoke("check", masks, "-p", "cityscapes", option, masks / "ok_0.png")
    assert res.exit_code == 2 and f"{option} " in res.output and "is an input of this run" in res.output
    assert Image.open(masks / "ok_0.png").size == (80, 40)


def test_check_pictures_on_stdout_come_alone(tmp_path):
    masks = dataset(tmp_path, 0)
    res = subprocess.run([sys.executable, "-m", "maskcli", "check", str(masks), "-p", "cityscapes", "--plot", "-"],
                         capture_output=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert Image.open(io.BytesIO(res.stdout)).format == "PNG"  # no class table before it
    res = subprocess.run([sys.executable, "-m", "maskcli", "check", str(masks), "-p", "cityscapes", "--html", "-"],
                         capture_output=True, timeout=120)
    assert res.returncode == 0 and res.stdout.startswith(b"<!DOCTYPE html>")
    res = invoke("check", masks, "-p", "cityscapes", "--html", "-", "--report", "-")
    assert res.exit_code == 2 and "--report and --html cannot all write to stdout" in res.output


def test_html_report_escapes_file_names(tmp_path):
    masks = dataset(tmp_path, 0)
    arr = np.zeros((8, 8, 3), np.uint8)
    arr[:] = ODD
    evil = '<script>alert(1)<script x="1" onload=alert(2)>.png'
    write_png(masks / evil, arr)
    out = tmp_path / "r.html"
    invoke("check", masks, "-p", "cityscapes", "--html", out, "-q")
    page = Page(out.read_text())
    assert "script" not in page.tags and evil in page.words  # shown as text, never as markup
    assert "Content-Security-Policy" in {m.get("http-equiv") for m in page.metas}


def test_html_report_is_the_same_whatever_jobs(tmp_path):
    masks = dataset(tmp_path, 2)
    pages = []
    for jobs in ("1", "2"):
        out = tmp_path / f"r{jobs}.html"
        subprocess.run([sys.executable, "-m", "maskcli", "check", str(masks), "-p", "cityscapes", "-j", jobs, "-q",
                        "--html", str(out)], timeout=120)
        pages.append(out.read_bytes())
    assert pages[0] == pages[1]


def test_html_report_lists_a_bounded_number_of_problem_files(tmp_path, monkeypatch):
    from maskcli import html_report

    monkeypatch.setattr(html_report, "MAX_PROBLEMS", 2)
    out = tmp_path / "report.html"
    res = invoke("check", dataset(tmp_path, bad=5), "-p", "cityscapes", "--html", out, "-q")
    assert res.exit_code == 1
    words = Page(out.read_text()).words
    assert "Files with problems (5)" in words and "and 3 more file(s) with problems" in words
    assert words.count("unknown color(s) on") == 2


def test_html_report_without_matplotlib_has_the_table_and_a_note(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    out = tmp_path / "report.html"
    res = invoke("check", dataset(tmp_path, 0), "-p", "cityscapes", "--html", out, "-q")
    assert res.exit_code == 0, res.output
    page = Page(out.read_text())
    assert "no chart: matplotlib is not installed" in page.words and "sidewalk" in page.words
    assert all(decode_data_uri(i["src"]).width < 600 for i in page.imgs)


def test_html_report_of_index_masks(tmp_path):
    index = np.zeros((30, 60), np.uint8)
    index[:, 30:] = 13
    write_png(tmp_path / "m" / "a.png", index)
    index[0, 0] = 77  # not a cityscapes train id
    write_png(tmp_path / "m" / "b.png", index)
    out = tmp_path / "r.html"
    res = invoke("check", tmp_path / "m", "--indices", "-p", "cityscapes", "--html", out, "-q")
    assert res.exit_code == 1
    words = Page(out.read_text()).words
    assert "1 value(s) not in the palette" in words and "value 77: 1 px" in words


# --------------------------------------------------------------------------- in a browser

SHOT = runpy.run_path(str(ROOT / "scripts/screenshot_html.py"))


@pytest.mark.skipif(SHOT["find_chromium"]() is None,
                    reason="chromium is not installed (apt-get install chromium; .ci/run does it)")
@pytest.mark.parametrize("width", [1280, 390])
def test_html_report_renders_in_headless_chromium_without_javascript(tmp_path, width):
    out = tmp_path / "report.html"
    invoke("check", dataset(tmp_path), "-p", "cityscapes", "--html", out, "-q")
    shot = tmp_path / f"shot{width}.png"
    SHOT["screenshot"](out, shot, width, 1600)
    img = Image.open(shot).convert("RGB")
    assert img.size == (width, 1600)
    found = colors_of(shot)
    assert CAR in found and (176, 0, 32) in found  # the class swatches; the red problem count
    dom = SHOT["dump_dom"](out)
    assert "Files with problems (1)" in dom and "bad_0.png" in dom


def test_javascript_is_really_off_in_the_browser_check(tmp_path):
    if SHOT["find_chromium"]() is None:
        pytest.skip("chromium is not installed")
    page = tmp_path / "js.html"
    page.write_text("<p id=x>static</p><script>document.getElementById('x').textContent='scripted'</script>")
    assert ">static<" in SHOT["dump_dom"](page)


# --------------------------------------------------------------------------- docs pictures


def test_the_docs_pictures_script_still_makes_them(tmp_path):
    made = runpy.run_path(str(ROOT / "scripts/make_docs_images.py"))["main"](tmp_path)
    names = {p.name for p in made}
    assert {"sheet.png", "classes.png", "report.html"} <= names
    for name in ("sheet.png", "classes.png") + (("report.png",) if "report.png" in names else ()):
        img = Image.open(tmp_path / name)
        img.load()
        assert img.width > 200
    assert "street_06_resized.png" in Page((tmp_path / "report.html").read_text()).words
    for name in ("sheet.png", "classes.png", "report.html"):
        assert (ROOT / "docs" / name).is_file(), f"docs/{name} is not committed"


# --------------------------------------------------------------------------- over photos (--images)


def round_half_up(x):
    return np.floor(x + 0.5)


def blended(photo, colors, labeled, alpha):
    """The documented overlay formula, computed here independently of maskcli."""
    out = photo.astype(np.float64).copy()
    mix = round_half_up((1.0 - alpha) * photo.astype(np.float64) + alpha * colors.astype(np.float64))
    out[labeled] = mix[labeled]
    return out.astype(np.uint8)


def scene(tmp_path, masks="masks", photos="photos", name="a", photo_name=None, size=(64, 32)):
    w, h = size
    rgb = np.zeros((h, w, 3), np.uint8)
    rgb[:] = SKY
    rgb[h // 2 :] = ROAD
    rgb[h - 4 :] = (0, 0, 0)  # cityscapes ignore color
    rgb[h // 2 : h // 2 + 5, 5:20] = CAR
    photo = np.random.default_rng(7).integers(0, 256, (h, w, 3), dtype=np.uint8)
    write_png(tmp_path / masks / f"{name}.png", rgb)
    write_png(tmp_path / photos / f"{photo_name or name}.png", photo)
    return rgb, photo


def test_overlay_thumbnail_is_the_documented_blend(tmp_path):
    from maskcli.visualize import ThumbSettings, thumbnail_file

    rgb, photo = scene(tmp_path)
    palette = load_palette("cityscapes")
    for alpha in (0.5, 0.3):
        found = thumbnail_file((str(tmp_path / "masks/a.png"), (), (str(tmp_path / "photos/a.png"), None)),
                               ThumbSettings(64, palette, alpha=alpha))
        labeled = ~(rgb == 0).all(axis=2)
        np.testing.assert_array_equal(found["overlay"], blended(photo, rgb, labeled, alpha))


def test_corpus_cityscapes_overlay_thumbnail_matches_the_formula(tmp_path, corpus):
    from maskcli.visualize import ThumbSettings, thumbnail_file

    path = corpus / "PhotographicImageSynthesis/data/cityscapes/Label1024Full/00100027.png"
    if not path.exists():
        pytest.skip(f"{path} is not in the corpus")
    mask = np.asarray(Image.open(path).convert("RGB"))
    photo = np.random.default_rng(3).integers(0, 256, mask.shape, dtype=np.uint8)
    write_png(tmp_path / "photo.png", photo)
    found = thumbnail_file((str(path), (), (str(tmp_path / "photo.png"), None)),
                           ThumbSettings(2048, load_palette("cityscapes"), alpha=0.5))
    ignore = {tuple(c) for c in load_palette("cityscapes").ignore_colors} | {tuple(load_palette("cityscapes").ignore_color)}
    labeled = ~np.isin(mask[..., 0].astype(np.uint32) << 16 | mask[..., 1].astype(np.uint32) << 8 | mask[..., 2],
                       [r << 16 | g << 8 | b for r, g, b in ignore])
    expected = blended(photo, mask, labeled, 0.5)
    assert np.abs(found["overlay"].astype(int) - expected).max() <= 1


def test_sheet_over_photos_paired_the_cityscapes_way(tmp_path):
    rgb, photo = scene(tmp_path, masks="gtFine/val/aachen", photos="leftImg8bit/val/aachen",
                       name="aachen_000000_000019_gtFine_color", photo_name="aachen_000000_000019_leftImg8bit")
    photo[:] = (200, 100, 50)  # one photo color: the sheet then holds exactly these blends
    write_png(tmp_path / "leftImg8bit/val/aachen/aachen_000000_000019_leftImg8bit.png", photo)
    out = tmp_path / "s.png"
    res = invoke("sheet", tmp_path / "gtFine/val", "-p", "cityscapes", "--images", tmp_path / "leftImg8bit/val",
                 "--pair", "_gtFine_color:_leftImg8bit", "-o", out, "--size", "64", "-q")
    assert res.exit_code == 0, res.output
    found = colors_of(out)
    for color in (ROAD, CAR, SKY):
        assert tuple(int(v) for v in round_half_up(0.5 * np.array((200, 100, 50)) + 0.5 * np.array(color))) in found
        assert color not in found  # blended, not drawn
    assert (200, 100, 50) in found  # the ignore strip shows the photo


def test_sheet_without_a_photo_or_with_a_mis_sized_one_says_so(tmp_path):
    scene(tmp_path, name="a")
    scene(tmp_path, name="b", size=(64, 32))
    write_png(tmp_path / "photos/b.png", np.zeros((10, 10, 3), np.uint8))  # another size
    (tmp_path / "photos/a.png").unlink()
    res = invoke("sheet", tmp_path / "masks", "-p", "cityscapes", "--images", tmp_path / "photos",
                 "-o", tmp_path / "s.png", "-q")
    assert res.exit_code == 1
    assert f"a.png: no photo for it: looked for {tmp_path / 'photos' / 'a'}.*" in res.output
    assert "b.png" in res.output and "photos/b.png is 10x10" in res.output
    assert ROAD in colors_of(tmp_path / "s.png")  # the masks are drawn alone


def test_images_usage_errors(tmp_path):
    scene(tmp_path)
    res = invoke("sheet", tmp_path / "masks", "--images", tmp_path / "photos", "-o", tmp_path / "s.png")
    assert res.exit_code == 2 and "--images needs -p PALETTE" in res.output
    res = invoke("sheet", tmp_path / "masks", "--pair", "_a:_b", "-o", tmp_path / "s.png")
    assert res.exit_code == 2 and "--pair goes with --images" in res.output
    res = invoke("check", tmp_path / "masks", "-p", "cityscapes", "--images", tmp_path / "photos")
    assert res.exit_code == 2 and "--images and --pair go with --html" in res.output
    scene(tmp_path, name="b")
    res = invoke("sheet", tmp_path / "masks", "-p", "cityscapes", "--images", tmp_path / "photos/a.png",
                 "--sample", "worst", "-o", tmp_path / "s.png")
    assert res.exit_code == 2 and "is a file: it pairs with exactly one mask, not 2" in res.output
    assert "check" not in res.output  # before any work
    res = invoke("sheet", tmp_path / "masks/a.png", "-p", "cityscapes", "--images", tmp_path / "photos/a.png",
                 "-o", tmp_path / "s.png", "-q")
    assert res.exit_code == 0


def test_html_report_over_photos(tmp_path):
    rgb, photo = scene(tmp_path)
    bad = rgb.copy()
    bad[0:3, 0:3] = ODD
    write_png(tmp_path / "masks/bad.png", bad)
    write_png(tmp_path / "photos/bad.png", photo)
    out = tmp_path / "r.html"
    res = invoke("check", tmp_path / "masks", "-p", "cityscapes", "--html", out, "--images", tmp_path / "photos", "-q")
    assert res.exit_code == 1
    page = Page(out.read_text())
    over = [i for i in page.imgs if i.get("alt") == "over its photo"]
    assert len(over) == 1
    labeled = ~(bad == 0).all(axis=2)
    got = np.asarray(decode_data_uri(over[0]["src"]).convert("RGB"))
    expected = blended(photo, bad, labeled, 0.5).repeat(4, axis=0).repeat(4, axis=1)  # 64x32 shown 4x, nearest
    np.testing.assert_array_equal(got, expected)  # unknown colors blended as they are
    assert "Each mask over its photo" in page.words


def test_html_report_of_encoded_label_images_shows_the_decoded_classes(tmp_path):
    ids = np.full((32, 64), 7, np.uint16)  # road (label id 7)
    ids[10:20, 10:30] = 26001  # car instance 1 (label id 26)
    ids[0, 0] = 45  # not a Cityscapes label id
    write_png(tmp_path / "m" / "a_gtFine_instanceIds.png", ids)
    out = tmp_path / "r.html"
    res = invoke("check", tmp_path / "m", "--encoding", "cityscapes-instance", "-p", "cityscapes-labelids",
                 "--html", out, "-q")
    assert res.exit_code == 1, res.output
    page = Page(out.read_text())
    assert "value 45: 1 px" in page.words
    mask = [i for i in page.imgs if i.get("alt") == "mask"]
    shown = {tuple(c) for c in np.asarray(decode_data_uri(mask[0]["src"]).convert("RGB")).reshape(-1, 3).tolist()}
    assert {ROAD, CAR} <= shown  # the decoded class ids in the palette's colors


# --------------------------------------------------------------------------- sheet --encoding


def _panoptic_pair(tmp_path):
    """A COCO panoptic PNG (segment ids in RGB) and its annotation JSON with category colors."""
    ids = np.zeros((40, 80), np.int64)
    ids[:, 40:] = 70000  # a car segment (category 3)
    ids[10:30, 5:25] = 5  # a person segment (category 1)
    rgb = np.stack([ids % 256, ids // 256 % 256, ids // 65536], axis=-1).astype(np.uint8)
    write_png(tmp_path / "pan" / "000000000139.png", rgb)
    data = {"categories": [{"id": 1, "name": "person", "color": [220, 20, 60]},
                           {"id": 3, "name": "car", "color": [0, 0, 142]}],
            "annotations": [{"image_id": 139, "file_name": "000000000139.png", "segments_info": [
                {"id": 5, "category_id": 1}, {"id": 70000, "category_id": 3}]}]}
    ann = tmp_path / "panoptic.json"
    ann.write_text(json.dumps(data))
    return ann, rgb


def test_sheet_of_panoptic_masks_colors_the_decoded_classes(tmp_path):
    ann, rgb = _panoptic_pair(tmp_path)
    out = tmp_path / "s.png"
    res = invoke("sheet", tmp_path / "pan", "--encoding", "coco-panoptic", "--annotations", ann, "-o", out, "-q")
    assert res.exit_code == 0, res.output
    shown = colors_of(out)
    assert {(220, 20, 60), CAR} <= shown  # the categories' own colors, from the JSON
    segment_colors = {tuple(c) for c in rgb.reshape(-1, 3).tolist()} - {(0, 0, 0)}
    assert not segment_colors & shown  # not the raw segment-id colors
    # without --encoding the same file is a color mask shown as it is
    invoke("sheet", tmp_path / "pan", "-o", tmp_path / "raw.png", "-q")
    assert segment_colors <= colors_of(tmp_path / "raw.png")


def test_sheet_of_cityscapes_instance_ids_through_a_palette_and_worst_first(tmp_path):
    ids = np.full((32, 64), 7, np.uint16)  # road (label id 7)
    ids[10:20, 10:30] = 26001  # car instance 1 (label id 26)
    write_png(tmp_path / "m" / "a_gtFine_instanceIds.png", ids)
    bad = ids.copy()
    bad[0, :8] = 45  # not a Cityscapes label id
    write_png(tmp_path / "m" / "b_gtFine_instanceIds.png", bad)
    out = tmp_path / "s.png"
    args = ["sheet", tmp_path / "m", "--encoding", "cityscapes-instance", "-p", "cityscapes-labelids", "-o", out, "-q"]
    res = invoke(*args)
    assert res.exit_code == 0, res.output
    assert {ROAD, CAR} <= colors_of(out)
    assert sheet.UNKNOWN_VALUE_COLOR in colors_of(out)  # label id 45 of b
    res = invoke(*args, "--sample", "worst", "--max", "1")
    assert res.exit_code == 0, res.output
    assert sheet.UNKNOWN_VALUE_COLOR in colors_of(out)  # b, the file with an unknown value, is the one shown
    res = invoke(*args, "--sample", "first", "--max", "1")
    assert sheet.UNKNOWN_VALUE_COLOR not in colors_of(out)


def test_sheet_encoding_failures_and_usage_errors(tmp_path):
    solid(tmp_path / "m" / "x.png", ROAD)  # RGB: not a cityscapes instanceIds image
    out = tmp_path / "s.png"
    res = invoke("sheet", tmp_path / "m", "--encoding", "mapillary-instance", "-o", out)
    assert res.exit_code == 1
    assert f"error: {tmp_path / 'm' / 'x.png'}: " in res.stderr and out.is_file()
    for extra, message in ((["--encoding", "coco-panoptic"], "--encoding coco-panoptic needs --annotations"),
                           (["--annotations", tmp_path / "a.json"], "--annotations and --categories go with --encoding"),
                           (["--encoding", "ade20k-full", "--channel-order", "bgr"],
                            "--channel-order does not apply to --encoding")):
        res = invoke("sheet", tmp_path / "m", "-o", tmp_path / "u.png", *extra)
        assert res.exit_code == 2 and message in res.stderr, (extra, res.stderr)
        assert not (tmp_path / "u.png").exists()


def test_sheet_over_photos_in_the_masks_own_folder_never_takes_a_mask_as_its_photo(tmp_path):
    rgb = np.zeros((16, 32, 3), np.uint8)
    rgb[:] = ROAD
    write_png(tmp_path / "data/x.png", rgb)  # the mask
    Image.fromarray(np.full((16, 32, 3), (200, 100, 50), np.uint8)).save(tmp_path / "data/x.bmp")  # its photo
    out = tmp_path / "s.png"
    res = invoke("sheet", tmp_path / "data", "--include", "*.png", "-p", "cityscapes", "--images", tmp_path / "data",
                 "-o", out, "--size", "32", "-q")
    assert res.exit_code == 0, res.stderr  # not "2 candidate photos: data/x.bmp and data/x.png"
    assert (164, 82, 89) in colors_of(out)  # round_half_up(0.5 * photo + 0.5 * road)
