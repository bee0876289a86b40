"""The only place that knows about worker processes, signals and progress bars.

``run(fn, items, ...)`` calls ``fn(item, *args)`` for every item, in-process or in a pool of
worker processes, and hands each result to ``on_result`` in the parent, in item order, so runs
are deterministic whatever the number of workers. Items are sent to the workers in batches
(fewer round trips for small files); the run's arguments are sent to each worker once.

Ctrl-C (SIGINT) and SIGTERM: workers ignore SIGINT; the parent stops the pool, each worker
removes the temporary file it was writing and exits, and ``run`` raises :class:`Interrupted`
(exit status 128 + signal number).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
from collections import deque
from contextlib import contextmanager

from maskcli.errors import MaskcliError

LOST = "the worker process converting it died (killed, or out of memory?)"


class PoolFailure(MaskcliError):
    """Worker processes die whatever they are given: the run cannot go on."""


class Interrupted(Exception):
    """The run was stopped by a signal; ``exit_code`` is 128 + its number."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.exit_code = 128 + signum


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity), not all the machine has."""
    if hasattr(os, "process_cpu_count"):
        return os.process_cpu_count() or 1
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def batch_size(n_items: int, workers: int) -> int:
    """Items per task: about 8 tasks per worker, at most 32 items a task."""
    return max(1, min(32, n_items // (workers * 8)))


# --------------------------------------------------------------------------- workers

_task = None


def _worker_init(fn, args) -> None:
    global _task
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides what Ctrl-C means
    signal.signal(signal.SIGTERM, _worker_stop)
    import cv2

    from maskcli.masks import warm_up

    cv2.setNumThreads(1)  # one worker per core already; OpenCV threads would compete
    warm_up()
    _task = (fn, args)


def _worker_stop(signum, frame) -> None:
    from maskcli.masks import discard_temp_files

    discard_temp_files()
    os._exit(128 + signum)


def _run_batch(batch):
    fn, args = _task
    return [fn(item, *args) for item in batch]


def _pool_context():
    # forkserver: workers are not forked from a parent that runs threads (tqdm, the pool's
    # manager thread), and start faster than with spawn. Elsewhere the platform's default.
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" in methods:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["maskcli.tasks", "maskcli.convert", "maskcli.masks", "cv2", "PIL.PngImagePlugin"])
        return ctx
    return multiprocessing.get_context()


# --------------------------------------------------------------------------- running


@contextmanager
def _signals_raise_interrupted():
    def on_term(signum, frame):
        raise Interrupted(signum)

    try:
        old = signal.signal(signal.SIGTERM, on_term)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    except KeyboardInterrupt:
        raise Interrupted(signal.SIGINT) from None
    finally:
        signal.signal(signal.SIGTERM, old)


def run(fn, items, *, args=(), jobs: int = 1, on_result, lost_result=LOST, scheduler: str | None = None,
        on_crash=None) -> None:
    """Call ``fn(item, *args)`` for each item and ``on_result(item, result)`` in item order.

    ``jobs == 1`` (or a single item) runs in this process. A worker process that dies makes
    ``lost_result`` the result of the item it was on, and the run goes on with a new pool.
    With ``scheduler`` (a Dask distributed address) the items run on that cluster instead.
    ``on_crash(items, pids)`` is called when worker processes ``pids`` died while holding
    ``items``, so the caller can remove what they left half-done. Raises
    :class:`Interrupted` on SIGINT or SIGTERM.
    """
    items = list(items)
    with _signals_raise_interrupted():
        if scheduler:
            _run_dask(fn, items, args, scheduler, on_result, lost_result)
            return
        if jobs <= 1 or len(items) <= 1:
            for item in items:
                on_result(item, fn(item, *args))
            return
        _run_pool(fn, items, args, min(jobs, len(items)), on_result, lost_result, on_crash)


def _run_pool(fn, items, args, workers, on_result, lost_result, on_crash=None) -> None:
    """The pool loop. When a worker dies, the items that were in flight are run again one at
    a time in a fresh pool, so only the item that kills a worker again is reported lost."""
    from concurrent.futures import Future, ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    size = batch_size(len(items), workers)
    starts = iter(range(0, len(items), size))
    suspects: deque = deque()  # items to rerun alone after a worker died
    inflight: deque = deque()  # (batch, future, alone)
    deaths_in_a_row = 0

    def new_pool():
        return ProcessPoolExecutor(workers, mp_context=_pool_context(), initializer=_worker_init, initargs=(fn, args))

    def fill(pool) -> None:
        while True:
            alone = bool(suspects) or any(a for _, _, a in inflight)
            if len(inflight) >= (1 if alone else 2 * workers):
                return
            if suspects:
                batch = [suspects.popleft()]
            else:
                start = next(starts, None)
                if start is None:
                    return
                batch = items[start : start + size]
            try:
                future = pool.submit(_run_batch, batch)
            except BrokenProcessPool as exc:  # a worker died since the last result: the loop
                future = Future()  # below handles this batch with the others it held
                future.set_exception(exc)
            inflight.append((batch, future, alone))

    def pids(pool) -> set:
        return set((getattr(pool, "_processes", None) or {}).keys())

    pool = new_pool()
    try:
        fill(pool)
        workers_pids = pids(pool)
        while inflight:
            batch, future, alone = inflight.popleft()
            try:
                results = future.result()
            except BrokenProcessPool:
                pool.shutdown(wait=False, cancel_futures=True)
                held = [item for b in [batch, *(b for b, _, _ in inflight)] for item in b]
                if on_crash is not None:
                    on_crash(held, workers_pids | pids(pool))
                if alone:  # it killed a worker on its own: report it and go on
                    on_result(batch[0], lost_result)
                    deaths_in_a_row += 1
                    if deaths_in_a_row >= 5:
                        raise PoolFailure("worker processes keep dying (5 files in a row); stopping") from None
                else:
                    suspects.extend(held)
                inflight.clear()
                pool = new_pool()
                fill(pool)
                workers_pids = pids(pool)
                continue
            if alone:
                deaths_in_a_row = 0
            for item, result in zip(batch, results):
                on_result(item, result)
            fill(pool)
            workers_pids |= pids(pool)
    except (KeyboardInterrupt, Interrupted):
        _deliver_finished(inflight, on_result)  # files written before the stop still count
        _stop_pool(pool)
        raise
    except BaseException:
        _stop_pool(pool)
        raise
    pool.shutdown(wait=True)


def _deliver_finished(inflight, on_result) -> None:
    """Hand over the results of the batches that finished before a run was stopped."""
    try:
        for batch, future, _ in inflight:
            if future.done() and not future.cancelled() and future.exception() is None:
                for item, result in zip(batch, future.result()):
                    on_result(item, result)
    except (KeyboardInterrupt, Interrupted):  # a second Ctrl-C: stop counting
        pass


def _dask_batch(fn, args, batch):
    return [fn(item, *args) for item in batch]


def _run_dask(fn, items, args, address, on_result, lost_result) -> None:
    """The same loop on a Dask distributed cluster: batches in flight, results in order. Dask
    retries a task whose worker died; a batch that still fails loses its items."""
    try:
        from distributed import Client
    except ImportError:
        from maskcli.errors import UsageError

        raise UsageError("--scheduler needs Dask distributed: pip install 'maskcli[dask]'") from None
    try:
        client = Client(address, timeout="20s", set_as_default=False)
    except (OSError, ValueError) as exc:
        from maskcli.errors import UsageError

        raise UsageError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
    try:
        workers = max(1, sum(client.nthreads().values()))
        size = batch_size(len(items), workers)
        starts = iter(range(0, len(items), size))
        [shared_args] = client.scatter([args], broadcast=True, hash=False)
        inflight: deque = deque()

        def fill():
            while len(inflight) < 2 * workers:
                start = next(starts, None)
                if start is None:
                    return
                batch = items[start : start + size]
                inflight.append((batch, client.submit(_dask_batch, fn, shared_args, batch, pure=False)))

        fill()
        while inflight:
            batch, future = inflight.popleft()
            try:
                results = future.result()
            except Exception:  # KilledWorker after Dask's retries, or a lost connection
                results = [lost_result] * len(batch)
            for item, result in zip(batch, results):
                on_result(item, result)
            fill()
    except BaseException:
        for _, future in list(locals().get("inflight", ())):
            future.cancel()
        raise
    finally:
        client.close()


def _stop_pool(pool) -> None:
    """Stop every worker now; each removes its temporary file before it exits."""
    pool.shutdown(wait=False, cancel_futures=True)
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for p in processes:
        if p.is_alive():
            p.terminate()
    for p in processes:
        p.join(timeout=5)
        if p.is_alive():  # pragma: no cover - a worker stuck in C code
            p.kill()
            p.join(timeout=5)


# --------------------------------------------------------------------------- progress


class Progress:
    """A tqdm bar on stderr (off when stderr is not a terminal or when quiet); ``write``
    prints a message line without breaking the bar."""

    def __init__(self, total: int, desc: str, enabled: bool):
        self._bar = None
        if enabled and total > 1 and sys.stderr.isatty():
            from tqdm import tqdm

            tqdm.monitor_interval = 0  # no monitor thread
            self._bar = tqdm(total=total, desc=desc, unit="file", file=sys.stderr, leave=False)

    def update(self, n: int = 1) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def write(self, message: str) -> None:
        if self._bar is not None:
            self._bar.write(message, file=sys.stderr)
        else:
            print(message, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
