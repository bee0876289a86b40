"""Messages that stay readable on big datasets, limits that stop a wrong palette, and options
that refuse values which cannot work (issue 10 §5, 11 §6)."""

import json
import pickle

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import write_png
from maskcli.cli import cli
from maskcli.errors import UnknownColorsError, UnknownIndicesError
from maskcli.report import shown

ROAD, CAR = (128, 64, 128), (0, 0, 142)


def invoke(*args, input=None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input, catch_exceptions=False)


def many_colors(path, n=30, road_rows=3):
    """A mask with ``n`` unknown colors (1, 0, 0) .. (n, 0, 0), one px each, then road rows."""
    rgb = np.zeros((1 + road_rows, n, 3), np.uint8)
    rgb[0, :, 0] = np.arange(1, n + 1)
    rgb[1:] = ROAD
    return write_png(path, rgb)


def errors(result):
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


# --------------------------------------------------------------------------- one line per file


def test_a_file_with_many_unknown_colors_is_one_short_line_and_v_lists_all(tmp_path):
    src = many_colors(tmp_path / "m.png")
    result = invoke("to-index", src, "-o", tmp_path / "o.png", "-p", "cityscapes", "--report", tmp_path / "r.json")
    assert result.exit_code == 1
    [line] = errors(result)
    assert line == (
        f"error: {src}: 30 unknown colors on 30 px: (1, 0, 0) 1 px first at x=0 y=0; "
        "(2, 0, 0) 1 px first at x=1 y=0; (3, 0, 0) 1 px first at x=2 y=0; and 27 more (-v lists all)"
    )
    # the JSON report keeps every color
    [entry] = json.loads((tmp_path / "r.json").read_text())["files"]
    assert entry["status"] == "failed" and entry["error"].count(" px first at ") == 30
    assert "more" not in entry["error"]

    verbose = invoke("to-index", src, "-o", tmp_path / "o.png", "-p", "cityscapes", "-v")
    [line] = errors(verbose)
    assert line.count(" px first at ") == 30 and line.endswith("(30, 0, 0) 1 px first at x=29 y=0")


def test_index_values_are_listed_three_at_a_time_for_to_rgb_and_remap(tmp_path):
    src = write_png(tmp_path / "i.png", np.arange(40, dtype=np.uint8).reshape(4, 10))
    short = invoke("to-rgb", src, "-o", tmp_path / "o.png", "-p", "cityscapes")
    assert errors(short) == [
        f"error: {src}: 21 index values not in the palette: 19 (1 px), 20 (1 px), 21 (1 px), and 18 more (-v lists all)"
    ]
    full = invoke("to-rgb", src, "-o", tmp_path / "o.png", "-p", "cityscapes", "-v")
    assert errors(full)[0].endswith("38 (1 px), 39 (1 px)") and "more" not in errors(full)[0]

    (tmp_path / "map.yaml").write_text("name: m\nmap: {0: 1, 1: 0}\n")
    remapped = invoke("remap", src, "-o", tmp_path / "r.png", "--map", tmp_path / "map.yaml")
    assert errors(remapped) == [
        f"error: {src}: 38 index values the map does not list: 2 (1 px), 3 (1 px), 4 (1 px), and 35 more (-v lists all)"
    ]


def test_stdin_to_stdout_lists_three_too(tmp_path):
    src = many_colors(tmp_path / "m.png", n=5)
    result = CliRunner().invoke(cli, ["to-index", "-", "-o", "-", "-p", "cityscapes"], input=src.read_bytes())
    assert result.exit_code == 1
    assert errors(result)[0].endswith("(3, 0, 0) 1 px first at x=2 y=0; and 2 more (-v lists all)")


def test_check_says_how_many_more_values_and_v_lists_them(tmp_path):
    # 18 values not in cityscapes: 19..36
    write_png(tmp_path / "i/a.png", np.array([list(range(19, 37)) + [0, 1]], np.uint8))
    result = invoke("check", tmp_path / "i", "--indices", "-p", "cityscapes", "--report", tmp_path / "r.json")
    assert result.exit_code == 1
    assert errors(result) == [
        f"error: {tmp_path / 'i/a.png'}: 18 value(s) not in the palette: 19 (1 px), 20 (1 px), 21 (1 px), "
        "and 15 more (-v lists all)"
    ]
    [entry] = json.loads((tmp_path / "r.json").read_text())["files"]
    assert entry["error"].endswith("35 (1 px), 36 (1 px)") and len(entry["unknown_values"]) == 18
    verbose = invoke("check", tmp_path / "i", "--indices", "-p", "cityscapes", "-v")
    assert errors(verbose)[0].endswith("35 (1 px), 36 (1 px)")


def test_check_lists_five_odd_sizes_and_says_how_many_more(tmp_path):
    for i in range(8):
        write_png(tmp_path / f"m/big{i}.png", np.full((4, 4, 3), ROAD, np.uint8))
    for i in range(7):
        write_png(tmp_path / f"m/small{i}.png", np.full((2, 2 + i, 3), ROAD, np.uint8))
    result = invoke("check", tmp_path / "m", "-p", "cityscapes")
    [warning] = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert warning.startswith("warning: 7 file(s) differ from the most common size 4x4: ")
    assert warning.endswith(", and 2 more (-v lists all)") and warning.count("small") == 5
    [sizes] = [line for line in result.stderr.splitlines() if line.startswith("modes:")]
    assert sizes.endswith(", and 3 more (-v lists all)")
    verbose = invoke("check", tmp_path / "m", "-p", "cityscapes", "-v")
    assert "more" not in verbose.stderr and verbose.stderr.count("small") == 7


def test_errors_pickle_and_hints_add_up():
    err = UnknownColorsError([((1, 2, 3), 4, (0, 0))], total=1, pixels=4).with_hint("first").with_hint("second")
    back = pickle.loads(pickle.dumps(err))
    assert str(back) == str(err) == "1 unknown color on 4 px: (1, 2, 3) 4 px first at x=0 y=0 (first; second)"
    values = UnknownIndicesError([(v, 1) for v in range(5)], total=9)
    assert str(values) == "9 index values not in the palette: 0 (1 px), 1 (1 px), 2 (1 px), and 6 more"
    assert values.message(verbose=True, cli=True) == (
        "9 index values not in the palette: 0 (1 px), 1 (1 px), 2 (1 px), 3 (1 px), 4 (1 px), and 4 more"
    )


# --------------------------------------------------------------------------- check -q and its table


def test_check_quiet_keeps_the_table_and_its_percent_column_says_of_what(tmp_path):
    a = np.full((4, 4, 3), ROAD, np.uint8)
    a[0, :4] = CAR
    write_png(tmp_path / "m/a.png", a)
    result = invoke("check", tmp_path / "m", "-p", "cityscapes", "-q")
    assert result.exit_code == 0 and result.stderr == ""
    header, road, car = result.stdout.splitlines()
    assert header.split() == ["id", "name", "pixels", "%", "of", "px", "files"]
    assert road.split() == ["0", "road", "12", "75.000", "1"] and car.split() == ["13", "car", "4", "25.000", "1"]
    # --report - gets stdout to itself: pure JSON
    report = invoke("check", tmp_path / "m", "-p", "cityscapes", "-q", "--report", "-")
    assert json.loads(report.stdout)["passed"] == 1


# --------------------------------------------------------------------------- --max-unknown


def far_colors(path):
    """Half the pixels a color far from every cityscapes color, the other half road."""
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[:2] = (1, 255, 254)
    rgb[2:] = ROAD
    return write_png(path, rgb)


def test_max_unknown_fails_a_file_that_beyond_ignore_would_mostly_erase(tmp_path):
    src = far_colors(tmp_path / "m/a.png")
    write_png(tmp_path / "m/b.png", np.full((4, 4, 3), ROAD, np.uint8))
    nearest = ("--unknown", "nearest", "--max-distance", "10", "--beyond", "ignore")
    # default: no limit, as before (the documented choice)
    loose = invoke("to-index", tmp_path / "m", "-o", tmp_path / "loose", "-p", "cityscapes", *nearest)
    assert loose.exit_code == 0 and (tmp_path / "loose/a.png").is_file()

    strict = invoke("to-index", tmp_path / "m", "-o", tmp_path / "out", "-p", "cityscapes", *nearest, "--max-unknown", "5")
    assert strict.exit_code == 1
    assert errors(strict) == [
        f"error: {src}: 50.00% of its pixels have colors the palette does not know (8 ignored of 16 px), "
        "more than --max-unknown 5%"
    ]
    assert not (tmp_path / "out/a.png").exists() and (tmp_path / "out/b.png").is_file()

    ignore = invoke("to-index", src, "-o", tmp_path / "i.png", "-p", "cityscapes", "--unknown", "ignore", "--max-unknown", "50")
    assert ignore.exit_code == 0  # exactly P percent is allowed
    snapped = invoke("to-index", src, "-o", tmp_path / "s.png", "-p", "cityscapes", "--unknown", "nearest",
                     "--max-distance", "1000", "--max-unknown", "49.5")
    assert snapped.exit_code == 1 and "(8 snapped of 16 px)" in snapped.stderr


def test_update_applies_a_new_max_unknown_to_outputs_made_without_it(tmp_path):
    src = far_colors(tmp_path / "m/a.png")
    nearest = ("--unknown", "nearest", "--max-distance", "1000")
    assert invoke("to-index", tmp_path / "m", "-o", tmp_path / "out", "-p", "cityscapes", *nearest).exit_code == 0
    again = invoke("to-index", tmp_path / "m", "-o", tmp_path / "out", "-p", "cityscapes", *nearest,
                   "--max-unknown", "5", "--update")
    assert again.exit_code == 1 and errors(again)[0].startswith(f"error: {src}: 50.00% of its pixels")


@pytest.mark.parametrize("value", ["nan", "-1", "100.5", "inf", "x"])
def test_max_unknown_must_be_a_percentage(tmp_path, value):
    src = far_colors(tmp_path / "a.png")
    result = invoke("to-index", src, "-o", tmp_path / "o.png", "-p", "cityscapes", "--unknown", "ignore", "--max-unknown", value)
    assert result.exit_code == 2 and "Invalid value for '--max-unknown'" in result.stderr
    assert not (tmp_path / "o.png").exists()


def test_max_unknown_needs_a_policy_that_lets_unknown_colors_through(tmp_path):
    src = far_colors(tmp_path / "a.png")
    result = invoke("to-index", src, "-o", tmp_path / "o.png", "-p", "cityscapes", "--max-unknown", "5")
    assert result.exit_code == 2
    assert "--max-unknown goes with --unknown ignore or --unknown nearest" in result.stderr


@pytest.mark.parametrize("value", ["nan", "NaN", "-nan"])
def test_max_distance_nan_is_refused(tmp_path, value):
    src = far_colors(tmp_path / "a.png")
    result = invoke("to-index", src, "-o", tmp_path / "o.png", "-p", "cityscapes", "--unknown", "nearest",
                    "--max-distance", value)
    assert result.exit_code == 2 and "Invalid value for '--max-distance': nan is not a number" in result.stderr
    assert not (tmp_path / "o.png").exists()


@pytest.mark.parametrize("command", [("overlay", "-o", "o"), ("sheet", "-o", "s.png"), ("check", "--html", "r.html")])
def test_alpha_nan_is_refused(tmp_path, command):
    src = write_png(tmp_path / "m/a.png", np.full((2, 2, 3), ROAD, np.uint8))
    name, flag, out = command
    result = invoke(name, tmp_path / "m", "--images", tmp_path / "m", flag, tmp_path / out, "-p", "cityscapes",
                    "--alpha", "nan")
    assert result.exit_code == 2 and "Invalid value for '--alpha': nan is not a number" in result.stderr
    assert src.is_file() and not (tmp_path / out).exists()


# --------------------------------------------------------------------------- paths in messages


@pytest.mark.parametrize("command", ["to-index", "to-rgb", "remap", "extract-palette"])
def test_an_empty_output_path_is_a_usage_error(tmp_path, command):
    src = write_png(tmp_path / "a.png", np.full((2, 2, 3), ROAD, np.uint8))
    extra = {"remap": ["--map", "cityscapes-trainids"], "extract-palette": []}.get(command, ["-p", "cityscapes"])
    result = invoke(command, src, "-o", "", *extra)
    assert result.exit_code == 2 and result.stderr.rstrip().endswith("Error: -o: empty output path")
    report = invoke("check", src, "-p", "cityscapes", "--report", "")
    assert report.exit_code == 2 and "--report: empty path" in report.stderr


def test_a_newline_in_a_file_name_keeps_its_error_on_one_line(tmp_path):
    src = many_colors(tmp_path / "m/bad\nname\t.png", n=2)
    result = invoke("to-index", tmp_path / "m", "-o", tmp_path / "out", "-p", "cityscapes", "--report", tmp_path / "r.json")
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[0] == (
        f"error: {tmp_path}/m/bad\\nname\\t.png: 2 unknown colors on 2 px: (1, 0, 0) 1 px first at x=0 y=0; "
        "(2, 0, 0) 1 px first at x=1 y=0"
    )
    assert len(lines) == 2 and lines[1].startswith("to-index: 0 converted, 1 failed")
    # data keeps the name whole: the JSON report and the --dry-run plan
    assert json.loads((tmp_path / "r.json").read_text())["files"][0]["input"] == str(src)
    plan = invoke("to-index", tmp_path / "m", "-o", tmp_path / "out", "-p", "cityscapes", "-n")
    assert plan.stdout == f"{src} -> {tmp_path}/out/bad\nname\t.png\n"
    check = invoke("check", tmp_path / "m", "-p", "cityscapes")
    assert errors(check)[0].startswith(f"error: {tmp_path}/m/bad\\nname\\t.png: 2 unknown color(s)")


def test_shown_escapes_what_cannot_be_printed():
    assert shown("plain name é.png") == "plain name é.png"
    assert shown("a\nb\r\tc\x07\x1b[31m.png") == "a\\nb\\r\\tc\\x07\\x1b[31m.png"
    assert shown("x\\y\n") == "x\\\\y\\n"  # once escaping, a backslash is doubled: no ambiguity
    assert shown(b"\xff.png".decode("utf-8", "surrogateescape")) == "\\xff.png"
    assert shown("zero\u200bwidth") == "zero\\u200bwidth"


# --------------------------------------------------------------------------- help texts


def help_of(*command):
    return " ".join(invoke(*command, "--help").stdout.split())


def test_help_speaks_of_what_each_command_does():
    assert "command, map content" in help_of("remap").split("--update")[1]
    assert "palette" not in help_of("remap").split("--update")[1].split("-n, --dry-run")[0]
    assert "command, palette content" in help_of("to-rgb").split("--update")[1]
    assert "snapped" in help_of("to-index").split("-v, --verbose")[1]
    for command in ("to-rgb", "remap", "check"):
        assert "snap" not in help_of(command).split("-v, --verbose")[1], command
    assert "--max-unknown P" in help_of("to-index") and "Default: no limit" in help_of("to-index")
