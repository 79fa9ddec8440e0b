"""Autogenerate on PostgreSQL writes the safe form, split into a pre- and a post-deploy revision.

The end-to-end test makes the database differ from the models the way a model change would
(an index, a foreign key, a unique constraint and a NOT NULL missing; a column and a table too
many), with rows in the tables, and runs `alembic revision --autogenerate` as a developer does.
The others call the rewriter on autogenerate's operations directly.
"""

import argparse
import re
import shutil
from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import render_python_code
from alembic.command import upgrade
from alembic.config import Config
from alembic.operations import ops
from alembic.runtime.migration import MigrationContext

from {{ cookiecutter.package_name }}.migrator.autogenerate import safe_revisions
from {{ cookiecutter.package_name }}.migrator.operations import (
    CreateForeignKeyNotValidOp,
    CreateIndexConcurrentlyOp,
    CreateUniqueConstraintConcurrentlyOp,
    DropIndexConcurrentlyOp,
    SetNotNullOp,
    ValidateConstraintOp,
)
from {{ cookiecutter.package_name }}.migrator.phases import NEW_REVISION_PHASES
from {{ cookiecutter.package_name }}.migrator.rewriter import safe_revisions as rewritten_revisions
from tests.databases import execute_outside_transaction, query, run_alembic
from tests.fixtures.scratch_migrations import (
    PROJECT,
    ScratchMigrations,
    alembic_environment,
    lint_new_revisions,
    run,
)

SEED = [
    "INSERT INTO authors (name, email) VALUES ('Ann', 'ann@example.com'), ('Bo', 'bo@example.com')",
    "INSERT INTO books (title, pages, author_id) VALUES ('One', 10, 1), ('Two', 20, 2)",
]
# What a developer's model change looks like from the database's side.
DRIFT = [
    "DROP INDEX ix_books_author_id",
    "ALTER TABLE books DROP CONSTRAINT fk_books_author_id_authors",
    "ALTER TABLE authors DROP CONSTRAINT uq_authors_email",
    "ALTER TABLE books ALTER COLUMN title DROP NOT NULL",
    "INSERT INTO books (title, pages, author_id) VALUES (NULL, 30, 1)",
    "ALTER TABLE books ADD COLUMN legacy_code varchar(10)",
    "UPDATE books SET legacy_code = 'L' || id WHERE legacy_code IS NULL",
    "ALTER TABLE books ALTER COLUMN legacy_code SET NOT NULL",
    "CREATE TABLE leftovers (id integer PRIMARY KEY)",
]
BACKFILL = "op.execute(sa.text(\"UPDATE {table} SET {column} = '{value}' WHERE {column} IS NULL\"))"
BACKFILLED = {"books.title": "untitled", "books.legacy_code": "restored"}
TODO = re.compile(
    r"^(?P<indent> *)# TODO\(backfill\):.*?(?P<what>[a-z_]+\.[a-z_]+)[^\n]*\n(?: *# [^\n]*\n)*",
    re.M,
)
CONSTRAINTS = "SELECT conname, contype::text, convalidated FROM pg_constraint ORDER BY conname"
COLUMNS = """
    SELECT table_name, column_name, is_nullable FROM information_schema.columns
    WHERE table_name IN ('books', 'leftovers') AND column_name IN ('title', 'legacy_code', 'id')
    ORDER BY table_name, column_name
"""


def written_backfills(source: str) -> str:
    """The revision with each TODO(backfill) replaced by the backfill it asks for."""

    def backfill(todo: re.Match[str]) -> str:
        table, column = todo["what"].split(".")
        value = BACKFILLED[todo["what"]]
        return todo["indent"] + BACKFILL.format(table=table, column=column, value=value) + "\n"

    return TODO.sub(backfill, source)


def without_spaces(source: str) -> str:
    """Code as ruff may wrap it, for looking up calls."""
    return re.sub(r"\s+", "", source)


def test_autogenerate_writes_the_safe_form_in_two_phases_that_deploy_and_roll_back(
    tmp_path: Path, database_url: str
) -> None:
    migrations = ScratchMigrations(tmp_path)
    shutil.copy(PROJECT / ".squawk.toml", tmp_path / ".squawk.toml")
    run_alembic(database_url, lambda config: upgrade(config, "head"))
    start = migrations.head
    execute_outside_transaction(database_url, *SEED, *DRIFT)
    before = set(migrations.versions.glob("*.py"))
    environment = alembic_environment(database_url)

    generated = run(migrations.command("revision", "--autogenerate", "-m", "drift"), environment)

    assert generated.returncode == 0, generated.stderr
    pre, post = sorted(set(migrations.versions.glob("*.py")) - before)
    pre_source, post_source = pre.read_text(), post.read_text()
    pre_id = re.search(r'^revision: str = "(\w+)"', pre_source, re.M)
    post_id = re.search(r'^revision: str = "(\w+)"', post_source, re.M)
    assert pre_id is not None and post_id is not None
    assert 'phase = "pre-deploy"' in pre_source and 'phase = "post-deploy"' in post_source
    assert f'down_revision: str | Sequence[str] | None = "{pre_id[1]}"' in post_source
    for call in (
        'op.create_index_concurrently(op.f("ix_books_author_id")',
        'op.create_foreign_key_not_valid(op.f("fk_books_author_id_authors")',
        'op.validate_constraint(op.f("fk_books_author_id_authors"), "books")',
        'op.create_unique_constraint_concurrently(op.f("uq_authors_email")',
    ):
        assert without_spaces(call) in without_spaces(pre_source)
    for call in (
        'op.drop_column("books", "legacy_code"',
        'op.drop_table("leftovers"',
        'op.set_not_null("books", "title")',
        'op.set_not_null("books", "legacy_code")',  # the downgrade brings it back NOT NULL
    ):
        assert without_spaces(call) in without_spaces(post_source)
    pre_upgrade = pre_source.split("def downgrade")[0]
    assert "drop_column" not in pre_upgrade and "drop_table" not in pre_upgrade

    code, out = lint_new_revisions(tmp_path, pre, post)
    findings = [
        line.split(": ", 1)[1].split(" ", 1)[0] for line in out.splitlines() if ": ML" in line
    ]
    assert (code, findings) == (1, ["ML017", "ML017"]), out

    post.write_text(written_backfills(post_source))

    linted = lint_new_revisions(tmp_path, pre, post)
    assert linted == (0, ""), "the linter wants more than the backfills"

    pre_deployed = run(migrations.command("-x", "phase=pre-deploy", "upgrade", "head"), environment)

    assert pre_deployed.returncode == 0, pre_deployed.stderr
    assert f"Pre-deploy phase: stops before {post_id[1]} (" in pre_deployed.stderr
    assert ("fk_books_author_id_authors", "f", True) in query(database_url, CONSTRAINTS)
    assert ("uq_authors_email", "u", True) in query(database_url, CONSTRAINTS)
    assert query(database_url, COLUMNS) == [
        ("books", "id", "NO"),
        ("books", "legacy_code", "NO"),
        ("books", "title", "YES"),
        ("leftovers", "id", "NO"),
    ]

    upgraded = run(migrations.command("upgrade", "head"), environment)

    assert upgraded.returncode == 0, upgraded.stderr
    assert query(database_url, COLUMNS) == [("books", "id", "NO"), ("books", "title", "NO")]
    assert not [name for name, *_ in query(database_url, CONSTRAINTS) if "not_null" in name]
    checked = run(migrations.command("check"), environment)
    assert "No new upgrade operations detected" in checked.stdout, checked.stderr

    downgraded = run(migrations.command("downgrade", start), environment)

    assert downgraded.returncode == 0, downgraded.stderr
    assert query(database_url, COLUMNS) == [
        ("books", "id", "NO"),
        ("books", "legacy_code", "NO"),
        ("books", "title", "YES"),
        ("leftovers", "id", "NO"),
    ]
    assert query(database_url, "SELECT DISTINCT legacy_code FROM books") == [("restored",)]
    names = {name for name, *_ in query(database_url, CONSTRAINTS)}
    assert not {"fk_books_author_id_authors", "uq_authors_email"} & names


def books() -> sa.Table:
    return sa.Table(
        "books",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("isbn", sa.String(20)),
        sa.Column("legacy", sa.String(10), nullable=False),
    )


def context() -> MigrationContext:
    return MigrationContext.configure(dialect_name="postgresql", opts={"as_sql": True})


def script(*operations: ops.MigrateOperation, rev_id: str = "aaaa00000001") -> ops.MigrationScript:
    upgrade_ops = ops.UpgradeOps([ops.ModifyTableOps("books", list(operations))])
    return ops.MigrationScript(rev_id, upgrade_ops, ops.DowngradeOps([]), message="change books")


def upgrade_types(revision: ops.MigrationScript) -> list[type]:
    return [
        type(op)
        for container in revision.upgrade_ops_list
        for table in container.ops
        for op in table.ops
    ]


def downgrade_types(revision: ops.MigrationScript) -> list[type]:
    return [
        type(op)
        for container in revision.downgrade_ops_list
        for table in container.ops
        for op in table.ops
    ]


def test_changes_to_an_existing_table_become_the_safe_operations() -> None:
    table = books()
    index = sa.Index("ix_books_isbn", table.c.isbn)
    unique = sa.UniqueConstraint("isbn", name="uq_books_isbn")
    table.append_constraint(unique)
    [(revision, phase)] = rewritten_revisions(
        context(),
        None,
        script(
            ops.AddColumnOp("books", sa.Column("isbn", sa.String(20))),
            ops.CreateIndexOp.from_index(index),
            ops.CreateUniqueConstraintOp.from_constraint(unique),
            ops.CreateForeignKeyOp("fk_books_author_id", "books", "authors", ["author_id"], ["id"]),
        ),
        split=True,
    )

    assert phase == "pre-deploy"
    assert upgrade_types(revision) == [
        ops.AddColumnOp,
        CreateForeignKeyNotValidOp,
        CreateIndexConcurrentlyOp,
        CreateUniqueConstraintConcurrentlyOp,
        ValidateConstraintOp,
    ]
    # The revision commits halfway: what ran before that must be harmless to run again.
    assert revision.upgrade_ops_list[0].ops[0].ops[0].if_not_exists is True
    assert downgrade_types(revision) == [
        ops.DropConstraintOp,
        ops.DropConstraintOp,
        ops.DropColumnOp,
        DropIndexConcurrentlyOp,
    ]


def test_a_table_created_in_the_same_revision_is_left_as_autogenerate_wrote_it() -> None:
    gadgets = sa.Table("gadgets", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True))
    index = sa.Index("ix_gadgets_id", gadgets.c.id)
    upgrade_ops = ops.UpgradeOps(
        [
            ops.CreateTableOp.from_table(gadgets),
            ops.ModifyTableOps("gadgets", [ops.CreateIndexOp.from_index(index)]),
        ]
    )
    original = ops.MigrationScript("aaaa00000001", upgrade_ops, ops.DowngradeOps([]))

    [(revision, phase)] = rewritten_revisions(context(), None, original, split=True)

    assert phase == "pre-deploy"
    code = render_python_code(revision.upgrade_ops_list[0])
    assert "op.create_index('ix_gadgets_id', 'gadgets', ['id'], unique=False)" in code


def test_a_new_not_null_column_is_added_nullable_and_made_not_null_after_the_rollout() -> None:
    column = sa.Column("subtitle", sa.String(100), nullable=False)

    (pre, pre_phase), (post, post_phase) = rewritten_revisions(
        context(), None, script(ops.AddColumnOp("books", column)), split=True
    )

    assert (pre_phase, post_phase) == ("pre-deploy", "post-deploy")
    assert column.nullable is False, "the model's column itself was changed"
    assert post.head == pre.rev_id and post.rev_id and post.rev_id > pre.rev_id
    assert post.message == "change books (post-deploy)"
    [added] = pre.upgrade_ops_list[0].ops[0].ops
    assert isinstance(added, ops.AddColumnOp) and added.column.nullable is True
    [set_not_null] = post.upgrade_ops_list[0].ops[0].ops
    assert isinstance(set_not_null, SetNotNullOp)
    assert set_not_null.todo and "TODO(backfill): give books.subtitle a value" in set_not_null.todo
    code = render_python_code(post.upgrade_ops_list[0])
    todo = code.index("# TODO(backfill): give books.subtitle a value where it is NULL")
    assert todo < code.index("op.set_not_null('books', 'subtitle')")
    assert downgrade_types(post) == [ops.AlterColumnOp]


def test_drops_alone_make_one_post_deploy_revision_whose_downgrade_restores_the_data() -> None:
    dropped = ops.DropColumnOp.from_column_and_tablename(None, "books", books().c.legacy)

    [(revision, phase)] = rewritten_revisions(context(), None, script(dropped), split=True)

    assert (phase, revision.rev_id) == ("post-deploy", "aaaa00000001")
    assert downgrade_types(revision) == [ops.AddColumnOp, SetNotNullOp]
    restored = revision.downgrade_ops_list[0].ops[0].ops
    assert restored[0].column.nullable is True
    assert "TODO(backfill): books.legacy may hold NULLs" in str(restored[1].todo)


def test_an_index_dropped_to_be_created_again_stays_with_its_creation() -> None:
    index = sa.Index("ix_books_isbn", books().c.isbn, unique=True)

    [(revision, phase)] = rewritten_revisions(
        context(),
        None,
        script(ops.DropIndexOp.from_index(index), ops.CreateIndexOp.from_index(index)),
        split=True,
    )

    assert phase == "pre-deploy"
    assert upgrade_types(revision) == [DropIndexConcurrentlyOp, CreateIndexConcurrentlyOp]


def test_an_explicit_phase_keeps_everything_in_one_revision() -> None:
    config = Config()
    config.cmd_opts = argparse.Namespace(autogenerate=True, x=["phase=post-deploy"])
    index = sa.Index("ix_books_isbn", books().c.isbn)
    directives = [
        script(
            ops.DropColumnOp.from_column_and_tablename(None, "books", books().c.legacy),
            ops.CreateIndexOp.from_index(index),
        )
    ]

    safe_revisions(config)(context(), None, directives)

    [revision] = directives
    assert upgrade_types(revision) == [ops.DropColumnOp, CreateIndexConcurrentlyOp]
    assert config.attributes[NEW_REVISION_PHASES] == {"aaaa00000001": "post-deploy"}


def test_each_scope_of_a_schema_per_tenant_revision_keeps_its_template_tokens() -> None:
    shared = ops.UpgradeOps([], upgrade_token="shared_upgrades")
    tenant = ops.UpgradeOps(
        [
            ops.ModifyTableOps(
                "books",
                [ops.DropColumnOp.from_column_and_tablename(None, "books", books().c.legacy)],
            )
        ],
        upgrade_token="tenant_upgrades",
    )
    original = ops.MigrationScript("aaaa00000001", shared, ops.DowngradeOps([]))
    original.upgrade_ops = [shared, tenant]
    original.downgrade_ops = [
        ops.DowngradeOps([], downgrade_token="shared_downgrades"),
        ops.DowngradeOps([], downgrade_token="tenant_downgrades"),
    ]

    [(revision, _)] = rewritten_revisions(context(), None, original, split=True)

    assert [u.upgrade_token for u in revision.upgrade_ops_list] == [
        "shared_upgrades",
        "tenant_upgrades",
    ]
    assert [d.downgrade_token for d in revision.downgrade_ops_list] == [
        "shared_downgrades",
        "tenant_downgrades",
    ]


def test_sqlite_is_left_as_autogenerate_wrote_it() -> None:
    config = Config()
    config.cmd_opts = argparse.Namespace(autogenerate=True, x=None)
    index = sa.Index("ix_books_isbn", books().c.isbn)
    directives = [script(ops.CreateIndexOp.from_index(index))]

    safe_revisions(config)(MigrationContext.configure(dialect_name="sqlite"), None, directives)

    [revision] = directives
    assert upgrade_types(revision) == [ops.CreateIndexOp]
