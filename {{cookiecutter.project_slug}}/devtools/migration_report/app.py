"""The service's own pieces the report runs revisions with: its engine, settings and config."""

from pathlib import Path

from alembic.config import Config
from sqlalchemy import pool
from sqlalchemy.ext.asyncio import AsyncEngine

from {{ cookiecutter.package_name }} import db, settings
from {{ cookiecutter.package_name }}.migrator import config

from ..migration_lint import lint{{ ", squawk" if cookiecutter.database == "postgresql" }}

# Database names keep 63 bytes: a long slug would cut off the unique part of the name.
SCRATCH_PREFIX = "report_{{ cookiecutter.project_slug[:30] }}"
{%- if cookiecutter.tenancy == "schema-per-tenant" %}
# As in the tests: unqualified names mean the template tenant, which every upgrade migrates.
SEARCH_PATH: str | None = "tenant_template, public"
{%- else %}
SEARCH_PATH: str | None = None
{%- endif %}
ConfigurationError = settings.ConfigurationError


def database_url() -> str:
{%- if cookiecutter.database == "postgresql" %}
    """The URL migrations use (MIGRATION_DATABASE_URL, else DATABASE_URL), as the service reads
    it: the scratch database needs PostgreSQL itself, not a pooler. ConfigurationError says
    what is wrong."""
    found = settings.get_settings()
    if found.database_pooler != "none" and found.migration_database_url is None:
        raise ConfigurationError(
            f"DATABASE_POOLER={found.database_pooler}: the report creates a scratch database and "
            "migrates it, which needs PostgreSQL itself; set MIGRATION_DATABASE_URL to a URL "
            'straight to PostgreSQL (docs/runbook.md, "Behind PgBouncer")'
        )
    return config.direct_to_postgresql(found).database_url
{%- else %}
    """DATABASE_URL, as the service reads it; ConfigurationError says what is wrong."""
    return settings.get_settings().database_url
{%- endif %}


def direct(database_url: str) -> settings.Settings:
{%- if cookiecutter.database == "postgresql" %}
    """Settings for a connection straight to PostgreSQL, whatever pooler the environment names."""
    return settings.Settings(
        database_url=database_url, database_pooler="none", migration_database_url=None
    )
{%- else %}
    return settings.Settings(database_url=database_url)
{%- endif %}


def cannot_connect(database_url: str, error: BaseException) -> str:
    """Why the server in database_url cannot be reached, and what to do, on one line."""
    return db.explain_connection_error(database_url, error)


def engine(database_url: str) -> AsyncEngine:
    return db.create_engine(direct(database_url), poolclass=pool.NullPool)


def alembic_config(alembic_ini: Path, database_url: str, engine: AsyncEngine | None) -> Config:
    """env.py runs on `engine` (connected to database_url), as `alembic upgrade` would."""
    found = config.build_config(ini=alembic_ini, settings=direct(database_url))
    found.attributes["connection"] = engine
    return found


def lint_checks() -> tuple[list[lint.RevisionCheck], str | None]:
    """The linter's checks that need the revision's place in the history (squawk), and a note
    when one cannot run here."""
{%- if cookiecutter.database == "postgresql" %}
    try:
        squawk.binary()
    except squawk.SquawkError as error:
        return [], f"No squawk findings: {error}."
    return [squawk.check], None
{%- else %}
    return [], None
{%- endif %}
