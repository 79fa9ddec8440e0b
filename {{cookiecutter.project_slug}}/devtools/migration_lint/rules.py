"""The per-file rules, each yielding (line, rule, problem, fix); docs/migration-linter.md has why.

Only upgrade() (and the helpers it calls) is checked for destructive or locking operations:
downgrade() undoes what upgrade() created, so it drops things by design. The rules about rows
that exist (ML005, ML017) check downgrade() too: a rollback meets the same rows. Drops are
reported in pre-deploy revisions only: a post-deploy revision is where they belong.
"""

import ast
from collections.abc import Callable, Iterator

from devtools.migration_lint import sql
from devtools.migration_lint.migration import (
    PRE_DEPLOY,
    TABLE_POSITION,
    Migration,
    Op,
    call_name,
    is_true,
    literal,
    literals,
)

Result = tuple[int, str, str, str]
EXPAND_CONTRACT = (
    "use expand/contract: add the new one, deploy code that writes both, backfill, "
    "switch reads, drop the old one in a later release; or acknowledge"
)
ACKNOWLEDGE = "or acknowledge with # migration-lint: ignore[{}] <reason>"
POST_DEPLOY_FIX = (
    'move it to a post-deploy revision (phase = "post-deploy"), which runs after the rollout '
    "(docs/migrations.md)"
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


def _is_noop(function: ast.FunctionDef) -> bool:
    body = [
        s
        for s in function.body
        if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))
    ]
    if all(isinstance(s, ast.Pass) for s in body):
        return True
    if len(body) == 1 and isinstance(body[0], ast.Raise) and body[0].exc is not None:
        exc = body[0].exc
        name = exc.func if isinstance(exc, ast.Call) else exc
        return isinstance(name, ast.Name) and name.id == "NotImplementedError"
    return False


def _only_validates(m: Migration, function: str) -> bool:
    """Validating a constraint changes no schema: dropping the constraint undoes it."""
    # op.f("name") is a call on op too: it names things, it does nothing.
    ops = {op.name for op in m.ops if op.function == function} - {"f"}
    writes = [site for site in m.sql if site.function == function]
    return ops == {"validate_constraint"} and not writes


def irreversible_downgrade(m: Migration) -> Iterator[Result]:
    # Scoped revisions (upgrade_shared/upgrade_tenant, dispatched by upgrade(scope)) pair up too.
    for name in sorted(n for n in m.functions if n == "upgrade" or n.startswith("upgrade_")):
        reverse = "downgrade" + name.removeprefix("upgrade")
        upgrade, downgrade = m.functions[name], m.functions.get(reverse)
        # A merge revision does nothing either way; there is nothing to undo.
        if _is_noop(upgrade) or _only_validates(m, name):
            continue
        if downgrade is None or _is_noop(downgrade):
            yield (
                downgrade.lineno if downgrade else upgrade.lineno,
                "ML001",
                f"{reverse}() cannot undo this revision "
                "(missing, empty, pass or NotImplementedError)",
                "write the reverse operations; if it truly cannot be undone (data is destroyed), "
                + ACKNOWLEDGE.format("ML001").removeprefix("or "),
            )


def _upgrade_statements(m: Migration) -> Iterator[tuple[int, str]]:
    for site in m.sql:
        if site.function in m.upgrade_scope:
            yield from ((site.line, statement) for statement in sql.statements(site.text))


def destructive(m: Migration) -> Iterator[Result]:
    if m.phase != PRE_DEPLOY:
        return
    fix = f"{POST_DEPLOY_FIX} and make sure a backup exists; {ACKNOWLEDGE.format('ML002')}"
    where = "in a pre-deploy revision: the running release may still use it"
    for op in m.upgrade_ops("drop_table"):
        yield op.line, "ML002", f"drops table {op.table} and all its rows {where}", fix
    for op in m.upgrade_ops("drop_column"):
        column = literal(op.arg(0, "column_name"))
        yield op.line, "ML002", f"drops column {op.table}.{column} and its data {where}", fix
    for line, statement in _upgrade_statements(m):
        if sql.has_keyword(statement, "DROP", "(TABLE|COLUMN|SCHEMA)"):
            yield line, "ML002", f"raw SQL drops data {where}: {statement[:60]}", fix


def dropped_not_recreated(m: Migration) -> Iterator[Result]:
    if m.phase != PRE_DEPLOY:
        return
    created = {
        literal(op.arg(0, "constraint_name")) or literal(op.arg(0, "index_name"))
        for op in m.ops
        if op.function in m.upgrade_scope and op.name.startswith("create_")
    }
    dropped_tables = {op.table for op in m.upgrade_ops("drop_table")}
    for op in m.upgrade_ops("drop_index", "drop_index_concurrently", "drop_constraint"):
        name = literal(op.arg(0, "index_name")) or literal(op.arg(0, "constraint_name"))
        if name in created or op.table in dropped_tables:
            continue
        kind = "constraint" if op.name == "drop_constraint" else "index"
        yield (
            op.line,
            "ML003",
            f"drops {kind} {name} in a pre-deploy revision without recreating it",
            f"the running release relies on it for its queries or integrity: recreate it here, "
            f"or {POST_DEPLOY_FIX}; {ACKNOWLEDGE.format('ML003')}",
        )


def cascade(m: Migration) -> Iterator[Result]:
    for site in m.sql:
        if any(sql.has_keyword(s, "CASCADE") for s in sql.statements(site.text)):
            yield (
                site.line,
                "ML004",
                "CASCADE in raw SQL also removes dependent objects or rows nobody listed",
                "drop or delete the dependents explicitly first, then run it without CASCADE",
            )


def _column_keywords(column: ast.expr | None) -> dict[str, ast.expr]:
    if not (isinstance(column, ast.Call) and call_name(column) == "Column"):
        return {}
    return {k.arg: k.value for k in column.keywords if k.arg}


def not_null_without_default(m: Migration) -> Iterator[Result]:
    for function, scope in (("upgrade", m.upgrade_scope), ("downgrade", m.downgrade_scope)):
        created = m.created_tables(scope)
        for op in m.ops_in(scope, "add_column"):
            column = op.arg(0, "column")
            keywords = _column_keywords(column)
            nullable = keywords.get("nullable")
            if op.table in created or not (
                isinstance(nullable, ast.Constant) and not nullable.value
            ):
                continue
            if is_true(keywords.get("server_default")):
                continue
            assert isinstance(column, ast.Call)
            name = literal(column.args[0]) if column.args else "?"
            problem = (
                f"{function}() adds NOT NULL column {op.table}.{name} without server_default: "
                "fails on a table that has rows"
            )
            if function == "upgrade":
                fix = (
                    "three steps: add it nullable, backfill, then op.set_not_null() in a "
                    "post-deploy revision (autogenerate writes them); or give it a server_default"
                )
            else:
                fix = (
                    "add it nullable, copy its data back, then "
                    f'op.set_not_null("{op.table}", "{name}"); or give it a server_default'
                )
            yield op.line, "ML005", problem, fix


def _column_facts(column: ast.expr) -> tuple[str | None, bool, bool]:
    """(name, has a ForeignKey, is indexed by itself) of an sa.Column(...) call."""
    if not (isinstance(column, ast.Call) and call_name(column) == "Column" and column.args):
        return None, False, False
    keywords = _column_keywords(column)
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


def foreign_key_without_index(m: Migration) -> Iterator[Result]:
    foreign_keys, indexes = _keys_and_indexes(m)
    for line, table, columns in foreign_keys:
        # An index serves the foreign key when the key's columns lead it, in any order.
        if any(t == table and set(cols[: len(columns)]) == set(columns) for t, cols in indexes):
            continue
        joined = ", ".join(columns)
        yield (
            line,
            "ML006",
            f"foreign key {table}({joined}) has no index on its columns in this migration: "
            f"deletes and joins on the referenced table scan {table}",
            f'add op.create_index(op.f("ix_{table}_{"_".join(columns)}"), "{table}", '
            "[" + ", ".join(f'"{c}"' for c in columns) + f"]), {ACKNOWLEDGE.format('ML006')}",
        )


def unbounded_write(m: Migration) -> Iterator[Result]:
    for site in m.sql:
        for statement in sql.statements(site.text):
            if sql.is_unbounded_write(statement):
                yield (
                    site.line,
                    "ML007",
                    f"{sql.words(statement)[0]} without WHERE touches every row: {statement[:60]}",
                    "add a WHERE clause (batch large updates), " + ACKNOWLEDGE.format("ML007"),
                )


def schema_and_data(m: Migration) -> Iterator[Result]:
    created = m.created_tables()
    schema = any(True for _ in m.upgrade_ops(*SCHEMA_OPS)) or any(
        sql.words(s)[:1] and sql.words(s)[0] in DDL for _, s in _upgrade_statements(m)
    )
    # A write to a table whose column set_not_null() then makes NOT NULL is that step's backfill.
    backfilled = {op.table for op in m.upgrade_ops("set_not_null")}
    writes = [
        line
        for line, statement in _upgrade_statements(m)
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
        yield (
            line,
            "ML008",
            "changes data in a migration that also changes the schema",
            "move the data change into its own revision so each step deploys, "
            "locks and rolls back on its own",
        )


def raw_string_execute(m: Migration) -> Iterator[Result]:
    for site in m.sql:
        if site.via == "execute" and not site.wrapped:
            yield (
                site.line,
                "ML009",
                "passes a plain string to .execute(): SQLAlchemy 2 raises ObjectNotExecutableError",
                'wrap it: connection.execute(sa.text("...")), or use op.execute("...")',
            )


def _renames_and_retypes(op: Op) -> Iterator[str]:
    column = literal(op.arg(0, "column_name"))
    if op.name == "rename_table":
        yield f"renames table {op.table} to {literal(op.arg(0, 'new_table_name'))}"
    if op.name == "alter_column" and "new_column_name" in op.keywords:
        new = literal(op.keywords["new_column_name"])
        yield f"renames column {op.table}.{column} to {new}"
    if op.name == "alter_column" and "type_" in op.keywords:
        yield f"changes the type of {op.table}.{column} (may rewrite the table under lock)"


def rename_or_retype(m: Migration) -> Iterator[Result]:
    created = m.created_tables()
    for op in m.upgrade_ops("alter_column", "rename_table"):
        if op.table not in created:
            for problem in _renames_and_retypes(op):
                problem += "; the running release still uses the old one"
                yield op.line, "ML010", problem, EXPAND_CONTRACT
    for line, statement in _upgrade_statements(m):
        if sql.has_keyword(statement, "RENAME") or sql.has_keyword(
            statement, "ALTER", "COLUMN", r"\S+", r"(SET\s+DATA\s+)?TYPE"
        ):
            yield line, "ML010", f"raw SQL renames or retypes: {statement[:60]}", EXPAND_CONTRACT


def several_statements(m: Migration) -> Iterator[Result]:
    for site in m.sql:
        if (count := len(sql.statements(site.text))) > 1:
            yield (
                site.line,
                "ML011",
                f"runs {count} SQL statements in one call: asyncpg (and sqlite3) run one per call",
                "split it into one op.execute(...) per statement",
            )


def concurrently_in_transaction(m: Migration) -> Iterator[Result]:
    lines = [line for line, in_block in m.concurrently if not in_block]
    lines += [
        site.line
        for site in m.sql
        if not site.in_autocommit
        and any(sql.has_keyword(s, "CONCURRENTLY") for s in sql.statements(site.text))
    ]
    for line in sorted(set(lines)):
        yield (
            line,
            "ML012",
            "CONCURRENTLY cannot run inside the transaction Alembic wraps each revision in",
            "move it into: with op.get_context().autocommit_block():",
        )


def not_null_before_the_rollout(m: Migration) -> Iterator[Result]:
    if m.phase != PRE_DEPLOY:
        return
    created = m.created_tables()
    problem = (
        "sets {} NOT NULL in a pre-deploy revision: the running release may insert rows without it"
    )
    fix = f"backfill it and {POST_DEPLOY_FIX}; {ACKNOWLEDGE.format('ML016')}"
    for op in m.upgrade_ops("set_not_null", "alter_column"):
        nullable = op.keywords.get("nullable")
        if op.name == "alter_column" and not (
            isinstance(nullable, ast.Constant) and nullable.value is False
        ):
            continue
        if op.table not in created:
            column = literal(op.arg(0, "column_name"))
            yield op.line, "ML016", problem.format(f"{op.table}.{column}"), fix
    for line, statement in _upgrade_statements(m):
        if sql.has_keyword(statement, "SET", "NOT", "NULL"):
            yield line, "ML016", problem.format(f"a column ({statement[:60]})"), fix


def backfill_to_write(m: Migration) -> Iterator[Result]:
    for line, _ in m.backfill_todos:
        yield (
            line,
            "ML017",
            "a TODO(backfill) is left: the NOT NULL step under it fails on the rows it names",
            'write the backfill above the comment (op.execute(sa.text("UPDATE ... WHERE ... IS '
            'NULL")), or migrator.backfill.backfill() on a big table), then delete the comment',
        )


RULES: list[Callable[[Migration], Iterator[Result]]] = [
    irreversible_downgrade,
    destructive,
    dropped_not_recreated,
    cascade,
    not_null_without_default,
    foreign_key_without_index,
    unbounded_write,
    schema_and_data,
    raw_string_execute,
    rename_or_retype,
    several_statements,
    concurrently_in_transaction,
    not_null_before_the_rollout,
    backfill_to_write,
]
