"""Imported by multiprocessing's fork server only (it is first in the preload list that
runner._pool_context gives it), never by maskcli's own processes.

When the fork server's own fork() fails (EAGAIN under a per-user process limit, ENOMEM), the
fork server exits. The maskcli process that asked for the worker then says so in one line and
converts in its own process; this hook keeps the fork server from printing a traceback too.
Any other error of the fork server is printed as usual."""

import errno
import sys


def _quiet_when_out_of_processes(kind, value, tb) -> None:
    if issubclass(kind, OSError) and value.errno in (errno.EAGAIN, errno.ENOMEM):
        return
    sys.__excepthook__(kind, value, tb)


sys.excepthook = _quiet_when_out_of_processes
