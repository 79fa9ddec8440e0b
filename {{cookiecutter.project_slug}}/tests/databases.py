"""Scratch databases and in-process Alembic runs for the tests."""

import asyncio
{%- if cookiecutter.database == "sqlite" %}
import tempfile
{%- endif %}
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from alembic.config import Config
from sqlalchemy import Connection, pool{{ ", text" if cookiecutter.database == "postgresql" }}
{%- if cookiecutter.database == "postgresql" %}
from sqlalchemy.engine import make_url
{%- endif %}
from sqlalchemy.ext.asyncio import AsyncEngine{{ ", create_async_engine" if cookiecutter.database == "postgresql" }}

from {{ cookiecutter.package_name }}.db import create_engine
from {{ cookiecutter.package_name }}.settings import Settings{{ ", get_settings" if cookiecutter.database == "postgresql" }}

ALEMBIC_INI = Path("alembic.ini")
T = TypeVar("T")
{%- if cookiecutter.database == "postgresql" %}


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
def scratch_database() -> Iterator[str]:
    """A new, empty database on the DATABASE_URL server, dropped afterwards."""
    server_url = get_settings().database_url
    name = f"test_{{ cookiecutter.project_slug }}_{uuid.uuid4().hex[:12]}"
    asyncio.run(_run_as_admin(server_url, "CREATE DATABASE {database}", name))
{%- if cookiecutter.tenancy == "schema-per-tenant" %}
    # Unqualified names in tests mean the template tenant, which every upgrade migrates.
    statement = "ALTER DATABASE {database} SET search_path = tenant_template, public"
    asyncio.run(_run_as_admin(server_url, statement, name))
{%- endif %}
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(
            _run_as_admin(server_url, "DROP DATABASE IF EXISTS {database} WITH (FORCE)", name)
        )
{%- else %}


@contextmanager
def scratch_database() -> Iterator[str]:
    """A new, empty SQLite database file, deleted afterwards."""
    with tempfile.TemporaryDirectory() as directory:
        name = f"test_{{ cookiecutter.project_slug }}_{uuid.uuid4().hex[:12]}.db"
        yield f"sqlite+aiosqlite:///{Path(directory) / name}"
{%- endif %}


def engine_for(database_url: str) -> AsyncEngine:
    """The app's own engine configuration, without a pool, for a scratch database."""
    return create_engine(Settings(database_url=database_url), poolclass=pool.NullPool)


def on_connection(database_url: str, work: Callable[[Connection], T]) -> T:
    """Run work(connection) in a committed transaction on database_url, from synchronous code."""

    async def run() -> T:
        engine = engine_for(database_url)
        try:
            async with engine.begin() as connection:
                return await connection.run_sync(work)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def alembic_config_for(connection: Connection, script_location: Path | None = None) -> Config:
    """An Alembic config that runs env.py on this connection instead of opening its own."""
    config = Config(ALEMBIC_INI)
    config.attributes["configure_logger"] = False
    config.attributes["connection"] = connection
    if script_location is not None:
        config.set_main_option("script_location", str(script_location))
    return config


def run_alembic(
    database_url: str, command: Callable[[Config], object], script_location: Path | None = None
) -> None:
    """Run an alembic.command function against database_url from synchronous test code."""

    async def run() -> None:
        engine = engine_for(database_url)
        try:
            async with engine.connect() as connection:
                await connection.run_sync(
                    lambda sync: command(alembic_config_for(sync, script_location))
                )
        finally:
            await engine.dispose()

    asyncio.run(run())
