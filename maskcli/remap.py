"""Remap tables: index to index through one lookup table (many-to-one, to ignore, a default).

A map is a small YAML file (docs/remap.md) or a built-in name (``palettes/maps/*.yaml``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from maskcli.errors import LISTED, MaskError, PaletteError, UnknownIndicesError
from maskcli.palette import _parse_int, builtin_dir, text_field

_KEYS = {"name", "description", "source", "ignore_index", "default", "map", "base"}
DEFAULTS = ("error", "keep", "ignore")


@dataclass(frozen=True)
class RemapTable:
    """``pairs``: (from, to) values; ``default`` for values not listed: 'error', 'keep',
    'ignore' or a value; 'ignore' means ``ignore_index``."""

    name: str
    pairs: tuple[tuple[int, int], ...]
    default: str | int = "error"
    ignore_index: int = 255
    description: str = ""
    path: str = field(default="", compare=False)
    file: str = field(default="", compare=False)  # the YAML file it was loaded from

    def out_max(self, input_max: int) -> int:
        values = [to for _, to in self.pairs]
        if self.default == "keep":
            values.append(input_max)
        elif self.default == "ignore":
            values.append(self.ignore_index)
        elif isinstance(self.default, int):
            values.append(self.default)
        return max(values, default=0)


def builtin_maps() -> dict[str, Path]:
    folder = builtin_dir() / "maps"
    return dict(sorted((p.name[: -len(".yaml")], p) for p in folder.glob("*.yaml")))


def load_map(spec: str) -> RemapTable:
    """A built-in map by name, or a map YAML file."""
    maps = builtin_maps()
    if spec in maps and "/" not in spec:
        path, where = maps[spec], spec
    elif "/" in spec or os.sep in spec or spec.endswith((".yaml", ".yml")):
        path, where = Path(spec), spec
    else:
        raise PaletteError(f"unknown map {spec!r}: built-ins are {', '.join(maps) or '(none)'}; a file name needs a '/' or an extension")
    from maskcli import yamlfile

    text = yamlfile.read_text(path, where, "map")
    try:
        data = yamlfile.load_yaml(text, where, "map")
        table = _validate(data, where)
    except PaletteError:
        raise
    except Exception as exc:  # noqa: BLE001 - a bad map file is a one-line usage error, always
        raise yamlfile.internal_error(where, "map", exc) from None
    from dataclasses import replace

    return replace(table, file=str(path))


def _validate(data, where: str) -> RemapTable:
    def fail(message):
        raise PaletteError(f"{where}: {message}")

    if not isinstance(data, dict) or ("map" not in data and "base" not in data):
        fail("a map file is a mapping with a 'map' of value: new value (or a 'base' map it extends)")
    unknown = sorted(set(map(str, data)) - _KEYS)
    if unknown:
        fail(f"unknown key {unknown[0]!r} (allowed: {', '.join(sorted(_KEYS))})")
    text_field(data, "source", where)  # free text, unused, but must be text
    base = _base(data, where)
    ignore_index = _parse_int(data.get("ignore_index", base.ignore_index if base else 255), "ignore_index", 0,
                              65535, where)
    default = data.get("default", base.default if base else "error")
    if default not in DEFAULTS:
        default = _parse_int(default, "default", 0, 65535, where)
    table = data.get("map", {})
    if not isinstance(table, dict) or not (table or base):
        fail("'map' must be a non-empty mapping of value: new value")
    merged = {}
    if base is not None:  # the base's entries, its ignore index following this file's
        merged = {src: ignore_index if dst == base.ignore_index else dst for src, dst in base.pairs}
    for key, value in table.items():
        src = _parse_int(key, "map key", 0, 65535, where)
        if value == "ignore":
            value = ignore_index
        merged[src] = _parse_int(value, f"map[{src}]", 0, 65535, where)
    pairs = list(merged.items())
    return RemapTable(
        name=text_field(data, "name", where, strip=False) or Path(where).stem, pairs=tuple(sorted(pairs)), default=default,
        ignore_index=ignore_index, description=text_field(data, "description", where), path=where,
    )


def _base(data: dict, where: str) -> RemapTable | None:
    """The built-in map a file extends (``base: cityscapes-trainids``), or None."""
    if "base" not in data:
        return None
    name = data["base"]
    maps = builtin_maps()
    if not isinstance(name, str) or name not in maps:
        raise PaletteError(f"{where}: base {_short(name)} is not a built-in map (built-ins: {', '.join(maps) or '(none)'})")
    return load_map(name)


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def remap(index, table: RemapTable):
    """Rewrite an (H, W) uint8/uint16 index mask through ``table``; raises UnknownIndicesError
    for values the table does not list when its default is 'error'."""
    import numpy as np

    index = np.asarray(index)
    if index.dtype not in (np.uint8, np.uint16):
        raise MaskError(f"index masks are 8- or 16-bit, not {index.dtype}")
    size = 256 if index.dtype == np.uint8 else 65536
    lut = _lut(table, size)
    out = np.take(lut, index)
    if table.default == "error":
        bad = out < 0
        if bad.any():
            from maskcli.convert import value_counts

            values, counts = value_counts(index[bad])
            items = sorted(((int(v), int(n)) for v, n in zip(values, counts)), key=lambda e: (-e[1], e[0]))
            raise UnknownIndicesError(items[:LISTED], len(items), what="the map does not list")
    dtype = np.uint8 if table.out_max(size - 1) <= 255 else np.uint16
    return out.astype(dtype)


def _lut(table: RemapTable, size: int):
    import numpy as np

    if table.default == "keep":
        lut = np.arange(size, dtype=np.int32)
    elif table.default == "error":
        lut = np.full(size, -1, dtype=np.int32)
    else:
        lut = np.full(size, table.ignore_index if table.default == "ignore" else table.default, dtype=np.int32)
    for src, dst in table.pairs:
        if src < size:
            lut[src] = dst
    return lut
