"""The FastAPI application: `create_app(settings)` builds one; `app` is what uvicorn serves."""

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.exc import DBAPIError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from {{ cookiecutter.package_name }}.api import health{{ ", library" if cookiecutter.example_model == "yes" }}{{ ", tenants" if cookiecutter.tenancy == "schema-per-tenant" }}
from {{ cookiecutter.package_name }}.api.errors import install_error_handlers
from {{ cookiecutter.package_name }}.api.limits import BodySizeLimit
from {{ cookiecutter.package_name }}.db import create_app_engine, create_sessionmaker, explain_connection_error
from {{ cookiecutter.package_name }}.migrator.revisions import code_revisions
from {{ cookiecutter.package_name }}.settings import ConfigurationError, Settings, get_settings


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app; settings are read at start-up (from the environment when none are given)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        current = settings or get_settings()
        app.state.settings = current
        app.state.code_revisions = code_revisions(current.alembic_ini)
        app.state.engine = create_app_engine(current)
        # A wrong URL or password should stop the deploy here, not surface as 503s later; once
        # started, the app keeps serving through outages and /health reports them.
        try:
            async with app.state.engine.connect():
                pass
        except (OSError, DBAPIError) as error:
            await app.state.engine.dispose()
            reason = explain_connection_error(current.database_url, error)
            raise ConfigurationError(reason) from None
        app.state.sessions = create_sessionmaker(app.state.engine)
        yield
        await app.state.engine.dispose()

    app = FastAPI(title={{ cookiecutter.project_name | python_string }}, lifespan=lifespan)
    app.add_middleware(ConfigurationErrorsOnOneLine)
    app.add_middleware(BodySizeLimit)
    install_error_handlers(app)
    app.include_router(health.router)
{%- if cookiecutter.tenancy == "schema-per-tenant" %}
    app.include_router(tenants.router)
{%- endif %}
{%- if cookiecutter.example_model == "yes" %}
    app.include_router(library.router)
{%- endif %}
    return app


class ConfigurationErrorsOnOneLine:
    """Report a ConfigurationError at start-up as its message instead of a traceback.

    Starlette sends the formatted traceback as the lifespan failure message, and uvicorn logs
    that message before exiting: replace it with the error's own line.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def send_short_failure(message: Message) -> None:
            # Starlette sends the failure from inside its `except` block.
            error = sys.exception()
            if message["type"] == "lifespan.startup.failed" and isinstance(
                error, ConfigurationError
            ):
                message = {**message, "message": f"{error}"}
            await send(message)

        await self.app(scope, receive, send_short_failure)


app = create_app()
