"""SIGINT, SIGTERM and SIGKILL against real `python -m maskcli` processes, for every command, with
and without worker processes, at start-up, while listing inputs, mid-run and at the end.

Every test process runs in its own session, so its process group can be signalled the way a
terminal does it and inspected afterwards. tests/signal_hooks/sitecustomize.py makes each file
slow to read (and leaves a mark per file read) so that "mid-run" reliably is; deadlines are
generous guards against hangs, never measurements.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import write_png

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc") or os.name != "posix",
                                reason="needs POSIX signals and /proc to see the process group")

HOOKS = Path(__file__).parent / "signal_hooks"
DEADLINE = 60  # seconds: a hang guard, not a timing
N_FILES = 40
COLORS = np.array([[128, 64, 128], [70, 70, 70], [0, 0, 142], [107, 142, 35]], np.uint8)  # cityscapes
CONVERTERS = ("to-index", "to-rgb", "remap", "rasterize")


def make_inputs(root: Path, command: str) -> None:
    """N_FILES small masks in two folders: color masks, trainIds (to-rgb) or labelIds (remap)."""
    rng = np.random.default_rng(5)
    if command == "rasterize":  # Cityscapes polygon annotations
        for i in range(N_FILES):
            x = int(rng.integers(0, 24))
            doc = {"imgHeight": 32, "imgWidth": 32, "objects": [
                {"label": "road", "polygon": [[0, 0], [31, 0], [31, 31], [0, 31]]},
                {"label": "car", "polygon": [[x, 2], [x + 7, 2], [x + 7, 9], [x, 9]]}]}
            path = root / f"{i % 2}" / f"{i:03d}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(doc))
        return
    for i in range(N_FILES):
        blocks = rng.integers(0, 4, (4, 4))
        if command == "to-rgb":
            array = np.array([0, 2, 13, 8], np.uint8)[blocks]
        elif command == "remap":
            array = np.array([7, 11, 26, 21], np.uint8)[blocks]
        else:
            array = COLORS[blocks]
        write_png(root / f"{i % 2}" / f"{i:03d}.png", array.repeat(8, 0).repeat(8, 1))


def command_args(command: str, tmp_path: Path, jobs: int) -> list[str]:
    inputs = str(tmp_path / "in")
    if command == "extract-palette":
        return [command, inputs, "-o", str(tmp_path / "palette.yaml"), "-j", str(jobs)]
    report = ["--report", str(tmp_path / "report.json")]
    if command == "check":
        return [command, inputs, "-p", "cityscapes", "-j", str(jobs), *report]
    target = ["--map", "cityscapes-trainids"] if command == "remap" else ["-p", "cityscapes"]
    if command == "rasterize":
        target = ["-p", "cityscapes-labelids"]
    return [command, inputs, "-o", str(tmp_path / "out"), *target, "-j", str(jobs), *report]


def start(args, tmp_path: Path, slow_files: float = 0.05, slow_list: Path | None = None,
          extra_env: dict | None = None, **popen):
    marks = tmp_path / "marks"
    marks.mkdir(exist_ok=True)
    env = dict(os.environ, **(extra_env or {}))
    env["PYTHONPATH"] = os.pathsep.join([str(HOOKS), *filter(None, [env.get("PYTHONPATH")])])
    env["MASKCLI_TEST_MARKS"] = str(marks)
    env["MASKCLI_TEST_SLOW_FILES"] = str(slow_files)
    if slow_list is not None:
        env["MASKCLI_TEST_SLOW_LIST"] = str(slow_list)
    popen = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, **popen}
    return subprocess.Popen([sys.executable, "-m", "maskcli", *args], env=env, start_new_session=True, **popen)


def wait_for(proc, what, condition) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert proc.poll() is None, f"maskcli ended before {what}"
        assert time.monotonic() < deadline, f"no {what} within {DEADLINE} s"
        time.sleep(0.01)


def reads(tmp_path: Path) -> int:
    return sum(1 for name in os.listdir(tmp_path / "marks") if name.endswith(".read"))


def group(pgid: int) -> list[tuple[int, str]]:
    """(pid, state) of every process in process group ``pgid``, from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            found.append((int(entry), fields[0]))
    return found


def assert_group_ends(pgid: int, zombies_ok: bool = False) -> None:
    """Nothing of the run is left: no worker, fork server or resource tracker, alive or
    <defunct> (zombies only with ``zombies_ok``: orphans of a SIGKILLed process are the init
    process's to reap)."""
    deadline = time.monotonic() + DEADLINE
    while True:
        left = [(pid, state) for pid, state in group(pgid) if not (zombies_ok and state == "Z")]
        if not left:
            return
        assert time.monotonic() < deadline, f"processes left behind: {left}"
        time.sleep(0.05)


def send(proc, sig: int, to_group: bool) -> None:
    try:
        os.killpg(proc.pid, sig) if to_group else proc.send_signal(sig)
    except ProcessLookupError:  # it had ended already ("at the end")
        pass


GAPS = {"INT2": 0.2, "INT2fast": 0.05, "INT2slow": 1.0}  # seconds between two Ctrl-C


def interrupt(proc, signals: str) -> None:
    """INT: Ctrl-C (the whole group); INT2*: Ctrl-C twice, GAPS apart (into the first one's
    clean-up); TERM: `kill PID` (maskcli alone); TERMG: SIGTERM to the whole group (`kill -TERM
    -PGID`, as a service manager does)."""
    if signals.startswith("TERM"):
        send(proc, signal.SIGTERM, to_group=signals == "TERMG")
        return
    send(proc, signal.SIGINT, to_group=True)
    if signals in GAPS:
        time.sleep(GAPS[signals])
        send(proc, signal.SIGINT, to_group=True)


def check_outcome(command: str, tmp_path: Path, proc, signals: str, may_finish: bool) -> None:
    stdout, stderr = proc.communicate(timeout=DEADLINE)
    stderr = stderr.decode(errors="replace")
    assert_group_ends(proc.pid)
    name = "SIGTERM" if signals.startswith("TERM") else "SIGINT"
    for bad in ("Traceback", "Exception ignored", "Aborted", "KeyboardInterrupt"):
        assert bad not in stderr, stderr
    finished = proc.returncode == 0 and may_finish
    if not finished:
        assert proc.returncode == 128 + getattr(signal, name), stderr
    lines = [line for line in stderr.splitlines() if line.startswith(f"{command}: ")]
    assert lines, stderr
    summary = lines[-1] if command != "extract-palette" else lines[0]
    assert (f"interrupted by {name} after" in summary) != finished, stderr

    if command in CONVERTERS:
        out = tmp_path / "out"
        everything = [p for p in out.rglob("*")] if out.exists() else []
        assert not [p for p in everything if p.name.startswith(".") or p.suffix != ".png" and p.is_file()], everything
        on_disk = sorted(str(p) for p in everything if p.is_file())
        converted = int(re.search(r"(\d+) converted", summary).group(1))
        assert converted == len(on_disk), (summary, len(on_disk))
        report = json.loads((tmp_path / "report.json").read_text())
        assert report["interrupted"] == (None if finished else name)
        assert report["converted"] == converted
        assert sorted(f["output"] for f in report["files"] if f["status"] == "converted") == on_disk
    elif command == "check":
        report = json.loads((tmp_path / "report.json").read_text())
        assert report["interrupted"] == (None if finished else name)
        assert report["passed"] + report["failed"] == report["checked"] == len(report["files"])
        ok = int(re.search(r"(\d+) ok", summary).group(1))
        assert ok == report["passed"]
        if finished:
            assert report["checked"] == report["total"] == N_FILES
        else:
            assert f"after {report['checked']} of {report['total']} files" in summary
    else:
        palette = tmp_path / "palette.yaml"
        assert palette.exists() == finished, stderr
        if not finished:
            assert "extract-palette: no palette written" in stderr
    assert not list(tmp_path.glob(".*")), "temporary files left"


COMMANDS = ("to-index", "to-rgb", "remap", "check", "extract-palette", "rasterize")
# Mid-run: every command with and without workers; the signals take turns so that each command
# meets each kind, and to-index meets all three with both -j.
MID = [(c, j, ("INT", "INT2", "TERM")[(i + j) % 3]) for i, c in enumerate(COMMANDS) for j in (1, 2)]
MID += [("to-index", 1, "INT"), ("to-index", 2, "INT2"), ("to-index", 2, "TERM"), ("to-index", 2, "TERMG"),
        ("check", 1, "TERMG"), ("to-index", 2, "INT2fast"), ("to-rgb", 2, "INT2slow"), ("extract-palette", 2, "INT2fast"),
        ("remap", 1, "INT2slow")]
MID = list(dict.fromkeys(MID))


@pytest.mark.parametrize("command, jobs, signals", MID)
def test_a_signal_mid_run_stops_it_and_the_summary_counts_what_is_on_disk(tmp_path, command, jobs, signals):
    make_inputs(tmp_path / "in", command)
    proc = start(command_args(command, tmp_path, jobs), tmp_path)
    wait_for(proc, "files read", lambda: reads(tmp_path) >= 3)
    interrupt(proc, signals)
    check_outcome(command, tmp_path, proc, signals, may_finish=False)


@pytest.mark.parametrize("command, jobs, signals", [
    ("to-index", 2, "INT"), ("to-index", 1, "TERM"), ("check", 2, "INT2"), ("extract-palette", 1, "INT"),
])
def test_a_signal_during_start_up_ends_the_run_quietly(tmp_path, command, jobs, signals):
    make_inputs(tmp_path / "in", command)
    proc = start(command_args(command, tmp_path, jobs), tmp_path)
    wait_for(proc, "start-up", lambda: (tmp_path / "marks" / "started").exists())
    interrupt(proc, signals)
    check_outcome(command, tmp_path, proc, signals, may_finish=False)


@pytest.mark.parametrize("command, signals", [
    ("to-index", "INT"), ("to-rgb", "TERMG"), ("check", "INT2"), ("extract-palette", "INT"), ("remap", "TERM"),
])
def test_a_signal_while_the_worker_pool_starts_ends_the_run_quietly(tmp_path, command, signals):
    """Ctrl-C reaches the whole process group, also multiprocessing's fork server while it is
    still importing, and workers before they are set up: none of them may print a traceback."""
    make_inputs(tmp_path / "in", command)
    proc = start(command_args(command, tmp_path, 2), tmp_path)
    wait_for(proc, "the pool", lambda: (tmp_path / "marks" / "pool").exists())
    interrupt(proc, signals)
    check_outcome(command, tmp_path, proc, signals, may_finish=False)


@pytest.mark.parametrize("command, jobs, signals", [
    ("to-index", 2, "INT"), ("remap", 1, "INT2"), ("check", 1, "TERM"), ("extract-palette", 2, "INT"),
])
def test_a_signal_while_inputs_are_listed_ends_the_run(tmp_path, command, jobs, signals):
    make_inputs(tmp_path / "in", command)
    proc = start(command_args(command, tmp_path, jobs), tmp_path, slow_list=tmp_path / "in")
    wait_for(proc, "listing", lambda: (tmp_path / "marks" / "listing").exists())
    interrupt(proc, signals)
    check_outcome(command, tmp_path, proc, signals, may_finish=False)


@pytest.mark.parametrize("command, jobs, signals", [
    ("to-index", 2, "INT2"), ("to-rgb", 1, "TERM"), ("check", 2, "INT"), ("extract-palette", 2, "TERM"),
    ("rasterize", 2, "INT"),
])
def test_a_signal_at_the_end_gives_a_consistent_outcome(tmp_path, command, jobs, signals):
    """After the last file is read the run may finish or be interrupted; either way what it
    says (exit status, summary, report) agrees with what is on disk."""
    make_inputs(tmp_path / "in", command)
    proc = start(command_args(command, tmp_path, jobs), tmp_path, slow_files=0.01)
    wait_for(proc, "every file read", lambda: reads(tmp_path) >= N_FILES)
    interrupt(proc, signals)
    check_outcome(command, tmp_path, proc, signals, may_finish=True)


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_run_that_ends_normally_leaves_no_process_behind(tmp_path, jobs):
    make_inputs(tmp_path / "in", "to-index")
    proc = start(command_args("to-index", tmp_path, jobs), tmp_path, slow_files=0)
    _, stderr = proc.communicate(timeout=DEADLINE)
    assert proc.returncode == 0, stderr
    assert_group_ends(proc.pid)  # no worker, fork server or resource tracker, not even <defunct>


def test_sigkill_of_maskcli_takes_its_workers_along(tmp_path):
    """`maskcli ... 2>&1 | cat` must end when maskcli is killed: nothing else may keep the pipe."""
    make_inputs(tmp_path / "in", "to-index")
    read_end, write_end = os.pipe()
    proc = start(command_args("to-index", tmp_path, 2), tmp_path, stdout=write_end, stderr=write_end)
    os.close(write_end)
    try:
        wait_for(proc, "files read", lambda: reads(tmp_path) >= 3)
        proc.kill()
        proc.wait(timeout=DEADLINE)
        os.set_blocking(read_end, False)
        deadline = time.monotonic() + DEADLINE
        while True:  # read until EOF: every holder of the pipe has exited
            try:
                if not os.read(read_end, 65536):
                    break
            except BlockingIOError:
                assert time.monotonic() < deadline, f"the pipe is still held by {group(proc.pid)}"
                time.sleep(0.05)
    finally:
        os.close(read_end)
    assert_group_ends(proc.pid, zombies_ok=True)
    out = tmp_path / "out"
    assert not [p for p in out.rglob(".*")] if out.exists() else True, "temporary files left"


def test_with_j1_a_second_ctrl_c_gives_up_a_file_that_never_ends(tmp_path):
    """The first Ctrl-C waits for the file being converted; a read that does not end (here: a
    test hook that sleeps for ten minutes) is given up at the second one."""
    make_inputs(tmp_path / "in", "to-index")
    proc = start(command_args("to-index", tmp_path, 1), tmp_path, slow_files=600)
    wait_for(proc, "a file read", lambda: reads(tmp_path) >= 1)
    send(proc, signal.SIGINT, to_group=True)
    time.sleep(0.5)
    assert proc.poll() is None  # still on its file
    send(proc, signal.SIGINT, to_group=True)
    check_outcome("to-index", tmp_path, proc, "INT", may_finish=False)
    assert json.loads((tmp_path / "report.json").read_text())["converted"] == 0


def parent_of(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except OSError:
        return None


def pool_workers(pgid: int) -> list[int]:
    """The worker processes of maskcli's run ``pgid``: the processes of its group with no child
    of their own, but multiprocessing's resource tracker (forked by maskcli itself, or by the
    fork server: its other child)."""
    members = {pid: parent_of(pid) for pid, _ in group(pgid) if pid != pgid}
    leaves = [pid for pid in members if pid not in members.values()]
    workers = []
    for pid in leaves:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if b"resource_tracker" in f.read():
                    continue
        except OSError:
            continue
        workers.append(pid)
    return workers


@pytest.mark.parametrize("pool_start", ["fork", "forkserver"])
def test_sigterm_to_one_worker_alone_loses_nothing(tmp_path, pool_start):
    """Someone terminates one worker process (not maskcli): the files it finished count, the
    rest of its work is done by new workers, and the run ends normally."""
    make_inputs(tmp_path / "in", "to-index")
    proc = start(command_args("to-index", tmp_path, 2), tmp_path, extra_env={"MASKCLI_POOL_START": pool_start})
    wait_for(proc, "files read", lambda: reads(tmp_path) >= 3)
    workers = pool_workers(proc.pid)
    assert workers, group(proc.pid)
    os.kill(workers[0], signal.SIGTERM)
    _, stderr = proc.communicate(timeout=DEADLINE)
    assert proc.returncode == 0, stderr
    assert f"to-index: {N_FILES} converted, 0 failed" in stderr.decode()
    assert sorted(p.suffix for p in (tmp_path / "out").rglob("*.*")) == [".png"] * N_FILES  # no .tmp
    assert_group_ends(proc.pid)


@pytest.mark.parametrize("signals", ["INT", "TERM"])
def test_a_signal_while_waiting_for_stdin_ends_quietly(tmp_path, signals):
    """`maskcli to-index - -o - ...` blocked on a stdin nobody writes to."""
    proc = start(["to-index", "-", "-o", "-", "-p", "cityscapes"], tmp_path, stdin=subprocess.PIPE)
    wait_for(proc, "start-up", lambda: (tmp_path / "marks" / "started").exists())
    interrupt(proc, signals)
    stdout, stderr = proc.communicate(timeout=DEADLINE)
    name = "SIGTERM" if signals == "TERM" else "SIGINT"
    assert proc.returncode == 128 + getattr(signal, name)
    assert stderr.decode().strip() == f"maskcli: interrupted by {name}" and stdout == b""
    assert_group_ends(proc.pid)


def test_a_signal_stops_a_command_that_is_not_a_batch_run_at_once(tmp_path):
    """`maskcli info` over a folder that is slow to list: Ctrl-C stops it there."""
    make_inputs(tmp_path / "in", "to-index")
    proc = start(["info", str(tmp_path / "in")], tmp_path, slow_list=tmp_path / "in")
    wait_for(proc, "listing", lambda: (tmp_path / "marks" / "listing").exists())
    interrupt(proc, "INT")
    stdout, stderr = proc.communicate(timeout=DEADLINE)
    assert proc.returncode == 130 and stderr.decode().strip() == "maskcli: interrupted by SIGINT"
    assert stdout == b""  # it had not got past listing the folder
    assert_group_ends(proc.pid)


def test_with_j2_the_fork_server_starts_while_inputs_are_listed_and_is_reaped(tmp_path):
    """Where workers come from multiprocessing's fork server (MASKCLI_POOL_START=forkserver, or
    a maskcli process that runs other threads), -j 2 starts it before listing (it imports
    OpenCV and the decoders meanwhile); it is stopped and waited for when the run ends."""
    for i in range(20):  # 20 folders: listing them (slowed, half a second each) lasts
        write_png(tmp_path / "in" / f"{i:02d}" / "a.png", COLORS[np.zeros((8, 8), np.intp)])
    proc = start(command_args("to-index", tmp_path, 2), tmp_path, slow_files=0, slow_list=tmp_path / "in",
                 extra_env={"MASKCLI_POOL_START": "forkserver"})
    wait_for(proc, "listing", lambda: (tmp_path / "marks" / "listing").exists())
    helpers = [pid for pid, _ in group(proc.pid) if pid != proc.pid]
    listing_still = not (tmp_path / "marks" / "pool").exists()
    _, stderr = proc.communicate(timeout=DEADLINE)
    assert proc.returncode == 0, stderr
    assert listing_still, "the listing was over before it was looked at (a very busy machine?)"
    assert helpers, "no fork server was started while the inputs were listed"
    assert_group_ends(proc.pid)


@pytest.mark.parametrize("thread", [False, True])
def test_with_j2_workers_are_forked_by_maskcli_unless_it_runs_a_thread(tmp_path, thread):
    """A single-threaded maskcli forks its workers itself (they are its children, and no fork
    server or resource tracker runs); one that runs another thread, where forking is unsafe,
    has them forked by multiprocessing's fork server (grandchildren)."""
    make_inputs(tmp_path / "in", "to-index")
    proc = start(command_args("to-index", tmp_path, 2), tmp_path,
                 extra_env={"MASKCLI_TEST_THREAD": "1"} if thread else {})
    wait_for(proc, "files read", lambda: reads(tmp_path) >= 3)
    members = {pid: parent_of(pid) for pid, _ in group(proc.pid) if pid != proc.pid}
    workers = pool_workers(proc.pid)
    _, stderr = proc.communicate(timeout=DEADLINE)
    assert proc.returncode == 0, stderr
    assert len(workers) == 2, members
    if thread:
        assert all(members[w] != proc.pid for w in workers), members
        assert len(members) == 4, members  # the fork server, the resource tracker, 2 workers
    else:
        assert all(members[w] == proc.pid for w in workers), members
        assert sorted(members) == sorted(workers), members  # no fork server, no resource tracker
    assert_group_ends(proc.pid)


@pytest.mark.parametrize("args, status", [(["-j", "2"], 0), (["-j", "2", "--report", "in/0.png"], 2)])
def test_with_j2_a_run_without_a_pool_leaves_no_process_behind(tmp_path, args, status):
    """One file (converted in-process), or a usage error found after listing: the helpers
    started for the pool are still stopped and waited for."""
    write_png(tmp_path / "in" / "0.png", COLORS[np.zeros((8, 8), np.intp)])
    proc = start(["to-index", "in", "-o", "out", "-p", "cityscapes", *args], tmp_path, slow_files=0,
                 cwd=tmp_path)
    _, stderr = proc.communicate(timeout=DEADLINE)
    assert proc.returncode == status, stderr
    assert_group_ends(proc.pid)


def test_the_pool_that_replaces_a_dead_worker_is_forked_too(tmp_path):
    """After a worker dies the old pool's thread is waited for before the new pool starts:
    maskcli then runs one thread again, and forks the new workers itself instead of starting
    multiprocessing's fork server (slower to start, and not needed)."""
    make_inputs(tmp_path / "in", "to-index")
    proc = start(command_args("to-index", tmp_path, 2), tmp_path, slow_files=0.1)
    wait_for(proc, "files read", lambda: reads(tmp_path) >= 3)
    first = pool_workers(proc.pid)
    assert first, group(proc.pid)
    os.kill(first[0], signal.SIGTERM)
    seen = {}  # pid: (parent, command line) of every process of the run, sampled until it ends
    while proc.poll() is None:
        for pid, _ in group(proc.pid):
            if pid != proc.pid and pid not in seen:
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as f:
                        seen[pid] = (parent_of(pid), f.read())
                except OSError:
                    pass
        time.sleep(0.01)
    _, stderr = proc.communicate(timeout=DEADLINE)
    assert proc.returncode == 0, stderr
    assert f"to-index: {N_FILES} converted, 0 failed" in stderr.decode()
    later = {pid: info for pid, info in seen.items() if pid not in first}
    assert later, "no replacement worker was seen (the run ended first?)"
    assert all(parent == proc.pid and b"forkserver" not in cmd and b"resource_tracker" not in cmd
               for parent, cmd in later.values()), later
    assert_group_ends(proc.pid)
