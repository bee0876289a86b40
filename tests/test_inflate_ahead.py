"""Inflating a PNG's pixel data with zlib-ng ahead of the decoder (masks._inflated) changes
how fast a mask is read, never what is read: every case decodes the same bytes with
MASKCLI_PNG_INFLATE=decoder (the decoder's own zlib, as without zlib-ng) and with the default,
under both decoders, and compares the outcomes (pixels, kind, mode, or the error message)."""

from __future__ import annotations

import struct
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from maskcli import masks
from maskcli.errors import MaskError

zlib_ng = pytest.importorskip("zlib_ng.zlib_ng", reason="zlib-ng is not installed: the decoders inflate")

CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png(width, height, depth, color_type, idat_chunks, before=b"", after=b"", interlace=0) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, interlace)
    return (masks.PNG_SIGNATURE + _chunk(b"IHDR", header) + before
            + b"".join(_chunk(b"IDAT", part) for part in idat_chunks) + after + _chunk(b"IEND", b""))


def _rows(rng, width, height, depth, color_type) -> bytes:
    """Scanlines with every filter type, mostly runs of one value (as in a mask), some noise."""
    row_bytes = (width * CHANNELS[color_type] * depth + 7) // 8
    out = []
    for y in range(height):
        line = np.full(row_bytes, (y // 7) * 37 % 256, np.uint8)
        noise = rng.integers(0, row_bytes, 3)
        line[noise] = rng.integers(0, 256, 3, dtype=np.uint8)
        if color_type == 3:  # stay within a 4-entry PLTE
            line &= 0x55 if depth <= 2 else 0x33 if depth == 4 else 0x03
            filt = 0
        else:
            filt = y % 5
        out.append(bytes([filt]) + line.tobytes())
    return b"".join(out)


def _outcome(data: bytes, monkeypatch, inflate: str, decoder: str):
    monkeypatch.setenv("MASKCLI_PNG_INFLATE", inflate)
    monkeypatch.setenv("MASKCLI_PNG_DECODER", decoder)
    try:
        m = masks.decode_mask(data)
    except MaskError as exc:
        return ("error", type(exc).__name__, str(exc))
    transparent = None if m.transparent is None else m.transparent.copy()
    colors = None if m.colors is None else m.colors.copy()
    return ("ok", m.kind, m.mode, m.array.copy(), transparent, colors)


def _same(data: bytes, monkeypatch) -> tuple:
    """The outcome with inflating ahead, after checking it equals the decoder's own, under
    each decoder."""
    for decoder in ("auto", "opencv"):
        ahead = _outcome(data, monkeypatch, "auto", decoder)
        plain = _outcome(data, monkeypatch, "decoder", decoder)
        assert ahead[:3] == plain[:3], decoder
        for a, b in zip(ahead[3:], plain[3:]):
            assert (a is None) == (b is None)
            if a is not None:
                assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)
    return ahead


def _stored_idat(data: bytes, monkeypatch) -> bytes | None:
    """The IDAT payload the decoder is handed, when the file was inflated ahead (one IDAT
    chunk of stored deflate blocks), else None."""
    monkeypatch.setenv("MASKCLI_PNG_INFLATE", "auto")
    handed = masks._check_png(data).data
    idats, pos = [], 8
    while pos < len(handed):
        length = int.from_bytes(handed[pos : pos + 4], "big")
        if handed[pos + 4 : pos + 8] == b"IDAT":
            idats.append(bytes(handed[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    assert len(idats) >= 1
    if len(idats) != 1 or idats[0][:2] != b"\x78\x01" or idats[0][2] & 0b110:  # not stored
        return None
    return idats[0]


@pytest.mark.parametrize("depth,color_type", [(d, c) for c, ds in DEPTHS.items() for d in ds])
def test_every_png_kind_reads_the_same(depth, color_type, monkeypatch):
    rng = np.random.default_rng(depth * 10 + color_type)
    width, height = 301, 97  # 8-bit RGBA: 97 rows of 1,205 bytes, two stored blocks
    raw = _rows(rng, width, height, depth, color_type)
    before = _chunk(b"PLTE", bytes(range(12))) if color_type == 3 else b""
    data = _png(width, height, depth, color_type, [zlib.compress(raw, 9)], before)
    outcome = _same(data, monkeypatch)
    stored = _stored_idat(data, monkeypatch)
    assert stored is not None, "the file was not inflated ahead"
    assert zlib.decompress(stored) == raw
    if color_type in (0, 3) or (depth, color_type) == (8, 2):  # the others may be refused (16-bit
        assert outcome[0] == "ok"  # color, partly transparent alpha) alike: _same compared it


@pytest.mark.parametrize("blocks", [1, 2, 3])
def test_stored_blocks_at_and_around_65535_bytes(blocks, monkeypatch):
    """The scanlines are cut into stored blocks of 65,535 bytes: exactly full blocks, and one
    byte past, read the same."""
    for total in (blocks * 65535, blocks * 65535 + 1, blocks * 65535 - 1):
        # gray 8-bit, width w: height * (w + 1) == total needs a divisor; use one row
        width = total - 1
        raw = b"\x01" + bytes((i * 7) % 256 for i in range(width))
        data = _png(width, 1, 8, 0, [zlib.compress(raw)])
        outcome = _same(data, monkeypatch)
        assert outcome[0] == "ok" and outcome[3].shape == (1, width)
        stored = _stored_idat(data, monkeypatch)
        assert stored is not None and zlib.decompress(stored) == raw
        assert len(stored) == 2 + 5 * -(-total // 65535) + total + 4


def test_split_idat_chunks_and_chunks_around_them(monkeypatch):
    rng = np.random.default_rng(5)
    raw = _rows(rng, 120, 40, 8, 2)
    stream = zlib.compress(raw)
    parts = [stream[:10], stream[10:11], stream[11:]]
    text = _chunk(b"tEXt", b"Comment\x00between")
    trns = _chunk(b"tRNS", b"\x00\x00\x00\x00\x00\x00")
    for before, after in ((b"", b""), (trns, text), (text, b"")):
        data = _png(120, 40, 8, 2, parts, before, after)
        outcome = _same(data, monkeypatch)
        assert outcome[0] == "ok"
        assert _stored_idat(data, monkeypatch) is not None


def _broken() -> dict:
    width, height = 24, 8
    raw = b"".join(b"\x02" + bytes(range(i, i + width * 3)) for i in range(height))
    good = zlib.compress(raw)
    dictionary = zlib.compressobj(zdict=b"maskcli")
    with_dict = dictionary.compress(raw) + dictionary.flush()
    return {
        "truncated stream": good[: len(good) // 2],
        "too little data": zlib.compress(raw[:-10]),
        "too much data": zlib.compress(raw + b"\x00" * 10),
        "bytes after the stream": good + b"\x00\x01",
        "two streams": good + zlib.compress(b"x"),
        "wrong adler32": good[:-4] + bytes(4),
        "preset dictionary": with_dict,
        "bad filter byte": zlib.compress(b"\x07" + raw[1:]),
        "not zlib": bytes(range(100)),
        "empty IDAT": b"",
    }


@pytest.mark.parametrize("case", list(_broken()))
def test_broken_streams_are_left_to_the_decoder(case, monkeypatch):
    """Whatever the decoder made of a broken stream (an error, or pixels for the ones libpng
    and libspng tolerate) stays the same; only "bad filter byte" (a sound stream of unusable
    scanlines) is inflated ahead."""
    data = _png(24, 8, 8, 2, [_broken()[case]])
    _same(data, monkeypatch)
    assert (_stored_idat(data, monkeypatch) is not None) == (case == "bad filter byte")


def test_interlaced_and_oversized_files_are_left_to_the_decoder(monkeypatch):
    rng = np.random.default_rng(9)
    raw = _rows(rng, 50, 20, 8, 0)
    plain = _png(50, 20, 8, 0, [zlib.compress(raw)])
    assert _stored_idat(plain, monkeypatch) is not None
    monkeypatch.setattr(masks, "INFLATE_AHEAD_LIMIT", len(raw) - 1)
    assert _stored_idat(plain, monkeypatch) is None
    assert _same(plain, monkeypatch)[0] == "ok"
    monkeypatch.undo()
    # Adam7: the scanlines of seven passes; the stream is left as it is
    image = rng.integers(0, 4, (20, 50), dtype=np.uint8) * 60
    passes = []
    for x0, y0, dx, dy in ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)):
        sub = image[y0::dy, x0::dx]
        if sub.size:
            passes.append(b"".join(b"\x00" + row.tobytes() for row in sub))
    interlaced = _png(50, 20, 8, 0, [zlib.compress(b"".join(passes))], interlace=1)
    assert _stored_idat(interlaced, monkeypatch) is None
    outcome = _same(interlaced, monkeypatch)
    assert outcome[0] == "ok" and np.array_equal(outcome[3], image)


def test_without_zlib_ng_the_decoder_inflates(monkeypatch):
    rng = np.random.default_rng(2)
    raw = _rows(rng, 40, 10, 8, 2)
    data = _png(40, 10, 8, 2, [zlib.compress(raw)])
    assert masks.png_inflater() == "zlib-ng"
    monkeypatch.setitem(sys.modules, "zlib_ng", None)  # import zlib_ng now raises ImportError
    masks._zlib_ng.cache_clear()
    try:
        assert masks.png_inflater() == "decoder"
        assert _stored_idat(data, monkeypatch) is None
        assert masks.decode_mask(data).array.shape == (10, 40, 3)
    finally:
        masks._zlib_ng.cache_clear()
    monkeypatch.setenv("MASKCLI_PNG_INFLATE", "decoder")
    assert masks.png_inflater() == "decoder"


def test_corpus_pngs_read_the_same(corpus, monkeypatch):
    files = sorted(Path(corpus).rglob("*.png"))
    assert files
    inflated = 0
    for path in files:
        data = path.read_bytes()
        _same(data, monkeypatch)
        try:
            inflated += _stored_idat(data, monkeypatch) is not None
        except MaskError:
            pass
    assert inflated > len(files) // 2  # the corpus's masks are mostly plain, non-interlaced PNGs


@pytest.mark.parametrize("between", ["PLTE", "tRNS", "IHDR"])
def test_pixel_chunks_between_idat_chunks_are_left_to_the_decoder(between, monkeypatch):
    """IDAT chunks must be consecutive: libpng and libspng stop at a PLTE, tRNS or IHDR chunk
    among them ("Not enough image data"). Merging the IDATs around it into one chunk would turn
    that refusal into pixels."""
    rng = np.random.default_rng(11)
    color_type = 3 if between == "PLTE" else 2
    raw = _rows(rng, 37, 11, 8, color_type)
    stream = zlib.compress(raw)
    body = {"PLTE": bytes(range(12)), "tRNS": bytes(6),
            "IHDR": struct.pack(">IIBBBBB", 37, 11, 8, color_type, 0, 0, 0)}[between]
    before = _chunk(b"PLTE", bytes(range(12))) if color_type == 3 else b""
    data = _png(37, 11, 8, color_type, [stream[:5]], before,
                _chunk(between.encode(), body) + _chunk(b"IDAT", stream[5:]))
    assert _same(data, monkeypatch)[0] == "error"
    assert _stored_idat(data, monkeypatch) is None


def _far_reaching_stream(cinfo: int, raw: bytes) -> bytes:
    """A zlib stream of ``raw`` (deflated with a 32 KiB window) whose header declares a window
    of 2**(cinfo + 8) bytes."""
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = deflate.compress(raw) + deflate.flush()
    cmf = (cinfo << 4) | 8
    flg = -(cmf << 8) % 31
    return bytes((cmf, flg)) + body + zlib.adler32(raw).to_bytes(4, "big")


def test_a_stream_reaching_past_its_declared_window_is_left_to_the_decoder(monkeypatch):
    """Rows of 1,000 bytes repeat, so the stream refers 1,001 bytes back; a header declaring a
    256 or 512-byte window makes that invalid ("invalid distance too far back" from libpng and
    libspng, which inflate a row at a time). Inflated in one go, zlib-ng does not notice."""
    line = bytes(np.random.default_rng(3).integers(0, 256, 1000, dtype=np.uint8))
    raw = (b"\x00" + line) * 20
    for cinfo in (0, 1):
        data = _png(1000, 20, 8, 0, [_far_reaching_stream(cinfo, raw)])
        assert _same(data, monkeypatch)[0] == "error"
        assert _stored_idat(data, monkeypatch) is None
    sound = _png(1000, 20, 8, 0, [_far_reaching_stream(7, raw)])  # a 32 KiB window: inflated ahead
    assert _same(sound, monkeypatch)[0] == "ok"
    assert _stored_idat(sound, monkeypatch) is not None


def test_a_file_over_the_pixel_limit_is_refused_before_it_is_inflated(monkeypatch):
    """MASKCLI_MAX_PIXELS bounds the memory a file can make maskcli take: one that declares
    more is refused from its header, before its pixels are inflated (here 16 MB of scanlines
    from a 16 KB file)."""
    import tracemalloc

    side = 4000
    data = _png(side, side, 8, 0, [zlib.compress(bytes(side * (side + 1)), 9)])
    monkeypatch.setenv("MASKCLI_MAX_PIXELS", str(side * side - 1))
    monkeypatch.setenv("MASKCLI_PNG_INFLATE", "auto")
    for decode in (masks.decode_mask, masks.decode_raw):
        tracemalloc.start()
        try:
            with pytest.raises(MaskError, match=r"declares 4000x4000 = 16000000 pixels, more than the limit"):
                decode(data)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 4 << 20, peak
