"""The only place that knows about worker processes, signals and progress bars.

``run(fn, items, ...)`` calls ``fn(item, *args)`` for every item, in-process or in a pool of
worker processes, and hands each result to ``on_result`` in the parent, in item order, so runs
are deterministic whatever the number of workers. Items are sent to the workers in batches
(fewer round trips for small files); the run's arguments are sent to each worker once.

Signals (SIGINT, SIGTERM). The command line calls :func:`catch_signals` first thing. From then
on the first signal is noted, not raised, so it cannot land half-way through anything: ``run``
looks for it between files (every file it reports is on disk and every file on disk that it
wrote is reported), and :func:`interruptible` regions (listing inputs, reading stdin: work that
may block and leaves nothing behind) raise :class:`Interrupted` (exit status 128 + the signal's
number) at once. Signals after the first are ignored: the run is already stopping, and stopping
is bounded (except that a second one gives up a file being converted in this process, say a read
that does not end). :func:`settle` ends the run: it says whether a signal came, and from then on
signals change nothing (the summary and report being written stay true).

Worker processes never see Ctrl-C (SIGINT is blocked in the fork server and the workers); a
SIGTERM makes a worker finish the file it is on and take no more. The parent stops its workers
the same way, collects what they finished, and waits for them to exit. Workers also watch a
pipe from the parent: when the parent dies (even by SIGKILL) they remove their temporary file
and exit, so nothing is left running and holding the terminal or a pipe.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import weakref
from collections import deque
from contextlib import contextmanager

from maskcli.errors import MaskcliError

LOST = "the worker process converting it died (killed, or out of memory?)"
STOP_GRACE = 20.0  # seconds stopping workers get to finish the file they are on, then they are killed
POLL = 0.1  # seconds between looks for a signal while waiting for workers
POOL_MIN_ITEMS = 4  # fewer items run in this process: a pool's start-up (~0.3 s) would cost more


class PoolFailure(MaskcliError):
    """Worker processes die whatever they are given: the run cannot go on."""


class _PoolUnavailable(Exception):
    """Worker processes cannot be started at all (no result came back yet)."""

    rest = ()  # the items not handed over yet, to run in this process instead


class Interrupted(BaseException):
    """The run was stopped by a signal; ``exit_code`` is 128 + its number.

    A BaseException, like KeyboardInterrupt, so that no per-file ``except Exception`` can
    take it for a file's failure."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.exit_code = 128 + signum


# --------------------------------------------------------------------------- signals

_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_caught = False  # catch_signals() was called: the handlers stay for the life of the process
_received: int | None = None  # the first signal
_mode = "defer"  # "defer": note it (run looks); "raise": raise Interrupted; "settled": ignore it
_abandon = False  # a file is being converted in this process: a second signal gives it up


def _on_signal(signum, frame) -> None:
    global _received, _abandon
    if _received is not None or _mode == "settled":
        if _abandon and _mode != "settled":  # e.g. a read that never ends: give the file up
            _abandon = False
            raise Interrupted(_received)
        return  # already stopping (or done): a second Ctrl-C must not break the clean-up
    _received = signum
    if _mode == "raise":
        raise Interrupted(signum)


def catch_signals() -> None:
    """Handle SIGINT and SIGTERM as described above, for the rest of this process (the CLI)."""
    global _caught, _received, _mode
    if _caught or threading.current_thread() is not threading.main_thread():
        return
    for sig in _SIGNALS:
        signal.signal(sig, _on_signal)
    _caught, _received, _mode = True, None, "defer"


def release_signals() -> None:
    """The process is exiting: ignore SIGINT and SIGTERM from now on. (Python puts the default
    handlers back while it shuts down, and a late second Ctrl-C would then kill the process
    with a different status than the one the summary was printed for.)"""
    if _caught:
        for sig in _SIGNALS:
            signal.signal(sig, signal.SIG_IGN)


def settle() -> Interrupted | None:
    """The run is over: the signal that stopped it (or came before now), if any. Later signals
    are ignored, so what is then written about the run stays true."""
    global _mode
    if not _caught:
        return None
    _mode = "settled"
    return Interrupted(_received) if _received is not None else None


@contextmanager
def interruptible():
    """Within (after catch_signals): a signal raises Interrupted at once (for listing inputs, reading
    stdin: work that leaves nothing behind and may block)."""
    global _mode
    if not _caught or _mode != "defer":
        yield
        return
    stop = _stop_asked()
    if stop is not None:
        raise stop
    _mode = "raise"
    try:
        yield
    finally:
        if _mode == "raise":
            _mode = "defer"


def _stop_asked() -> Interrupted | None:
    return Interrupted(_received) if _received is not None else None


@contextmanager
def _deferred():
    """Within: signals are noted, not raised (``run`` looks at safe points). Without
    catch_signals (the library, tests), handlers are installed for the while and the noted
    signal is raised as Interrupted on the way out."""
    global _mode, _received
    if _caught:  # signals are noted already
        yield
        return
    try:
        old = {sig: signal.signal(sig, _on_signal) for sig in _SIGNALS}
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    _mode, _received = "defer", None
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        stop, _received = _received, None
    if stop is not None:
        raise Interrupted(stop)


@contextmanager
def _signals_blocked():
    """Block SIGINT and SIGTERM in this thread for the while; processes started meanwhile
    inherit the mask (a signal that arrives is delivered when the block ends)."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


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


BATCH_BYTES = 16 * 1024  # input bytes per batch: a 2-megapixel mask (17-100 KB) travels alone
READY_BATCH = 256  # decided items (Ready) handed over together


class Ready:
    """An item whose result is known without running it (a file that is up to date, a folder
    that could not be listed): ``run`` hands ``result`` to ``on_result`` for ``item`` in its
    turn, in item order, without sending it to a worker."""

    __slots__ = ("item", "result")

    def __init__(self, item, result):
        self.item = item
        self.result = result


def _input_bytes(item) -> int:
    """The size of the file an item names (a path, or a (source, output) pair), 0 when it
    cannot be known cheaply (a remote URL, a vanished file)."""
    path = item[0] if isinstance(item, tuple) and item else item
    if not isinstance(path, (str, bytes, os.PathLike)) or "://" in str(path):
        return 0
    try:
        return os.stat(path).st_size
    except (OSError, ValueError):
        return 0


def batches(items, workers: int):
    """Yield the items in batches for ``workers`` workers: the first batch of each worker holds
    one item (the first outputs come at once), later ones about :data:`BATCH_BYTES` of input
    (judged by the size of the batch's first file) and at most :func:`batch_size` items.
    Large files therefore travel one at a time (the progress bar moves file by file) while
    tiny ones share a round trip.

    ``items`` may be a list or a lazy iterator (a walk that is still going): for an iterator
    the number of items found so far stands in for the total in :func:`batch_size`, so batches
    grow as the walk finds more. :class:`Ready` items come in batches of their own."""
    known = len(items) if isinstance(items, (list, tuple)) else None
    source = iter(items)
    seen = 0
    pending = []  # one item read ahead that belongs to the next batch

    def take():
        nonlocal seen
        if pending:
            return pending.pop()
        item = next(source, _END)
        if item is not _END:
            seen += 1
        return item

    started = 0
    while True:
        item = take()
        if item is _END:
            return
        if isinstance(item, Ready):
            batch = [item]
            while len(batch) < READY_BATCH:
                nxt = take()
                if nxt is _END:
                    break
                if not isinstance(nxt, Ready):
                    pending.append(nxt)
                    break
                batch.append(nxt)
            yield batch
            continue
        batch = [item]
        if started < workers:  # each worker's first batch: one item
            started += 1
            yield batch
            continue
        most = batch_size(known if known is not None else seen, workers)
        # The batch's first file stands for the others (one stat a batch, not one a file:
        # files met together are of one folder, and of one kind): a large one travels alone.
        most = min(most, max(1, BATCH_BYTES // max(1, _input_bytes(item))))
        while len(batch) < most:
            nxt = take()
            if nxt is _END:
                break
            if isinstance(nxt, Ready):
                pending.append(nxt)
                break
            batch.append(nxt)
        yield batch


_END = object()


# --------------------------------------------------------------------------- memory

# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
# Buffers up to this size come from (and go back to) the heap. 32 MiB is also the most older
# glibc releases take (HEAP_MAX_SIZE / 2 on 64-bit; 2.26's malloc.c returns 0 for more).
_KEEP_BELOW = 32 << 20
# Freed memory at the top of the heap kept for reuse, at most: a process then stays up to this
# much above what it uses (a worker that met one large file does not hold its peak for good).
_TRIM_ABOVE = 64 << 20


def keep_freed_memory() -> bool:
    """Make glibc's malloc keep the memory of freed buffers for the next file (Linux with
    glibc; elsewhere nothing is done and False returned).

    Every file brings buffers of a few MB (the file, its inflated scanlines, the decoded image,
    the index map, the encoded output). By default glibc maps each of them fresh from the
    kernel and unmaps it when freed, so that the next file's buffers fault in every page again:
    a page fault costs 2-3 us here (a virtual machine), about 3,000 of them per 2 MP color mask.
    With buffers up to 32 MiB served from the heap, and up to 64 MiB of freed heap kept, the
    pages are reused instead (docs/performance.md); the cost is that a process stays up to
    64 MiB above the memory it uses. Only maskcli's own processes do this (the command line
    and its workers): a program that imports maskcli keeps its allocator as set."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
        if not hasattr(libc, "gnu_get_libc_version"):  # musl has mallopt, as a no-op
            return False
    except (OSError, AttributeError, ImportError):
        return False
    trim = mallopt(_M_TRIM_THRESHOLD, _TRIM_ABOVE)  # each on its own: one refused must not
    mmap = mallopt(_M_MMAP_THRESHOLD, _KEEP_BELOW)  # leave the other unset
    return bool(trim) and bool(mmap)


# --------------------------------------------------------------------------- workers

_task = None
_CANNOT_START = 75  # a worker's exit status when it cannot start its thread (sysexits' EX_TEMPFAIL)
_stopping = False  # this worker got SIGTERM: finish the current item, take no more


def _worker_init(fn, args, lifeline=None, keep=None) -> None:
    global _task
    if keep is not None:  # forked: the parent's end of the lifeline came along; only it may hold it
        keep.close()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides what Ctrl-C means
    signal.signal(signal.SIGTERM, _worker_stop)
    if hasattr(signal, "pthread_sigmask"):  # blocked while the process started (see _pool_context)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    if lifeline is not None:
        try:
            threading.Thread(target=_watch_parent, args=(lifeline,), daemon=True).start()
        except RuntimeError:  # can't start new thread: the user's process limit (RLIMIT_NPROC)
            # A worker that cannot watch its parent could outlive it (holding its files and the
            # terminal): exit before taking any work, quietly; the parent, seeing this status,
            # converts in its own process (see _Pool.start_failure).
            os._exit(_CANNOT_START)
    keep_freed_memory()  # a forked worker has it from the parent; one from the fork server not
    import cv2

    from maskcli.masks import warm_up

    cv2.setNumThreads(1)  # one worker per core already; OpenCV threads would compete
    warm_up()
    _task = (fn, args)


def _worker_stop(signum, frame) -> None:
    global _stopping
    _stopping = True


def _watch_parent(lifeline) -> None:
    """Wait for the parent's end of the pipe to close: the parent is gone (killed, perhaps by
    SIGKILL). Then remove the temporary file this worker is writing and exit at once."""
    try:
        while True:
            lifeline.recv_bytes()
    except (EOFError, OSError):
        pass
    from maskcli.masks import discard_temp_files

    discard_temp_files()
    os._exit(1)


def _run_batch(batch):
    """The results of the batch's items, in order; fewer than the items when the worker was
    told to stop (it finishes the item it is on first, so every result is a file on disk)."""
    fn, args = _task
    results = []
    for item in batch:
        if _stopping:
            break
        results.append(fn(item, *args))
    return results


_PRELOAD = ("maskcli.tasks", "maskcli.convert", "maskcli.masks", "cv2", "pyspng", "zlib_ng.zlib_ng",
            "PIL.PngImagePlugin")


def _fork_wanted() -> bool:
    """Whether this process may fork its workers itself: the command line owns it (it called
    :func:`catch_signals`; a library caller's process is not ours to fork), it runs on Linux,
    and ``MASKCLI_POOL_START`` does not ask for the fork server. Not before CPython 3.10.5: its
    ProcessPoolExecutor forks the second and later workers on demand, after its manager thread
    has started (gh-90622), i.e. from a process that runs another thread."""
    return (_caught and sys.platform == "linux" and tuple(sys.version_info[:3]) >= (3, 10, 5)
            and os.environ.get("MASKCLI_POOL_START", "fork") != "forkserver")


def _wait_single_threaded(most: float = 2.0) -> None:
    """Wait (``most`` seconds at most) until this process runs one thread again: a thread that
    was joined may still be listed in /proc/self/task for a moment (join returns just before
    the thread exits), and under load that moment is long enough for the next pool to find a
    second thread there and take the fork server."""
    deadline = time.monotonic() + most
    while not _single_threaded() and time.monotonic() < deadline:
        time.sleep(0.005)


def _single_threaded() -> bool:
    """This process runs one thread, native ones included (OpenCV's and OpenBLAS's pools,
    an S3 client's event loop): only then is forking it safe (a lock another thread held
    would stay locked in the child)."""
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return False


_prepared = False


def _prepare_fork() -> None:
    """Import what workers need, and set the codecs up, in this process (once): forked
    workers inherit all of it and start converting at once."""
    global _prepared
    if _prepared:
        return
    import importlib

    for name in _PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:  # pyspng is optional
            pass
    from maskcli.masks import warm_up

    warm_up()
    _prepared = True


def _pool_context():
    """``(context, forked)``: how workers are started. On Linux the command line forks them
    from itself when it runs a single thread, after importing OpenCV and the decoders (see
    :func:`_prepare_fork`): a worker then costs a fork, not an interpreter and its imports.
    Otherwise multiprocessing's fork server (workers are not forked from a parent that runs
    threads, and start faster than with spawn); elsewhere the platform's default."""
    import multiprocessing

    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and _fork_wanted():
        _prepare_fork()
        if _single_threaded():
            return multiprocessing.get_context("fork"), True
    from multiprocessing import spawn

    exe = spawn.get_executable()  # what the fork server (or spawn) runs
    if exe and not os.access(exe, os.X_OK):
        raise _PoolUnavailable(f"{os.fsdecode(exe)} cannot be run by this user")
    if "forkserver" in methods:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["maskcli._forkserver", *_PRELOAD])
        from multiprocessing import forkserver, resource_tracker

        # Start the helpers with SIGINT and SIGTERM blocked: they and the workers the fork server
        # forks inherit that, so Ctrl-C (sent to the whole process group by a terminal) cannot
        # hit them while they start (no KeyboardInterrupt tracebacks from imports), and a
        # SIGTERM waits for the worker's handler. The resource tracker unblocks both when it
        # starts itself, so it goes first.
        _adopt_orphans()
        resource_tracker.ensure_running()
        with _signals_blocked():
            forkserver.ensure_running()
        return ctx, False
    return multiprocessing.get_context(), False


_adopted: set = set()  # workers the fork server started: reaped here when it died before them
_PR_SET_CHILD_SUBREAPER = 36  # linux/prctl.h


def _adopt_orphans() -> None:
    """Linux, the command line only: orphans of the processes this one starts become its
    children (it is their "subreaper"). When the fork server dies before its workers (its
    fork() failed under a process limit), :func:`_stop_helpers` can then reap them; left to an
    init process that does not reap orphans (some containers), they would stay as zombies,
    each one counted against the user's process limit."""
    if not (_caught and sys.platform.startswith("linux")):
        return
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


# --------------------------------------------------------------------------- running


def prestart(jobs: int) -> None:
    """Get ready for a run with ``jobs`` workers that will begin after some other work
    (listing the inputs). Where workers are forked from this process, import what they need
    now; otherwise start multiprocessing's fork server (and resource tracker), which imports
    OpenCV and the decoders while that work goes on, so the first workers start at once. The
    caller must call :func:`stop_helpers` when the run is over (whether a pool was used or
    not). Does nothing for ``jobs <= 1``, or where workers cannot be started (``run`` says so
    later, when it needs them)."""
    if jobs <= 1:
        return
    try:
        _pool_context()  # forking: the imports only; otherwise the fork server starts
    except (OSError, _PoolUnavailable):
        pass


def stop_helpers() -> None:
    """Stop and reap the fork server and resource tracker, if they run (see :func:`prestart`)."""
    _stop_helpers()


def run(fn, items, *, args=(), jobs: int = 1, on_result, lost_result=LOST, scheduler: str | None = None,
        on_crash=None) -> None:
    """Call ``fn(item, *args)`` for each item and ``on_result(item, result)`` in item order.

    ``jobs == 1``, or fewer than :data:`POOL_MIN_ITEMS` items, runs in this process (starting
    workers costs more than converting a few files). A worker process that dies makes
    ``lost_result`` the result of the item it was on, and the run goes on with a new pool.
    With ``scheduler`` (a Dask distributed address) the items run on that cluster instead.
    ``on_crash(items, pids)`` is called when worker processes ``pids`` died while holding
    ``items``, so the caller can remove what they left half-done. Raises
    :class:`Interrupted` on SIGINT or SIGTERM, after handing over every result that was
    finished (the item being converted in this process is finished first).
    """
    with _deferred():
        stop = _stop_asked()
        if stop is not None:
            raise stop
        if scheduler:
            _run_dask(fn, items, args, scheduler, on_result, lost_result)
            return
        if jobs <= 1:
            _run_here(fn, items, args, on_result)
            return
        items, few = _peek(items, POOL_MIN_ITEMS)
        if few:
            _run_here(fn, items, args, on_result)
            return
        try:
            _run_pool(fn, items, args, jobs, on_result, lost_result, on_crash)
        except _PoolUnavailable as exc:
            print(f"warning: cannot start worker processes ({exc}); converting in this process",
                  file=sys.stderr, flush=True)
            _run_here(fn, exc.rest, args, on_result)


def _peek(items, n: int):
    """``(items, whether there are fewer than n)``; an iterator is read ahead by up to n
    items (kept, not lost) to find out."""
    if isinstance(items, (list, tuple)):
        return items, len(items) < n
    import itertools

    source = iter(items)
    head = list(itertools.islice(source, n))
    return itertools.chain(head, source), len(head) < n


def _unwrap(item):
    return item.item if isinstance(item, Ready) else item


def _run_here(fn, items, args, on_result) -> None:
    global _abandon
    for item in items:
        stop = _stop_asked()
        if stop is not None:
            raise stop
        if isinstance(item, Ready):
            on_result(item.item, item.result)
            continue
        _abandon = True
        try:
            result = fn(item, *args)
        finally:
            _abandon = False
        on_result(item, result)


class _Pool:
    """A ProcessPoolExecutor, its worker processes (known before shutdown forgets them) and the
    lifeline pipe whose far end the workers watch."""

    def __init__(self, fn, args, workers):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        try:
            ctx, forked = _pool_context()
        except OSError as exc:  # the interpreter cannot be started again (permissions, limits)
            raise _PoolUnavailable(exc.strerror or str(exc)) from None
        self.lifeline, self._keep = multiprocessing.Pipe(duplex=False)
        self.executor = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_init,
                                            initargs=(fn, args, self.lifeline, self._keep if forked else None))
        self.processes: dict = {}
        self._thread = None  # the executor's own thread (its shutdown forgets it)
        self.forked = forked
        self._thread_failed = None  # why the executor's own thread died, when it could not start a thread
        self._hook = _quiet_thread_failure(weakref.ref(self), threading.excepthook)
        threading.excepthook = self._hook

    def submit(self, batch):
        try:
            with _signals_blocked():  # a worker started now inherits the mask (see _pool_context)
                future = self.executor.submit(_run_batch, batch)
        except Exception as exc:
            reason = _start_failure(exc)
            if reason is None:
                raise
            raise _PoolUnavailable(reason) from None
        finally:  # also the workers started before one failed: stop() must end them
            self.processes.update(getattr(self.executor, "_processes", None) or {})
            self._thread = self._thread or getattr(self.executor, "_executor_manager_thread", None)
            if not self.forked:
                _adopted.update(self.processes)
        return future

    def check(self) -> None:
        """Raise :class:`_PoolUnavailable` when the executor's thread died because it could
        not start a thread: no batch would ever be sent to a worker (the run would hang)."""
        if self._thread_failed is not None:
            raise _PoolUnavailable(self._thread_failed)

    def start_failure(self) -> str | None:
        """After stop(): why the pool broke, when a worker exited because it could not start
        its thread (:data:`_CANNOT_START`), not because of a file it was converting."""
        if any(p.exitcode == _CANNOT_START for p in self.processes.values()):
            return "a worker process cannot start a thread"
        if not self.forked and _fork_server_exited():  # every worker it started looks dead
            return "the fork server exited"
        return None

    def pids(self) -> set:
        return set(self.processes)

    def stop(self, how: str) -> None:
        """End the workers: "graceful" asks each to finish its item (SIGTERM); "kill" kills
        them. Returns when they are gone (killing those that take longer than STOP_GRACE)."""
        self.executor.shutdown(wait=False, cancel_futures=True)
        procs = list(self.processes.values())
        for p in procs:
            if p.is_alive():
                p.kill() if how == "kill" else p.terminate()
        deadline = time.monotonic() + STOP_GRACE
        for p in procs:
            p.join(timeout=max(0.0, deadline - time.monotonic()))
            if p.is_alive():  # stuck in C code, or on a read that does not end
                p.kill()
                p.join(timeout=5)

    def close(self) -> None:
        """After stop(): let the executor's thread finish, close our end of the lifeline."""
        if self._thread is not None and self._thread.ident is not None:
            self._thread.join(timeout=5)
        self._keep.close()
        self.lifeline.close()
        if threading.excepthook is self._hook:
            threading.excepthook = self._hook.previous


def _quiet_thread_failure(pool_ref, previous):
    """A threading.excepthook for while a pool lives: its executor's thread dying because it
    cannot start its queue's thread (a process limit) is noted for :meth:`_Pool.check`, not
    printed as a traceback; anything else goes to ``previous``. The pool is held weakly: every
    thread started meanwhile keeps the hook, and must not keep the pool's queues alive."""

    def hook(hook_args) -> None:
        pool = pool_ref()
        reason = _start_failure(hook_args.exc_value)
        if (pool is not None and reason is not None
                and hook_args.thread is getattr(pool.executor, "_executor_manager_thread", None)):
            pool._thread_failed = reason
            return
        previous(hook_args)

    hook.previous = previous
    return hook


def _checker(pool):
    """``pool.check`` without holding the pool: the frame it is called from may outlive the
    pool in an error's traceback."""
    pool_ref = weakref.ref(pool)

    def check() -> None:
        alive = pool_ref()
        if alive is not None:
            alive.check()

    return check


def _fork_server_exited() -> bool:
    """Whether multiprocessing's fork server (this process's child) has exited, say because its
    fork() failed; it is not reaped here (multiprocessing and _stop_helpers do that)."""
    forkserver = sys.modules.get("multiprocessing.forkserver")
    pid = getattr(getattr(forkserver, "_forkserver", None), "_forkserver_pid", None)
    if pid is None or not hasattr(os, "waitid"):
        return False
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return False


def _start_failure(exc) -> str | None:
    """The reason, when ``exc`` says that a worker process (or a thread a pool needs) could not
    be started: fork() failing (EAGAIN under a per-user process limit, ENOMEM), a thread that
    cannot start, multiprocessing's fork server gone (it dies when its own fork() fails)."""
    from concurrent.futures import BrokenExecutor

    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    if isinstance(exc, EOFError):  # the fork server closed the pipe instead of sending the pid
        return "the fork server exited"
    if isinstance(exc, RuntimeError) and not isinstance(exc, BrokenExecutor) and "start new thread" in str(exc):
        return "cannot start a thread"
    return None


def _result(future, between=None):
    """Wait for a batch's results, looking for a signal every POLL seconds (and calling
    ``between()``, which may raise, at each look)."""
    while True:
        stop = _stop_asked()
        if stop is not None:
            raise stop
        try:
            return future.result(timeout=POLL)
        except TimeoutError:  # concurrent.futures' and Dask's are this one
            if between is not None:
                between()


def _run_pool(fn, items, args, workers, on_result, lost_result, on_crash=None) -> None:
    """The pool loop. When a worker dies, the items that were in flight are run again one at
    a time in a fresh pool, so only the item that kills a worker again is reported lost."""
    from concurrent.futures import Future
    from concurrent.futures.process import BrokenProcessPool

    if isinstance(items, (list, tuple)):
        workers = min(workers, len(items))
    cut = batches(items, workers)
    suspects: deque = deque()  # items to rerun alone after a worker died
    inflight: deque = deque()  # (batch, future, alone)
    deaths_in_a_row = 0
    # A worker died converting (or was stopped): from then on a pool that cannot start is a
    # failure, not a reason to convert here (the file that killed a worker could kill maskcli).
    # Before, workers that cannot be started (a process limit) leave the rest to this process.
    crashed = False

    def fill(pool) -> None:
        while True:
            alone = bool(suspects) or any(a for _, _, a in inflight)
            if len(inflight) >= (1 if alone else 2 * workers):
                return
            if suspects:
                batch = [suspects.popleft()]
            else:
                batch = next(cut, None)
                if batch is None:
                    return
            if isinstance(batch[0], Ready):  # decided already: no worker needed
                future = Future()
                future.set_result([r.result for r in batch])
                inflight.append((batch, future, False))
                continue
            try:
                future = pool.submit(batch)
            except BrokenProcessPool as exc:  # a worker died since the last result: the loop
                future = Future()  # below handles this batch with the others it held
                future.set_exception(exc)
            except _PoolUnavailable as exc:  # the fork server, a worker or a thread could not start
                if crashed:
                    raise PoolFailure(f"cannot start worker processes: {exc}") from None
                exc.rest = _rest([*(b for b, _, _ in inflight), batch], cut)
                inflight.clear()
                raise
            inflight.append((batch, future, alone))

    def hand_over(batch, results) -> None:
        for item, result in zip(batch, results):
            on_result(_unwrap(item), result)

    try:
        pool = _Pool(fn, args, workers)
    except _PoolUnavailable as exc:
        _stop_helpers()  # the resource tracker may have started before the fork server could not
        exc.rest = _rest([], cut)
        raise
    try:
        fill(pool)
        while inflight:
            batch, future, alone = inflight[0]
            try:
                try:
                    results = _result(future, _checker(pool))
                except _PoolUnavailable as exc:  # the pool's thread could not start its own
                    exc.rest = _rest([b for b, _, _ in inflight], cut)
                    inflight.clear()
                    raise
                if len(results) < len(batch):  # its worker got SIGTERM: what it did is on disk
                    inflight.popleft()
                    hand_over(batch, results)
                    stop = _stop_asked()
                    if stop is not None:  # SIGTERM to the whole group: we stop too
                        raise stop
                    batch, alone = batch[len(results):], False  # a SIGTERM for the worker alone:
                    inflight.appendleft((batch, future, alone))  # replace the pool, rerun the rest
                    raise BrokenProcessPool("a worker was stopped")
            except BrokenProcessPool:
                inflight.popleft()
                pool.stop("kill")  # the rest of the old pool, so nothing writes behind our back
                pool.close()
                held = [item for b in [batch, *(b for b, _, _ in inflight)] for item in b]
                if on_crash is not None:
                    on_crash([i for i in held if not isinstance(i, Ready)], pool.pids())
                failed = pool.start_failure()
                if failed is not None:  # a worker could not start: the files are not to blame
                    unavailable = _PoolUnavailable(failed)
                    unavailable.rest = _rest([batch, *(b for b, _, _ in inflight)], cut)
                    inflight.clear()
                    raise unavailable
                crashed = True
                if alone:  # it killed a worker on its own: report it and go on
                    on_result(_unwrap(batch[0]), lost_result)
                    deaths_in_a_row += 1
                    if deaths_in_a_row >= 5:
                        raise PoolFailure("worker processes keep dying (5 files in a row); stopping") from None
                else:
                    suspects.extend(held)
                inflight.clear()
                if pool.forked:  # the new pool forks too once the old one's threads are gone
                    _wait_single_threaded()
                try:
                    pool = _Pool(fn, args, workers)
                except _PoolUnavailable as exc:  # it worked before: not a reason to go on alone
                    raise PoolFailure(f"cannot start worker processes again: {exc}") from None
                fill(pool)
                continue
            inflight.popleft()
            if alone:
                deaths_in_a_row = 0
            hand_over(batch, results)
            fill(pool)
        pool.executor.shutdown(wait=True)
        pool.close()
    except BaseException as exc:
        stop = exc if isinstance(exc, Interrupted) else _stop_asked()
        if stop is None:
            pool.stop("kill")
            if on_crash is not None:
                on_crash([i for b, _, _ in inflight for i in b if not isinstance(i, Ready)], pool.pids())
            pool.close()
            if isinstance(exc, _PoolUnavailable) and crashed:  # a replacement pool failed
                raise PoolFailure(f"cannot start worker processes again: {exc}") from None
            if isinstance(exc, (_PoolUnavailable, PoolFailure)):  # its traceback and context hold
                exc.__context__ = None  # the pool's frames, so its queues: they must go before
                raise exc.with_traceback(None)  # _stop_helpers() (or the tracker calls them leaked)
            raise
        _stop_gracefully(pool, inflight, on_result, on_crash)
        raise stop from None  # whatever failed, failed because of the signal
    finally:
        # The last future holds the pool's error, whose traceback holds _result's frame and so
        # the pool: both must go before _stop_helpers() (see _PoolUnavailable above).
        del pool
        future = None  # noqa: F841
        inflight.clear()
        _stop_helpers()


def _rest(held, cut):
    """The items of ``held`` batches, then every item ``cut`` has not yielded yet."""
    import itertools

    return itertools.chain((item for b in held for item in b), (item for b in cut for item in b))


def _stop_helpers() -> None:
    """Stop multiprocessing's fork server and resource tracker once the workers are gone, and
    reap them: left to exit after maskcli does, they would linger as zombies where the init
    process does not reap orphans (some containers and sandboxes)."""
    # A helper can only run if its module was imported: a run that never started one (one
    # file, -j 1) neither imports multiprocessing here nor pays for a full garbage collection.
    forkserver = sys.modules.get("multiprocessing.forkserver")
    resource_tracker = sys.modules.get("multiprocessing.resource_tracker")
    try:
        _stop_fork_server_and_tracker(forkserver, resource_tracker)
    finally:
        while _adopted:  # the fork server's workers that outlived it (see _adopt_orphans); the
            _reap(_adopted.pop())  # others were its children (not ours: nothing to wait for)


def _stop_fork_server_and_tracker(forkserver, resource_tracker) -> None:
    running = []
    for helper, pid_name, fd_name in ((getattr(forkserver, "_forkserver", None), "_forkserver_pid", "_forkserver_alive_fd"),
                                      (getattr(resource_tracker, "_resource_tracker", None), "_pid", "_fd")):
        if getattr(helper, pid_name, None) is not None and getattr(helper, fd_name, None) is not None:
            running.append((helper, pid_name, fd_name))
    if not running:
        return
    import gc

    gc.collect()  # the pool's queues: their semaphores tell the tracker they are gone
    for helper, pid_name, fd_name in running:
        pid, fd = getattr(helper, pid_name), getattr(helper, fd_name)
        os.close(fd)  # its "alive" pipe: the helper exits when no process holds it
        setattr(helper, fd_name, None)
        setattr(helper, pid_name, None)
        if helper is getattr(forkserver, "_forkserver", None):
            address = getattr(helper, "_forkserver_address", None)
            helper._forkserver_address = None
            if isinstance(address, str) and not address.startswith("\0"):
                try:
                    os.unlink(address)
                except OSError:
                    pass
        _reap(pid)


def _reap(pid: int) -> None:
    deadline = time.monotonic() + 5
    try:
        while os.waitpid(pid, os.WNOHANG)[0] == 0:
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return
            time.sleep(0.01)
    except ChildProcessError:
        pass


def _stop_gracefully(pool, inflight, on_result, on_crash) -> None:
    """Each worker finishes the item it is on; hand over every result that was finished, in
    item order, so the summary counts exactly the files on disk."""
    pool.stop("graceful")
    for batch, future, _ in inflight:
        if future.done() and not future.cancelled() and future.exception() is None:
            for item, result in zip(batch, future.result()):
                on_result(_unwrap(item), result)
    if on_crash is not None:  # workers that had to be killed could not remove their temp file
        on_crash([i for b, _, _ in inflight for i in b if not isinstance(i, Ready)], pool.pids())
    pool.close()


def _same(value):
    return value


def _dask_batch(fn, args, batch):
    return [fn(item, *args) for item in batch]


DASK_BATCH = 32  # items per Dask task, once the first tasks have gone out
DASK_NO_WORKERS = 300.0  # seconds a cluster may have no worker (autoscaling from zero is slow) before the files waiting are lost
DASK_LOOK = 10.0  # seconds between looks at the cluster's workers while a task is pending
DASK_RESUBMITS = 3  # times a task that failed for another reason than its workers dying is sent again


def dask_batches(items, workers: int):
    """Cut ``items`` (any iterable, possibly lazy and of unknown length) into task batches: one
    item for each of the first ``workers`` tasks (the first outputs come at once), then twice
    as many per task up to :data:`DASK_BATCH`. Sizes never depend on how many items there are,
    and only the batch being cut is held. :class:`Ready` items come in batches of their own
    (up to :data:`READY_BATCH`), which need no task."""
    size, cut = 1, 0
    batch: list = []
    ready: list = []
    for item in items:
        if isinstance(item, Ready):
            if batch:
                yield batch
                batch, cut = [], cut + 1
                size = size if cut < workers else min(DASK_BATCH, size * 2)
            ready.append(item)
            if len(ready) >= READY_BATCH:
                yield ready
                ready = []
            continue
        if ready:
            yield ready
            ready = []
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch, cut = [], cut + 1
            size = size if cut < workers else min(DASK_BATCH, size * 2)
    if ready:
        yield ready
    if batch:
        yield batch


def _run_dask(fn, items, args, address, on_result, lost_result) -> None:
    """The same loop on a Dask distributed cluster, in bounded waves: ``items`` is consumed
    lazily (never counted), at most 2 batches per worker thread (counted again every
    :data:`DASK_LOOK` seconds, for clusters that scale) are on the cluster, and a
    batch's future is dropped (its task released on the scheduler) once its results are taken,
    so neither this process nor the scheduler holds anything per file of the run. Results come
    in item order. Dask retries a task whose worker died; a batch that still fails loses its
    items. A task that failed otherwise (cancelled when the client reconnected, say) is sent
    again, :data:`DASK_RESUBMITS` times at most. When the cluster has had no worker for
    :data:`DASK_NO_WORKERS` seconds, every file not converted yet is lost (the run ends
    instead of waiting for ever)."""
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
    inflight: deque = deque()  # (batch, future, tries), oldest first
    try:
        from distributed import KilledWorker

        watch = _WorkerWatch(client)
        cut = dask_batches(items, watch.threads)  # by count: the cluster may not see our files
        settings = None

        def submit(batch, tries=0):
            nonlocal settings
            # the settings as a task of their own, not scattered: a task waits for a worker
            # (scatter fails when there is none yet) and is recomputed when the workers holding
            # it died; submitted again when it was cancelled (a reconnection cancels futures)
            if settings is None or settings.status in ("cancelled", "error", "lost"):
                settings = client.submit(_same, args, pure=False)
            if isinstance(batch[0], Ready):  # decided already: no task
                return batch, None, tries
            return batch, client.submit(_dask_batch, fn, settings, batch, pure=False), tries

        def fill():
            while len(inflight) < 2 * watch.threads:  # follows a cluster that grows or shrinks
                batch = next(cut, None)
                if batch is None:
                    return
                inflight.append(submit(batch))

        fill()
        while inflight:
            batch, future, tries = inflight.popleft()
            try:
                results = [r.result for r in batch] if future is None else _dask_result(future, watch)
            except _NoWorkers as gone:
                _give_up_on_cluster(f"{address} {gone}", batch, inflight, cut, on_result, lost_result)
                return
            except KilledWorker:  # its workers died, allowed-failures times: Dask gave up on it
                results = [lost_result] * len(batch)
            except Exception as exc:  # cancelled by a lost connection, an error on the cluster's side
                del future
                if client.status in ("closing", "closed"):  # it gave up reconnecting: the scheduler is gone
                    _give_up_on_cluster(f"{address} cannot be reached any more ({type(exc).__name__})", batch,
                                        inflight, cut, on_result, lost_result)
                    return
                if not tries:
                    reason = " ".join(str(exc).split())[:300]  # one line
                    print(f"warning: a Dask task failed ({type(exc).__name__}: {reason}); sending it again",
                          file=sys.stderr, flush=True)
                if tries < DASK_RESUBMITS:
                    inflight.appendleft(submit(batch, tries + 1))  # first again: results stay in order
                    continue
                results = [lost_result] * len(batch)
            del future  # releases the task on the scheduler
            for item, result in zip(batch, results):
                on_result(_unwrap(item), result)
            del batch, results
            watch.check(give_up=False)
            fill()
    except BaseException:
        _cancel(future for _, future, _ in inflight)
        raise
    finally:
        client.close()


class _NoWorkers(Exception):
    pass


def _cancel(futures) -> None:
    for future in list(futures):
        if future is None:
            continue
        try:
            future.cancel()
        except Exception:  # the client is closed: nothing runs for it any more
            pass


class _WorkerWatch:
    """The cluster's worker threads (at least 1), looked up at most every :data:`DASK_LOOK`
    seconds; :meth:`check` raises :class:`_NoWorkers` when the cluster has had no worker for
    :data:`DASK_NO_WORKERS` seconds in a row."""

    def __init__(self, client):
        self.client = client
        self.threads = max(1, sum(client.nthreads().values()))
        self.last_look = time.monotonic()
        self.none_since = None

    def check(self, give_up: bool = True) -> None:
        now = time.monotonic()
        if now - self.last_look < DASK_LOOK:
            return
        self.last_look = now
        if give_up and getattr(self.client, "status", None) in ("closing", "closed"):
            raise _NoWorkers("cannot be reached any more")  # the client gave up reconnecting
        try:
            threads = sum(self.client.nthreads().values())
        except Exception:  # the scheduler is unreachable: no worker can help either
            threads = 0
        self.threads = max(1, threads)
        if threads:
            self.none_since = None
        elif self.none_since is None:
            self.none_since = now
        elif give_up and now - self.none_since >= DASK_NO_WORKERS:
            raise _NoWorkers(f"has had no worker for {DASK_NO_WORKERS:.0f} s")


def _dask_result(future, watch):
    """:func:`_result`, also watching that the cluster still has workers."""
    return _result(future, watch.check)


def _give_up_on_cluster(what, batch, inflight, cut, on_result, lost_result) -> None:
    """The cluster cannot convert anything any more (no worker left, no scheduler): the files
    waiting for it are lost, one result each, in order (streamed: the items not cut into
    batches yet are taken one batch at a time)."""
    import itertools

    print(f"warning: the Dask cluster at {what}; the files not converted yet are reported as failed",
          file=sys.stderr, flush=True)
    _cancel(future for _, future, _ in inflight)
    pending = [batch] + [b for b, _, _ in inflight]
    inflight.clear()
    for b in itertools.chain(pending, cut):
        for item in b:
            on_result(_unwrap(item), item.result if isinstance(item, Ready) else lost_result)


# --------------------------------------------------------------------------- progress


class Progress:
    """A tqdm bar on stderr (off when stderr is not a terminal or when quiet); ``write``
    prints a message line without breaking the bar. ``total`` None: a run still finding its
    files; the bar counts files done and shows how many were found so far (:meth:`found`)
    until :meth:`set_total` gives the total."""

    def __init__(self, total: int | None, desc: str, enabled: bool):
        self._bar = None
        self._shown_found = 0.0
        if enabled and (total is None or total > 1) and sys.stderr.isatty():
            from tqdm import tqdm

            tqdm.monitor_interval = 0  # no monitor thread
            self._bar = tqdm(total=total, desc=desc, unit="file", file=sys.stderr, leave=False)

    def update(self, n: int = 1) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def found(self, n: int) -> None:
        """The run has found ``n`` files so far (shown at most a few times a second)."""
        if self._bar is not None and self._bar.total is None:
            now = time.monotonic()
            if now - self._shown_found >= 0.2:
                self._shown_found = now
                self._bar.set_postfix_str(f"{n} found", refresh=False)

    def set_total(self, n: int) -> None:
        """Every file is found: the bar shows ``n`` as its total from now on."""
        if self._bar is not None:
            self._bar.set_postfix_str("", refresh=False)
            self._bar.total = n
            self._bar.refresh()

    def write(self, message: str) -> None:
        if self._bar is not None:
            self._bar.write(message, file=sys.stderr)
        else:
            print(message, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
