"""Liveness and schema-version report."""

import asyncio
from typing import Literal

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel
from sqlalchemy.exc import ProgrammingError, SQLAlchemyError

from {{ cookiecutter.package_name }}.api.deps import EngineDep
from {{ cookiecutter.package_name }}.migrator.revisions import CodeRevisions{{ ", current_revisions" if cookiecutter.tenancy == "single" }}
{%- if cookiecutter.tenancy == "schema-per-tenant" %}
from {{ cookiecutter.package_name }}.migrator.tenancy import SchemaVersions, schema_versions
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


def tenants_health(versions: SchemaVersions, code: CodeRevisions) -> TenantsHealth:
    behind = [name for name, found in versions.tenants.items() if code.state(found) == "behind"]
    return TenantsHealth(
        registered=len(versions.tenants) + len(versions.invalid),
        behind=len(behind),
        invalid=len(versions.invalid),
        examples=(versions.invalid + behind)[:NAMES_SHOWN],
    )
{%- endif %}


@router.get("/health", responses={503: {"model": Health}})
async def health(request: Request, response: Response, engine: EngineDep) -> Health:
    code: CodeRevisions = request.app.state.code_revisions
    report = Health(
        status="ok", database="reachable", current_revisions=[], head_revisions=sorted(code.heads)
    )
    try:
        async with asyncio.timeout(DATABASE_CHECK_SECONDS):
            async with engine.connect() as connection:
{%- if cookiecutter.tenancy == "schema-per-tenant" %}
                versions = await connection.run_sync(schema_versions)
                current = versions.shared
{%- else %}
                current = await connection.run_sync(current_revisions)
{%- endif %}
    except ProgrammingError:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        detail = "the database refused to report its revision: check the role's privileges"
        return report.model_copy(update={"status": "unavailable", "detail": detail})
    except (OSError, SQLAlchemyError, TimeoutError):
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return report.model_copy(
            update={
                "status": "unavailable",
                "database": "unreachable",
                "detail": "the database cannot be reached",
            }
        )
    report.current_revisions = sorted(current)
    state = code.state(current)
    if state == "behind":
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        report.status = "unavailable"
        report.detail = "the database is not at the head revision: run `alembic upgrade head`"
        return report
    if state == "ahead":
        report.detail = "the database is ahead of this code: a newer release has migrated it"
    elif state == "post-deploy pending":
        report.detail = (
            "pre-deploy done, post-deploy pending: run `alembic upgrade head` after the rollout"
        )
{%- if cookiecutter.tenancy == "schema-per-tenant" %}
    if state != "ahead":
        report.tenants = tenants_health(versions, code)
        if report.tenants.behind or report.tenants.invalid:
            report.status = "degraded"
            report.detail = (
                f"tenants behind the head revision: {report.tenants.behind}, with invalid "
                f"names: {report.tenants.invalid}; run `alembic upgrade head`, see docs/tenancy.md"
            )
{%- endif %}
    return report
