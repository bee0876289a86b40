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


import os  # noqa: E402
import signal  # noqa: E402
import time  # noqa: E402

import pytest  # noqa: E402
from PIL import Image  # noqa: E402


def _big_tree(root, n=48):
    rng = np.random.default_rng(11)
    colors = np.array([[128, 64, 128], [70, 70, 70], [0, 0, 142], [107, 142, 35]], np.uint8)
    expected = {}
    for i in range(n):
        blocks = rng.integers(0, len(colors), (32, 64))
        rgb = colors[np.kron(blocks, np.ones((24, 24), int))]  # 768 x 1536
        write_png(root / f"{i:03d}.png", rgb)
        expected[f"{i:03d}.png"] = blocks
    return expected


@pytest.mark.parametrize("sig, status, group", [(signal.SIGINT, 130, True), (signal.SIGINT, 130, False), (signal.SIGTERM, 143, False)])
def test_interrupting_a_parallel_run_stops_promptly_and_leaves_no_partial_files(tmp_path, sig, status, group):
    expected = _big_tree(tmp_path / "m")
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "maskcli", "to-index", str(tmp_path / "m"), "-o", str(out), "-p", "cityscapes", "-j", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while not (out.is_dir() and any(p.suffix == ".png" for p in out.iterdir())):
        assert proc.poll() is None and time.monotonic() < deadline, "no output appeared"
        time.sleep(0.01)
    if group:
        os.killpg(proc.pid, sig)  # what a terminal's Ctrl-C does: the whole process group
    else:
        proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)  # a guard against a hang, not a timing
    assert proc.returncode == status, stderr
    assert f"interrupted by {signal.Signals(sig).name} after" in stderr
    assert "Traceback" not in stderr
    left = sorted(os.listdir(out))
    assert all(name.endswith(".png") and not name.startswith(".") for name in left), left
    assert 0 < len(left) < len(expected)
    train_ids = {0: 0, 1: 2, 2: 13, 3: 8}
    for name in left:
        index = np.asarray(Image.open(out / name))
        blocks = expected[name]
        np.testing.assert_array_equal(index[::24, ::24], np.vectorize(train_ids.get)(blocks))
    rerun = subprocess.run([sys.executable, "-m", "maskcli", "to-index", str(tmp_path / "m"), "-o", str(out),
                            "-p", "cityscapes", "--update"], capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(expected) - len(left)} converted, {len(left)} up to date, 0 failed" in rerun.stderr
    assert sorted(os.listdir(out)) == sorted(expected)


def _cmdline(pid) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


def _descendants(pid):
    """(process id, parent id) of every descendant of pid, from /proc."""
    kids = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            kids.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for child in kids.get(parent, []):
            found.append((child, parent))
            todo.append(child)
    return found


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc to find the worker processes")
def test_a_worker_killed_mid_run_does_not_hang_or_lose_files(tmp_path):
    expected = _big_tree(tmp_path / "m", n=32)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "maskcli", "to-index", str(tmp_path / "m"), "-o", str(out),
                             "-p", "cityscapes", "-j", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (out.is_dir() and any(p.suffix == ".png" for p in out.iterdir())):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    # Pool workers: the descendants with no child of their own (maskcli forks them itself, or the
    # fork server does), but the resource tracker.
    family = _descendants(proc.pid)
    workers = [p for p, _ in family if p not in {parent for _, parent in family}
               and b"resource_tracker" not in _cmdline(p)]
    assert workers, "no worker processes found"
    os.kill(max(workers), signal.SIGKILL)  # like the OOM killer
    _, stderr = proc.communicate(timeout=60)
    assert "Traceback" not in stderr
    # The items the dead worker held are retried alone: an external kill loses nothing.
    assert proc.returncode == 0, stderr
    assert sorted(os.listdir(out)) == sorted(expected)


def test_progress_bar_only_on_a_terminal(tmp_path):
    import pty

    for i in range(6):
        write_png(tmp_path / f"m/{i}.png", np.full((16, 16, 3), (128, 64, 128), np.uint8))
    import fcntl
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a new pty is 0 columns wide
    proc = subprocess.Popen([sys.executable, "-m", "maskcli", "to-index", str(tmp_path / "m"), "-o", str(tmp_path / "o"),
                             "-p", "cityscapes", "-j", "1"], stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    proc.wait(timeout=60)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    assert b"/6 [" in seen and b"file/s" in seen  # tqdm drew its bar on the terminal
    piped = subprocess.run([sys.executable, "-m", "maskcli", "to-index", str(tmp_path / "m"), "-o", str(tmp_path / "o"),
                            "-p", "cityscapes"], capture_output=True, text=True)
    assert "/6 [" not in piped.stderr and piped.stderr.startswith("to-index: 6 converted")
