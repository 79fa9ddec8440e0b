"""Scratch databases and in-process Alembic runs for the tests."""

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from alembic.config import Config
from sqlalchemy import Connection, pool
from sqlalchemy.ext.asyncio import AsyncEngine

import devtools.scratch
from {{ cookiecutter.package_name }}.db import create_engine
from {{ cookiecutter.package_name }}.migrations_runtime.config import build_config
from {{ cookiecutter.package_name }}.settings import Settings, get_settings

ALEMBIC_INI = Path("alembic.ini")
SCRATCH_PREFIX = "test_{{ cookiecutter.project_slug }}"
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


def run_alembic(
    database_url: str, command: Callable[[Config], object], **config_options: Any
) -> None:
    """Run an alembic.command function against database_url from synchronous test code.

    config_options go to build_config() (script_location{{ ", tenant" if cookiecutter.tenancy == "schema-per-tenant" }}).
    """

    async def run() -> None:
        engine = engine_for(database_url)
        try:
            async with engine.connect() as connection:
                await connection.run_sync(
                    lambda sync: command(build_config(sync, **config_options))
                )
        finally:
            await engine.dispose()

    asyncio.run(run())
