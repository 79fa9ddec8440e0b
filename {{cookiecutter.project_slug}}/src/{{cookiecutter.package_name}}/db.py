"""The async engine and the per-request session."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from {{ cookiecutter.package_name }}.settings import Settings
{%- if cookiecutter.database == "postgresql" %}

CONNECT_TIMEOUT_SECONDS = 5
{%- endif %}


def create_engine(settings: Settings) -> AsyncEngine:
    # pre_ping replaces pooled connections that died while the database was away.
    return create_async_engine(
        settings.database_url,
        pool_pre_ping=True,
{%- if cookiecutter.database == "postgresql" %}
        connect_args={"timeout": CONNECT_TIMEOUT_SECONDS},
{%- endif %}
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request; rolled back when the request fails, never committed implicitly."""
    sessions: async_sessionmaker[AsyncSession] = request.app.state.sessions
    async with sessions() as session:
        try:
            yield session
        except Exception:
            await session.rollback()
            raise


SessionDep = Annotated[AsyncSession, Depends(get_session)]


def explain_connection_error(database_url: str, error: BaseException) -> str:
    """Say why connecting failed and what to do, without the password."""
    reason = str(getattr(error, "orig", None) or error).rpartition(">: ")[2].strip()
    url = make_url(database_url)
    if "does not exist" in reason:
        hint = f"create it (createdb {url.database}) or fix the name in DATABASE_URL"
    elif "password" in reason or "authentication" in reason:
        hint = "fix the user or password in DATABASE_URL (URL-encode % @ : / in the password)"
    else:
        hint = "check that the database server is running and DATABASE_URL's host and port"
    return f"cannot connect to {url.render_as_string(hide_password=True)}: {reason}; {hint}"
