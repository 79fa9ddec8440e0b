"""Liveness and schema-version report."""

import asyncio
from typing import Literal

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError

from {{ cookiecutter.package_name }}.api.deps import EngineDep
{%- if cookiecutter.tenancy == "schema-per-tenant" %}
from {{ cookiecutter.package_name }}.migrator.tenancy import SchemaVersions, schema_versions
{%- else %}
from {{ cookiecutter.package_name }}.migrator.revisions import current_revisions
{%- endif %}

router = APIRouter(tags=["health"])

DATABASE_CHECK_SECONDS = 5
{%- if cookiecutter.tenancy == "schema-per-tenant" %}
NAMES_SHOWN = 20


class TenantsHealth(BaseModel):
    """Tenants that cannot be served; their requests get a 503, the others are not affected."""

    registered: int
    behind: int
    invalid: int
    examples: list[str]  # up to 20 names, invalid first
{%- endif %}


class Health(BaseModel):
    status: Literal["ok", {{ '"degraded", ' if cookiecutter.tenancy == "schema-per-tenant" }}"unavailable"]
    database: Literal["reachable", "unreachable"]
    current_revisions: list[str]
    head_revisions: list[str]
    detail: str | None = None
{%- if cookiecutter.tenancy == "schema-per-tenant" %}
    tenants: TenantsHealth | None = None


def tenants_health(versions: SchemaVersions, head: list[str]) -> TenantsHealth:
    behind = [name for name, found in versions.tenants.items() if sorted(found) != head]
    return TenantsHealth(
        registered=len(versions.tenants) + len(versions.invalid),
        behind=len(behind),
        invalid=len(versions.invalid),
        examples=(versions.invalid + behind)[:NAMES_SHOWN],
    )
{%- endif %}


@router.get("/health", responses={503: {"model": Health}})
async def health(request: Request, response: Response, engine: EngineDep) -> Health:
    head = sorted(request.app.state.head_revisions)
    try:
        async with asyncio.timeout(DATABASE_CHECK_SECONDS):
            async with engine.connect() as connection:
{%- if cookiecutter.tenancy == "schema-per-tenant" %}
                versions = await connection.run_sync(schema_versions)
{%- else %}
                current = sorted(await connection.run_sync(current_revisions))
{%- endif %}
    except (OSError, SQLAlchemyError, TimeoutError):
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return Health(
            status="unavailable",
            database="unreachable",
            current_revisions=[],
            head_revisions=head,
            detail="the database cannot be reached",
        )
{%- if cookiecutter.tenancy == "schema-per-tenant" %}
    current = sorted(versions.shared)
{%- endif %}
    if current != head:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return Health(
            status="unavailable",
            database="reachable",
            current_revisions=current,
            head_revisions=head,
            detail="the database is not at the head revision: run `alembic upgrade head`",
        )
{%- if cookiecutter.tenancy == "schema-per-tenant" %}
    tenants = tenants_health(versions, head)
    if tenants.behind or tenants.invalid:
        return Health(
            status="degraded",
            database="reachable",
            current_revisions=current,
            head_revisions=head,
            detail=(
                f"{tenants.behind} tenants are not at the head revision and {tenants.invalid} "
                "have invalid names: run `alembic upgrade head`; see docs/tenancy.md"
            ),
            tenants=tenants,
        )
    return Health(
        status="ok",
        database="reachable",
        current_revisions=current,
        head_revisions=head,
        tenants=tenants,
    )
{%- else %}
    return Health(status="ok", database="reachable", current_revisions=current, head_revisions=head)
{%- endif %}
