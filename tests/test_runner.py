"""The process pool with real worker processes: order, dying workers, batching."""

import pytest

from maskcli import runner
from pool_helpers import double_or_die


def collect(items, jobs, die_on=()):
    seen = []
    runner.run(double_or_die, items, args=(set(die_on),), jobs=jobs, on_result=lambda i, r: seen.append((i, r)),
               lost_result="lost")
    return seen


def test_results_come_in_item_order_with_a_pool():
    items = list(range(200))
    assert collect(items, 2) == [(i, 2 * i) for i in items]
    assert collect(items, 1) == [(i, 2 * i) for i in items]


def test_a_worker_that_dies_loses_only_the_item_it_was_on():
    items = list(range(100))
    seen = collect(items, 2, die_on={7, 60})
    assert [i for i, _ in seen] == items  # every item once, in order, no hang
    assert {i: r for i, r in seen if r == "lost"} == {7: "lost", 60: "lost"}
    assert all(r == 2 * i for i, r in seen if i not in (7, 60))


def test_workers_that_always_die_stop_the_run():
    with pytest.raises(runner.PoolFailure):
        collect(list(range(40)), 2, die_on=set(range(40)))


def test_batch_size():
    assert runner.batch_size(10_000, 2) == 32
    assert runner.batch_size(40, 2) == 2
    assert runner.batch_size(3, 2) == 1


def test_batches_by_bytes_large_files_travel_alone_and_each_worker_starts_with_one(tmp_path):
    big, small = [], []
    for i in range(12):
        (tmp_path / f"big{i}.png").write_bytes(b"x" * 20_000)
        big.append((str(tmp_path / f"big{i}.png"), f"out{i}"))
    for i in range(2000):
        (tmp_path / f"s{i}.png").write_bytes(b"x" * 200)
        small.append(str(tmp_path / f"s{i}.png"))
    # round one cut 12 files for 2 workers in batches of 1 only by luck of the count, and 2,000
    # files of any size in batches of 32: a 2-megapixel mask then waited for 31 others
    assert [len(b) for b in runner.batches(big, 2)] == [1] * 12
    cut = list(runner.batches(small, 2))
    assert [len(b) for b in cut[:2]] == [1, 1]
    assert max(len(b) for b in cut) == 32 and sum(cut, []) == small
    many_big = big * 100
    assert max(len(b) for b in runner.batches(many_big, 2)) == 1
    # sizes that cannot be known (URLs, files gone) count as small
    assert sum(runner.batches(["s3://b/k.png"] * 100, 2), []) == ["s3://b/k.png"] * 100


def test_temporary_files_of_a_killed_worker_are_removed(tmp_path):
    import os

    from maskcli.batch import _discard_partial
    from pool_helpers import write_or_die_writing

    jobs = [(f"in{i}", str(tmp_path / (f"die{i}.png" if i == 5 else f"ok{i}.png"))) for i in range(12)]
    seen = {}
    runner.run(write_or_die_writing, jobs, jobs=2, on_result=lambda item, r: seen.setdefault(item[1], r),
               lost_result="lost", on_crash=_discard_partial)
    assert seen[str(tmp_path / "die5.png")] == "lost"
    assert sorted(os.listdir(tmp_path)) == sorted(f"ok{i}.png" for i in range(12) if i != 5)  # no .tmp left


def _signal_self_at(item, at, signum):
    import os

    if item == at:
        os.kill(os.getpid(), signum)  # arrives while this item is being worked on
    return item * 2


def test_a_signal_in_process_stops_after_the_current_item_and_is_not_a_file_error():
    import signal

    seen = []
    with pytest.raises(runner.Interrupted) as stop:
        runner.run(_signal_self_at, list(range(10)), args=(3, signal.SIGTERM), jobs=1,
                   on_result=lambda i, r: seen.append((i, r)))
    assert stop.value.exit_code == 143
    assert seen == [(i, 2 * i) for i in range(4)]  # the item in progress finished, no more started
    assert not isinstance(stop.value, Exception)  # per-file `except Exception` cannot swallow it
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the library's handlers are put back


def test_workers_that_cannot_be_started_leave_the_work_to_this_process(tmp_path, monkeypatch, capfd):
    """Where the interpreter cannot be run again (a venv under a folder an unprivileged user
    cannot enter), -j N says so once and converts in-process instead of failing silently."""
    from multiprocessing import spawn

    locked = tmp_path / "python"
    locked.write_text("")
    locked.chmod(0o644)  # no execute bit: not even root may run it
    monkeypatch.setattr(spawn, "get_executable", lambda: str(locked))
    items = list(range(20))
    assert collect(items, 2) == [(i, 2 * i) for i in items]
    err = capfd.readouterr().err
    assert f"cannot start worker processes ({locked} cannot be run by this user)" in err
    assert "Traceback" not in err


def test_a_few_items_run_in_this_process_even_with_jobs():
    """Starting workers costs more than a few files take: fewer than POOL_MIN_ITEMS stay here."""
    import os

    from pool_helpers import pid_of_converter

    seen = []
    items = list(range(runner.POOL_MIN_ITEMS - 1))
    runner.run(pid_of_converter, items, jobs=2, on_result=lambda i, r: seen.append(r))
    assert seen == [os.getpid()] * len(items)
    seen.clear()
    items = list(range(runner.POOL_MIN_ITEMS * 3))
    runner.run(pid_of_converter, items, jobs=2, on_result=lambda i, r: seen.append(r))
    assert os.getpid() not in seen  # enough work: the pool


def test_workers_are_not_forked_where_the_pool_forks_them_on_demand(monkeypatch):
    """Before CPython 3.10.5 (gh-90622) a ProcessPoolExecutor with the "fork" start method forks
    its second and later workers on demand, after its manager thread has started: a fork from a
    process running another thread, which maskcli's forking must never do."""
    import sys

    monkeypatch.setattr(runner, "_caught", True)
    monkeypatch.setattr(runner.sys, "platform", "linux")
    monkeypatch.delenv("MASKCLI_POOL_START", raising=False)
    monkeypatch.setattr(sys, "version_info", (3, 10, 4, "final", 0))
    assert not runner._fork_wanted()
    monkeypatch.setattr(sys, "version_info", (3, 10, 5, "final", 0))
    assert runner._fork_wanted()
