"""Which Alembic revisions the code expects, and which the database is at."""

from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection

{% if cookiecutter.tenancy == "schema-per-tenant" -%}
from {{ cookiecutter.package_name }}.models.base import SHARED_SCHEMA
{% endif -%}
from {{ cookiecutter.package_name }}.settings import ConfigurationError


def head_revisions(alembic_ini: Path) -> frozenset[str]:
    if not alembic_ini.is_file():
        raise ConfigurationError(
            f"{alembic_ini} not found: start the app from the project directory "
            "or set ALEMBIC_INI to the path of alembic.ini"
        )
    try:
        return frozenset(ScriptDirectory.from_config(Config(alembic_ini)).get_heads())
    except CommandError as error:
        raise ConfigurationError(f"cannot read the migrations: {error}") from None


def current_revisions(connection: Connection) -> frozenset[str]:
{%- if cookiecutter.tenancy == "schema-per-tenant" %}
    # Every tenant is migrated after the shared schema: its version stands for the deployment.
    options = {"version_table_schema": SHARED_SCHEMA}
    return frozenset(MigrationContext.configure(connection, opts=options).get_current_heads())
{%- else %}
    return frozenset(MigrationContext.configure(connection).get_current_heads())
{%- endif %}
