"""Alembic environment, schema per tenant: the shared schema, the template, then every tenant.

Each revision has a `shared` and a `tenant` part; every schema has its own version table.
Tenants are migrated several at a time (`migrator/fanout.py`, docs/tenancy.md); `-x tenant=NAME`
(or `build_config(tenant=NAME)`) migrates one tenant. The logic lives in the package's
`migrator` (typed and unit-tested); this file wires it up in the shape of Alembic's async
template.
"""

import asyncio
from logging.config import fileConfig
from typing import Any

from alembic import context
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, pool
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.schema import CreateSchema

# alembic-postgresql-enum: enum types and labels in autogenerate and `alembic check`.
import {{ cookiecutter.package_name }}.migrator.enums  # noqa: F401
from {{ cookiecutter.package_name }}.db import create_engine
from {{ cookiecutter.package_name }}.migrator import (
    autogenerate,
    errors,
    fanout,
    phases,
    session,
    tenancy,
)
from {{ cookiecutter.package_name }}.migrator.config import (
    requested_tenant,
    settings_for,
    url_variable,
)
from {{ cookiecutter.package_name }}.migrator.revisions import AppliedRevisions
from {{ cookiecutter.package_name }}.settings import Settings

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def tenant() -> str | None:
    name = requested_tenant(config, context.get_x_argument(as_dictionary=True))
    return None if name is None else tenancy.validate_tenant_name(name)


def requested_phase() -> phases.Phase | None:
    return phases.requested_phase(context.get_x_argument(as_dictionary=True))


def options(target: tenancy.Target) -> dict[str, Any]:
    return autogenerate.comparison_options(config, "postgresql") | tenancy.target_options(
        config, target
    )


def run_migrations_offline(settings: Settings) -> None:
    """Print the SQL instead of running it (`--sql`); needs no database."""
    for target in tenancy.offline_targets(tenant()):
        context.configure(
            url=settings.database_url,
            literal_binds=True,
            dialect_opts={"paramstyle": "named"},
            **options(target),
        )
        phases.limit_to_phase(context.get_context(), requested_phase())
        session.use_revision_timeouts(context.get_context(), settings)
        with context.begin_transaction():
            for statement in session.offline_statements(settings):
                context.execute(statement)
            context.execute(CreateSchema(target.schema, if_not_exists=True))
            dialect = context.get_context().dialect
            context.execute(tenancy.search_path_statement(target, dialect))
            context.run_migrations(scope=target.scope)


def do_run_migrations(connection: Connection, settings: Settings) -> None:
    applied = AppliedRevisions(config)
    owns_connection = not connection.in_transaction()
    every_tenant = tenancy.visits_every_tenant(config, context.get_revision_argument)

    def configure(connection: Connection, target: tenancy.Target) -> MigrationContext:
        context.configure(connection=connection, on_version_apply=applied.record, **options(target))
        phases.limit_to_phase(context.get_context(), requested_phase())
        return context.get_context()

    def migrate(connection: Connection, target: tenancy.Target) -> None:
        with tenancy.in_schema(connection, target, owns_connection):
            # A revision that gives up on lock_timeout is rolled back and run again.
            migration_context = configure(connection, target)
            session.run_revisions(migration_context, settings, run_migrations, scope=target.scope)

    with session.migration_session(connection, settings):
        targets = tenancy.Targets(connection, config, tenant(), every_tenant)
        for target in targets.schemas:
            migrate(connection, target)
        # Tenants only once the shared schema and the template are done, several at a time.
        runner = fanout.TenantRunner(connection, settings, configure, migrate, owns_connection)
        tenants_migrated = runner.run(targets.tenants(connection), bool(targets.creating))
    if not tenants_migrated:
        applied.report()


def run_migrations(scope: str) -> None:
    with context.begin_transaction():
        context.run_migrations(scope=scope)


async def run_async_migrations(engine: AsyncEngine, settings: Settings) -> None:
    try:
        async with errors.connected(engine, url_variable(settings)) as connection:
            await connection.run_sync(do_run_migrations, settings)
    finally:
        await engine.dispose()


def run_migrations_online(settings: Settings) -> None:
    # Tests and in-process callers hand over a connection (or engine) in config.attributes.
    connectable = config.attributes.get("connection")
    if isinstance(connectable, Connection):
        do_run_migrations(connectable, settings)
        return
    engine = connectable or create_engine(settings, poolclass=pool.NullPool)
    asyncio.run(run_async_migrations(engine, settings))


with errors.reported(config):
    tenant()  # a bad tenant name is refused before anything connects
    if context.is_offline_mode():
        run_migrations_offline(settings_for(config))
    else:
        run_migrations_online(settings_for(config))
