"""The per-file rules: each a function under `@rule(...)`, yielding a Hit per finding.

Only upgrade() (and the helpers it calls) is checked for destructive or locking operations:
downgrade() undoes what upgrade() created, so it drops things by design. The rules about rows
that exist (ML005, ML017) check downgrade() too: a rollback meets the same rows. Drops are
reported in pre-deploy revisions only: a post-deploy revision is where they belong. Each danger
counts alike written as op.<name>(), batch_op.<name>() or raw SQL (op.execute, sa.text, a module
constant, or a helper the SQL is passed to). The rules whose advice is PostgreSQL's are
`databases=NOT_MYSQL`: mysql.py holds MySQL's form of them.
"""

import ast
from collections.abc import Iterator

from devtools.migration_lint import retypes, sql
from devtools.migration_lint.migration import (
    PRE_DEPLOY,
    TABLE_POSITION,
    Migration,
    Op,
    call_name,
    is_noop,
    is_true,
    literal,
    literals,
)
from devtools.migration_lint.registry import NOT_MYSQL, Hit, rule
from devtools.migration_lint.target import DATABASE, Target

ACKNOWLEDGE = "or acknowledge with # migration-lint: ignore[{}] <reason>"
POST_DEPLOY = 'move it to a post-deploy revision (`phase = "post-deploy"`, run after the rollout)'
EXPAND_CONTRACT = (
    "expand/contract: add the new column or table, deploy code that writes both, backfill, "
    "switch reads, drop the old one in a later release; or acknowledge"
)
# Safe operations that commit what came before them and run in transactions of their own.
OWN_TRANSACTION_OPS = {
    "create_index_concurrently",
    "drop_index_concurrently",
    "create_unique_constraint_concurrently",
    "validate_constraint",
    "set_not_null",
}
SCHEMA_OPS = set(TABLE_POSITION) - {"bulk_insert"} - OWN_TRANSACTION_OPS | {
    "create_table_comment",
    "drop_table_comment",
}
DDL = {"CREATE", "ALTER", "DROP", "COMMENT"}
MYSQL = DATABASE == "mysql"
# MySQL has no op.set_not_null: the NOT NULL step a backfill precedes is alter_column's.
NOT_NULL_STEP = "`alter_column(..., nullable=False)`" if MYSQL else "`op.set_not_null`"
LOGS = "huge undo and binary logs" if MYSQL else "huge WAL"
DRIVER = "aiomysql runs" if MYSQL else "asyncpg (and sqlite3) run"
# On MySQL autogenerate writes no TODO(backfill): one there was written by hand.
TODO_WRITER = "" if MYSQL else " (autogenerate writes one above each `op.set_not_null` it adds)"


def shown(name: str | None, what: str = "table") -> str:
    """A name for a message; one only known when the revision runs is said to be so."""
    article = "an" if what[0] in "aeiou" else "a"
    return name if name else f"<{article} {what} named at run time>"


def raw_statements(m: Migration, scope: set[str] | None = None) -> Iterator[tuple[int, str]]:
    scope = m.upgrade_scope if scope is None else scope
    for site in m.sql:
        if site.function in scope:
            yield from ((site.line, statement) for statement in sql.statements(site.text))


def sets_not_null(op: Op) -> bool:
    """An alter_column(..., nullable=False)."""
    nullable = op.keywords.get("nullable")
    return isinstance(nullable, ast.Constant) and nullable.value is False


def _only_validates(m: Migration, function: str) -> bool:
    """Validating a constraint changes no schema: dropping the constraint undoes it."""
    # op.f("name") is a call on op too: it names things, it does nothing.
    ops = {op.name for op in m.ops if op.function == function} - {"f"}
    writes = [site for site in m.sql if site.function == function]
    return ops == {"validate_constraint"} and not writes


@rule(
    "ML001",
    "`downgrade()` missing, empty, `pass` or `raise NotImplementedError`",
    "you will need to roll back some day; merge revisions (nothing in `upgrade()` either) and "
    "revisions that only validate a constraint are exempt",
    "write the reverse operations; if the change truly cannot be undone (data is deleted), "
    "acknowledge it",
)
def irreversible_downgrade(m: Migration, target: Target) -> Iterator[Hit]:
    # Scoped revisions (upgrade_shared/upgrade_tenant, dispatched by upgrade(scope)) pair up too.
    for name in sorted(n for n in m.functions if n == "upgrade" or n.startswith("upgrade_")):
        reverse = "downgrade" + name.removeprefix("upgrade")
        upgrade, downgrade = m.functions[name], m.functions.get(reverse)
        if is_noop(upgrade) or _only_validates(m, name):
            continue
        if downgrade is None or is_noop(downgrade):
            yield Hit(
                downgrade.lineno if downgrade else upgrade.lineno,
                f"{reverse}() cannot undo this revision "
                "(missing, empty, pass or NotImplementedError)",
            )


@rule(
    "ML002",
    "in a pre-deploy revision: `drop_table`, `drop_column` (`op.` or `batch_op.`), raw "
    "`DROP TABLE`/`DROP SCHEMA`/`ALTER TABLE ... DROP [COLUMN]`",
    "the data is gone, and the release still running during the rollout may use it",
    f"{POST_DEPLOY} once no deployed code uses it (there it needs no acknowledgement), and make "
    "sure a backup exists; or acknowledge",
)
def destructive(m: Migration, target: Target) -> Iterator[Hit]:
    if m.phase != PRE_DEPLOY:
        return
    where = "in a pre-deploy revision: the running release may still use it"
    for op in m.upgrade_ops("drop_table"):
        yield Hit(op.line, f"drops table {shown(op.table)} and all its rows {where}")
    for op in m.upgrade_ops("drop_column"):
        column = f"{shown(op.table)}.{shown(literal(op.arg(0, 'column_name')), 'column')}"
        yield Hit(op.line, f"drops column {column} and its data {where}")
    for line, statement in raw_statements(m):
        for kind, name in sql.drops(statement):
            if kind in ("table", "column", "schema"):
                yield Hit(line, f"raw SQL drops {kind} {name} {where}: {statement[:60]}")


def _created_names(m: Migration) -> set[str | None]:
    created = {
        literal(op.arg(0, "constraint_name")) or literal(op.arg(0, "index_name"))
        for op in m.ops
        if op.function in m.upgrade_scope and op.name.startswith("create_")
    }
    for _, statement in raw_statements(m):
        created |= sql.created_names(statement)
    return created


@rule(
    "ML003",
    "in a pre-deploy revision: `drop_index` / `drop_index_concurrently` / `drop_constraint`, "
    "raw `DROP INDEX` / `DROP CONSTRAINT`, not recreated in the same revision",
    "the running release relies on it: queries slow down, or uniqueness and integrity stop "
    "being enforced",
    f"recreate it (same name) in the revision, {POST_DEPLOY}, or acknowledge",
)
def dropped_not_recreated(m: Migration, target: Target) -> Iterator[Hit]:
    if m.phase != PRE_DEPLOY:
        return
    created = _created_names(m)
    dropped_tables = {op.table for op in m.upgrade_ops("drop_table")}
    for op in m.upgrade_ops("drop_index", "drop_index_concurrently", "drop_constraint"):
        name = literal(op.arg(0, "index_name")) or literal(op.arg(0, "constraint_name"))
        if (name and name in created) or (op.table and op.table in dropped_tables):
            continue
        kind = "constraint" if op.name == "drop_constraint" else "index"
        yield Hit(
            op.line,
            f"drops {kind} {shown(name, kind)} in a pre-deploy revision without recreating it",
        )
    for line, statement in raw_statements(m):
        for kind, name in sql.drops(statement):
            if kind in ("index", "constraint") and name not in created:
                yield Hit(
                    line,
                    f"raw SQL drops {kind} {name} in a pre-deploy revision, not recreated",
                )


@rule(
    "ML004",
    "`CASCADE` anywhere in raw SQL",
    "it also drops or deletes dependent objects and rows nobody listed",
    "drop or delete the dependents explicitly, then run without `CASCADE`",
)
def cascade(m: Migration, target: Target) -> Iterator[Hit]:
    for site in m.sql:
        if any(sql.has_keyword(s, "CASCADE") for s in sql.statements(site.text)):
            yield Hit(
                site.line, "CASCADE in raw SQL also removes dependent objects or rows nobody listed"
            )


def column_keywords(column: ast.expr | None) -> dict[str, ast.expr]:
    if not (isinstance(column, ast.Call) and call_name(column) == "Column"):
        return {}
    return {k.arg: k.value for k in column.keywords if k.arg}


def _server_default_fix(target: Target) -> str:
    if target.postgresql is not None and not target.at_least(11):
        return (
            f"; a server_default rewrites the table under an exclusive lock on PostgreSQL "
            f"{target.postgresql} (constant defaults are free from 11)"
        )
    return "; or give it a constant server_default"


def required_columns(m: Migration, scope: set[str]) -> list[tuple[int, str]]:
    """(line, table.column) of each NOT NULL column added to an existing table without a
    default, by add_column or raw ADD COLUMN, in the functions of scope."""
    created = m.created_tables(scope)
    columns: list[tuple[int, str]] = []
    for op in m.ops_in(scope, "add_column"):
        column = op.arg(0, "column")
        keywords = column_keywords(column)
        nullable = keywords.get("nullable")
        if op.table in created or not (isinstance(nullable, ast.Constant) and not nullable.value):
            continue
        if is_true(keywords.get("server_default")):
            continue
        assert isinstance(column, ast.Call)
        name = literal(column.args[0]) if column.args else None
        columns.append((op.line, f"{shown(op.table)}.{shown(name, 'column')}"))
    for line, statement in raw_statements(m, scope):
        if sql.altered_table(statement) not in created:
            columns += [(line, column) for column in sql.added_required_columns(statement)]
    return columns


@rule(
    "ML005",
    "`add_column(..., nullable=False)` without `server_default`, or raw `ADD COLUMN ... NOT "
    "NULL` without `DEFAULT`, on an existing table, in `upgrade()` or `downgrade()`",
    "fails as soon as the table has rows",
    "upgrade: add it nullable, backfill, then `op.set_not_null()` in a post-deploy revision "
    "(autogenerate writes these steps); downgrade: add it nullable, copy its data back, then "
    "`op.set_not_null()`; or give it a constant `server_default` (free from PostgreSQL 11)",
    databases=NOT_MYSQL,
)
def not_null_without_default(m: Migration, target: Target) -> Iterator[Hit]:
    for function, scope in (("upgrade", m.upgrade_scope), ("downgrade", m.downgrade_scope)):
        for line, added in required_columns(m, scope):
            problem = (
                f"{function}() adds NOT NULL column {added} without a default: "
                "fails on a table that has rows"
            )
            if function == "upgrade":
                fix = (
                    "three steps: add it nullable, backfill, then op.set_not_null() in a "
                    "post-deploy revision (autogenerate writes them)"
                )
            else:
                table, _, name = added.partition(".")
                fix = (
                    "add it nullable, copy its data back, then "
                    f'op.set_not_null("{table}", "{name}")'
                )
            yield Hit(line, problem, fix + _server_default_fix(target))


def _column_facts(column: ast.expr) -> tuple[str | None, bool, bool]:
    """(name, has a ForeignKey, is indexed by itself) of an sa.Column(...) call."""
    if not (isinstance(column, ast.Call) and call_name(column) == "Column" and column.args):
        return None, False, False
    keywords = column_keywords(column)
    foreign = any(call_name(arg) == "ForeignKey" for arg in column.args)
    indexed = any(is_true(keywords.get(k)) for k in ("index", "unique", "primary_key"))
    return literal(column.args[0]), foreign, indexed


ForeignKeys = list[tuple[int, str | None, list[str]]]
Indexes = set[tuple[str | None, tuple[str, ...]]]


def _table_element(op: Op, element: ast.expr, foreign_keys: ForeignKeys, indexes: Indexes) -> None:
    """Record the keys and indexes one argument of create_table or add_column brings."""
    name, foreign, indexed = _column_facts(element)
    if name and foreign:
        foreign_keys.append((op.line, op.table, [name]))
    if name and indexed:
        indexes.add((op.table, (name,)))
    if not isinstance(element, ast.Call):
        return
    kind, arguments = call_name(element), [literal(a) for a in element.args]
    if kind == "ForeignKeyConstraint" and element.args and (local := literals(element.args[0])):
        foreign_keys.append((op.line, op.table, local))
    elif kind in ("PrimaryKeyConstraint", "UniqueConstraint") and None not in arguments:
        indexes.add((op.table, tuple(a for a in arguments if a)))
    elif kind == "Index" and None not in arguments[1:]:
        indexes.add((op.table, tuple(a for a in arguments[1:] if a)))


def _keys_and_indexes(m: Migration) -> tuple[ForeignKeys, Indexes]:
    foreign_keys: ForeignKeys = []
    indexes: Indexes = set()
    for op in m.upgrade_ops("create_table", "add_column"):
        for element in op.args:
            _table_element(op, element, foreign_keys, indexes)
    for op in m.upgrade_ops("create_foreign_key", "create_foreign_key_not_valid"):
        if local := literals(op.arg(2, "local_cols")):
            foreign_keys.append((op.line, op.table, local))
    for op in m.upgrade_ops(
        "create_index",
        "create_index_concurrently",
        "create_unique_constraint",
        "create_unique_constraint_concurrently",
        "create_primary_key",
    ):
        if (columns := literals(op.arg(1, "columns"))) is not None:
            indexes.add((op.table, tuple(columns)))
    return foreign_keys, indexes


@rule(
    "ML006",
    "a foreign key (`ForeignKey`, `ForeignKeyConstraint`, `create_foreign_key`) without an "
    "index whose leading columns are its columns, in the same revision",
    "PostgreSQL does not index the referencing side: deletes and joins on the referenced table "
    "scan the whole table",
    "`index=True` on the model's column (or an `Index` in `__table_args__`), then autogenerate "
    "again: an index written only into the revision makes `alembic check` fail; if an index "
    "already exists, acknowledge",
    databases=NOT_MYSQL,
)
def foreign_key_without_index(m: Migration, target: Target) -> Iterator[Hit]:
    foreign_keys, indexes = _keys_and_indexes(m)
    for line, table, columns in foreign_keys:
        # An index serves the foreign key when the key's columns lead it, in any order.
        if any(t == table and set(cols[: len(columns)]) == set(columns) for t, cols in indexes):
            continue
        joined = ", ".join(columns)
        where = "column" if len(columns) == 1 else "columns"
        yield Hit(
            line,
            f"foreign key {shown(table)}({joined}) has no index on its columns in this "
            f"migration: deletes and joins on the referenced table scan {shown(table)}",
            f"declare index=True on the model's {joined} {where} (or an Index in "
            "__table_args__) and autogenerate again, so the model and alembic check agree; "
            + ACKNOWLEDGE.format("ML006"),
        )


@rule(
    "ML007",
    "raw `UPDATE`/`DELETE` without `WHERE`, or `TRUNCATE`",
    f"touches every row: long locks, {LOGS}, easy data loss",
    "add a `WHERE`, batch large backfills, or acknowledge",
)
def unbounded_write(m: Migration, target: Target) -> Iterator[Hit]:
    for site in m.sql:
        for statement in sql.statements(site.text):
            if sql.is_unbounded_write(statement):
                yield Hit(
                    site.line,
                    f"{sql.words(statement)[0]} without WHERE touches every row: {statement[:60]}",
                )


@rule(
    "ML008",
    "a data change (`op.execute` of `INSERT/UPDATE/DELETE/...`, `bulk_insert`, Core "
    "`insert()/update()/delete()`, connection writes) in a revision that also changes the schema",
    "schema and data steps lock, deploy and roll back differently",
    "move the data change into its own revision; seeding a table created in the same revision, "
    f"and the backfill right before {NOT_NULL_STEP} of its table, are allowed",
)
def schema_and_data(m: Migration, target: Target) -> Iterator[Hit]:
    created = m.created_tables()
    schema = any(True for _ in m.upgrade_ops(*SCHEMA_OPS)) or any(
        sql.words(s)[:1] and sql.words(s)[0] in DDL for _, s in raw_statements(m)
    )
    # A write to a table whose column set_not_null() then makes NOT NULL is that step's backfill.
    backfilled = {op.table for op in m.upgrade_ops("set_not_null")}
    if MYSQL:
        backfilled |= {op.table for op in m.upgrade_ops("alter_column") if sets_not_null(op)}
    writes = [
        line
        for line, statement in raw_statements(m)
        if sql.is_data_change(statement)
        and sql.table_written(statement) not in created | backfilled
    ]
    seeded = {op.line for op in m.upgrade_ops("bulk_insert") if op.table in created}
    writes += [
        line
        for line, function in m.core_writes
        if function in m.upgrade_scope and line not in seeded
    ]
    if not schema:
        return
    for line in sorted(set(writes)):
        yield Hit(line, "changes data in a migration that also changes the schema")


@rule(
    "ML009",
    "a plain string passed to `connection.execute(...)`",
    "SQLAlchemy 2 raises `ObjectNotExecutableError`",
    '`connection.execute(sa.text("..."))`, or `op.execute("...")`',
)
def raw_string_execute(m: Migration, target: Target) -> Iterator[Hit]:
    for site in m.sql:
        if site.via == "execute" and not site.wrapped:
            yield Hit(
                site.line,
                "passes a plain string to .execute(): SQLAlchemy 2 raises ObjectNotExecutableError",
            )


def _retype(op: Op, target: Target) -> str | None:
    """Why this type change is a problem, or None when PostgreSQL makes it without a rewrite."""
    column = f"{shown(op.table)}.{shown(literal(op.arg(0, 'column_name')), 'column')}"
    new = retypes.column_type(op.keywords["type_"])
    old = retypes.column_type(op.keywords.get("existing_type"))
    if new and old and target.postgresql and retypes.without_rewrite(old, new, target.postgresql):
        return None
    if "existing_type" not in op.keywords:
        return f"changes the type of {column} (no existing_type: cannot tell if it rewrites)"
    return f"changes the type of {column} (may rewrite the table under an exclusive lock)"


def renames(op: Op) -> Iterator[str]:
    column = shown(literal(op.arg(0, "column_name")), "column")
    if op.name == "rename_table":
        new_table = shown(literal(op.arg(0, "new_table_name")))
        yield f"renames table {shown(op.table)} to {new_table}"
    if op.name == "alter_column" and "new_column_name" in op.keywords:
        new = shown(literal(op.keywords["new_column_name"]), "column")
        yield f"renames column {shown(op.table)}.{column} to {new}"


def _renames_and_retypes(op: Op, target: Target) -> Iterator[str]:
    yield from renames(op)
    if op.name == "alter_column" and "type_" in op.keywords and (problem := _retype(op, target)):
        yield problem


@rule(
    "ML010",
    "`alter_column(new_column_name=...)`, `rename_table`, raw `RENAME`; `alter_column(type_=...)` "
    "or raw `ALTER COLUMN ... TYPE` unless PostgreSQL makes it without a rewrite (a longer or "
    "unlimited varchar, varchar to text, a wider numeric, timestamp to timestamptz from 12: "
    "`existing_type` tells)",
    "the release still running during the deploy uses the old name or type; a type change may "
    "rewrite the table under an exclusive lock",
    EXPAND_CONTRACT,
    databases=NOT_MYSQL,
)
def rename_or_retype(m: Migration, target: Target) -> Iterator[Hit]:
    created = m.created_tables()
    for op in m.upgrade_ops("alter_column", "rename_table"):
        if op.table not in created:
            for problem in _renames_and_retypes(op, target):
                yield Hit(op.line, problem + "; the running release still uses the old one")
    for line, statement in raw_statements(m):
        if sql.has_keyword(statement, "RENAME") or sql.has_keyword(
            statement, "ALTER", "COLUMN", r"\S+", r"(SET\s+DATA\s+)?TYPE"
        ):
            yield Hit(line, f"raw SQL renames or retypes: {statement[:60]}")


@rule(
    "ML011",
    "several SQL statements in one `op.execute` / `execute`",
    f"{DRIVER} one statement per call",
    "one `op.execute` per statement (semicolons inside quotes, comments and `$$` bodies are fine)",
)
def several_statements(m: Migration, target: Target) -> Iterator[Hit]:
    for site in m.sql:
        if (count := len(sql.statements(site.text))) > 1:
            yield Hit(
                site.line,
                f"runs {count} SQL statements in one call: {DRIVER} one per call",
            )


@rule(
    "ML012",
    "`postgresql_concurrently=True` or raw `CONCURRENTLY` outside "
    "`with op.get_context().autocommit_block():`",
    "PostgreSQL refuses `CREATE/DROP INDEX CONCURRENTLY` inside the transaction Alembic wraps "
    "each revision in",
    "`op.create_index_concurrently` (PostgreSQL projects), or move it into the autocommit block "
    "(and prefer `if_not_exists=True`, the block is not atomic)",
    databases=NOT_MYSQL,
)
def concurrently_in_transaction(m: Migration, target: Target) -> Iterator[Hit]:
    lines = [line for line, in_block in m.concurrently if not in_block]
    lines += [
        site.line
        for site in m.sql
        if not site.in_autocommit
        and any(sql.has_keyword(s, "CONCURRENTLY") for s in sql.statements(site.text))
    ]
    for line in sorted(set(lines)):
        yield Hit(
            line, "CONCURRENTLY cannot run inside the transaction Alembic wraps each revision in"
        )


@rule(
    "ML016",
    "in a pre-deploy revision: `op.set_not_null`, `alter_column(..., nullable=False)`, raw "
    "`SET NOT NULL` on an existing table",
    "the release still running during the rollout may insert rows without the column",
    "backfill it and move the step to a post-deploy revision (autogenerate puts it there); or "
    "acknowledge",
    databases=NOT_MYSQL,
)
def not_null_before_the_rollout(m: Migration, target: Target) -> Iterator[Hit]:
    if m.phase != PRE_DEPLOY:
        return
    created = m.created_tables()
    problem = (
        "sets {} NOT NULL in a pre-deploy revision: the running release may insert rows without it"
    )
    for op in m.upgrade_ops("set_not_null", "alter_column"):
        if op.name == "alter_column" and not sets_not_null(op):
            continue
        if op.table not in created:
            column = f"{shown(op.table)}.{shown(literal(op.arg(0, 'column_name')), 'column')}"
            yield Hit(op.line, problem.format(column))
    for line, statement in raw_statements(m):
        if sql.has_keyword(statement, "SET", "NOT", "NULL"):
            yield Hit(line, problem.format(f"a column ({statement[:60]})"))


@rule(
    "ML017",
    f"a `# TODO(backfill): ...` comment{TODO_WRITER}",
    "the NOT NULL step under it fails on the rows that have no value yet",
    'write the backfill above the comment (`op.execute(sa.text("UPDATE ... WHERE ... IS '
    'NULL"))`, or `migrator.backfill.backfill()` on a big table), then delete the comment',
)
def backfill_to_write(m: Migration, target: Target) -> Iterator[Hit]:
    for line, _ in m.backfill_todos:
        yield Hit(
            line,
            "a TODO(backfill) is left: the NOT NULL step under it fails on the rows it names",
        )
