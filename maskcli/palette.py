"""Palettes: the frozen Palette value, YAML loading and validation, built-ins by name.

A palette maps class ids to RGB colors. Colors are RGB everywhere in maskcli; nothing here
knows about OpenCV's BGR order. This module does not import NumPy: the lookup tables built
from a palette live in ``convert.py``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from maskcli.errors import PaletteError

RGB = tuple[int, int, int]

MAX_ID = 65535
DEFAULT_IGNORE_INDEX = 255
_CLASS_KEYS = {"id", "name", "color", "also", "pixels", "files"}
_REQUIRED_CLASS_KEYS = ("name", "color")
_TOP_KEYS = {"name", "description", "source", "ignore_index", "ignore_colors", "classes"}
_HEX = re.compile(r"#([0-9a-fA-F]{6})")
_FILE_SUFFIX = re.compile(r"\.[A-Za-z0-9]+$")


@dataclass(frozen=True)
class PaletteClass:
    """One class: its id, name, the color to-rgb writes, and extra colors to-index accepts."""

    id: int
    name: str
    color: RGB
    also: tuple[RGB, ...] = ()
    pixels: int | None = None
    files: int | None = None


@dataclass(frozen=True)
class Palette:
    """A validated palette. Build one with :func:`load_palette` or :meth:`Palette.from_dict`."""

    name: str
    classes: tuple[PaletteClass, ...]
    ignore_index: int = DEFAULT_IGNORE_INDEX
    ignore_colors: tuple[RGB, ...] = ()
    description: str = ""
    source: str = ""
    path: str = field(default="", compare=False)  # how messages name it: a file path or built-in name
    file: str = field(default="", compare=False)  # the YAML file it was loaded from
    builtin: bool = field(default=False, compare=False)

    @property
    def max_value(self) -> int:
        """The largest value an index mask of this palette can hold."""
        return max(max(c.id for c in self.classes), self.ignore_index)

    @property
    def bits(self) -> int:
        """8 when every id and the ignore index fit in a byte, else 16."""
        return 8 if self.max_value <= 255 else 16

    @property
    def ignore_color(self) -> RGB:
        """The color to-rgb writes for the ignore index (the first ignore color, else black)."""
        return self.ignore_colors[0] if self.ignore_colors else (0, 0, 0)

    def decode_pairs(self) -> list[tuple[RGB, int]]:
        """(color, value) pairs for to-index, the first occurrence of a color winning."""
        seen: dict[RGB, int] = {}
        for c in self.classes:
            for color in (c.color, *c.also):
                seen.setdefault(color, c.id)
        for color in self.ignore_colors:
            seen.setdefault(color, self.ignore_index)
        return list(seen.items())

    def encode_pairs(self) -> list[tuple[int, RGB]]:
        """(value, color) pairs for to-rgb: each class's color, and the ignore color."""
        return [(c.id, c.color) for c in self.classes] + [(self.ignore_index, self.ignore_color)]

    def shared_colors(self) -> dict[RGB, list[PaletteClass]]:
        """Colors that more than one class claims (to-index decodes them to the first)."""
        owners: dict[RGB, list[PaletteClass]] = {}
        for c in self.classes:
            for color in (c.color, *c.also):
                owners.setdefault(color, []).append(c)
        return {color: cs for color, cs in owners.items() if len(cs) > 1}

    def shared_colors_message(self) -> str | None:
        """One line naming the shared colors and their classes, or None when there are none."""
        shared = self.shared_colors()
        if not shared:
            return None
        parts = [
            f"{format_color(color)} -> {', '.join(f'{c.id} {c.name!r}' for c in cs)}"
            for color, cs in shared.items()
        ]
        where = self.path or self.name
        return (
            f"{where}: {len(shared)} color(s) shared by several classes; to-index decodes each "
            f"to the first listed: " + "; ".join(parts)
        )

    @classmethod
    def from_dict(cls, data, where: str = "<palette>") -> Palette:
        """Validate a palette given as plain data (what the YAML file holds)."""
        return _validate(data, where)


def format_color(color: RGB) -> str:
    return "({}, {}, {})".format(*color)


# --------------------------------------------------------------------------- validation


def _fail(where: str, message: str):
    raise PaletteError(f"{where}: {message}")


def _short(value) -> str:
    """repr() of a value for a message, cut to a readable length."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _parse_color(value, where: str) -> RGB:
    if isinstance(value, str):
        m = _HEX.fullmatch(value.strip())
        if not m:
            _fail(where, f"color {_short(value)} is not '#rrggbb' or [r, g, b]")
        h = m.group(1)
        return (int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16))
    if not isinstance(value, (list, tuple)) or len(value) != 3:
        _fail(where, f"color {_short(value)} is not '#rrggbb' or [r, g, b]")
    for ch in value:
        if isinstance(ch, bool) or not isinstance(ch, int):
            _fail(where, f"color channel {_short(ch)} is not an integer")
        if not 0 <= ch <= 255:
            _fail(where, f"color channel {ch} is outside 0..255")
    return (value[0], value[1], value[2])


def _parse_int(value, what: str, lo: int, hi: int, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        _fail(where, f"{what} {_short(value)} is not an integer")
    if not lo <= value <= hi:
        _fail(where, f"{what} {value} is outside {lo}..{hi}")
    return value


def _parse_class(entry, position: int, where: str) -> PaletteClass:
    label = f"classes[{position}]"
    if not isinstance(entry, dict):
        _fail(where, f"{label} is not a mapping with id, name and color")
    if isinstance(entry.get("name"), str):
        label += f" ({entry['name']!r})"
    here = f"{where}: {label}"
    unknown = sorted(set(map(str, entry)) - _CLASS_KEYS)
    if unknown:
        _fail(here, f"unknown key {_short(unknown[0])} (allowed: {', '.join(sorted(_CLASS_KEYS))})")
    for key in _REQUIRED_CLASS_KEYS:
        if key not in entry:
            _fail(here, f"missing key {key!r}")
    name = entry["name"]
    if not isinstance(name, str) or not name.strip():
        _fail(here, f"name {_short(name)} is not a non-empty string")
    cid = _parse_int(entry.get("id", position), "id", 0, MAX_ID, here)
    color = _parse_color(entry["color"], here)
    also_raw = entry.get("also", []) or []
    if not isinstance(also_raw, list):
        _fail(here, "also must be a list of colors")
    also = tuple(_parse_color(c, here) for c in also_raw)
    seen = {color}
    for c in also:
        if c in seen:
            _fail(here, f"color {format_color(c)} is listed twice")
        seen.add(c)
    counts = {}
    for key in ("pixels", "files"):
        if entry.get(key) is not None:
            counts[key] = _parse_int(entry[key], key, 0, 2**63 - 1, here)
    return PaletteClass(cid, name, color, also, **counts)


def _validate(data, where: str) -> Palette:
    if not isinstance(data, dict):
        _fail(where, "a palette is a mapping with a 'classes' list")
    unknown = sorted(set(map(str, data)) - _TOP_KEYS)
    if unknown:
        _fail(where, f"unknown key {_short(unknown[0])} (allowed: {', '.join(sorted(_TOP_KEYS))})")
    if "classes" not in data:
        _fail(where, "missing key 'classes'")
    raw = data["classes"]
    if not isinstance(raw, list) or not raw:
        _fail(where, "'classes' must be a non-empty list")
    ignore_index = _parse_int(
        data.get("ignore_index", DEFAULT_IGNORE_INDEX), "ignore_index", 0, MAX_ID, where
    )
    ignore_raw = data.get("ignore_colors", []) or []
    if not isinstance(ignore_raw, list):
        _fail(where, "ignore_colors must be a list of colors")
    ignore_colors = tuple(_parse_color(c, f"{where}: ignore_colors") for c in ignore_raw)
    if len(set(ignore_colors)) != len(ignore_colors):
        _fail(where, "ignore_colors lists a color twice")

    classes = tuple(_parse_class(entry, i, where) for i, entry in enumerate(raw))
    by_id: dict[int, PaletteClass] = {}
    for i, c in enumerate(classes):
        if c.id == ignore_index:
            _fail(where, f"classes[{i}] ({c.name!r}): id {c.id} is the ignore_index")
        if c.id in by_id:
            _fail(where, f"classes[{i}] ({c.name!r}): id {c.id} is already used by {by_id[c.id].name!r}")
        by_id[c.id] = c
    class_colors = {color: c for c in classes for color in (c.color, *c.also)}
    for color in ignore_colors:
        if color in class_colors:
            _fail(
                where,
                f"ignore color {format_color(color)} is also the color of class "
                f"{class_colors[color].id} {class_colors[color].name!r}",
            )
    texts = {key: text_field(data, key, where, strip=key != "name") for key in ("name", "description", "source")}
    return Palette(
        name=texts["name"] or Path(where).stem,
        classes=classes,
        ignore_index=ignore_index,
        ignore_colors=ignore_colors,
        description=texts["description"],
        source=texts["source"],
    )


def text_field(data: dict, key: str, where: str, strip: bool = True) -> str:
    """A free-text top-level field: a string (stripped), or "" when absent or empty."""
    value = data.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        kinds = {list: "a list", dict: "a mapping", bool: "true/false", int: "a number", float: "a number"}
        kind = kinds.get(type(value), f"a {type(value).__name__}")
        _fail(where, f"{key} is {kind}, not text (quote it)")
    return value.strip() if strip else value


# --------------------------------------------------------------------------- loading


def parse_palette_text(text: str, where: str) -> Palette:
    """A palette from maskcli YAML text (see yamlfile.load_yaml for what is refused)."""
    from maskcli.yamlfile import load_yaml

    return _validate(load_yaml(text, where, "palette"), where)


def _parse_other_format(path: Path, text: str, where: str) -> Palette:
    """A palette file another tool wrote (label_colors.txt, class_dict.csv, ...), or YAML."""
    from maskcli import formats
    from maskcli.yamlfile import load_yaml, strip_bom

    text = strip_bom(text)
    reader = formats.sniff(path.name, text)
    if reader is None:
        try:
            data = load_yaml(text, where, "palette")
        except PaletteError:
            data = None
        if isinstance(data, dict) and "classes" in data:  # maskcli YAML under another name
            return _validate(data, where)
        raise PaletteError(
            f"{where}: not a palette file maskcli can read (expected one of: {'; '.join(formats.FORMATS)})"
        )
    return _validate(reader(text, where, path.stem), where)


def builtin_dir() -> Path:
    """Where the built-in palettes are: inside the installed package, or the source tree."""
    here = Path(__file__).resolve().parent
    installed = here / "palettes"
    return installed if installed.is_dir() else here.parent / "palettes"


def builtin_palettes() -> dict[str, Path]:
    """Built-in palette names mapped to their YAML files, sorted by name."""
    folder = builtin_dir()
    found = {p.name[: -len(".yaml")]: p for p in folder.glob("*.yaml")}
    return dict(sorted(found.items()))


def is_file_spec(value: str) -> bool:
    """A -p value is a file when it contains a path separator or ends in an extension."""
    return "/" in value or os.sep in value or bool(_FILE_SUFFIX.search(value))


def load_palette(name_or_path: str | os.PathLike) -> Palette:
    """Load a built-in palette by name, or a palette YAML file by path.

    A value with a path separator is a file; otherwise a built-in's exact name (some contain
    a dot, such as ``mapillary-v1.2``) is that built-in; otherwise a value that ends in an
    extension is a file; anything else must be a built-in name.
    """
    spec = os.fspath(name_or_path)
    builtins = builtin_palettes()
    if isinstance(name_or_path, str) and spec in builtins and "/" not in spec and os.sep not in spec:
        return _load_file(builtins[spec], builtin=True)
    if isinstance(name_or_path, Path) or is_file_spec(spec):
        return _load_file(Path(spec), builtin=False)
    if spec not in builtins:
        raise PaletteError(
            f"unknown palette {spec!r}: built-ins are {', '.join(builtins) or '(none)'}; "
            "a file name needs a '/' or an extension"
        )
    return _load_file(builtins[spec], builtin=True)


def _load_file(path: Path, builtin: bool) -> Palette:
    from maskcli import yamlfile

    where = str(path)
    text = yamlfile.read_text(path, where, "palette")
    try:
        cached = _cached_builtin(path, text) if builtin else None
        if cached is not None:
            palette = _validate(cached, where)
        elif builtin or path.suffix.lower() in (".yaml", ".yml"):
            palette = parse_palette_text(text, where)
        else:
            palette = _parse_other_format(path, text, where)
    except PaletteError:
        raise
    except Exception as exc:  # noqa: BLE001 - a bad palette file is a one-line usage error, always
        raise yamlfile.internal_error(where, "palette", exc) from None
    if builtin:
        where = path.name[: -len(".yaml")]
    return _replace(palette, path=where, file=str(path), builtin=builtin)


BUILTIN_CACHE = "builtin-cache.json"


def _cached_builtin(path: Path, text: str):
    """A built-in palette's data as parsed from its YAML, from the JSON cache shipped beside
    the YAML files (scripts/update_palette_cache.py writes it), or None when it has no entry
    for exactly this text. It spares a run the YAML parser (about 20 ms of start-up); a stale
    or missing cache only costs that time, never a different palette."""
    import hashlib
    import json

    try:
        with open(path.parent / BUILTIN_CACHE, "rb") as f:
            entry = json.load(f).get("palettes", {}).get(path.name)
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(entry, dict) or entry.get("sha256") != hashlib.sha256(text.encode("utf-8")).hexdigest():
        return None
    return entry.get("data")


def _replace(palette: Palette, **changes) -> Palette:
    from dataclasses import replace

    return replace(palette, **changes)


# --------------------------------------------------------------------------- writing

_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_ .-]*")
_YAML_WORDS = {"yes", "no", "true", "false", "on", "off", "null", "y", "n", "~"}


def _yaml_printable(ch: str) -> bool:
    """A character YAML lets stand for itself inside one line (no line breaks, no BOM)."""
    o = ord(ch)
    return (0x20 <= o <= 0x7E or 0xA0 <= o <= 0xD7FF or 0xE000 <= o <= 0xFFFD and o != 0xFEFF
            or 0x10000 <= o <= 0x10FFFF) and ch not in "\u2028\u2029"


def _yaml_str(text: str) -> str:
    """A plain scalar when every YAML reader takes it as this text, else a double-quoted one
    (escapes for quotes, backslashes and what YAML does not print, any script left as is)."""
    if _PLAIN_NAME.fullmatch(text) and text.lower() not in _YAML_WORDS and text == text.strip():
        return text
    out = []
    for ch in text:
        o = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif _yaml_printable(ch):
            out.append(ch)
        elif o <= 0xFF:
            out.append(f"\\x{o:02x}")
        elif o <= 0xFFFF:
            out.append(f"\\u{o:04x}")
        else:
            out.append(f"\\U{o:08x}")
    return '"' + "".join(out) + '"'


def _yaml_comment(line: str) -> str:
    """A header line as a YAML comment: what YAML does not print is escaped."""
    text = "".join(ch if ch == "\t" or _yaml_printable(ch) else f"\\x{ord(ch):02x}" if ord(ch) <= 0xFF
                   else f"\\u{ord(ch):04x}" for ch in line)
    return f"# {text}" if text else "#"


def palette_to_yaml(palette: Palette, header: str = "") -> str:
    """Write a palette as maskcli YAML, one class a line."""
    lines = [_yaml_comment(line) for line in header.removesuffix("\n").split("\n")] if header else []
    lines.append(f"name: {_yaml_str(palette.name)}")
    if palette.description:
        lines.append(f"description: {_yaml_str(palette.description)}")
    if palette.source:
        lines.append(f"source: {_yaml_str(palette.source)}")
    lines.append(f"ignore_index: {palette.ignore_index}")
    if palette.ignore_colors:
        lines.append(f"ignore_colors: [{', '.join(_color_yaml(c) for c in palette.ignore_colors)}]")
    lines.append("classes:")
    for c in palette.classes:
        fields = [f"id: {c.id}", f"name: {_yaml_str(c.name)}", f"color: {_color_yaml(c.color)}"]
        if c.also:
            fields.append(f"also: [{', '.join(_color_yaml(a) for a in c.also)}]")
        if c.pixels is not None:
            fields.append(f"pixels: {c.pixels}")
        if c.files is not None:
            fields.append(f"files: {c.files}")
        lines.append(f"  - {{{', '.join(fields)}}}")
    return "\n".join(lines) + "\n"


def _color_yaml(color: RGB) -> str:
    return "[{}, {}, {}]".format(*color)
