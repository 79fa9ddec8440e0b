"""Progress of a run over many tenants: a bar in a terminal, a log line now and then elsewhere.

CI jobs and Kubernetes logs are no terminal: there a line every PROGRESS_LOG_SECONDS says how
far the run is, so a long deploy never looks stuck.
"""

import logging
import sys
import time
from typing import TextIO

log = logging.getLogger("alembic.env.tenants")

PROGRESS_LOG_SECONDS = 10.0
BAR_REDRAW_SECONDS = 0.2
BAR_WIDTH = 30
CLEAR_LINE = "\r\033[K"


class Progress:
    """Tenants done out of `total`, failures, rate and time left."""

    def __init__(self, total: int, stream: TextIO | None = None) -> None:
        self.total = total
        self.done = 0
        self.failed = 0
        self.stream = stream or sys.stderr
        self.is_terminal = self.stream.isatty()
        self.started = time.monotonic()
        self.shown_at = self.started

    def advance(self, failed: bool) -> None:
        self.done += 1
        self.failed += failed
        now = time.monotonic()
        interval = BAR_REDRAW_SECONDS if self.is_terminal else PROGRESS_LOG_SECONDS
        if now - self.shown_at >= interval:
            self.shown_at = now
            self.show()

    def show(self) -> None:
        if self.is_terminal:
            self.stream.write(CLEAR_LINE + self.bar())
            self.stream.flush()
        else:
            log.info("Tenants: %s", self.summary())

    def error(self, message: str, *arguments: object) -> None:
        """An error line that the bar, if any, does not garble."""
        self.clear()
        log.error(message, *arguments)
        if self.is_terminal:
            self.show()

    def clear(self) -> None:
        if self.is_terminal:
            self.stream.write(CLEAR_LINE)
            self.stream.flush()

    def finish(self) -> None:
        self.clear()
        elapsed = time.monotonic() - self.started
        log.info(
            "Tenants: %d/%d done, %d failed, in %.2fs (%.1f/s)",
            self.done,
            self.total,
            self.failed,
            elapsed,
            self.rate(),
        )

    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.done / elapsed if elapsed > 0 else 0.0

    def time_left(self) -> str:
        rate = self.rate()
        if not rate:
            return "?"
        seconds = round((self.total - self.done) / rate)
        return f"{seconds // 60}:{seconds % 60:02d}"

    def summary(self) -> str:
        return (
            f"{self.done}/{self.total} done, {self.failed} failed, {self.rate():.1f}/s, "
            f"{self.time_left()} left"
        )

    def bar(self) -> str:
        filled = BAR_WIDTH * self.done // self.total if self.total else BAR_WIDTH
        return (
            f"Tenants [{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {self.done}/{self.total}  "
            f"{self.failed} failed  {self.rate():.1f}/s  ETA {self.time_left()}"
        )
