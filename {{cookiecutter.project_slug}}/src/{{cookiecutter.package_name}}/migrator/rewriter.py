"""What autogenerate writes on PostgreSQL: the zero-downtime form, split into deploy phases.

On tables that exist already (tables created or dropped in the same revision are left as they
are: nobody uses them while it runs), autogenerate's operations become those of `operations`:

- a new index is built concurrently, a dropped one is dropped concurrently;
- a new foreign key is added NOT VALID, then validated in a transaction of its own;
- a new unique constraint is a unique index built concurrently, then `UNIQUE USING INDEX`;
- a new NOT NULL column without a server default is added nullable; it becomes NOT NULL in the
  post-deploy revision, under a TODO(backfill) comment the linter reports until it is dealt with;
  a column made NOT NULL gets the same.

Drops and the NOT NULL steps are the contract phase: they go into a post-deploy revision chained
after the pre-deploy one. Downgrades are the reverse of what each revision runs, rewritten the
same way: a column a downgrade brings back is added nullable, then made NOT NULL after a
TODO(backfill) for its data (a server default refills it, so such a column needs none).

In each revision the operations that run in the revision's transaction come first, then the ones
that commit what came before them: concurrent builds, then validations, then NOT NULL steps, so
that the last of them shares the transaction that records the revision. When there are such,
the first ones are written to be harmless when run again (`if_not_exists`/`if_exists`): a run
killed halfway has committed them already.
"""

import secrets
from collections.abc import Iterable, Iterator
from typing import Any

from alembic.autogenerate.rewriter import Rewriter
from alembic.operations import MigrateOperation, ops
from alembic.runtime.migration import MigrationContext
from alembic.util import rev_id

{% if cookiecutter.database == "postgresql" -%}
from {{ cookiecutter.package_name }}.migrator.enums import CONTRACT_OPERATIONS as ENUM_CONTRACT
{% endif -%}
from {{ cookiecutter.package_name }}.migrator.operations import (
    CreateForeignKeyNotValidOp,
    CreateIndexConcurrentlyOp,
    CreateUniqueConstraintConcurrentlyOp,
    DropIndexConcurrentlyOp,
    SetNotNullOp,
    ValidateConstraintOp,
)
from {{ cookiecutter.package_name }}.migrator.phases import POST_DEPLOY, PRE_DEPLOY, Phase

TableKey = tuple[str | None, str]  # (schema, table)
Placed = tuple[TableKey | None, MigrateOperation]  # None: not inside a table's operations

UPGRADE_TODO = (
    "TODO(backfill): give {table}.{column} a value where it is NULL (rows the previous release "
    "wrote) above this comment, with migrator.backfill.backfill() on a big table; then delete "
    "the comment."
)
DOWNGRADE_TODO = (
    "TODO(backfill): {table}.{column} may hold NULLs here (it comes back empty, or the upgrade "
    "allowed them): copy the data back above this comment, or remove the set_not_null below; "
    "then delete the comment."
)
CONTRACT = (
    ops.DropTableOp,
    ops.DropColumnOp,
    ops.DropIndexOp,
    ops.DropConstraintOp,
    SetNotNullOp,
{%- if cookiecutter.database == "postgresql" %}
    *ENUM_CONTRACT,
{%- endif %}
)
OWN_TRANSACTION = (
    CreateIndexConcurrentlyOp,
    DropIndexConcurrentlyOp,
    CreateUniqueConstraintConcurrentlyOp,
    ValidateConstraintOp,
    SetNotNullOp,
)
# Revision ids are 12 hex digits; one that follows another is at most this far after it.
REVISION_ID_DIGITS = 12
ID_STEP = 16**8


def safe_rewriter(exempt: set[TableKey], todo: str) -> Rewriter:
    """Autogenerate's operations on existing tables, turned into the safe ones."""
    writer = Rewriter()

    def existing(table: str | None, schema: str | None) -> bool:
        return table is not None and (schema, table) not in exempt

    @writer.rewrites(ops.CreateIndexOp)
    def index_concurrently(
        context: MigrationContext, revision: object, op: ops.CreateIndexOp
    ) -> MigrateOperation:
        if type(op) is not ops.CreateIndexOp or not existing(op.table_name, op.schema):
            return op
        if op.index_name is None:
            return op
        return CreateIndexConcurrentlyOp.from_index(op.to_index())

    @writer.rewrites(ops.DropIndexOp)
    def drop_index_concurrently(
        context: MigrationContext, revision: object, op: ops.DropIndexOp
    ) -> MigrateOperation:
        if type(op) is not ops.DropIndexOp or not existing(op.table_name, op.schema):
            return op
        return DropIndexConcurrentlyOp(
            op.index_name, op.table_name, schema=op.schema, _reverse=op._reverse, **op.kw
        )

    @writer.rewrites(ops.CreateForeignKeyOp)
    def foreign_key_not_valid(
        context: MigrationContext, revision: object, op: ops.CreateForeignKeyOp
    ) -> MigrateOperation | list[MigrateOperation]:
        schema = op.kw.get("source_schema")
        name = op.constraint_name
        if type(op) is not ops.CreateForeignKeyOp or not existing(op.source_table, schema):
            return op
        if not isinstance(name, str):
            return op
        return [
            CreateForeignKeyNotValidOp(
                name,
                op.source_table,
                op.referent_table,
                op.local_cols,
                op.remote_cols,
                **op.kw,
            ),
            ValidateConstraintOp(name, op.source_table, schema=schema),
        ]

    @writer.rewrites(ops.CreateUniqueConstraintOp)
    def unique_concurrently(
        context: MigrationContext, revision: object, op: ops.CreateUniqueConstraintOp
    ) -> MigrateOperation:
        if type(op) is not ops.CreateUniqueConstraintOp or not existing(op.table_name, op.schema):
            return op
        # UNIQUE USING INDEX cannot be deferred: such a constraint stays as it is.
        if op.constraint_name is None or {"deferrable", "initially"} & op.kw.keys():
            return op
        return CreateUniqueConstraintConcurrentlyOp(
            op.constraint_name, op.table_name, op.columns, schema=op.schema, **op.kw
        )

    @writer.rewrites(ops.AddColumnOp)
    def nullable_first(
        context: MigrationContext, revision: object, op: ops.AddColumnOp
    ) -> MigrateOperation | list[MigrateOperation]:
        column = op.column
        if not existing(op.table_name, op.schema) or column.nullable or column.primary_key:
            return op
        if any(x is not None for x in (column.server_default, column.computed, column.identity)):
            return op
        nullable = column._copy()
        nullable.nullable = True
        return [
            ops.AddColumnOp(op.table_name, nullable, schema=op.schema),
            SetNotNullOp(
                op.table_name,
                column.name,
                schema=op.schema,
                todo=todo.format(table=op.table_name, column=column.name),
            ),
        ]

    @writer.rewrites(ops.AlterColumnOp)
    def not_null_after_backfill(
        context: MigrationContext, revision: object, op: ops.AlterColumnOp
    ) -> MigrateOperation | list[MigrateOperation]:
        if op.modify_nullable is not False or not existing(op.table_name, op.schema):
            return op
        set_not_null = SetNotNullOp(
            op.table_name,
            op.column_name,
            schema=op.schema,
            todo=todo.format(table=op.table_name, column=op.column_name),
        )
        op.modify_nullable = None
        return [op, set_not_null] if op.has_changes() else set_not_null

    return writer


def placed(container: ops.OpContainer) -> Iterator[Placed]:
    """Each operation with the table whose operations held it."""
    for op in container.ops:
        if isinstance(op, ops.ModifyTableOps):
            yield from (((op.schema, op.table_name), inner) for inner in op.ops)
        else:
            yield None, op


def grouped(operations: Iterable[Placed]) -> list[MigrateOperation]:
    """The operations again, consecutive ones of a table in one ModifyTableOps."""
    result: list[MigrateOperation] = []
    for table, op in operations:
        last = result[-1] if result else None
        if table is None:
            result.append(op)
        elif isinstance(last, ops.ModifyTableOps) and (last.schema, last.table_name) == table:
            last.ops.append(op)
        else:
            result.append(ops.ModifyTableOps(table[1], [op], schema=table[0]))
    return result


def made_rerunnable(op: MigrateOperation) -> None:
    if isinstance(op, ops.AddColumnOp | ops.CreateTableOp | ops.CreateIndexOp):
        op.if_not_exists = True
    elif isinstance(
        op, ops.DropColumnOp | ops.DropTableOp | ops.DropIndexOp | ops.DropConstraintOp
    ):
        op.if_exists = True


def place_in_revision(op: MigrateOperation) -> int:
    """Where op goes in its revision (see the docstring): lower first."""
    if isinstance(op, SetNotNullOp):
        return 3  # last: its SET NOT NULL then shares the transaction of the version stamp
    if isinstance(op, ValidateConstraintOp):
        return 2
    return 1 if isinstance(op, OWN_TRANSACTION) else 0


def arranged(operations: list[Placed]) -> list[MigrateOperation]:
    """The revision's own transaction first, then what commits on its own (see the docstring)."""
    ordered = sorted(operations, key=lambda placed: place_in_revision(placed[1]))
    if any(place_in_revision(op) for _, op in ordered):
        for _, op in ordered:
            if not place_in_revision(op):
                made_rerunnable(op)
    return grouped(ordered)


def tables_created_or_dropped(operations: Iterable[Placed]) -> set[TableKey]:
    return {
        (op.schema, op.table_name)
        for _, op in operations
        if isinstance(op, ops.CreateTableOp | ops.DropTableOp)
    }


def created_names(operations: Iterable[Placed]) -> set[str]:
    """Names of the indexes and constraints the revision creates."""
    names = set()
    for _, op in operations:
        if isinstance(op, ops.CreateIndexOp) and op.index_name:
            names.add(str(op.index_name))
        elif isinstance(op, ops.AddConstraintOp) and (name := getattr(op, "constraint_name", None)):
            names.add(str(name))
    return names


def is_contract(op: MigrateOperation, recreated: set[str]) -> bool:
    """Whether op belongs to the post-deploy phase; an index or constraint dropped to be
    created again (its definition changed) stays with its creation."""
    if isinstance(op, ops.DropIndexOp):
        return str(op.index_name) not in recreated
    if isinstance(op, ops.DropConstraintOp):
        return str(op.constraint_name) not in recreated
    return isinstance(op, CONTRACT)


def rewritten(
    container: ops.OpContainer, context: MigrationContext, revision: Any, todo: str
) -> list[Placed]:
    script = ops.MigrationScript(None, ops.UpgradeOps([]), ops.DowngradeOps([]))
    if isinstance(container, ops.UpgradeOps):
        script.upgrade_ops = container
    else:
        assert isinstance(container, ops.DowngradeOps)
        script.downgrade_ops = container
    safe_rewriter(tables_created_or_dropped(placed(container)), todo)(context, revision, [script])
    return list(placed(container))


def reversed_ops(operations: list[Placed]) -> ops.DowngradeOps:
    """What undoes operations, in the reverse order; a validation needs no undoing."""
    return ops.DowngradeOps(
        grouped(
            (table, op.reverse())
            for table, op in reversed(operations)
            if not isinstance(op, ValidateConstraintOp)
        )
    )


class Part:
    """One scope's operations of one revision (a schema-per-tenant revision has two scopes)."""

    def __init__(
        self, upgrades: list[Placed], upgrade_ops: ops.UpgradeOps, downgrade_ops: ops.DowngradeOps
    ) -> None:
        self.upgrades = upgrades
        self.upgrade_token = upgrade_ops.upgrade_token
        self.downgrade_token = downgrade_ops.downgrade_token

    def upgrade_ops(self) -> ops.UpgradeOps:
        return ops.UpgradeOps(arranged(self.upgrades), upgrade_token=self.upgrade_token)

    def downgrade_ops(self, context: MigrationContext, revision: Any) -> ops.DowngradeOps:
        downgrades = rewritten(reversed_ops(self.upgrades), context, revision, DOWNGRADE_TODO)
        return ops.DowngradeOps(arranged(downgrades), downgrade_token=self.downgrade_token)


def with_parts(
    script: ops.MigrationScript, parts: list[Part], context: MigrationContext, revision: Any
) -> ops.MigrationScript:
    # Downgrades first: arranging the upgrades marks some of them rerunnable, and reverses
    # would copy those marks.
    script.downgrade_ops = [part.downgrade_ops(context, revision) for part in parts]
    script.upgrade_ops = [part.upgrade_ops() for part in parts]
    return script


def id_after(revision: str) -> str:
    """A new revision id that sorts after `revision`, so that `ls` lists a chain written in the
    same second in order; a random one when none fits after it."""
    try:
        value = int(revision, 16)
    except ValueError:
        return rev_id()
    room = 16**REVISION_ID_DIGITS - 1 - value
    if len(revision) != REVISION_ID_DIGITS or room <= 0:
        return rev_id()
    return f"{value + 1 + secrets.randbelow(min(room, ID_STEP)):0{REVISION_ID_DIGITS}x}"


def safe_revisions(
    context: MigrationContext, revision: Any, script: ops.MigrationScript, split: bool
) -> list[tuple[ops.MigrationScript, Phase]]:
    """The autogenerated script in the safe form: a pre-deploy revision for the expand steps
    and a post-deploy one for the contract steps, each only when it has operations.

    With split=False everything stays in the one revision.
    """
    expand: list[Part] = []
    contract: list[Part] = []
    scopes = zip(script.upgrade_ops_list, script.downgrade_ops_list, strict=True)
    for upgrade_ops, downgrade_ops in scopes:
        upgrades = rewritten(upgrade_ops, context, revision, UPGRADE_TODO)
        recreated = created_names(upgrades)
        now: list[Placed] = []
        later: list[Placed] = []
        for table, op in upgrades:
            (later if split and is_contract(op, recreated) else now).append((table, op))
        expand.append(Part(now, upgrade_ops, downgrade_ops))
        contract.append(Part(later, upgrade_ops, downgrade_ops))
    has_expand = any(part.upgrades for part in expand)
    has_contract = any(part.upgrades for part in contract)
    if not has_contract:
        return [(with_parts(script, expand, context, revision), PRE_DEPLOY)]
    if not has_expand:
        return [(with_parts(script, contract, context, revision), POST_DEPLOY)]
    assert script.rev_id is not None
    post_deploy = ops.MigrationScript(
        id_after(script.rev_id),
        ops.UpgradeOps([]),
        ops.DowngradeOps([]),
        message=f"{script.message} (post-deploy)" if script.message else "post-deploy",
        imports=set(script.imports),
        head=script.rev_id,
        version_path=script.version_path,
    )
    return [
        (with_parts(script, expand, context, revision), PRE_DEPLOY),
        (with_parts(post_deploy, contract, context, revision), POST_DEPLOY),
    ]
