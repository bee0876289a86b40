"""Remote stores through fsspec (an S3 API on loopback via moto) and a local Dask cluster.

These need the optional extras (pip install -e '.[test-remote]'); .ci/run installs them.
"""

import io
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from conftest import write_png
from maskcli.cli import cli

COLORS = np.array([[128, 64, 128], [70, 70, 70], [0, 0, 142], [107, 142, 35]], np.uint8)


def png_bytes(seed, size=(48, 64)):
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, len(COLORS), (size[0] // 8, size[1] // 8))
    buf = io.BytesIO()
    Image.fromarray(COLORS[np.kron(blocks, np.ones((8, 8), int))]).save(buf, format="PNG")
    return buf.getvalue()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3():
    pytest.importorskip("s3fs", reason="needs maskcli[s3]")
    pytest.importorskip("moto.server", reason="needs moto[server] for an S3 API on loopback")
    boto3 = pytest.importorskip("boto3")
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    client = boto3.client("s3")
    yield client, {**os.environ, **env}
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    server.stop()


def maskcli(*args, env=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "maskcli", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=timeout)


def upload_tree(client, bucket, tmp_path, n=6):
    client.create_bucket(Bucket=bucket)
    local = tmp_path / "local-copy"
    for i in range(n):
        key = f"masks/{'train' if i % 2 else 'val'}/m{i}.png"
        data = png_bytes(i)
        client.put_object(Bucket=bucket, Key=key, Body=data)
        (local / key).parent.mkdir(parents=True, exist_ok=True)
        (local / key).write_bytes(data)
    client.put_object(Bucket=bucket, Key="masks/val/broken.png", Body=b"this object is not an image")
    return local / "masks"


def keys(client, bucket, prefix):
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []))


def test_bucket_to_bucket_with_update_and_a_broken_object(s3, tmp_path):
    client, env = s3
    local = upload_tree(client, "b2b", tmp_path)
    time.sleep(1.1)  # one-second mtimes: outputs written in the second of their inputs are not newer
    first = maskcli("to-index", "s3://b2b/masks", "-o", "s3://b2b/out", "-p", "cityscapes", "-j", 2, env=env)
    assert first.returncode == 1, first.stderr
    assert "error: s3://b2b/masks/val/broken.png: not an image file maskcli can read" in first.stderr
    assert "6 converted, 1 failed" in first.stderr
    assert keys(client, "b2b", "out/") == [f"out/{s}/m{i}.png" for s, i in
                                           sorted((("train" if i % 2 else "val"), i) for i in range(6))]
    reference = maskcli("to-index", local, "-o", tmp_path / "ref", "-p", "cityscapes", "-j", 1)
    assert reference.returncode == 0, reference.stderr
    for key in keys(client, "b2b", "out/"):
        body = client.get_object(Bucket="b2b", Key=key)["Body"].read()
        assert body == (tmp_path / "ref" / key[len("out/"):]).read_bytes()  # byte for byte
    again = maskcli("to-index", "s3://b2b/masks", "-o", "s3://b2b/out", "-p", "cityscapes", "--update", env=env)
    assert "0 converted, 6 up to date, 1 failed" in again.stderr
    time.sleep(1.1)  # S3 modification times have one-second resolution
    client.put_object(Bucket="b2b", Key="masks/train/m1.png", Body=png_bytes(99))
    third = maskcli("to-index", "s3://b2b/masks", "-o", "s3://b2b/out", "-p", "cityscapes", "--update", env=env)
    assert "1 converted, 5 up to date, 1 failed" in third.stderr


def test_bucket_to_local_and_check_and_extract(s3, tmp_path):
    client, env = s3
    upload_tree(client, "b2l", tmp_path)
    result = maskcli("to-index", "s3://b2l/masks", "--exclude", "broken.png", "-o", tmp_path / "out", "-p", "cityscapes", env=env)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "out").rglob("*.png")) == [f"m{i}.png" for i in range(6)]
    check = maskcli("check", "s3://b2l/masks/train", "-p", "cityscapes", env=env)
    assert check.returncode == 0 and "check: 3 ok, 0 failed" in check.stderr
    extract = maskcli("extract-palette", "s3://b2l/masks/train", env=env)
    assert extract.returncode == 0 and "match: all 4 colors belong to cityscapes" in extract.stderr


def test_memory_store_in_process(tmp_path):
    fsspec = pytest.importorskip("fsspec", reason="needs fsspec")
    fs = fsspec.filesystem("memory")
    for i, name in enumerate(["t/a.png", "t/sub/b.png", "t/.hidden.png"]):
        fs.pipe_file(f"/memtest/{name}", png_bytes(i))
    result = CliRunner().invoke(cli, ["to-index", "memory://memtest/t", "-o", str(tmp_path / "o"), "-p", "cityscapes", "-j", "1"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    assert sorted(str(p.relative_to(tmp_path / "o")) for p in (tmp_path / "o").rglob("*.png")) == ["a.png", "sub/b.png"]


def test_a_missing_extra_is_named(monkeypatch, tmp_path):
    pytest.importorskip("fsspec", reason="needs fsspec")
    import fsspec

    from maskcli import storage

    def without_gcsfs(protocol, **kwargs):  # what fsspec does when gcsfs is not installed
        raise ImportError("Install gcsfs to access Google Storage")

    monkeypatch.setattr(fsspec, "filesystem", without_gcsfs)
    storage.filesystem.cache_clear()
    write_png(tmp_path / "a.png", np.zeros((2, 2, 3), np.uint8))
    result = CliRunner().invoke(cli, ["to-index", "gs://bucket/masks", "-o", str(tmp_path / "o"), "-p", "cityscapes"])
    storage.filesystem.cache_clear()
    assert result.exit_code == 2
    assert "pip install 'maskcli[gcs]'" in result.stderr and "Traceback" not in result.stderr


@pytest.fixture(scope="module")
def dask_cluster():
    distributed = pytest.importorskip("distributed", reason="needs maskcli[dask]")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
    yield cluster
    cluster.close()


def test_dask_cluster_gives_the_same_bytes_as_a_local_run(dask_cluster, tmp_path):
    for i in range(20):
        (tmp_path / f"m/{i % 3}").mkdir(parents=True, exist_ok=True)
        (tmp_path / f"m/{i % 3}/{i:02d}.png").write_bytes(png_bytes(i))
    (tmp_path / "m/0/bad.png").write_bytes(b"junk")
    local = maskcli("to-index", tmp_path / "m", "-o", tmp_path / "local", "-p", "cityscapes", "-j", 1)
    remote = maskcli("to-index", tmp_path / "m", "-o", tmp_path / "dask", "-p", "cityscapes", "--scheduler", dask_cluster.scheduler_address)
    assert local.returncode == remote.returncode == 1, remote.stderr
    assert [line for line in local.stderr.splitlines() if line.startswith("error")] == \
           [line for line in remote.stderr.splitlines() if line.startswith("error")]
    made = sorted(p.relative_to(tmp_path / "local") for p in (tmp_path / "local").rglob("*.png"))
    assert len(made) == 20
    for rel in made:
        assert (tmp_path / "local" / rel).read_bytes() == (tmp_path / "dask" / rel).read_bytes()
    env = {**os.environ, "MASKCLI_SCHEDULER": dask_cluster.scheduler_address}
    by_env = maskcli("to-rgb", tmp_path / "dask", "-o", tmp_path / "rgb", "-p", "cityscapes", env=env)
    assert by_env.returncode == 0 and "to-rgb: 20 converted" in by_env.stderr


def test_a_dask_worker_killed_mid_task(tmp_path, monkeypatch):
    """A worker process killed while it converts (reads are slowed by the test hooks so that
    the kill lands inside a task): Dask reruns the task, and the run ends with every file
    converted, byte for byte as a -j 1 run, and no hang."""
    distributed = pytest.importorskip("distributed", reason="needs maskcli[dask]")
    rng = np.random.default_rng(5)
    for i in range(24):
        blocks = rng.integers(0, len(COLORS), (12, 16))
        write_png(tmp_path / f"m/{i // 8}/{i:02d}.png", COLORS[np.kron(blocks, np.ones((4, 4), int))])
    reference = maskcli("to-index", tmp_path / "m", "-o", tmp_path / "ref", "-p", "cityscapes", "-j", 1)
    assert reference.returncode == 0, reference.stderr
    marks = tmp_path / "marks"
    marks.mkdir()
    hooks = os.path.join(os.path.dirname(os.path.abspath(__file__)), "signal_hooks")
    # the cluster's worker processes inherit these: every mask read marks itself and sleeps
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [hooks, os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("MASKCLI_TEST_MARKS", str(marks))
    monkeypatch.setenv("MASKCLI_TEST_SLOW_FILES", "0.3")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        proc = subprocess.Popen([sys.executable, "-m", "maskcli", "to-index", str(tmp_path / "m"), "-o", str(tmp_path / "out"),
                                 "-p", "cityscapes", "--scheduler", cluster.scheduler_address],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 300  # against a hang, not a measurement
        while len(list(marks.glob("*.read"))) < 6:  # past the one-file first tasks, inside bigger ones
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.poll() else ""
            time.sleep(0.01)
        busy = []
        while not busy:  # a worker that holds a task right now
            busy = [nanny for nanny in cluster.workers.values()
                    if (ws := cluster.scheduler.workers.get(nanny.worker_address)) is not None and ws.processing]
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        os.kill(busy[0].process.pid, 9)  # the nanny's worker process, like the OOM killer
        _, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr and "error" not in stderr
    assert "to-index: 24 converted" in stderr
    made = sorted(p.relative_to(tmp_path / "out") for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert made == sorted(p.relative_to(tmp_path / "ref") for p in (tmp_path / "ref").rglob("*") if p.is_file())
    assert len(made) == 24
    for rel in made:
        assert (tmp_path / "out" / rel).read_bytes() == (tmp_path / "ref" / rel).read_bytes()


def test_dask_takes_a_lazy_iterator_in_bounded_waves(dask_cluster):
    """runner._run_dask consumes a generator (never counted), keeps a bounded number of items
    and tasks out, releases each task once its results are in, and hands results over in
    order."""
    import operator

    from maskcli import runner

    total = 20000
    pulled = 0

    def items():
        nonlocal pulled
        for i in range(total):
            pulled += 1
            yield i

    seen = []
    most_ahead = most_tasks = 0
    scheduler = dask_cluster.scheduler  # in this process: LocalCluster's workers are the processes

    def on_result(item, result):
        nonlocal most_ahead, most_tasks
        seen.append((item, result))
        most_ahead = max(most_ahead, pulled - len(seen))
        if len(seen) % 250 == 0:
            most_tasks = max(most_tasks, len(scheduler.tasks))

    runner._run_dask(operator.mul, items(), (2,), dask_cluster.scheduler_address, on_result, "lost")
    assert len(seen) == total and [r for _, r in seen if r == "lost"] == []
    assert seen == [(i, 2 * i) for i in range(total)]
    workers = 2
    assert most_ahead <= 2 * workers * runner.DASK_BATCH, most_ahead  # items cut but not handed over yet
    # in flight, the settings, and tasks released by this client but not yet forgotten by the
    # scheduler (its event loop shares this process's cores): far below the run's 625 tasks
    assert most_tasks <= 64, most_tasks
    assert [len(b) for b in runner.dask_batches(range(100), 2)] == [1, 1, 2, 4, 8, 16, 32, 32, 4]


def test_an_s3_listing_streams_page_by_page_in_sorted_order(s3, monkeypatch):
    """2,500 wanted objects are three LIST pages (S3 gives 1,000 keys a page): the first
    object comes out after one page, and the whole stream equals the listing done in one go
    (fsspec's find, sorted, filtered the same way)."""
    import fnmatch
    from concurrent.futures import ThreadPoolExecutor

    from maskcli import storage, walk

    client, _ = s3
    client.create_bucket(Bucket="pages")
    tricky = ["big/a-b/x.png", "big/a.png", "big/a/y.png", "big/.hidden/z.png", "big/d1/.h.png", "big/notes.txt",
              "big/out/o.png", "big/UPPER.PNG", "big/\u00e9/\u00fc.png", "big/z~.png", "big/sub/", "bigger/no.png",
              "big/d2/skip-me.png"]
    names = [f"big/d{i % 7}/m{i:05d}.png" for i in range(2500)] + tricky
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda key: client.put_object(Bucket="pages", Key=key, Body=b"x"), names))

    storage.filesystem.cache_clear()
    fs = storage.filesystem("s3")
    fs.invalidate_cache()
    pages = []
    real_call = fs._call_s3

    async def counting_call(method, *args, **kwargs):
        if method in ("list_objects_v2", "list_object_versions") and kwargs.get("Delimiter") == "":
            pages.append(kwargs.get("Prefix"))
        return await real_call(method, *args, **kwargs)

    monkeypatch.setattr(fs, "_call_s3", counting_call)
    selection = walk.Selection(exclude=("skip-me.png",))
    stream = iter(walk._find_remote("s3://pages/big", selection, ("s3://pages/big/out",)))
    first = next(stream)
    pages_for_first = len(pages)
    streamed = [first, *stream]
    assert pages_for_first == 1, pages  # the first object did not wait for the rest of the listing
    assert len(pages) == 3, pages

    monkeypatch.setattr(fs, "_call_s3", real_call)
    fs.invalidate_cache()
    whole = []  # the listing in one go, as maskcli did it before it streamed
    for key in sorted(fs.find("pages/big", withdirs=False)):
        rel = key[len("pages/big/"):]
        if any(part.startswith(".") for part in rel.split("/")) or rel.startswith("out/") or not rel:
            continue
        name = rel.rsplit("/", 1)[-1]
        if name.lower().endswith(walk.DEFAULT_EXTENSIONS) and not fnmatch.fnmatch(name, "skip-me.png"):
            whole.append(f"s3://{key}")
    assert streamed == whole
    assert len(streamed) == 2500 + 6  # and a-b/x, a, a/y, UPPER, é/ü, z~ (not d2/skip-me, hidden, out/)
    assert streamed == sorted(streamed)
    assert "s3://pages/big/a-b/x.png" in streamed and "s3://pages/big/out/o.png" not in streamed


def test_a_dask_cluster_without_workers_loses_the_files_instead_of_hanging(monkeypatch, capsys):
    """A scheduler with no worker (all gone, none coming back): after DASK_NO_WORKERS seconds
    every file still waiting is reported lost, in order, and the run returns."""
    import operator
    import threading

    distributed = pytest.importorskip("distributed", reason="needs maskcli[dask]")
    from maskcli import runner

    monkeypatch.setattr(runner, "DASK_NO_WORKERS", 1.0)
    monkeypatch.setattr(runner, "DASK_LOOK", 0.2)
    seen = []
    with distributed.LocalCluster(n_workers=0, processes=True, dashboard_address=":0") as cluster:
        run = threading.Thread(target=runner._run_dask, daemon=True,
                               args=(operator.mul, iter(range(100)), (2,), cluster.scheduler_address,
                                     lambda item, result: seen.append((item, result)), "lost"))
        run.start()
        run.join(120)  # against a hang, not a measurement
        assert not run.is_alive()
    assert seen == [(i, "lost") for i in range(100)]
    assert "has had no worker for 1 s; the files not converted yet are reported as failed" in capsys.readouterr().err


def test_the_dask_loop_follows_a_cluster_that_grows_and_shrinks(monkeypatch):
    """How many batches _run_dask keeps out follows the cluster's worker threads, looked up
    again as the run goes (an autoscaling cluster may start with none)."""
    pytest.importorskip("distributed", reason="needs maskcli[dask]")
    from maskcli import runner

    class Cluster:  # what _WorkerWatch asks of a distributed.Client
        threads = {}

        def nthreads(self):
            return dict(self.threads)

    monkeypatch.setattr(runner, "DASK_LOOK", 0.0)
    monkeypatch.setattr(runner, "DASK_NO_WORKERS", 3600.0)
    cluster = Cluster()
    watch = runner._WorkerWatch(cluster)
    assert watch.threads == 1  # none yet: one batch's worth, so that there is something to wait for
    cluster.threads = {"tcp://a": 4, "tcp://b": 4}
    watch.check()
    assert watch.threads == 8
    cluster.threads = {"tcp://a": 4}
    watch.check(give_up=False)
    assert watch.threads == 4


def test_dask_tasks_cancelled_mid_run_are_sent_again(dask_cluster, capsys):
    """Futures cancelled under the run (what a client's reconnection to the scheduler does to
    every future it held, the run's settings included) are submitted again, and every item
    still gets its own result, in order: none is reported lost."""
    import operator
    import threading

    distributed = pytest.importorskip("distributed", reason="needs maskcli[dask]")
    from maskcli import runner

    seen = []
    with distributed.Client(dask_cluster.scheduler_address, set_as_default=False) as other:
        def on_result(item, result):
            seen.append((item, result))
            if len(seen) in (100, 1000):  # cancel everything on the cluster, for every client
                scheduler, done = dask_cluster.scheduler, threading.Event()

                def cancel():  # on the scheduler's event loop, as its handlers run
                    scheduler.stimulus_cancel(list(scheduler.tasks), other.id, force=True, reason="test", msg="")
                    done.set()

                scheduler.loop.add_callback(cancel)
                assert done.wait(60)

        runner._run_dask(operator.mul, iter(range(3000)), (2,), dask_cluster.scheduler_address, on_result, "lost")
    assert [r for _, r in seen if r == "lost"] == []
    assert seen == [(i, 2 * i) for i in range(3000)]
    assert "warning: a Dask task failed (" in capsys.readouterr().err  # which exception, said once a task


def test_a_dask_scheduler_killed_mid_run(tmp_path):
    """The scheduler itself dies (the client gives up reconnecting after its timeout): every
    file is converted or reported failed, with one warning that says why, no traceback, no hang."""
    pytest.importorskip("distributed", reason="needs maskcli[dask]")
    for i in range(30):
        (tmp_path / f"m/{i:02d}.png").parent.mkdir(exist_ok=True)
        (tmp_path / f"m/{i:02d}.png").write_bytes(png_bytes(i, (16, 16)))
    marks = tmp_path / "marks"
    marks.mkdir()
    hooks = os.path.join(os.path.dirname(os.path.abspath(__file__)), "signal_hooks")
    slow = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [hooks, os.environ.get("PYTHONPATH")])),
            "MASKCLI_TEST_MARKS": str(marks), "MASKCLI_TEST_SLOW_FILES": "0.3"}
    info = tmp_path / "scheduler.json"
    log = open(tmp_path / "cluster.log", "wb")
    scheduler = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
                                  "--dashboard-address", ":0", "--scheduler-file", str(info)], stdout=log, stderr=log)
    workers = proc = None
    try:
        deadline = time.monotonic() + 120  # against a hang, not a measurement
        while not (info.exists() and info.read_text().strip().endswith("}")):
            assert scheduler.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        address = __import__("json").loads(info.read_text())["address"]
        workers = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file", str(info),
                                    "--nworkers", "2", "--nthreads", "1", "--no-dashboard"], env=slow, stdout=log, stderr=log)
        proc = subprocess.Popen([sys.executable, "-m", "maskcli", "to-index", str(tmp_path / "m"), "-o", str(tmp_path / "out"),
                                 "-p", "cityscapes", "--scheduler", address], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 300
        while len(list(marks.glob("*.read"))) < 3:
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        scheduler.kill()
        _, stderr = proc.communicate(timeout=600)
    finally:
        for p in (proc, workers, scheduler):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()
    assert "Traceback" not in stderr
    assert f"warning: the Dask cluster at {address} cannot be reached any more" in stderr
    made = {p.name for p in (tmp_path / "out").rglob("*.png")} if (tmp_path / "out").exists() else set()
    failed = {line.split(": ")[1].rsplit("/", 1)[-1] for line in stderr.splitlines() if line.startswith("error:")}
    # a worker may still finish (whole) a file the client has already reported failed
    assert made | failed == {f"{i:02d}.png" for i in range(30)} and failed
    assert proc.returncode == 1


def test_the_dask_scale_benchmark_runs(tmp_path):
    """benchmarks/dask_scale.py end to end on a few files (its figures are its own business)."""
    pytest.importorskip("distributed", reason="needs maskcli[dask]")
    script = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks", "dask_scale.py")
    done = subprocess.run([sys.executable, script, "60"], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "TMPDIR": str(tmp_path)})
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert "exit status 0; 60 of 60 outputs" in done.stdout
    assert "scheduler RSS: idle" in done.stdout and "client (maskcli) peak RSS" in done.stdout
    assert os.listdir(tmp_path) == []  # its temporary folder is removed


def test_dask_hands_over_decided_items_in_their_turn(dask_cluster):
    """Items whose result is known already (runner.Ready: an up-to-date file, a folder that
    could not be listed) are handed over in item order without a task, as the pool does."""
    import operator

    from maskcli import runner

    items = [runner.Ready(i, "known") if i % 7 in (3, 4) else i for i in range(200)]
    seen = []
    runner._run_dask(operator.mul, iter(items), (2,), dask_cluster.scheduler_address,
                     lambda item, result: seen.append((item, result)), "lost")
    assert seen == [(i, "known" if i % 7 in (3, 4) else 2 * i) for i in range(200)]
