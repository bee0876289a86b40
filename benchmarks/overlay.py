"""What an overlay costs next to what it cannot avoid: decoding the photo and encoding the output.

    python benchmarks/overlay.py [--mask M.png] [--repeat 15] [--dir /tmp/somewhere] [--parts]

For a 2048x1024 Cityscapes color mask (the corpus's Label1024Full/00100027.png when present,
else a generated street-like mask), the same labels as a grayscale index mask (as `to-index`
writes it, and as OpenCV writes it by default), and a generated photo of its size, in this
process:
- baseline: read + decode the photo (maskcli's read_photo) + encode the output image (the
  overlay itself, as OpenCV encodes it);
- overlay: maskcli's whole per-file work (read and check the mask, read the photo, blend,
  encode, stamp the record, write the file), in turn ("sequential", what each file of a
  batch run does) and with the mask and the photo decoded in two threads ("concurrent",
  what overlay_file(..., concurrent=True) does; the CLI does not use it).
The three are run in turn, --repeat times (paired runs: a busy minute slows all three of a
round), each timed in CPU time (this process, all threads) and wall time. It prints medians
(and bests) in ms, the median (and best) of the per-round ratios overlay / baseline, and the
decode times of the masks with both decoders (libspng through pyspng, and OpenCV). --parts
then also times, for the two JPEG cases, each part of overlay_file in turn (medians, ms). The process
keeps freed memory for reuse, as maskcli's own processes do (runner.keep_freed_memory);
MASKCLI_PNG_INFLATE=decoder in the environment times the mask decode without zlib-ng.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CORPUS = Path(__file__).resolve().parents[2] / "shared/corpus"
CORPUS_MASK = CORPUS / "PhotographicImageSynthesis/data/cityscapes/Label1024Full/00100027.png"
# Real VOC pairs (palettized masks, JPEG photos at their own size, about 500x375) from labelme's
# example dataset, when the corpus is there.
VOC = CORPUS / "labelme/examples/semantic_segmentation/data_dataset_voc"


def timed(fn):
    """(CPU seconds, wall seconds) of one call."""
    cpu, wall = time.process_time(), time.perf_counter()
    fn()
    return time.process_time() - cpu, time.perf_counter() - wall


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


def decoders(path: Path, repeat: int) -> str:
    """Best CPU ms of decoding ``path`` with libspng (pyspng) and with OpenCV."""
    import cv2

    data = path.read_bytes()
    out = []
    try:
        import pyspng

        out.append(f"libspng {min(timed(lambda: pyspng.load(data))[0] for _ in range(repeat)) * 1e3:.1f} ms")
    except ImportError:
        out.append("libspng: pyspng not installed")
    buf = np.frombuffer(data, np.uint8)
    cv_ms = min(timed(lambda: cv2.imdecode(buf, cv2.IMREAD_UNCHANGED))[0] for _ in range(repeat)) * 1e3
    out.append(f"OpenCV {cv_ms:.1f} ms")
    return ", ".join(out)


def main() -> None:
    import cv2
    from PIL import Image

    from maskcli.cli import cli  # noqa: F401  (import cost outside the timings)
    from maskcli.masks import encode_index_png, png_decoder, png_inflater, read_mask
    from maskcli.overlay_run import OverlaySettings, classes_of, overlay_file, read_photo, render
    from maskcli.palette import load_palette
    from maskcli.runner import keep_freed_memory

    keep_freed_memory()
    ap = argparse.ArgumentParser()
    ap.add_argument("--mask", type=Path, default=CORPUS_MASK if CORPUS_MASK.is_file() else None)
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--dir", type=Path, default=None)
    ap.add_argument("--parts", action="store_true", help="also time each part of overlay_file (JPEG cases)")
    args = ap.parse_args()
    work = Path(args.dir or tempfile.mkdtemp(prefix="maskcli-overlay-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    if args.mask is not None:
        mask_path = args.mask
    else:
        mask_path = work / "mask.png"
        cv2.imwrite(str(mask_path), street_mask((1024, 2048))[..., ::-1])
    palette = load_palette("cityscapes")
    index, *_ = classes_of(read_mask(str(mask_path)), OverlaySettings("overlay", palette))
    index_path = work / "index.png"  # the same labels as to-index writes them: 8-bit grayscale
    index_path.write_bytes(encode_index_png(index.astype(np.uint8)))
    index_sub_path = work / "index-cv2-default.png"  # the same, as OpenCV writes it by default ("sub" filter)
    cv2.imwrite(str(index_sub_path), index.astype(np.uint8))
    shape = index.shape
    photo = photo_like(shape)
    cv2.imwrite(str(work / "photo.png"), photo)
    cv2.imwrite(str(work / "photo.jpg"), photo, [cv2.IMWRITE_JPEG_QUALITY, 90])
    print(f"mask {mask_path} ({shape[1]}x{shape[0]}, {mask_path.stat().st_size} bytes), index mask "
          f"{index_path.stat().st_size} bytes, photos in {work}; masks.py decodes RGB PNGs with {png_decoder()}; "
          f"{args.repeat} paired rounds, CPU = this process (all threads), ms; PNG data inflated by {png_inflater()}")
    print(f"decoding the color mask: {decoders(mask_path, args.repeat)}; the index mask: {decoders(index_path, args.repeat)}")
    cases = [
        ("color mask, PNG photo -> PNG", mask_path, work / "photo.png", "png", {}, palette),
        ("color mask, JPEG photo -> JPEG", mask_path, work / "photo.jpg", "jpeg", {}, palette),
        ("index mask, PNG photo -> PNG", index_path, work / "photo.png", "png", {}, palette),
        ("index mask, JPEG photo -> JPEG", index_path, work / "photo.jpg", "jpeg", {}, palette),
        ("index mask as OpenCV writes it by default, JPEG photo -> JPEG", index_sub_path, work / "photo.jpg", "jpeg",
         {}, palette),
        ("color mask, PNG -> PNG, --outline --legend", mask_path, work / "photo.png", "png",
         {"outline": True, "legend": True}, palette),
    ]
    for mask in sorted(VOC.glob("SegmentationClass/*.png")) if VOC.is_dir() else []:
        photo = VOC / "JPEGImages" / (mask.stem + ".jpg")
        if photo.is_file():
            with Image.open(photo) as im:
                size = "x".join(map(str, im.size))
            cases.append((f"VOC {mask.stem} ({size}, palettized mask), its JPEG photo -> JPEG", mask, photo, "jpeg", {},
                          load_palette("pascal-voc")))
    for title, mask, photo_path, fmt, extra, pal in cases:
        settings = OverlaySettings("overlay", pal, format=fmt, **extra)
        src = str(photo_path)
        ext, params = (".jpg", [cv2.IMWRITE_JPEG_QUALITY, 90]) if fmt == "jpeg" else (".png", [])
        output_image = render(read_mask(str(mask)), read_photo(src), settings)  # what gets encoded
        dst = str(work / f"out{ext}")

        def baseline():
            read_photo(src)
            cv2.imencode(ext, output_image, params)

        runs = {"base": baseline,
                "seq": lambda: overlay_file(str(mask), src, dst, settings),
                "conc": lambda: overlay_file(str(mask), src, dst, settings, concurrent=True)}
        for fn in runs.values():  # warm-up
            fn()
        got = {name: [] for name in runs}
        for _ in range(args.repeat):
            for name, fn in runs.items():
                got[name].append(timed(fn))
        print(f"\n{title}")
        for clock, i in (("CPU", 0), ("wall", 1)):
            base = [t[i] for t in got["base"]]
            line = f"  {clock:4s} baseline {statistics.median(base) * 1e3:6.1f} (best {min(base) * 1e3:5.1f})"
            for name in ("seq", "conc"):
                mine = [t[i] for t in got[name]]
                ratios = [m / b for m, b in zip(mine, base)]
                line += (f" | {'sequential' if name == 'seq' else 'concurrent'} {statistics.median(mine) * 1e3:6.1f}"
                         f" (best {min(mine) * 1e3:5.1f}) ratio {statistics.median(ratios):.2f}"
                         f" (best {min(ratios):.2f})")
            print(line)
    if args.parts:
        for title, mask, photo_path, fmt, extra, pal in [c for c in cases if c[3] == "jpeg" and "VOC" not in c[0]]:
            parts(title, str(mask), str(photo_path), OverlaySettings("overlay", pal, format=fmt), work, args.repeat)
    sys.stdout.flush()


def parts(title: str, mask_path: str, photo_path: str, settings, work: Path, repeat: int) -> None:
    """Each part of overlay_file, timed in turn, ``repeat`` times: medians in ms (wall)."""
    from maskcli import masks, overlay
    from maskcli.overlay_run import classes_of, encode, read_photo

    got: dict[str, list] = {}

    def part(name, fn):
        start = time.perf_counter()
        value = fn()
        got.setdefault(name, []).append(time.perf_counter() - start)
        return value

    dst = str(work / "parts.out")
    for _ in range(repeat):
        data = part("read the mask file", lambda: masks.read_regular_file(mask_path))
        part("  of the decode: chunk checks and inflating ahead", lambda: masks._check_png(data))
        mask = part("decode the mask", lambda: masks.decode_mask(data, settings.channel_order))
        height, width = mask.shape
        photo = part("read and decode the photo (baseline)", lambda: read_photo(photo_path, expect=(width, height)))
        index, colors, ignore, _ = part("check its colors / color it", lambda: classes_of(mask, settings))
        labeled = part("labeled pixels", lambda: index != ignore)
        image = part("blend", lambda: overlay.blend(photo, colors, labeled, settings.alpha, in_place=True))
        data = part("encode the output (baseline)", lambda: encode(image, settings))
        part("write the file", lambda: masks.atomic_write(dst, data))
    print(f"\nparts of {title}, medians of {repeat}, ms:")
    for name, times in got.items():
        print(f"  {name:50s} {statistics.median(times) * 1e3:6.2f}")


if __name__ == "__main__":
    main()
