"""Tenants: one PostgreSQL schema each (tenant_<name>), listed in shared.tenants.

Run as `python -m {{ cookiecutter.package_name }}.tenants ...`:
- `create NAME [NAME ...]` (or `--from-file FILE`) creates tenants: their schemas migrated to
  head several at a time, like `alembic upgrade head` does (docs/tenancy.md), then registered;
- `list` shows each tenant's revision and whether it is behind;
- `drop NAME [NAME ...] --yes` deletes tenants, their schemas and all their data.
"""

import argparse
import asyncio
import logging
import sys
import threading
from pathlib import Path

from alembic import command
from sqlalchemy import Connection, delete, inspect, pool
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.schema import DropSchema

from {{ cookiecutter.package_name }}.db import create_engine, explain_connection_error
from {{ cookiecutter.package_name }}.migrator import session
from {{ cookiecutter.package_name }}.migrator.config import build_config, settings_for
from {{ cookiecutter.package_name }}.migrator.fanout import TenantsFailed
from {{ cookiecutter.package_name }}.migrator.revisions import code_revisions
from {{ cookiecutter.package_name }}.migrator.tenancy import (
    NEW_TENANTS,
    TenantError,
    TenantNameError,
    registered_tenants,
    schema_for,
    schema_versions,
    validate_tenant_name,
)
from {{ cookiecutter.package_name }}.models import Tenant
from {{ cookiecutter.package_name }}.settings import ConfigurationError, Settings, get_settings

__all__ = ["TenantError", "create_tenant", "create_tenants", "tenant_names"]

# Alembic keeps the run in progress in a module-level proxy (`alembic.context`): two runs at once
# in one process would overwrite each other's state.
ONE_RUN_AT_A_TIME = threading.Lock()


def migrate_new_tenants(settings: Settings, names: list[str]) -> None:
    """Create the tenants' schemas, migrate them to head and register them, under the migration
    lock, on connections of their own; failures raise TenantsFailed once the others are done."""
    config = build_config(settings=settings)
    config.attributes[NEW_TENANTS] = [validate_tenant_name(name) for name in names]
    with ONE_RUN_AT_A_TIME:
        command.upgrade(config, "head")


async def tenant_names(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as connection:
        return await connection.run_sync(registered_tenants)


async def new_tenants(settings: Settings, names: list[str], skip_existing: bool) -> list[str]:
    """The names to create, once checked: valid, not registered, and the shared schema at head."""
    names = list(dict.fromkeys(validate_tenant_name(name) for name in names))
    engine = create_engine(settings, poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            versions = await connection.run_sync(schema_versions)
    finally:
        await engine.dispose()
    taken = [name for name in names if name in versions.tenants]
    if taken and not skip_existing:
        raise TenantError(
            f"tenant {taken[0]} exists already: choose another name"
            if len(taken) == 1
            else f"tenants {', '.join(taken)} exist already: choose other names (or pass "
            "--skip-existing)"
        )
    if code_revisions(settings.alembic_ini).state(versions.shared) != "at head":
        raise TenantError(
            "the shared schema is not at the head revision, so a new tenant would be ahead "
            "of it: run `alembic upgrade head` first, then create the tenant"
        )
    return [name for name in names if name not in taken]


async def create_tenant(settings: Settings, name: str) -> None:
    """Create one tenant (POST /tenants): its schema at head, then registered.

    Never on the app's pool: the migration runs on a connection of its own, in a worker thread,
    because Alembic is synchronous and may wait for another migration run to finish.
    """
    names = await new_tenants(settings, [name], skip_existing=False)
    await asyncio.to_thread(migrate_new_tenants, settings, names)


def create_tenants(settings: Settings, names: list[str], skip_existing: bool = False) -> list[str]:
    """Create the tenants (the CLI); the names created. Workers are forked from this thread."""
    created = asyncio.run(new_tenants(settings, names, skip_existing))
    if created:
        migrate_new_tenants(settings, created)
    return created


async def tenant_table(settings: Settings) -> list[str]:
    """One line per tenant: name, revision, and where it stands for this code."""
    code = code_revisions(settings.alembic_ini)
    engine = create_engine(settings, poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            versions = await connection.run_sync(schema_versions)
    finally:
        await engine.dispose()
    rows: list[tuple[str, str, str]] = [
        (name, ",".join(revisions) or "none", code.state(revisions))
        for name, revisions in versions.tenants.items()
    ]
    rows += [(name, "-", "invalid name: not migrated") for name in versions.invalid]
    width = max((len(row[0]) for row in rows), default=4)
    return [f"{name:<{width}}  {revision:<12}  {state}" for name, revision, state in sorted(rows)]


def drop(connection: Connection, settings: Settings, names: list[str]) -> None:
    """Unregister each tenant and drop its schema, one transaction per tenant, under the
    migration lock so that no upgrade migrates it meanwhile."""
    with session.migration_session(connection, settings):
        registered = set(registered_tenants(connection))
        schemas = set(inspect(connection).get_schema_names())
        missing = [
            name for name in names if name not in registered and schema_for(name) not in schemas
        ]
        if missing:
            raise TenantError(f"no tenant {', '.join(missing)}: nothing dropped")
        for name in names:
            connection.execute(delete(Tenant).where(Tenant.name == name))
            connection.execute(DropSchema(schema_for(name), cascade=True, if_exists=True))
            connection.commit()


async def drop_tenants(settings: Settings, names: list[str], confirmed: bool) -> None:
    names = [validate_tenant_name(name) for name in names]
    if not confirmed:
        raise TenantError(
            f"dropping deletes {', '.join(map(schema_for, names))} and all the data in it: "
            "run again with --yes to confirm"
        )
    engine = create_engine(settings, poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(drop, settings, names)
    finally:
        await engine.dispose()


def names_from(arguments: argparse.Namespace) -> list[str]:
    """The names given, then those of --from-file (blank lines and # comments left out)."""
    names: list[str] = list(arguments.names)
    if arguments.from_file == "-":
        names += names_in(sys.stdin.read())
    elif arguments.from_file is not None:
        try:
            names += names_in(Path(arguments.from_file).read_text())
        except OSError as error:
            raise TenantError(f"cannot read {arguments.from_file}: {error.strerror}") from None
    if not names:
        raise TenantError("no tenant named: give names, or --from-file with one name a line")
    return names


def names_in(text: str) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return [line for line in lines if line]


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m {__spec__.name}")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="create, migrate and register tenants")
    create.add_argument("names", nargs="*", metavar="NAME")
    create.add_argument("--from-file", metavar="FILE", help="one name a line; - for stdin")
    create.add_argument(
        "--skip-existing", action="store_true", help="leave registered tenants as they are"
    )
    commands.add_parser("list", help="each tenant's revision, and whether it is behind")
    drop = commands.add_parser("drop", help="delete tenants, their schemas and all their data")
    drop.add_argument("names", nargs="+", metavar="NAME")
    drop.add_argument("--yes", action="store_true", help="confirm: the data is gone for good")
    return parser


def run(arguments: argparse.Namespace, settings: Settings) -> None:
    if arguments.command == "create":
        for name in create_tenants(settings, names_from(arguments), arguments.skip_existing):
            print(f"tenant {name} created in schema {schema_for(name)}")
    elif arguments.command == "drop":
        asyncio.run(drop_tenants(settings, arguments.names, arguments.yes))
        for name in arguments.names:
            print(f"tenant {name} dropped with schema {schema_for(name)}")
    else:
        print("\n".join(asyncio.run(tenant_table(settings))))


def main(argv: list[str] | None = None) -> int:
    arguments = parser().parse_args(argv)
    # The runner's progress and failures (migrator/progress.py); Alembic's own lines stay quiet.
    logging.basicConfig(format="%(levelname)-5.5s [%(name)s] %(message)s")
    logging.getLogger("alembic.env.tenants").setLevel(logging.INFO)
    try:
        # Migrations and drops connect like Alembic does: past a pooler when told how.
        settings = settings_for(build_config(settings=get_settings()))
        run(arguments, settings)
    except (TenantNameError, TenantError, ConfigurationError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except TenantsFailed as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except (OSError, DBAPIError) as error:
        print(f"error: {explain_connection_error(settings.database_url, error)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
