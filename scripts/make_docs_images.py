"""Make the pictures docs/ and the README show, from the example masks in examples/masks:

    docs/sheet.png     maskcli sheet         (the worst first: the resized mask leads)
    docs/classes.png   maskcli check --plot
    docs/report.html   maskcli check --html --images (the stand-in photos of examples/photos)
    docs/report.png    a screenshot of report.html (only where Chromium is installed)

The examples are all clean, so the script adds one realistic problem in a temporary copy: a
mask resized with bilinear interpolation (new colors along every edge). Run from the
repository root:  python scripts/make_docs_images.py [OUT_DIR]
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def _maskcli(cwd: Path, *args: str, ok=(0,)) -> None:
    res = subprocess.run([sys.executable, "-m", "maskcli", *args], capture_output=True, text=True, cwd=cwd)
    if res.returncode not in ok:
        raise SystemExit(f"maskcli {' '.join(args)} exited {res.returncode}: {res.stderr}")


def main(out: Path = ROOT / "docs") -> list[Path]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    made = []
    with tempfile.TemporaryDirectory(prefix="maskcli-docs-") as tmp:
        masks = Path(tmp) / "masks"
        shutil.copytree(ROOT / "examples" / "masks", masks)
        src = Image.open(masks / "train" / "street_01.png").convert("RGB")
        src.resize((192, 96), Image.BILINEAR).save(masks / "train" / "street_06_resized.png")
        out = out.resolve()
        args = ["masks", "-p", "cityscapes", "-j", "1", "-q"]  # relative: no temporary path in the pictures
        _maskcli(tmp, "sheet", *args, "-o", str(out / "sheet.png"), "--sample", "worst", "--columns", "3",
                 "--size", "200")
        shutil.copytree(ROOT / "examples" / "photos", Path(tmp) / "photos")
        _maskcli(tmp, "check", *args, "--plot", str(out / "classes.png"), "--html", str(out / "report.html"),
                 "--images", "photos", ok=(1,))
        made += [out / "sheet.png", out / "classes.png", out / "report.html"]
    sys.path.insert(0, str(ROOT / "scripts"))
    from screenshot_html import find_chromium, screenshot

    if find_chromium():
        shot = out / "report.png"
        screenshot(out / "report.html", shot, 1000, 2500)
        img = Image.open(shot).convert("RGB")
        img.resize((img.width // 2, img.height // 2), Image.LANCZOS).save(shot, optimize=True)
        made.append(shot)
    return made


if __name__ == "__main__":
    for path in main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs"):
        print(path)
