"""Shared helpers. Test images are written and read with Pillow, independently of maskcli's
own reader and writer, so a channel-order or bit-depth bug in maskcli cannot hide itself."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

CORPUS = Path(os.environ.get("MASKCLI_CORPUS", Path(__file__).resolve().parents[2] / "shared" / "corpus"))


def write_png(path, array, mode=None, palette=None):
    """Write an array with Pillow: (H, W, 3) RGB, (H, W, 4) RGBA, (H, W) uint8 L or uint16 I;16,
    or mode 'P' with ``palette`` as a list of RGB triples."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    array = np.asarray(array)
    if mode == "P":
        img = Image.fromarray(array.astype(np.uint8), "P")
        flat = [v for rgb in palette for v in rgb]
        img.putpalette(flat + [0] * (768 - len(flat)))
    else:  # uint16 becomes I;16
        img = Image.fromarray(array)
    img.save(path)
    return path


def read_png(path):
    """Decode with Pillow: RGB as (H, W, 3), grayscale as (H, W) uint8/uint16, P as indices."""
    img = Image.open(path)
    arr = np.asarray(img)
    if img.mode.startswith("I;16"):
        arr = arr.astype(np.uint16)
    return img.mode, arr


@pytest.fixture
def corpus():
    if not CORPUS.is_dir():
        pytest.skip(f"the real-mask corpus is not at {CORPUS} (set MASKCLI_CORPUS)")
    return CORPUS


# The seed article's dictionary, in its own (accidentally BGR) order, and the same colors as
# an RGB palette: the article reads with cv2.imread, so its tuples are (b, g, r).
SEED_BGR_TO_CLASS = {
    (0, 0, 0): 0, (0, 74, 111): 1, (0, 220, 220): 2, (20, 20, 20): 3, (30, 170, 250): 4,
    (35, 142, 107): 5, (60, 20, 220): 6, (70, 0, 0): 7, (70, 70, 70): 8, (81, 0, 81): 9,
    (100, 100, 150): 10, (128, 64, 128): 11, (142, 0, 0): 12, (152, 251, 152): 13,
    (153, 153, 153): 14, (153, 153, 190): 15, (156, 102, 102): 16, (180, 130, 70): 17,
    (230, 0, 0): 18, (232, 35, 244): 19,
}


def seed_palette_yaml() -> str:
    lines = ["name: seed-article", "classes:"]
    for (b, g, r), cid in sorted(SEED_BGR_TO_CLASS.items(), key=lambda kv: kv[1]):
        lines.append(f"  - {{id: {cid}, name: class_{cid}, color: [{r}, {g}, {b}]}}")
    return "\n".join(lines) + "\n"
