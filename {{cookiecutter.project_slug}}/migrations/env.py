"""Alembic environment: the URL comes from settings, migrations run on the async driver."""

import asyncio
{%- if cookiecutter.database == "postgresql" %}
import hashlib
{%- endif %}
import logging
import sys
from logging.config import fileConfig

from alembic import context
from alembic.operations import ops
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, pool{{ ", text" if cookiecutter.database == "postgresql" }}
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from {{ cookiecutter.package_name }}.db import explain_connection_error
from {{ cookiecutter.package_name }}.models import Base
from {{ cookiecutter.package_name }}.settings import ConfigurationError, Settings, get_settings

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
SET_FOR_SESSION = text("SELECT set_config(:name, :value, false)")
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


def skip_empty_autogenerate(
    migration_context: MigrationContext, revision: object, directives: list[ops.MigrationScript]
) -> None:
    # `alembic check` runs this hook too, without the autogenerate flag: leave it alone there.
    if not getattr(config.cmd_opts, "autogenerate", False):
        return
    script = directives[0]
    if script.upgrade_ops is not None and script.upgrade_ops.is_empty():
        directives[:] = []
        log.info("No changes detected; no revision file written.")


def configure(**kwargs: object) -> None:
    context.configure(
        target_metadata=target_metadata,
        compare_type=True,
        compare_server_default=True,
        include_name=include_name,
        include_object=include_object,
        process_revision_directives=skip_empty_autogenerate,
        transaction_per_migration=True,
{%- if cookiecutter.database == "sqlite" %}
        render_as_batch=True,
{%- endif %}
        **kwargs,
    )


def run_migrations_offline(settings: Settings) -> None:
    configure(url=settings.database_url, literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
{%- if cookiecutter.database == "postgresql" %}
        context.execute(f"SET lock_timeout = '{settings.migration_lock_timeout}'")
        context.execute(f"SET statement_timeout = '{settings.migration_statement_timeout}'")
{%- endif %}
        context.run_migrations()


def run_migrations(connection: Connection, settings: Settings) -> None:
    applied: list[str] = []
    configure_args = {
        "connection": connection,
        "on_version_apply": lambda *, step, **_: applied.append(step.up_revision_id),
    }
{%- if cookiecutter.database == "postgresql" %}
    owns_connection = not connection.in_transaction()
    lock = "pg_advisory_lock" if owns_connection else "pg_advisory_xact_lock"
    connection.execute(text(f"SELECT {lock}(:key)"), {"key": MIGRATION_LOCK_KEY})
    # Timeouts are set after the lock, so waiting for another upgrade to finish is not cut short.
    timeouts = {
        "lock_timeout": settings.migration_lock_timeout,
        "statement_timeout": settings.migration_statement_timeout,
    }
    for name, value in timeouts.items():
        connection.execute(SET_FOR_SESSION, {"name": name, "value": value})
    if owns_connection:
        # Commit before configure(): Alembic treats an open transaction as the caller's and
        # would then ignore transaction_per_migration.
        connection.commit()
    try:
        configure(**configure_args)
        with context.begin_transaction():
            context.run_migrations()
    finally:
        if owns_connection:
            connection.rollback()
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
            connection.commit()
{%- else %}
    configure(**configure_args)
    with context.begin_transaction():
        context.run_migrations()
{%- endif %}
    if not applied and getattr(config.cmd_opts, "revision", None):
        log.info("Nothing to do: the database is already at the requested revision.")


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
        connectable = config.attributes.get("connection")
        if context.is_offline_mode():
            run_migrations_offline(settings)
        elif isinstance(connectable, Connection):
            run_migrations(connectable, settings)
        else:
            engine = connectable or create_async_engine(
                settings.database_url, poolclass=pool.NullPool
            )
            asyncio.run(run_migrations_async(engine, settings))
    except ConfigurationError as error:
        sys.exit(f"alembic: {error}")


main()
