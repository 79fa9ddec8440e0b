"""Tenants: one PostgreSQL schema each (tenant_<name>), listed in shared.tenants.

`python -m {{ cookiecutter.package_name }}.tenants create NAME` creates a tenant's schema, migrates it to
head and registers it, in one step; `python -m {{ cookiecutter.package_name }}.tenants list` lists them.
"""

import argparse
import asyncio
import re
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from {{ cookiecutter.package_name }}.db import create_engine
from {{ cookiecutter.package_name }}.models import Tenant
from {{ cookiecutter.package_name }}.settings import ConfigurationError, get_settings

# Migrated like a tenant but never served: autogenerate and `alembic check` compare against it.
TEMPLATE_SCHEMA = "tenant_template"
TENANT_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
RESERVED_NAMES = frozenset({"template", "shared", "public", "default"})


class TenantNameError(ValueError):
    """A tenant name that cannot become a schema name; the message says what is allowed."""


class TenantExistsError(ValueError):
    """The tenant is registered already."""


def validate_tenant_name(name: str) -> str:
    if not TENANT_NAME.fullmatch(name):
        raise TenantNameError(
            f"tenant name {name!r} is invalid: use 1-40 lowercase letters, digits and "
            "underscores, starting with a letter"
        )
    if name in RESERVED_NAMES or name.startswith("pg_"):
        raise TenantNameError(f"tenant name {name!r} is reserved: choose another name")
    return name


def schema_for(name: str) -> str:
    return f"tenant_{validate_tenant_name(name)}"


def migrate_tenant(connection: Connection, name: str, alembic_ini: Path) -> None:
    """Create the tenant's schema if needed and migrate it to head, on this connection."""
    config = Config(alembic_ini)
    config.cmd_opts = argparse.Namespace(x=[f"tenant={validate_tenant_name(name)}"])
    config.attributes["connection"] = connection
    config.attributes["configure_logger"] = False
    command.upgrade(config, "head")


async def tenant_names(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as connection:
        return list(await connection.scalars(select(Tenant.name).order_by(Tenant.name)))


async def create_tenant(engine: AsyncEngine, name: str, alembic_ini: Path) -> None:
    """Migrate the new tenant's schema to head, then register it so upgrades include it."""
    if validate_tenant_name(name) in await tenant_names(engine):
        raise TenantExistsError(f"tenant {name} exists already: choose another name")
    async with engine.connect() as connection:
        await connection.run_sync(migrate_tenant, name, alembic_ini)
    async with engine.begin() as connection:
        await connection.execute(insert(Tenant).values(name=name))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m {{ cookiecutter.package_name }}.tenants")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("create", help="create, migrate and register a tenant").add_argument("name")
    commands.add_parser("list", help="list the registered tenants")
    arguments = parser.parse_args(argv)

    async def run() -> None:
        engine = create_engine(get_settings())
        try:
            if arguments.command == "create":
                await create_tenant(engine, arguments.name, get_settings().alembic_ini)
                print(f"tenant {arguments.name} created in schema {schema_for(arguments.name)}")
            else:
                print("\n".join(await tenant_names(engine)))
        finally:
            await engine.dispose()

    try:
        asyncio.run(run())
    except (TenantNameError, TenantExistsError, ConfigurationError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
