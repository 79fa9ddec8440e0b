"""Indexes built and dropped concurrently, and unique constraints over such an index."""

from collections.abc import Sequence
from typing import Any

from alembic.operations import Operations, ops
from sqlalchemy import ColumnElement, TextClause
from sqlalchemy.sql.elements import conv

from .support import (
    alone,
    constraint_exists,
    drop_before_offline_add,
    drop_invalid_index,
    own_transactions,
    qualified,
    quoted,
    require_postgresql,
)


def without_concurrently(kw: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in kw.items() if key != "postgresql_concurrently"}


@Operations.register_operation("create_index_concurrently")
class CreateIndexConcurrentlyOp(ops.CreateIndexOp):
    """CREATE INDEX CONCURRENTLY: writes go on while the index builds."""

    @classmethod
    def create_index_concurrently(
        cls,
        operations: Operations,
        index_name: str,
        table_name: str,
        columns: Sequence[str | TextClause | ColumnElement[Any]],
        *,
        schema: str | None = None,
        unique: bool = False,
        **kw: Any,
    ) -> None:
        operations.invoke(cls(index_name, table_name, columns, schema=schema, unique=unique, **kw))

    def reverse(self) -> ops.DropIndexOp:
        return DropIndexConcurrentlyOp.from_index(self.to_index())


@Operations.implementation_for(CreateIndexConcurrentlyOp)
def create_index_concurrently(operations: Operations, operation: CreateIndexConcurrentlyOp) -> None:
    require_postgresql(operations, "create_index_concurrently")
    assert operation.index_name is not None, "a concurrent index needs a name"
    with own_transactions(operations):
        drop_invalid_index(operations, operation.index_name, operation.table_name, operation.schema)
        operations.create_index(
            conv(operation.index_name),
            operation.table_name,
            operation.columns,
            schema=operation.schema,
            unique=operation.unique,
            postgresql_concurrently=True,
            if_not_exists=True,
            **without_concurrently(operation.kw),
        )


@Operations.register_operation("drop_index_concurrently")
class DropIndexConcurrentlyOp(ops.DropIndexOp):
    """DROP INDEX CONCURRENTLY: waits for running queries instead of blocking new ones."""

    @classmethod
    def drop_index_concurrently(
        cls,
        operations: Operations,
        index_name: str,
        table_name: str | None = None,
        *,
        schema: str | None = None,
        **kw: Any,
    ) -> None:
        operations.invoke(cls(index_name, table_name, schema=schema, **kw))

    def reverse(self) -> ops.CreateIndexOp:
        return CreateIndexConcurrentlyOp.from_index(self.to_index())


@Operations.implementation_for(DropIndexConcurrentlyOp)
def drop_index_concurrently(operations: Operations, operation: DropIndexConcurrentlyOp) -> None:
    require_postgresql(operations, "drop_index_concurrently")
    with own_transactions(operations):
        operations.drop_index(
            conv(operation.index_name),
            operation.table_name,
            schema=operation.schema,
            postgresql_concurrently=True,
            if_exists=True,
        )


@Operations.register_operation("create_unique_constraint_concurrently")
class CreateUniqueConstraintConcurrentlyOp(ops.CreateUniqueConstraintOp):
    """A unique constraint over an index built concurrently (`UNIQUE USING INDEX`)."""

    @classmethod
    def create_unique_constraint_concurrently(
        cls,
        operations: Operations,
        constraint_name: str,
        table_name: str,
        columns: Sequence[str],
        *,
        schema: str | None = None,
        **kw: Any,
    ) -> None:
        operations.invoke(cls(constraint_name, table_name, columns, schema=schema, **kw))


@Operations.implementation_for(CreateUniqueConstraintConcurrentlyOp)
def create_unique_constraint_concurrently(
    operations: Operations, operation: CreateUniqueConstraintConcurrentlyOp
) -> None:
    require_postgresql(operations, "create_unique_constraint_concurrently")
    name = str(operation.to_constraint(operations.get_context()).name)
    table, schema = operation.table_name, operation.schema
    with own_transactions(operations):
        if constraint_exists(operations, name, table, schema):
            return
        with alone(operations):
            drop_before_offline_add(operations, name, table, "unique", schema)
        drop_invalid_index(operations, name, table, schema)
        # PostgreSQL renames the index after the constraint: both get the constraint's name.
        operations.create_index(
            conv(name),
            table,
            list(operation.columns),
            schema=schema,
            unique=True,
            postgresql_concurrently=True,
            if_not_exists=True,
            **without_concurrently(operation.kw),
        )
        with alone(operations):
            operations.execute(
                f"ALTER TABLE {qualified(operations, table, schema)} ADD CONSTRAINT "
                f"{quoted(operations, name)} UNIQUE USING INDEX {quoted(operations, name)}"
            )
