"""What a short conversion run loads and does beyond reading, converting and writing: a
one-file run pays for every module it imports and every system call it makes, so these
guard the hot path against work it does not need (issue 12: one file, small files).

Each run is a real ``python -m maskcli`` process (what it imports depends on the whole
process), which prints the modules it ended with."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

# Runs maskcli's entry point as ``python -m maskcli`` does, then reports which of the named
# modules the process imported along the way.
# The report is printed by an exit handler: maskcli runs those, then ends the process.
_PROBE = """
import atexit, json, runpy, sys
watch = json.loads(sys.argv[1])
sys.argv = ["maskcli", *sys.argv[2:]]
atexit.register(lambda: print(json.dumps({"imported": sorted(m for m in watch if m in sys.modules)})))
runpy.run_module("maskcli", run_name="__main__", alter_sys=True)
"""


def _run(args, watch, cwd):
    out = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(watch), *args], capture_output=True,
                         text=True, timeout=120, cwd=cwd)
    return {"code": out.returncode, **json.loads(out.stdout.strip().splitlines()[-1])}, out.stderr


def _color_mask(path):
    rgb = np.zeros((8, 8, 3), np.uint8)
    rgb[:4] = (128, 64, 128)  # road
    rgb[4:] = (70, 130, 180)  # sky
    Image.fromarray(rgb, "RGB").save(path)


# Modules a one-file conversion of an RGB PNG with a built-in palette has no use for: the pool
# machinery (no pool for one file), the remap module (only its type was needed, for the
# record), secrets (temporary names take os.urandom), the YAML parser (built-ins come from
# their JSON cache), Pillow (libspng or OpenCV decode RGB PNGs) and tqdm (no terminal).
UNUSED = ["multiprocessing", "multiprocessing.forkserver", "multiprocessing.resource_tracker", "maskcli.remap",
          "secrets", "yaml", "PIL", "tqdm"]


def test_a_one_file_run_imports_nothing_it_does_not_use(tmp_path):
    # No pool is started for one file, so stopping the (absent) fork server must not import
    # multiprocessing (sockets, tempfile, shutil, ...) or run a full garbage collection.
    _color_mask(tmp_path / "a.png")
    for jobs in ([], ["-j", "1"], ["-j", "2"]):
        result, err = _run(["to-index", "a.png", "-o", "out.png", "-p", "cityscapes", *jobs], UNUSED, tmp_path)
        assert result == {"code": 0, "imported": []}, (jobs, err)
        assert (tmp_path / "out.png").exists()


def test_blas_threads_are_not_started_unless_the_user_asks(tmp_path):
    # maskcli does no linear algebra: OpenBLAS gets one thread (its spinning helper threads cost
    # CPU in every process); a value the user set is kept.
    _color_mask(tmp_path / "a.png")
    probe = ("import atexit, os, runpy, sys; sys.argv = ['maskcli', *sys.argv[1:]];"
             "atexit.register(lambda: print('BLAS', os.environ.get('OPENBLAS_NUM_THREADS')));"
             "runpy.run_module('maskcli', run_name='__main__', alter_sys=True)")
    args = [sys.executable, "-c", probe, "to-index", "a.png", "-o", "out.png", "-p", "cityscapes"]
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    out = subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
    assert out.returncode == 0 and out.stdout.splitlines()[-1] == "BLAS 1", out.stderr
    out = subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=tmp_path,
                         env={**env, "OPENBLAS_NUM_THREADS": "3"})
    assert out.returncode == 0 and out.stdout.splitlines()[-1] == "BLAS 3", out.stderr


def _maskcli(args, cwd, **kw):
    return subprocess.run([sys.executable, "-m", "maskcli", *args], capture_output=True, text=True, timeout=120,
                          cwd=cwd, stdin=subprocess.DEVNULL, **kw)


def test_the_quick_exit_keeps_exit_status_output_and_exit_handlers(tmp_path):
    # The process ends without tearing the interpreter down, but only after everything printed
    # has reached the pipes and the exit handlers have run; the status is the command's.
    _color_mask(tmp_path / "a.png")
    Image.fromarray(np.full((4, 4, 3), 7, np.uint8), "RGB").save(tmp_path / "odd.png")
    ok = _maskcli(["to-index", "a.png", "-o", "out.png", "-p", "cityscapes"], tmp_path)
    assert ok.returncode == 0 and "1 converted, 0 failed" in ok.stderr, ok.stderr
    bad = _maskcli(["to-index", "a.png", "odd.png", "-o", "out", "-p", "cityscapes"], tmp_path)
    assert bad.returncode == 1 and "odd.png" in bad.stderr and "1 converted, 1 failed" in bad.stderr, bad.stderr
    usage = _maskcli(["to-index", "a.png", "-o", "out.png", "-p", "no-such-palette"], tmp_path)
    assert usage.returncode == 2 and "unknown palette 'no-such-palette'" in usage.stderr
    listing = _maskcli(["palettes"], tmp_path)
    assert listing.returncode == 0 and "cityscapes" in listing.stdout and listing.stdout.endswith("\n")
    probe = ("import atexit, sys; atexit.register(lambda: print('exit handler ran', flush=True));"
             "from maskcli.__main__ import main; sys.argv = ['maskcli', 'palettes']; main()")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.startswith(listing.stdout) and out.stdout.endswith("exit handler ran\n")


def test_a_mask_written_to_stdout_arrives_whole_before_the_quick_exit(tmp_path):
    _color_mask(tmp_path / "a.png")
    proc = subprocess.Popen([sys.executable, "-m", "maskcli", "to-index", "a.png", "-o", "-", "-p", "cityscapes"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    data, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    from io import BytesIO

    assert np.asarray(Image.open(BytesIO(data))).tolist() == [[0] * 8] * 4 + [[10] * 8] * 4


def test_an_output_into_an_existing_folder_tries_no_mkdir(tmp_path, monkeypatch):
    # Per file, the temporary output is created first; the folder is made only when that fails
    # (small files: every system call counts). Missing folders are still made, and a temporary
    # file never stays behind.
    from maskcli import masks

    made = []
    real = os.makedirs
    monkeypatch.setattr(os, "makedirs", lambda *a, **k: (made.append(a[0]), real(*a, **k)))
    masks.atomic_write(tmp_path / "a.png", b"one")
    masks.atomic_write(tmp_path / "a.png", b"two")
    assert made == [] and (tmp_path / "a.png").read_bytes() == b"two"
    masks.atomic_write(tmp_path / "new" / "sub" / "b.png", b"three")
    assert made[:1] == [str(tmp_path / "new" / "sub")] and (tmp_path / "new" / "sub" / "b.png").read_bytes() == b"three"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.png", "b.png", "new", "sub"]


def test_a_profiled_run_still_prints_its_profile(tmp_path):
    # `python -m cProfile -m maskcli ...` (how docs/performance.md profiles a run) prints its
    # table when the interpreter exits: the quick exit must leave that exit to Python.
    _color_mask(tmp_path / "a.png")
    out = subprocess.run([sys.executable, "-m", "cProfile", "-s", "tottime", "-m", "maskcli", "to-index", "a.png",
                          "-o", "out.png", "-p", "cityscapes"], capture_output=True, text=True, timeout=120,
                         cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "function calls" in out.stdout and "Ordered by: internal time" in out.stdout


_ORDER_PROBE = """
import atexit, json, runpy, sys
order = []
sys.addaudithook(lambda e, a: order.append(a[0]) if e == "import" and a[0] in ("numpy", "maskcli.cli") else None)
sys.argv = ["maskcli", *sys.argv[1:]]
atexit.register(lambda: print(json.dumps(order)))
runpy.run_module("maskcli", run_name="__main__", alter_sys=True)
"""


def test_a_run_imports_numpy_first_thing_and_help_not_at_all(tmp_path):
    # Imported some 40 frames deep (where a command first needs it), NumPy's import thrashes
    # CPython 3.11's frame stack (1,600 mmap/munmap pairs, 20-35 ms); the entry point imports it
    # near the bottom of the stack, before the CLI. Help and completion do not need it at all.
    _color_mask(tmp_path / "a.png")

    def order(*args, **env):
        out = subprocess.run([sys.executable, "-c", _ORDER_PROBE, *args], capture_output=True, text=True,
                             timeout=120, cwd=tmp_path, env={**os.environ, **env})
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout.strip().splitlines()[-1])

    assert order("to-index", "a.png", "-o", "out.png", "-p", "cityscapes") == ["numpy", "maskcli.cli"]
    assert order("--help") == ["maskcli.cli"]
    assert order("to-index", "--help") == ["maskcli.cli"]
    assert "numpy" not in order(_MASKCLI_COMPLETE="bash_complete", COMP_WORDS="maskcli to-", COMP_CWORD="1")


# Allocates and frees three 20 MiB buffers five times, then prints the page faults of rounds
# 2-5: zero when freed memory is kept for reuse, about 10,000 a round when glibc hands it back
# to the kernel (its default, once the freed top of the heap passes its trim threshold).
_FAULTS = """
import resource
def _faults():
    counts = []
    for _ in range(5):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        buffers = [b"\\x01" * (20 << 20) for _ in range(3)]
        del buffers
        counts.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    print("FAULTS", sum(counts[1:]))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux") or not os.confstr("CS_GNU_LIBC_VERSION"),
                    reason="malloc settings are made on Linux with glibc only")
def test_maskcli_processes_keep_freed_memory_for_the_next_file(tmp_path):
    # Every file brings buffers of a few MB; page faults on fresh memory cost more than
    # inflating a mask (docs/performance.md). The command line and fork-server workers set
    # glibc's malloc to keep freed memory; a program importing maskcli keeps its own settings.
    _color_mask(tmp_path / "a.png")

    # glibc's own settings from the environment would decide the library case instead
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}

    def faults(code, *args):
        out = subprocess.run([sys.executable, "-c", _FAULTS + code, *args], capture_output=True, text=True,
                             timeout=120, cwd=tmp_path, env=env)
        assert out.returncode == 0, out.stderr
        return int(out.stdout.split("FAULTS")[-1])

    cli = ("import atexit, runpy, sys; sys.argv = ['maskcli', *sys.argv[1:]]; atexit.register(_faults);"
           "runpy.run_module('maskcli', run_name='__main__', alter_sys=True)")
    assert faults(cli, "to-index", "a.png", "-o", "out.png", "-p", "cityscapes") == 0
    worker = "from maskcli import runner; runner._worker_init(print, ()); _faults()"
    assert faults(worker) == 0
    library = "import maskcli; maskcli.read_mask('a.png'); _faults()"
    assert faults(library) > 10_000  # the allocator as Python left it


def test_both_malloc_settings_are_made_each_on_its_own(monkeypatch):
    # Older glibc releases (2.26's malloc.c, for one) refuse an M_MMAP_THRESHOLD above
    # HEAP_MAX_SIZE / 2 (32 MiB on 64-bit): mallopt returns 0 and changes nothing. maskcli asks
    # for no more than that, and a refused setting must not leave the other one unset. A
    # stand-in libc records the settings (this process's allocator is not touched).
    import ctypes

    from maskcli import runner

    settings = {}

    class OlderGlibc:
        gnu_get_libc_version = staticmethod(lambda: b"2.26")

        @staticmethod
        def mallopt(param, value):
            if param == -3 and value > 32 << 20:
                return 0
            settings[param] = value
            return 1

    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(ctypes, "CDLL", lambda name: OlderGlibc())
    assert runner.keep_freed_memory() is True
    assert settings == {-1: 64 << 20, -3: 32 << 20}  # M_TRIM_THRESHOLD, M_MMAP_THRESHOLD

    class RefusingGlibc(OlderGlibc):
        @staticmethod
        def mallopt(param, value):
            if param == -3:
                return 0
            settings[param] = value
            return 1

    settings.clear()
    monkeypatch.setattr(ctypes, "CDLL", lambda name: RefusingGlibc())
    assert runner.keep_freed_memory() is False  # said, and the trim threshold set all the same
    assert settings == {-1: 64 << 20}
