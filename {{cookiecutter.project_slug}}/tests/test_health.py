"""/health reports the database and whether its schema is at the head revision."""

from fastapi import FastAPI
from httpx import AsyncClient

from {{ cookiecutter.package_name }}.api.deps import get_engine
from tests.databases import engine_for


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


async def test_health_is_503_when_the_database_is_unreachable(
    app: FastAPI, client: AsyncClient
) -> None:
{%- if cookiecutter.database == "postgresql" %}
    unreachable = "postgresql+asyncpg://nobody@127.0.0.1:1/nowhere"
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
