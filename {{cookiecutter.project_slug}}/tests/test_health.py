"""/health reports the database and whether its schema is at the head revision."""

from httpx import AsyncClient
from sqlalchemy import pool
from sqlalchemy.ext.asyncio import create_async_engine

from {{ cookiecutter.package_name }}.main import app


async def test_health_is_ok_on_a_migrated_database(client: AsyncClient) -> None:
    response = await client.get("/health")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == "reachable"
    assert body["current_revisions"] == body["head_revisions"]


async def test_health_is_503_when_the_database_is_behind(
    client: AsyncClient, database_url: str
) -> None:
    app.state.engine = create_async_engine(database_url, poolclass=pool.NullPool)

    response = await client.get("/health")

    assert response.status_code == 503
    assert response.json()["current_revisions"] == []
    assert "alembic upgrade head" in response.json()["detail"]


async def test_health_is_503_when_the_database_is_unreachable(client: AsyncClient) -> None:
    app.state.engine = create_async_engine(
{%- if cookiecutter.database == "postgresql" %}
        "postgresql+asyncpg://nobody@127.0.0.1:1/nowhere", poolclass=pool.NullPool
{%- else %}
        "sqlite+aiosqlite:////nonexistent/directory/app.db", poolclass=pool.NullPool
{%- endif %}
    )

    response = await client.get("/health")

    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "database": "unreachable",
        "current_revisions": [],
        "head_revisions": response.json()["head_revisions"],
        "detail": "the database cannot be reached",
    }
