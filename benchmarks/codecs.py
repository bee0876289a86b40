"""PNG decoders side by side on the same files, in one process: OpenCV (cv2.imdecode),
libspng through pyspng (RGB and RGBA output), Pillow, and imagecodecs when it is installed;
then maskcli's whole decode_mask (its checks, the chosen decoder, the array it serves) with
the PNG data inflated ahead by zlib-ng and with the decoder inflating (MASKCLI_PNG_INFLATE).

    python benchmarks/codecs.py FOLDER [FOLDER ...] [--rounds 7] [--files 12] [--glibc-default]

The process keeps freed memory for reuse as maskcli's own processes do (runner.keep_freed_memory);
--glibc-default leaves glibc's malloc as Python starts it (freed buffers of a few MB then go
back to the kernel and fault in again, which costs the inflated copy most).

The decoders take turns over the same in-memory files, round after round; per-file minimum
and median over the rounds are printed (the minimum is the least disturbed by other work on a
shared machine). OpenCV runs on one thread.
"""

from __future__ import annotations

import argparse
import glob
import io
import os
import statistics
import sys
import time

import cv2
import numpy as np
from PIL import Image


def decoders() -> dict:
    out = {"cv2.imdecode": lambda d: cv2.imdecode(np.frombuffer(d, np.uint8), cv2.IMREAD_UNCHANGED)}
    try:
        import pyspng

        out["pyspng (libspng), native format"] = lambda d: pyspng.load(d)
        out["pyspng (libspng), RGBA"] = lambda d: pyspng.load(d, "RGBA")
    except ImportError:
        pass
    try:
        import imagecodecs

        out["imagecodecs.spng_decode"] = imagecodecs.spng_decode
        out["imagecodecs.png_decode (libpng)"] = imagecodecs.png_decode
    except ImportError:
        pass
    out["Pillow"] = lambda d: np.asarray(Image.open(io.BytesIO(d)))
    from maskcli import masks

    def maskcli_way(inflate: str):
        def decode(d):
            os.environ["MASKCLI_PNG_INFLATE"] = inflate
            return masks.decode_mask(d).array

        return decode

    # named by what is installed, not by MASKCLI_PNG_INFLATE: each way sets that itself
    ahead = "zlib-ng inflates" if masks._zlib_ng() is not None else "default (no zlib-ng)"
    out[f"maskcli decode_mask, {ahead}"] = maskcli_way("auto")
    out["maskcli decode_mask, decoder inflates"] = maskcli_way("decoder")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folders", nargs="+")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--files", type=int, default=12)
    ap.add_argument("--glibc-default", action="store_true", help="do not keep freed memory (see above)")
    args = ap.parse_args(argv)
    if not args.glibc_default:
        from maskcli.runner import keep_freed_memory

        print(f"freed memory kept for reuse: {keep_freed_memory()}")
    cv2.setNumThreads(1)
    ways = decoders()
    for folder in args.folders:
        files = sorted(glob.glob(os.path.join(folder, "**", "*.png"), recursive=True))[: args.files]
        data = [open(f, "rb").read() for f in files]
        times = {name: [] for name in ways}
        for _ in range(args.rounds):
            for name, way in ways.items():
                t0 = time.perf_counter()
                for d in data:
                    way(d)
                times[name].append((time.perf_counter() - t0) / len(data))
        shape = ways["cv2.imdecode"](data[0]).shape
        kb = sum(map(len, data)) / len(data) / 1024
        print(f"{folder}: {len(data)} files, {shape}, {kb:.0f} KB each; ms per file, min / median of {args.rounds}")
        ref = min(times["cv2.imdecode"])
        for name, t in times.items():
            print(f"  {name:34s} {min(t) * 1e3:6.2f} / {statistics.median(t) * 1e3:6.2f}   {min(t) / ref:5.2f}x cv2")
    return 0


if __name__ == "__main__":
    sys.exit(main())
