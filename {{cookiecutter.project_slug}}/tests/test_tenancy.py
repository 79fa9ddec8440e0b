"""Schema per tenant: every tenant migrated and isolated; tenant names never reach SQL unchecked."""

import asyncio
import subprocess
import sys
import uuid

import pytest
from alembic.command import downgrade, upgrade
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlalchemy import column, inspect, select, table, text
from sqlalchemy.ext.asyncio import AsyncEngine

from {{ cookiecutter.package_name }}.main import create_app
from {{ cookiecutter.package_name }}.migrator.tenancy import TenantNameError, schema_versions
from {{ cookiecutter.package_name }}.settings import Settings
from {{ cookiecutter.package_name }}.tenants import TenantError, create_tenant, migrate_new_tenants
from tests.databases import on_connection, run_alembic
from tests.fixtures.scratch_migrations import (
    alembic,
    alembic_environment,
    project_head,
    run,
    stopped_with_one_line,
)
from tests.migrations.stairway import run_stairway

TENANTS_CLI = "{{ cookiecutter.package_name }}.tenants"
UNREACHABLE_URL = "postgresql://nobody@127.0.0.1:1/nowhere"
BAD_NAMES = ['acme"; DROP SCHEMA shared CASCADE; --', "acme.evil", "it's", "Upper", "pg_x", ""]
{%- if cookiecutter.example_model == "yes" %}
HEAD_TABLES = {"authors", "books"}
{%- else %}
HEAD_TABLES: set[str] = set()
{%- endif %}


def tables(database_url: str, schema: str) -> set[str]:
    return on_connection(database_url, lambda c: set(inspect(c).get_table_names(schema=schema)))


def version(database_url: str, schema: str) -> str | None:
    version_table = table("alembic_version", column("version_num"), schema=schema)
    return on_connection(database_url, lambda c: c.scalar(select(version_table.c.version_num)))


def add_tenants(database_url: str, *names: str) -> None:
    async def create_all() -> None:
        for name in names:
            await create_tenant(Settings(database_url=database_url), name)

    asyncio.run(create_all())


def alembic_cli(database_url: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    return run(alembic(*arguments), alembic_environment(database_url))


def test_upgrade_head_migrates_shared_template_and_every_tenant(database_url: str) -> None:
    run_alembic(database_url, lambda config: upgrade(config, "head"))
    add_tenants(database_url, "acme", "globex", "initech")

    for schema in ("tenant_template", "tenant_acme", "tenant_globex", "tenant_initech"):
        assert tables(database_url, schema) == HEAD_TABLES | {"alembic_version"}
        assert version(database_url, schema) == project_head()
    assert tables(database_url, "shared") == {"tenants", "alembic_version"}
    assert version(database_url, "shared") == project_head()


def test_a_tenant_behind_is_caught_up_by_upgrade_head(database_url: str) -> None:
    run_alembic(database_url, lambda config: upgrade(config, "head"))
    add_tenants(database_url, "acme", "globex", "initech")
    run_alembic(database_url, lambda config: downgrade(config, "base"), tenant="globex")
    assert tables(database_url, "tenant_globex") == {"alembic_version"}
    assert version(database_url, "tenant_acme") == project_head()
    # The deploy check sees the tenant that is behind.
    behind = alembic_cli(database_url, "current", "--check-heads")
    assert behind.returncode != 0
    assert "FAILED: the database is not at the head revision" in behind.stdout
    assert on_connection(database_url, schema_versions).tenants["globex"] == ()

    run_alembic(database_url, lambda config: upgrade(config, "head"))
    assert alembic_cli(database_url, "current", "--check-heads").returncode == 0
    assert on_connection(database_url, schema_versions).tenants["globex"] == (project_head(),)

    assert tables(database_url, "tenant_globex") == HEAD_TABLES | {"alembic_version"}
    assert version(database_url, "tenant_globex") == project_head()


def test_downgrade_base_reaches_every_schema(database_url: str) -> None:
    run_alembic(database_url, lambda config: upgrade(config, "head"))
    add_tenants(database_url, "acme", "globex")

    run_alembic(database_url, lambda config: downgrade(config, "base"))

    for schema in ("shared", "tenant_template", "tenant_acme", "tenant_globex"):
        assert tables(database_url, schema) == {"alembic_version"}, schema
        assert version(database_url, schema) is None


def test_stairway_for_shared_template_and_each_tenant(database_url: str) -> None:
    run_alembic(database_url, run_stairway)
    for name in ("acme", "globex", "initech"):
        run_alembic(database_url, run_stairway, tenant=name)
        assert tables(database_url, f"tenant_{name}") == HEAD_TABLES | {"alembic_version"}
    assert version(database_url, "shared") == project_head()


@pytest.mark.parametrize("name", BAD_NAMES, ids=range(len(BAD_NAMES)))
def test_bad_tenant_names_are_refused_before_any_sql(name: str) -> None:
    with pytest.raises(TenantNameError, match="tenant name"):
        migrate_new_tenants(Settings(database_url=UNREACHABLE_URL), [name])


def test_alembic_refuses_a_tenant_that_is_not_registered(database_url: str) -> None:
    run_alembic(database_url, lambda config: upgrade(config, "head"))

    environment = alembic_environment(database_url)
    result = run(alembic("-x", "tenant=acmee", "upgrade", "head"), environment)

    assert stopped_with_one_line(result).startswith("alembic: tenant acmee is not registered")
    assert tables(database_url, "tenant_acmee") == set()


def test_alembic_refuses_a_bad_tenant_name_without_connecting() -> None:
    # Nothing listens on port 1: an error about the name proves no connection was attempted.
    nowhere = "postgresql+asyncpg://nobody@127.0.0.1:1/nowhere"
    result = alembic_cli(nowhere, "-x", "tenant=acme;drop", "upgrade", "head")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("alembic: tenant name 'acme;drop'")
    assert "Traceback" not in result.stderr

{%- if cookiecutter.example_model == "yes" %}


async def test_each_tenant_sees_only_its_own_rows(
    client: AsyncClient, admin_headers: dict[str, str]
) -> None:
    other = f"other_{uuid.uuid4().hex[:8]}"
    registered = await client.post("/tenants", json={"name": other}, headers=admin_headers)
    assert registered.status_code == 201
    created = await client.post("/authors", json={"name": "Ann", "email": "ann@example.com"})
    assert created.status_code == 201

    assert len((await client.get("/authors")).json()["items"]) == 1
    assert (await client.get("/authors", headers={"X-Tenant": other})).json()["items"] == []


async def test_unknown_missing_or_bad_tenant_header(client: AsyncClient) -> None:
    assert (await client.get("/authors", headers={"X-Tenant": "nobody"})).status_code == 404
    assert (await client.get("/authors", headers={"X-Tenant": "a.b"})).status_code == 422
    client.headers.pop("X-Tenant")
    assert (await client.get("/authors")).status_code == 422
{%- endif %}


async def test_registering_a_tenant_twice_or_with_a_bad_name_fails(
    client: AsyncClient, admin_headers: dict[str, str]
) -> None:
    name = f"twice_{uuid.uuid4().hex[:8]}"
    created = await client.post("/tenants", json={"name": name}, headers=admin_headers)
    assert created.status_code == 201
    again = await client.post("/tenants", json={"name": name}, headers=admin_headers)
    assert again.status_code == 409
    assert "exists already" in again.json()["detail"]
    response = await client.post("/tenants", json={"name": "x'; --"}, headers=admin_headers)
    assert response.status_code == 422
    assert "tenant name" in response.json()["detail"]


async def test_ten_tenants_created_at_once_are_each_complete(
    app: FastAPI, client: AsyncClient, admin_headers: dict[str, str]
) -> None:
    names = [f"burst_{index}_{uuid.uuid4().hex[:8]}" for index in range(10)]

    responses = await asyncio.gather(
        *(client.post("/tenants", json={"name": name}, headers=admin_headers) for name in names)
    )

    assert [response.status_code for response in responses] == [201] * 10, responses[0].text
    engine: AsyncEngine = app.state.engine
    async with engine.connect() as connection:
        versions = await connection.run_sync(schema_versions)
    assert {name: versions.tenants.get(name) for name in names} == {
        name: (project_head(),) for name in names
    }
    assert (await client.get("/health")).status_code == 200


def test_the_same_tenant_created_twice_at_once_from_the_cli(database_url: str) -> None:
    run_alembic(database_url, lambda config: upgrade(config, "head"))
    command = [sys.executable, "-m", TENANTS_CLI, "create", "twin"]
    environment = alembic_environment(database_url)
    started = [
        subprocess.Popen(command, env=environment, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    errors = [process.communicate()[1] for process in started]

    assert sorted(process.returncode for process in started) == [0, 2], errors
    outcomes = zip(started, errors, strict=True)
    [failure] = [error for process, error in outcomes if process.returncode]
    assert failure.strip() == "error: tenant twin exists already: choose another name"
    assert tables(database_url, "tenant_twin") == HEAD_TABLES | {"alembic_version"}


def test_a_tenant_is_refused_while_the_shared_schema_is_behind(database_url: str) -> None:
    run_alembic(database_url, lambda config: upgrade(config, "head"))
    on_connection(database_url, lambda c: c.execute(text("DELETE FROM shared.alembic_version")))

    with pytest.raises(TenantError, match="shared schema is not at the head revision"):
        asyncio.run(create_tenant(Settings(database_url=database_url), "early"))
    assert tables(database_url, "tenant_early") == set()


async def test_creating_a_tenant_needs_the_admin_token(
    client: AsyncClient, admin_headers: dict[str, str]
) -> None:
    name = {"name": f"guarded_{uuid.uuid4().hex[:8]}"}
    assert (await client.post("/tenants", json=name)).status_code == 401
    wrong = await client.post("/tenants", json=name, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert (await client.post("/tenants", json=name, headers=admin_headers)).status_code == 201


async def test_without_the_admin_token_setting_tenant_creation_does_not_exist(
    migrated_database_url: str, admin_headers: dict[str, str]
) -> None:
    # Set explicitly: a TENANT_ADMIN_TOKEN in .env or the environment must not change the test.
    app = create_app(Settings(database_url=migrated_database_url, tenant_admin_token=None))
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as http,
    ):
        response = await http.post("/tenants", json={"name": "nobody"}, headers=admin_headers)
    assert response.status_code == 404


async def test_a_broken_tenant_fails_alone(
    app: FastAPI, client: AsyncClient, admin_headers: dict[str, str]
) -> None:
    """A dropped schema and an invalid registry row degrade /health; other tenants go on."""
    broken = f"broken_{uuid.uuid4().hex[:8]}"
    created = await client.post("/tenants", json={"name": broken}, headers=admin_headers)
    assert created.status_code == 201
    engine: AsyncEngine = app.state.engine
    async with engine.begin() as connection:
        await connection.execute(text(f'DROP SCHEMA "tenant_{broken}" CASCADE'))
        await connection.execute(text("INSERT INTO shared.tenants (name) VALUES ('Bad-Name')"))
    try:
        health = await client.get("/health")
        broken_request = await client.get("/health", headers={"X-Tenant": broken})
        tenants = await client.get("/tenants", headers=admin_headers)
{%- if cookiecutter.example_model == "yes" %}
        own = await client.get("/authors")
        other = await client.get("/authors", headers={"X-Tenant": broken})
{%- endif %}
    finally:
        async with engine.begin() as connection:
            await connection.execute(text("DELETE FROM shared.tenants WHERE name = 'Bad-Name'"))
            await connection.execute(
                text("DELETE FROM shared.tenants WHERE name = :name"), {"name": broken}
            )

    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "degraded"
    assert body["tenants"]["behind"] >= 1 and body["tenants"]["invalid"] == 1
    assert {"Bad-Name", broken} <= set(body["tenants"]["examples"])
    assert broken_request.status_code == 200  # /health does not depend on X-Tenant
    assert tenants.status_code == 200
{%- if cookiecutter.example_model == "yes" %}
    assert own.status_code == 200
    assert other.status_code == 503
    assert other.json()["detail"].startswith(f"tenant {broken} is not at the head revision")
{%- endif %}
