"""Tenant registration, and the per-request session scoped to the caller's tenant."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Request, status
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from {{ cookiecutter.package_name }}.models import Tenant
from {{ cookiecutter.package_name }}.settings import get_settings
from {{ cookiecutter.package_name }}.tenants import (
    TenantExistsError,
    TenantNameError,
    create_tenant,
    schema_for,
    tenant_names,
)

router = APIRouter(tags=["tenants"])


class TenantIn(BaseModel):
    name: str


async def get_tenant_session(
    request: Request, x_tenant: Annotated[str, Header(description="the tenant's name")]
) -> AsyncIterator[AsyncSession]:
    """A session whose unqualified tables are the tenant's schema; rolled back on error."""
    try:
        schema = schema_for(x_tenant)
    except TenantNameError as error:
        raise HTTPException(422, str(error)) from None
    # schema_translate_map rewrites the schema in compiled SQL: no name is pasted into a query.
    engine = request.app.state.engine.execution_options(schema_translate_map={None: schema})
    async with async_sessionmaker(engine, expire_on_commit=False)() as session:
        if await session.get(Tenant, x_tenant) is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"tenant {x_tenant} does not exist")
        try:
            yield session
        except Exception:
            await session.rollback()
            raise


TenantSessionDep = Annotated[AsyncSession, Depends(get_tenant_session)]


@router.post("/tenants", status_code=status.HTTP_201_CREATED)
async def register_tenant(body: TenantIn, request: Request) -> TenantIn:
    """Create the tenant's schema, migrate it to head and register it."""
    try:
        await create_tenant(request.app.state.engine, body.name, get_settings().alembic_ini)
    except TenantNameError as error:
        raise HTTPException(422, str(error)) from None
    except TenantExistsError as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
    return body


@router.get("/tenants")
async def list_tenants(request: Request) -> list[str]:
    return await tenant_names(request.app.state.engine)
