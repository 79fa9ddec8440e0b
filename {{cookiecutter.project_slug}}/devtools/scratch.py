"""Throwaway databases next to the one in DATABASE_URL, for the tests and `nox -s migrations`."""

import asyncio
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine


async def _run_as_admin(server_url: str, statement: str, database: str) -> None:
    engine = create_async_engine(
        make_url(server_url).set(database="postgres"), isolation_level="AUTOCOMMIT"
    )
    try:
        async with engine.connect() as connection:
            quoted = connection.dialect.identifier_preparer.quote(database)
            await connection.execute(text(statement.format(database=quoted)))
    finally:
        await engine.dispose()


@contextmanager
def scratch_database(
    database_url: str, prefix: str, search_path: str | None = None
) -> Iterator[str]:
    """The URL of a new, empty database beside database_url's; dropped (or deleted) afterwards.

    PostgreSQL: a database on the same server. SQLite: a file in a temporary directory.
    search_path (PostgreSQL) becomes the new database's default.
    """
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        with tempfile.TemporaryDirectory() as directory:
            yield url.set(database=str(Path(directory) / f"{name}.db")).render_as_string()
        return
    asyncio.run(_run_as_admin(database_url, "CREATE DATABASE {database}", name))
    try:
        if search_path is not None:
            # A fixed list of schema names from the caller, never user input.
            statement = "ALTER DATABASE {database} SET search_path = " + search_path
            asyncio.run(_run_as_admin(database_url, statement, name))
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        drop = "DROP DATABASE IF EXISTS {database} WITH (FORCE)"
        asyncio.run(_run_as_admin(database_url, drop, name))
