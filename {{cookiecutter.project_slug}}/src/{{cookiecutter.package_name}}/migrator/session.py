"""The migration session on PostgreSQL: one run at a time, bounded waits, nothing left behind.

Concurrent `alembic upgrade` runs (several replicas, a retried deploy) queue on a session-level
advisory lock, so each revision is applied once. The lock is polled with `pg_try_advisory_lock`
between commits: a run that blocked in `pg_advisory_lock` would hold a snapshot while it waits,
and a `CREATE INDEX CONCURRENTLY` in the run ahead of it would wait for that snapshot (deadlock).
Timeouts are set for the session and restored when the run ends, so a connection that goes
back to a pool carries nothing of the migration. A revision that gives up on lock_timeout is
rolled back and run again (locks.py); a revision may set its own timeouts (timeouts.py).
A transaction pooler (PgBouncer) would lose that lock and those settings between transactions:
a run refuses to start through one.
"""

import hashlib
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, TextClause, text
from sqlalchemy.exc import DBAPIError

from {{ cookiecutter.package_name }}.migrator import locks, timeouts
from {{ cookiecutter.package_name }}.settings import ConfigurationError, Settings

log = logging.getLogger("alembic.env")

LOCK_NAME = b"{{ cookiecutter.project_slug }}:alembic"
LOCK_KEY = int.from_bytes(hashlib.sha256(LOCK_NAME).digest()[:8], "big", signed=True)
LOCK_POLL_SECONDS = 0.2
LOCK_REPORT_SECONDS = 30.0
# PostgreSQL keeps 63 bytes of an application_name.
APPLICATION_NAME = "{{ cookiecutter.project_slug[:48] }} migrations"

TRY_LOCK = text("SELECT pg_try_advisory_lock(:key)").bindparams(key=LOCK_KEY)
# A caller's open transaction cannot be committed here, so the lock lives as long as it does.
TAKE_TRANSACTION_LOCK = text("SELECT pg_advisory_xact_lock(:key)").bindparams(key=LOCK_KEY)
RELEASE_LOCK = text("SELECT pg_advisory_unlock(:key)").bindparams(key=LOCK_KEY)
LOCK_HOLDERS = text(
    """
    SELECT a.pid, a.application_name, a.state,
           extract(epoch FROM now() - a.query_start)::int AS seconds, left(a.query, 80) AS query
    FROM pg_locks AS l JOIN pg_stat_activity AS a ON a.pid = l.pid
    WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND l.classid::bigint = :classid AND l.objid::bigint = :objid
    """
).bindparams(classid=(LOCK_KEY & 0xFFFF_FFFF_FFFF_FFFF) >> 32, objid=LOCK_KEY & 0xFFFF_FFFF)
BACKEND_PID = text("SELECT pg_backend_pid()")
# duplicate_prepared_statement, invalid_sql_statement_name: a statement this connection
# prepared is gone, or another client's is there under its name.
PREPARED_STATEMENT_MIXED_UP = {"42P05", "26000"}
CURRENT_SETTING = text("SELECT current_setting(:name)")
SET_CONFIG = text("SELECT set_config(:name, :value, :is_local)")
# Plain SETs in offline scripts: they are what reviewers and squawk look for.
SET_LOCK_TIMEOUT = text("SET lock_timeout = :value")
SET_STATEMENT_TIMEOUT = text("SET statement_timeout = :value")


def session_settings(settings: Settings, server_major_version: int) -> dict[str, str]:
    """What a migration session runs with; all of it is restored afterwards."""
    values = {
        "application_name": APPLICATION_NAME,
        "lock_timeout": settings.migration_lock_timeout,
        "statement_timeout": settings.migration_statement_timeout,
    }
    if server_major_version >= 14:
        # A killed `alembic` (kill -9, a lost node) must not leave its statement running, and
        # its locks held, until the statement ends by itself.
        values["client_connection_check_interval"] = "1s"
    return values


def offline_statements(settings: Settings) -> list[TextClause]:
    """The same limits, as plain SETs at the top of an offline (--sql) script."""
    return [
        SET_LOCK_TIMEOUT.bindparams(value=settings.migration_lock_timeout),
        SET_STATEMENT_TIMEOUT.bindparams(value=settings.migration_statement_timeout),
    ]


def use_revision_timeouts(migration_context: MigrationContext, settings: Settings) -> None:
    """Let revisions set their own lock_timeout and statement_timeout (timeouts.py)."""
    timeouts.use_revision_timeouts(migration_context, settings)


def run_revisions(
    migration_context: MigrationContext,
    settings: Settings,
    run_migrations: Callable[..., None],
    **kw: Any,
) -> None:
    """run_migrations(**kw) with each revision's own timeouts; a revision that gives up on
    lock_timeout is rolled back and run again (locks.py)."""
    use_revision_timeouts(migration_context, settings)
    locks.run_retrying(migration_context, settings, run_migrations, **kw)


@contextmanager
def migration_session(connection: Connection, settings: Settings) -> Iterator[None]:
    """Hold the migration lock and the timeouts on `connection` for the run, then restore it.

    A connection without an open transaction is the run's own: the lock is taken for the
    session and every revision commits on its own. A caller's open transaction (tests,
    in-process callers) gets a transaction-level lock and transaction-local settings instead.
    """
    if connection.dialect.name != "postgresql":
        yield
        return
    version = connection.dialect.server_version_info or (0,)
    values = session_settings(settings, int(version[0]))
    if connection.in_transaction():
        connection.execute(TAKE_TRANSACTION_LOCK)
        apply(connection, values, is_local=True)
        yield
        return
    refuse_a_transaction_pooler(connection, settings)
    # Set before waiting, so that a waiting run shows up under its application_name.
    with restored(connection, values):
        wait_for_lock(connection)
        try:
            yield
        finally:
            connection.rollback()
            connection.execute(RELEASE_LOCK)
            connection.commit()


def refuse_a_transaction_pooler(connection: Connection, settings: Settings) -> None:
    """Stop before relying on session state where a pooler would lose it between transactions."""
    lost = "where the migration lock and settings would not last past a transaction"
    fix = 'docs/runbook.md, "Behind PgBouncer"'
    if settings.database_pooler == "pgbouncer":
        raise ConfigurationError(
            f"DATABASE_POOLER=pgbouncer: DATABASE_URL goes through PgBouncer, {lost}; set "
            f"MIGRATION_DATABASE_URL to a URL straight to PostgreSQL ({fix})"
        )
    if behind_a_pooler(connection):
        url = connection.engine.url
        where = f"{url.host or 'localhost'}:{url.port or 5432}"
        if settings.migration_database_url is None:
            variable, remedy = "DATABASE_URL", "set MIGRATION_DATABASE_URL to a URL straight to"
        else:
            variable, remedy = "MIGRATION_DATABASE_URL", "point it straight at"
        raise ConfigurationError(
            f"{variable} ({where}) goes through a connection pooler such as PgBouncer, {lost}; "
            f"{remedy} PostgreSQL ({fix})"
        )


def behind_a_pooler(connection: Connection) -> bool:
    """True when a pooler stands between the driver and PostgreSQL.

    A pooler hands each client a cancel key of its own, so the server process id the driver
    was given at connect time is not the process that runs its statements.
    """
    given = getattr(connection.connection.driver_connection, "get_server_pid", lambda: None)()
    try:
        backend = connection.scalar(BACKEND_PID)
    except DBAPIError as error:
        # Only a transaction pooler mixes up the prepared statements of a client's connections.
        if getattr(error.orig, "sqlstate", None) not in PREPARED_STATEMENT_MIXED_UP:
            raise
        connection.rollback()
        return True
    connection.commit()
    return given is not None and given != backend


def wait_for_lock(connection: Connection) -> None:
    """Poll for the lock, one short transaction per try; say who holds it while waiting."""
    reported_at = None
    while True:
        taken = connection.scalar(TRY_LOCK)
        # Commit before configure(), too: Alembic treats an open transaction as the caller's
        # and would then ignore transaction_per_migration.
        connection.commit()
        if taken:
            return
        now = time.monotonic()
        if reported_at is None or now - reported_at >= LOCK_REPORT_SECONDS:
            log.info("Waiting for another migration run to finish: %s", lock_holders(connection))
            reported_at = now
            connection.commit()
        time.sleep(LOCK_POLL_SECONDS)


def lock_holders(connection: Connection) -> str:
    rows = connection.execute(LOCK_HOLDERS).all()
    if not rows:
        return "it has just finished"
    return "; ".join(
        f"pid {row.pid} ({row.application_name or 'no application_name'}, {row.state}, "
        f"for {row.seconds}s: {' '.join((row.query or '').split())})"
        for row in rows
    )


def apply(connection: Connection, values: Mapping[str, str], *, is_local: bool) -> None:
    for name, value in values.items():
        connection.execute(SET_CONFIG, {"name": name, "value": value, "is_local": is_local})


@contextmanager
def restored(connection: Connection, values: Mapping[str, str]) -> Iterator[None]:
    """Set `values` for the session; put back what was there before on exit."""
    previous = {name: str(connection.scalar(CURRENT_SETTING, {"name": name})) for name in values}
    apply(connection, values, is_local=False)
    try:
        yield
    finally:
        connection.rollback()
        apply(connection, previous, is_local=False)
        connection.commit()
