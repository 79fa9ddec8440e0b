"""Liveness and schema-version report."""

import asyncio
from typing import Literal

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError

from {{ cookiecutter.package_name }}.api.deps import EngineDep
from {{ cookiecutter.package_name }}.migrations_runtime.revisions import current_revisions

router = APIRouter(tags=["health"])

DATABASE_CHECK_SECONDS = 5


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    database: Literal["reachable", "unreachable"]
    current_revisions: list[str]
    head_revisions: list[str]
    detail: str | None = None


@router.get("/health", responses={503: {"model": Health}})
async def health(request: Request, response: Response, engine: EngineDep) -> Health:
    head = sorted(request.app.state.head_revisions)
    try:
        async with asyncio.timeout(DATABASE_CHECK_SECONDS):
            async with engine.connect() as connection:
                current = sorted(await connection.run_sync(current_revisions))
    except (OSError, SQLAlchemyError, TimeoutError):
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return Health(
            status="unavailable",
            database="unreachable",
            current_revisions=[],
            head_revisions=head,
            detail="the database cannot be reached",
        )
    if current != head:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return Health(
            status="unavailable",
            database="reachable",
            current_revisions=current,
            head_revisions=head,
            detail="the database is not at the head revision: run `alembic upgrade head`",
        )
    return Health(status="ok", database="reachable", current_revisions=current, head_revisions=head)
