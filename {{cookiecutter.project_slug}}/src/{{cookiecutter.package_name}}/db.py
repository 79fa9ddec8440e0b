"""The async engine and sessions; no web framework here, so Alembic's env.py loads fast."""

{% if cookiecutter.database == "sqlite" -%}
import sqlite3
from pathlib import Path
{% endif -%}
from typing import Any
{%- if cookiecutter.database == "postgresql" %}
from uuid import uuid4
{%- endif %}

from sqlalchemy import {{ "Connection, " if cookiecutter.database != "mysql" }}event, pool
from sqlalchemy.engine import {{ "Dialect, " if cookiecutter.database == "sqlite" }}make_url
{%- if cookiecutter.database != "postgresql" %}
from sqlalchemy.engine.interfaces import DBAPIConnection
{%- endif %}
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
{%- if cookiecutter.database != "postgresql" %}
from sqlalchemy.pool import ConnectionPoolEntry
{%- endif %}

{% if cookiecutter.database == "mysql" -%}
from {{ cookiecutter.package_name }}.mysql_connections import bound_each_read
{% endif -%}
from {{ cookiecutter.package_name }}.settings import {{ "Settings, duration_seconds" if cookiecutter.database != "sqlite" else "Settings" }}
{%- if cookiecutter.database == "postgresql" %}

CONNECT_TIMEOUT_SECONDS = 5
# A request waits this long for a pooled connection, then gets a 503, instead of queueing
# behind connections that a stalled database holds.
POOL_TIMEOUT_SECONDS = 5
# The server cancels a slow statement first (a clean error, the connection stays usable); the
# client gives up a little later, for when the server or the network stopped answering at all.
CLIENT_TIMEOUT_MARGIN_SECONDS = 2
{%- elif cookiecutter.database == "mysql" %}

CONNECT_TIMEOUT_SECONDS = 5
# A request waits this long for a pooled connection, then gets a 503.
POOL_TIMEOUT_SECONDS = 5
CLIENT_TIMEOUT_MARGIN_SECONDS = 2
# Strict: a value that does not fit its column is an error, never silently cut or zeroed.
SQL_MODE = (
    "ONLY_FULL_GROUP_BY,STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,"
    "ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION"
)
# Timestamps are read and written in UTC, whatever the server's time zone.
SESSION_SETUP = f"SET SESSION sql_mode = '{SQL_MODE}', time_zone = '+00:00'"
# The server's error numbers (its manual's "Server Error Message Reference").
UNKNOWN_DATABASE = 1049
# 1698: MariaDB's answer for a user without a password, or one that logs in another way.
ACCESS_DENIED = {1044, 1045, 1698}
{%- endif %}


def create_engine(settings: Settings, poolclass: type[pool.Pool] | None = None) -> AsyncEngine:
    """An engine for migrations, the CLI and tests: a statement runs as long as it needs."""
{%- if cookiecutter.database == "postgresql" %}
    return _create_engine(settings, poolclass=poolclass, connect_args=connect_args(settings))
{%- elif cookiecutter.database == "mysql" %}
    engine = _create_engine(settings, poolclass=poolclass, connect_args=CONNECT_ARGS)
    bound_each_read(engine, CONNECT_TIMEOUT_SECONDS, None)
    return engine
{%- else %}
    engine = _create_engine(settings, poolclass=poolclass)
    refuse_a_missing_directory(engine)
    use_sqlite_transactions(engine)
    return engine
{%- endif %}


def create_app_engine(settings: Settings) -> AsyncEngine:
    """The engine requests run on: a slow, stalled or vanished database fails a request within
    a bounded time (waiting for a pooled connection, connecting, then each statement)."""
{%- if cookiecutter.database == "postgresql" %}
    timeout = settings.database_statement_timeout
    seconds = duration_seconds(timeout)
    options = connect_args(settings)
    # SQLAlchemy closes a connection whose statement timed out on the client, rather than pool it.
    # PostgreSQL reads 0 as "no timeout", and so does asyncpg's None.
    options["command_timeout"] = seconds + CLIENT_TIMEOUT_MARGIN_SECONDS if seconds else None
    if settings.database_pooler == "none":
        options["server_settings"] = {"statement_timeout": timeout}
    engine = _create_engine(settings, pool_timeout=POOL_TIMEOUT_SECONDS, connect_args=options)
    if settings.database_pooler == "pgbouncer":
        limit_each_transaction(engine, timeout)
    return engine
{%- elif cookiecutter.database == "mysql" %}
    seconds = duration_seconds(settings.database_statement_timeout)
    engine = _create_engine(settings, pool_timeout=POOL_TIMEOUT_SECONDS, connect_args=CONNECT_ARGS)
    limit_each_statement(engine, seconds)
    # The server cancels a slow statement first; the client gives up a little later, for when
    # the server or the network stopped answering at all.
    reads = seconds + CLIENT_TIMEOUT_MARGIN_SECONDS if seconds else None
    bound_each_read(engine, CONNECT_TIMEOUT_SECONDS, reads)
    return engine
{%- else %}
    # A local file does not stall; SQLite's busy timeout (5 s) bounds the wait for a lock.
    engine = create_engine(settings)
    enforce_foreign_keys(engine)
    return engine
{%- endif %}


def _create_engine(settings: Settings, **options: Any) -> AsyncEngine:
    return create_async_engine(
        settings.database_url,
        # pre_ping replaces pooled connections that died while the database was away.
        pool_pre_ping=True,
        # Statement parameters are user data (emails, names): keep them out of errors and logs.
        hide_parameters=True,
        **options,
    )
{%- if cookiecutter.database == "postgresql" %}


def connect_args(settings: Settings) -> dict[str, Any]:
    """asyncpg's options; behind a transaction pooler, nothing is kept between transactions."""
    options: dict[str, Any] = {"timeout": CONNECT_TIMEOUT_SECONDS}
    if settings.database_pooler == "pgbouncer":
        # The next transaction may run on another server connection, which lacks the statements
        # this one prepared, or has another client's under the same name: no statement cache,
        # and names no two clients share (SQLAlchemy's asyncpg settings for PgBouncer).
        options["statement_cache_size"] = 0
        options["prepared_statement_cache_size"] = 0
        options["prepared_statement_name_func"] = unique_statement_name
    return options


def unique_statement_name() -> str:
    return f"__asyncpg_{uuid4()}__"


def limit_each_transaction(engine: AsyncEngine, timeout: str) -> None:
    """statement_timeout set by each transaction, for a connection through a transaction pooler.

    PgBouncer refuses a connection that asks for settings it does not track, and a session-level
    SET would stay behind on a server connection that other clients get next.
    """
    # A validated duration (settings.DURATION): digits and a unit, nothing to quote.
    statement = f"SET LOCAL statement_timeout = '{timeout}'"

    @event.listens_for(engine.sync_engine, "begin")
    def set_statement_timeout(connection: Connection) -> None:
        connection.exec_driver_sql(statement)


{%- elif cookiecutter.database == "mysql" %}


CONNECT_ARGS = {"connect_timeout": CONNECT_TIMEOUT_SECONDS, "init_command": SESSION_SETUP}


def limit_each_statement(engine: AsyncEngine, seconds: float) -> None:
    """The server cancels a request's statement that runs longer than `seconds` (0: no limit).

    MariaDB's max_statement_time covers every statement; MySQL's max_execution_time, the only
    limit it has, covers SELECTs.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def set_statement_limit(dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry) -> None:
        # The dialect has read the server's version on this connection before any listener runs.
        if getattr(engine.dialect, "is_mariadb", False):
            statement = f"SET SESSION max_statement_time = {seconds:g}"
        else:
            statement = f"SET SESSION max_execution_time = {round(seconds * 1000)}"
        cursor = dbapi_connection.cursor()
        cursor.execute(statement)
        cursor.close()


def error_args(error: BaseException) -> tuple[Any, ...]:
    return tuple(getattr(getattr(error, "orig", None) or error, "args", ()))


def mysql_error_code(error: BaseException) -> int | None:
    """The server's error number of a driver error (`(1205, 'Lock wait timeout ...')`)."""
    args = error_args(error)
    return args[0] if len(args) == 2 and isinstance(args[0], int) else None
{%- endif %}

{%- if cookiecutter.database == "sqlite" %}


def refuse_a_missing_directory(engine: AsyncEngine) -> None:
    """Fail a connection to a file in a directory that does not exist before aiosqlite tries.

    aiosqlite's failed connect leaves its worker thread calling into the closed event loop
    (omnilib/aiosqlite#389), which prints a traceback after the one-line error.
    """

    @event.listens_for(engine.sync_engine, "do_connect")
    def check_directory(
        dialect: Dialect, record: ConnectionPoolEntry, cargs: list[Any], cparams: dict[str, Any]
    ) -> None:
        database = str(cargs[0] if cargs else cparams.get("database", ""))
        plain_path = database not in {"", ":memory:"} and not database.startswith("file:")
        if plain_path and not Path(database).parent.is_dir():
            raise sqlite3.OperationalError("unable to open database file")


def use_sqlite_transactions(engine: AsyncEngine) -> None:
    """Let SQLite itself handle BEGIN, so DDL and SAVEPOINTs are transactional.

    The sqlite3 module only opens a transaction before INSERT/UPDATE/DELETE: a CREATE TABLE or
    a batch table rebuild would commit on its own, and a failed migration would be left
    half-applied. This is SQLAlchemy's documented recipe for pysqlite and aiosqlite.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def leave_begin_to_us(dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine.sync_engine, "begin")
    def begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN")


def enforce_foreign_keys(engine: AsyncEngine) -> None:
    """SQLite ignores foreign keys unless each connection asks: the app's connections ask.

    Migrations do not: batch mode rebuilds a table by dropping it, which with foreign keys
    enforced would delete, or refuse to drop, the rows that refer to it.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def foreign_keys_on(dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()
{%- endif %}


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, class_=RequestSession, expire_on_commit=False)


class RequestSession(AsyncSession):
    """A session that closes quietly when its connection has died.

    FastAPI closes a request's session after the response is sent. If the database went away
    meanwhile, the ROLLBACK that ends a read-only transaction fails where no handler can turn
    it into a response, and uvicorn logs a traceback and drops the client's keep-alive
    connection. A server rolls back the transaction of a connection it lost: nothing is lost.
    """

    async def close(self) -> None:
        try:
            await super().close()
        except (OSError, DBAPIError) as error:
            if isinstance(error, DBAPIError) and not error.connection_invalidated:
                raise


def explain_connection_error(
    database_url: str, error: BaseException, variable: str = "DATABASE_URL"
) -> str:
    """Say why connecting failed and what to do, on one line and without the password.

    `variable` names the setting the URL came from, so that the hint says which one to fix.
    """
    reason = " ".join(str(getattr(error, "orig", None) or error).rpartition(">: ")[2].split())
    url = make_url(database_url)
{%- if cookiecutter.database == "mysql" %}
    code = mysql_error_code(error)
    if code is not None:
        reason = " ".join(str(error_args(error)[1]).split())
{%- endif %}
{%- if cookiecutter.database == "postgresql" %}
    if "does not exist" in reason and "database" in reason:
        where = f"-h {url.host} " if url.host else ""
        hint = f"create it (createdb {where}-U {url.username} {url.database}) or fix {variable}"
    elif "does not exist" in reason and "role" in reason:
        hint = f"create the role (createuser {url.username}) or fix the user in {variable}"
    elif "password" in reason or "authentication" in reason:
        hint = f"fix the user or password in {variable} (URL-encode % @ : / in the password)"
    elif ("unsupported startup parameter" in reason or "prepared statement" in reason) and (
        variable == "DATABASE_URL"
    ):
        # PgBouncer's refusal of startup settings, or asyncpg's statements mixed up by it.
        hint = (
            "DATABASE_URL goes through a transaction pooler such as PgBouncer: set "
            "DATABASE_POOLER=pgbouncer, and MIGRATION_DATABASE_URL straight to PostgreSQL"
        )
    elif "unsupported startup parameter" in reason or "prepared statement" in reason:
        hint = (
            f"{variable} goes through a connection pooler such as PgBouncer: point it straight "
            'at PostgreSQL (docs/runbook.md, "Behind PgBouncer")'
        )
    elif isinstance(error, TimeoutError):
        reason = reason or f"no answer within {CONNECT_TIMEOUT_SECONDS}s"
        hint = f"check {variable}'s host and port, and that a firewall lets the connection through"
    else:
        hint = f"check that the database server is running and {variable}'s host and port"
{%- elif cookiecutter.database == "mysql" %}
    if code == UNKNOWN_DATABASE:
        where = f"-h {url.host} " if url.host else ""
        hint = (
            f"create it (mysql {where}-u {url.username} -e 'CREATE DATABASE `{url.database}` "
            f"CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci') or fix {variable}"
        )
    elif code in ACCESS_DENIED:
        hint = f"fix the user or password in {variable} (URL-encode % @ : / in the password)"
    elif isinstance(error, TimeoutError):
        reason = reason or f"no answer within {CONNECT_TIMEOUT_SECONDS}s"
        hint = f"check {variable}'s host and port, and that a firewall lets the connection through"
    else:
        hint = f"check that the database server is running and {variable}'s host and port"
{%- else %}
    hint = f"check that the directory of the file in {variable} exists and is writable"
{%- endif %}
    # The password may be repeated in the reason (a driver echoing its DSN): remove it there too.
    if url.password:
        reason = reason.replace(str(url.password), "***")
    return f"cannot connect to {url.render_as_string(hide_password=True)}: {reason}; {hint}"
