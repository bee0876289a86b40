"""Remote paths: fsspec URLs (s3://, gs://, az://, memory://, ...) for inputs and outputs.

Local paths (and file:// URLs, turned into local paths) never come here: they keep the
fast path in masks.py, walk.py and plan.py with no fsspec import. Everything that touches a remote
store goes through this module: reading and writing bytes, listing, modification times.
Credentials and endpoints come from the usual fsspec / cloud mechanisms (environment
variables such as AWS_ENDPOINT_URL, config files, instance roles), never from maskcli options.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from urllib.parse import unquote, urlparse

from maskcli.errors import ReadError, UsageError

_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")
# protocol -> the maskcli extra that installs its fsspec implementation
EXTRAS = {"s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs", "az": "azure", "abfs": "azure",
          "abfss": "azure", "adl": "azure"}
# stores whose single write of an object is atomic: a reader sees all of it or none
ATOMIC_PUT = {"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "memory"}


def protocol(path: str) -> str | None:
    """The URL scheme of ``path``, or None for a plain local path."""
    m = _URL.match(os.fspath(path))
    return m.group(1).lower() if m else None


def is_remote(path) -> bool:
    """True for a URL that needs fsspec (anything but a plain path or file://)."""
    proto = protocol(os.fspath(path))
    return proto is not None and proto != "file"


def local_path(path):
    """A plain path for ``path``, turning file:// URLs into paths; URLs stay as they are."""
    path = os.fspath(path)
    if protocol(path) == "file":
        parsed = urlparse(path)
        return unquote(parsed.path if not parsed.netloc else f"//{parsed.netloc}{parsed.path}")
    return path


@lru_cache(maxsize=16)
def filesystem(proto: str):
    """The fsspec filesystem for a protocol, or a usage error naming the extra to install."""
    extra = EXTRAS.get(proto, "all")
    try:
        import fsspec
    except ImportError:
        raise UsageError(f"{proto}:// paths need fsspec: pip install 'maskcli[{extra}]'") from None
    try:
        return fsspec.filesystem(proto)
    except ImportError as exc:
        raise UsageError(f"{proto}:// paths need more packages: pip install 'maskcli[{extra}]' ({exc})") from None
    except ValueError as exc:
        raise UsageError(f"{proto}:// is not a protocol fsspec knows: {exc}") from None


def split(url: str):
    """(filesystem, path inside it) for a remote URL."""
    fs = filesystem(protocol(url))
    return fs, fs._strip_protocol(url)


def normalize(url: str) -> str:
    """The URL in the form listings give back (``memory://b/x`` -> ``memory:///b/x``)."""
    fs, path = split(url)
    return f"{protocol(url)}://{path.rstrip('/')}"


def join(url: str, relative: str) -> str:
    return url.rstrip("/") + "/" + relative.replace(os.sep, "/")


def read_bytes(url: str) -> bytes:
    return _cat(url)


def read_head(url: str, n: int) -> bytes:
    """The first ``n`` bytes of an object (all of it when it is shorter): one ranged read."""
    return _cat(url, start=0, end=n)


def _cat(url: str, **span) -> bytes:
    fs, path = split(url)
    try:
        return fs.cat_file(path, **span)
    except FileNotFoundError:
        raise ReadError("cannot read: no such object") from None
    except IsADirectoryError:
        raise ReadError("is a folder, not a file") from None
    except OSError as exc:
        raise ReadError(f"cannot read: {exc.strerror or exc}") from None
    except Exception as exc:  # the store's own errors (permissions, throttling, ...)
        raise ReadError(f"cannot read: {type(exc).__name__}: {exc}") from None


def write_bytes(url: str, data: bytes) -> None:
    """Write an object whole or not at all: one put where the store's put is atomic, else a
    temporary name and a move."""
    fs, path = split(url)
    try:
        if protocol(url) in ATOMIC_PUT:
            fs.pipe_file(path, data)
            return
        parent, name = path.rsplit("/", 1) if "/" in path else ("", path)
        tmp = f"{parent}/.{name}.{os.getpid()}.tmp" if parent else f".{name}.{os.getpid()}.tmp"
        fs.pipe_file(tmp, data)
        try:
            fs.mv(tmp, path)
        except BaseException:
            fs.rm_file(tmp)
            raise
    except OSError:
        raise
    except Exception as exc:
        raise OSError(f"{type(exc).__name__}: {exc}") from None


def is_dir(url: str) -> bool:
    fs, path = split(url)
    try:
        return fs.isdir(path)
    except Exception:
        return False


def exists(url: str) -> bool:
    fs, path = split(url)
    try:
        return fs.exists(path)
    except Exception:
        return False


LIST_PAGE = 1000  # keys per S3 LIST request (the most S3 gives); one page is pulled at a time


def find(url: str):
    """Every object under a remote folder, as (URL, path relative to the folder), in sorted
    order (by code point, which is UTF-8 byte order), yielded as the listing goes.

    S3 (s3fs) is listed one page of :data:`LIST_PAGE` keys at a time with a flat listing
    (no delimiter), which S3 returns in UTF-8 binary key order: the first objects come out
    after one request, and neither this module nor s3fs's listing cache holds the whole
    listing. Other stores are listed whole by fsspec's ``find`` and then sorted."""
    fs, path = split(url)
    proto = protocol(url)
    base = path.rstrip("/") + "/"
    names = _s3_keys(fs, base, url) if _pages_listing(fs) else iter(sorted(fs.find(path, withdirs=False)))
    for name in names:
        if name.startswith(base) and not name.endswith("/"):  # "folder/" placeholders are no files
            yield f"{proto}://{name}", name[len(base):]


def _pages_listing(fs) -> bool:
    """True for s3fs, whose ``_iterdir`` lists a prefix page by page."""
    return type(fs).__module__.startswith("s3fs") and hasattr(fs, "_iterdir") and getattr(fs, "loop", None) is not None


def _s3_keys(fs, base: str, url: str):
    """The keys (with their bucket) under ``base`` (``bucket/prefix/``), a page at a time."""
    from fsspec.asyn import sync

    bucket, _, prefix = base.partition("/")
    pages = fs._iterdir(bucket, delimiter="", prefix=prefix)

    async def take():  # the rest of one page (s3fs yields a page's keys one by one)
        out = []
        async for info in pages:
            out.append(info["name"])
            if len(out) == LIST_PAGE:
                break
        return out

    try:
        while True:
            try:
                page = sync(fs.loop, take)
            except Exception as exc:
                raise _listing_error(url, exc) from None
            yield from page
            if len(page) < LIST_PAGE:
                return
    finally:
        try:
            sync(fs.loop, pages.aclose)
        except Exception:  # the loop is gone (interpreter exit): nothing left to close
            pass


def _listing_error(url: str, exc: Exception) -> UsageError:
    try:
        from s3fs.errors import translate_boto_error

        exc = translate_boto_error(exc)
    except Exception:
        pass
    reason = getattr(exc, "strerror", None) or f"{type(exc).__name__}: {exc}"
    return UsageError(f"{url}: cannot list: {reason}")


def modified(url: str) -> float | None:
    """An object's modification time (seconds since the epoch), None when the store gives
    none; raises FileNotFoundError when it does not exist."""
    fs, path = split(url)
    return mtime(fs.info(path))


def mtime(info: dict) -> float | None:
    for key in ("mtime", "LastModified", "last_modified", "updated", "modified", "created"):
        value = info.get(key)
        if value is None:
            continue
        if hasattr(value, "timestamp"):
            return value.timestamp()
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            from datetime import datetime

            try:
                return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
            except ValueError:
                continue
    return None


def file_kind(mode: int) -> str | None:
    """None for a regular file's ``st_mode`` (a local file); else a name for what it is, for
    messages ('FIFO', 'character device', ...)."""
    import stat

    if stat.S_ISREG(mode):
        return None
    for test, name in ((stat.S_ISDIR, "folder"), (stat.S_ISFIFO, "FIFO"), (stat.S_ISCHR, "character device"),
                       (stat.S_ISBLK, "block device"), (stat.S_ISSOCK, "socket")):
        if test(mode):
            return name
    return "special file"
