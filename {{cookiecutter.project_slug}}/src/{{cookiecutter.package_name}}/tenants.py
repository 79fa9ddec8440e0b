"""Tenants: one PostgreSQL schema each (tenant_<name>), listed in shared.tenants.

Run as `python -m {{ cookiecutter.package_name }}.tenants ...`:
- `create NAME` creates a tenant's schema, migrates it to head and registers it, in one step;
- `list` lists them.
"""

import argparse
import asyncio
import sys
import threading

from alembic import command
from sqlalchemy import insert, pool
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from {{ cookiecutter.package_name }}.db import create_engine, explain_connection_error
from {{ cookiecutter.package_name }}.migrator.config import build_config
from {{ cookiecutter.package_name }}.migrator.revisions import code_revisions
from {{ cookiecutter.package_name }}.migrator.tenancy import (
    TenantNameError,
    registered_tenants,
    schema_for,
    schema_versions,
    validate_tenant_name,
)
from {{ cookiecutter.package_name }}.models import Tenant
from {{ cookiecutter.package_name }}.settings import ConfigurationError, Settings, get_settings

# Alembic keeps the run in progress in a module-level proxy (`alembic.context`): two runs at once
# in one process would overwrite each other's state.
ONE_RUN_AT_A_TIME = threading.Lock()


class TenantError(ValueError):
    """A tenant cannot be created as asked; the message says why and what to do."""


def migrate_tenant(settings: Settings, name: str) -> None:
    """Create the tenant's schema if needed and migrate it to head, on a connection of its own."""
    config = build_config(settings=settings, tenant=validate_tenant_name(name))
    with ONE_RUN_AT_A_TIME:
        command.upgrade(config, "head")


async def tenant_names(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as connection:
        return await connection.run_sync(registered_tenants)


async def create_tenant(settings: Settings, name: str) -> None:
    """Migrate the new tenant's schema to head, then register it so upgrades include it.

    Never on the app's pool: the migration runs on a connection of its own, in a worker thread,
    because Alembic is synchronous and may wait for another migration run to finish.
    """
    validate_tenant_name(name)
    engine = create_engine(settings, poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            versions = await connection.run_sync(schema_versions)
        if name in versions.tenants:
            raise TenantError(f"tenant {name} exists already: choose another name")
        if code_revisions(settings.alembic_ini).state(versions.shared) != "at head":
            raise TenantError(
                "the shared schema is not at the head revision, so a new tenant would be ahead "
                "of it: run `alembic upgrade head` first, then create the tenant"
            )
        await asyncio.to_thread(migrate_tenant, settings, name)
        try:
            async with engine.begin() as connection:
                await connection.execute(insert(Tenant).values(name=name))
        except IntegrityError:
            raise TenantError(f"tenant {name} exists already: choose another name") from None
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {__spec__.name}")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("create", help="create, migrate and register a tenant").add_argument("name")
    commands.add_parser("list", help="list the registered tenants")
    arguments = parser.parse_args(argv)

    async def run(settings: Settings) -> None:
        if arguments.command == "create":
            await create_tenant(settings, arguments.name)
            print(f"tenant {arguments.name} created in schema {schema_for(arguments.name)}")
            return
        engine = create_engine(settings, poolclass=pool.NullPool)
        try:
            print("\n".join(await tenant_names(engine)))
        finally:
            await engine.dispose()

    try:
        settings = get_settings()
        asyncio.run(run(settings))
    except (TenantNameError, TenantError, ConfigurationError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (OSError, DBAPIError) as error:
        print(f"error: {explain_connection_error(settings.database_url, error)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
