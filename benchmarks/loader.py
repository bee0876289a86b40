"""A data loader's __getitem__: one mask file to class indices, per call, in one process.

    python benchmarks/loader.py FOLDER [-p PALETTE] [--rounds 5]

Compares maskcli.IndexLoader (palette work done once, libspng when installed) with what a
training script usually does: OpenCV or Pillow to read, then maskcli.rgb_to_index, and with
cv2.imread alone (reading, no conversion) for scale. Every way runs over the same files in
turn, round after round; the median per-file time of each is printed. OpenCV runs on one
thread, as in a DataLoader worker. The outputs are checked to be equal.
"""

from __future__ import annotations

import argparse
import glob
import os
import statistics
import sys
import time

import cv2
import numpy as np
from PIL import Image

import maskcli
from maskcli.masks import png_decoder


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder")
    ap.add_argument("-p", "--palette", default="cityscapes")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--files", type=int, default=16, help="files per round (default 16)")
    args = ap.parse_args(argv)
    cv2.setNumThreads(1)
    files = sorted(glob.glob(os.path.join(args.folder, "**", "*.png"), recursive=True))[: args.files]
    if not files:
        raise SystemExit(f"no PNG files under {args.folder}")
    palette = maskcli.load_palette(args.palette)
    loader = maskcli.IndexLoader(palette)

    class MaskDataset:  # the recipe in docs/recipes.md, without torch
        def __init__(self, paths):
            self.paths = paths
            self.to_index = loader

        def __len__(self):
            return len(self.paths)

        def __getitem__(self, i):
            return self.to_index(self.paths[i])

    dataset = MaskDataset(files)
    ways = {
        "maskcli.IndexLoader (the recipe)": lambda i: dataset[i],
        "cv2.imread + cvtColor + rgb_to_index": lambda i: maskcli.rgb_to_index(
            cv2.cvtColor(cv2.imread(files[i], cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB), palette),
        "PIL open + convert('RGB') + rgb_to_index": lambda i: maskcli.rgb_to_index(
            np.asarray(Image.open(files[i]).convert("RGB")), palette),
        "cv2.imread alone (no conversion)": lambda i: cv2.imread(files[i], cv2.IMREAD_UNCHANGED),
    }
    first = [dataset[i] for i in range(len(files))]  # warm-up: tables, page cache
    for name, way in list(ways.items())[1:3]:
        assert all(np.array_equal(way(i), first[i]) for i in range(len(files))), name
    per_file = {name: [] for name in ways}
    for _ in range(args.rounds):
        for name, way in ways.items():
            t0 = time.perf_counter()
            for i in range(len(files)):
                way(i)
            per_file[name].append((time.perf_counter() - t0) / len(files))
    h, w = first[0].shape
    print(f"{len(files)} files of {w}x{h} from {args.folder}, {args.rounds} rounds, decoder: "
          f"{png_decoder()}; ms per file, median (min)")
    base = statistics.median(per_file["maskcli.IndexLoader (the recipe)"])
    for name, times in per_file.items():
        med = statistics.median(times)
        print(f"  {name:42s} {med * 1e3:7.2f} ({min(times) * 1e3:6.2f})  {med / base:5.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
