"""The baselines maskcli is compared with, run as their own processes like the real CLI.

    python benchmarks/baselines.py MODE INPUT_DIR OUTPUT_DIR SPEC.json [-j N]

MODE is one of:

- ``floor-index``: the I/O floor of to-index. Read each input with OpenCV
  (``cv2.imread(path, cv2.IMREAD_UNCHANGED)``) and write one of its channels as a grayscale PNG
  with OpenCV's default settings. No conversion at all.
- ``floor-rgb``: the I/O floor of to-rgb. Read each index PNG the same way and write it three
  times over (``cv2.merge``) as an RGB PNG, OpenCV defaults (16-bit indices are cast to 8 bits).
- ``naive-index``: the per-class loop of the seed article: for each palette color,
  ``class_mask[np.all(bgr == color, axis=-1)] = class_id`` (read and written with OpenCV).
- ``unique-index``: the sort-based way: pack each pixel into one integer,
  ``np.unique(keys, return_inverse=True)``, look the few distinct colors up, index back.
- ``naive-rgb``: the seed article's loop the other way: ``rgb[index == class_id] = color``.

SPEC.json holds the palette as plain pairs (``decode``: [r, g, b, value], ``encode``: [value,
r, g, b]) and the index dtype, so this file needs neither maskcli nor YAML. Inputs are found
recursively (.png, .bmp, .tif, .tiff) and mirrored into OUTPUT_DIR as .png, like maskcli.
Prints one JSON line: files, seconds spent in the loop (after imports), errors.
"""

from __future__ import annotations

import json
import os
import sys
import time

import cv2
import numpy as np

_spec = None  # set in each process: (mode, spec dict)


def _mirror(inputs_root: str, output_root: str, path: str) -> str:
    rel = os.path.relpath(path, inputs_root)
    return os.path.join(output_root, os.path.splitext(rel)[0] + ".png")


def _write(path: str, array: np.ndarray) -> None:
    if not cv2.imwrite(path, array):
        raise OSError(f"cv2.imwrite failed: {path}")


def floor_index(src: str, dst: str, spec) -> None:
    img = cv2.imread(src, cv2.IMREAD_UNCHANGED)
    _write(dst, img if img.ndim == 2 else np.ascontiguousarray(img[..., 0]))


def floor_rgb(src: str, dst: str, spec) -> None:
    idx = cv2.imread(src, cv2.IMREAD_UNCHANGED)
    if idx.ndim == 3:
        idx = idx[..., 0]
    if idx.dtype != np.uint8:
        idx = idx.astype(np.uint8)
    _write(dst, cv2.merge([idx, idx, idx]))


def naive_rgb_to_index(rgb: np.ndarray, rgb_to_class, dtype=np.uint8) -> np.ndarray:
    """The seed article's ``rgb_to_index_mask``: one full-image comparison per class.

    ``rgb_to_class`` is a list of ``((c0, c1, c2), class_id)`` in the channel order of ``rgb``.
    """
    height, width = rgb.shape[:2]
    class_mask = np.zeros((height, width), dtype=dtype)
    for color, class_id in rgb_to_class:
        match = np.all(rgb == color, axis=-1)
        class_mask[match] = class_id
    return class_mask


def unique_rgb_to_index(rgb: np.ndarray, lookup: dict, dtype=np.uint8) -> np.ndarray:
    """Sort-based: pack ``c0 | c1 << 8 | c2 << 16``, ``np.unique(return_inverse=True)``, look
    the distinct keys up in ``lookup`` (packed key -> class id), index back."""
    keys = (rgb[..., 0].astype(np.uint32) | (rgb[..., 1].astype(np.uint32) << 8)
            | (rgb[..., 2].astype(np.uint32) << 16))
    uniq, inverse = np.unique(keys.reshape(-1), return_inverse=True)
    values = np.empty(len(uniq), dtype=dtype)
    for i, key in enumerate(uniq.tolist()):
        value = lookup.get(key)
        if value is None:
            raise ValueError(f"unknown color {key & 255, (key >> 8) & 255, key >> 16}")
        values[i] = value
    return values[inverse.reshape(-1)].reshape(keys.shape)


def naive_index_to_rgb(class_mask: np.ndarray, class_to_color) -> np.ndarray:
    """The seed article's ``index_to_rgb_mask``: one comparison per class."""
    height, width = class_mask.shape
    out = np.zeros((height, width, 3), dtype=np.uint8)
    for class_id, color in class_to_color:
        out[class_mask == class_id] = color
    return out


def naive_index(src: str, dst: str, spec) -> None:
    """The seed article's loop on OpenCV's BGR order (its dictionary is in BGR too)."""
    bgr = cv2.imread(src, cv2.IMREAD_COLOR)
    _write(dst, naive_rgb_to_index(bgr, spec["_bgr_pairs"], spec["dtype"]))


def unique_index(src: str, dst: str, spec) -> None:
    bgr = cv2.imread(src, cv2.IMREAD_COLOR)
    _write(dst, unique_rgb_to_index(bgr, spec["_bgr_lookup"], spec["dtype"]))


def naive_rgb(src: str, dst: str, spec) -> None:
    class_mask = cv2.imread(src, cv2.IMREAD_UNCHANGED)
    _write(dst, naive_index_to_rgb(class_mask, spec["_bgr_encode"]))


MODES = {
    "floor-index": floor_index,
    "floor-rgb": floor_rgb,
    "naive-index": naive_index,
    "unique-index": unique_index,
    "naive-rgb": naive_rgb,
}


def load_spec(path: str) -> dict:
    with open(path) as f:
        spec = json.load(f)
    spec["dtype"] = np.dtype(spec["dtype"])
    spec["_bgr_pairs"] = [((b, g, r), v) for r, g, b, v in spec["decode"]]
    spec["_bgr_lookup"] = {b | (g << 8) | (r << 16): v for r, g, b, v in spec["decode"]}
    spec["_bgr_encode"] = [(v, (b, g, r)) for v, r, g, b in spec["encode"]]
    return spec


def _init(mode: str, spec_path: str) -> None:
    global _spec
    cv2.setNumThreads(1)
    _spec = (MODES[mode], load_spec(spec_path))


def _one(pair):
    fn, spec = _spec
    try:
        fn(pair[0], pair[1], spec)
    except Exception as exc:  # counted, reported once at the end
        return f"{pair[0]}: {type(exc).__name__}: {exc}"
    return None


def find_inputs(root: str) -> list[str]:
    found = []
    for base, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith(".") and name.lower().endswith((".png", ".bmp", ".tif", ".tiff")):
                found.append(os.path.join(base, name))
    return found


def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("mode", choices=sorted(MODES))
    ap.add_argument("inputs")
    ap.add_argument("output")
    ap.add_argument("spec")
    ap.add_argument("-j", "--jobs", type=int, default=1)
    args = ap.parse_args(argv)
    started = time.perf_counter()
    pairs = [(p, _mirror(args.inputs, args.output, p)) for p in find_inputs(args.inputs)]
    for folder in sorted({os.path.dirname(d) for _, d in pairs}):
        os.makedirs(folder, exist_ok=True)
    if args.jobs <= 1:
        global _spec
        _spec = (MODES[args.mode], load_spec(args.spec))  # OpenCV threads left as they are
        errors = [e for e in map(_one, pairs) if e]
    else:
        import multiprocessing

        chunk = max(1, min(32, len(pairs) // (args.jobs * 8)))
        with multiprocessing.get_context("fork").Pool(
            args.jobs, initializer=_init, initargs=(args.mode, args.spec)
        ) as pool:
            errors = [e for e in pool.imap(_one, pairs, chunksize=chunk) if e]
    seconds = time.perf_counter() - started
    print(json.dumps({"files": len(pairs), "seconds": seconds, "errors": len(errors),
                      "first_errors": errors[:3]}))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
