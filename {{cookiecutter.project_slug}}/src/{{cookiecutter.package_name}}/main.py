"""The FastAPI application."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from {{ cookiecutter.package_name }}.api import health{{ ", library" if cookiecutter.example_model == "yes" }}
from {{ cookiecutter.package_name }}.db import create_engine, create_sessionmaker
from {{ cookiecutter.package_name }}.revisions import head_revisions
from {{ cookiecutter.package_name }}.settings import get_settings


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings = get_settings()
    app.state.head_revisions = head_revisions(settings.alembic_ini)
    app.state.engine = create_engine(settings)
    app.state.sessions = create_sessionmaker(app.state.engine)
    yield
    await app.state.engine.dispose()


app = FastAPI(title="{{ cookiecutter.project_name }}", lifespan=lifespan)
app.include_router(health.router)
{%- if cookiecutter.example_model == "yes" %}
app.include_router(library.router)
{%- endif %}
