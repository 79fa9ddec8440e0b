"""Scratch databases, connections to them, and in-process Alembic runs, for the tests.

Statements about a database rather than in it (PostgreSQL: create a role, refuse connections)
go through `devtools.scratch.run_as_admin`, which makes the scratch databases too.
"""

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, TypeVar

from alembic.config import Config
from sqlalchemy import Connection, pool, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

import devtools.scratch
from {{ cookiecutter.package_name }}.db import create_engine
from {{ cookiecutter.package_name }}.migrator.config import build_config
from {{ cookiecutter.package_name }}.settings import Settings, get_settings

ALEMBIC_INI = Path("alembic.ini")
# Database names keep 63 bytes: a long slug would cut off the unique part of the name.
SCRATCH_PREFIX = "test_{{ cookiecutter.project_slug[:30] }}"
{%- if cookiecutter.tenancy == "schema-per-tenant" %}
# Unqualified names in tests mean the template tenant, which every upgrade migrates.
SEARCH_PATH: str | None = "tenant_template, public"
{%- else %}
SEARCH_PATH: str | None = None
{%- endif %}
T = TypeVar("T")


@contextmanager
def scratch_database() -> Iterator[str]:
    """A new, empty database beside the one in DATABASE_URL, removed afterwards."""
    server_url = get_settings().database_url
    with devtools.scratch.scratch_database(server_url, SCRATCH_PREFIX, SEARCH_PATH) as url:
        yield url


def engine_for(database_url: str) -> AsyncEngine:
    """The app's own engine configuration, without a pool, for a scratch database."""
    return create_engine(Settings(database_url=database_url), poolclass=pool.NullPool)


@asynccontextmanager
async def connected(database_url: str) -> AsyncIterator[AsyncConnection]:
    """A connection of its own to database_url; its engine is disposed of afterwards."""
    engine = engine_for(database_url)
    try:
        async with engine.connect() as connection:
            yield connection
    finally:
        await engine.dispose()


def on_connection(database_url: str, work: Callable[[Connection], T]) -> T:
    """Run work(connection) on database_url and commit, from synchronous code."""

    async def run() -> T:
        async with connected(database_url) as connection:
            result = await connection.run_sync(work)
            await connection.commit()
            return result

    return asyncio.run(run())


def query(database_url: str, statement: str, **parameters: object) -> list[tuple[Any, ...]]:
    """The rows one SQL statement returns on database_url."""
    return on_connection(
        database_url,
        lambda connection: [tuple(row) for row in connection.execute(text(statement), parameters)],
    )


def run_alembic(
    database_url: str, command: Callable[[Config], object], **config_options: Any
) -> None:
    """Run an alembic.command function against database_url from synchronous test code.

    config_options go to build_config() (script_location{{ ", tenant" if cookiecutter.tenancy == "schema-per-tenant" }}).
    """

    async def run() -> None:
        async with connected(database_url) as connection:
            await connection.run_sync(lambda sync: command(build_config(sync, **config_options)))

    asyncio.run(run())


def execute_outside_transaction(database_url: str, *statements: str) -> None:
    """Statements in autocommit, as CONCURRENTLY needs them."""

    async def run_them() -> None:
        engine = engine_for(database_url).execution_options(isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as connection:
                for statement in statements:
                    await connection.execute(text(statement))
        finally:
            await engine.dispose()

    asyncio.run(run_them())
