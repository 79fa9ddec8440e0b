"""Schema per tenant: every tenant migrated and isolated; tenant names never reach SQL unchecked."""

import argparse
import asyncio
import os
import subprocess
import sys
from collections.abc import Callable

import pytest
from alembic.command import downgrade, upgrade
from alembic.config import Config
from alembic.script import ScriptDirectory
from httpx import AsyncClient
from sqlalchemy import column, inspect, select, table

from {{ cookiecutter.package_name }}.revisions import current_revisions
from {{ cookiecutter.package_name }}.tenants import TenantNameError, create_tenant, migrate_tenant
from tests.databases import ALEMBIC_INI, engine_for, on_connection, run_alembic
from tests.migrations.stairway import run_stairway

BAD_NAMES = ['acme"; DROP SCHEMA shared CASCADE; --', "acme.evil", "it's", "Upper", "pg_x", ""]
{%- if cookiecutter.example_model == "yes" %}
HEAD_TABLES = {"authors", "books"}
{%- else %}
HEAD_TABLES: set[str] = set()
{%- endif %}


def for_tenant(name: str, command: Callable[[Config], object]) -> Callable[[Config], object]:
    """Run an alembic command with `-x tenant=NAME`, as the command line would."""

    def run(config: Config) -> object:
        config.cmd_opts = argparse.Namespace(x=[f"tenant={name}"])
        return command(config)

    return run


def tables(database_url: str, schema: str) -> set[str]:
    return on_connection(database_url, lambda c: set(inspect(c).get_table_names(schema=schema)))


def version(database_url: str, schema: str) -> str | None:
    version_table = table("alembic_version", column("version_num"), schema=schema)
    return on_connection(database_url, lambda c: c.scalar(select(version_table.c.version_num)))


def add_tenants(database_url: str, *names: str) -> None:
    async def go() -> None:
        engine = engine_for(database_url)
        try:
            for name in names:
                await create_tenant(engine, name, ALEMBIC_INI)
        finally:
            await engine.dispose()

    asyncio.run(go())


def alembic_cli(database_url: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "alembic", *arguments],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def head() -> str:
    return ScriptDirectory.from_config(Config(ALEMBIC_INI)).get_current_head() or ""


def test_upgrade_head_migrates_shared_template_and_every_tenant(database_url: str) -> None:
    run_alembic(database_url, lambda config: upgrade(config, "head"))
    add_tenants(database_url, "acme", "globex", "initech")

    for schema in ("tenant_template", "tenant_acme", "tenant_globex", "tenant_initech"):
        assert tables(database_url, schema) == HEAD_TABLES | {"alembic_version"}
        assert version(database_url, schema) == head()
    assert tables(database_url, "shared") == {"tenants", "alembic_version"}
    assert version(database_url, "shared") == head()


def test_a_tenant_behind_is_caught_up_by_upgrade_head(database_url: str) -> None:
    run_alembic(database_url, lambda config: upgrade(config, "head"))
    add_tenants(database_url, "acme", "globex", "initech")
    run_alembic(database_url, for_tenant("globex", lambda config: downgrade(config, "base")))
    assert tables(database_url, "tenant_globex") == {"alembic_version"}
    assert version(database_url, "tenant_acme") == head()
    # The deploy check and /health see the tenant that is behind.
    behind = alembic_cli(database_url, "current", "--check-heads")
    assert behind.returncode != 0 and "not on all head revisions" in behind.stdout + behind.stderr
    assert on_connection(database_url, current_revisions) != frozenset({head()})

    run_alembic(database_url, lambda config: upgrade(config, "head"))
    assert alembic_cli(database_url, "current", "--check-heads").returncode == 0
    assert on_connection(database_url, current_revisions) == frozenset({head()})

    assert tables(database_url, "tenant_globex") == HEAD_TABLES | {"alembic_version"}
    assert version(database_url, "tenant_globex") == head()


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
        run_alembic(database_url, for_tenant(name, run_stairway))
        assert tables(database_url, f"tenant_{name}") == HEAD_TABLES | {"alembic_version"}
    assert version(database_url, "shared") == head()


@pytest.mark.parametrize("name", BAD_NAMES, ids=range(len(BAD_NAMES)))
def test_bad_tenant_names_are_refused_before_any_sql(name: str) -> None:
    with pytest.raises(TenantNameError, match="tenant name"):
        migrate_tenant(None, name, ALEMBIC_INI)  # type: ignore[arg-type]  # never reaches it


def test_alembic_refuses_a_bad_tenant_name_without_connecting() -> None:
    # Nothing listens on port 1: an error about the name proves no connection was attempted.
    nowhere = "postgresql+asyncpg://nobody@127.0.0.1:1/nowhere"
    result = alembic_cli(nowhere, "-x", "tenant=acme;drop", "upgrade", "head")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("alembic: tenant name 'acme;drop'")
    assert "Traceback" not in result.stderr

{%- if cookiecutter.example_model == "yes" %}


async def test_each_tenant_sees_only_its_own_rows(client: AsyncClient) -> None:
    other = (await client.post("/tenants", json={"name": "other_tenant"})).json()["name"]
    created = await client.post("/authors", json={"name": "Ann", "email": "ann@example.com"})
    assert created.status_code == 201

    assert len((await client.get("/authors")).json()) == 1
    assert (await client.get("/authors", headers={"X-Tenant": other})).json() == []


async def test_unknown_missing_or_bad_tenant_header(client: AsyncClient) -> None:
    assert (await client.get("/authors", headers={"X-Tenant": "nobody"})).status_code == 404
    assert (await client.get("/authors", headers={"X-Tenant": "a.b"})).status_code == 422
    client.headers.pop("X-Tenant")
    assert (await client.get("/authors")).status_code == 422
{%- endif %}


async def test_registering_a_tenant_twice_or_with_a_bad_name_fails(client: AsyncClient) -> None:
    assert (await client.post("/tenants", json={"name": "twice"})).status_code == 201
    assert (await client.post("/tenants", json={"name": "twice"})).status_code == 409
    response = await client.post("/tenants", json={"name": "x'; --"})
    assert response.status_code == 422
    assert "tenant name" in response.json()["detail"]
