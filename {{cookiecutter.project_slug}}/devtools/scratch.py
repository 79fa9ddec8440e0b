"""Throwaway databases next to the one in DATABASE_URL, for the tests and `nox -s migrations`."""

import asyncio
{%- if cookiecutter.database == "mysql" %}
import re
{%- endif %}
import tempfile
import uuid
from collections.abc import {{ "AsyncIterator, " if cookiecutter.database == "mysql" }}Iterator, Mapping
from contextlib import {{ "asynccontextmanager, " if cookiecutter.database == "mysql" }}contextmanager{{ ", suppress" if cookiecutter.database == "mysql" }}
from pathlib import Path

from sqlalchemy import pool, text
from sqlalchemy.engine import make_url
{%- if cookiecutter.database == "mysql" %}
from sqlalchemy.exc import DBAPIError
{%- endif %}
from sqlalchemy.ext.asyncio import {{ "AsyncConnection, " if cookiecutter.database == "mysql" }}create_async_engine

# The server quotes what goes into the statement: no name or password is pasted into SQL here.
FORMAT = text("SELECT format(:template, VARIADIC CAST(:arguments AS text[]))")
{%- if cookiecutter.database == "mysql" %}
# Scratch names are made here (prefix and hex digits): checked, then pasted between backticks.
SCRATCH_NAME = re.compile(r"[A-Za-z0-9_]{1,64}")
CONNECTIONS_TO = text("SELECT ID FROM information_schema.PROCESSLIST WHERE DB = :name")
{%- endif %}


def scratch_environment(environ: Mapping[str, str], scratch_url: str) -> dict[str, str]:
    """environ for a process that must migrate the scratch database and nothing else.

    The process reads .env too: its MIGRATION_DATABASE_URL (your own database) and pooler are
    overridden here, as only non-empty variables override .env.
    """
    return {
        **environ,
        "DATABASE_URL": scratch_url,
        "MIGRATION_DATABASE_URL": scratch_url,
        "DATABASE_POOLER": "none",
    }


def run_as_admin(database_url: str, template: str, *arguments: str) -> None:
    """Run one statement on database_url's PostgreSQL server, outside any transaction.

    It runs from the maintenance database, so it may create, alter or drop database_url's own.
    template is for PostgreSQL's format(): `%I` is an identifier, `%L` a literal, `%s` as is.
    """

    async def run() -> None:
        server = make_url(database_url).set(database="postgres")
        engine = create_async_engine(server, isolation_level="AUTOCOMMIT", poolclass=pool.NullPool)
        try:
            async with engine.connect() as connection:
                values = {"template": template, "arguments": list(arguments)}
                statement = await connection.scalar(FORMAT, values)
                await connection.exec_driver_sql(str(statement))
        finally:
            await engine.dispose()

    asyncio.run(run())


@contextmanager
def scratch_database(
    database_url: str, prefix: str, search_path: str | None = None
) -> Iterator[str]:
    """The URL of a new, empty database beside database_url's; dropped (or deleted) afterwards.

    PostgreSQL and MySQL: a database on the same server. SQLite: a file in a temporary directory.
    search_path (PostgreSQL) becomes the new database's default.
    """
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        with tempfile.TemporaryDirectory() as directory:
            yield url.set(database=str(Path(directory) / f"{name}.db")).render_as_string()
        return
{%- if cookiecutter.database == "mysql" %}
    create_mysql_database(database_url, name)
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        drop_mysql_database(database_url, name)
{%- else %}
    run_as_admin(database_url, "CREATE DATABASE %I", name)
    try:
        if search_path is not None:
            # A fixed list of schema names from the caller, never user input.
            run_as_admin(database_url, "ALTER DATABASE %I SET search_path = %s", name, search_path)
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        run_as_admin(database_url, "DROP DATABASE IF EXISTS %I WITH (FORCE)", name)
{%- endif %}
{%- if cookiecutter.database == "mysql" %}


@asynccontextmanager
async def mysql_server(database_url: str) -> AsyncIterator[AsyncConnection]:
    """A connection to database_url's MySQL server, in no database in particular."""
    server = make_url(database_url).set(database=None)
    engine = create_async_engine(server, isolation_level="AUTOCOMMIT", poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            yield connection
    finally:
        await engine.dispose()


def on_mysql_server(database_url: str, *statements: str) -> None:
    """Run statements on database_url's MySQL server, connected to no database in particular."""

    async def run() -> None:
        async with mysql_server(database_url) as connection:
            for statement in statements:
                await connection.exec_driver_sql(statement)

    asyncio.run(run())


def scratch_name(name: str) -> str:
    if not SCRATCH_NAME.fullmatch(name):
        raise ValueError(f"{name!r} is not a scratch database name")
    return name


def create_mysql_database(database_url: str, name: str) -> None:
    on_mysql_server(
        database_url,
        f"CREATE DATABASE `{scratch_name(name)}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
    )


def drop_mysql_database(database_url: str, name: str) -> None:
    """Drop it; connections still in it are ended first (PostgreSQL's DROP ... WITH (FORCE))."""

    async def run() -> None:
        async with mysql_server(database_url) as connection:
            for (connection_id,) in await connection.execute(CONNECTIONS_TO, {"name": name}):
                # It may have ended meanwhile: KILL of a gone connection is an error.
                with suppress(DBAPIError):
                    await connection.exec_driver_sql(f"KILL {int(connection_id)}")
            await connection.exec_driver_sql(f"DROP DATABASE IF EXISTS `{scratch_name(name)}`")

    asyncio.run(run())
{%- endif %}
