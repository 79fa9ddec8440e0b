"""The tables of a database as SQLAlchemy's inspector sees them, and what changed between two."""

from dataclasses import dataclass, field

from sqlalchemy import Connection, inspect

from .model import Change

SYSTEM_SCHEMAS = {"information_schema"}
VERSION_TABLE = "alembic_version"


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    nullable: bool
    default: str | None
    primary_key: bool


@dataclass(frozen=True)
class ForeignKey:
    columns: tuple[str, ...]
    table: str
    referred: tuple[str, ...]


@dataclass
class Table:
    name: str
    columns: dict[str, Column] = field(default_factory=dict)
    foreign_keys: set[ForeignKey] = field(default_factory=set)
    indexes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Unique constraints and unique indexes alike: either way a column is unique.
    unique: set[tuple[str, ...]] = field(default_factory=set)


def snapshot(connection: Connection) -> dict[str, Table]:
    """Every table but Alembic's own, named as the report names relations."""
    inspector = inspect(connection)
    default = inspector.default_schema_name
    tables: dict[str, Table] = {}
{%- if cookiecutter.database == "mysql" %}
    # MySQL's schemas are the server's databases: the others are not this one's.
    schemas = [default] if default else []
{%- else %}
    schemas = inspector.get_schema_names()
{%- endif %}
    for schema in schemas:
        if schema in SYSTEM_SCHEMAS or schema.startswith("pg_"):
            continue
        owner = None if schema == default else schema
        for name in inspector.get_table_names(schema=owner):
            if name == VERSION_TABLE:
                continue
            qualified = name if owner is None else f"{owner}.{name}"
            tables[qualified] = read_table(connection, qualified, name, owner)
    return tables


def read_table(connection: Connection, qualified: str, name: str, schema: str | None) -> Table:
    inspector = inspect(connection)
    table = Table(qualified)
    primary_key = set(inspector.get_pk_constraint(name, schema=schema)["constrained_columns"])
    for column in inspector.get_columns(name, schema=schema):
        try:
            type_ = column["type"].compile(dialect=connection.dialect)
        except Exception:  # a type the dialect cannot render back: its class says enough
            type_ = type(column["type"]).__name__
        default = column.get("default")
        table.columns[column["name"]] = Column(
            column["name"], type_, column["nullable"], default, column["name"] in primary_key
        )
    for key in inspector.get_foreign_keys(name, schema=schema):
        referred = key["referred_table"]
        if key.get("referred_schema") and key["referred_schema"] != schema:
            referred = f"{key['referred_schema']}.{referred}"
        table.foreign_keys.add(
            ForeignKey(tuple(key["constrained_columns"]), referred, tuple(key["referred_columns"]))
        )
    for index in inspector.get_indexes(name, schema=schema):
        columns = tuple(str(column) for column in index["column_names"] if column)
        table.indexes[str(index["name"])] = columns
        if index["unique"]:
            table.unique.add(columns)
    for constraint in inspector.get_unique_constraints(name, schema=schema):
        table.unique.add(tuple(constraint["column_names"]))
    return table


def changes(before: dict[str, Table], after: dict[str, Table]) -> list[Change]:
    found: list[Change] = []
    for name in sorted(before.keys() - after.keys()):
        found.append(Change(name, "table dropped"))
    for name in sorted(after.keys() - before.keys()):
        found.append(Change(name, "table created"))
    for name in sorted(before.keys() & after.keys()):
        found += table_changes(before[name], after[name])
    return found


def table_changes(old: Table, new: Table) -> list[Change]:
    found = [Change(new.name, "column dropped", c) for c in old.columns if c not in new.columns]
    found += [Change(new.name, "column added", c) for c in new.columns if c not in old.columns]
    for name in old.columns.keys() & new.columns.keys():
        was, now = old.columns[name], new.columns[name]
        detail = []
        if was.type != now.type:
            detail.append(f"type {was.type} to {now.type}")
        if was.nullable != now.nullable:
            detail.append("now NOT NULL" if not now.nullable else "now nullable")
        if was.default != now.default:
            detail.append(f"default {was.default or 'none'} to {now.default or 'none'}")
        if detail:
            found.append(Change(new.name, "column changed", name, ", ".join(detail)))
    for index in sorted(new.indexes.keys() - old.indexes.keys()):
        found.append(Change(new.name, "index created", ", ".join(new.indexes[index]), index))
    for index in sorted(old.indexes.keys() - new.indexes.keys()):
        found.append(Change(new.name, "index dropped", ", ".join(old.indexes[index]), index))
    for key in new.foreign_keys - old.foreign_keys:
        found.append(Change(new.name, "foreign key added", ", ".join(key.columns), key.table))
    for key in old.foreign_keys - new.foreign_keys:
        found.append(Change(new.name, "foreign key dropped", ", ".join(key.columns), key.table))
    return found
