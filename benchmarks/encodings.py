#!/usr/bin/env python3
"""Inputs for comparing each --encoding decoder with plain to-index on the same image size.

    python benchmarks/encodings.py DIR [--files N] [--size 2048x1024]

Writes, under DIR, one folder per encoding and ``plain/`` (Cityscapes color masks), each
with N files of the same size and the same label layout (blocks and stripes of 19 classes
with instance ids), ``panoptic.json`` for coco-panoptic, and prints the command of each run.
Time them as whole processes, e.g.::

    /usr/bin/time -v python -m maskcli to-index DIR/plain -o /tmp/o -p cityscapes -j 1 -q
    /usr/bin/time -v python -m maskcli to-index DIR/ade20k-full -o /tmp/o --encoding ade20k-full -j 1 -q

(see docs/performance.md for the figures).
"""

from __future__ import annotations

import argparse
import json
import os

import cv2
import numpy as np

CITYSCAPES = [(128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153), (153, 153, 153),
              (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152), (70, 130, 180), (220, 20, 60),
              (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100), (0, 80, 100), (0, 0, 230), (119, 11, 32)]


def layout(height: int, width: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(classes 0..18, instance numbers 0..15): rectangles over stripes, like a street scene."""
    rng = np.random.default_rng(seed)
    cls = np.repeat((np.arange(height) * 6 // height).astype(np.uint8)[:, None], width, axis=1)
    inst = np.zeros((height, width), np.uint8)
    for k in range(60):
        h, w = rng.integers(20, height // 4), rng.integers(20, width // 6)
        y, x = rng.integers(0, height - h), rng.integers(0, width - w)
        cls[y : y + h, x : x + w] = rng.integers(0, 19)
        inst[y : y + h, x : x + w] = k % 16
    return cls, inst


def write(path: str, array: np.ndarray, rgb: bool = False) -> None:
    if rgb:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR if array.shape[2] == 3 else cv2.COLOR_RGBA2BGRA)
    if not cv2.imwrite(path, array):
        raise OSError(f"cannot write {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dir")
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--size", default="2048x1024")
    args = parser.parse_args()
    width, height = map(int, args.size.split("x"))
    names = ["plain", "ade20k-full", "cityscapes-instance", "coco-panoptic", "bdd100k-bitmask", "mapillary-instance"]
    for name in names:
        os.makedirs(os.path.join(args.dir, name), exist_ok=True)
    palette = np.array(CITYSCAPES, np.uint8)
    annotations = []
    for i in range(args.files):
        cls, inst = layout(height, width, i)
        file = f"{i:06d}.png"
        write(os.path.join(args.dir, "plain", file), palette[cls], rgb=True)
        ade = cls.astype(np.int64) * 157 + 11  # ids up to ~2,800, as in ADE20K
        write(os.path.join(args.dir, "ade20k-full", file),
              np.stack([ade // 256 * 10, ade % 256, inst * 5], axis=-1).astype(np.uint8), rgb=True)
        label = cls.astype(np.uint16) + 7
        write(os.path.join(args.dir, "cityscapes-instance", file),
              np.where(cls >= 11, label * 1000 + inst, label).astype(np.uint16))
        segment = (cls.astype(np.int64) * 16 + inst) * 4099 + 1  # distinct ids spread over 24 bits
        write(os.path.join(args.dir, "coco-panoptic", file),
              np.stack([segment % 256, segment // 256 % 256, segment // 65536], axis=-1).astype(np.uint8), rgb=True)
        ids = np.unique(segment)
        annotations.append({"file_name": file, "image_id": i,
                            "segments_info": [{"id": int(s), "category_id": int((s - 1) // 4099 // 16) + 1}
                                              for s in ids]})
        write(os.path.join(args.dir, "bdd100k-bitmask", file),
              np.stack([cls, np.zeros_like(cls), np.zeros_like(cls), inst], axis=-1), rgb=True)
        write(os.path.join(args.dir, "mapillary-instance", file), (cls.astype(np.uint16) * 256 + inst))
    ann = os.path.join(args.dir, "panoptic.json")
    with open(ann, "w") as f:
        json.dump({"annotations": annotations, "categories": [{"id": k + 1, "name": f"c{k}"} for k in range(19)]}, f)
    out = os.path.join(args.dir, "out")
    print(f"python -m maskcli to-index {args.dir}/plain -o {out} -p cityscapes -j 1 -q")
    for name in names[1:]:
        extra = f" --annotations {ann}" if name == "coco-panoptic" else ""
        print(f"python -m maskcli to-index {args.dir}/{name} -o {out} --encoding {name}{extra} -j 1 -q")


if __name__ == "__main__":
    main()
