"""What made an output: a digest of the command, palette content and options, recorded in
each output PNG so that ``--update`` can tell a current output from a stale one.

The record is one PNG ``tEXt`` chunk, keyword ``maskcli``, placed right after IHDR (so it
sits in the first few hundred bytes of the file), holding compact ASCII JSON::

    {"digest":"sha256:<64 hex>","command":"to-index","options":{"format":"indexed"},
     "palette":"cityscapes","source_digest":"sha256:<16 hex>","revision":1,"maskcli":"0.1.0"}

A JPEG output (``maskcli overlay``) carries the same JSON in a comment (COM) segment whose
text starts with ``maskcli\0``, placed right after the JFIF header (APP0).

(``remap`` records ``"map"`` instead of ``"palette"``; ``-p embedded`` records
``"palette":"embedded"`` and no ``source_digest``.) The digest comes first, so ``--update``
slices it out without parsing the JSON.

Only ``digest`` decides whether an output is current; the other keys are there for people
(``maskcli info``). The digest covers:

- ``FORMAT_REVISION``: bumped when the same command and options start to write different
  outputs. maskcli's version is recorded but not digested, so an upgrade that writes the
  same outputs does not reconvert everything.
- the command;
- every field of the run's settings (``tasks.Settings``) whose value differs from the field's
  default, except those in ``NOT_OUTPUT`` (``verbose``): a new field is covered the day it
  is added, and outputs made before it existed stay current while it keeps its default;
- the palette's content: ignore index, ignore colors, and each class's id, color and extra
  colors, in file order; not its file name, path, modification time, class names or
  description (a built-in and an identical file give the same digest);
- the remap table's content: its pairs, default and ignore index.

No NumPy here: the parent process checks outputs without importing it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import stat
import struct
import sys
import zlib

FORMAT_REVISION = 1
KEYWORD = b"maskcli"
# Settings fields that do not change what is written (rasterize's "labels" does, but its
# content is recorded as "labels_digest", which keeps the record small)
NOT_OUTPUT = frozenset({"verbose", "output_root", "labels"})
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_AFTER_IHDR = 33  # 8-byte signature + IHDR (4 length + 4 type + 13 data + 4 CRC)
HEAD_BYTES = 1024  # read this much of an output to find its record (a record is far smaller)
_MAX_RECORD = 16384  # a record claiming more is not one of ours
_MAX_NAME = 80  # names longer than this are cut in the record (they are informational)


def _content(value):
    """A JSON-able canonical form of a settings value: what about it can change an output."""
    from maskcli.palette import Palette

    remap = sys.modules.get("maskcli.remap")  # a RemapTable exists only once its module is loaded:
    RemapTable = remap.RemapTable if remap is not None else ()  # conversions never load it for this
    if isinstance(value, Palette):
        return {
            "ignore_index": value.ignore_index,
            "ignore_colors": [list(c) for c in value.ignore_colors],
            "classes": [[c.id, list(c.color), [list(a) for a in c.also]] for c in value.classes],
        }
    if isinstance(value, RemapTable):
        return {"pairs": [list(p) for p in value.pairs], "default": value.default,
                "ignore_index": value.ignore_index}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _content(getattr(value, f.name)) for f in dataclasses.fields(value) if f.compare}
    if isinstance(value, (tuple, list)):
        return [_content(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"provenance cannot digest a settings value of type {type(value).__name__}")


def _sha256(data) -> str:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def _default(f: dataclasses.Field):
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING  # a required field: always recorded


def output_options(settings) -> dict:
    """The settings fields that decide what is written (besides the command, palette and
    map), as ``{name: value}``, leaving out those at their defaults."""
    out = {}
    for f in dataclasses.fields(settings):
        if f.name in NOT_OUTPUT or f.name in ("command", "palette", "remap"):
            continue
        value = getattr(settings, f.name)
        if value != _default(f):
            out[f.name] = _content(value)
    return out


def _source(settings):
    """The palette or map that settings convert with, or None (-p embedded)."""
    return settings.remap if settings.command == "remap" else settings.palette


def record(settings) -> dict:
    """The record an output of this run carries (a dict; ``record(s)["digest"]`` decides)."""
    source = _source(settings)
    source_content = None if source is None else _content(source)
    options = output_options(settings)
    digest = _sha256({"revision": FORMAT_REVISION, "command": settings.command,
                      "options": options, "source": source_content})
    from maskcli import __version__

    rec = {"digest": f"sha256:{digest}", "command": settings.command, "options": options}
    if source is None and getattr(settings, "encoding", None) is not None:
        pass  # an encoded input decoded without a palette
    elif source is None:
        rec["palette"] = "embedded"
    else:
        rec["map" if settings.command == "remap" else "palette"] = str(source.name)[:_MAX_NAME]
        rec["source_digest"] = f"sha256:{_sha256(source_content)[:16]}"
    rec.update(revision=FORMAT_REVISION, maskcli=__version__)
    return rec


def digest(settings) -> str:
    """``sha256:<hex>``: what an output written with ``settings`` records as its digest."""
    return record(settings)["digest"]


def chunk(settings) -> bytes:
    """The whole tEXt chunk (length, type, data, CRC) holding the record of ``settings``."""
    text = json.dumps(record(settings), separators=(",", ":"), ensure_ascii=True)
    data = KEYWORD + b"\0" + text.encode("ascii")
    return struct.pack(">I", len(data)) + b"tEXt" + data + struct.pack(">I", zlib.crc32(b"tEXt" + data))


def stamp(png: bytes, record_chunk: bytes) -> bytes:
    """``png`` with ``record_chunk`` (see :func:`chunk`) inserted right after IHDR."""
    if png[:8] != PNG_SIGNATURE or png[12:16] != b"IHDR" or png[8:12] != b"\0\0\0\x0d":
        raise ValueError("not a PNG that starts with IHDR")
    return b"".join((png[:_AFTER_IHDR], record_chunk, png[_AFTER_IHDR:]))


JPEG_SOI = b"\xff\xd8"


def jpeg_comment(settings) -> bytes:
    """The whole JPEG COM segment (marker, length, data) holding the record of ``settings``."""
    text = json.dumps(record(settings), separators=(",", ":"), ensure_ascii=True)
    data = KEYWORD + b"\0" + text.encode("ascii")
    return b"\xff\xfe" + struct.pack(">H", len(data) + 2) + data


def stamp_jpeg(jpeg: bytes, segment: bytes) -> bytes:
    """``jpeg`` with ``segment`` (see :func:`jpeg_comment`) inserted after SOI and, when the
    file starts with one, its JFIF APP0 segment."""
    if jpeg[:2] != JPEG_SOI:
        raise ValueError("not a JPEG that starts with SOI")
    at = 2
    if jpeg[2:4] == b"\xff\xe0" and len(jpeg) >= 6:
        at = 4 + struct.unpack_from(">H", jpeg, 4)[0]
    return b"".join((jpeg[:at], segment, jpeg[at:]))


# --------------------------------------------------------------------------- reading


def _find(head: bytes):
    """The record chunk in the first bytes of a PNG: ``("found", text)``, ``("short", n)``
    (the chunk needs the first n bytes), or ``("none", None)``. A JPEG's record is a COM
    segment before its image data."""
    if head[:2] == JPEG_SOI:
        return _find_jpeg(head)
    if head[:8] != PNG_SIGNATURE:
        return "none", None
    pos = 8
    while pos + 8 <= len(head):
        length, kind = struct.unpack_from(">I4s", head, pos)
        if kind in (b"IDAT", b"IEND"):
            return "none", None
        end = pos + 12 + length
        if kind == b"tEXt" and head[pos + 8 : pos + 16] == KEYWORD + b"\0":
            if length > _MAX_RECORD:
                return "none", None
            if end > len(head):
                return "short", end
            data = head[pos + 8 : end - 4]
            if zlib.crc32(b"tEXt" + data) != struct.unpack_from(">I", head, end - 4)[0]:
                return "none", None
            return "found", data[len(KEYWORD) + 1 :]
        pos = end
    return "none", None


def _find_jpeg(head: bytes):
    pos = 2
    while pos + 4 <= len(head):
        marker = head[pos : pos + 2]
        if marker[0] != 0xFF or marker[1] in (0xDA, 0xD9):  # not a marker, start of scan, end
            return "none", None
        length = struct.unpack_from(">H", head, pos + 2)[0]
        end = pos + 2 + length
        if marker[1] == 0xFE and head[pos + 4 : pos + 12] == KEYWORD + b"\0":
            if end > len(head):
                return "short", end
            return "found", head[pos + 12 : end]
        pos = end
    return "none", None


def find(head: bytes, read_more=None) -> bytes | None:
    """The record's text in a PNG's first bytes (``read_more(n)`` gives the first n when the
    record runs past ``head``), or None when there is none."""
    state, value = _find(head)
    if state == "short" and read_more is not None:
        state, value = _find(read_more(value))
    return value if state == "found" else None


def parse(text: bytes | None) -> dict | None:
    """A record's text as a dict, or None when there is none or it is not a record."""
    if text is None:
        return None
    try:
        rec = json.loads(text.decode("latin-1"))
    except (ValueError, RecursionError):  # a record someone else wrote, or a hostile one
        return None
    return rec if isinstance(rec, dict) and isinstance(rec.get("digest"), str) else None


_DIGEST_AT = len(b'{"digest":"')
_DIGEST_END = _DIGEST_AT + len("sha256:") + 64


def digest_of(text: bytes | None) -> str | None:
    """The digest a record's text holds. maskcli writes it first, so it is sliced out
    without parsing the JSON (this runs once per output on every --update)."""
    if text is None:
        return None
    if text.startswith(b'{"digest":"sha256:') and text[_DIGEST_END : _DIGEST_END + 1] == b'"':
        return text[_DIGEST_AT:_DIGEST_END].decode("latin-1")
    rec = parse(text)
    return rec["digest"] if rec is not None else None


def read_local(path: str, follow: bool = True) -> tuple[bytes | None, int]:
    """(record text or None, modification time in ns) of a local file; raises OSError. Only
    a regular file is read (opening a FIFO does not wait for a writer; a device is not read),
    and with ``follow=False`` a symbolic link is an OSError (maskcli never writes a mask
    through one, so an output that is a link is never up to date)."""
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0)
    fd = os.open(path, flags if follow else flags | getattr(os, "O_NOFOLLOW", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None, st.st_mtime_ns
        return find(os.read(fd, HEAD_BYTES), lambda n: _read_start(fd, n)), st.st_mtime_ns
    finally:
        os.close(fd)


def _read_start(fd: int, n: int) -> bytes:
    os.lseek(fd, 0, os.SEEK_SET)
    return os.read(fd, n)


def read_text(path: str) -> bytes | None:
    """The record text of a local file or a remote object; raises OSError or ReadError."""
    from maskcli import storage

    if storage.is_remote(path):
        return find(storage.read_head(path, HEAD_BYTES), lambda n: storage.read_head(path, n))
    return read_local(path)[0]


def read_any(path: str) -> dict | None:
    """The record of a local file or a remote object, as a dict; raises OSError or ReadError."""
    return parse(read_text(path))


# --------------------------------------------------------------------------- showing


def _flag(name: str, value) -> str:
    flag = "--" + name.replace("_", "-")
    if isinstance(value, dict) and "name" in value:  # an encoding: --encoding NAME and its options
        extra = [f" --annotations {value['annotations']}" if value.get("annotations") else "",
                 f" --categories {value['categories']}" if value.get("categories", "original") != "original" else ""]
        return f"{flag} {value['name']}{''.join(extra)}"
    return flag if value is True else f"{flag} {value}"


def describe(rec: dict | None) -> str:
    """One line saying what made an output, from its record."""
    if rec is None:
        return "not written by maskcli (no record of what made it; --update converts it again)"
    parts = [f"maskcli {rec.get('command', '?')}"]
    if "palette" in rec:
        parts.append(f"-p {rec['palette']}")
    if "map" in rec:
        parts.append(f"--map {rec['map']}")
    options = rec.get("options") if isinstance(rec.get("options"), dict) else {}
    parts += [_flag(k, v) for k, v in sorted(options.items())]
    details = []
    if "source_digest" in rec:
        details.append(f"{'map' if 'map' in rec else 'palette'} {rec['source_digest']}")
    details.append(f"maskcli {rec.get('maskcli', '?')}")
    revision = rec.get("revision")
    if revision != FORMAT_REVISION:
        details.append(f"format revision {revision}, this maskcli writes {FORMAT_REVISION}: --update converts it again")
    details.append(f"digest {rec['digest']}")
    line = f"{' '.join(parts)} ({'; '.join(details)})"
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in line)  # one line, whatever it holds
