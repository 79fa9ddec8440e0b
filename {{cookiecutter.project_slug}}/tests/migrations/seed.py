"""Rows for every table, made from the schema as the database has it at one revision.

On empty tables a NOT NULL column without a default, a unique index over duplicates and a
downgrade that re-adds a NOT NULL column all succeed; on the first real row they fail. The
stairway seeds before each revision, from the tables reflected at that point, so that every
revision meets rows shaped by the revisions before it.

The rows look like real ones: columns that must be unique get distinct values, every other column
repeats one value (a new unique index meets duplicates). Nullable columns get values too: the code
running at a revision writes the columns it knows, and the three-step NOT NULL (add nullable,
backfill, set NOT NULL) relies on that. The NULLs real tables hold come from rows older than their
column, which the stairway has, since it seeds before every step. Parents are seeded before
children, which reference them. Enum labels, and the values a CHECK lists (`IN (...)`), are
respected; a CHECK that refuses the generated values leaves its table empty, with a SeedWarning
that names it.
"""

import itertools
import re
import secrets
import uuid
import warnings
from collections import defaultdict
from collections.abc import Callable, Collection
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Column,
    Connection,
    Enum,
    ForeignKeyConstraint,
    MetaData,
    Table,
    UniqueConstraint,
    and_,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.exc import IntegrityError, OperationalError

ROWS_PER_TABLE = 3
NOT_SEEDED = ("alembic_version",)
# The CHECK a non-native enum becomes: `status IN ('a', 'b')` on SQLite,
# `(status)::text = ANY ((ARRAY['a'::character varying, ...])::text[])` on PostgreSQL,
# "`status` in ('a','b')" on MySQL.
LISTING_COLUMN = re.compile(r'(\w+)[`"]?\)?(?:::[a-z ]+)?\s*(?:IN|=\s*ANY)\s*\(', re.IGNORECASE)
QUOTED = re.compile(r"'((?:[^']|'')*)'")
# How each database refuses a row over a CHECK: PostgreSQL, SQLite and MySQL name a "check
# constraint"; MariaDB says "CONSTRAINT `table.name` failed" (an OperationalError there).
CHECK_FAILED = re.compile(r"check constraint|CONSTRAINT `[^`]*` failed", re.IGNORECASE)

# Every column of every table of a schema (None: the connection's own), in one query: the
# stairway seeds a table again only when this shape of it changed.
{%- if cookiecutter.database == "postgresql" %}
# The catalog itself: information_schema's views cost ten times as much, before every step.
SHAPES = text(
    "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull "
    "FROM pg_catalog.pg_attribute AS a JOIN pg_catalog.pg_class AS c ON c.oid = a.attrelid "
    "WHERE c.relnamespace = COALESCE(to_regnamespace(CAST(:schema AS text)), "
    "CAST(current_schema() AS regnamespace)) "
    "AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped "
    "ORDER BY c.relname, a.attnum"
)
{%- elif cookiecutter.database == "mysql" %}
SHAPES = text(
    "SELECT c.table_name, c.column_name, c.column_type, c.is_nullable "
    "FROM information_schema.columns AS c JOIN information_schema.tables AS t "
    "ON t.table_schema = c.table_schema AND t.table_name = c.table_name "
    "WHERE c.table_schema = COALESCE(:schema, DATABASE()) AND t.table_type = 'BASE TABLE' "
    "ORDER BY c.table_name, c.ordinal_position"
)
{%- else %}
SHAPES = text(
    'SELECT m.name, p.name, p.type, p."notnull" FROM sqlite_master AS m '
    "JOIN pragma_table_info(m.name) AS p WHERE m.type = 'table' AND :schema IS NULL "
    "ORDER BY m.name, p.cid"
)
{%- endif %}

Reference = tuple[Any, ...]
Shape = tuple[tuple[Any, ...], ...]


class SeedWarning(UserWarning):
    """A table the seeder left empty, and why."""


class CannotSeed(Exception):
    """This table gets no rows; the message says why."""


def seed(
    connection: Connection,
    schema: str | None = None,
    rows: int = ROWS_PER_TABLE,
    skip: Collection[str] = NOT_SEEDED,
    only: Collection[str] | None = None,
) -> dict[str, int]:
    """Insert `rows` rows into every table of `schema` (or the `only` ones); return the tables
    seeded and how many."""
    if not 0 <= rows < UNIQUE_BLOCK:
        raise ValueError(f"rows is {rows}: seed between 0 and {UNIQUE_BLOCK - 1} rows a table")
    metadata = MetaData()
    metadata.reflect(connection, schema=schema, only=None if only is None else list(only))
    seeded: dict[str, int] = {}
    for table in metadata.sorted_tables:
        # Tables of other schemas, and parents of the `only` ones, come along with foreign keys.
        if table.schema != schema or table.name in skip or (only and table.name not in only):
            continue
        try:
            insert_rows(connection, table, rows)
        except CannotSeed as reason:
            warnings.warn(f"seed: {table.name} left without rows: {reason}", SeedWarning, 2)
        else:
            seeded[table.name] = rows
    return seeded


class Seeder:
    """seed() before each step of a run, for the tables that are new or changed since.

    Reflecting and seeding every table before every step would make a stairway over N revisions
    cost N² (bench/); a table whose columns are as they were keeps its rows, and gets no more.
    """

    def __init__(self, schema: str | None, rows: int, skip: Collection[str]) -> None:
        self.schema, self.rows, self.skip = schema, rows, skip
        self.seeded_shapes: dict[str, Shape] = {}

    def __call__(self, connection: Connection) -> dict[str, int]:
        shapes = table_shapes(connection, self.schema)
        changed = [
            name
            for name, shape in shapes.items()
            if name not in self.skip and self.seeded_shapes.get(name) != shape
        ]
        self.seeded_shapes = shapes
        if not changed:
            return {}
        return seed(connection, self.schema, self.rows, self.skip, only=changed)


def table_shapes(connection: Connection, schema: str | None) -> dict[str, Shape]:
    columns: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for table, *column in connection.execute(SHAPES, {"schema": schema}):
        columns[str(table)].append(tuple(column))
    return {table: tuple(shape) for table, shape in columns.items()}


def insert_rows(connection: Connection, table: Table, count: int) -> None:
    unique = unique_columns(table)
    listed = listed_values(table)
    values = {
        column.name: column_values(connection, column, count, column.name in unique, listed)
        for column in table.columns
        if needs_value(table, column)
    }
    values |= foreign_key_values(connection, table, count, unique)
    for row in range(count):
        insert_row(connection, table, {name: column[row] for name, column in values.items()})


def unique_columns(table: Table) -> set[str]:
    """Columns of the primary key, of unique constraints and of unique indexes."""
    names = {column.name for column in table.primary_key.columns}
    for constraint in table.constraints:
        if isinstance(constraint, UniqueConstraint):
            names |= {column.name for column in constraint.columns}
    for index in table.indexes:
        if index.unique:
            names |= {column.name for column in index.columns}
    return names


def needs_value(table: Table, column: Column[Any]) -> bool:
    """False for what the database fills (serial keys, defaults) and for foreign keys."""
    if column.computed is not None or column.identity is not None:
        return False
    if column is table.autoincrement_column or column.server_default is not None:
        return False
    return not column.foreign_keys


def listed_values(table: Table) -> dict[str, list[str]]:
    """Column -> the values a CHECK lists for it."""
    found: dict[str, list[str]] = {}
    for constraint in table.constraints:
        if isinstance(constraint, CheckConstraint):
            text = str(constraint.sqltext)
            values = [value.replace("''", "'") for value in QUOTED.findall(text)]
            for name in LISTING_COLUMN.findall(text):
                found[name] = values
    return found


def column_values(
    connection: Connection,
    column: Column[Any],
    count: int,
    unique: bool,
    listed: dict[str, list[str]],
) -> list[Any]:
    """One value a row: distinct when unique, else one value repeated."""
    labels = list(column.type.enums) if isinstance(column.type, Enum) else []
    labels = labels or listed.get(column.name, [])
    if labels:
        return [labels[row % len(labels)] if unique else labels[0] for row in range(count)]
    start = next_number(connection, column) if unique else 1
    return [typed_value(column, start + row if unique else start) for row in range(count)]


def typed_value(column: Column[Any], number: int) -> Any:
    """A value of the column's type made from a number: equal numbers, equal values."""
    kind = column.type
    try:
        python_type = kind.python_type
    except NotImplementedError:
        python_type = object
    make = MAKERS.get(python_type)
    if make is not None:
        value = make(number)
        if isinstance(value, str | bytes) and getattr(kind, "length", None):
            return value[-kind.length :]  # type: ignore[attr-defined]
        if isinstance(value, datetime) and not getattr(kind, "timezone", False):
            return value.replace(tzinfo=None)
        return value
    if column.nullable:
        return None
    raise CannotSeed(f"no value for {column.name} of type {kind}: give it a server_default")


# Unique text and times differ between runs too: a table seeded before keeps its rows.
RUN = secrets.token_hex(3)
# Where the next unique non-numeric values start: never twice in one run, whatever the column
# holds (text cannot be asked for its highest number). Rows per table stay below the step.
UNIQUE_BLOCK = 1000
UNIQUE_BLOCKS = itertools.count(1, UNIQUE_BLOCK)
MOMENT = datetime(2000, 1, 1, tzinfo=UTC)
MAKERS: dict[type, Callable[[int], Any]] = {
    bool: lambda number: number % 2 == 1,
    int: lambda number: number,
    float: float,
    Decimal: Decimal,
    str: lambda number: f"{RUN}{number}",
    bytes: lambda number: f"{RUN}{number}".encode(),
    datetime: lambda number: MOMENT + timedelta(seconds=number),
    date: lambda number: MOMENT.date() + timedelta(days=number),
    time: lambda number: (MOMENT + timedelta(seconds=number % 86400)).time(),
    timedelta: lambda number: timedelta(seconds=number),
    uuid.UUID: lambda number: uuid.UUID(int=number),
    dict: lambda number: {"seed": number},
    list: lambda number: [],
}


def next_number(connection: Connection, column: Column[Any]) -> int:
    """Past every number the column holds, so that each unique number is new."""
    try:
        numeric = column.type.python_type in (int, float, Decimal)
    except NotImplementedError:
        numeric = False
    if not numeric:
        return next(UNIQUE_BLOCKS)
    highest = connection.scalar(select(func.max(column)))
    return max(int(highest or 0) + 1, 1)


def foreign_key_values(
    connection: Connection, table: Table, count: int, unique: set[str]
) -> dict[str, list[Any]]:
    """Each foreign key points at existing rows: a row of its own each when it is unique."""
    values: dict[str, list[Any]] = {}
    for constraint in table.foreign_key_constraints:
        local = [column.name for column in constraint.columns]
        one_each = bool(set(local) & unique)
        nullable = all(column.nullable for column in constraint.columns)
        picks = [row if one_each else 0 for row in range(count)]
        parents = parent_rows(connection, constraint, max(picks) + 1)
        if len(parents) <= max(picks) and not nullable:
            referred = constraint.referred_table.name
            raise CannotSeed(f"{referred} has too few rows for {', '.join(local)} to reference")
        references = [parents[pick] if pick < len(parents) else None for pick in picks]
        for position, name in enumerate(local):
            values[name] = [None if ref is None else ref[position] for ref in references]
    return values


def parent_rows(
    connection: Connection, constraint: ForeignKeyConstraint, count: int
) -> list[Reference]:
    """Up to `count` referenced keys; when each row needs its own, ones no row uses yet."""
    referred = [element.column for element in constraint.elements]
    query = select(*referred).distinct().order_by(*referred).limit(count)
    if count > 1:
        child = constraint.table.alias()
        used = [child.c[element.parent.name] == element.column for element in constraint.elements]
        query = query.where(~select(1).select_from(child).where(and_(*used)).exists())
    return [tuple(row) for row in connection.execute(query)]


def insert_row(connection: Connection, table: Table, row: dict[str, Any]) -> None:
    try:
        with connection.begin_nested():
            connection.execute(insert(table).values(row))
    except (IntegrityError, OperationalError) as error:
        message = str(error.orig).splitlines()[0]
        if CHECK_FAILED.search(message):
            raise CannotSeed(f"a CHECK refused the generated row ({message})") from None
        raise
