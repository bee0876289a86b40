"""Real processes: the installed command, python -m maskcli, and the process pool."""

import subprocess
import sys

import numpy as np

from conftest import write_png


def run(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "maskcli", *map(str, args)], capture_output=True, text=True, **kwargs)


def test_python_m_maskcli_version():
    from maskcli import __version__

    result = run("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"maskcli, version {__version__}"


def test_pool_output_is_byte_identical_to_in_process(tmp_path):
    rng = np.random.default_rng(7)
    colors = np.array([[128, 64, 128], [70, 70, 70], [0, 0, 142], [0, 0, 0], [119, 11, 32]], np.uint8)
    for i in range(24):
        blocks = rng.integers(0, len(colors), (12, 16))
        write_png(tmp_path / f"m/{i % 3}/{i:02d}.png", colors[np.kron(blocks, np.ones((8, 8), int))])
    write_png(tmp_path / "m/1/bad.png", np.full((4, 4, 3), 3, np.uint8))
    one = run("to-index", tmp_path / "m", "-o", tmp_path / "j1", "-p", "cityscapes", "-j", 1)
    two = run("to-index", tmp_path / "m", "-o", tmp_path / "j2", "-p", "cityscapes", "-j", 2)
    assert one.returncode == two.returncode == 1
    assert "Traceback" not in two.stderr
    strip = lambda s: [line for line in s.splitlines() if not line.startswith("to-index:")]  # noqa: E731
    assert strip(one.stderr) == strip(two.stderr)  # same messages, same order
    assert "to-index: 24 converted, 1 failed" in two.stderr
    files1 = sorted(p.relative_to(tmp_path / "j1") for p in (tmp_path / "j1").rglob("*.png"))
    files2 = sorted(p.relative_to(tmp_path / "j2") for p in (tmp_path / "j2").rglob("*.png"))
    assert files1 == files2 and len(files1) == 24
    for rel in files1:
        assert (tmp_path / "j1" / rel).read_bytes() == (tmp_path / "j2" / rel).read_bytes()
    back = run("to-rgb", tmp_path / "j2", "-o", tmp_path / "rgb", "-p", "cityscapes", "-j", 2)
    assert back.returncode == 0, back.stderr
    for rel in files1:
        assert (tmp_path / "rgb" / rel).read_bytes() != b""
