"""Counting outcomes, the messages of a run, the summary line and the exit status.

Every message goes to stderr (through the progress bar's writer, so the bar stays intact);
stdout is kept for data.
"""

from __future__ import annotations

import time

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class Report:
    """Counts converted and failed files for one command and owns its exit status."""

    def __init__(self, command: str, total: int, write, quiet: bool = False):
        self.command = command
        self.total = total
        self.converted = 0
        self.failed = 0
        self._write = write
        self._quiet = quiet
        self._started = time.monotonic()

    def done(self, src: str, error: str | None) -> None:
        """Record one file's outcome; a failure is printed at once, quiet or not."""
        if error is None:
            self.converted += 1
        else:
            self.failed += 1
            self._write(f"error: {src}: {error}")

    def warn(self, message: str) -> None:
        if not self._quiet:
            self._write(f"warning: {message}")

    @property
    def exit_code(self) -> int:
        return EXIT_FAILED if self.failed else EXIT_OK

    def summary(self, interrupted: str | None = None) -> str:
        seconds = time.monotonic() - self._started
        counts = f"{self.converted} converted, {self.failed} failed"
        if interrupted:
            done = self.converted + self.failed
            return (
                f"{self.command}: interrupted by {interrupted} after {done} of {self.total} "
                f"files: {counts} ({seconds:.1f} s)"
            )
        return f"{self.command}: {counts} ({seconds:.1f} s)"

    def finish(self, interrupted: str | None = None) -> None:
        """Print the summary line (unless quiet)."""
        if not self._quiet:
            self._write(self.summary(interrupted))
