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
)
_TRIPLET_LINE = re.compile(r"\s*(\d+)\s+(\d+)\s+(\d+)\s+(\S.*?)\s*")
_CVAT_LINE = re.compile(r"\s*([^:#][^:]*):\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*(:.*)?")


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
    rows = list(csv.reader(io.StringIO(text), skipinitialspace=True))
    if not rows:
        raise PaletteError(f"{where}: empty file")
    header = [h.strip().lower() for h in rows[0]]
    try:
        cols = [header.index(k) for k in ("name", "r", "g", "b")]
    except ValueError:
        raise PaletteError(f"{where}: the header must have name, r, g and b columns, got {rows[0]}") from None
    entries = []
    for lineno, row in enumerate(rows[1:], 2):
        if not row or not any(cell.strip() for cell in row):
            continue
        try:
            label, r, g, b = (row[i].strip() for i in cols)
            entries.append((len(entries), label, (int(r), int(g), int(b))))
        except (IndexError, ValueError):
            raise PaletteError(f"{where}: line {lineno}: expected name,r,g,b, got {','.join(row)!r}") from None
    return _entries_to_data(entries, name, where)


def read_cvat_labelmap(text: str, where: str, name: str) -> dict:
    """CVAT/Datumaro labelmap.txt: 'name:r,g,b:parts:actions' per line, '#' comments."""
    return _read_lines(text, where, name, _CVAT_LINE, "name:r,g,b:parts:actions", 1, (2, 3, 4))


def read_json(text: str, where: str, name: str) -> dict:
    """Datumaro dataset_meta.json (label_map + segmentation_colors) or a Mapillary config."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PaletteError(f"{where}: not valid JSON: {exc}") from None
    if isinstance(data, dict) and "label_map" in data and "segmentation_colors" in data:
        labels, colors = data["label_map"], data["segmentation_colors"]
        try:
            entries = [(int(k), str(v), tuple(int(c) for c in colors[int(k)])) for k, v in labels.items()]
        except (ValueError, IndexError, TypeError):
            raise PaletteError(f"{where}: label_map ids must index segmentation_colors") from None
        return _entries_to_data(sorted(entries), name, where)
    if isinstance(data, dict) and isinstance(data.get("labels"), list):
        try:
            entries = [(i, str(lab.get("name") or lab["readable"]), tuple(int(c) for c in lab["color"]))
                       for i, lab in enumerate(data["labels"])]
        except (KeyError, TypeError, ValueError, AttributeError):
            raise PaletteError(f"{where}: each of 'labels' needs a name and a color") from None
        return _entries_to_data(entries, name, where)
    raise PaletteError(f"{where}: a JSON palette is a Datumaro dataset_meta.json or a Mapillary config")


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
    return None
