"""Palette and map files that mean something else, or blow up: refused in one line, exit 2.

Covers YAML 1.1/1.2 number and word ambiguity, aliases (alias bombs), merge keys, complex
keys, deep nesting, tags, text fields of the wrong type, UTF-8 byte-order marks in every
reader, and a hypothesis fuzz of every palette format and the map loader.
"""

import json
import string

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import write_png
from maskcli.cli import cli
from maskcli.errors import PaletteError, UsageError
from maskcli.palette import Palette, PaletteClass, load_palette
from maskcli.remap import RemapTable, load_map

VALID_YAML = """\
name: roads
description: two classes
ignore_index: 255
ignore_colors: [[224, 224, 192]]
classes:
  - {id: 0, name: background, color: [0, 0, 0]}
  - {id: 1, name: road, color: [128, 64, 128], also: [[128, 64, 129]]}
  - {id: 2, name: car, color: "#00008E"}
"""
VALID_MAP = "name: merge\ndefault: keep\nmap:\n  1: 0\n  2: ignore\n  7: 3\n"


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def palette_error(path) -> str:
    with pytest.raises(PaletteError) as info:
        load_palette(path)
    return str(info.value)


def assert_one_line_exit_2(result, *needles):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    # click puts its two usage lines before a bad option value's error; the error is one line
    errors = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith(("Usage:", "Try "))]
    assert len(errors) == 1 and errors[0].startswith("Error: "), result.stderr
    for needle in needles:
        assert needle in errors[0]


# --------------------------------------------------------------------------- YAML 1.1 vs 1.2


@pytest.mark.parametrize(
    "value, expected",
    [
        ("[128, 064, 128]", "line 3, column 38: 064 is 52 (octal) to YAML 1.1 readers (such as PyYAML) and 64 to "
                            "YAML 1.2 readers: write the number without leading zeros"),
        ("[128, 64, 1:00]", "line 3, column 42: 1:00 is 60 (base 60) to YAML 1.1 readers"),
        ("[0b1, 64, 128]", "0b1 is 1 (binary) to YAML 1.1 readers (such as PyYAML) and text to YAML 1.2 readers: "
                           "write 1 if you mean the number, or quote it if you mean text"),
        ("[1_000, 64, 128]", "1_000 is 1000 to YAML 1.1 readers"),
        ("[09, 64, 128]", "09 is text to YAML 1.1 readers (such as PyYAML) and 9 to YAML 1.2 readers"),
        ("[0o17, 64, 128]", "0o17 is text to YAML 1.1 readers (such as PyYAML) and 15 (octal) to YAML 1.2 readers"),
        ("[-0x10, 64, 128]", "-0x10 is -16 to YAML 1.1 readers"),
    ],
)
def test_numbers_that_yaml_versions_read_differently_are_refused(tmp_path, value, expected):
    path = write(tmp_path, "p.yaml", f"name: x\nclasses:\n  - {{id: 1, name: road, color: {value}}}\n")
    message = palette_error(path)
    assert message.startswith(f"{path}: line 3, column ")
    assert expected in message


def test_zero_padded_id_is_refused_not_read_as_octal(tmp_path):
    path = write(tmp_path, "p.yaml", "classes:\n  - {id: 010, name: a, color: [1, 2, 3]}\n")
    assert palette_error(path) == (
        f"{path}: line 2, column 10: 010 is 8 (octal) to YAML 1.1 readers (such as PyYAML) and 10 to "
        "YAML 1.2 readers: write the number without leading zeros"
    )


def test_numbers_both_versions_agree_on_are_read(tmp_path):
    path = write(tmp_path, "p.yaml", "classes:\n  - {id: +5, name: a, color: [0x80, 0, 255]}\n  - {id: 0, name: b, color: [0, 0, 0]}\n")
    palette = load_palette(path)
    assert [(c.id, c.color) for c in palette.classes] == [(5, (128, 0, 255)), (0, (0, 0, 0))]


@pytest.mark.parametrize("word", ["off", "yes", "No", "ON"])
def test_yes_no_on_off_names_must_be_quoted(tmp_path, word):
    path = write(tmp_path, "p.yaml", f"classes:\n  - {{name: {word}, color: [1, 2, 3]}}\n")
    assert palette_error(path) == (
        f"{path}: line 2, column 12: {word} is {str(word.lower() in ('yes', 'on')).lower()} to YAML 1.1 readers "
        "(such as PyYAML) and text to YAML 1.2 readers: quote it"
    )
    quoted = write(tmp_path, "q.yaml", f"classes:\n  - {{name: '{word}', color: [1, 2, 3]}}\n")
    assert load_palette(quoted).classes[0].name == word


def test_dates_are_refused_and_impossible_dates_do_not_crash(tmp_path):
    path = write(tmp_path, "p.yaml", "description: 2024-13-01\nclasses:\n  - {name: a, color: [1, 2, 3]}\n")
    assert "2024-13-01 is an invalid date to YAML 1.1 readers" in palette_error(path)


def test_map_files_refuse_ambiguous_numbers_too(tmp_path):
    path = write(tmp_path, "m.yaml", "map:\n  010: 1\n")
    with pytest.raises(PaletteError, match=r"m.yaml: line 2, column 3: 010 is 8 \(octal\)"):
        load_map(str(path))


# --------------------------------------------------------------------------- aliases, keys, depth

ALIAS_BOMB = (
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    + "".join(f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi"))
    + "description: *i\nclasses: [{name: x, color: [1, 2, 3]}]\n"
)


def test_alias_bomb_is_refused_before_it_expands(tmp_path):
    assert len(ALIAS_BOMB) < 1000  # 9**9 strings once expanded: gigabytes
    path = write(tmp_path, "bomb.yaml", ALIAS_BOMB)
    assert palette_error(path) == (
        f"{path}: line 2, column 8: aliases (*a) are not supported in palette files: write the value out"
    )
    assert_one_line_exit_2(invoke("palettes", "show", path), "aliases (*a) are not supported")


def test_alias_in_map_file_is_refused(tmp_path):
    path = write(tmp_path, "m.yaml", "x: &v 3\nmap:\n  1: *v\n")
    with pytest.raises(PaletteError, match=r"line 3, column 6: aliases \(\*v\) are not supported in map files"):
        load_map(str(path))


@pytest.mark.parametrize("field", ["name", "description", "source"])
@pytest.mark.parametrize("value, kind", [("[a, b]", "a list"), ("{a: 1}", "a mapping"), ("12", "a number"), ("true", "true/false")])
def test_text_fields_must_be_text(tmp_path, field, value, kind):
    path = write(tmp_path, "p.yaml", f"{field}: {value}\nclasses: [{{name: x, color: [1, 2, 3]}}]\n")
    assert palette_error(path) == f"{path}: {field} is {kind}, not text (quote it)"


def test_empty_name_falls_back_to_the_file_name(tmp_path):
    path = write(tmp_path, "roads.yaml", "name:\nclasses: [{name: x, color: [1, 2, 3]}]\n")
    assert load_palette(path).name == "roads"


BAD_FILES = {
    "complex.yaml": ("classes:\n  - ? [a, b]\n    : 1\n",
                     "a key is a list or a mapping; keys must be plain values (line 2, column 7)"),
    "merge.yaml": ("base: {name: x, color: [1, 2, 3]}\nclasses:\n  - <<: {id: 1}\n    name: y\n    color: [1, 2, 3]\n",
                   "line 3, column 5: merge keys (<<) are not supported: write the keys out"),
    # libyaml stops at its own limit (1000) while scanning ahead; PyYAML's Python parser at ours
    "deep.yaml": ("classes: " + "[" * 100_000 + "]" * 100_000 + "\n", "nest"),
    "deep2.yaml": ("classes:\n" + "".join("  " * i + "- \n" for i in range(40)), "nested more than 32 levels deep"),
    "deep.json": ('{"labels": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
    "deep2.json": ('{"labels": ' + "[" * 500 + "]" * 500 + "}", "nested more than 32 levels deep"),
    "tag.yaml": ("classes: !!set {a, b}\n", "tags (!!set) are not supported in palette files"),
    "long.yaml": ("classes:\n  - {name: a, color: [1, 2, " + "9" * 5000 + "]}\n", "a number of 5000 digits"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_palette_files_are_one_line_usage_errors(tmp_path, name):
    text, expected = BAD_FILES[name]
    path = write(tmp_path, name, text)
    write_png(tmp_path / "in" / "a.png", np.zeros((2, 2, 3), np.uint8))
    assert expected in palette_error(path)
    assert_one_line_exit_2(invoke("palettes", "show", path), str(path), expected)
    result = invoke("to-index", tmp_path / "in", "-o", tmp_path / "out", "-p", path)
    assert_one_line_exit_2(result, str(path), expected)
    assert not (tmp_path / "out").exists()


def test_map_file_with_complex_key_is_a_one_line_usage_error(tmp_path):
    path = write(tmp_path, "m.yaml", "map:\n  ? [1, 2]\n  : 3\n")
    write_png(tmp_path / "in" / "a.png", np.zeros((2, 2), np.uint8))
    result = invoke("remap", tmp_path / "in", "-o", tmp_path / "out", "--map", path)
    assert_one_line_exit_2(result, "keys must be plain values")


def test_palette_file_too_big_is_refused_without_reading_it_all(tmp_path):
    path = tmp_path / "huge.yaml"
    with open(path, "wb") as f:
        f.truncate(17 * 1024 * 1024)
    assert palette_error(path) == f"{path}: more than 16 MiB: too big for a palette file"


# --------------------------------------------------------------------------- byte-order marks

BOM = "\ufeff"
FORMATS = {
    "p.yaml": VALID_YAML,
    "p.json": json.dumps({"label_map": {"0": "background", "1": "road"},
                          "segmentation_colors": [[0, 0, 0], [128, 64, 128]]}),
    "config.json": json.dumps({"labels": [{"name": "background", "color": [0, 0, 0]},
                                          {"name": "road", "color": [128, 64, 128]}]}),
    "class_dict.csv": "name,r,g,b\nbackground,0,0,0\nroad,128,64,128\n",
    "label_colors.txt": "0 0 0\tbackground\n128 64 128\troad\n",
    "labelmap.txt": "# label:color_rgb:parts:actions\nbackground:0,0,0::\nroad:128,64,128::\n",
}


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_a_byte_order_mark_changes_nothing(tmp_path, name):
    (tmp_path / "plain").mkdir()
    (tmp_path / "bom").mkdir()
    plain = write(tmp_path / "plain", name, FORMATS[name])
    marked = write(tmp_path / "bom", name, BOM + FORMATS[name])
    assert load_palette(marked) == load_palette(plain)
    assert load_palette(marked).classes[0].name == "background"


def test_a_byte_order_mark_in_a_map_file_changes_nothing(tmp_path):
    plain = write(tmp_path, "plain.yaml", VALID_MAP)
    marked = write(tmp_path, "marked.yaml", BOM + VALID_MAP)
    assert load_map(str(marked)).pairs == load_map(str(plain)).pairs == ((1, 0), (2, 255), (7, 3))


def test_names_from_reads_a_csv_with_a_byte_order_mark(tmp_path):
    csv_path = write(tmp_path, "class_dict.csv", BOM + "name,r,g,b\nsky,70,130,180\nroad,128,64,128\n")
    mask = np.zeros((4, 4, 3), np.uint8)
    mask[:2] = (128, 64, 128)
    mask[2:] = (70, 130, 180)
    write_png(tmp_path / "in" / "a.png", mask)
    result = invoke("extract-palette", tmp_path / "in", "--names-from", csv_path, "-q")
    assert result.exit_code == 0, result.output
    data = yaml.safe_load(result.stdout)
    assert [(c["id"], c["name"]) for c in data["classes"]] == [(0, "sky"), (1, "road")]


# --------------------------------------------------------------------------- fuzz

FUZZ = settings(max_examples=80, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 70_000), st.floats(allow_nan=True),
    st.text(max_size=8), st.sampled_from(["#00ff00", "#zzz", "ignore", "keep", "error", "064", "1:00", "void"]),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    st.sampled_from(["id", "name", "color", "also", "classes", "ignore_index", "ignore_colors", "description",
                     "map", "default", "labels", "label_map", "segmentation_colors", "pixels", "x"]), inner, max_size=5),
    max_leaves=20)
colors = st.one_of(st.lists(st.integers(-2, 300), min_size=0, max_size=4), values)
classes = st.lists(st.fixed_dictionaries({"name": st.one_of(st.text(max_size=6), values), "color": colors},
                                         optional={"id": st.one_of(st.integers(-1, 70_000), values),
                                                   "also": st.lists(colors, max_size=3)}), max_size=5)
palette_like = st.fixed_dictionaries({"classes": classes}, optional={
    "name": values, "ignore_index": st.one_of(st.integers(0, 70_000), values), "ignore_colors": st.lists(colors, max_size=3),
    "description": values})
INTERESTING = list("0123456789:,&*!<>?{}[]#'\"\n\t -_xobe.") + [
    BOM, "\x00", "\u0661", "<<", "*a", "&a ", "!!", "? [1, 2]\n  : 3\n", "<<: {id: 1}", "- &a [1, 2, 3]\n",
    "[" * 40, "{" * 40, "!!binary", "!!set", "2024-13-01", "0x_", "1e999", "064", ".inf", "Infinity", "-1", "65535",
    '"label_map": {"0": "a"}, ', '"segmentation_colors": {}, ', '"labels": [{}], ', "9" * 30]



def assert_loads_or_refuses(loader, path):
    """Either a valid value, or a one-line PaletteError/UsageError naming the file; nothing else."""
    try:
        result = loader(path)
    except (PaletteError, UsageError) as exc:
        message = str(exc)
        assert "\n" not in message and str(path) in message, message
        assert "maskcli bug" not in message, message
        return None
    assert isinstance(result, (Palette, RemapTable))
    return result


def mutate(text: str, data) -> str:
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(text)))
        edit = data.draw(st.sampled_from(["insert", "delete", "replace"]))
        piece = data.draw(st.sampled_from(INTERESTING) | st.text(max_size=3))
        if edit == "insert":
            text = text[:i] + piece + text[i:]
        elif edit == "delete":
            text = text[:i] + text[i + data.draw(st.integers(1, 5)):]
        else:
            text = text[:i] + piece + text[i + len(piece):]
    return text


datumaro_like = st.fixed_dictionaries({
    "label_map": st.one_of(st.dictionaries(st.text(alphabet="0123456789 -x", max_size=3), values, max_size=4), values),
    "segmentation_colors": st.one_of(st.lists(colors, max_size=4), values)})


@FUZZ
@given(data=palette_like, as_json=st.sampled_from([None, "mapillary", "datumaro"]), datumaro=datumaro_like)
def test_fuzz_palette_structures(tmp_path, data, as_json, datumaro):
    if as_json == "mapillary":
        path = write(tmp_path, "fuzz.json", json.dumps({"labels": data["classes"], **data}))
    elif as_json == "datumaro":
        path = write(tmp_path, "fuzz.json", json.dumps(datumaro))
    else:
        path = write(tmp_path, "fuzz.yaml", yaml.safe_dump(data, allow_unicode=True))
    palette = assert_loads_or_refuses(load_palette, path)
    if palette is not None:
        assert palette.classes and all(0 <= c.id <= 65535 and c.id != palette.ignore_index for c in palette.classes)


@FUZZ
@given(data=st.data(), name=st.sampled_from(sorted(FORMATS)))
def test_fuzz_mutated_palette_files(tmp_path, data, name):
    path = write(tmp_path, name, mutate(FORMATS[name], data))
    assert_loads_or_refuses(load_palette, path)


@FUZZ
@given(raw=st.binary(max_size=200), suffix=st.sampled_from([".yaml", ".json", ".csv", ".txt"]))
def test_fuzz_random_bytes(tmp_path, raw, suffix):
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(raw)
    assert_loads_or_refuses(load_palette, path)


@FUZZ
@given(rows=st.lists(st.lists(st.text(alphabet=string.printable + "\u0661\ufeff", max_size=6), max_size=5), max_size=5))
def test_fuzz_csv_rows(tmp_path, rows):
    lines = ["name,r,g,b"] + [",".join(row) for row in rows]
    assert_loads_or_refuses(load_palette, write(tmp_path, "class_dict.csv", "\n".join(lines)))


@FUZZ
@given(data=st.data(), structured=st.booleans())
def test_fuzz_map_files(tmp_path, data, structured):
    if structured:
        table = data.draw(st.dictionaries(st.one_of(st.integers(-3, 70_000), scalars), st.one_of(st.integers(-3, 70_000), values), max_size=5))
        extra = data.draw(st.dictionaries(st.sampled_from(["name", "default", "ignore_index", "description", "source", "x"]),
                                          values, max_size=3))
        text = yaml.safe_dump({"map": table, **extra}, allow_unicode=True)
    else:
        text = mutate(VALID_MAP, data)
    assert_loads_or_refuses(lambda p: load_map(str(p)), write(tmp_path, "m.yaml", text))


@pytest.mark.parametrize("name", ["bomb.yaml", "deep.yaml", "deep2.yaml", "complex.yaml", "merge.yaml", "octal.yaml"])
def test_the_same_refusals_without_libyaml(tmp_path, monkeypatch, name):
    """PyYAML without its C extension parses in Python: the same files must fail the same way
    (the deep one at maskcli's limit, before PyYAML's recursive composer)."""
    monkeypatch.delattr(yaml, "CSafeLoader", raising=False)
    texts = {**{k: v[0] for k, v in BAD_FILES.items()}, "bomb.yaml": ALIAS_BOMB,
             "octal.yaml": "classes:\n  - {id: 010, name: a, color: [1, 2, 3]}\n"}
    expected = {**{k: v[1] for k, v in BAD_FILES.items()}, "bomb.yaml": "aliases (*a) are not supported",
                "octal.yaml": "010 is 8 (octal)", "deep.yaml": "nested more than 32 levels deep"}
    assert expected[name] in palette_error(write(tmp_path, name, texts[name]))
    assert load_palette(write(tmp_path, "ok.yaml", VALID_YAML)).classes[1].also == ((128, 64, 129),)


@FUZZ
@given(names=st.lists(st.text(min_size=1, max_size=8).filter(str.strip), min_size=1, max_size=4, unique=True),
       name=st.text(max_size=8), description=st.text(max_size=8), header=st.text(max_size=20))
def test_fuzz_written_palettes_read_back_the_same(names, name, description, header):
    """What maskcli writes (extract-palette, palettes convert) is a palette it reads back as is,
    whatever the names: emoji, control characters, YAML words, quotes, line breaks."""
    from maskcli.palette import palette_to_yaml, parse_palette_text

    classes = tuple(PaletteClass(i, n, (i, 0, 0)) for i, n in enumerate(names))
    palette = Palette(name or "x", classes, description=description.strip())
    assert parse_palette_text(palette_to_yaml(palette, header=header), "again.yaml") == palette


def test_names_with_emoji_and_control_characters_are_written_readably(tmp_path):
    csv_path = write(tmp_path, "class_dict.csv", 'name,r,g,b\ncat 😀,1,2,3\n"a\x0bb",4,5,6\noff,7,8,9\n')
    result = invoke("palettes", "convert", csv_path, tmp_path / "p.yaml")
    assert result.exit_code == 0, result.output
    again = load_palette(tmp_path / "p.yaml")
    assert [c.name for c in again.classes] == ["cat 😀", "a\x0bb", "off"]
    assert '"cat 😀"' in (tmp_path / "p.yaml").read_text(encoding="utf-8")


def test_maskcli_yaml_under_another_name_gets_its_own_error(tmp_path):
    path = write(tmp_path, "palette.txt", "classes:\n  - {name: a, colour: [1, 2, 3]}\n")
    assert palette_error(path).startswith(f"{path}: classes[0] ('a'): unknown key 'colour'")
    junk = write(tmp_path, "junk.txt", "hello\n")
    assert palette_error(junk).startswith(f"{junk}: not a palette file maskcli can read (expected one of: ")
