"""Render an HTML file in headless Chromium with JavaScript disabled: a PNG screenshot and the
DOM as the browser built it. Used by the tests of `maskcli check --html` and by hand:

    python scripts/screenshot_html.py report.html shot.png [WIDTH [HEIGHT]]

JavaScript is switched off through a fresh profile's content settings (Chromium's
--blink-settings=scriptEnabled=false stops headless --screenshot from writing a file in the
Chromium 120+ builds tried). Headless Chromium as root needs --no-sandbox.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _run(args: list[str], profile: Path, timeout: float) -> subprocess.CompletedProcess:
    prefs = profile / "Default" / "Preferences"
    prefs.parent.mkdir(parents=True, exist_ok=True)
    prefs.write_text(json.dumps({"profile": {"default_content_setting_values": {"javascript": 2}}}))
    cmd = [find_chromium() or "chromium", "--headless", "--disable-gpu", "--no-first-run",
           "--hide-scrollbars", f"--user-data-dir={profile}", "--disable-extensions", "--mute-audio"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--no-sandbox")
    return subprocess.run(cmd + args, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def screenshot(html: Path, png: Path, width: int = 1280, height: int = 2400, timeout: float = 120) -> None:
    """Screenshot ``html`` at ``width`` x ``height`` CSS px into ``png`` (JavaScript off)."""
    with tempfile.TemporaryDirectory(prefix="maskcli-chromium-") as tmp:
        res = _run([f"--window-size={width},{height}", f"--screenshot={Path(png).resolve()}",
                    Path(html).resolve().as_uri()], Path(tmp), timeout)
    if not Path(png).is_file():
        raise RuntimeError(f"chromium wrote no screenshot (exit {res.returncode}): {res.stderr[-2000:]}")


def dump_dom(html: Path, timeout: float = 120) -> str:
    """The DOM after loading ``html`` with JavaScript off, serialized by the browser."""
    with tempfile.TemporaryDirectory(prefix="maskcli-chromium-") as tmp:
        res = _run(["--dump-dom", Path(html).resolve().as_uri()], Path(tmp), timeout)
    return res.stdout


if __name__ == "__main__":
    size = [int(v) for v in sys.argv[3:5]]
    screenshot(Path(sys.argv[1]), Path(sys.argv[2]), *size)
    print(sys.argv[2])
