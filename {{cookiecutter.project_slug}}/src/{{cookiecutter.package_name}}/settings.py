"""Configuration from the environment, then `.env`."""

{% if cookiecutter.database == "postgresql" -%}
import re
{% endif -%}
from functools import lru_cache
from pathlib import Path

from pydantic import ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

ASYNC_DRIVERS = {
{%- if cookiecutter.database == "postgresql" %}
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+psycopg2": "postgresql+asyncpg",
    "postgresql+psycopg": "postgresql+asyncpg",
{%- else %}
    "sqlite": "sqlite+aiosqlite",
{%- endif %}
}
{%- if cookiecutter.database == "postgresql" %}
# Interpolated into offline SQL scripts, so only plain durations pass.
POSTGRESQL_DURATION = re.compile(r"[0-9]+(ms|s|min|h)?")
{%- endif %}
EXPECTED_DRIVER = "{{ 'postgresql+asyncpg' if cookiecutter.database == 'postgresql' else 'sqlite+aiosqlite' }}"
EXAMPLE_URL = "{{ 'postgresql+asyncpg://user:password@127.0.0.1:5432/' ~ cookiecutter.project_slug if cookiecutter.database == 'postgresql' else 'sqlite+aiosqlite:///./' ~ cookiecutter.project_slug ~ '.db' }}"


class ConfigurationError(RuntimeError):
    """A setting is missing or wrong; the message says which and how to fix it."""


def to_async_driver(url: str) -> str:
    """Point a sync driver URL at the async driver this service runs on."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        raise ValueError(f"DATABASE_URL is not a URL; expected e.g. {EXAMPLE_URL}")
    scheme = ASYNC_DRIVERS.get(scheme, scheme)
    if scheme != EXPECTED_DRIVER:
        raise ValueError(f"DATABASE_URL must use {EXPECTED_DRIVER}://, e.g. {EXAMPLE_URL}")
    try:
        make_url(f"{scheme}://{rest}")
    except ArgumentError:
        raise ValueError(f"DATABASE_URL cannot be parsed; expected e.g. {EXAMPLE_URL}") from None
    return f"{scheme}://{rest}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str
    alembic_ini: Path = Path("alembic.ini")
{%- if cookiecutter.database == "postgresql" %}
    # Applied to every migration connection, and written into offline (--sql) scripts.
    migration_lock_timeout: str = "5s"
    migration_statement_timeout: str = "60s"
{%- endif %}

    @field_validator("database_url")
    @classmethod
    def use_async_driver(cls, value: str) -> str:
        return to_async_driver(value.strip())
{%- if cookiecutter.database == "postgresql" %}

    @field_validator("migration_lock_timeout", "migration_statement_timeout")
    @classmethod
    def is_postgresql_duration(cls, value: str) -> str:
        if not POSTGRESQL_DURATION.fullmatch(value):
            raise ValueError(f"{value!r} is not a duration such as '500ms', '5s' or '2min'")
        return value
{%- endif %}


def describe(error: ValidationError) -> str:
    """One line per problem, naming the environment variable, never echoing its value."""
    lines = []
    for problem in error.errors():
        name = str(problem["loc"][0]).upper() if problem["loc"] else "settings"
        if problem["type"] == "missing":
            lines.append(f"{name} is not set: export it or add it to .env (see .env.example)")
        else:
            lines.append(f"{name} is invalid: {problem['msg'].removeprefix('Value error, ')}")
    return "; ".join(lines)


@lru_cache
def get_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        raise ConfigurationError(describe(error)) from None
