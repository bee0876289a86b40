"""Module-level functions for runner tests: worker processes import them by name."""

import os


def double_or_die(item, die_on):
    if item in die_on:
        os._exit(9)  # like the OOM killer: no exception, no cleanup
    return item * 2


def write_or_die_writing(item):
    """Write item[1] whole; for a name with 'die' in it, die half-way through writing it."""
    from maskcli import masks

    src, dst = item
    if "die" not in dst:
        masks.atomic_write(dst, b"whole")
        return None
    folder, name = os.path.split(dst)
    with open(masks.temp_path(folder, name, os.getpid()), "wb") as f:
        f.write(b"half")  # what atomic_write's temporary file holds when the OOM killer strikes
    os._exit(9)


def pid_of_converter(item):
    return os.getpid()
