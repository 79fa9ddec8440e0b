"""The migration session on MySQL and MariaDB: one run at a time, bounded waits, no surprises.

Concurrent `alembic upgrade` runs (several replicas, a retried deploy) queue on GET_LOCK(), a
named lock the server keeps for this connection until it is released or the connection ends,
so a killed run cannot leave it behind. Lock names are global to the server: the name holds
the project and the database. DDL waits for a table's metadata lock at most lock_wait_timeout
(MIGRATION_LOCK_TIMEOUT) instead of queueing every later query on that table behind it; on
MariaDB, max_statement_time bounds each statement (MySQL has no limit for DDL). MySQL commits
each DDL statement on its own: a revision that fails half-way says what it left (partial.py).
"""

import hashlib
import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import Any

from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, TextClause, text

from {{ cookiecutter.package_name }}.db import SESSION_SETUP
from {{ cookiecutter.package_name }}.migrator import partial
from {{ cookiecutter.package_name }}.settings import CHARSET, ConfigurationError, Settings, duration_seconds

log = logging.getLogger("alembic.env")

PROJECT = "{{ cookiecutter.project_slug }}"
# The server refuses lock names longer than 64 characters.
LOCK_NAME_LIMIT = 64
LOCK_WAIT_SECONDS = 1
LOCK_REPORT_SECONDS = 30.0

TAKE_LOCK = text("SELECT GET_LOCK(:name, :seconds)")
RELEASE_LOCK = text("SELECT RELEASE_LOCK(:name)")
LOCK_HOLDER = text(
    """
    SELECT ID AS id, USER AS user, COMMAND AS command, TIME AS seconds,
           LEFT(COALESCE(INFO, ''), 80) AS query
    FROM information_schema.PROCESSLIST WHERE ID = IS_USED_LOCK(:name)
    """
)
DATABASE_CHARSET = text("SELECT DATABASE(), @@character_set_database")
SESSION_RUNS = text("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = :id")
# How long an interrupted run waits for its killed session to roll back and end.
KILL_SECONDS = 30


def lock_name(database: str) -> str:
    """The GET_LOCK() name of this project's migrations on `database`, at most 64 characters."""
    name = f"{PROJECT}:alembic:{database}"
    if len(name) <= LOCK_NAME_LIMIT:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:24]
    return f"{PROJECT[:30]}:alembic:{digest}"


def whole_seconds(duration: str) -> int:
    """lock_wait_timeout counts whole seconds, and 0 would mean "do not wait at all"."""
    return max(1, math.ceil(duration_seconds(duration)))


def session_settings(settings: Settings, is_mariadb: bool) -> dict[str, str]:
    """What a migration session runs with; all of it is restored afterwards."""
    lock_seconds = str(whole_seconds(settings.migration_lock_timeout))
    values = {"lock_wait_timeout": lock_seconds, "innodb_lock_wait_timeout": lock_seconds}
    if is_mariadb:
        values["max_statement_time"] = f"{duration_seconds(settings.migration_statement_timeout):g}"
    return values


def offline_statements(settings: Settings) -> list[TextClause]:
    """The same session, at the top of an offline (--sql) script, for MySQL and MariaDB alike.

    `/*M! ... */` is run by MariaDB only: MySQL has no max_statement_time.
    """
    lock_seconds = whole_seconds(settings.migration_lock_timeout)
    statement_seconds = duration_seconds(settings.migration_statement_timeout)
    return [
        text(f"SET NAMES {CHARSET}"),
        text(SESSION_SETUP),
        text(
            f"SET SESSION lock_wait_timeout = {lock_seconds}, "
            f"innodb_lock_wait_timeout = {lock_seconds}"
            f" /*M!, max_statement_time = {statement_seconds:g} */"
        ),
    ]


def use_revision_timeouts(migration_context: MigrationContext, settings: Settings) -> None:
    """A revision's own `lock_timeout` / `statement_timeout` are PostgreSQL's: not used here."""


def run_revisions(
    migration_context: MigrationContext,
    settings: Settings,
    run_migrations: Callable[..., None],
    **kw: Any,
) -> None:
    """run_migrations(**kw); a revision that fails says which of its statements were applied."""
    with partial.tracked(migration_context, settings):
        run_migrations(**kw)


@contextmanager
def migration_session(connection: Connection, settings: Settings) -> Iterator[None]:
    """Hold the migration lock and the limits on `connection` for the run, then restore it."""
    if connection.dialect.name != "mysql":
        yield
        return
    # Alembic treats an open transaction as the caller's and would then ignore
    # transaction_per_migration: leave the connection as it was found.
    own_transaction = not connection.in_transaction()
    refuse_a_narrow_charset(connection)
    values = session_settings(settings, getattr(connection.dialect, "is_mariadb", False))
    name = lock_name(str(connection.engine.url.database))
    # The server's id of this session, from the handshake: a query would show in reports.
    driver: Any = connection.connection.driver_connection
    session_id = int(driver.server_thread_id[0])
    with restored(connection, values):
        wait_for_lock(connection, name)
        if own_transaction:
            connection.commit()
        try:
            yield
        except BaseException as error:
            if not isinstance(error, Exception):
                end_on_the_server(connection, session_id)
            raise
        finally:
            if not connection.invalidated:
                if own_transaction:
                    connection.rollback()
                connection.execute(RELEASE_LOCK, {"name": name})
                if own_transaction:
                    connection.commit()


def end_on_the_server(connection: Connection, session_id: int) -> None:
    """End an interrupted run's session (Ctrl-C, SIGTERM) from a connection of its own, and
    wait until it is gone.

    The server would otherwise finish the statement in progress, even an hour-long ALTER,
    and hold the migration lock until then. A killed ALTER rolls its copy back before its
    session ends: the lock is free once it has.
    """
    deadline = time.monotonic() + KILL_SECONDS
    with suppress(Exception), connection.engine.connect() as other:
        other.exec_driver_sql(f"KILL {int(session_id)}")
        while other.scalar(SESSION_RUNS, {"id": session_id}) and time.monotonic() < deadline:
            time.sleep(LOCK_WAIT_SECONDS / 10)
    connection.invalidate()


def refuse_a_narrow_charset(connection: Connection) -> None:
    """Tables take the database's character set: it must hold all of Unicode."""
    database, charset = connection.execute(DATABASE_CHARSET).one()
    if charset != CHARSET:
        raise ConfigurationError(
            f"database {database} stores text as {charset}, which cannot hold all of Unicode: "
            f"run ALTER DATABASE `{database}` CHARACTER SET {CHARSET} COLLATE "
            f"{CHARSET}_unicode_ci, then migrate again"
        )


def wait_for_lock(connection: Connection, name: str) -> None:
    """Take the lock, or say who holds it and wait for it, a second at a time."""
    reported_at = None
    wait = 0
    while not connection.scalar(TAKE_LOCK, {"name": name, "seconds": wait}):
        now = time.monotonic()
        if reported_at is None or now - reported_at >= LOCK_REPORT_SECONDS:
            log.info(
                "Waiting for another migration run to finish: %s", lock_holder(connection, name)
            )
            reported_at = now
        wait = LOCK_WAIT_SECONDS


def lock_holder(connection: Connection, name: str) -> str:
    row = connection.execute(LOCK_HOLDER, {"name": name}).first()
    if row is None:
        return "it has just finished"
    query = " ".join(str(row.query).split())
    return f"connection {row.id} ({row.user}, {row.command}, for {row.seconds}s: {query})"


def apply(connection: Connection, values: Mapping[str, str]) -> None:
    # Names come from session_settings(), values are numbers: nothing user-typed is interpolated.
    assignments = ", ".join(f"{name} = {value}" for name, value in values.items())
    connection.exec_driver_sql(f"SET SESSION {assignments}")


@contextmanager
def restored(connection: Connection, values: Mapping[str, str]) -> Iterator[None]:
    """Set `values` for the session; put back what was there before on exit."""
    columns = ", ".join(f"@@SESSION.{name}" for name in values)
    previous = connection.exec_driver_sql(f"SELECT {columns}").one()
    apply(connection, values)
    try:
        yield
    finally:
        # An interrupted run's session was ended, and its settings with it.
        if not connection.invalidated:
            apply(connection, dict(zip(values, map(str, previous), strict=True)))
