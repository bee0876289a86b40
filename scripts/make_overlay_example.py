"""Make stand-in photos for examples/masks and the overlay example shown in docs/visualize.md.

The "photos" are drawn from the masks (each class a muted tone with a vertical gradient,
softened by a blur), so they line up with the masks like real photos do. Deterministic: the
same files every run. Run from the repository root:  python scripts/make_overlay_example.py
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
from PIL import Image


def fake_photo(mask_rgb: np.ndarray) -> np.ndarray:
    """A photo-like RGB image of the mask's size whose regions follow the mask."""
    height, width = mask_rgb.shape[:2]
    base = mask_rgb.astype(np.float32) * 0.45 + 90  # muted class tones
    shade = np.linspace(1.15, 0.8, height, dtype=np.float32)[:, None, None]  # light from above
    stripes = (np.sin(np.arange(width, dtype=np.float32) / 3.0) * 6)[None, :, None]  # some texture
    photo = cv2.GaussianBlur(base * shade + stripes, (5, 5), 1.5)
    return np.clip(np.rint(photo), 0, 255).astype(np.uint8)


def make_photos(masks: Path, photos: Path) -> list[Path]:
    made = []
    for mask in sorted(masks.rglob("*.png")):
        out = photos / mask.relative_to(masks)
        out.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(fake_photo(np.asarray(Image.open(mask).convert("RGB")))).save(out, optimize=True)
        made.append(out)
    return made


def make_overlay(masks: Path, photos: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "maskcli", "overlay", str(masks / "val/street_04.png"),
                    "--images", str(photos / "val/street_04.png"), "-o", str(target), "-p", "cityscapes",
                    "--outline", "--legend", "-q"], check=True)


def main(root: Path = Path(".")) -> None:
    masks = Path("examples/masks")
    photos = root / "examples/photos"
    for path in make_photos(masks, photos):
        print(path)
    make_overlay(masks, photos, root / "docs/overlay-example.png")
    print(root / "docs/overlay-example.png")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("."))
