"""Constraints added NOT VALID, validated later, and NOT NULL through a validated check."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from alembic.operations import MigrateOperation, Operations, ops
from alembic.util import CommandError
from sqlalchemy import ColumnElement, TextClause
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import conv

from .support import (
    alone,
    commit_so_far,
    constraint_exists,
    drop_before_offline_add,
    is_not_null,
    own_transactions,
    qualified,
    quoted,
    require_postgresql,
)

CHECK_VIOLATION = "23514"
# PostgreSQL keeps 63 bytes of a name.
MAX_NAME_LENGTH = 63


@Operations.register_operation("create_foreign_key_not_valid")
class CreateForeignKeyNotValidOp(ops.CreateForeignKeyOp):
    """A foreign key checked for new rows at once; validate_constraint() checks the old ones."""

    @classmethod
    def create_foreign_key_not_valid(
        cls,
        operations: Operations,
        constraint_name: str,
        source_table: str,
        referent_table: str,
        local_cols: list[str],
        remote_cols: list[str],
        **kw: Any,
    ) -> None:
        operations.invoke(
            cls(constraint_name, source_table, referent_table, local_cols, remote_cols, **kw)
        )


@Operations.implementation_for(CreateForeignKeyNotValidOp)
def create_foreign_key_not_valid(
    operations: Operations, operation: CreateForeignKeyNotValidOp
) -> None:
    require_postgresql(operations, "create_foreign_key_not_valid")
    name = str(operation.to_constraint(operations.get_context()).name)
    table, schema = operation.source_table, operation.kw.get("source_schema")
    if constraint_exists(operations, name, table, schema):
        return
    drop_before_offline_add(operations, name, table, "foreignkey", schema)
    operations.invoke(
        ops.CreateForeignKeyOp(
            operation.constraint_name,
            table,
            operation.referent_table,
            operation.local_cols,
            operation.remote_cols,
            **operation.kw,
            postgresql_not_valid=True,
        )
    )


@Operations.register_operation("create_check_constraint_not_valid")
class CreateCheckConstraintNotValidOp(ops.CreateCheckConstraintOp):
    """A CHECK enforced for new rows at once; validate_constraint() checks the old ones."""

    @classmethod
    def create_check_constraint_not_valid(
        cls,
        operations: Operations,
        constraint_name: str,
        table_name: str,
        condition: str | TextClause | ColumnElement[Any],
        *,
        schema: str | None = None,
        **kw: Any,
    ) -> None:
        operations.invoke(cls(constraint_name, table_name, condition, schema=schema, **kw))


@Operations.implementation_for(CreateCheckConstraintNotValidOp)
def create_check_constraint_not_valid(
    operations: Operations, operation: CreateCheckConstraintNotValidOp
) -> None:
    require_postgresql(operations, "create_check_constraint_not_valid")
    name = str(operation.to_constraint(operations.get_context()).name)
    table, schema = operation.table_name, operation.schema
    if constraint_exists(operations, name, table, schema):
        return
    drop_before_offline_add(operations, name, table, "check", schema)
    operations.create_check_constraint(
        conv(name), table, operation.condition, schema=schema, postgresql_not_valid=True
    )


@Operations.register_operation("validate_constraint")
class ValidateConstraintOp(MigrateOperation):
    """VALIDATE CONSTRAINT: checks the existing rows under a lock that lets reads and writes on.

    It commits what came before it, so that its transaction holds no lock that blocks them. It
    has no reverse: dropping the constraint undoes it.
    """

    def __init__(self, constraint_name: str, table_name: str, *, schema: str | None = None) -> None:
        self.constraint_name = constraint_name
        self.table_name = table_name
        self.schema = schema

    @classmethod
    def validate_constraint(
        cls,
        operations: Operations,
        constraint_name: str,
        table_name: str,
        *,
        schema: str | None = None,
    ) -> None:
        operations.invoke(cls(constraint_name, table_name, schema=schema))


@Operations.implementation_for(ValidateConstraintOp)
def validate_constraint(operations: Operations, operation: ValidateConstraintOp) -> None:
    require_postgresql(operations, "validate_constraint")
    commit_so_far(operations)
    validate(operations, operation.constraint_name, operation.table_name, operation.schema)


def validate(operations: Operations, name: str, table: str, schema: str | None) -> None:
    operations.execute(
        f"ALTER TABLE {qualified(operations, table, schema)} "
        f"VALIDATE CONSTRAINT {quoted(operations, name)}"
    )


def not_null_check_name(table_name: str, column_name: str) -> str:
    return f"ck_{table_name}_{column_name}_not_null"[:MAX_NAME_LENGTH]


@Operations.register_operation("set_not_null")
class SetNotNullOp(MigrateOperation):
    """SET NOT NULL without scanning the table under an exclusive lock (PostgreSQL 12+).

    `todo` is the backfill comment autogenerate writes above it.
    """

    def __init__(
        self,
        table_name: str,
        column_name: str,
        *,
        schema: str | None = None,
        todo: str | None = None,
    ) -> None:
        self.table_name = table_name
        self.column_name = column_name
        self.schema = schema
        self.todo = todo

    @classmethod
    def set_not_null(
        cls,
        operations: Operations,
        table_name: str,
        column_name: str,
        *,
        schema: str | None = None,
    ) -> None:
        operations.invoke(cls(table_name, column_name, schema=schema))

    def reverse(self) -> ops.AlterColumnOp:
        return ops.AlterColumnOp(
            self.table_name,
            self.column_name,
            schema=self.schema,
            existing_nullable=False,
            modify_nullable=True,
        )


@Operations.implementation_for(SetNotNullOp)
def set_not_null(operations: Operations, operation: SetNotNullOp) -> None:
    """The check is added in a short transaction of its own; the scan (VALIDATE), then the brief
    exclusive lock (SET NOT NULL) run in the revision's next transaction."""
    require_postgresql(operations, "set_not_null")
    table, column, schema = operation.table_name, operation.column_name, operation.schema
    check = not_null_check_name(table, column)
    if not is_not_null(operations, table, column, schema):
        with own_transactions(operations):
            if not constraint_exists(operations, check, table, schema):
                with alone(operations):
                    drop_before_offline_add(operations, check, table, "check", schema)
                    operations.create_check_constraint(
                        conv(check),
                        table,
                        f"{quoted(operations, column)} IS NOT NULL",
                        schema=schema,
                        postgresql_not_valid=True,
                    )
        with nulls_explained(table, column):
            validate(operations, check, table, schema)
        operations.alter_column(table, column, schema=schema, nullable=False)
    operations.drop_constraint(conv(check), table, type_="check", schema=schema, if_exists=True)


@contextmanager
def nulls_explained(table: str, column: str) -> Iterator[None]:
    try:
        yield
    except IntegrityError as error:
        if getattr(error.orig, "sqlstate", None) != CHECK_VIOLATION:
            raise
        raise CommandError(
            f"{table}.{column} is NULL in some rows: set_not_null needs them filled first "
            "(write the backfill above it, where autogenerate left a TODO(backfill))"
        ) from error
