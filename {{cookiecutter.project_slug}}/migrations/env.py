"""Alembic environment: the URL comes from settings, migrations run on the async driver.
{%- if cookiecutter.tenancy == "schema-per-tenant" %}

Schema per tenant: every revision has a `shared` and a `tenant` part. An online run migrates
the shared schema, then the template tenant schema (what autogenerate compares against), then
every registered tenant, each with its own version table; `-x tenant=NAME` migrates one tenant.
"""
{%- else %}"""
{%- endif %}

import asyncio
{%- if cookiecutter.database == "postgresql" %}
import hashlib
{%- endif %}
import logging
{%- if cookiecutter.database == "postgresql" %}
import re
{%- endif %}
import sys
{%- if cookiecutter.tenancy == "schema-per-tenant" %}
from collections.abc import Iterator
{%- endif %}
from logging.config import fileConfig

from alembic import context
from alembic.operations import ops
from alembic.runtime.migration import MigrationContext
{%- if cookiecutter.tenancy == "schema-per-tenant" %}
from sqlalchemy import Connection, MetaData, inspect, pool, select, text
{%- else %}
from sqlalchemy import Connection, pool{{ ", text" if cookiecutter.database == "postgresql" }}
{%- endif %}
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
{%- if cookiecutter.tenancy == "schema-per-tenant" %}
from sqlalchemy.schema import CreateSchema
{%- endif %}

from {{ cookiecutter.package_name }}.db import create_engine, explain_connection_error
{%- if cookiecutter.tenancy == "schema-per-tenant" %}
from {{ cookiecutter.package_name }}.models import Base, SharedBase, Tenant
from {{ cookiecutter.package_name }}.models.base import SHARED_SCHEMA
{%- else %}
from {{ cookiecutter.package_name }}.models import Base
{%- endif %}
from {{ cookiecutter.package_name }}.settings import ConfigurationError, Settings, get_settings
{%- if cookiecutter.tenancy == "schema-per-tenant" %}
from {{ cookiecutter.package_name }}.tenants import (
    TEMPLATE_SCHEMA,
    TenantNameError,
    schema_for,
    validate_tenant_name,
)
{%- endif %}

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)
log = logging.getLogger("alembic.env")

target_metadata = Base.metadata
EXCLUDED = [name.strip() for name in config.get_main_option("autogenerate_exclude", "").split(",")]
{%- if cookiecutter.database == "postgresql" %}
# Concurrent `alembic upgrade` runs (several replicas, a retried deploy) queue on this
# session-level advisory lock, so each revision is applied once.
MIGRATION_LOCK_KEY = int.from_bytes(
    hashlib.sha256(b"{{ cookiecutter.project_slug }}:alembic").digest()[:8], "big", signed=True
)
TAKE_LOCK = text("SELECT pg_advisory_lock(:key)")
# A caller's open transaction cannot be committed here, so the lock lives as long as it does.
TAKE_TRANSACTION_LOCK = text("SELECT pg_advisory_xact_lock(:key)")
RELEASE_LOCK = text("SELECT pg_advisory_unlock(:key)")
SET_FOR_SESSION = text("SELECT set_config(:name, :value, false)")
# Plain SET in offline scripts: it is what reviewers and squawk look for.
SET_IN_SCRIPT = {
    "lock_timeout": text("SET lock_timeout = :value"),
    "statement_timeout": text("SET statement_timeout = :value"),
{%- if cookiecutter.tenancy == "schema-per-tenant" %}
    "search_path": text("SELECT set_config('search_path', :value, false)"),
{%- endif %}
}
LOCK_NOT_AVAILABLE = "55P03"
QUERY_CANCELED = "57014"
TABLE_IN_STATEMENT = re.compile(
    r"\b(?:TABLE|ON|INTO|FROM|UPDATE|REFERENCES)\s+(?:ONLY\s+)?(?:IF\s+(?:NOT\s+)?EXISTS\s+)?"
    r'((?:"[^"]+"|\w+)(?:\.(?:"[^"]+"|\w+))?)',
    re.IGNORECASE,
)
{%- endif %}


def is_excluded(table_name: str) -> bool:
    return any(
        table_name.startswith(pattern[:-1]) if pattern.endswith("*") else table_name == pattern
        for pattern in EXCLUDED
        if pattern
    )


def include_name(name: str | None, type_: str, parent_names: dict[str, str | None]) -> bool:
    if type_ == "schema":
        return name is None  # only the default schema; other schemas are not ours
    if type_ == "table":
        return name is not None and not is_excluded(name)
    return True


def include_object(
    object_: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    return not (type_ == "table" and name is not None and is_excluded(name))


{% if cookiecutter.tenancy == "schema-per-tenant" -%}
def include_shared_schema(
    name: str | None, type_: str, parent_names: dict[str, str | None]
) -> bool:
    if type_ == "schema":
        return name == SHARED_SCHEMA
    return include_name(name, type_, parent_names)


def include_tenant_schema(
    name: str | None, type_: str, parent_names: dict[str, str | None]
) -> bool:
    # The version table sits in the tenant's schema, which reflection sees as the default one.
    if type_ == "table" and name == context.get_context().version_table:
        return False
    return include_name(name, type_, parent_names)


{% endif -%}
def skip_empty_autogenerate(
    migration_context: MigrationContext, revision: object, directives: list[ops.MigrationScript]
) -> None:
    # `alembic check` runs this hook too, without the autogenerate flag: leave it alone there.
    if not getattr(config.cmd_opts, "autogenerate", False):
        return
    script = directives[0]
    if all(upgrade_ops.is_empty() for upgrade_ops in script.upgrade_ops_list):
        directives[:] = []
        log.info("No changes detected; no revision file written.")


def configure(**kwargs: object) -> None:
    options = {
        "target_metadata": target_metadata,
        "include_name": include_name,
        "process_revision_directives": skip_empty_autogenerate,
    } | kwargs
    context.configure(
        compare_type=True,
        compare_server_default=True,
        include_object=include_object,
        transaction_per_migration=True,
{%- if cookiecutter.database == "sqlite" %}
        render_as_batch=True,
{%- endif %}
        **options,
    )


def run_migrations_offline(settings: Settings) -> None:
{%- if cookiecutter.tenancy == "schema-per-tenant" %}
    # No registry to read offline: the script covers the shared schema and the template tenant,
    # or the one tenant named with -x tenant=NAME.
    tenant = requested_tenant()
    parts = [("shared", SHARED_SCHEMA), ("tenant", TEMPLATE_SCHEMA)]
    if tenant is not None:
        parts = [("tenant", schema_for(tenant))]
    for scope, schema in parts:
        configure(
            url=settings.database_url,
            literal_binds=True,
            dialect_opts={"paramstyle": "named"},
            **target_options(scope, schema),
        )
        quoted = context.get_context().dialect.identifier_preparer.quote_schema(schema)
        with context.begin_transaction():
            for name, value in timeouts(settings).items():
                context.execute(SET_IN_SCRIPT[name].bindparams(value=value))
            context.execute(CreateSchema(schema, if_not_exists=True))
            context.execute(SET_IN_SCRIPT["search_path"].bindparams(value=quoted))
            context.run_migrations(scope=scope)
{%- else %}
    configure(url=settings.database_url, literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
{%- if cookiecutter.database == "postgresql" %}
        # Scripts are often run by hand or by a DBA tool: the same limits apply there.
        for name, value in timeouts(settings).items():
            context.execute(SET_IN_SCRIPT[name].bindparams(value=value))
{%- endif %}
        context.run_migrations()
{%- endif %}
{%- if cookiecutter.database == "postgresql" %}


def timeouts(settings: Settings) -> dict[str, str]:
    return {
        "lock_timeout": settings.migration_lock_timeout,
        "statement_timeout": settings.migration_statement_timeout,
    }
{%- endif %}


def run_migrations(connection: Connection, settings: Settings) -> None:
    applied: list[str] = []
    configure_args = {
        "connection": connection,
        "on_version_apply": lambda *, step, **_: applied.append(step.up_revision_id),
    }
{%- if cookiecutter.database == "postgresql" %}
    owns_connection = not connection.in_transaction()
    lock = TAKE_LOCK if owns_connection else TAKE_TRANSACTION_LOCK
    # Waits without a limit: the other run may be building a large index.
    connection.execute(lock, {"key": MIGRATION_LOCK_KEY})
    # Timeouts are set after the lock, so waiting for another upgrade to finish is not cut short.
    for name, value in timeouts(settings).items():
        connection.execute(SET_FOR_SESSION, {"name": name, "value": value})
    if owns_connection:
        # Commit before configure(): Alembic treats an open transaction as the caller's and
        # would then ignore transaction_per_migration.
        connection.commit()
    try:
{%- if cookiecutter.tenancy == "schema-per-tenant" %}
        run_each_target(connection, owns_connection, configure_args)
{%- else %}
        configure(**configure_args)
        with context.begin_transaction():
            context.run_migrations()
{%- endif %}
    finally:
        if owns_connection:
            connection.rollback()
            connection.execute(RELEASE_LOCK, {"key": MIGRATION_LOCK_KEY})
            connection.commit()
{%- else %}
    configure(**configure_args)
    with context.begin_transaction():
        context.run_migrations()
{%- endif %}
    if not applied and getattr(config.cmd_opts, "revision", None):
        log.info("Nothing to do: the database is already at the requested revision.")
{%- if cookiecutter.tenancy == "schema-per-tenant" %}


def requested_tenant() -> str | None:
    name = context.get_x_argument(as_dictionary=True).get("tenant")
    return None if name is None else validate_tenant_name(name)


def visits_every_tenant() -> bool:
    """upgrade, downgrade, stamp and current do; autogenerate and check use the template only."""
    command = getattr(config.cmd_opts, "cmd", None)
    if command is not None and command[0].__name__ == "current":
        return True
    try:
        context.get_revision_argument()  # set by the commands that move to a revision
    except KeyError:
        return False
    return True


def registered_tenants(connection: Connection) -> list[str]:
    if not inspect(connection).has_table(Tenant.__tablename__, schema=SHARED_SCHEMA):
        return []
    names = connection.scalars(select(Tenant.name).order_by(Tenant.name))
    return [validate_tenant_name(name) for name in names]


def targets(connection: Connection) -> Iterator[tuple[str, str]]:
    """(scope, schema) pairs in the order they are migrated."""
    if (tenant := requested_tenant()) is not None:
        yield "tenant", schema_for(tenant)
        return
    # Read before the shared part runs: a downgrade may drop the registry.
    registered = registered_tenants(connection)
    yield "shared", SHARED_SCHEMA
    yield "tenant", TEMPLATE_SCHEMA
    if visits_every_tenant():
        for name in dict.fromkeys(registered + registered_tenants(connection)):
            yield "tenant", schema_for(name)


def target_options(scope: str, schema: str) -> dict[str, object]:
    metadata: MetaData = SharedBase.metadata if scope == "shared" else target_metadata
    return {
        "target_metadata": metadata,
        "version_table_schema": schema,
        "include_schemas": scope == "shared",
        "include_name": include_shared_schema if scope == "shared" else include_tenant_schema,
        "upgrade_token": f"{scope}_upgrades",
        "downgrade_token": f"{scope}_downgrades",
        # Autogenerate visits the shared part first: judge emptiness after the tenant part.
        "process_revision_directives": skip_empty_autogenerate if scope == "tenant" else None,
    }


def run_each_target(
    connection: Connection, owns_connection: bool, configure_args: dict[str, object]
) -> None:
    preparer = connection.dialect.identifier_preparer
    default_schema = connection.dialect.default_schema_name
    try:
        for scope, schema in targets(connection):
            log.info("Schema %s (the %s part of each revision)", schema, scope)
            connection.execute(CreateSchema(schema, if_not_exists=True))
            # Unqualified names in raw SQL resolve in this schema; the value is a quoted identifier.
            connection.execute(
                SET_FOR_SESSION, {"name": "search_path", "value": preparer.quote_schema(schema)}
            )
            if owns_connection:
                connection.commit()
            # Reflection (autogenerate, check) reads the default schema: point it here too.
            connection.dialect.default_schema_name = schema if scope == "tenant" else default_schema
            configure(**configure_args, **target_options(scope, schema))
            with context.begin_transaction():
                context.run_migrations(scope=scope)
    finally:
        connection.dialect.default_schema_name = default_schema
{%- endif %}
{%- if cookiecutter.database == "postgresql" %}


def explain_timeout(error: DBAPIError, settings: Settings) -> str | None:
    """Turn a lock or statement timeout into what happened and what to do; None for others."""
    sqlstate = getattr(error.orig, "sqlstate", None)
    statement = " ".join(str(error.statement or "").split())
    table = TABLE_IN_STATEMENT.search(statement)
    shown = statement if len(statement) <= 120 else f"{statement[:117]}..."
    kept = "the failed revision was rolled back and the database is at the revision before it"
    if sqlstate == LOCK_NOT_AVAILABLE:
        on = f" on {table.group(1)}" if table else ""
        return (
            f"could not get a lock{on} within lock_timeout "
            f"(MIGRATION_LOCK_TIMEOUT={settings.migration_lock_timeout}) for: {shown}; "
            "another session holds a conflicting lock (see pg_stat_activity and pg_locks); "
            f"{kept}: retry when that session has finished, or raise MIGRATION_LOCK_TIMEOUT"
        )
    if sqlstate == QUERY_CANCELED and "statement timeout" in str(error.orig):
        return (
            "a statement ran longer than statement_timeout "
            f"(MIGRATION_STATEMENT_TIMEOUT={settings.migration_statement_timeout}): {shown}; "
            f"{kept}: raise MIGRATION_STATEMENT_TIMEOUT for this run, or split the work"
        )
    return None
{%- endif %}


async def run_migrations_async(engine: AsyncEngine, settings: Settings) -> None:
    try:
        connection = await engine.connect()
    except (OSError, DBAPIError) as error:
        raise ConfigurationError(explain_connection_error(settings.database_url, error)) from None
    try:
        await connection.run_sync(run_migrations, settings)
    finally:
        await connection.close()
        await engine.dispose()


def main() -> None:
    try:
        settings = get_settings()
{%- if cookiecutter.tenancy == "schema-per-tenant" %}
        requested_tenant()  # a bad -x tenant=NAME is refused before anything connects
{%- endif %}
        connectable = config.attributes.get("connection")
        if context.is_offline_mode():
            run_migrations_offline(settings)
        elif isinstance(connectable, Connection):
            run_migrations(connectable, settings)
        else:
            engine = connectable or create_engine(settings, poolclass=pool.NullPool)
            asyncio.run(run_migrations_async(engine, settings))
    except {{ "(ConfigurationError, TenantNameError)" if cookiecutter.tenancy == "schema-per-tenant" else "ConfigurationError" }} as error:
        sys.exit(f"alembic: {error}")
{%- if cookiecutter.database == "postgresql" %}
    except DBAPIError as error:
        explanation = explain_timeout(error, settings)
        if explanation is None:
            raise
        sys.exit(f"alembic: {explanation}")
{%- endif %}


main()
