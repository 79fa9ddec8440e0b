"""Who keeps a migration waiting for a lock: pg_blocking_pids, seen while it waits.

A lock_timeout error does not name the session that held the lock, and once it is raised the
migration waits for nothing, so nobody is blocking it any more. While a revision is retried,
a thread with a connection of its own asks the server every POLL_SECONDS who blocks the
migration's backend, and remembers the last sessions it saw.
"""

import asyncio
import logging
import threading
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from sqlalchemy import URL, pool, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

log = logging.getLogger("alembic.env")

POLL_SECONDS = 0.1
# Bounds connecting and each query, so that stopping the watch never hangs on a stalled server.
TIMEOUT_SECONDS = 5
QUERY_SHOWN = 80
# Not the migration's own application_name: tests and scripts count migration sessions by it.
WATCH_APPLICATION_NAME = "{{ cookiecutter.project_slug[:48] }} lock watch"
# Each autocommit statement is a transaction of its own, so pg_stat_activity is read afresh
# (it is a snapshot per transaction).
BLOCKING_SESSIONS = text(
    """
    SELECT pid,
           -- autovacuum and other server processes have no application_name
           coalesce(nullif(application_name, ''), backend_type, '') AS name,
           coalesce(state, 'no state') AS state,
           coalesce(extract(epoch FROM now() - coalesce(xact_start, query_start))::int, 0)
               AS seconds,
           coalesce(left(query, 1000), '') AS query
    FROM pg_stat_activity WHERE pid = ANY(pg_blocking_pids(:pid)) ORDER BY pid
    """
)


@dataclass(frozen=True)
class Blocker:
    pid: int
    name: str
    state: str
    # How long its transaction has been open: that is how long it has held its locks.
    seconds: int
    query: str

    def __str__(self) -> str:
        query = " ".join(self.query.split())
        shown = query if len(query) <= QUERY_SHOWN else f"{query[: QUERY_SHOWN - 3]}..."
        return f"pid {self.pid} ({self.name}, {self.state}, for {self.seconds}s: {shown})"


class BlockerWatch:
    """`with BlockerWatch(url, pid) as watch:` polls in the background; `watch.blockers`."""

    def __init__(self, url: URL, pid: int) -> None:
        self.url = url
        self.pid = pid
        self.blockers: list[Blocker] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lock-watch", daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=2 * TIMEOUT_SECONDS + 1)

    def _run(self) -> None:
        asyncio.run(self._poll())

    async def _poll(self) -> None:
        engine = create_async_engine(
            self.url,
            poolclass=pool.NullPool,
            connect_args={
                "timeout": TIMEOUT_SECONDS,
                "command_timeout": TIMEOUT_SECONDS,
                "server_settings": {"application_name": WATCH_APPLICATION_NAME},
            },
        )
        try:
            async with engine.connect() as connection:
                await connection.execution_options(isolation_level="AUTOCOMMIT")
                while not self._stop.is_set():
                    rows = (await connection.execute(BLOCKING_SESSIONS, {"pid": self.pid})).all()
                    if rows:
                        self.blockers = [Blocker(*row) for row in rows]
                    await asyncio.sleep(POLL_SECONDS)
        except (OSError, TimeoutError, DBAPIError) as error:
            # The migration goes on without it; only its final message names no blocker.
            reason = " ".join(str(getattr(error, "orig", None) or error).split())
            log.warning("Cannot watch for sessions blocking the migration: %s", reason)
        finally:
            await engine.dispose()
