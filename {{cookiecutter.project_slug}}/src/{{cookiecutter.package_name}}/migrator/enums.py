"""PostgreSQL enum types in autogenerate and `alembic check`, via alembic-postgresql-enum.

The library compares the models' enums with the database's types. A new type is created before
the tables that use it and dropped after them (SQLAlchemy alone creates a type only with a new
table, and never drops it), and a changed list of labels is a difference: autogenerate writes it
and `alembic check` reports it. env.py imports this module to turn that on.

Two renderings differ from the library's:
- New labels: `ALTER TYPE ... ADD VALUE IF NOT EXISTS`, at the top of the revision in an
  autocommit block. No table is rewritten, and the label is committed before the rest of the
  revision runs, so that it may use it (PostgreSQL refuses a label inside the transaction that
  added it: "unsafe use of new value").
- Removed, renamed or reordered labels (and the downgrade of new ones) keep the library's
  `op.sync_enum_values`, which recreates the type and rewrites every column using it under an
  ACCESS EXCLUSIVE lock: it belongs in a post-deploy revision. An enum in the schema the run
  migrates is named through the run, so that one revision serves every schema it runs in.
"""

import dataclasses

import alembic_postgresql_enum
from alembic.autogenerate import comparators, renderers
from alembic.autogenerate.api import AutogenContext
from alembic.operations import ops
from alembic.util import DispatchPriority
from alembic_postgresql_enum.operations.add_enum_values import AddEnumValuesOp
from alembic_postgresql_enum.operations.drop_enum import DropEnumOp
from alembic_postgresql_enum.operations.sync_enum_values import (
    SyncEnumValuesOp,
    render_sync_enum_value_op,
)

# The library's defaults, spelled out: every enum type is compared, and one that no model uses
# any more is dropped after its last column.
alembic_postgresql_enum.set_configuration(
    alembic_postgresql_enum.Config(drop_unused_enums=True, detect_enum_values_changes=True)
)
RUN_SCHEMA = "op.get_context().version_table_schema"
# Post-deploy operations (the rewriter's contract phase): a type goes after the last column using
# it, and the running release may still write the labels a sync removes.
CONTRACT_OPERATIONS: tuple[type[ops.MigrateOperation], ...] = (DropEnumOp, SyncEnumValuesOp)


def new_labels(old: list[str], new: list[str]) -> list[tuple[str, str | None]]:
    """Each new label, with the existing label it goes before (None: at the end)."""
    return [
        (label, next((later for later in new[position:] if later in old), None))
        for position, label in enumerate(new)
        if label not in old
    ]


def quoted_label(label: str) -> str:
    return "'" + label.replace("'", "''") + "'"


def type_name(autogen_context: AutogenContext, schema: str, name: str) -> str:
    """Unqualified in the default schema, as the library creates types there."""
    dialect = autogen_context.dialect
    assert dialect is not None
    quoted = dialect.identifier_preparer.quote(name)
    if schema == dialect.default_schema_name:
        return quoted
    return f"{dialect.identifier_preparer.quote_schema(schema)}.{quoted}"


def add_value_statements(autogen_context: AutogenContext, operation: AddEnumValuesOp) -> list[str]:
    enum_type = type_name(autogen_context, operation.schema, operation.name)
    return [
        f"ALTER TYPE {enum_type} ADD VALUE IF NOT EXISTS {quoted_label(label)}"
        + ("" if before is None else f" BEFORE {quoted_label(before)}")
        for label, before in new_labels(operation.old_values, operation.new_values)
    ]


@renderers.dispatch_for(AddEnumValuesOp, replace=True)
def render_add_enum_values(autogen_context: AutogenContext, operation: AddEnumValuesOp) -> str:
    prefix = autogen_context.opts.get("alembic_module_prefix", "op.")
    statements = add_value_statements(autogen_context, operation)
    lines = [
        "# ADD VALUE commits on its own: the rest of the revision can use the new label.",
        f"with {prefix}get_context().autocommit_block():",
        *(f"    {prefix}execute({statement!r})" for statement in statements),
    ]
    return "\n".join(lines)


@renderers.dispatch_for(SyncEnumValuesOp, replace=True)
def render_sync_enum_values(autogen_context: AutogenContext, operation: SyncEnumValuesOp) -> str:
    migrated_schema = autogen_context.migration_context.version_table_schema
    if migrated_schema is None or operation.schema != migrated_schema:
        return str(render_sync_enum_value_op(autogen_context, operation))
    # Tables named without a schema resolve on the search_path the run sets for each schema.
    unqualified = SyncEnumValuesOp(
        operation.schema,
        operation.name,
        operation.old_values,
        operation.new_values,
        [dataclasses.replace(column, table_schema=None) for column in operation.affected_columns],
        operation.indexes_to_recreate,
    )
    rendered = str(render_sync_enum_value_op(autogen_context, unqualified))
    return rendered.replace(f"enum_schema={operation.schema!r}", f"enum_schema={RUN_SCHEMA}")


@comparators.dispatch_for("schema", priority=DispatchPriority.LAST)
def add_values_first(
    autogen_context: AutogenContext, upgrade_ops: ops.UpgradeOps, *_: object
) -> None:
    """Move the library's new labels to the top of the revision (it appends them at the end)."""
    added = [op for op in upgrade_ops.ops if isinstance(op, AddEnumValuesOp)]
    rest = [op for op in upgrade_ops.ops if not isinstance(op, AddEnumValuesOp)]
    upgrade_ops.ops[:] = added + rest
