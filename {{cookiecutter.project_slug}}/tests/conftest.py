"""Every test run works in databases it creates next to the one in DATABASE_URL, and drops."""

import os
{% if cookiecutter.database == "sqlite" -%}
import shutil
{% endif -%}
{% if cookiecutter.tenancy == "schema-per-tenant" -%}
import uuid
{% endif -%}
from collections.abc import AsyncIterator, Iterator
{%- if cookiecutter.database == "sqlite" %}
from pathlib import Path
{%- endif %}
from typing import Any

import pytest
from alembic.command import upgrade
from alembic.config import Config
from dotenv import dotenv_values
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
{%- if cookiecutter.database == "sqlite" %}
from sqlalchemy.engine import make_url
{%- endif %}
from sqlalchemy.ext.asyncio import AsyncEngine{{ ", async_sessionmaker" if cookiecutter.database != "sqlite" and cookiecutter.tenancy == "single" }}

{% if cookiecutter.database != "sqlite" and cookiecutter.tenancy == "single" -%}
from {{ cookiecutter.package_name }}.api.deps import get_sessionmaker
{% endif -%}
from {{ cookiecutter.package_name }}.main import create_app
from {{ cookiecutter.package_name }}.migrator.config import build_config
from {{ cookiecutter.package_name }}.settings import Settings
{%- if cookiecutter.tenancy == "schema-per-tenant" %}
from {{ cookiecutter.package_name }}.tenants import create_tenant
{%- endif %}
from tests.databases import engine_for, run_alembic, scratch_database
{%- if cookiecutter.database == "postgresql" %}

# Settings that lead a migration away from DATABASE_URL: the tests migrate databases they create
# beside it, never the one these name.
REDIRECTING = ("MIGRATION_DATABASE_URL", "DATABASE_POOLER")
{%- endif %}


def pytest_sessionstart(session: pytest.Session) -> None:
    dotenv = session.config.rootpath / ".env"
    values = dotenv_values(dotenv) if dotenv.is_file() else {}
{%- if cookiecutter.database == "postgresql" %}
    for name in REDIRECTING:
        os.environ.pop(name, None)
    named = [name for name in REDIRECTING if values.get(name)]
    if named:
        pytest.exit(
            f"tests: .env sets {', '.join(named)}, which the tests' alembic runs would follow to "
            "your database; run them without it (e.g. move .env aside, with DATABASE_URL "
            "pointing straight at PostgreSQL in the environment)",
            returncode=4,
        )
{%- endif %}
    # Tests run alembic and devtools in processes and directories of their own, where .env is
    # not read: the server they make scratch databases on goes along in the environment.
    if not os.environ.get("DATABASE_URL") and values.get("DATABASE_URL"):
        os.environ["DATABASE_URL"] = str(values["DATABASE_URL"])


@pytest.fixture
def database_url() -> Iterator[str]:
    with scratch_database() as url:
        yield url


@pytest.fixture
def alembic_config() -> Config:
    return build_config()


@pytest.fixture
def alembic_engine(database_url: str) -> AsyncEngine:
    return engine_for(database_url)


@pytest.fixture(scope="session")
def migrated_database_url() -> Iterator[str]:
    """One database migrated to head for the whole run; API tests never commit to it.

    With TEST_MIGRATED_DATABASE_URL set, that database as it is, neither migrated nor dropped:
    `python -m devtools n-minus-one` migrates it with the next release's pre-deploy phase.
    """
    if given := os.environ.get("TEST_MIGRATED_DATABASE_URL"):
        yield given
        return
    with scratch_database() as url:
        run_alembic(url, lambda config: upgrade(config, "head"))
        yield url


async def started(database_url: str, **settings: Any) -> AsyncIterator[FastAPI]:
    """The app, started as a server starts it, on database_url."""
    app = create_app(Settings(database_url=database_url, **settings))
    async with app.router.lifespan_context(app):
        yield app
{%- if cookiecutter.database != "sqlite" %}
{%- if cookiecutter.tenancy == "schema-per-tenant" %}


TENANT_ADMIN_TOKEN = "test-tenant-admin-token"


@pytest.fixture(scope="session")
async def app(migrated_database_url: str) -> AsyncIterator[FastAPI]:
    async for running in started(migrated_database_url, tenant_admin_token=TENANT_ADMIN_TOKEN):
        yield running


@pytest.fixture
def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {TENANT_ADMIN_TOKEN}"}


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[AsyncClient]:
    """An API client acting for a tenant of its own, created for this test."""
    tenant = f"test_{uuid.uuid4().hex[:12]}"
    await create_tenant(app.state.settings, tenant)
    transport = ASGITransport(app=app)
    headers = {"X-Tenant": tenant}
    async with AsyncClient(transport=transport, base_url="http://test", headers=headers) as http:
        yield http
    app.dependency_overrides.clear()
{%- else %}


@pytest.fixture(scope="session")
async def app(migrated_database_url: str) -> AsyncIterator[FastAPI]:
    async for running in started(migrated_database_url):
        yield running


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[AsyncClient]:
    """An API client whose every write is rolled back when the test ends."""
    engine: AsyncEngine = app.state.engine
    async with engine.connect() as connection:
        transaction = await connection.begin()
        # Commits inside the app release a savepoint; the outer transaction is rolled back.
        sessions = async_sessionmaker(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        )
        app.dependency_overrides[get_sessionmaker] = lambda: sessions
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as http:
            yield http
        app.dependency_overrides.clear()
        await transaction.rollback()
{%- endif %}
{%- else %}


@pytest.fixture
async def app(migrated_database_url: str, tmp_path: Path) -> AsyncIterator[FastAPI]:
    """The app on a private copy of the migrated database file."""
    copy = tmp_path / "test.db"
    shutil.copyfile(make_url(migrated_database_url).database or "", copy)
    async for running in started(f"sqlite+aiosqlite:///{copy}"):
        yield running


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as http:
        yield http
    app.dependency_overrides.clear()
{%- endif %}
