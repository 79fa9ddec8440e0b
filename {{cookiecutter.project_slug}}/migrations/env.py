"""Alembic environment: migrations run on the app's async driver, one revision per transaction.

The logic lives in the package's `migrator` (typed and unit-tested); this file wires it up in
the shape of Alembic's async template.
"""

import asyncio
from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection, pool
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

{% if cookiecutter.database == "postgresql" -%}
# alembic-postgresql-enum: enum types and labels in autogenerate and `alembic check`.
import {{ cookiecutter.package_name }}.migrator.enums  # noqa: F401
{% endif -%}
from {{ cookiecutter.package_name }}.db import create_engine
from {{ cookiecutter.package_name }}.migrator import autogenerate, errors, phases, session
from {{ cookiecutter.package_name }}.migrator.config import settings_for, url_variable
from {{ cookiecutter.package_name }}.migrator.revisions import AppliedRevisions
from {{ cookiecutter.package_name }}.models import Base
from {{ cookiecutter.package_name }}.settings import Settings

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def requested_phase() -> phases.Phase | None:
    return phases.requested_phase(context.get_x_argument(as_dictionary=True))


def run_migrations_offline(settings: Settings) -> None:
    """Print the SQL instead of running it (`--sql`); needs no database."""
    dialect = make_url(settings.database_url).get_backend_name()
    context.configure(
        url=settings.database_url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        **autogenerate.comparison_options(config, dialect),
    )
    phases.limit_to_phase(context.get_context(), requested_phase())
    session.use_revision_timeouts(context.get_context(), settings)
    with context.begin_transaction():
        # Scripts are often run by hand or by a DBA tool: the same limits apply there.
        for statement in session.offline_statements(settings):
            context.execute(statement)
        context.run_migrations()


def do_run_migrations(connection: Connection, settings: Settings) -> None:
    applied = AppliedRevisions(config)
    with session.migration_session(connection, settings):
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            on_version_apply=applied.record,
            **autogenerate.comparison_options(config, connection.dialect.name),
        )
        phases.limit_to_phase(context.get_context(), requested_phase())
        # A revision that gives up on lock_timeout is rolled back and run again.
        session.run_revisions(context.get_context(), settings, run_migrations)
    applied.report()


def run_migrations() -> None:
    with context.begin_transaction():
        context.run_migrations()


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
    if context.is_offline_mode():
        run_migrations_offline(settings_for(config))
    else:
        run_migrations_online(settings_for(config))
