"""Module-level functions for runner tests: worker processes import them by name."""

import os


def double_or_die(item, die_on):
    if item in die_on:
        os._exit(9)  # like the OOM killer: no exception, no cleanup
    return item * 2
