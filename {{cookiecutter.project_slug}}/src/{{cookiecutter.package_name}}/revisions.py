"""Which Alembic revisions the code expects, and which the database is at."""

from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection{{ ", inspect, select" if cookiecutter.tenancy == "schema-per-tenant" }}

{% if cookiecutter.tenancy == "schema-per-tenant" -%}
from {{ cookiecutter.package_name }}.models import Tenant
from {{ cookiecutter.package_name }}.models.base import SHARED_SCHEMA
{% endif -%}
from {{ cookiecutter.package_name }}.settings import ConfigurationError
{%- if cookiecutter.tenancy == "schema-per-tenant" %}
from {{ cookiecutter.package_name }}.tenants import schema_for
{%- endif %}


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
    # At head only when the shared schema and every registered tenant are; a tenant with no
    # revision at all shows as "base".
    revisions = set(heads_in(connection, SHARED_SCHEMA))
    if inspect(connection).has_table(Tenant.__tablename__, schema=SHARED_SCHEMA):
        for name in connection.scalars(select(Tenant.name)):
            revisions.update(heads_in(connection, schema_for(name)) or ("base",))
    return frozenset(revisions)


def heads_in(connection: Connection, schema: str) -> tuple[str, ...]:
    context = MigrationContext.configure(connection, opts={"version_table_schema": schema})
    return context.get_current_heads()
{%- else %}
    return frozenset(MigrationContext.configure(connection).get_current_heads())
{%- endif %}
