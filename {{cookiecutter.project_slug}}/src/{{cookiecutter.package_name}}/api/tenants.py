"""Tenant registration, and the per-request session scoped to the caller's tenant."""

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from sqlalchemy import Column, MetaData, String, Table, bindparam, select, true
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.ext.asyncio import AsyncSession

from {{ cookiecutter.package_name }}.api.deps import EngineDep, SessionDep
from {{ cookiecutter.package_name }}.migrator.tenancy import TenantNameError, schema_for
from {{ cookiecutter.package_name }}.models import Tenant
from {{ cookiecutter.package_name }}.settings import Settings
from {{ cookiecutter.package_name }}.tenants import TenantError, create_tenant, tenant_names

router = APIRouter(tags=["tenants"])
# Starlette renamed its 422 constant; the number reads the same in every version.
UNPROCESSABLE = 422
# A Table, not a table(): schema_translate_map only rewrites Table objects.
VERSIONS = Table("alembic_version", MetaData(), Column("version_num", String(32)))
# The registry row and the tenant's revisions in one round trip.
REGISTERED_AT = (
    select(Tenant.name, VERSIONS.c.version_num)
    .select_from(Tenant.__table__.outerjoin(VERSIONS, true()))
    .where(Tenant.name == bindparam("name"))
)
bearer = HTTPBearer(auto_error=False)


class TenantIn(BaseModel):
    name: str


async def get_tenant_session(
    request: Request,
    session: SessionDep,
    x_tenant: Annotated[
        str, Header(description="the tenant's name, set by a trusted gateway (docs/tenancy.md)")
    ],
) -> AsyncSession:
    """The request's session, with unqualified tables in the tenant's schema.

    A tenant whose schema is missing or behind answers 503 on its own; other tenants go on.
    """
    try:
        schema = schema_for(x_tenant)
    except TenantNameError as error:
        raise HTTPException(UNPROCESSABLE, str(error)) from None
    # schema_translate_map rewrites the schema in compiled SQL: no name is pasted into a query.
    await session.connection(execution_options={"schema_translate_map": {None: schema}})
    try:
        rows = (await session.execute(REGISTERED_AT, {"name": x_tenant})).all()
        registered, revisions = bool(rows), {row.version_num for row in rows}
    except ProgrammingError:  # no version table: the tenant's schema is missing
        await session.rollback()
        registered, revisions = await session.get(Tenant, x_tenant) is not None, set()
    if not registered:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"tenant {x_tenant} does not exist")
    if request.app.state.code_revisions.state(revisions) == "behind":
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            f"tenant {x_tenant} is not at the head revision: run `alembic upgrade head`",
        )
    return session


TenantSessionDep = Annotated[AsyncSession, Depends(get_tenant_session)]


def require_tenant_admin(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> None:
    """`Authorization: Bearer <TENANT_ADMIN_TOKEN>`; without that setting the endpoint is hidden."""
    settings: Settings = request.app.state.settings
    if settings.tenant_admin_token is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Not Found")
    expected = settings.tenant_admin_token.get_secret_value().encode()
    given = credentials.credentials.encode() if credentials else b""
    if not secrets.compare_digest(given, expected):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "send Authorization: Bearer <TENANT_ADMIN_TOKEN>",
            headers={"WWW-Authenticate": "Bearer"},
        )


@router.post(
    "/tenants",
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(require_tenant_admin)],
)
async def register_tenant(body: TenantIn, request: Request) -> TenantIn:
    """Create the tenant's schema, migrate it to head and register it."""
    try:
        await create_tenant(request.app.state.settings, body.name)
    except TenantNameError as error:
        raise HTTPException(UNPROCESSABLE, str(error)) from None
    except TenantError as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
    return body


@router.get("/tenants", dependencies=[Depends(require_tenant_admin)])
async def list_tenants(engine: EngineDep) -> list[str]:
    return await tenant_names(engine)
