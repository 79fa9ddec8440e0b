"""MySQL's rules (MySQL 8.0+, MariaDB 10.11+): one DDL statement per revision, and what DDL costs.

MySQL commits each DDL statement as it runs, so a revision is not all-or-nothing (ML101). InnoDB
runs an ALTER TABLE one of three ways: INSTANT (metadata only), INPLACE (reads and writes go on,
though the table may be rebuilt) or COPY (rows are copied into a new table while writes wait);
ML102-ML108 name the operations on existing tables that MySQL 8.0 or MariaDB 10.11 cannot run
without copying the table or blocking writes. ML005, ML010 and ML016 are here in their MySQL
form; ML006 (InnoDB indexes a foreign key's columns itself) and ML012 (CONCURRENTLY) do not apply.
Like rules.py, the cost rules check upgrade() only, on tables the revision did not create.
"""

import ast
from collections.abc import Iterator

from devtools.migration_lint import sql
from devtools.migration_lint.migration import (
    PRE_DEPLOY,
    Migration,
    Op,
    call_name,
    is_merge,
    is_true,
    literal,
)
from devtools.migration_lint.registry import Hit, rule
from devtools.migration_lint.rules import (
    DDL,
    EXPAND_CONTRACT,
    POST_DEPLOY,
    SCHEMA_OPS,
    column_keywords,
    raw_statements,
    renames,
    required_columns,
    sets_not_null,
    shown,
)
from devtools.migration_lint.target import Target

# What MySQL commits on its own; COMMENT is PostgreSQL's.
MYSQL_DDL = DDL - {"COMMENT"} | {"RENAME", "TRUNCATE"}
# Operations that only add to a table an op.create_table made earlier in the revision, or to
# columns an op.add_column added earlier in it.
ON_NEW_TABLES = {
    "create_index",
    "create_unique_constraint",
    "create_foreign_key",
    "create_check_constraint",
}
# Where each of them lists its columns, once the table argument is taken out.
COLUMNS_ARGUMENT = {
    "create_index": (1, "columns"),
    "create_unique_constraint": (1, "columns"),
    "create_foreign_key": (2, "local_cols"),
}
VARCHAR = {"String", "VARCHAR", "Unicode", "NVARCHAR"}
ENUMS = {"Enum", "ENUM", "SET"}
# utf8mb4 takes up to 4 bytes a character; InnoDB keeps a VARCHAR's length in 1 byte up to 255
# bytes, in 2 beyond. Lengthening in place must keep that prefix: both <= 63, or both >= 64.
ONE_BYTE_PREFIX = 63
SMALL_TABLE = "or acknowledge for a small table"
SPLIT = "split it into one revision per statement: alembic revision -m <message> for each"


def _column(op: Op) -> str:
    return f"{shown(op.table)}.{shown(literal(op.arg(0, 'column_name')), 'column')}"


def _existing(m: Migration, op: Op) -> bool:
    """Whether op works on a table that exists: one the revision did not create."""
    return op.table not in m.created_tables()


def _added_column(op: Op) -> tuple[str, ast.Call | None]:
    column = op.arg(0, "column")
    if not (isinstance(column, ast.Call) and call_name(column) == "Column"):
        return f"{shown(op.table)}.{shown(None, 'column')}", None
    name = literal(column.args[0]) if column.args else None
    return f"{shown(op.table)}.{shown(name, 'column')}", column


def _statements_of(op: Op) -> list[str]:
    """What op runs, one entry a statement: add_column also adds its keys and indexes."""
    if op.name != "add_column":
        return [op.name]
    _, column = _added_column(op)
    if column is None:
        return [op.name]
    keywords = column_keywords(column)
    ran = [op.name]
    ran += ["its foreign key" for arg in column.args if call_name(arg) == "ForeignKey"]
    # index=True, unique=True or both: one index.
    ran += ["its index"] if any(is_true(keywords.get(k)) for k in ("index", "unique")) else []
    return ran


def _columns(op: Op) -> set[str] | None:
    """The columns an index, unique constraint or foreign key covers; None when not literal."""
    where = COLUMNS_ARGUMENT.get(op.name)
    node = op.arg(*where) if where else None
    if not isinstance(node, ast.List | ast.Tuple):
        return None
    names = [literal(element) for element in node.elts]
    return {name for name in names if isinstance(name, str)} if None not in names else None


def _ddl(m: Migration) -> list[tuple[int, str, bool]]:
    """(line, what, creates something new) of each DDL statement upgrade() runs, in order."""
    found: list[tuple[int, str, bool]] = []
    created: dict[str, int] = {}
    added: dict[str | None, set[str]] = {}
    for op in sorted(m.upgrade_ops(*SCHEMA_OPS), key=lambda o: o.line):
        if op.name == "create_table" and op.table:
            created.setdefault(op.table, op.line)
        if op.name == "add_column" and (column := _added_column(op)[1]) and column.args:
            added.setdefault(op.table, set()).add(str(literal(column.args[0])))
        covered = _columns(op)
        new = op.name in ("create_table", "add_column") or (
            op.name in ON_NEW_TABLES
            and (
                (op.table in created and created[op.table] < op.line)
                or (covered is not None and covered <= added.get(op.table, set()))
            )
        )
        found += [(op.line, what, new) for what in _statements_of(op)]
    for line, statement in raw_statements(m):
        words = sql.words(statement)
        if words[:1] and words[0] in MYSQL_DDL:
            found.append((line, f"raw {words[0]}", False))
    return sorted(found, key=lambda entry: entry[0])


@rule(
    "ML101",
    "more than one DDL statement in `upgrade()`: schema operations (`op.*`, `batch_op.*`; an "
    "`add_column` with a foreign key or an index runs two) and raw `ALTER`/`CREATE`/`DROP`/"
    "`RENAME`/`TRUNCATE`; unless each creates something new: `create_table`, `add_column`, and "
    "`create_index`/`create_unique_constraint`/`create_foreign_key`/`create_check_constraint` on "
    "a table created above it or on columns added above it; merge revisions are exempt",
    "MySQL commits each DDL statement as it runs: a failure leaves the revision half-applied, "
    "its version not moved, and the rerun fails on what is already there; new objects alone are "
    "undone by dropping them",
    "one revision per DDL statement (autogenerate writes them so; by hand, `alembic revision -m "
    "...` for each); data changes (`INSERT`, `UPDATE`) do not count; changes to one table can be "
    "one raw `ALTER TABLE` statement; or acknowledge",
)
def one_ddl_statement(m: Migration, target: Target) -> Iterator[Hit]:
    ddl = _ddl(m)
    if len(ddl) < 2 or is_merge(m) or all(new for _, _, new in ddl):
        return
    listed = ", ".join(f"line {line} {what}" for line, what, _ in ddl)
    yield Hit(
        ddl[1][0],
        f"upgrade() runs {len(ddl)} DDL statements ({listed}): MySQL commits each one, so a "
        "failure would leave the revision half-applied",
        SPLIT,
    )


def _type(node: ast.expr) -> tuple[str | None, list[ast.expr], dict[str, ast.expr]]:
    """(name, arguments, keywords) of an sa.<Type>(...) expression or a bare class."""
    if isinstance(node, ast.Call):
        return call_name(node), list(node.args), {k.arg: k.value for k in node.keywords if k.arg}
    return getattr(node, "attr", getattr(node, "id", None)), [], {}


def _number(node: ast.expr | None) -> int | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, int):
        return node.value
    return None


def _same(first: dict[str, ast.expr], second: dict[str, ast.expr]) -> bool:
    return {k: ast.dump(v) for k, v in first.items()} == {k: ast.dump(v) for k, v in second.items()}


def _storage(kind: str, count: int) -> int:
    """Bytes an ENUM or SET of count members takes: more needs a copy."""
    if kind == "SET":
        return next((size for size in (1, 2, 3, 4, 8) if count <= size * 8), 9)
    return 1 if count <= 255 else 2


def in_place(old: ast.expr, new: ast.expr) -> bool:
    """Whether MySQL changes a column's type from old to new without copying the table."""
    if ast.dump(old) == ast.dump(new):
        return True
    name, args, keywords = _type(old)
    new_name, new_args, new_keywords = _type(new)
    if name in VARCHAR and new_name in VARCHAR:
        before = _number(args[0] if args else keywords.pop("length", None))
        after = _number(new_args[0] if new_args else new_keywords.pop("length", None))
        if before is None or after is None or not _same(keywords, new_keywords):
            return False
        return before <= after and (after <= ONE_BYTE_PREFIX or before > ONE_BYTE_PREFIX)
    if name in ENUMS and name == new_name and _same(keywords, new_keywords):
        values, new_values = [literal(a) for a in args], [literal(a) for a in new_args]
        return (
            None not in new_values
            and new_values[: len(values)] == values
            and _storage(name, len(values)) == _storage(name, len(new_values))
        )
    return False


@rule(
    "ML102",
    "`alter_column(type_=...)` on an existing table, unless MySQL changes it in place: a longer "
    "`VARCHAR` within the same length prefix (utf8mb4: both up to 63 characters, or both 64 and "
    "more) or `ENUM`/`SET` values added at the end (`existing_type` tells)",
    "any other type change copies the table (`ALGORITHM=COPY`): writes wait until every row is "
    "rewritten",
    EXPAND_CONTRACT,
)
def copying_type_change(m: Migration, target: Target) -> Iterator[Hit]:
    for op in m.upgrade_ops("alter_column"):
        if "type_" not in op.keywords or not _existing(m, op):
            continue
        old = op.keywords.get("existing_type")
        if old is None:
            yield Hit(
                op.line,
                f"changes the type of {_column(op)} without existing_type: cannot tell whether "
                "MySQL copies the table (ALGORITHM=COPY, writes wait)",
                "pass existing_type=, the column's current type (ML109 asks for it too)",
            )
        elif not in_place(old, op.keywords["type_"]):
            yield Hit(
                op.line,
                f"changes the type of {_column(op)}: MySQL copies the table (ALGORITHM=COPY), "
                "writes wait until every row is rewritten",
            )


@rule(
    "ML103",
    '`create_primary_key`, or `drop_constraint(..., type_="primary")`, on an existing table',
    "InnoDB keeps the rows in primary key order: dropping it copies the table "
    "(`ALGORITHM=COPY`, writes wait), adding one rebuilds the whole table",
    "give the table its primary key when it is created; to change it, drop and add it in one "
    "raw `ALTER TABLE ... DROP PRIMARY KEY, ADD PRIMARY KEY (...), ALGORITHM=INPLACE, "
    f"LOCK=NONE` (a rebuild, reads and writes go on); {SMALL_TABLE}",
)
def primary_key_change(m: Migration, target: Target) -> Iterator[Hit]:
    for op in m.upgrade_ops("create_primary_key", "drop_constraint"):
        if not _existing(m, op):
            continue
        if op.name == "create_primary_key":
            yield Hit(
                op.line,
                f"adds a primary key to {shown(op.table)}: MySQL rebuilds the whole table",
            )
        elif literal(op.keywords.get("type_")) == "primary":
            yield Hit(
                op.line,
                f"drops the primary key of {shown(op.table)}: MySQL copies the table "
                "(ALGORITHM=COPY), writes wait",
            )


def _checks_off(m: Migration) -> bool:
    return any(sql.turns_off_foreign_key_checks(s) for _, s in raw_statements(m))


@rule(
    "ML104",
    "a foreign key added to an existing table: `create_foreign_key`, or `add_column` of a "
    "column with a `ForeignKey`",
    "with `foreign_key_checks` on (the default) MySQL adds it by copying the table "
    "(`ALGORITHM=COPY`): writes wait for every row",
    "declare the key when the table is created; on an existing table, check that no row breaks "
    "it, then add it in place between `SET foreign_key_checks = 0` and `SET foreign_key_checks "
    f"= 1` (the rows are not checked then); {SMALL_TABLE}",
)
def foreign_key_on_existing_table(m: Migration, target: Target) -> Iterator[Hit]:
    if _checks_off(m):
        return
    for op in m.upgrade_ops("create_foreign_key", "add_column"):
        if not _existing(m, op):
            continue
        if op.name == "create_foreign_key":
            name = shown(literal(op.arg(0, "constraint_name")), "constraint")
        elif "its foreign key" in _statements_of(op):
            name = f"on {_added_column(op)[0]}"
        else:
            continue
        yield Hit(
            op.line,
            f"adds foreign key {name} to existing table {shown(op.table)}: MySQL copies the "
            "table (ALGORITHM=COPY), writes wait",
        )


def _index_kind(op: Op) -> str | None:
    for dialect in ("mysql_prefix", "mariadb_prefix"):
        prefix = (literal(op.keywords.get(dialect)) or "").upper()
        if prefix in ("FULLTEXT", "SPATIAL"):
            return prefix
    return None


@rule(
    "ML105",
    '`create_index(..., mysql_prefix="FULLTEXT")` (or `"SPATIAL"`), raw `CREATE FULLTEXT` / '
    "`SPATIAL INDEX`, on an existing table",
    "MySQL builds it with `LOCK=SHARED`: writes wait for the whole build; the table's first "
    "FULLTEXT index rebuilds the table, and no column is added to it instantly afterwards",
    "create it with the table; on a big table at a quiet time, or with an online schema change "
    f"tool (gh-ost, pt-online-schema-change); {SMALL_TABLE}",
)
def shared_lock_index(m: Migration, target: Target) -> Iterator[Hit]:
    for op in m.upgrade_ops("create_index"):
        if (kind := _index_kind(op)) and _existing(m, op):
            yield Hit(
                op.line,
                f"creates a {kind} index on {shown(op.table)}: writes wait for the whole build",
            )
    created = m.created_tables()
    for line, statement in raw_statements(m):
        kind = next((k for k in ("FULLTEXT", "SPATIAL") if sql.has_keyword(statement, k)), None)
        if kind and (table := sql.indexed_table(statement)) and table not in created:
            yield Hit(line, f"creates a {kind} index on {table}: writes wait for the whole build")


def _computed(column: ast.Call) -> ast.Call | None:
    return next(
        (a for a in column.args if isinstance(a, ast.Call) and call_name(a) == "Computed"), None
    )


def _generated(op: Op) -> bool:
    """An added column whose values MySQL makes: generated, or an AUTO_INCREMENT primary key
    (SQLAlchemy adds AUTO_INCREMENT to an integer primary key only, not for autoincrement=True)."""
    _, column = _added_column(op)
    if column is None:
        return False
    return is_true(column_keywords(column).get("primary_key")) or _computed(column) is not None


def _stored(column: ast.Call) -> bool:
    computed = _computed(column)
    options = {k.arg: k.value for k in computed.keywords} if computed else {}
    return is_true(options.get("persisted"))


STORED = "a STORED generated column: MySQL copies the table (ALGORITHM=COPY), writes wait"
COUNTER = "an AUTO_INCREMENT column: MySQL rebuilds the table, writes wait (LOCK=SHARED)"


@rule(
    "ML106",
    "on an existing table: `add_column` of a stored generated column (`sa.Computed(..., "
    "persisted=True)`), raw `ADD COLUMN ... STORED` (`PERSISTENT`) or `... AUTO_INCREMENT`",
    "MySQL fills the column row by row: a STORED column copies the table (`ALGORITHM=COPY`), "
    "an `AUTO_INCREMENT` one rebuilds it; writes wait either way",
    "a VIRTUAL generated column (`persisted` left out) is added instantly; for a counter, add "
    f"a nullable column and backfill it; {SMALL_TABLE}",
)
def column_filled_row_by_row(m: Migration, target: Target) -> Iterator[Hit]:
    for op in m.upgrade_ops("add_column"):
        name, column = _added_column(op)
        if column is not None and _existing(m, op) and _stored(column):
            yield Hit(op.line, f"adds {name} as {STORED}")
    created = m.created_tables()
    for line, statement in raw_statements(m):
        table = sql.altered_table(statement)
        if table is None or table in created:
            continue
        for added, kind in sql.filled_columns(statement):
            yield Hit(line, f"adds {table}.{added} as {STORED if kind == 'stored' else COUNTER}")


@rule(
    "ML107",
    "raw `ALTER TABLE` of an existing table without `ALGORITHM=INSTANT`, or "
    "`ALGORITHM=INPLACE, LOCK=NONE`",
    "without it MySQL picks the algorithm itself and may copy the table while writes wait; with "
    "it the server refuses what it cannot do that way",
    "end the statement with `, ALGORITHM=INSTANT` (metadata only) or `, ALGORITHM=INPLACE, "
    "LOCK=NONE`; if the server refuses, expand/contract or an online schema change tool "
    "(gh-ost, pt-online-schema-change); or acknowledge",
)
def alter_without_algorithm(m: Migration, target: Target) -> Iterator[Hit]:
    created = m.created_tables()
    for line, statement in raw_statements(m):
        table = sql.altered_table(statement)
        if table and table not in created and not sql.online_clause(statement):
            yield Hit(
                line,
                f"ALTER TABLE {table} does not say ALGORITHM=INSTANT or ALGORITHM=INPLACE, "
                "LOCK=NONE: MySQL may copy the table while writes wait",
            )


@rule(
    "ML108",
    "`create_check_constraint` on an existing table",
    "MySQL checks the rows by copying the table (`ALGORITHM=COPY`): writes wait until it is done",
    f"declare it when the table is created, or enforce the rule in the application; {SMALL_TABLE}",
)
def check_on_existing_table(m: Migration, target: Target) -> Iterator[Hit]:
    for op in m.upgrade_ops("create_check_constraint"):
        if _existing(m, op):
            name = shown(literal(op.arg(0, "constraint_name")), "constraint")
            yield Hit(
                op.line,
                f"adds check constraint {name} to {shown(op.table)}: MySQL copies the table "
                "(ALGORITHM=COPY), writes wait",
            )


# The alter_column arguments that make Alembic restate the column (MODIFY or CHANGE).
RESTATED = ("new_column_name", "type_", "nullable", "autoincrement", "comment")


@rule(
    "ML109",
    "`alter_column` that MySQL runs as `MODIFY`/`CHANGE` (a new name, type, nullability, "
    "comment) without `existing_type`, or without `nullable`/`existing_nullable`, in "
    "`upgrade()` or `downgrade()`",
    "MySQL restates the whole column: without its type Alembic raises, without "
    "`existing_nullable` the column silently becomes nullable, and without "
    "`existing_server_default`/`existing_comment` its default and comment are dropped",
    "pass `existing_type=` and `existing_nullable=`, and `existing_server_default=` / "
    "`existing_comment=` when the column has them (autogenerate writes them all)",
)
def column_restated(m: Migration, target: Target) -> Iterator[Hit]:
    for scope in (m.upgrade_scope, m.downgrade_scope):
        for op in m.ops_in(scope, "alter_column"):
            if not any(k in op.keywords for k in RESTATED):
                continue
            missing = []
            if "type_" not in op.keywords and "existing_type" not in op.keywords:
                missing.append("existing_type (Alembic raises without it)")
            if "nullable" not in op.keywords and "existing_nullable" not in op.keywords:
                missing.append("existing_nullable (else the column becomes nullable)")
            if missing:
                yield Hit(
                    op.line,
                    f"alter_column of {_column(op)} restates the column without "
                    + " or ".join(missing),
                )


@rule(
    "ML005",
    "`add_column(..., nullable=False)` without `server_default`, or raw `ADD COLUMN ... NOT "
    "NULL` without `DEFAULT`, on an existing table, in `upgrade()` or `downgrade()`",
    "MySQL fills the rows that exist with the type's implicit default (0, '', the first ENUM "
    "value, a zero date) without a word, or fails",
    "give it the `server_default` the existing rows should get (adding a column with a constant "
    "default is instant); or add it nullable, backfill, then make it NOT NULL in a post-deploy "
    "revision",
)
def not_null_without_default(m: Migration, target: Target) -> Iterator[Hit]:
    for function, scope in (("upgrade", m.upgrade_scope), ("downgrade", m.downgrade_scope)):
        # AUTO_INCREMENT and generated columns get their values (ML106 says at what cost).
        filled = {op.line for op in m.ops_in(scope, "add_column") if _generated(op)}
        for line, added in required_columns(m, scope):
            if line in filled:
                continue
            yield Hit(
                line,
                f"{function}() adds NOT NULL column {added} without a default: MySQL fills the "
                "existing rows with 0, '' or a zero date",
            )


@rule(
    "ML010",
    "`alter_column(new_column_name=...)`, `rename_table`, raw `RENAME` or `CHANGE old new`",
    "the release still running during the deploy uses the old name",
    EXPAND_CONTRACT,
)
def rename(m: Migration, target: Target) -> Iterator[Hit]:
    created = m.created_tables()
    for op in m.upgrade_ops("alter_column", "rename_table"):
        if op.table not in created:
            for problem in renames(op):
                yield Hit(op.line, problem + "; the running release still uses the old one")
    for line, statement in raw_statements(m):
        changed = sql.renamed_columns(statement)
        if sql.has_keyword(statement, "RENAME") or changed:
            yield Hit(line, f"raw SQL renames: {statement[:60]}")


@rule(
    "ML016",
    "in a pre-deploy revision: `alter_column(..., nullable=False)` on an existing table",
    "the release still running during the rollout may insert rows without the column, which "
    "strict mode refuses; and MySQL rebuilds the table for it, failing on any row still NULL",
    f"backfill the column, then {POST_DEPLOY}, where the rebuild lets reads and writes go on; or "
    "acknowledge",
)
def not_null_before_the_rollout(m: Migration, target: Target) -> Iterator[Hit]:
    if m.phase != PRE_DEPLOY:
        return
    for op in m.upgrade_ops("alter_column"):
        if sets_not_null(op) and _existing(m, op):
            yield Hit(
                op.line,
                f"sets {_column(op)} NOT NULL in a pre-deploy revision: the running release may "
                "insert rows without it, and MySQL rebuilds the table",
            )
