"""What the safe operations share: the PostgreSQL check, the catalog, and transactions."""

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from alembic.operations import Operations
from alembic.util import CommandError
from sqlalchemy import text
from sqlalchemy.sql.elements import conv

log = logging.getLogger("alembic.env")

INDEX_IS_VALID = text("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(:index)")
CONSTRAINT_EXISTS = text(
    "SELECT EXISTS (SELECT FROM pg_constraint WHERE conrelid = to_regclass(:table) "
    "AND conname = :name)"
)
COLUMN_IS_NOT_NULL = text(
    "SELECT attnotnull FROM pg_attribute WHERE attrelid = to_regclass(:table) AND attname = :column"
)


def require_postgresql(operations: Operations, name: str) -> None:
    dialect = operations.get_context().dialect.name
    if dialect != "postgresql":
        raise CommandError(
            f"op.{name}() is for PostgreSQL, not {dialect}: use the plain operation there "
            "(docs/migrations.md)"
        )


def is_offline(operations: Operations) -> bool:
    return bool(operations.get_context().as_sql)


def quoted(operations: Operations, name: str) -> str:
    return str(operations.get_context().dialect.identifier_preparer.quote(name))


def qualified(operations: Operations, name: str, schema: str | None) -> str:
    preparer = operations.get_context().dialect.identifier_preparer
    return (
        f"{preparer.quote_schema(schema)}.{quoted(operations, name)}"
        if schema
        else quoted(operations, name)
    )


def constraint_exists(operations: Operations, name: str, table: str, schema: str | None) -> bool:
    """Whether the constraint is there already (a rerun); offline scripts cannot tell: False."""
    if is_offline(operations):
        return False
    where = {"table": qualified(operations, table, schema), "name": str(name)}
    return bool(operations.get_bind().scalar(CONSTRAINT_EXISTS, where))


def is_not_null(operations: Operations, table: str, column: str, schema: str | None) -> bool:
    if is_offline(operations):
        return False
    where = {"table": qualified(operations, table, schema), "column": column}
    return bool(operations.get_bind().scalar(COLUMN_IS_NOT_NULL, where))


def drop_invalid_index(
    operations: Operations, index_name: str, table_name: str, schema: str | None
) -> None:
    """Drop what an interrupted CONCURRENTLY build left: IF NOT EXISTS would keep it, invalid."""
    if is_offline(operations):
        return
    where = {"index": qualified(operations, index_name, schema)}
    if operations.get_bind().scalar(INDEX_IS_VALID, where) is False:
        log.info("Dropping invalid index %s left by an interrupted build", index_name)
        operations.drop_index(
            conv(index_name),
            table_name,
            schema=schema,
            postgresql_concurrently=True,
            if_exists=True,
        )


def drop_before_offline_add(
    operations: Operations, name: str, table: str, type_: str, schema: str | None
) -> None:
    """Offline, `DROP CONSTRAINT IF EXISTS` makes the ADD that follows safe to run again."""
    if is_offline(operations):
        operations.drop_constraint(conv(name), table, type_=type_, schema=schema, if_exists=True)


@contextmanager
def own_transactions(operations: Operations) -> Iterator[None]:
    """Commit the revision's work so far; each statement inside commits on its own."""
    with operations.get_context().autocommit_block():
        yield


def commit_so_far(operations: Operations) -> None:
    """Commit the revision's work so far: what follows runs in the next transaction."""
    with own_transactions(operations):
        pass


@contextmanager
def alone(operations: Operations) -> Iterator[None]:
    """Statements in a transaction of their own, inside own_transactions().

    Online, autocommit makes each statement one; offline, BEGIN and COMMIT say so to readers
    and squawk.
    """
    context = operations.get_context()
    if context.as_sql:
        context.impl.emit_begin()
    yield
    if context.as_sql:
        context.impl.emit_commit()
