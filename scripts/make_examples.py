"""Generate the small street-scene color masks in examples/masks (Cityscapes colors).

Deterministic: the same files every run (seeded), so `git status` stays clean after
rerunning it. Run from the repository root:  python scripts/make_examples.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

# Cityscapes train-class colors (RGB), as in palettes/cityscapes.yaml
ROAD, SIDEWALK, BUILDING, POLE = (128, 64, 128), (244, 35, 232), (70, 70, 70), (153, 153, 153)
VEGETATION, SKY, PERSON, CAR, SIGN = (107, 142, 35), (70, 130, 180), (220, 20, 60), (0, 0, 142), (220, 220, 0)
UNLABELED = (0, 0, 0)  # an ignore color of the cityscapes palette


def street_scene(seed: int, width: int = 256, height: int = 128) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.zeros((height, width, 3), np.uint8)
    img[:] = SKY
    horizon = int(height * rng.uniform(0.45, 0.6))
    x = 0
    while x < width:  # a skyline of buildings and trees
        w = int(rng.integers(20, 60))
        top = int(rng.integers(height // 8, horizon - 5))
        img[top:horizon, x : x + w] = BUILDING if rng.random() < 0.7 else VEGETATION
        x += w
    img[horizon:] = ROAD
    yy, xx = np.mgrid[horizon:height, 0:width]
    slope = (yy - horizon) * 1.2
    img[horizon:][xx < slope * 0.6] = SIDEWALK
    img[horizon:][xx > width - slope * 0.6] = SIDEWALK
    for _ in range(int(rng.integers(1, 4))):  # cars on the road
        cx, w, h = int(rng.integers(40, width - 60)), int(rng.integers(24, 44)), int(rng.integers(10, 18))
        cy = int(rng.integers(horizon + 4, height - h))
        img[cy : cy + h, cx : cx + w] = CAR
    px = int(rng.integers(10, width - 10))  # a person on the sidewalk edge
    img[horizon - 6 : horizon + 14, px : px + 4] = PERSON
    pole = int(rng.integers(5, width - 5))
    img[height // 6 : horizon + 10, pole : pole + 2] = POLE
    img[height // 6 : height // 6 + 6, pole - 3 : pole + 5] = SIGN
    img[height - 4 :, :] = UNLABELED  # the ego-vehicle strip at the bottom edge
    return img


def main(out: Path = Path("examples/masks")) -> None:
    for split, seeds in (("train", (1, 2, 3)), ("val", (4, 5))):
        for seed in seeds:
            path = out / split / f"street_{seed:02d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(street_scene(seed)).save(path, optimize=True)
            print(path)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("examples/masks"))
