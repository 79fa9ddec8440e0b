"""Schema per tenant: which schemas a run migrates, and the registry of tenants.

Each revision has a `shared` and a `tenant` part. A run migrates the shared schema, then the
template tenant schema (what autogenerate compares against), then every registered tenant
(fanout.py), each with its own version table; a caller can name one tenant instead, or tenants
being created.
"""

import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

from alembic.config import Config
from sqlalchemy import (
    Connection,
    MetaData,
    TableClause,
    TextClause,
    column,
    inspect,
    select,
    table,
    text,
    union_all,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Dialect
from sqlalchemy.schema import CreateSchema

from {{ cookiecutter.package_name }}.migrator.autogenerate import name_filter, safe_revisions
from {{ cookiecutter.package_name }}.migrator.config import command_name, excluded_tables
from {{ cookiecutter.package_name }}.models import Base, SharedBase, Tenant
from {{ cookiecutter.package_name }}.models.base import SHARED_SCHEMA

# Migrated like a tenant but never served: autogenerate and `alembic check` compare against it.
TEMPLATE_SCHEMA = "tenant_template"
TENANT_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
RESERVED_NAMES = frozenset({"template", "shared", "public", "default"})
SET_SEARCH_PATH = text("SELECT set_config('search_path', :value, :is_local)")
# One array parameter, whatever the number of schemas (a driver takes at most 32767 parameters).
VERSION_TABLES = text(
    "SELECT c.oid, n.nspname FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace "
    "WHERE c.relname = 'alembic_version' AND n.nspname = ANY(:schemas)"
)
# config.attributes key: the tenants a run creates (tenants.py), registered once migrated.
NEW_TENANTS = "new_tenants"


class TenantNameError(ValueError):
    """A tenant name that cannot become a schema name; the message says what is allowed."""


class TenantError(ValueError):
    """A tenant cannot be created as asked; the message says why and what to do."""


def validate_tenant_name(name: str) -> str:
    if not TENANT_NAME.fullmatch(name):
        raise TenantNameError(
            f"tenant name {name[:80]!r} is invalid: use 1-40 lowercase letters, digits and "
            "underscores, starting with a letter"
        )
    if name in RESERVED_NAMES or name.startswith("pg_"):
        raise TenantNameError(f"tenant name {name!r} is reserved: choose another name")
    return name


def schema_for(name: str) -> str:
    return f"tenant_{validate_tenant_name(name)}"


class Target(NamedTuple):
    scope: str  # "shared" or "tenant": which part of each revision runs
    schema: str


def registered_tenants(connection: Connection) -> list[str]:
    """The registry's tenant names, as stored: schema_for() checks each before it is used."""
    if not inspect(connection).has_table(Tenant.__tablename__, schema=SHARED_SCHEMA):
        return []
    return list(connection.scalars(select(Tenant.name).order_by(Tenant.name)))


def visits_every_tenant(config: Config, revision_argument: Callable[[], object]) -> bool:
    """upgrade, downgrade, stamp and current do; autogenerate and check use the template only."""
    if command_name(config) == "current":
        return True
    try:
        revision_argument()  # set by the commands that move to a revision
    except KeyError:
        return False
    return True


def new_tenants(config: Config) -> list[str]:
    """The tenants a run creates: build_config() plus `config.attributes[NEW_TENANTS]`."""
    return [validate_tenant_name(name) for name in config.attributes.get(NEW_TENANTS) or ()]


class Targets:
    """What a run migrates: `schemas` one after another on its own connection, then `tenants()`
    through the fan-out runner (fanout.py)."""

    def __init__(
        self, connection: Connection, config: Config, tenant: str | None, every_tenant: bool
    ) -> None:
        self.creating = new_tenants(config)
        self.schemas: list[Target] = []
        self.registered: list[str] = []
        if tenant is not None:
            # Only build_config(tenant=...) migrates a tenant it has not registered: a typo in
            # `-x tenant=` would otherwise create a schema that nothing serves.
            if config.attributes.get("tenant") is None and tenant not in registered_tenants(
                connection
            ):
                raise TenantNameError(
                    f"tenant {tenant} is not registered: check the name with the tenants CLI's "
                    "`list`, or create the tenant with its `create` (docs/tenancy.md)"
                )
            self.schemas = [Target("tenant", schema_for(tenant))]
        elif not self.creating:
            self.schemas = [Target("shared", SHARED_SCHEMA), Target("tenant", TEMPLATE_SCHEMA)]
            if every_tenant:
                # Read before the shared part runs: a downgrade may drop the registry.
                self.registered = registered_tenants(connection)
        self.every_tenant = every_tenant and tenant is None

    def tenants(self, connection: Connection) -> list[str]:
        """The tenants to migrate once `schemas` are done."""
        if self.creating or not self.every_tenant:
            return self.creating
        return list(dict.fromkeys(self.registered + registered_tenants(connection)))


def register_tenants(connection: Connection, names: list[str]) -> list[str]:
    """Add the tenants to the registry; returns those another run registered first."""
    if not names:
        return []
    added = connection.scalars(
        insert(Tenant)
        .values([{"name": name} for name in names])
        .on_conflict_do_nothing()
        .returning(Tenant.name)
    )
    return sorted(set(names) - set(added))


def offline_targets(tenant: str | None) -> list[Target]:
    """Offline there is no registry to read: the shared part and the template, or one tenant."""
    if tenant is not None:
        return [Target("tenant", schema_for(tenant))]
    return [Target("shared", SHARED_SCHEMA), Target("tenant", TEMPLATE_SCHEMA)]


def target_options(config: Config, target: Target) -> dict[str, Any]:
    """context.configure() options for migrating one schema."""
    shared = target.scope == "shared"
    metadata: MetaData = SharedBase.metadata if shared else Base.metadata
    patterns = excluded_tables(config)
    # The tenant's own version table is reflected as a table of the default schema.
    if not shared:
        patterns = [*patterns, "alembic_version"]
    return {
        "target_metadata": metadata,
        "version_table_schema": target.schema,
        "include_schemas": shared,
        "include_name": name_filter(patterns, SHARED_SCHEMA if shared else None),
        "upgrade_token": f"{target.scope}_upgrades",
        "downgrade_token": f"{target.scope}_downgrades",
        # Autogenerate visits the shared part first: judge emptiness after the tenant part.
        "process_revision_directives": None if shared else safe_revisions(config),
    }


def search_path_statement(target: Target, dialect: Dialect) -> TextClause:
    """`search_path` set to the target's schema, for offline scripts."""
    quoted = dialect.identifier_preparer.quote_schema(target.schema)
    return SET_SEARCH_PATH.bindparams(value=quoted, is_local=False)


@contextmanager
def in_schema(connection: Connection, target: Target, owns_connection: bool) -> Iterator[None]:
    """Unqualified names (raw SQL, reflection) resolve in the target's schema while inside.

    On the run's own connection the search_path is put back afterwards; in a caller's
    transaction it is set for that transaction only.
    """
    quoted = connection.dialect.identifier_preparer.quote_schema(target.schema)
    default_schema = connection.dialect.default_schema_name
    previous_path = connection.scalar(text("SELECT current_setting('search_path')"))
    connection.execute(CreateSchema(target.schema, if_not_exists=True))
    connection.execute(SET_SEARCH_PATH, {"value": quoted, "is_local": not owns_connection})
    if owns_connection:
        connection.commit()
    connection.dialect.default_schema_name = (
        target.schema if target.scope == "tenant" else default_schema
    )
    try:
        yield
    finally:
        connection.dialect.default_schema_name = default_schema
        if owns_connection:
            connection.rollback()
            connection.execute(SET_SEARCH_PATH, {"value": previous_path, "is_local": False})
            connection.commit()


class SchemaVersions(NamedTuple):
    shared: tuple[str, ...]
    # Registered tenant -> its revisions; () when its schema or version table is missing.
    tenants: dict[str, tuple[str, ...]]
    # Registry rows that cannot be schema names: never queried, reported instead.
    invalid: list[str]


def schema_versions(connection: Connection) -> SchemaVersions:
    """The revisions of the shared schema and of every registered tenant, in two queries."""
    names = registered_tenants(connection)
    valid = [name for name in names if TENANT_NAME.fullmatch(name) and name not in RESERVED_NAMES]
    found = versions_by_schema(connection, [SHARED_SCHEMA, *map(schema_for, valid)])
    return SchemaVersions(
        shared=found[SHARED_SCHEMA],
        tenants={name: found[schema_for(name)] for name in valid},
        invalid=sorted(set(names) - set(valid)),
    )


def tenant_versions(connection: Connection, names: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """Each tenant's revisions, () when its schema or version table is missing; two queries."""
    found = versions_by_schema(connection, [schema_for(name) for name in names])
    return {name: found[schema_for(name)] for name in names}


def versions_by_schema(connection: Connection, schemas: list[str]) -> dict[str, tuple[str, ...]]:
    """Which version tables exist, then all of them at once, told apart by their table's oid."""
    existing = connection.execute(VERSION_TABLES, {"schemas": schemas})
    tables: dict[int, str] = {oid: schema for oid, schema in existing}
    found: dict[str, list[str]] = {schema: [] for schema in schemas}
    if tables:
        every_table = union_all(*(select(version_table(schema)) for schema in tables.values()))
        for oid, revision in connection.execute(every_table):
            found[tables[oid]].append(revision)
    return {schema: tuple(revisions) for schema, revisions in found.items()}


def version_table(schema: str | None) -> TableClause:
    # tableoid: PostgreSQL's own column naming the table each row comes from.
    return table("alembic_version", column("tableoid"), column("version_num"), schema=schema)
