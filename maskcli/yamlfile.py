"""Reading maskcli's own small text files (palettes, maps): bounded, BOM-tolerant, strict YAML.

Every YAML file maskcli reads goes through :func:`load_yaml`. It is PyYAML's safe loader (the
C one when available) behind a check of the event stream that refuses, with the file, line
and value in one message:

* plain values that YAML 1.1 readers (PyYAML, so most Python scripts) and YAML 1.2 readers
  read differently: ``064`` is 52 to one and 64 to the other, ``1:00`` is 60 or text,
  ``off`` is false or text, ``09`` is text or 9, ``2024-01-01`` a date or text. A palette
  must mean the same to the training script that reads it with PyYAML as to maskcli;
* aliases (``*name``) and merge keys (``<<``): a few hundred bytes of nested aliases expand
  to gigabytes, and a palette never needs them;
* explicit tags other than ``!!str``, mapping keys that are lists or mappings, more than
  :data:`MAX_DEPTH` levels of nesting, and numbers of more than 100 characters.

What remains is read the same by both YAML versions. Errors are :class:`PaletteError`.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from maskcli.errors import PaletteError

MAX_DEPTH = 32  # a palette needs 5: top mapping, classes, a class, also, a color
MAX_BYTES = 16 * 1024 * 1024  # the largest built-in is 12 KB; Mapillary's config.json 20 KB
_MAX_NUMBER = 100  # characters in a plain number

_STR = "tag:yaml.org,2002:str"
_ALLOWED_TAGS = {None, _STR, "tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"}
# plain scalars that are surely the same in YAML 1.1 and 1.2: decimal integers without a
# leading zero, and words that are neither booleans nor nulls (checked below)
_PLAIN_INT = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")
_PLAIN_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_ ./()'-]*")
_YAML11_WORDS = {"yes", "no", "on", "off", "true", "false", "null"}
# the YAML 1.2 core schema (https://yaml.org/spec/1.2.2/#1032-tag-resolution)
_CORE_NULL = re.compile(r"null|Null|NULL|~|")
_CORE_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_CORE_INT = re.compile(r"[-+]?[0-9]+")
_CORE_OCT = re.compile(r"0o[0-7]+")
_CORE_HEX = re.compile(r"0x[0-9a-fA-F]+")
_CORE_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_CORE_INF = re.compile(r"[-+]?\.(?:inf|Inf|INF)")
_CORE_NAN = re.compile(r"\.(?:nan|NaN|NAN)")


def read_text(path: Path, where: str, what: str) -> str:
    """A small UTF-8 text file (a byte-order mark is dropped), at most MAX_BYTES."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise PaletteError(f"{where}: no such {what} file") from None
    except IsADirectoryError:
        raise PaletteError(f"{where}: is a folder, not a {what} file") from None
    except OSError as exc:
        raise PaletteError(f"{where}: cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_BYTES:
        raise PaletteError(f"{where}: more than {MAX_BYTES // 2**20} MiB: too big for a {what} file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise PaletteError(f"{where}: not a text file (not valid UTF-8)") from None


def strip_bom(text: str) -> str:
    return text[1:] if text.startswith("\ufeff") else text


# --------------------------------------------------------------------------- one meaning


class _Refused(Exception):
    def __init__(self, message: str, mark=None):
        super().__init__(message)
        self.mark = mark


def _core(text: str):
    """What a YAML 1.2 (core schema) reader makes of a plain scalar."""
    if _CORE_NULL.fullmatch(text):
        return None
    if text in _CORE_BOOL:
        return _CORE_BOOL[text]
    if _CORE_INT.fullmatch(text):
        return int(text)
    if _CORE_OCT.fullmatch(text):
        return int(text[2:], 8)
    if _CORE_HEX.fullmatch(text):
        return int(text[2:], 16)
    if _CORE_FLOAT.fullmatch(text) or _CORE_INF.fullmatch(text):
        return float(text.replace(".inf", "inf").replace(".Inf", "inf").replace(".INF", "inf"))
    if _CORE_NAN.fullmatch(text):
        return math.nan
    return text


_MERGE, _VALUE = object(), object()


class _Invalid:
    """A plain value PyYAML resolves to a type but then fails to build (``2001-13-01``)."""

    def __init__(self, kind: str):
        self.kind = kind


def _pyyaml(text: str, resolver, constructor):
    """What PyYAML's safe loader (YAML 1.1) makes of a plain scalar."""
    from yaml.nodes import ScalarNode

    tag = resolver.resolve(ScalarNode, text, (True, False))
    name = tag.rsplit(":", 1)[-1]
    if name == "merge":
        return _MERGE
    if name == "value":
        return _VALUE
    if name == "str":
        return text
    try:
        return getattr(constructor, f"construct_yaml_{name}")(ScalarNode(tag, text))
    except Exception:  # noqa: BLE001 - e.g. '0x_' or '2001-13-01': PyYAML itself fails on it
        return _Invalid({"timestamp": "date"}.get(name, name))


def _same(a, b) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a == b


def _describe(value, text: str, yaml11: bool) -> str:
    if value is _MERGE:
        return "a merge key"
    if value is _VALUE:
        return "a special '=' value"
    if isinstance(value, _Invalid):
        return f"an invalid {value.kind}"
    if value is None:
        return "null (no value)"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return "text"
    if isinstance(value, (int, float)):
        body = text.lstrip("+-")
        how = ""
        if not yaml11:
            how = " (octal)" if body.startswith("0o") else ""
        elif ":" in body:
            how = " (base 60)"
        elif body.startswith("0b"):
            how = " (binary)"
        elif len(body) > 1 and body[0] == "0" and body[1] in "0123456789_":
            how = " (octal)"
        return f"{value}{how}"
    return f"a {type(value).__name__}"


def _advice(v11, v12) -> str:
    numbers = [v for v in (v12, v11) if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if len(numbers) == 2:
        return "write the number without leading zeros"
    if numbers:
        return f"write {numbers[0]} if you mean the number, or quote it if you mean text"
    return "quote it"


def _shown(text: str) -> str:
    """A value as written, for a message: as is when short and on one line, else its repr."""
    if len(text) <= 40 and text.isprintable():
        return text
    return repr(text[:40]) + ("..." if len(text) > 40 else "")


def _check_scalar(text: str, resolver, constructor):
    if _PLAIN_INT.fullmatch(text):
        if len(text) > _MAX_NUMBER:
            raise _Refused(f"{text[:20]}...: a number of {len(text)} digits")
        return
    if _PLAIN_WORD.fullmatch(text) and text.lower() not in _YAML11_WORDS:
        return
    v12 = _core(text) if len(text) <= _MAX_NUMBER else text
    v11 = _pyyaml(text, resolver, constructor)
    if v11 is _MERGE:
        raise _Refused("merge keys (<<) are not supported: write the keys out")
    if not isinstance(v11, str) and len(text) > _MAX_NUMBER:
        raise _Refused(f"{text[:20]}...: a number of {len(text)} characters")
    if not _same(v11, v12):
        raise _Refused(
            f"{_shown(text)} is {_describe(v11, text, True)} to YAML 1.1 readers (such as PyYAML) and "
            f"{_describe(v12, text, False)} to YAML 1.2 readers: {_advice(v11, v12)}"
        )


def _check_events(text: str, base, what: str) -> None:
    """Walk the event stream once: refuse what load_yaml's docstring lists."""
    import yaml

    resolver = yaml.resolver.Resolver()
    constructor = yaml.constructor.SafeConstructor()
    depth = 0
    for event in yaml.parse(text, Loader=base):
        if isinstance(event, yaml.AliasEvent):
            raise _Refused(f"aliases (*{event.anchor}) are not supported in {what} files: write the value out",
                           event.start_mark)
        tag = getattr(event, "tag", None)
        if tag not in _ALLOWED_TAGS:
            short = tag.replace("tag:yaml.org,2002:", "!!")
            raise _Refused(f"tags ({short}) are not supported in {what} files", event.start_mark)
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                raise _Refused(f"nested more than {MAX_DEPTH} levels deep", event.start_mark)
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
        elif isinstance(event, yaml.ScalarEvent) and not event.style and tag is None:  # plain
            try:
                _check_scalar(event.value, resolver, constructor)
            except _Refused as exc:
                exc.mark = event.start_mark
                raise


# --------------------------------------------------------------------------- loading


def _loader():
    import yaml

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class StrictLoader(base):  # a safe loader: no object construction, no duplicate keys
        pass

    def construct_mapping(loader, node, deep=False):
        keys = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise yaml.constructor.ConstructorError(
                    None, None, "a key is a list or a mapping; keys must be plain values", key_node.start_mark
                )
            key = loader.construct_object(key_node, deep=deep)
            if key in keys:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            keys.add(key)
        return base.construct_mapping(loader, node, deep=deep)

    StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    return yaml, base, StrictLoader


def _at(mark) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""


def load_yaml(text: str, where: str, what: str = "palette"):
    """The data of a palette or map YAML text; PaletteError naming ``where`` otherwise."""
    yaml, base, loader = _loader()
    text = strip_bom(text)
    try:
        _check_events(text, base, what)
        return yaml.load(text, Loader=loader)
    except _Refused as exc:
        raise PaletteError(f"{where}: {_at(exc.mark)}{exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or (str(exc).splitlines() or [type(exc).__name__])[0]
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise PaletteError(f"{where}: not valid YAML: {problem}{at}") from None
    except RecursionError:
        raise PaletteError(f"{where}: nested too deeply") from None


def check_depth(data, where: str, limit: int = MAX_DEPTH) -> None:
    """Refuse JSON-like data nested deeper than ``limit`` (walked without recursion)."""
    stack = [(data, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (list, dict)):
            if depth > limit:
                raise PaletteError(f"{where}: nested more than {limit} levels deep")
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))


def internal_error(where: str, what: str, exc: BaseException) -> PaletteError:
    """A loader bug, as a one-line error that still names the file."""
    detail = (str(exc).splitlines() or [""])[0][:200]
    return PaletteError(f"{where}: cannot read this {what} file ({type(exc).__name__}: {detail}); "
                        "this is a maskcli bug, please report it")
