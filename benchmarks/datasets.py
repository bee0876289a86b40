"""Synthetic, deterministic benchmark datasets (written outside the repository).

Every set is drawn from seeded random numbers with OpenCV's non-antialiased polygon filling,
so the masks are regions (bands, rectangles, polygons, ellipses) with exact colors, like real
label masks, and compress like them. A set is built once into a cache folder and reused while
its stamp (the parameters and ``VERSION``) is unchanged.

Cityscapes label ids and colors below are the public definition (cityscapesScripts'
``labels.py``), typed out as data; GTA5 "Playing for Data" labels store the label id in a
palettized PNG whose PLTE is this table, except that id 4 ('static') is (20, 20, 20).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass

import cv2
import numpy as np
from PIL import Image

VERSION = 3  # bump when a generator changes: cached sets are rebuilt

# label id -> (name, RGB color, train id or 255)
CITYSCAPES_LABELS = {
    0: ("unlabeled", (0, 0, 0), 255),
    1: ("ego vehicle", (0, 0, 0), 255),
    2: ("rectification border", (0, 0, 0), 255),
    3: ("out of roi", (0, 0, 0), 255),
    4: ("static", (0, 0, 0), 255),
    5: ("dynamic", (111, 74, 0), 255),
    6: ("ground", (81, 0, 81), 255),
    7: ("road", (128, 64, 128), 0),
    8: ("sidewalk", (244, 35, 232), 1),
    9: ("parking", (250, 170, 160), 255),
    10: ("rail track", (230, 150, 140), 255),
    11: ("building", (70, 70, 70), 2),
    12: ("wall", (102, 102, 156), 3),
    13: ("fence", (190, 153, 153), 4),
    14: ("guard rail", (180, 165, 180), 255),
    15: ("bridge", (150, 100, 100), 255),
    16: ("tunnel", (150, 120, 90), 255),
    17: ("pole", (153, 153, 153), 5),
    18: ("polegroup", (153, 153, 153), 255),
    19: ("traffic light", (250, 170, 30), 6),
    20: ("traffic sign", (220, 220, 0), 7),
    21: ("vegetation", (107, 142, 35), 8),
    22: ("terrain", (152, 251, 152), 9),
    23: ("sky", (70, 130, 180), 10),
    24: ("person", (220, 20, 60), 11),
    25: ("rider", (255, 0, 0), 12),
    26: ("car", (0, 0, 142), 13),
    27: ("truck", (0, 0, 70), 14),
    28: ("bus", (0, 60, 100), 15),
    29: ("caravan", (0, 0, 90), 255),
    30: ("trailer", (0, 0, 110), 255),
    31: ("train", (0, 80, 100), 16),
    32: ("motorcycle", (0, 0, 230), 17),
    33: ("bicycle", (119, 11, 32), 18),
    34: ("license plate", (0, 0, 142), 255),
}

# The 19 train classes plus ego vehicle (black): the 20 colors of dataset (a).
TRAIN_LABELS = (1, 7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33)
# Labels only GTA-style masks use as well (ignore classes, shared colors, (20, 20, 20)).
EXTRA_LABELS = (4, 5, 6, 9, 14, 18, 29, 34)


def gta5_plte() -> np.ndarray:
    """The 35-entry PLTE of GTA5 label PNGs: Cityscapes label colors by label id."""
    colors = np.array([CITYSCAPES_LABELS[i][1] for i in range(35)], dtype=np.uint8)
    colors[4] = (20, 20, 20)
    return colors


def cityscapes_label_colors() -> np.ndarray:
    """(256, 3) RGB color of each Cityscapes label id (labels.py colors)."""
    lut = np.zeros((256, 3), np.uint8)
    for i, (_, color, _) in CITYSCAPES_LABELS.items():
        lut[i] = color
    return lut


# --------------------------------------------------------------------------- scene drawing


def _poly(img, pts, value) -> None:
    cv2.fillPoly(img, [np.asarray(pts, np.int32).reshape(-1, 1, 2)], int(value), lineType=cv2.LINE_8)


def _blob(rng, cx, cy, rx, ry, n=14):
    """A jagged closed polygon around (cx, cy), like a hand-annotated tree or bush."""
    angles = np.sort(rng.uniform(0, 2 * np.pi, n))
    radius = rng.uniform(0.6, 1.0, n)
    return np.stack([cx + rx * radius * np.cos(angles), cy + ry * radius * np.sin(angles)], 1)


def street_labels(seed: int, width: int, height: int, extra: bool = False) -> np.ndarray:
    """An (H, W) uint8 map of Cityscapes label ids shaped like a street scene.

    ``extra`` also draws the ignore-class labels that GTA5 masks hold (static, dynamic, ground,
    parking, guard rail, polegroup, caravan, license plate).
    """
    rng = np.random.default_rng(seed)
    s = width / 2048.0  # shapes scale with the image
    img = np.full((height, width), 23, np.uint8)  # sky
    horizon = int(height * rng.uniform(0.42, 0.55))
    x = -int(rng.integers(0, 80 * s + 1))
    while x < width:  # skyline: buildings, walls, trees
        w = int(rng.integers(90, 360) * s) + 2
        top = int(rng.integers(int(height * 0.05), max(int(height * 0.05) + 1, horizon - 20)))
        kind = rng.choice([11, 11, 11, 12, 21])
        if kind == 21:
            _poly(img, _blob(rng, x + w / 2, (top + horizon) / 2, w / 2, (horizon - top) / 2 + 4, 18), 21)
        else:
            roof = [(x, top), (x + w, top + int(rng.integers(-30, 30) * s)), (x + w, horizon), (x, horizon)]
            _poly(img, roof, kind)
        x += w
    img[horizon:] = 7  # road
    # sidewalks: two wedges widening towards the camera, terrain strips beside them
    vanish = width * rng.uniform(0.4, 0.6)
    left = [(0, horizon), (vanish - 60 * s, horizon), (width * 0.25, height), (0, height)]
    right = [(vanish + 60 * s, horizon), (width, horizon), (width, height), (width * 0.75, height)]
    _poly(img, left, 8)
    _poly(img, right, 8)
    _poly(img, [(0, horizon), (vanish - 160 * s, horizon), (0, horizon + 120 * s)], 22)
    # a fence along the right sidewalk
    fy = horizon - int(40 * s)
    _poly(img, [(vanish + 120 * s, fy), (width, fy - 30 * s), (width, horizon + 40 * s), (vanish + 120 * s, horizon)], 13)
    for _ in range(int(rng.integers(3, 8))):  # poles, with signs and lights
        px = int(rng.uniform(0.05, 0.95) * width)
        pw = max(2, int(rng.integers(6, 16) * s))
        ptop = int(height * rng.uniform(0.08, 0.3))
        pbot = horizon + int(rng.integers(10, 200) * s)
        img[ptop:pbot, px : px + pw] = 17
        if rng.random() < 0.6:
            sw = max(3, int(rng.integers(30, 70) * s))
            img[ptop : ptop + sw, px - sw // 2 : px + sw // 2] = 20
        else:
            lw = max(3, int(rng.integers(16, 30) * s))
            img[ptop : ptop + 3 * lw, px - lw : px] = 19
    for _ in range(int(rng.integers(3, 9))):  # vehicles on the road, nearer ones larger
        depth = rng.uniform(0.1, 1.0)
        vw = int((120 + 520 * depth) * s * rng.uniform(0.8, 1.3)) + 4
        vh = int(vw * rng.uniform(0.45, 0.8))
        vy = horizon + int((height - horizon) * depth * 0.7) - vh // 2
        vx = int(rng.uniform(0.1, 0.9) * width) - vw // 2
        kind = int(rng.choice([26, 26, 26, 26, 27, 28, 31]))
        body = [(vx, vy + vh), (vx, vy + vh // 3), (vx + vw // 5, vy), (vx + 4 * vw // 5, vy), (vx + vw, vy + vh // 3), (vx + vw, vy + vh)]
        _poly(img, body, kind)
        if extra and kind == 26 and rng.random() < 0.7:  # a license plate, car-colored in color masks
            img[vy + 3 * vh // 4 : vy + 3 * vh // 4 + max(2, vh // 10), vx + 2 * vw // 5 : vx + 3 * vw // 5] = 34
    for _ in range(int(rng.integers(4, 12))):  # people, riders, two-wheelers
        px = int(rng.uniform(0.02, 0.98) * width)
        ph = int(rng.integers(60, 300) * s) + 4
        pw = max(2, ph // 3)
        py = horizon + int(rng.integers(-20, 200) * s) - ph // 2
        kind = int(rng.choice([24, 24, 24, 25, 32, 33]))
        if kind in (32, 33):
            cv2.ellipse(img, (px, py + ph), (pw, max(1, ph // 4)), 0, 0, 360, kind, -1, cv2.LINE_8)
        else:
            _poly(img, _blob(rng, px, py + ph / 2, pw / 2, ph / 2, 10), kind)
    if extra:
        for label in (4, 5, 6, 9, 14, 18, 29):
            if rng.random() < 0.8:
                bx = int(rng.uniform(0, 0.9) * width)
                by = int(rng.uniform(0.3, 0.95) * height)
                bw, bh = int(rng.integers(20, 240) * s) + 2, int(rng.integers(10, 120) * s) + 2
                img[by : by + bh, bx : bx + bw] = label
    wanted = TRAIN_LABELS + (EXTRA_LABELS if extra else ())
    missing = sorted(set(wanted) - set(np.unique(img).tolist()) - {1})
    for label in missing:  # a small object of each class not drawn yet, so a mask has ~20 colors
        bw, bh = int(rng.integers(24, 160) * s) + 2, int(rng.integers(16, 120) * s) + 2
        bx = int(rng.uniform(0.02, 0.9) * width)
        by = int(rng.uniform(0.25, 0.8) * height)
        img[by : by + bh, bx : bx + bw] = label
    ego = int(height * rng.uniform(0.06, 0.12))  # the ego vehicle's bonnet at the bottom
    _poly(img, [(0, height), (0, height - ego // 2), (width / 2, height - ego), (width, height - ego // 2), (width, height)], 1)
    return img


def busy_labels(labels: np.ndarray, seed: int, blobs_per_mp: int = 290) -> np.ndarray:
    """A street scene with many small irregular regions on top (foliage, clutter, far-away
    objects), so that a 2048x1024 mask compresses to about 100 KB like busier real masks."""
    rng = np.random.default_rng(seed)
    out = labels.copy()
    height, width = out.shape
    s = width / 2048.0
    ids = np.array(TRAIN_LABELS)
    for _ in range(int(blobs_per_mp * height * width / 1e6)):
        r = rng.uniform(4, 40) * s + 1
        blob = _blob(rng, rng.uniform(0, width), rng.uniform(0, height), r, r * rng.uniform(0.5, 2), 12)
        _poly(out, blob, int(rng.choice(ids)))
    return out


def many_class_labels(seed: int, width: int, height: int, classes: int) -> np.ndarray:
    """An (H, W) uint16 map using every id in 0..classes-1: a shuffled grid of cells with
    polygons of random classes on top (like a panoptic or ADE20K-style mask)."""
    rng = np.random.default_rng(seed)
    cols = int(np.ceil(np.sqrt(classes * width / height)))
    rows = int(np.ceil(classes / cols))
    ids = rng.permutation(np.resize(np.arange(classes), rows * cols))
    ys = np.linspace(0, height, rows + 1).astype(int)
    xs = np.linspace(0, width, cols + 1).astype(int)
    img = np.zeros((height, width), np.uint16)
    for r in range(rows):
        for c in range(cols):
            img[ys[r] : ys[r + 1], xs[c] : xs[c + 1]] = ids[r * cols + c]
    canvas = img.astype(np.int32)
    cell = min(width / cols, height / rows)
    for _ in range(classes // 3):
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        r = rng.uniform(0.3, 1.2) * cell
        pts = _blob(rng, cx, cy, r, r * rng.uniform(0.5, 1.5)).astype(np.int32).reshape(-1, 1, 2)
        cv2.fillPoly(canvas, [pts], int(rng.integers(classes)), lineType=cv2.LINE_8)
    img = canvas.astype(np.uint16)
    present = np.zeros(classes, bool)
    present[np.unique(img)] = True
    for k in np.flatnonzero(~present):  # an id the polygons covered: a dot in its own cell
        pos = int(np.flatnonzero(ids == k)[0])
        r, c = divmod(pos, cols)
        cy, cx = (ys[r] + ys[r + 1]) // 2, (xs[c] + xs[c + 1]) // 2
        half = max(1, int(cell) // 6)
        img[cy - half : cy + half, cx - half : cx + half] = k
    return img


def many_class_colors(classes: int, seed: int = 7) -> np.ndarray:
    """``classes`` distinct RGB colors, none of them black."""
    rng = np.random.default_rng(seed)
    keys = rng.choice(np.arange(1, 1 << 24), size=classes, replace=False)
    return np.stack([keys & 255, (keys >> 8) & 255, keys >> 16], 1).astype(np.uint8)


def many_class_palette_yaml(colors: np.ndarray) -> str:
    lines = [
        "name: bench-300",
        f"description: {len(colors)} generated classes (benchmark dataset d)",
        "ignore_index: 65535",
        "classes:",
    ]
    for i, (r, g, b) in enumerate(colors.tolist()):
        lines.append(f"  - {{id: {i}, name: class_{i}, color: [{r}, {g}, {b}]}}")
    return "\n".join(lines) + "\n"


def kernel_palette_yaml() -> str:
    """20 classes, ids 0..19: the 20 colors of dataset (a) (used by the in-memory kernel test)."""
    lines = ["name: bench-20", "description: the 20 colors of dataset (a)", "classes:"]
    for i, label in enumerate(TRAIN_LABELS):
        name, (r, g, b), _ = CITYSCAPES_LABELS[label]
        lines.append(f"  - {{id: {i}, name: '{name}', color: [{r}, {g}, {b}]}}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- writing sets


@dataclass
class DatasetSpec:
    key: str  # a, b, c, d, e
    title: str
    kind: str  # rgb | palettized
    count: int
    width: int
    height: int
    palette: str  # built-in name, or "bench-300.yaml" (written in the cache folder)
    seed: int


def default_specs(quick: bool) -> list[DatasetSpec]:
    if quick:
        return [
            DatasetSpec("a", "street RGB, 20 Cityscapes colors", "rgb", 6, 512, 256, "cityscapes", 1),
            DatasetSpec("b", "GTA5-style palettized (P, label ids)", "palettized", 6, 478, 263, "cityscapes", 2),
            DatasetSpec("c", "small RGB 64x64 (per-file overhead)", "rgb", 100, 64, 64, "cityscapes", 3),
            DatasetSpec("d", "300 classes RGB (uint16 output)", "rgb", 2, 200, 200, "bench-300.yaml", 4),
            DatasetSpec("e", "busy street RGB, ~100 KB a file", "rgb", 4, 512, 256, "cityscapes", 5),
        ]
    return [
        DatasetSpec("a", "street RGB 2048x1024, 20 Cityscapes colors", "rgb", 64, 2048, 1024, "cityscapes", 1),
        DatasetSpec("b", "GTA5-size 1914x1052 palettized (P, label ids)", "palettized", 64, 1914, 1052, "cityscapes", 2),
        DatasetSpec("c", "small RGB 64x64 (per-file overhead)", "rgb", 10000, 64, 64, "cityscapes", 3),
        DatasetSpec("d", "300 classes RGB 1024x1024 (uint16 output)", "rgb", 8, 1024, 1024, "bench-300.yaml", 4),
        DatasetSpec("e", "busy street RGB 2048x1024, ~100 KB a file", "rgb", 40, 2048, 1024, "cityscapes", 5),
    ]


def _save_rgb(path: str, rgb: np.ndarray) -> None:
    # Pillow's default PNG settings (zlib level 6), as most dataset tools save masks
    Image.fromarray(rgb, "RGB").save(path)


def _save_p(path: str, indices: np.ndarray, plte: np.ndarray) -> None:
    img = Image.fromarray(indices.astype(np.uint8), "P")
    img.putpalette(plte.reshape(-1).tolist())
    img.save(path)


def build(spec: DatasetSpec, root: str) -> str:
    """Write ``spec``'s files under ``root/<key>-<size>-<count>/masks`` once; return that folder."""
    folder = os.path.join(root, f"{spec.key}-{spec.width}x{spec.height}-{spec.count}")
    masks = os.path.join(folder, "masks")
    stamp_path = os.path.join(folder, "stamp.json")
    stamp = {"version": VERSION, **asdict(spec)}
    try:
        with open(stamp_path) as f:
            if json.load(f) == stamp:
                return masks
    except (OSError, ValueError):
        pass
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(masks)
    if spec.key == "d" or spec.palette.endswith(".yaml"):
        colors = many_class_colors(300)
        with open(os.path.join(folder, spec.palette), "w") as f:
            f.write(many_class_palette_yaml(colors))
    if spec.key == "c":
        _build_small(spec, masks)
    else:
        for i in range(spec.count):
            path = os.path.join(masks, f"{spec.key}_{i:05d}.png")
            if spec.key == "d":
                ids = many_class_labels(spec.seed * 1000 + i, spec.width, spec.height, 300)
                _save_rgb(path, colors[ids])
            elif spec.kind == "palettized":
                labels = street_labels(spec.seed * 1000 + i, spec.width, spec.height, extra=True)
                _save_p(path, labels, gta5_plte())
            else:
                labels = street_labels(spec.seed * 1000 + i, spec.width, spec.height)
                if spec.key == "e":
                    labels = busy_labels(labels, spec.seed * 1000 + i)
                _save_rgb(path, cityscapes_label_colors()[labels])
    with open(stamp_path, "w") as f:
        json.dump(stamp, f)
    return masks


def _build_small(spec: DatasetSpec, masks: str) -> None:
    """Many small masks: crops of a few large street scenes, in folders of 1,000."""
    lut = cityscapes_label_colors()
    sources = [street_labels(spec.seed * 1000 + k, 1024, 512) for k in range(8)]
    rng = np.random.default_rng(spec.seed)
    for i in range(spec.count):
        src = sources[i % len(sources)]
        y = int(rng.integers(0, src.shape[0] - spec.height))
        x = int(rng.integers(0, src.shape[1] - spec.width))
        sub = os.path.join(masks, f"{i // 1000:03d}")
        if i % 1000 == 0:
            os.makedirs(sub, exist_ok=True)
        _save_rgb(os.path.join(sub, f"c_{i:05d}.png"), lut[src[y : y + spec.height, x : x + spec.width]])


def palette_path(spec: DatasetSpec, masks_folder: str) -> str:
    """The ``-p`` value for a set: a built-in name, or its generated YAML file."""
    if spec.palette.endswith(".yaml"):
        return os.path.join(os.path.dirname(masks_folder), spec.palette)
    return spec.palette


def list_masks(folder: str) -> list[str]:
    """Image files under ``folder``, recursively, sorted, hidden ones skipped (as maskcli walks)."""
    found = []
    for base, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith(".") and name.lower().endswith((".png", ".bmp", ".tif", ".tiff")):
                found.append(os.path.join(base, name))
    return found
