"""How outputs are written: regular files are replaced whole by a rename; devices, FIFOs and
/dev/fd are written in place; a symbolic link at a named file (report, palette, legend) is
followed, one at a mask output is refused; temporary names stay short; '-' for stdin/stdout.

Every special file is made inside tmp_path (a character device with /dev/null's numbers,
FIFOs, sockets, links): nothing here touches the real /dev. Cases where root hides a failure
(a folder the user cannot write) also run as an unprivileged user the test creates.
"""

from __future__ import annotations

import io
import json
import os
import pwd
import shutil
import socket
import stat
import subprocess
import sys
import threading

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from conftest import read_png, write_png
from maskcli import masks
from maskcli.cli import cli

ROAD, CAR = (128, 64, 128), (0, 0, 142)
NULL_DEVICE = os.makedev(1, 3)  # the numbers of /dev/null: writes to it are thrown away
TEST_USER = "maskcli-test"
DEADLINE = 120  # seconds: a guard against hangs, not a measurement


def invoke(*args, input=None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input, catch_exceptions=False)


def make(path, color=ROAD):
    return write_png(path, np.full((4, 4, 3), color, np.uint8))


def png_bytes(color=ROAD) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((3, 5, 3), color, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def make_null_device(path):
    """A character device with /dev/null's numbers at ``path`` (root only: skip otherwise)."""
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, NULL_DEVICE)
    except PermissionError:
        pytest.skip("making a device node needs root (CAP_MKNOD)")
    os.chmod(path, 0o666)
    return path


def make_socket(path):
    """A listening Unix socket at ``path`` (bound through a short relative name)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    here = os.getcwd()
    os.chdir(os.path.dirname(path))
    try:
        sock.bind(os.path.basename(path))
    finally:
        os.chdir(here)
    os.chmod(path, 0o666)
    return sock


def kind(path) -> str:
    mode = os.lstat(path).st_mode
    for name in ("LNK", "CHR", "FIFO", "SOCK", "DIR", "REG"):
        if getattr(stat, f"S_IS{name}")(mode):
            return name.lower()
    return "other"


def assert_is_null_device(path):
    st = os.lstat(path)
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == NULL_DEVICE, f"{path} is no longer the device"


class FifoReader:
    """Reads a FIFO in a thread until its writer closes it (daemon: never blocks the suite)."""

    def __init__(self, path):
        self.data = None
        self.thread = threading.Thread(target=self._read, args=(path,), daemon=True)
        self.thread.start()

    def _read(self, path):
        with open(path, "rb") as f:
            self.data = f.read()

    def result(self) -> bytes:
        self.thread.join(DEADLINE)
        assert not self.thread.is_alive(), "nobody wrote to the FIFO"
        return self.data


def no_temp_files(folder) -> bool:
    return not [n for n in os.listdir(folder) if n.endswith(".tmp")]


# --------------------------------------------------------------------------- named files


def test_reports_palettes_and_legends_are_written_into_a_device_in_place(tmp_path):
    make(tmp_path / "m/a.png")
    dev = make_null_device(tmp_path / "null")
    runs = [
        ("to-index", tmp_path / "m", "-o", tmp_path / "out", "-p", "cityscapes", "--report", dev, "-q"),
        ("check", tmp_path / "m", "-p", "cityscapes", "--report", dev, "-q"),
        ("extract-palette", tmp_path / "m", "-q", "-o", dev),
        ("palettes", "convert", "cityscapes", dev),
        ("palettes", "show", "cityscapes", "--legend", dev),
    ]
    for args in runs:
        result = invoke(*args)
        assert result.exit_code == 0, (args, result.stderr)
        assert_is_null_device(dev)
    assert no_temp_files(tmp_path)


def test_a_report_into_a_fifo_is_written_in_place_for_its_reader(tmp_path):
    make(tmp_path / "m/a.png")
    fifo = tmp_path / "report.fifo"
    os.mkfifo(fifo)
    for args in (("to-index", tmp_path / "m", "-o", tmp_path / "out", "-p", "cityscapes"),
                 ("check", tmp_path / "m", "-p", "cityscapes")):
        reader = FifoReader(fifo)
        result = invoke(*args, "--report", fifo, "-q")
        assert result.exit_code == 0, result.stderr
        assert json.loads(reader.result())["total"] == 1
        assert kind(fifo) == "fifo"
    reader = FifoReader(fifo)
    assert invoke("palettes", "convert", "pascal-voc", fifo).exit_code == 0
    assert b"name: pascal-voc" in reader.result() and kind(fifo) == "fifo"


def test_a_report_to_a_socket_is_one_clear_error_and_the_socket_stays(tmp_path):
    make(tmp_path / "m/a.png")
    sock = make_socket(tmp_path / "s")
    try:
        result = invoke("to-index", tmp_path / "m", "-o", tmp_path / "out", "-p", "cityscapes", "--report", tmp_path / "s")
        assert result.exit_code == 1 and "Traceback" not in result.stderr
        assert f"error: {tmp_path / 's'}: cannot write the report: it is a socket" in result.stderr
        assert kind(tmp_path / "s") == "sock"
        assert (tmp_path / "out/a.png").is_file()  # the masks were still written
    finally:
        sock.close()


def test_a_named_file_through_a_symlink_replaces_the_target_and_the_link_stays(tmp_path):
    make(tmp_path / "m/a.png")
    (tmp_path / "data").mkdir()
    (tmp_path / "data/report.json").write_text("old")
    os.symlink("data/report.json", tmp_path / "r.json")
    os.symlink("data/new.json", tmp_path / "dangling.json")  # its target does not exist yet
    os.symlink("r.json", tmp_path / "chain.yaml")  # a link to a link
    result = invoke("to-index", tmp_path / "m", "-o", tmp_path / "out", "-p", "cityscapes", "--report", tmp_path / "r.json")
    assert result.exit_code == 0, result.stderr
    assert kind(tmp_path / "r.json") == "lnk" and os.readlink(tmp_path / "r.json") == "data/report.json"
    assert json.loads((tmp_path / "data/report.json").read_text())["converted"] == 1
    assert invoke("check", tmp_path / "m", "-p", "cityscapes", "--report", tmp_path / "dangling.json", "-q").exit_code == 0
    assert kind(tmp_path / "dangling.json") == "lnk" and json.loads((tmp_path / "data/new.json").read_text())["passed"] == 1
    assert invoke("extract-palette", tmp_path / "m", "-q", "-o", tmp_path / "chain.yaml").exit_code == 0
    assert kind(tmp_path / "chain.yaml") == "lnk" and kind(tmp_path / "r.json") == "lnk"
    assert "classes:" in (tmp_path / "data/report.json").read_text()
    assert no_temp_files(tmp_path) and no_temp_files(tmp_path / "data")


def test_a_named_file_linked_to_a_device_or_fifo_is_written_in_place(tmp_path):
    dev = make_null_device(tmp_path / "null")
    os.symlink("null", tmp_path / "legend.png")
    assert invoke("palettes", "show", "cityscapes", "--legend", tmp_path / "legend.png").exit_code == 0
    assert kind(tmp_path / "legend.png") == "lnk"
    assert_is_null_device(dev)
    os.mkfifo(tmp_path / "fifo")
    os.symlink("fifo", tmp_path / "out.yaml")
    reader = FifoReader(tmp_path / "fifo")
    assert invoke("palettes", "convert", "cityscapes", tmp_path / "out.yaml").exit_code == 0
    assert b"name: cityscapes" in reader.result()
    assert kind(tmp_path / "out.yaml") == "lnk" and kind(tmp_path / "fifo") == "fifo"


def test_dev_fd_and_dev_stdout_are_written_to_not_replaced(tmp_path):
    # Older versions replaced /dev/stdout itself (a rename into /dev, as root): never run the
    # /dev/stdout half against a version without the fix.
    assert hasattr(masks, "write_named_file")
    make(tmp_path / "m/a.png")
    read_end, write_end = os.pipe()  # what a shell's --report >(jq .total) passes
    try:
        result = subprocess.run(
            [sys.executable, "-m", "maskcli", "to-index", str(tmp_path / "m"), "-o", str(tmp_path / "out"),
             "-p", "cityscapes", "-q", "--report", f"/dev/fd/{write_end}"],
            pass_fds=(write_end,), capture_output=True, timeout=DEADLINE,
        )
        os.close(write_end)
        write_end = None
        with os.fdopen(read_end, "rb") as f:
            read_end = None
            assert json.loads(f.read())["converted"] == 1, result.stderr
    finally:
        for fd in (read_end, write_end):
            if fd is not None:
                os.close(fd)
    assert result.returncode == 0, result.stderr
    stdout = tmp_path / "stdout"  # a link of ours to the process's own fd 1 (what /dev/stdout is on Linux)
    stdout.symlink_to("/proc/self/fd/1")
    result = subprocess.run([sys.executable, "-m", "maskcli", "extract-palette", str(tmp_path / "m"), "-q", "-o", str(stdout)],
                            capture_output=True, timeout=DEADLINE)
    assert result.returncode == 0 and b"classes:" in result.stdout, result.stderr
    result = subprocess.run([sys.executable, "-m", "maskcli", "check", str(tmp_path / "m"), "-p", "cityscapes", "-q",
                             "--report", str(stdout)], capture_output=True, timeout=DEADLINE)
    assert result.returncode == 0 and json.loads(result.stdout)["passed"] == 1, result.stderr
    log = tmp_path / "log.txt"  # stdout appended to a file (>>): the report goes after what is there
    log.write_text("before\n")
    with open(log, "ab") as out:
        result = subprocess.run([sys.executable, "-m", "maskcli", "check", str(tmp_path / "m"), "-p", "cityscapes",
                                 "-q", "--report", str(stdout)], stdout=out, stderr=subprocess.PIPE, timeout=DEADLINE)
    assert result.returncode == 0, result.stderr
    first, rest = log.read_text().split("\n", 1)
    assert first == "before" and json.loads(rest)["passed"] == 1


# --------------------------------------------------------------------------- mask outputs


def test_mask_outputs_that_are_not_regular_files_are_per_file_errors(tmp_path):
    for name in "abcdef":
        make(tmp_path / f"m/{name}.png")
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "victim.png").write_bytes(b"precious")
    os.mkfifo(out / "a.png")
    (out / "b.png").mkdir()
    sock = make_socket(out / "c.png")
    os.symlink(tmp_path / "victim.png", out / "d.png")
    os.symlink("nowhere/x.png", out / "e.png")  # dangling
    try:
        result = invoke("to-index", tmp_path / "m", "-o", out, "-p", "cityscapes", "-j", "1")
    finally:
        sock.close()
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    reasons = {
        "a": "it is a FIFO (named pipe), not a regular file",
        "b": "it is a folder",
        "c": "it is a socket, not a regular file",
        "d": "it is a symbolic link; maskcli does not write masks through links",
        "e": "it is a symbolic link; maskcli does not write masks through links",
    }
    for name, reason in reasons.items():
        assert f"error: {tmp_path / 'm' / name}.png: cannot write {out / name}.png: {reason}" in result.stderr
    assert "1 converted, 5 failed" in result.stderr
    assert [kind(out / f"{n}.png") for n in "abcde"] == ["fifo", "dir", "sock", "lnk", "lnk"]
    assert (tmp_path / "victim.png").read_bytes() == b"precious" and not (out / "nowhere").exists()
    assert read_png(out / "f.png")[1].tolist() == np.zeros((4, 4)).tolist()
    assert no_temp_files(out)


def test_a_device_at_a_mask_output_is_a_per_file_error(tmp_path):
    make(tmp_path / "m/a.png")
    make(tmp_path / "m/b.png")
    (tmp_path / "out").mkdir()
    dev = make_null_device(tmp_path / "out/a.png")
    result = invoke("to-index", tmp_path / "m", "-o", tmp_path / "out", "-p", "cityscapes")
    assert result.exit_code == 1
    assert f"cannot write {dev}: it is a character device, not a regular file" in result.stderr
    assert_is_null_device(dev)
    assert (tmp_path / "out/b.png").is_file() and no_temp_files(tmp_path / "out")


def test_a_single_output_that_is_a_link_is_refused_but_linked_folders_work(tmp_path):
    make(tmp_path / "m/a.png")
    (tmp_path / "victim.png").write_bytes(b"precious")
    os.symlink("victim.png", tmp_path / "lnk.png")
    result = invoke("to-index", tmp_path / "m/a.png", "-o", tmp_path / "lnk.png", "-p", "cityscapes")
    assert result.exit_code == 1 and "is a symbolic link; maskcli does not write masks through links" in result.stderr
    assert (tmp_path / "victim.png").read_bytes() == b"precious" and kind(tmp_path / "lnk.png") == "lnk"
    (tmp_path / "big").mkdir()
    os.symlink("big", tmp_path / "out")  # -o out where out -> /big/disk/out
    result = invoke("to-index", tmp_path / "m", "-o", tmp_path / "out", "-p", "cityscapes")
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "big/a.png").is_file() and kind(tmp_path / "out") == "lnk"
    result = invoke("to-index", tmp_path / "m/a.png", "-o", tmp_path / "out/one.png", "-p", "cityscapes")
    assert result.exit_code == 0 and (tmp_path / "big/one.png").is_file()


# --------------------------------------------------------------------------- temporary names


def test_an_output_name_of_250_bytes_is_written(tmp_path):
    name = "x" * 246 + ".png"
    assert len(name.encode()) == 250
    make(tmp_path / "m" / name)
    result = invoke("to-index", tmp_path / "m", "-o", tmp_path / "out", "-p", "cityscapes")
    assert result.exit_code == 0, result.stderr
    assert os.listdir(tmp_path / "out") == [name]
    report = tmp_path / ("r" * 245 + ".json")
    assert invoke("check", tmp_path / "m", "-p", "cityscapes", "-q", "--report", report).exit_code == 0
    assert json.loads(report.read_text())["passed"] == 1


def test_temporary_files_of_a_killed_process_are_found_from_the_output_name(tmp_path):
    name = "y" * 250
    left = masks.temp_path(str(tmp_path), name, 4242)  # what a worker killed mid-write leaves
    other = masks.temp_path(str(tmp_path), name, 4343)  # a live worker's: not ours to remove
    unrelated = masks.temp_path(str(tmp_path), "other.png", 4242)
    for path in (left, other, unrelated):
        open(path, "wb").close()
        assert len(os.path.basename(path).encode()) < 64
    masks.discard_temp_files_of(os.path.join(tmp_path, name), [4242])
    assert sorted(os.listdir(tmp_path)) == sorted(os.path.basename(p) for p in (other, unrelated))


# --------------------------------------------------------------------------- stdin and stdout


def run_maskcli(*args, input=b"", **kwargs):
    return subprocess.run([sys.executable, "-m", "maskcli", *map(str, args)], input=input,
                          capture_output=True, timeout=DEADLINE, **kwargs)


def test_stdin_to_a_file_and_a_file_to_stdout(tmp_path):
    result = run_maskcli("to-index", "-", "-o", tmp_path / "sub/out.png", "-p", "cityscapes", input=png_bytes(CAR))
    assert result.returncode == 0 and result.stdout == b"", result.stderr
    assert (read_png(tmp_path / "sub/out.png")[1] == 13).all()
    make(tmp_path / "a.png", CAR)
    result = run_maskcli("to-index", tmp_path / "a.png", "-o", "-", "-p", "cityscapes")
    assert result.returncode == 0, result.stderr
    assert (np.asarray(Image.open(io.BytesIO(result.stdout))) == 13).all()
    result = run_maskcli("to-index", tmp_path / "missing.png", "-o", "-", "-p", "cityscapes")
    assert result.returncode == 2 and b"missing.png: no such file or folder" in result.stderr


def test_dry_run_with_stdin_or_stdout_reads_and_writes_nothing(tmp_path):
    result = run_maskcli("to-index", "-", "-o", "-", "-p", "cityscapes", "--dry-run", input=png_bytes())
    assert result.returncode == 0 and result.stdout == b"- -> -\n", result.stderr
    result = run_maskcli("to-index", "-", "-o", tmp_path / "out.png", "-p", "cityscapes", "-n", input=png_bytes())
    assert result.returncode == 0 and result.stdout == f"- -> {tmp_path / 'out.png'}\n".encode()
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("args, message", [
    (("-", "a.png", "-o", "-"), "convert one mask"),
    (("m", "-o", "-"), "is a folder"),
    (("-", "-o", "m"), "-o m: with the input '-', -o names the output file"),
    (("-", "-o", "-", "--report", "-"), "--report - cannot share stdout"),
])
def test_stdin_stdout_misuse_is_a_usage_error(tmp_path, args, message):
    make(tmp_path / "a.png")
    make(tmp_path / "m/b.png")
    result = run_maskcli("to-index", *args, "-p", "cityscapes", input=png_bytes(), cwd=tmp_path)
    assert result.returncode == 2 and message.encode() in result.stderr and result.stdout == b""


def test_stdin_to_a_linked_output_is_refused(tmp_path):
    (tmp_path / "victim.png").write_bytes(b"precious")
    os.symlink("victim.png", tmp_path / "lnk.png")
    result = run_maskcli("to-index", "-", "-o", tmp_path / "lnk.png", "-p", "cityscapes", input=png_bytes())
    assert result.returncode == 1 and b"does not write masks through links" in result.stderr
    assert (tmp_path / "victim.png").read_bytes() == b"precious"


# --------------------------------------------------------------------------- as another user


@pytest.fixture
def unprivileged():
    """``(uid, gid)`` of the user maskcli-test, created if needed (idempotent)."""
    if os.geteuid() != 0:
        pytest.skip("running as an unprivileged user needs root to create the user and switch to it")
    if not shutil.which("useradd") or not shutil.which("setpriv"):
        pytest.skip("useradd and setpriv (util-linux) are needed to run as another user")
    try:
        entry = pwd.getpwnam(TEST_USER)
    except KeyError:
        made = subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", TEST_USER],
                              capture_output=True, text=True)
        if made.returncode not in (0, 9):  # 9: made meanwhile by another run
            pytest.skip(f"cannot create the user {TEST_USER}: {made.stderr.strip()}")
        entry = pwd.getpwnam(TEST_USER)
    ids = entry.pw_uid, entry.pw_gid
    probe = subprocess.run(["setpriv", f"--reuid={ids[0]}", f"--regid={ids[1]}", "--clear-groups",
                            sys.executable, "-c", "import maskcli"], capture_output=True, text=True, cwd="/")
    if probe.returncode:
        pytest.skip(f"{TEST_USER} cannot run {sys.executable} with maskcli: {probe.stderr.strip()[-200:]}")
    return ids


def as_user(ids, args, cwd, **kwargs):
    """Run maskcli as ``ids`` in ``cwd`` (entered by root first, so its parents need not be
    open to the user: paths given are relative). In-process (-j 1 where it matters): the
    interpreter may live where the user cannot start new processes from it."""
    uid, gid = ids
    command = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups",
               sys.executable, "-m", "maskcli", *map(str, args)]
    env = {**os.environ, "HOME": str(cwd), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=DEADLINE, **kwargs)


@pytest.fixture(params=["root", "unprivileged"])
def identity(request, tmp_path):
    """Who runs the CLI: this process's user, or maskcli-test; and a folder it owns."""
    work = tmp_path / "w"
    work.mkdir()
    if request.param == "root":
        return None, work
    ids = request.getfixturevalue("unprivileged")
    os.chown(work, *ids)
    return ids, work


def run_as(identity, *args, **kwargs):
    ids, work = identity
    if ids is None:
        return run_maskcli(*args, cwd=work, **kwargs)
    result = as_user(ids, args, work, **kwargs)
    return subprocess.CompletedProcess(result.args, result.returncode, result.stdout.encode(), result.stderr.encode())


def test_writing_into_special_files_as_root_and_as_a_user(identity):
    """A device, FIFO or link in a folder the user cannot write to is still written (in place,
    or by replacing the link's target in the user's own folder); a linked mask output is
    refused whoever runs it."""
    ids, work = identity
    make(work / "m/a.png")
    make(work / "m/b.png")
    locked = work / "locked"  # root's, read-only for the user: no temporary file can go here
    locked.mkdir(mode=0o755)
    os.chown(locked, 0, 0)
    dev = make_null_device(locked / "null")
    os.mkfifo(locked / "fifo", 0o666)
    os.chmod(locked / "fifo", 0o666)
    (work / "mine").mkdir()
    if ids:
        os.chown(work / "mine", *ids)
        os.chown(work / "m", *ids)
    os.symlink("mine/report.json", work / "r.json")
    (work / "victim.png").write_bytes(b"precious")
    (work / "out").mkdir()
    os.symlink("../victim.png", work / "out/a.png")
    if ids:
        os.chown(work / "out", *ids)

    # files named directly, mapped below --base m (tmp_path's parents are root's: the user
    # works with relative paths from here)
    result = run_as(identity, "to-index", "m/a.png", "m/b.png", "--base", "m", "-o", "out", "-p", "cityscapes",
                    "-j", "1", "--report", "locked/null")
    assert result.returncode == 1, result.stderr  # a.png's output is a link
    assert b"error: m/a.png: cannot write out/a.png: it is a symbolic link" in result.stderr
    assert b"report" not in result.stderr  # the report went into the device
    assert_is_null_device(dev)
    assert (work / "victim.png").read_bytes() == b"precious" and (work / "out/b.png").is_file()

    reader = FifoReader(locked / "fifo")
    result = run_as(identity, "check", "m", "-p", "cityscapes", "-j", "1", "-q", "--report", "locked/fifo")
    assert result.returncode == 0, result.stderr
    assert json.loads(reader.result())["passed"] == 2 and kind(locked / "fifo") == "fifo"

    result = run_as(identity, "extract-palette", "m", "-j", "1", "-q", "-o", "r.json")
    assert result.returncode == 0, result.stderr
    assert kind(work / "r.json") == "lnk" and "classes:" in (work / "mine/report.json").read_text()
    if ids:
        assert os.stat(work / "mine/report.json").st_uid == ids[0]
    assert sorted(os.listdir(locked)) == ["fifo", "null"]  # no temporary file was even tried there
