"""Palette files that other tools write, read into maskcli's palette data.

Each reader returns the plain data a maskcli palette YAML holds, so one validation serves
every format. Ids are positions in the file unless the format carries ids; an entry named
``ignored``, ``void``, ``unlabeled`` (or ``unlabelled``, ``__ignore__``) becomes an ignore
color, not a class.
"""

from __future__ import annotations

import csv
import io
import json
import re

from maskcli.errors import PaletteError

IGNORE_NAMES = {"ignored", "void", "unlabeled", "unlabelled", "__ignore__"}
FORMATS = (
    "maskcli YAML (.yaml, .yml)",
    "CamVid label_colors.txt ('R G B name')",
    "class_dict.csv / labelmap.csv ('name,r,g,b')",
    "CVAT/Datumaro labelmap.txt ('name:r,g,b:parts:actions')",
    "Datumaro dataset_meta.json",
    "Mapillary Vistas config.json",
    "labelme class_names.txt / labels.txt (one name per line, VOC colormap colors)",
)
LABELME_FIRST = ("__ignore__", "_background_")
# [0-9], not \d (which takes any script's digits), and at most 9 of them: int() stays cheap
_NUM = r"([0-9]{1,9})"
_TRIPLET_LINE = re.compile(rf"\s*{_NUM}\s+{_NUM}\s+{_NUM}\s+(\S.*?)\s*")
_CVAT_LINE = re.compile(rf"\s*([^:#][^:]*):\s*{_NUM}\s*,\s*{_NUM}\s*,\s*{_NUM}\s*(:.*)?")


def _entries_to_data(entries, name: str, where: str) -> dict:
    """(id, name, (r, g, b)) entries -> palette data, ignore-named entries as ignore colors."""
    classes, ignore = [], []
    for cid, label, color in entries:
        if label.strip().lower() in IGNORE_NAMES:
            ignore.append(list(color))
        else:
            classes.append({"id": cid, "name": label.strip(), "color": list(color)})
    class_colors = {tuple(c["color"]) for c in classes}
    ignore = [c for i, c in enumerate(ignore) if tuple(c) not in class_colors and c not in ignore[:i]]
    if not classes:
        raise PaletteError(f"{where}: no classes found")
    data = {"name": name, "classes": classes}
    if ignore:
        data["ignore_colors"] = ignore
    return data


def _read_lines(text: str, where: str, name: str, pattern, expected: str, label: int, rgb: tuple) -> dict:
    """One entry per non-blank, non-comment line matching ``pattern``: the name is group
    ``label``, the color groups ``rgb``; the id is the entry's position."""
    entries = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = pattern.fullmatch(line)
        if not m:
            raise PaletteError(f"{where}: line {lineno}: expected {expected!r}, got {line.strip()!r}")
        entries.append((len(entries), m.group(label), tuple(int(m.group(i)) for i in rgb)))
    return _entries_to_data(entries, name, where)


def read_label_colors(text: str, where: str, name: str) -> dict:
    """CamVid label_colors.txt: 'R G B<tabs or spaces>name' per line."""
    return _read_lines(text, where, name, _TRIPLET_LINE, "R G B name", 4, (1, 2, 3))


def read_class_csv(text: str, where: str, name: str) -> dict:
    """class_dict.csv / labelmap.csv: a header with name, r, g, b (any case, extra columns
    ignored, spaces after commas tolerated)."""
    try:
        rows = list(csv.reader(io.StringIO(text), skipinitialspace=True))
    except csv.Error as exc:
        raise PaletteError(f"{where}: not valid CSV: {exc}") from None
    if not rows:
        raise PaletteError(f"{where}: empty file")
    header = [h.strip().lower() for h in rows[0]]
    try:
        cols = [header.index(k) for k in ("name", "r", "g", "b")]
    except ValueError:
        got = ",".join(rows[0])
        got = got if len(got) <= 80 else got[:77] + "..."
        raise PaletteError(f"{where}: the header must have name, r, g and b columns, got {got!r}") from None
    entries = []
    for lineno, row in enumerate(rows[1:], 2):
        if not row or not any(cell.strip() for cell in row):
            continue
        cells = [row[i].strip() if i < len(row) else "" for i in cols]
        if not all(re.fullmatch(r"[0-9]{1,9}", c) for c in cells[1:]):
            got = ",".join(row)
            got = got if len(got) <= 80 else got[:77] + "..."
            raise PaletteError(f"{where}: line {lineno}: expected name,r,g,b with r, g, b numbers, got {got!r}")
        entries.append((len(entries), cells[0], tuple(int(c) for c in cells[1:])))
    return _entries_to_data(entries, name, where)


def read_cvat_labelmap(text: str, where: str, name: str) -> dict:
    """CVAT/Datumaro labelmap.txt: 'name:r,g,b:parts:actions' per line, '#' comments."""
    return _read_lines(text, where, name, _CVAT_LINE, "name:r,g,b:parts:actions", 1, (2, 3, 4))


def read_json(text: str, where: str, name: str) -> dict:
    """Datumaro dataset_meta.json (label_map + segmentation_colors) or a Mapillary config."""
    from maskcli.yamlfile import check_depth, strip_bom

    try:
        data = json.loads(strip_bom(text))
    except json.JSONDecodeError as exc:
        raise PaletteError(f"{where}: not valid JSON: {exc}") from None
    except RecursionError:
        raise PaletteError(f"{where}: nested too deeply") from None
    check_depth(data, where)
    if isinstance(data, dict) and "label_map" in data and "segmentation_colors" in data:
        return _read_datumaro(data, where, name)
    if isinstance(data, dict) and isinstance(data.get("labels"), list):
        return _read_mapillary(data, where, name)
    raise PaletteError(f"{where}: a JSON palette is a Datumaro dataset_meta.json or a Mapillary config")


def _json_color(value, where: str, what: str) -> tuple:
    ok = isinstance(value, list) and len(value) == 3
    if not ok or any(isinstance(c, bool) or not isinstance(c, int) or not 0 <= c <= 255 for c in value):
        raise PaletteError(f"{where}: {what}: color {_short(value)} is not [r, g, b] with integers 0..255")
    return tuple(value)


def _json_text(value, where: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PaletteError(f"{where}: {what}: the name {_short(value)} is not a non-empty string")
    return value


def _short(value) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _read_datumaro(data: dict, where: str, name: str) -> dict:
    labels, colors = data["label_map"], data["segmentation_colors"]
    if not isinstance(labels, dict) or not isinstance(colors, list):
        raise PaletteError(f"{where}: label_map must map ids to names and segmentation_colors be a list of colors")
    entries = []
    for key, label in labels.items():
        if not re.fullmatch(r"[0-9]{1,5}", key) or int(key) >= len(colors):
            raise PaletteError(f"{where}: label_map id {_short(key)} is not a position in segmentation_colors "
                               f"(0..{len(colors) - 1})")
        what = f"label_map[{key}]"
        entries.append((int(key), _json_text(label, where, what), _json_color(colors[int(key)], where, what)))
    return _entries_to_data(sorted(entries), name, where)


def _read_mapillary(data: dict, where: str, name: str) -> dict:
    entries = []
    for i, lab in enumerate(data["labels"]):
        what = f"labels[{i}]"
        if not isinstance(lab, dict) or "color" not in lab or not (lab.get("name") or lab.get("readable")):
            raise PaletteError(f"{where}: {what}: each of 'labels' needs a name and a color")
        label = _json_text(lab.get("name") or lab.get("readable"), where, what)
        entries.append((i, label, _json_color(lab["color"], where, what)))
    return _entries_to_data(entries, name, where)


def voc_color(value: int) -> tuple[int, int, int]:
    """The color of id ``value`` in the Pascal VOC colormap (labelme's and imgviz's
    ``label_colormap``), extended to 24 bits of id so that every id below 2**24 has its own."""
    r = g = b = 0
    for shift in range(8):
        r |= (value & 1) << (7 - shift)
        g |= ((value >> 1) & 1) << (7 - shift)
        b |= ((value >> 2) & 1) << (7 - shift)
        value >>= 3
    return (r, g, b)


def read_labelme_names(text: str, where: str, name: str) -> dict:
    """labelme's class_names.txt (or the labels.txt it is made from): one class name per line,
    ids in line order from 0 (``_background_``); ``__ignore__`` (labels.txt's first line,
    id -1, which labelme saves as 255) is the ignore index 255, listed or not. Colors are the VOC colormap's, as labelme
    draws its masks: id i gets ``voc_color(i)``, the ignore index (224, 224, 192)."""
    entries = []
    for lineno, line in enumerate(text.splitlines(), 1):
        label = line.strip()
        if not label:
            continue
        if len(label) > 200 or any(ch in label for ch in "\t\0"):
            raise PaletteError(f"{where}: line {lineno}: expected one class name per line, got {label[:40]!r}")
        if label == "__ignore__":
            entries.append((255, label, voc_color(255)))
        else:
            position = sum(1 for e in entries if e[1] != "__ignore__")
            entries.append((position, label, voc_color(position)))
    if not any(e[1] == "__ignore__" for e in entries):  # labelme saves -1 as 255 whatever the file lists
        entries.append((255, "__ignore__", voc_color(255)))
    return _entries_to_data(entries, name, where)


def sniff(path_name: str, text: str):
    """The reader for a palette file that is not maskcli YAML, from its name and content."""
    lower = path_name.lower()
    if lower.endswith(".json") or text.lstrip().startswith("{"):
        return read_json
    first = next((line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")), "")
    if lower.endswith(".csv") or re.match(r"\s*name\s*,", first, re.I):
        return read_class_csv
    if _CVAT_LINE.fullmatch(first):
        return read_cvat_labelmap
    if _TRIPLET_LINE.fullmatch(first):
        return read_label_colors
    if lower.endswith("class_names.txt") or first.strip() in LABELME_FIRST:
        return read_labelme_names
    return None
