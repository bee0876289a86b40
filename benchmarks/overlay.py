"""What an overlay costs next to what it cannot avoid: decoding the photo and encoding the output.

    python benchmarks/overlay.py [--mask M.png] [--repeat 7] [--dir /tmp/somewhere] [--cpu]

For a 2048x1024 Cityscapes color mask (the corpus's Label1024Full/00100027.png when present,
else a generated street-like mask) and a generated photo of its size, in this process, best of
--repeat runs each:
- baseline: read + decode the photo (maskcli's read_photo) + encode the output image (the
  overlay itself, as OpenCV encodes it);
- overlay: maskcli's whole per-file work (read and check the mask, read the photo, blend,
  encode, stamp the record, write the file), for each case below;
and prints overlay / baseline, and the time of decoding the mask alone (which the baseline
does not include). Cases: PNG photo -> PNG output (Cityscapes' own layout),
JPEG photo -> JPEG output, and the PNG case with --outline --legend.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CORPUS_MASK = Path(__file__).resolve().parents[2] / "shared/corpus/PhotographicImageSynthesis/data/cityscapes/Label1024Full/00100027.png"


CLOCK = time.perf_counter


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = CLOCK()
        fn()
        times.append(CLOCK() - start)
    return min(times)


def photo_like(shape, seed=0) -> np.ndarray:
    """Smooth shading plus fine grain: compresses and decodes roughly like a street photo."""
    import cv2

    rng = np.random.default_rng(seed)
    h, w = shape
    coarse = cv2.resize(rng.integers(0, 256, (h // 32, w // 32, 3), dtype=np.uint8), (w, h), interpolation=cv2.INTER_CUBIC)
    grain = rng.normal(0, 6, (h, w, 3))
    return np.clip(coarse + grain, 0, 255).astype(np.uint8)


def street_mask(shape) -> np.ndarray:
    h, w = shape
    mask = np.zeros((h, w, 3), np.uint8)
    mask[: h // 2] = (70, 130, 180)
    mask[h // 2 :] = (128, 64, 128)
    mask[h // 3 : h // 2, : w // 2] = (70, 70, 70)
    mask[int(h * 0.6) : int(h * 0.75), w // 4 : w // 2] = (0, 0, 142)
    return mask


def main() -> None:
    import cv2

    from maskcli.cli import cli  # noqa: F401  (import cost outside the timings)
    from maskcli.masks import read_mask
    from maskcli.overlay_run import OverlaySettings, overlay_file, read_photo, render
    from maskcli.palette import load_palette

    ap = argparse.ArgumentParser()
    ap.add_argument("--mask", type=Path, default=CORPUS_MASK if CORPUS_MASK.is_file() else None)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--dir", type=Path, default=None)
    ap.add_argument("--cpu", action="store_true",
                    help="Measure this process's CPU time instead of wall time (steadier on a busy machine).")
    args = ap.parse_args()
    global CLOCK
    if args.cpu:
        CLOCK = time.process_time
    work = Path(args.dir or tempfile.mkdtemp(prefix="maskcli-overlay-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    if args.mask is not None:
        mask_path = args.mask
    else:
        mask_path = work / "mask.png"
        cv2.imwrite(str(mask_path), street_mask((1024, 2048))[..., ::-1])
    shape = cv2.imread(str(mask_path)).shape[:2]
    photo = photo_like(shape)
    cv2.imwrite(str(work / "photo.png"), photo)
    cv2.imwrite(str(work / "photo.jpg"), photo, [cv2.IMWRITE_JPEG_QUALITY, 90])
    palette = load_palette("cityscapes")
    clock = "CPU time" if args.cpu else "wall time"
    print(f"mask {mask_path} ({shape[1]}x{shape[0]}), photos in {work}; {clock}, best of {args.repeat}")
    cases = [
        ("PNG photo -> PNG", "photo.png", "png", {}),
        ("JPEG photo -> JPEG", "photo.jpg", "jpeg", {}),
        ("PNG -> PNG, --outline --legend", "photo.png", "png", {"outline": True, "legend": True}),
    ]
    results = []
    for title, photo_name, fmt, extra in cases:
        settings = OverlaySettings("overlay", palette, format=fmt, **extra)
        src = str(work / photo_name)
        ext, params = (".jpg", [cv2.IMWRITE_JPEG_QUALITY, 90]) if fmt == "jpeg" else (".png", [])
        output_image = render(read_mask(str(mask_path)), read_photo(src), settings)  # what gets encoded
        decode = best(lambda: read_photo(src), args.repeat)
        encode = best(lambda: cv2.imencode(ext, output_image, params), args.repeat)
        mask_decode = best(lambda: read_mask(str(mask_path)), args.repeat)
        dst = str(work / f"out{ext}")
        whole = best(lambda: overlay_file(str(mask_path), src, dst, settings), args.repeat)
        base = decode + encode
        results.append((title, decode, encode, mask_decode, whole))
        print(f"{title:32s} decode photo {decode * 1e3:6.1f} ms + encode output {encode * 1e3:6.1f} ms = "
              f"{base * 1e3:6.1f} ms; overlay {whole * 1e3:6.1f} ms (of which decoding the mask "
              f"{mask_decode * 1e3:5.1f} ms); ratio {whole / base:.2f}, without the mask's decode "
              f"{(whole - mask_decode) / base:.2f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
