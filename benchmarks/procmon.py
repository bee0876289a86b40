"""Run a command as a subprocess and measure it: wall time, CPU time and peak memory.

Peak memory comes from two places:

- ``os.wait4`` on the command: ``ru_maxrss`` is the largest peak RSS of the command and of the
  descendants it has waited for (Linux), and ``ru_utime + ru_stime`` their CPU time;
- with ``monitor=True``, polling ``/proc/<pid>/status`` (``VmHWM``, the peak RSS the kernel
  keeps per process) of the command and every descendant every ``poll`` seconds, so the parent
  and each pool worker are told apart. VmHWM only grows, so the last value read is the peak,
  up to what a process did in its last ``poll`` seconds.

Monitoring costs a little CPU, so timed runs are made without it (see bench.py).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from dataclasses import dataclass, field


@dataclass
class ProcInfo:
    pid: int
    ppid: int
    role: str = "other"
    hwm_kb: int = 0
    first_rss_kb: int = 0
    cpu_s: float = 0.0  # user + system CPU time, as last seen
    minflt: int = 0  # minor page faults, as last seen
    cmdline: str = ""


@dataclass
class RunResult:
    cmd: list
    returncode: int
    wall_s: float
    cpu_s: float
    minflt: int
    tree_maxrss_kb: int
    stdout: str
    stderr: str
    procs: dict = field(default_factory=dict)

    def role_hwm_kb(self, role: str) -> list[int]:
        return [p.hwm_kb for p in self.procs.values() if p.role == role]


def _read(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return None


_TICK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    stat = _read(f"/proc/{pid}/stat")
    if not stat:
        return None
    return stat[stat.rindex(")") + 2 :].split()  # fields from 3 (state) on


def _ppid(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[1]) if fields else None


def _status_kb(pid: int) -> tuple[int, int] | None:
    status = _read(f"/proc/{pid}/status")
    if not status:
        return None
    values = {}
    for line in status.splitlines():
        if line.startswith(("VmHWM:", "VmRSS:")):
            key, value = line.split(":", 1)
            values[key] = int(value.split()[0])
    if "VmHWM" not in values:  # a zombie
        return None
    return values["VmHWM"], values.get("VmRSS", 0)


class _Tree:
    """The descendants of one process, found by scanning /proc (no /proc/<pid>/children here)."""

    def __init__(self, root: int):
        self.root = root
        self.procs: dict[int, ProcInfo] = {root: ProcInfo(root, os.getpid(), "parent")}

    def scan(self) -> None:
        parents = {}
        for name in os.listdir("/proc"):
            if name.isdigit():
                ppid = _ppid(int(name))
                if ppid is not None:
                    parents[int(name)] = ppid
        known = set(self.procs)
        changed = True
        while changed:  # descendants of the root, to any depth
            changed = False
            for pid, ppid in parents.items():
                if pid not in known and ppid in known:
                    known.add(pid)
                    cmd = (_read(f"/proc/{pid}/cmdline") or "").replace("\0", " ").strip()
                    self.procs[pid] = ProcInfo(pid, ppid, cmdline=cmd)
                    changed = True
        for info in self.procs.values():
            if info.role == "other":
                if "forkserver" in info.cmdline:
                    info.role = "forkserver"
                elif "resource_tracker" in info.cmdline:
                    info.role = "resource_tracker"
        forkservers = {p.pid for p in self.procs.values() if p.role == "forkserver"}
        for info in self.procs.values():
            if info.ppid in forkservers:
                info.role = "worker"
            elif info.role == "other" and info.ppid == self.root:
                # maskcli forks its pool workers itself where it may (they keep its command line)
                root_cmd = (_read(f"/proc/{self.root}/cmdline") or "").replace("\0", " ").strip()
                info.role = "worker" if root_cmd and info.cmdline == root_cmd else "child"

    def sample(self) -> None:
        for info in self.procs.values():
            fields = _stat_fields(info.pid)
            if fields and fields[0] != "Z":
                info.cpu_s = max(info.cpu_s, (int(fields[11]) + int(fields[12])) / _TICK)
                info.minflt = max(info.minflt, int(fields[7]))
            kb = _status_kb(info.pid)
            if kb is None:
                continue
            hwm, rss = kb
            info.hwm_kb = max(info.hwm_kb, hwm)
            if not info.first_rss_kb:
                info.first_rss_kb = rss


def run(cmd, *, monitor: bool = False, poll: float = 0.02, scan_every: int = 1, env=None,
        cwd=None) -> RunResult:
    """Run ``cmd`` with stdin from /dev/null and stdout/stderr to files (so not a terminal)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env, cwd=cwd)
        tree = _Tree(proc.pid) if monitor else None
        if monitor:
            n = 0
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                if n % scan_every == 0:
                    tree.scan()
                tree.sample()
                n += 1
                time.sleep(poll)
        else:
            pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        out.seek(0)
        err.seek(0)
        return RunResult(
            cmd=list(cmd),
            returncode=proc.returncode,
            wall_s=wall,
            cpu_s=usage.ru_utime + usage.ru_stime,
            minflt=usage.ru_minflt,
            tree_maxrss_kb=usage.ru_maxrss,
            stdout=out.read().decode("utf-8", "replace"),
            stderr=err.read().decode("utf-8", "replace"),
            procs=tree.procs if tree else {},
        )


def vm_kb(field_name: str = "VmHWM", pid: int | str = "self") -> int:
    status = _read(f"/proc/{pid}/status") or ""
    for line in status.splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    return 0
