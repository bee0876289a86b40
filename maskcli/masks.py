"""Reading and writing mask files: which library, which mode, atomic writes.

This is the only module that knows OpenCV works in BGR order: every array it returns or takes
is RGB. A PNG's pixel data is first inflated with zlib-ng when it is installed and handed to
the decoder uncompressed (_inflated). 8-bit RGB and RGBA PNGs, and 8-bit grayscale ones so
inflated, are decoded with libspng (the ``pyspng`` package, the fastest decoder here for
them) when it is installed, with OpenCV otherwise and whenever libspng refuses a file; other
grayscale and 16-bit PNGs, and PNGs with a tRNS chunk, with OpenCV. All PNGs are encoded with
OpenCV (the fastest encoder here), every row filtered "up". Palettized PNGs and other formats
are read with Pillow, since OpenCV cannot return the stored indices of a palettized image.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import re
import stat
import sys
import zlib
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from maskcli.errors import MaskError, ReadError, WrongKindError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
NPY_MAGIC = b"\x93NUMPY"  # a NumPy .npy array
DEFAULT_MAX_PIXELS = 250_000_000
BAD_PNG = "not a valid PNG (cannot decode; truncated or corrupt?)"
_PNG_COLOR_TYPES = {0: "grayscale", 2: "RGB", 3: "palettized", 4: "grayscale+alpha", 6: "RGBA"}

# Temporary files this process is writing; a worker told to stop removes them (see runner.py).
_pending: set[str] = set()


@dataclass(frozen=True)
class Mask:
    """A decoded mask file.

    ``kind`` is ``"color"`` (``array`` is (H, W, 3) uint8 RGB), ``"palettized"`` (``array`` is
    the (H, W) uint8 stored indices, ``colors`` the (N, 3) uint8 RGB PLTE) or ``"index"``
    (``array`` is (H, W) uint8 or uint16). ``mode`` describes the file for messages.
    ``transparent`` marks the fully transparent pixels (alpha 0) when the file has any; other
    alpha values below 255 are refused when reading.

    A color mask keeps the array its decoder returned (``data``, channels in ``channels``
    order: "rgb", "bgr", "rgba" or "bgra"); ``array`` (RGB) and ``keys()`` (packed colors for
    the lookup) are made from it on demand, so converting needs one copy, not two.
    """

    kind: str
    data: np.ndarray
    mode: str
    colors: np.ndarray | None = None
    transparent: np.ndarray | None = None
    channels: str = "rgb"
    _cache: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def array(self) -> np.ndarray:
        if self.kind != "color" or self.channels == "rgb":
            return self.data
        if "rgb" not in self._cache:
            if self.channels == "rgba":
                self._cache["rgb"] = np.ascontiguousarray(self.data[..., :3])
            else:
                code = {"bgr": "COLOR_BGR2RGB", "bgra": "COLOR_BGRA2RGB"}[self.channels]
                cv2 = _cv2()
                self._cache["rgb"] = cv2.cvtColor(self.data, getattr(cv2, code))
        return self._cache["rgb"]

    @property
    def shape(self) -> tuple[int, int]:
        return self.data.shape[:2]

    def keys(self, rows: slice = slice(None)) -> np.ndarray:
        """The uint32 packed colors ``r | g << 8 | b << 16`` of a color mask (of some rows)."""
        from maskcli.convert import pack_rgb

        data = self.data[rows]
        if self.channels == "rgb":
            return pack_rgb(data)
        cv2 = _cv2()
        code = {"bgr": cv2.COLOR_BGR2RGBA, "bgra": cv2.COLOR_BGRA2RGBA, "rgba": None}[self.channels]
        rgba = np.array(data, order="C") if code is None else cv2.cvtColor(data, code)
        if sys.byteorder != "little":  # pragma: no cover - the view below assumes little-endian
            return pack_rgb(self.array[rows])
        keys = rgba.view(np.uint32)[..., 0]
        np.bitwise_and(keys, 0x00FFFFFF, out=keys)
        return keys

    @property
    def a_mode(self) -> str:
        """The mode with its article, for messages: 'an RGB 8-bit', 'a grayscale 8-bit'."""
        return with_article(self.mode)


# Letters whose name starts with a vowel sound ("an RGB", "an SGI"), and the format names that
# are said as words, not spelled out ("a TIFF", "a FITS").
_AN_LETTERS = "AEFHILMNORSX"
_SAID_AS_WORDS = {"FITS", "FLI", "GIF", "GRIB", "JPEG", "MCIDAS", "PIXAR", "QOI", "SPIDER", "SUN", "TIFF", "WEBP"}


def with_article(mode: str) -> str:
    """``mode`` with 'a' or 'an' as it is said: 'an RGB 16-bit', 'a TIFF RGB', 'an 8-bit',
    'a grayscale 8-bit', 'an SGI RGB', 'an image'."""
    word = mode.split(" ", 1)[0]
    number = re.match(r"\d+", word)
    acronym = re.match(r"[A-Z]{2,}", word)
    if number:
        n = number.group()
        vowel = n.startswith("8") or n in ("11", "18") or (len(n) in (5, 6) and n.startswith(("11", "18")))
    elif acronym and acronym.group() not in _SAID_AS_WORDS:
        vowel = word[0] in _AN_LETTERS
    else:
        vowel = word[:1].lower() in "aeio"
    return ("an " if vowel else "a ") + mode


# --------------------------------------------------------------------------- reading

CHANNEL_ORDERS = ("rgb", "bgr")
# OpenCV's and Pillow's channel orders, and what each becomes when the file's red and blue are
# swapped (``channel_order="bgr"``): relabelling the channels, no copy.
_SWAPPED = {"rgb": "bgr", "bgr": "rgb", "rgba": "bgra", "bgra": "rgba"}


def read_mask(path: str | os.PathLike, channel_order: str = "rgb") -> Mask:
    """Read a mask file of any supported kind (a path, or an fsspec URL); raises ReadError or
    WrongKindError. ``channel_order="bgr"`` reads a color file whose red and blue are swapped
    (an RGB array saved with OpenCV's ``cv2.imwrite``): see :func:`decode_mask`."""
    from maskcli import storage

    _check_order(channel_order)
    path = storage.local_path(path)
    if storage.is_remote(path):
        return decode_mask(storage.read_bytes(path), channel_order)
    return decode_mask(read_regular_file(path), channel_order)


def _check_order(channel_order: str) -> None:
    if channel_order not in CHANNEL_ORDERS:
        raise ValueError(f"channel_order={channel_order!r}: expected 'rgb' or 'bgr'")


def read_regular_file(path: str) -> bytes:
    """The bytes of a regular file, read at most up to the size it had when opened.

    Opening never blocks (O_NONBLOCK: a FIFO with no writer opens at once) and anything that
    is not a regular file (a FIFO, a device such as /dev/zero, a socket, a folder) is refused
    before a byte is read, so no input can hang a run or fill its memory."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except IsADirectoryError:
        raise ReadError("is a folder, not a file") from None
    except OSError as exc:
        raise ReadError(f"cannot read: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            from maskcli.storage import file_kind

            kind = file_kind(st.st_mode)
            if kind == "folder":
                raise ReadError("is a folder, not a file")
            raise ReadError(f"is not a regular file ({kind})")
        chunks = []
        left = st.st_size
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 24))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    except OSError as exc:
        raise ReadError(f"cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def max_pixels() -> int:
    """The largest image maskcli decodes: MASKCLI_MAX_PIXELS, default 250 megapixels. A file
    that declares more is refused before decoding (a decompression bomb, or a huge image)."""
    try:
        return int(os.environ.get("MASKCLI_MAX_PIXELS", DEFAULT_MAX_PIXELS))
    except ValueError:
        return DEFAULT_MAX_PIXELS


def read_stream(stream) -> bytes:
    """The bytes of one mask from a stream (stdin), bounded: at most 8 bytes per pixel of the
    largest image maskcli decodes (see :func:`max_pixels`) plus 1 MiB for headers, so an
    endless stream (``< /dev/zero``) is refused instead of filling memory."""
    limit = 8 * max_pixels() + 2**20
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise ReadError(
            f"more than {limit} bytes, more than a mask of {max_pixels()} pixels takes "
            "(set MASKCLI_MAX_PIXELS to allow it)"
        )
    return data


def _check_size(width: int, height: int) -> None:
    limit = max_pixels()
    if width * height > limit:
        raise ReadError(
            f"declares {width}x{height} = {width * height} pixels, more than the limit of {limit} "
            "(set MASKCLI_MAX_PIXELS to allow it)"
        )


def decode_mask(data: bytes, channel_order: str = "rgb") -> Mask:
    """Decode a mask from the bytes of an image file (PNG, BMP, TIFF, ...).

    ``channel_order="bgr"`` says the file stores each color with red and blue swapped (an RGB
    array written with ``cv2.imwrite``): color masks are served in RGB order all the same (by
    relabelling the decoder's channels, no copy) and a palettized file's PLTE is swapped.
    Index masks are not affected.
    """
    _check_order(channel_order)
    if not data:
        raise ReadError("empty file")
    if data[:6] == NPY_MAGIC:
        return read_npy(data)
    if data[:8] == PNG_SIGNATURE:
        png = _check_png(data)
        if png.color_type in (0, 2, 6) or (png.color_type == 4 and png.depth == 16):
            mask = _read_png_spng(png) if _spng_can_decode(png) else None
            if mask is None:
                mask = _read_png_cv2(png.data, _PNG_COLOR_TYPES[png.color_type], png.depth)
            return _in_order(mask, channel_order)
        data = png.data
    return _in_order(_with_pillow(_read_pillow, data), channel_order)


def _with_pillow(decode, data: bytes) -> Mask:
    """``decode(data)`` (one of the Pillow readers), its failures as one ReadError line."""
    try:
        return decode(data)
    except MaskError:
        raise
    except MemoryError:
        raise ReadError("not enough memory to decode it") from None
    except Exception as exc:  # Pillow raises many types for corrupt data
        if data[:8] == PNG_SIGNATURE:
            raise ReadError(BAD_PNG) from None
        raise ReadError(f"cannot decode image: {exc}") from None


def _in_order(mask: Mask, channel_order: str) -> Mask:
    """The mask as read from a file whose red and blue are swapped, when ``channel_order`` is
    "bgr": color masks by relabelling their channels, palettized ones by swapping the PLTE."""
    if channel_order == "rgb" or mask.kind == "index":
        return mask
    if mask.kind == "palettized":
        return Mask(mask.kind, mask.data, mask.mode, np.ascontiguousarray(mask.colors[:, ::-1]), mask.transparent)
    return Mask(mask.kind, mask.data, mask.mode, transparent=mask.transparent, channels=_SWAPPED[mask.channels])


# PNG chunks a decoder needs for the pixels; every other (ancillary) chunk is dropped before
# decoding once its CRC is checked: libpng prints warnings about some of them (a short or
# malformed iCCP, for one) straight to stderr, and none of them changes a pixel.
_PNG_PIXEL_CHUNKS = (b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND")
_PNG_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


@dataclass(frozen=True)
class _Png:
    width: int
    height: int
    depth: int
    color_type: int
    data: bytes  # the file, without the chunks decoders do not need
    trns: bool = False  # has a tRNS chunk
    stored: bool = False  # its pixel data was inflated ahead and is stored uncompressed in ``data``


def _check_png(data: bytes) -> _Png:
    """Walk a PNG's chunks before any decoder sees it: the structure must be whole (up to
    IEND), every chunk's CRC right, IHDR valid and its size within :func:`max_pixels`
    (before the pixels are inflated, see _inflated). The same rule holds whichever library
    decodes the file (libpng checks IDAT CRCs, Pillow does not), and libpng never gets a
    file it would complain about on stderr. Costs a CRC pass over the file (zlib.crc32)."""
    size = len(data)
    view = memoryview(data)
    pos, spans, dropped, frames, trns = 8, [(0, 8)], False, 1, False
    header = None
    while True:
        if pos + 12 > size:
            raise ReadError(BAD_PNG)  # truncated: ends before IEND
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = bytes(data[pos + 4 : pos + 8])
        end = pos + 12 + length
        if length > 0x7FFFFFFF or end > size or not kind.isalpha():
            raise ReadError(BAD_PNG)
        if zlib.crc32(view[pos + 4 : end - 4]) != int.from_bytes(data[end - 4 : end], "big"):
            raise ReadError(f"not a valid PNG (CRC error in its {kind.decode('ascii')} chunk: corrupt)")
        if header is None:
            if kind != b"IHDR" or length != 13:
                raise ReadError(BAD_PNG)
            header = data[pos + 8 : pos + 21]
        if kind in _PNG_PIXEL_CHUNKS:
            spans.append((pos, end))
            trns = trns or kind == b"tRNS"
        elif kind[0] < 97:  # an unknown critical chunk (upper case): no decoder can skip it
            raise ReadError(f"not a valid PNG (unknown critical chunk {kind.decode('ascii')})")
        else:
            dropped = True
            if kind == b"acTL" and length == 8:
                frames = int.from_bytes(data[pos + 8 : pos + 12], "big")
        pos = end
        if kind == b"IEND":
            break
    width, height = int.from_bytes(header[0:4], "big"), int.from_bytes(header[4:8], "big")
    depth, color_type = header[8], header[9]
    if (not 0 < width < 2**31 or not 0 < height < 2**31 or depth not in _PNG_DEPTHS.get(color_type, ())
            or header[10] != 0 or header[11] != 0 or header[12] > 1):
        raise ReadError(BAD_PNG)
    if frames > 1:
        raise WrongKindError(f"is an animated PNG with {frames} frames; maskcli reads single-image files")
    _check_size(width, height)  # before inflating: a file over the limit takes no memory
    pieces = _inflated(view, spans, width, height, depth, color_type, header[12])
    if pieces is not None:
        data = b"".join(pieces)
    elif dropped:
        data = b"".join(view[a:b] for a, b in spans)
    return _Png(width, height, depth, color_type, data, trns, stored=pieces is not None)


# Inflating a PNG's pixels ahead of the decoder (below): only up to this many bytes of
# filtered scanlines (64 MiB: a 21 MP RGB mask), since the stored copy is held next to the
# file and the decoded image for a moment.
INFLATE_AHEAD_LIMIT = 64 << 20
_STORED_BLOCK = 0xFFFF  # the most bytes a stored deflate block holds


def png_inflater() -> str:
    """Who inflates a PNG's pixel data: "zlib-ng" (the zlib-ng package, ahead of the decoder,
    see _inflated) or "decoder" (the decoder's own zlib). MASKCLI_PNG_INFLATE=decoder forces
    the second; the first is the default when zlib-ng can be imported."""
    if os.environ.get("MASKCLI_PNG_INFLATE", "auto").strip().lower() == "decoder":
        return "decoder"
    return "zlib-ng" if _zlib_ng() is not None else "decoder"


@lru_cache(maxsize=None)
def _zlib_ng():
    try:
        from zlib_ng import zlib_ng
    except ImportError:  # optional at run time: the decoders inflate as before
        return None
    return zlib_ng


def _inflated(view, spans, width, height, depth, color_type, interlace):
    """The PNG's pixel chunks with its IDAT data inflated by zlib-ng and stored again
    uncompressed (deflate's "stored" blocks, one IDAT chunk): pieces to join, or None to
    leave the file as it is.

    Why: a mask's scanlines are almost all zeros once filtered, and zlib's inflate (which
    libspng, libpng and Pillow use) copies such long repeats a byte at a time: 10-15 ms of
    the 15 ms libspng takes for a 2048x1024 RGB mask. zlib-ng inflates the same stream in
    about 0.3 ms; the decoder then only copies the stored blocks and unfilters, as before.
    The pixels are the same by construction (the same scanline bytes reach the same
    unfiltering); tests/test_inflate_ahead.py compares both ways on every PNG kind and the corpus.

    Anything unusual is left to the decoder, so that its outcome (pixels or error message)
    stays what it was: interlaced files, more than INFLATE_AHEAD_LIMIT bytes of scanlines,
    IDAT chunks that are not consecutive (once ancillary chunks are dropped), a stream that
    declares a window under 32 KiB (inflated in one go, zlib-ng does not check references
    against it; libpng and libspng do: only tiny images have such streams), is corrupt, has a
    preset dictionary, a wrong checksum, bytes after its end or not exactly the expected
    length."""
    zng = _zlib_ng() if png_inflater() == "zlib-ng" else None
    if zng is None or interlace:
        return None
    row_bytes = (width * _PNG_CHANNELS[color_type] * depth + 7) // 8
    expected = height * (row_bytes + 1)
    if expected > INFLATE_AHEAD_LIMIT:
        return None
    kinds = [bytes(view[a + 4 : a + 8]) for a, _ in spans]
    if b"IDAT" not in kinds:
        return None
    first, last = kinds.index(b"IDAT"), len(kinds) - kinds[::-1].index(b"IDAT")
    if kinds[first:last].count(b"IDAT") != last - first:
        return None  # a PLTE, tRNS or IHDR among the IDATs: the decoders stop there
    idat = spans[first:last]
    stream = b"".join(view[a + 8 : b - 4] for a, b in idat)
    if stream[:1] and stream[0] >> 4 != 7:
        return None  # a window under 32 KiB: the decoders refuse references past it, zlib-ng not
    inflater = zng.decompressobj()
    try:
        raw = inflater.decompress(stream, expected + 1)
    except zng.error:
        return None
    if len(raw) != expected or not inflater.eof or inflater.unused_data:
        return None
    # The new IDAT chunk, as pieces: its CRC is summed piece by piece, so that the scanlines
    # are copied once, by the caller's join.
    body = [b"\x78\x01"]  # zlib header: deflate, 32 KiB window, no dictionary
    scanlines = memoryview(raw)
    for start in range(0, expected, _STORED_BLOCK):
        size = min(_STORED_BLOCK, expected - start)
        final = 1 if start + size == expected else 0
        body.append(bytes((final, size & 0xFF, size >> 8, ~size & 0xFF, (~size >> 8) & 0xFF)))
        body.append(scanlines[start : start + size])
    body.append(zng.adler32(raw).to_bytes(4, "big"))
    length, crc = 0, zng.crc32(b"IDAT")
    for piece in body:
        length += len(piece)
        crc = zng.crc32(piece, crc)
    return ([view[a:b] for a, b in spans[:first]]
            + [length.to_bytes(4, "big"), b"IDAT", *body, crc.to_bytes(4, "big")]
            + [view[a:b] for a, b in spans[last:]])


@lru_cache(maxsize=None)
def _cv2():
    import cv2

    try:  # a truncated file is reported by us, once; OpenCV would also log a warning
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    except AttributeError:  # pragma: no cover - older OpenCV builds
        pass
    return cv2


PNG_DECODERS = ("auto", "opencv")


def png_decoder() -> str:
    """Which library decodes 8-bit RGB and RGBA PNGs (and 8-bit grayscale ones inflated
    ahead): "libspng" (the pyspng package) or "opencv". MASKCLI_PNG_DECODER=opencv forces
    OpenCV; by default libspng is used when pyspng can be imported."""
    if os.environ.get("MASKCLI_PNG_DECODER", "auto").strip().lower() == "opencv":
        return "opencv"
    return "libspng" if _pyspng() is not None else "opencv"


@lru_cache(maxsize=None)
def _pyspng():
    try:
        import pyspng
    except ImportError:  # optional at run time: OpenCV decodes everything it would
        return None
    return pyspng


def _spng_can_decode(png: _Png) -> bool:
    """Files libspng decodes faster than OpenCV, to the same pixels (tests/test_decoders.py
    checks it): 8-bit RGB and RGBA (about 0.85x OpenCV's time on 2 MP masks), and 8-bit
    grayscale once its data is stored uncompressed (inflated ahead): 0.16 ms against OpenCV's
    1.7 ms for a 2 MP index mask filtered "up", as maskcli writes them, and no slower for
    other filters. Compressed grayscale stays with OpenCV (libspng no faster: 0.97-1.3x).
    Not RGB or gray with a tRNS chunk (OpenCV turns it into alpha, pyspng ignores it), not
    16-bit (pyspng has no 16-bit gray or RGB format)."""
    if png.depth != 8 or png.trns:
        return False
    if png.color_type not in (2, 6) and not (png.color_type == 0 and png.stored):
        return False
    return png_decoder() == "libspng"


def _read_png_spng(png: _Png) -> Mask | None:
    """Decode with libspng; None when it refuses the file, which then goes to OpenCV (so a
    broken file gets the same error whichever library is installed)."""
    spng = _pyspng()
    fmt = {0: "L", 2: "RGB", 6: "RGBA"}[png.color_type]
    try:
        arr = spng.load(png.data, fmt)
    except Exception:  # pyspng raises RuntimeError with libspng's message; OpenCV decides
        return None
    mode = f"{_PNG_COLOR_TYPES[png.color_type]} {png.depth}-bit"
    if png.color_type == 0:
        return Mask("index", arr, mode)
    if png.color_type == 6:
        return Mask("color", arr, mode, transparent=_transparency(arr[..., 3]), channels="rgba")
    return Mask("color", arr, mode)


def _read_png_cv2(data: bytes, color_type: str, depth: int) -> Mask:
    cv2 = _cv2()
    try:
        arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error:
        arr = None
    if arr is None or arr.size == 0:
        raise ReadError(BAD_PNG)
    mode = f"{color_type} {depth}-bit"
    if arr.ndim == 2:
        return Mask("index", arr, mode)
    if color_type == "grayscale+alpha":  # 16-bit (8-bit ones go to Pillow): OpenCV expands to BGRA
        transparent = _transparency(_alpha_as_8bit(arr[..., 3]))
        return Mask("index", np.ascontiguousarray(arr[..., 0]), mode, transparent=transparent)
    if arr.dtype != np.uint8:
        raise WrongKindError(f"is {with_article(mode)} color image; color masks must be 8 bits per channel")
    if arr.shape[2] == 4:
        transparent = _transparency(arr[..., 3])
        return Mask("color", arr, mode, transparent=transparent, channels="bgra")
    return Mask("color", arr, mode, channels="bgr")


def _alpha_as_8bit(alpha: np.ndarray) -> np.ndarray:
    """16-bit alpha as 8-bit for :func:`_transparency`: 0 stays 0, 65535 becomes 255 and every
    value in between stays in between (partial transparency), whatever its high byte."""
    if alpha.dtype == np.uint8:
        return alpha
    out = np.clip(alpha >> 8, 1, 254).astype(np.uint8)
    out[alpha == 0] = 0
    out[alpha == 65535] = 255
    return out


_DEEP_RAWMODE = re.compile(r"(?:RGB|RGBA|RGBX|LA|CMYK);(\d+)")  # bits per sample, not per pixel ("BGR;16")


def _deep_samples(img) -> int:
    """The bits per sample a file stores, where Pillow may have reduced them to 8 when
    decoding (16-bit RGB TIFF, SGI and PPM files come out as 8-bit RGB): from the TIFF
    BitsPerSample tag, the decoder's raw mode (``RGB;16L``), or a PPM's maxval."""
    bits = 8
    if img.format == "TIFF":
        declared = img.tag_v2.get(258, 8)
        bits = max(declared) if isinstance(declared, tuple) else int(declared)
    for tile in getattr(img, "tile", None) or ():
        args = tile[3] if len(tile) > 3 else None
        rawmode = args if isinstance(args, str) else args[0] if isinstance(args, tuple) and args else ""
        found = _DEEP_RAWMODE.match(rawmode) if isinstance(rawmode, str) else None
        if found:
            bits = max(bits, int(found.group(1)))
        if img.format == "PPM" and isinstance(args, tuple) and len(args) > 1 and isinstance(args[1], int):
            bits = max(bits, int(args[1]).bit_length())  # maxval
    return bits


def _read_pillow(data: bytes) -> Mask:
    from PIL import Image, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = None  # maskcli checks the size itself, with its own limit
    try:
        img = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise ReadError(BAD_PNG if data[:8] == PNG_SIGNATURE else "not an image file maskcli can read") from None
    _check_size(*img.size)
    mode = img.mode
    fmt = img.format or "image"
    frames = getattr(img, "n_frames", 1)
    if frames > 1:
        what = "pages" if fmt in ("TIFF", "DCX", "MPO") else "frames"
        raise WrongKindError(f"has {frames} {what}; maskcli reads single-image files")
    if mode in ("RGB", "RGBX", "RGBA", "LA", "P"):
        bits = _deep_samples(img)
        if bits > 8:
            name = {"RGBX": "RGB", "LA": "grayscale+alpha", "P": "palettized"}.get(mode, mode)
            described = with_article(f"{fmt} {name} {bits}-bit")
            if mode == "LA":
                raise WrongKindError(f"is {described} image; maskcli reads 16-bit gray+alpha only from PNG files")
            raise WrongKindError(f"is {described} color image; color masks must be 8 bits per channel")
    img.load()
    if mode == "P":
        return _palettized(img, fmt)
    if mode in ("RGB", "RGBX"):
        return Mask("color", np.asarray(img.convert("RGB")), f"{fmt} RGB")
    if mode == "RGBA":
        arr = np.asarray(img)
        transparent = _transparency(arr[..., 3])
        return Mask("color", arr, f"{fmt} RGBA", transparent=transparent, channels="rgba")
    if mode == "L":
        return Mask("index", np.asarray(img), f"{fmt} grayscale 8-bit")
    if mode == "LA":
        arr = np.asarray(img)
        transparent = _transparency(arr[..., 1])
        return Mask("index", np.ascontiguousarray(arr[..., 0]), f"{fmt} grayscale+alpha", transparent=transparent)
    if mode == "1":  # 0 and 255, as OpenCV and the PNG spec scale 1-bit samples
        return Mask("index", np.asarray(img.convert("L")), f"{fmt} 1-bit")
    if mode.startswith("I;16"):
        return Mask("index", np.asarray(img).astype(np.uint16), f"{fmt} grayscale 16-bit")
    if mode == "I":
        arr = np.asarray(img)
        if arr.size and (arr.min() < 0 or arr.max() > 65535):
            raise WrongKindError(
                f"is a 32-bit integer image with values {arr.min()}..{arr.max()}; "
                "index masks hold 0..65535"
            )
        return Mask("index", arr.astype(np.uint16), f"{fmt} 32-bit integer")
    raise WrongKindError(f"has image mode {mode!r}, which is not a mask (RGB, palettized or grayscale)")


def _palettized(img, fmt: str) -> Mask:
    indices = np.asarray(img)
    raw = img.getpalette() or []
    colors = np.array(raw, dtype=np.uint8).reshape(-1, 3)
    used_max = int(indices.max()) if indices.size else 0
    if used_max >= len(colors):
        raise ReadError(f"pixel index {used_max} is beyond its {len(colors)}-entry palette (PLTE)")
    transparency = img.info.get("transparency")
    transparent = None
    if transparency is not None:
        alpha = np.full(256, 255, dtype=np.uint8)
        if isinstance(transparency, bytes):
            alpha[: len(transparency)] = np.frombuffer(transparency, np.uint8)[:256]
        elif isinstance(transparency, int) and 0 <= transparency < 256:
            alpha[transparency] = 0
        transparent = _transparency(np.take(alpha, indices))
    return Mask("palettized", indices, f"{fmt} palettized", colors, transparent)


def _transparency(alpha: np.ndarray) -> np.ndarray | None:
    """None when every pixel is opaque; the fully transparent pixels when alpha is only 0 and
    255; otherwise an error: partial transparency, or an alpha channel that holds data."""
    if alpha.size == 0 or int(alpha.min()) == 255:
        return None
    histogram = np.bincount(alpha.reshape(-1), minlength=256)
    partial = int(histogram[1:255].sum())
    if not partial:
        return alpha == 0
    distinct = int(np.count_nonzero(histogram))
    if distinct > 16 or not histogram[255]:  # transparency leaves some pixels fully opaque
        raise WrongKindError(
            f"has an alpha channel that looks like data, not transparency ({distinct} distinct "
            f"alpha values, {int(histogram[255])} px opaque; BDD100K bitmasks store instance ids "
            "there): it is not a color mask"
        )
    raise WrongKindError(
        f"has {partial} partly transparent px (alpha between 1 and 254); maskcli cannot tell "
        "a class from a blend: remove the alpha channel first"
    )


def _index_for_png(index) -> np.ndarray:
    """An index array a PNG can hold: (H, W) uint8 or uint16 in native byte order (a
    big-endian '>u2' array is converted), at least 1x1; else a ValueError saying so."""
    index = np.asarray(index)
    if index.ndim != 2 or index.dtype.kind != "u" or index.dtype.itemsize not in (1, 2):
        raise ValueError(
            f"expected an (H, W) uint8 or uint16 array, got {index.shape} {index.dtype} "
            "(convert it with .astype(np.uint8) or .astype(np.uint16) once its values fit)"
        )
    _not_empty(index)
    return index.astype(index.dtype.newbyteorder("="), copy=False)


def _not_empty(array: np.ndarray) -> None:
    if array.size == 0:
        raise ValueError(f"cannot write an empty {array.shape} array: a PNG has at least 1x1 pixels")


def warm_up() -> None:
    """Decode and encode a tiny PNG once, so that the codecs' one-time set-up (about 2 MB in
    OpenCV and libpng) happens when a worker starts, not inside its first file."""
    cv2 = _cv2()
    cv2.imdecode(np.frombuffer(encode_index_png(np.zeros((2, 2), np.uint8)), np.uint8), cv2.IMREAD_UNCHANGED)
    decode_mask(encode_rgb_png(np.zeros((2, 2, 3), np.uint8))).keys()


# --------------------------------------------------------------------------- writing


@lru_cache(maxsize=None)
def _png_params() -> tuple:
    """OpenCV's PNG settings for the masks maskcli writes: every row filtered "up" (the
    difference from the row above) instead of OpenCV's default "sub" (from the pixel to the
    left). A mask repeats its rows far more than its pixels vary along a row: the files are
    0.4-0.8x the size, encode as fast, and decode 1.4-2.7x faster (unfiltering "up" is one
    vector addition per row, "sub" a byte-by-byte chain); docs/performance.md, round five.
    OpenCV before 4.12 has no such setting (and newer ones refuse settings they do not know),
    so there maskcli writes OpenCV's default."""
    cv2 = _cv2()
    if not hasattr(cv2, "IMWRITE_PNG_FILTER"):  # pragma: no cover - older OpenCV
        return ()
    return (cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_UP)


def encode_index_png(index: np.ndarray) -> bytes:
    """An (H, W) uint8 or uint16 array as an 8- or 16-bit grayscale PNG."""
    cv2 = _cv2()

    index = _index_for_png(index)
    ok, buf = cv2.imencode(".png", index, _png_params())
    if not ok:  # pragma: no cover - OpenCV reports failures by exception in practice
        raise ValueError("OpenCV could not encode the PNG")
    return buf.tobytes()


def encode_rgb_png(rgb: np.ndarray, order: str = "rgb") -> bytes:
    """An (H, W, 3) RGB or (H, W, 4) RGBA uint8 array (alpha dropped) as an 8-bit RGB PNG.
    ``order="bgr"`` says a 3-channel array is already in OpenCV's order (no copy needed)."""
    cv2 = _cv2()

    if rgb.ndim != 3 or rgb.shape[2] not in (3, 4) or rgb.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 array, got {rgb.shape} {rgb.dtype}")
    _not_empty(rgb)
    if order == "bgr" and rgb.shape[2] == 3:
        bgr = rgb
    else:
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR if rgb.shape[2] == 3 else cv2.COLOR_RGBA2BGR)
    ok, buf = cv2.imencode(".png", bgr, _png_params())
    if not ok:  # pragma: no cover
        raise ValueError("OpenCV could not encode the PNG")
    return buf.tobytes()


def encode_indexed_png(index: np.ndarray, colors: np.ndarray) -> bytes:
    """An (H, W) uint8 array as a palettized PNG whose PLTE holds ``colors`` ((N, 3) RGB).

    Built directly as mode 'P' with every PLTE entry set: never through Pillow's convert() or
    quantize(), which would re-map the indices.
    """
    from PIL import Image

    if index.ndim != 2 or index.dtype != np.uint8:
        raise ValueError(f"expected an (H, W) uint8 array, got {index.shape} {index.dtype}")
    img = Image.frombytes("P", (index.shape[1], index.shape[0]), np.ascontiguousarray(index).tobytes())
    plte = np.zeros((256, 3), dtype=np.uint8)
    colors = np.asarray(colors, dtype=np.uint8).reshape(-1, 3)[:256]
    plte[: len(colors)] = colors
    img.putpalette(plte.tobytes(), rawmode="RGB")
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def write_indexed_mask(path: str | os.PathLike, index: np.ndarray, colors: np.ndarray) -> None:
    """Write an 8-bit index mask as a palettized PNG with ``colors`` as its PLTE, atomically."""
    atomic_write(path, encode_indexed_png(index, colors))


def write_index_mask(path: str | os.PathLike, index: np.ndarray) -> None:
    """Write an index mask as an 8-bit (uint8) or 16-bit (uint16) grayscale PNG, atomically."""
    atomic_write(path, encode_index_png(index))


def write_rgb_mask(path: str | os.PathLike, rgb: np.ndarray) -> None:
    """Write an RGB (or RGBA, alpha dropped) uint8 array as an 8-bit RGB PNG, atomically."""
    atomic_write(path, encode_rgb_png(rgb))


def atomic_write(path: str | os.PathLike, data: bytes) -> None:
    """Write a mask ``path`` whole or not at all: a temporary file in the same folder, then a
    rename. The file gets the permissions a new file gets (umask applies), like ``cp``.

    Only a regular file (or nothing) is ever replaced: a symbolic link, folder, device, FIFO or
    socket at ``path`` raises OSError and is left alone (checked again just before the rename).
    Folders above ``path`` may be links.
    """
    from maskcli import storage

    path = storage.local_path(path)
    if storage.is_remote(path):
        storage.write_bytes(path, data)
        return
    _refuse_non_regular(path)
    _replace(path, data, check=_refuse_non_regular)


def write_named_file(path: str | os.PathLike, data) -> None:
    """Write a file the user named one by one (a report, a palette YAML, a legend PNG).

    ``data`` is the bytes, or an iterable of chunks of bytes written one after the other (a
    JSON report of a million files is streamed this way, never held whole in memory). When
    the chunks raise, a replaced file is left as it was (the temporary file is removed); a
    device, FIFO or descriptor keeps what was written before.

    - ``/dev/stdout``, ``/dev/stderr``, ``/dev/fd/N``, ``/proc/self/fd/N``: written to that
      descriptor of this process, at its current position (pipes, sockets, ``>>`` files work);
    - anything else that exists and is not a regular file (a device, a FIFO, a socket, through
      links or not) is opened and written to in place, never replaced (a FIFO waits for its
      reader, as with ``cat > fifo``);
    - otherwise symbolic links are followed and the final target (a regular file, or nothing
      yet) is replaced whole or not at all, by a rename in the target's folder: the link stays.
    """
    from maskcli import storage

    path = storage.local_path(path)
    if storage.is_remote(path):
        storage.write_bytes(path, data if isinstance(data, bytes) else b"".join(data))  # one put: whole
        return
    path = os.fspath(path)
    fd = next((fd for name in _link_chain(path) if (fd := _own_descriptor(name)) is not None), None)
    if fd is not None:  # also through a link of ours to /dev/stdout
        _write_descriptor(fd, data)
        return
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):  # nothing there yet (or a dangling link)
        st = None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, "it is a folder")
    target = None if st is not None and not stat.S_ISREG(st.st_mode) else _link_target(path)
    if target is None:
        _write_in_place(path, data)
    else:
        _replace(target, data, check=_refuse_non_regular)


def _link_target(path: str) -> str | None:
    """Follow the symbolic links at ``path`` itself (not its folders) to the file they name,
    which may not exist yet; None when a link is a process's descriptor (/proc/PID/fd/N, which
    names an open file, not a place to put a new one)."""
    for _ in range(40):
        if not os.path.islink(path):
            return path
        if re.fullmatch(r"/proc/[^/]+/(task/[^/]+/)?fd", os.path.realpath(os.path.dirname(path) or ".")):
            return None
        path = os.path.join(os.path.dirname(path), os.readlink(path))
    raise OSError(errno.ELOOP, "too many levels of symbolic links")


def _link_chain(path: str):
    """``path``, then each name its symbolic links lead to (at most 40)."""
    for _ in range(40):
        yield path
        if not os.path.islink(path):
            return
        path = os.path.join(os.path.dirname(path), os.readlink(path))


def _own_descriptor(path: str) -> int | None:
    """The descriptor number ``path`` names in this process (``/dev/stdout``, ``/dev/fd/3``,
    ``/proc/self/fd/3``), or None."""
    if os.name != "posix":
        return None
    path = os.path.normpath(path)
    named = {"/dev/stdin": 0, "/dev/stdout": 1, "/dev/stderr": 2}
    if path in named:
        return named[path]
    for prefix in ("/dev/fd/", "/proc/self/fd/", f"/proc/{os.getpid()}/fd/"):
        rest = path[len(prefix):]
        if path.startswith(prefix) and rest.isdigit() and rest.isascii():
            return int(rest)
    return None


def _write_descriptor(fd: int, data) -> None:
    """Write all of ``data`` to this process's descriptor ``fd`` (without closing it)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None and stream.fileno() == fd:
                stream.flush()  # what was printed before comes first
        except (AttributeError, OSError, ValueError):  # replaced or closed streams
            pass
    _write_all(fd, data)


def _chunks(data):
    """Bytes as one chunk; an iterable of chunks as it is."""
    return (data,) if isinstance(data, (bytes, bytearray, memoryview)) else data


def _write_all(fd: int, data) -> None:
    """Write every chunk of ``data`` (bytes, or an iterable of bytes) to the descriptor ``fd``."""
    for chunk in _chunks(data):
        view = memoryview(chunk)
        while view:
            view = view[os.write(fd, view):]


def _write_in_place(path: str, data) -> None:
    """Open what is not a regular file (a device, FIFO, socket, another process's descriptor)
    for writing and write ``data`` to it; it is never created, truncated only if it is a file."""
    flags = os.O_WRONLY | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # a socket, or a FIFO opened without blocking
            raise OSError(exc.errno, "it is a socket (or a FIFO nobody reads); maskcli cannot write to it") from None
        raise
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):  # another process's descriptor opened on a file
            os.ftruncate(fd, 0)
        _write_all(fd, data)
    finally:
        os.close(fd)


_KINDS = (
    (stat.S_ISLNK, "it is a symbolic link; maskcli does not write masks through links"),
    (stat.S_ISDIR, "it is a folder"),
    (stat.S_ISCHR, "it is a character device, not a regular file"),
    (stat.S_ISBLK, "it is a block device, not a regular file"),
    (stat.S_ISFIFO, "it is a FIFO (named pipe), not a regular file"),
    (stat.S_ISSOCK, "it is a socket, not a regular file"),
)


def _refuse_non_regular(path: str) -> None:
    """Raise OSError unless ``path`` is a regular file or does not exist (links not followed)."""
    try:
        mode = os.lstat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):  # nothing there (yet)
        return
    if stat.S_ISREG(mode):
        return
    for test, reason in _KINDS:
        if test(mode):
            raise OSError(errno.EEXIST, reason)
    raise OSError(errno.EEXIST, "it is not a regular file")


def temp_path(folder: str, name: str, pid: int) -> str:
    """The name of a temporary file for ``name``: short whatever the length of ``name`` (a
    name of 255 bytes must still have one), hidden, and findable from ``name`` and the pid."""
    digest = hashlib.blake2b(os.fsencode(name), digest_size=6).hexdigest()
    return os.path.join(folder, f".maskcli-{digest}.{pid}.{os.urandom(4).hex()}.tmp")  # as secrets.token_hex(4)


def _replace(path: str, data, check=None) -> None:
    """A temporary file beside ``path``, then a rename over it; ``check(path)`` runs just before
    the rename."""
    folder, name = os.path.split(path)
    folder = folder or "."
    tmp = temp_path(folder, name, os.getpid())
    _pending.add(tmp)
    try:
        try:
            fd = _create(tmp)
        except OSError:  # the folder is missing (or in the way): make it, or say why not, then retry
            _make_folder(folder)
            fd = _create(tmp)
        try:
            _write_all(fd, data)  # bytes, or chunks of them (a streamed report)
        finally:
            os.close(fd)
        if check is not None:
            check(path)
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise
    finally:
        _pending.discard(tmp)


def _create(tmp: str) -> int:
    return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)


def _make_folder(folder: str) -> None:
    """Create ``folder`` (and its parents) unless it exists; an OSError that says why not.
    Called only when creating a file in it failed: outputs mostly go to folders that exist,
    and trying the file first spares each of them the mkdir and stat calls."""
    try:
        os.makedirs(folder, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        raise OSError(exc.errno, f"cannot create folder {folder}: a file is in the way") from None
    except OSError as exc:
        raise OSError(exc.errno, f"cannot create folder {folder}: {exc.strerror}") from None


def discard_temp_files_of(path: str, pids) -> None:
    """Remove the temporary files that processes ``pids`` (workers that were killed, so could
    not clean up) left while writing ``path``."""
    import glob

    from maskcli import storage

    path = storage.local_path(os.fspath(path))
    if storage.is_remote(path):
        return  # objects are written with one put: nothing partial exists
    folder, name = os.path.split(path)
    for pid in pids:
        pattern = temp_path(glob.escape(folder or "."), name, pid).rsplit(".", 2)[0] + ".*.tmp"
        for tmp in glob.glob(pattern):
            _remove(tmp)


def discard_temp_files() -> None:
    """Remove the temporary files this process is writing (called when a worker is stopped)."""
    for tmp in list(_pending):
        _remove(tmp)


def _remove(tmp: str) -> None:
    try:
        os.unlink(tmp)
    except (FileNotFoundError, NotADirectoryError):  # never made (its folder is missing or a file)
        pass


# --------------------------------------------------------------------------- raw channels


def read_raw(path: str | os.PathLike) -> Mask:
    """Read an image's samples as stored, for a label encoding (see encodings.py): no alpha
    check and no palette lookup. Raises ReadError or WrongKindError."""
    from maskcli import storage

    path = storage.local_path(path)
    if storage.is_remote(path):
        return decode_raw(storage.read_bytes(path))
    return decode_raw(read_regular_file(path))


def decode_raw(data: bytes) -> Mask:
    """Decode an image's samples as stored: a ``Mask`` of kind ``"raw"`` whose ``data`` is
    (H, W) uint8/uint16 for grayscale, (H, W, 3) RGB or (H, W, 4) RGBA uint8 (alpha is data
    here: BDD100K bitmasks store instance ids in it). A palettized file gives its colors."""
    if not data:
        raise ReadError("empty file")
    if data[:8] == PNG_SIGNATURE:
        png = _check_png(data)
        if png.color_type != 3:
            return _raw_cv2(png.data, f"{_PNG_COLOR_TYPES[png.color_type]} {png.depth}-bit")
        data = png.data
    return _with_pillow(_raw_pillow, data)


def _raw_cv2(data: bytes, mode: str) -> Mask:
    cv2 = _cv2()
    try:
        arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error:
        arr = None
    if arr is None or arr.size == 0:
        raise ReadError(BAD_PNG)
    if arr.ndim == 3:
        if arr.dtype != np.uint8:
            raise WrongKindError(f"is {with_article(mode)} image; encoded label images are 8 bits per channel")
        if arr.shape[2] == 4:
            arr = cv2.cvtColor(arr, cv2.COLOR_BGRA2RGBA)
        else:
            arr = arr[..., ::-1]  # BGR -> RGB as a view: the decoders read one channel at a time
    return Mask("raw", arr, mode)


def _raw_pillow(data: bytes) -> Mask:
    from PIL import Image, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = None
    try:
        img = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise ReadError(BAD_PNG if data[:8] == PNG_SIGNATURE else "not an image file maskcli can read") from None
    _check_size(*img.size)
    fmt = img.format or "image"
    if getattr(img, "n_frames", 1) > 1:
        raise WrongKindError(f"has {img.n_frames} frames or pages; maskcli reads single-image files")
    mode = img.mode
    if mode in ("RGB", "RGBA", "RGBX", "P") and _deep_samples(img) > 8:  # never cut to 8 bits
        raise WrongKindError(f"is {with_article(f'{fmt} {mode} {_deep_samples(img)}-bit')} image; "
                             "encoded label images are 8 bits per channel")
    img.load()
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        return Mask("raw", np.asarray(img), f"{fmt} palettized")
    if mode in ("RGB", "RGBA", "L"):
        return Mask("raw", np.asarray(img), f"{fmt} {mode}")
    if mode.startswith("I;16") or mode == "I":
        arr = np.asarray(img)
        if arr.size and (arr.min() < 0 or arr.max() > 65535):
            raise WrongKindError(f"is a 32-bit integer image with values {arr.min()}..{arr.max()}; expected 0..65535")
        return Mask("raw", arr.astype(np.uint16), f"{fmt} grayscale 16-bit")
    raise WrongKindError(f"has image mode {mode!r}, which is not a label image")


# --------------------------------------------------------------------------- .npy arrays


def read_npy(data: bytes) -> Mask:
    """An index mask stored as a NumPy ``.npy`` array: 2-D, integers (or booleans) in
    0..65535, loaded without pickle. -1 is labelme's ignore, which its PNG export saves as
    255: it becomes 255 (other negative values are an error). Raises ReadError or
    WrongKindError."""
    try:
        arr = np.load(io.BytesIO(data), allow_pickle=False)
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "Object arrays" in str(exc):
            raise WrongKindError("is a .npy array of Python objects (pickled); index masks are integer arrays") from None
        raise ReadError(f"not a valid .npy file ({exc})") from None
    except MemoryError:
        raise ReadError("not enough memory to load it") from None
    except Exception:  # noqa: BLE001 - truncated or corrupt files raise many types
        raise ReadError("not a valid .npy file (truncated or corrupt?)") from None
    if not isinstance(arr, np.ndarray) or arr.ndim != 2:
        raise WrongKindError(f"is a .npy array of shape {getattr(arr, 'shape', '?')}; index masks are 2-D (height, width)")
    if arr.size == 0:
        raise WrongKindError(f"is an empty .npy array {arr.shape}")
    _check_size(arr.shape[1], arr.shape[0])
    mode = f"NPY {arr.dtype.name}"
    if arr.dtype == np.bool_:
        return Mask("index", arr.astype(np.uint8), mode)
    if arr.dtype.kind not in "ui":
        raise WrongKindError(f"is a .npy array of {arr.dtype.name}; index masks hold integers")
    lo, hi = int(arr.min()), int(arr.max())
    if arr.dtype.kind == "i" and lo < 0:
        if int(arr[arr < 0].min()) < -1 or (arr == 255).any():
            raise WrongKindError(
                f"holds negative values (down to {lo}); index masks hold 0..65535 (-1, labelme's ignore, is "
                "read as 255 only when 255 is not used)")
        arr = np.where(arr == -1, 255, arr)
        hi = max(hi, 255)
    if hi > 65535:
        raise WrongKindError(f"holds values up to {hi}; index masks hold 0..65535")
    return Mask("index", np.ascontiguousarray(arr, dtype=np.uint8 if hi <= 255 else np.uint16), mode)


def encode_npy(index: np.ndarray) -> bytes:
    """An (H, W) uint8 or uint16 index array as the bytes of a ``.npy`` file."""
    index = _index_for_png(index)
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.ascontiguousarray(index), allow_pickle=False)
    return buf.getvalue()
