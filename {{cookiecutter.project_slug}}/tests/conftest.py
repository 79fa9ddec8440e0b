"""Every test run works in databases it creates next to the one in DATABASE_URL, and drops."""

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

import pytest
from alembic.command import upgrade
from alembic.config import Config
from httpx import ASGITransport, AsyncClient
{%- if cookiecutter.database == "sqlite" %}
from sqlalchemy.engine import make_url
{%- endif %}
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

{% if cookiecutter.database == "postgresql" and cookiecutter.tenancy == "single" -%}
from {{ cookiecutter.package_name }}.db import create_engine
{% endif -%}
from {{ cookiecutter.package_name }}.main import app
from {{ cookiecutter.package_name }}.revisions import head_revisions
{%- if cookiecutter.database == "postgresql" and cookiecutter.tenancy == "single" %}
from {{ cookiecutter.package_name }}.settings import Settings
{%- endif %}
{%- if cookiecutter.tenancy == "schema-per-tenant" %}
from {{ cookiecutter.package_name }}.tenants import create_tenant
{%- endif %}
from tests.databases import (
    ALEMBIC_INI,
    alembic_config_for,
    engine_for,
    run_alembic,
    scratch_database,
)


@pytest.fixture
def database_url() -> Iterator[str]:
    with scratch_database() as url:
        yield url


@pytest.fixture
def alembic_config() -> Config:
    return alembic_config_for(None)


@pytest.fixture
def alembic_engine(database_url: str) -> AsyncEngine:
    return engine_for(database_url)


@pytest.fixture(scope="session")
def migrated_database_url() -> Iterator[str]:
    """One database migrated to head for the whole run; API tests never commit to it."""
    with scratch_database() as url:
        run_alembic(url, lambda config: upgrade(config, "head"))
        yield url
{%- if cookiecutter.tenancy == "schema-per-tenant" %}


@pytest.fixture
async def client(migrated_database_url: str) -> AsyncIterator[AsyncClient]:
    """An API client acting for a tenant of its own, created for this test."""
    engine = engine_for(migrated_database_url)
    tenant = f"test_{uuid.uuid4().hex[:12]}"
    await create_tenant(engine, tenant, ALEMBIC_INI)
    app.state.engine = engine
    app.state.head_revisions = head_revisions(ALEMBIC_INI)
    app.state.sessions = async_sessionmaker(engine, expire_on_commit=False)
    transport = ASGITransport(app=app)
    headers = {"X-Tenant": tenant}
    async with AsyncClient(transport=transport, base_url="http://test", headers=headers) as http:
        yield http
    await engine.dispose()
{%- elif cookiecutter.database == "postgresql" %}


@pytest.fixture(scope="session")
async def migrated_engine(migrated_database_url: str) -> AsyncIterator[AsyncEngine]:
    """One pooled engine for the run: a test borrows a connection instead of opening one."""
    engine = create_engine(Settings(database_url=migrated_database_url))
    yield engine
    await engine.dispose()


@pytest.fixture
async def client(migrated_engine: AsyncEngine) -> AsyncIterator[AsyncClient]:
    """An API client whose every write is rolled back when the test ends."""
    async with migrated_engine.connect() as connection:
        transaction = await connection.begin()
        app.state.engine = migrated_engine
        app.state.head_revisions = head_revisions(ALEMBIC_INI)
        # Commits inside the app release a savepoint; the outer transaction is rolled back.
        app.state.sessions = async_sessionmaker(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        )
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as http:
            yield http
        await transaction.rollback()
{%- else %}


@pytest.fixture
async def client(migrated_database_url: str, tmp_path: Path) -> AsyncIterator[AsyncClient]:
    """An API client on a private copy of the migrated database file."""
    copy = tmp_path / "test.db"
    shutil.copyfile(make_url(migrated_database_url).database or "", copy)
    engine = engine_for(f"sqlite+aiosqlite:///{copy}")
    app.state.engine = engine
    app.state.head_revisions = head_revisions(ALEMBIC_INI)
    app.state.sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as http:
        yield http
    await engine.dispose()
{%- endif %}
