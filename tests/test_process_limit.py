"""`-j 2` under a per-user process limit (`ulimit -u N`, RLIMIT_NPROC, which counts threads too)
so low that worker processes, their threads or multiprocessing's fork server cannot start: one
warning line, the files converted in maskcli's own process exactly as `-j 1` converts them, no
traceback, no hang, no temporary file or process left behind.

Root is not subject to the limit, so maskcli runs as an unprivileged user: a user id of its
own for each test (no other process of it may count against the limit, and none left by an
earlier run: this sandbox's init process does not reap orphans), without an entry in
/etc/passwd, so nothing is left to remove. The limits tried are the ones where CPython 3.11's
pool fails at a different step (a fork, the pool's thread, its queue's thread, a worker's
thread, the fork server's fork); on other versions they may fail elsewhere, and the outcome
must be the same. Deadlines are guards against hangs, not measurements.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

import pytest

import maskcli
from test_signals import assert_group_ends, make_inputs

DEADLINE = 120  # seconds: a hang guard
WARNING = "warning: cannot start worker processes ("
PROJECT = str(Path(maskcli.__file__).resolve().parent.parent)


def _free_uid(start: int) -> int:
    """A user id with no passwd entry and no process."""
    used = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                used.add(os.stat(f"/proc/{entry}").st_uid)
            except OSError:
                pass
    uid = start
    while True:
        try:
            pwd.getpwuid(uid)
        except KeyError:
            if uid not in used:
                return uid
        uid += 1


_next_uid = [200000 + (os.getpid() % 20000) * 50]


@pytest.fixture
def user():
    """``(uid, folder it owns)``. The folder is not under tmp_path, whose parents are root's
    alone: workers from the fork server enter the folder maskcli runs in, as the user."""
    if os.geteuid() != 0:
        pytest.skip("a per-user process limit binds only an unprivileged user: needs root to switch to one")
    if not sys.platform.startswith("linux") or not shutil.which("setpriv") or not shutil.which("prlimit"):
        pytest.skip("needs Linux with setpriv and prlimit (util-linux) to run as another user under a limit")
    uid = _free_uid(_next_uid[0])
    _next_uid[0] = uid + 1
    with tempfile.TemporaryDirectory(prefix="maskcli-nproc-") as folder:
        work = Path(folder)
        make_inputs(work / "in", "to-index")
        for path in [work, *(work / "in").rglob("*")]:
            os.chown(path, uid, uid)
        yield uid, work


def _interpreter(uid: int, cwd: Path):
    """``(python, PYTHONPATH)`` that the user can start (the fork server starts the interpreter
    again, as the user): this one, or the system's python of the same version with this one's
    packages. None when there is none."""
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    path = os.pathsep.join([PROJECT, sysconfig.get_paths()["purelib"]])
    for python in (sys.executable, f"/usr/bin/{version}", f"/usr/local/bin/{version}"):
        probe = subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "sh", "-c",
                                '[ -x "$0" ] && exec "$0" -c "import maskcli.cli, cv2"', python],
                               cwd=cwd, env=dict(os.environ, PYTHONPATH=path), capture_output=True)
        if probe.returncode == 0:
            return python, path
    return None


def _run(uid, work, python, path, jobs, out, nproc=None, start="fork", args=None):
    """``(exit status, stderr, stdout)`` of `maskcli to-index in -o OUT` (or ``args``) as ``uid``."""
    args = args or ["to-index", "in", "-o", out, "-p", "cityscapes"]
    command = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
               python, "-m", "maskcli", *args, "-j", str(jobs)]
    if nproc is not None:
        command = ["prlimit", f"--nproc={nproc}", *command]
    env = dict(os.environ, HOME=str(work), PYTHONPATH=path, PYTHONDONTWRITEBYTECODE="1", MASKCLI_POOL_START=start)
    proc = subprocess.Popen(command, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=DEADLINE)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"-j {jobs} under `ulimit -u {nproc}` ({start}) hangs")
    assert_group_ends(proc.pid)
    return proc.returncode, stderr.decode(errors="replace"), stdout


def _processes_of(uid: int) -> list[str]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/status") as f:
                    status = dict(line.split(":", 1) for line in f if ":" in line)
            except OSError:
                continue
            if int(status["Uid"].split()[0]) == uid:  # the real user id: what the limit counts
                found.append(f"{entry} {status['Name'].strip()} {status['State'].strip()}")
    return found


def _files(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("start, limits", [("fork", (2, 3, 5, 6)), ("forkserver", (2, 3, 5, 6, 7))])
def test_j2_under_a_process_limit_converts_in_this_process_like_j1(user, start, limits):
    uid, work = user
    found = _interpreter(uid, work)
    if found is None:  # say a clone or virtual environment under a folder only root may enter
        pytest.skip(f"an unprivileged user cannot run {sys.executable} (nor a system python of this version) "
                    f"with this environment's packages ({sysconfig.get_paths()['purelib']}) and maskcli "
                    f"({PROJECT}): make them readable by others to run this test")
    python, path = found
    status, stderr, _ = _run(uid, work, python, path, 1, "out-j1")
    assert status == 0 and "Traceback" not in stderr, stderr
    expected = _files(work / "out-j1")
    assert len(expected) == 40

    fell_back = []
    for nproc in limits:
        out = f"out-{nproc}"
        status, stderr, _ = _run(uid, work, python, path, 2, out, nproc=nproc, start=start)
        what = f"-j 2 under `ulimit -u {nproc}` ({start}): {stderr}"
        assert status == 0, what
        assert "Traceback" not in stderr and "Exception" not in stderr, what
        lines = [line for line in stderr.splitlines() if not line.startswith("to-index: 40 converted, 0 failed")]
        assert len(lines) == len(stderr.splitlines()) - 1, what  # the summary, once
        if lines:
            assert len(lines) == 1 and lines[0].startswith(WARNING), what
            assert lines[0].endswith("; converting in this process"), what
            fell_back.append(nproc)
        assert _files(work / out) == expected, what  # byte for byte, and no temporary file
        assert _processes_of(uid) == [], what  # no worker, fork server or zombie of the user
    assert fell_back, f"no limit in {limits} kept the workers from starting: the test tests nothing"

    # check (which, unlike to-index, does not stop the helpers itself) when the resource tracker
    # starts but the fork server cannot: the tracker must not be left behind
    check = ["check", "in", "-p", "cityscapes"]
    status, stderr, stdout = _run(uid, work, python, path, 1, None, args=check)
    status2, stderr2, stdout2 = _run(uid, work, python, path, 2, None, nproc=2, start=start, args=check)
    assert (status2, stdout2) == (status, stdout), stderr2
    assert stderr2.count(WARNING) == 1 and "Traceback" not in stderr2, stderr2
    assert _processes_of(uid) == [], stderr2
