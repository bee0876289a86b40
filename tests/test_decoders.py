"""libspng (pyspng) and OpenCV decode PNGs to the same arrays, and refuse the same files with
the same message: the fast decoder is an optimisation, never a change in what maskcli reads.

Every case decodes the same bytes twice, once with MASKCLI_PNG_DECODER=opencv (the fallback
used when pyspng is missing) and once with the default, and compares the outcomes."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from maskcli import masks
from maskcli.errors import MaskError

pyspng = pytest.importorskip("pyspng", reason="pyspng (libspng) is not installed: only OpenCV decodes")


def _outcome(data: bytes, monkeypatch, decoder: str):
    monkeypatch.setenv("MASKCLI_PNG_DECODER", decoder)
    try:
        m = masks.decode_mask(data)
    except MaskError as exc:
        return ("error", type(exc).__name__, str(exc))
    transparent = None if m.transparent is None else m.transparent.copy()
    colors = None if m.colors is None else m.colors.copy()
    keys = m.keys().copy() if m.kind == "color" else None
    return ("ok", m.kind, m.mode, m.array.copy(), transparent, colors, keys)


def _same(data: bytes, monkeypatch) -> tuple:
    fast = _outcome(data, monkeypatch, "auto")
    slow = _outcome(data, monkeypatch, "opencv")
    assert fast[:3] == slow[:3]
    if fast[0] == "ok":
        for a, b in zip(fast[3:], slow[3:]):
            if a is None or b is None:
                assert a is None and b is None
            else:
                assert a.dtype == b.dtype and a.shape == b.shape
                assert np.array_equal(a, b)
    return fast


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png(width, height, depth, color_type, rows: bytes, extra=b"", idat=None) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 0)
    body = zlib.compress(rows) if idat is None else idat
    return (masks.PNG_SIGNATURE + _chunk(b"IHDR", header) + extra + _chunk(b"IDAT", body)
            + _chunk(b"IEND", b""))


CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def _raw_rows(rng, width, height, depth, color_type, filters=(0, 1, 2, 3, 4)) -> bytes:
    """Random scanlines with every PNG filter type (the data is random, so each filter byte
    just changes how the bytes are read back: both decoders must agree)."""
    row_bytes = (width * CHANNELS[color_type] * depth + 7) // 8
    rows = []
    for y in range(height):
        line = rng.integers(0, 256, row_bytes, dtype=np.uint8)
        if color_type == 3:  # stay within a 4-entry PLTE
            line = (line & (0x55 if depth <= 2 else 0x33 if depth == 4 else 0x03)).astype(np.uint8)
            filt = 0
        else:
            filt = filters[y % len(filters)]
        rows.append(bytes([filt]) + line.tobytes())
    return b"".join(rows)


GENERATED = [
    (depth, color_type)
    for color_type, depths in ((0, (1, 2, 4, 8, 16)), (2, (8, 16)), (3, (1, 2, 4, 8)), (4, (8, 16)), (6, (8, 16)))
    for depth in depths
]


@pytest.mark.parametrize("depth,color_type", GENERATED, ids=[f"ct{c}-{d}bit" for d, c in GENERATED])
def test_generated_pngs_decode_alike(depth, color_type, monkeypatch):
    rng = np.random.default_rng(depth * 10 + color_type)
    extra = _chunk(b"PLTE", bytes(range(12))) if color_type == 3 else b""
    data = _png(37, 11, depth, color_type, _raw_rows(rng, 37, 11, depth, color_type), extra)
    outcome = _same(data, monkeypatch)
    if color_type in (2, 6) and depth == 8:
        assert outcome[0] == "ok" or "alpha" in outcome[2]


def test_transparent_rgba_pixels_are_marked_alike(monkeypatch):
    rgb = np.random.default_rng(3).integers(0, 4, (16, 16, 3), dtype=np.uint8) * 60
    rgba = np.dstack([rgb, np.full((16, 16), 255, np.uint8)])
    rgba[:4, :4, 3] = 0
    rows = b"".join(b"\x00" + r.tobytes() for r in rgba.reshape(16, -1))
    outcome = _same(_png(16, 16, 8, 6, rows), monkeypatch)
    assert outcome[0] == "ok" and outcome[4].sum() == 16


@pytest.mark.parametrize("color_type,depth", [(0, 8), (2, 8), (6, 8), (0, 1), (0, 16)])
def test_trns_chunks_decode_alike(color_type, depth, monkeypatch):
    rng = np.random.default_rng(7)
    trns = {0: b"\x00\x01", 2: b"\x00\x00\x00\x00\x00\x00", 6: b""}[color_type]
    rows = _raw_rows(rng, 9, 5, depth, color_type, filters=(0,))
    extra = _chunk(b"tRNS", trns) if trns else b""
    _same(_png(9, 5, depth, color_type, rows, extra), monkeypatch)


ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


def _interlaced(image: np.ndarray, color_type: int) -> bytes:
    """An 8-bit Adam7-interlaced PNG of ``image`` (rows unfiltered)."""
    height, width = image.shape[:2]
    passes = []
    for x0, y0, dx, dy in ADAM7:
        sub = image[y0::dy, x0::dx]
        if sub.size:
            passes.append(b"".join(b"\x00" + row.tobytes() for row in sub))
    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 1)
    return (masks.PNG_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(b"".join(passes)))
            + _chunk(b"IEND", b""))


@pytest.mark.parametrize("color_type", [0, 2, 6])
def test_interlaced_pngs_decode_alike(color_type, monkeypatch):
    rng = np.random.default_rng(11)
    shape = (29, 43) if color_type == 0 else (29, 43, 3 if color_type == 2 else 4)
    image = rng.integers(0, 5, shape, dtype=np.uint8) * 50
    if color_type == 6:
        image[..., 3] = 255
    outcome = _same(_interlaced(image, color_type), monkeypatch)
    assert outcome[0] == "ok"
    got = outcome[3]
    assert np.array_equal(got, image if color_type != 6 else image[..., :3])


def _broken_cases() -> dict:
    width, height = 24, 8
    raw = b"".join(b"\x00" + bytes(range(i, i + width * 3)) for i in range(height))
    good = zlib.compress(raw)
    return {
        "truncated zlib": good[: len(good) // 2],
        "too little data": zlib.compress(raw[:-10]),
        "bad filter byte": zlib.compress(b"\x07" + raw[1:]),
        "not zlib": bytes(range(100)),
        "empty IDAT": b"",
    }


@pytest.mark.parametrize("case", list(_broken_cases()))
def test_broken_streams_get_the_same_error(case, monkeypatch):
    data = _png(24, 8, 8, 2, b"", idat=_broken_cases()[case])
    fast = _same(data, monkeypatch)
    assert fast == ("error", "ReadError", masks.BAD_PNG)


def test_truncated_files_and_bad_crcs_get_the_same_error(monkeypatch):
    raw = b"".join(b"\x00" + bytes(range(i, i + 30)) for i in range(5))
    data = _png(10, 5, 8, 2, raw)
    assert _same(data[: len(data) - 20], monkeypatch)[0] == "error"
    bad = bytearray(data)
    bad[45] ^= 0xFF  # inside the IDAT chunk: its CRC no longer matches
    assert _same(bytes(bad), monkeypatch)[0] == "error"


def test_the_decoder_in_use_is_named(monkeypatch):
    monkeypatch.setenv("MASKCLI_PNG_DECODER", "opencv")
    assert masks.png_decoder() == "opencv"
    monkeypatch.delenv("MASKCLI_PNG_DECODER")
    assert masks.png_decoder() == "libspng"


def test_corpus_pngs_decode_alike(corpus, monkeypatch):
    files = sorted(Path(corpus).rglob("*.png"))
    assert files
    for path in files:
        _same(path.read_bytes(), monkeypatch)


def test_a_wrong_adler32_is_the_one_known_difference(monkeypatch):
    """Chunk CRCs right, zlib's own checksum wrong (an encoder bug, not a damaged file: the
    CRCs would not match): libspng stops reading once it has every row and never checks the
    Adler-32; libpng (OpenCV) refuses the file. Documented in docs/performance.md."""
    raw = b"".join(b"\x00" + bytes(range(i, i + 30)) for i in range(5))
    stream = zlib.compress(raw)
    data = _png(10, 5, 8, 2, b"", idat=stream[:-4] + bytes(4))
    assert _outcome(data, monkeypatch, "opencv") == ("error", "ReadError", masks.BAD_PNG)
    fast = _outcome(data, monkeypatch, "auto")
    assert fast[0] == "ok" and fast[3].tobytes() == b"".join(bytes(range(i, i + 30)) for i in range(5))


def test_without_pyspng_opencv_decodes_everything(monkeypatch):
    import sys

    raw = b"".join(b"\x00" + bytes(range(i, i + 30)) for i in range(5))
    data = _png(10, 5, 8, 2, raw)
    monkeypatch.setitem(sys.modules, "pyspng", None)  # import pyspng now raises ImportError
    masks._pyspng.cache_clear()
    try:
        assert masks.png_decoder() == "opencv"
        m = masks.decode_mask(data)
        assert m.array.tobytes() == b"".join(bytes(range(i, i + 30)) for i in range(5))
    finally:
        masks._pyspng.cache_clear()
