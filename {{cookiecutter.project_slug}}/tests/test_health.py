"""/health reports the database and whether its schema is at the head revision."""

from alembic.command import upgrade
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import text

from {{ cookiecutter.package_name }}.api.deps import get_engine
from {{ cookiecutter.package_name }}.migrator.config import build_config
from tests.databases import connected, engine_for

MIGRATED_BY_A_NEWER_RELEASE = text("UPDATE {{ 'shared.' if cookiecutter.tenancy == 'schema-per-tenant' }}alembic_version SET version_num = 'f00d0000beef'")


async def test_health_is_ok_on_a_migrated_database(client: AsyncClient) -> None:
    response = await client.get("/health")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == "reachable"
    assert body["current_revisions"] == body["head_revisions"]


async def test_health_is_503_when_the_database_is_behind(
    app: FastAPI, client: AsyncClient, database_url: str
) -> None:
    app.dependency_overrides[get_engine] = lambda: engine_for(database_url)

    response = await client.get("/health")

    assert response.status_code == 503
    assert response.json()["current_revisions"] == []
    assert "alembic upgrade head" in response.json()["detail"]


async def test_health_is_ok_when_a_newer_release_has_migrated_the_database(
    app: FastAPI, client: AsyncClient, database_url: str
) -> None:
    """Deploys migrate before the new code starts: the old replicas must stay in rotation."""
    async with connected(database_url) as connection:
        await connection.run_sync(lambda sync: upgrade(build_config(sync), "head"))
        await connection.execute(MIGRATED_BY_A_NEWER_RELEASE)
        await connection.commit()
    app.dependency_overrides[get_engine] = lambda: engine_for(database_url)

    response = await client.get("/health")

    assert response.status_code == 200
    assert response.json()["current_revisions"] == ["f00d0000beef"]
    assert "ahead of this code" in response.json()["detail"]


async def test_health_is_503_when_the_database_is_unreachable(
    app: FastAPI, client: AsyncClient
) -> None:
{%- if cookiecutter.database == "postgresql" %}
    unreachable = "postgresql+asyncpg://nobody@127.0.0.1:1/nowhere"
{%- elif cookiecutter.database == "mysql" %}
    unreachable = "mysql+aiomysql://nobody@127.0.0.1:1/nowhere"
{%- else %}
    unreachable = "sqlite+aiosqlite:////nonexistent/directory/app.db"
{%- endif %}
    app.dependency_overrides[get_engine] = lambda: engine_for(unreachable)

    response = await client.get("/health")

    assert response.status_code == 503
    body = response.json()
    assert (body["status"], body["database"]) == ("unavailable", "unreachable")
    assert body["current_revisions"] == []
    assert body["detail"] == "the database cannot be reached"
