"""Autogenerate on MySQL writes one DDL statement per revision, expand steps before contract.

The end-to-end test makes the database differ from the models the way a model change would (a
table and a unique constraint missing; a column and a table too many) and runs `alembic
revision --autogenerate` as a developer does. The others call the splitter directly.
"""

import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.command import upgrade
from alembic.operations import ops

from {{ cookiecutter.package_name }}.migrator.one_per_revision import split
from {{ cookiecutter.package_name }}.migrator.phases import POST_DEPLOY, PRE_DEPLOY
from tests.databases import on_connection, query, run_alembic
from tests.fixtures.scratch_migrations import (
    ScratchMigrations,
    alembic_environment,
    lint_new_revisions,
    revisions_and_tables,
    run,
)

# What a developer's model change looks like from the database's side.
DRIFT = [
    "DROP TABLE books",
    "ALTER TABLE authors DROP INDEX uq_authors_email",
    "ALTER TABLE authors ADD COLUMN legacy_code VARCHAR(10) NULL",
    "CREATE TABLE leftovers (id INTEGER PRIMARY KEY)",
]
REVISION_ID = re.compile(r'^revision: str = "(\w+)"', re.M)
DOWN_REVISION = re.compile(r'^down_revision: str \| Sequence\[str\] \| None = "(\w+)"', re.M)
COLUMNS = (
    "SELECT table_name, column_name FROM information_schema.columns "
    "WHERE table_schema = DATABASE() AND table_name IN ('authors', 'leftovers') "
    "ORDER BY table_name, column_name"
)


def execute(database_url: str, *statements: str) -> None:
    def run_them(connection: sa.Connection) -> None:
        for statement in statements:
            connection.exec_driver_sql(statement)

    on_connection(database_url, run_them)


def test_autogenerate_writes_a_chain_of_one_statement_revisions_that_deploys_and_rolls_back(
    tmp_path: Path, database_url: str
) -> None:
    migrations = ScratchMigrations(tmp_path)
    run_alembic(database_url, lambda config: upgrade(config, "head"))
    start = migrations.head
    execute(database_url, *DRIFT)
    before = set(migrations.versions.glob("*.py"))
    environment = alembic_environment(database_url)

    generated = run(migrations.command("revision", "--autogenerate", "-m", "drift"), environment)

    assert generated.returncode == 0, generated.stderr
    written = sorted(set(migrations.versions.glob("*.py")) - before)
    sources = [path.read_text() for path in written]
    ids = [match[1] for source in sources if (match := REVISION_ID.search(source))]
    downs = [match[1] for source in sources if (match := DOWN_REVISION.search(source))]
    # A chain, in file order: each revision revises the one before it.
    assert downs == [start, *ids[:-1]]
    upgrades = [
        source.split("def upgrade() -> None:")[1].split("def downgrade")[0] for source in sources
    ]
    operations = [re.findall(r"op\.(?!f\()(\w+)\(", body) for body in upgrades]
    # The new table keeps its index; the drops, in either order, come last.
    assert operations[:2] == [["create_table", "create_index"], ["create_unique_constraint"]]
    assert sorted(operations[2:]) == [["drop_column"], ["drop_table"]]
    assert [re.search(r'^phase = "([\w-]+)"', source, re.M)[1] for source in sources] == [
        "pre-deploy",
        "pre-deploy",
        "post-deploy",
        "post-deploy",
    ]
    assert all(f'"""drift ({number} of 4)\n' in source for number, source in enumerate(sources, 1))
    linted = lint_new_revisions(tmp_path, *written)
    assert linted == (0, ""), "the linter wants the revisions split further"

    pre_deployed = run(migrations.command("-x", "phase=pre-deploy", "upgrade", "head"), environment)

    assert pre_deployed.returncode == 0, pre_deployed.stderr
    assert f"Pre-deploy phase: stops before {ids[2]} (" in pre_deployed.stderr
    assert revisions_and_tables(database_url)[0] == {ids[1]}
    assert "books" in revisions_and_tables(database_url)[1]

    upgraded = run(migrations.command("upgrade", "head"), environment)

    assert upgraded.returncode == 0, upgraded.stderr
    assert query(database_url, COLUMNS) == [
        ("authors", "created_at"),
        ("authors", "email"),
        ("authors", "id"),
        ("authors", "name"),
    ]
    checked = run(migrations.command("check"), environment)
    assert "No new upgrade operations detected" in checked.stdout, checked.stderr

    downgraded = run(migrations.command("downgrade", start or "base"), environment)

    assert downgraded.returncode == 0, downgraded.stderr
    assert ("authors", "legacy_code") in query(database_url, COLUMNS)
    assert revisions_and_tables(database_url)[1] == {"authors", "leftovers"}


def script(*operations: ops.MigrateOperation) -> ops.MigrationScript:
    return ops.MigrationScript(
        "aaaa00000001",
        ops.UpgradeOps(list(operations)),
        ops.DowngradeOps([]),
        message="change",
        head="head",
    )


def column(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.Integer)


@pytest.mark.parametrize("first", ["000000000000", "8f00aa3c2b1d", "fff000000000"])
def test_a_chain_of_revisions_sorts_in_its_order(first: str) -> None:
    operations = [ops.AddColumnOp("books", column(f"c{number}")) for number in range(8)]
    change = script(ops.ModifyTableOps("books", operations))
    change.rev_id = first

    ids = [str(written.rev_id) for written, _ in split(change, None)]

    # Written in the same second, the files sort by id: `ls` lists the chain in order.
    assert ids == sorted(ids) and len(set(ids)) == 8
    assert {len(rev) for rev in ids} == {12}


def test_one_operation_stays_one_revision() -> None:
    alone = script(ops.ModifyTableOps("books", [ops.AddColumnOp("books", column("year"))]))

    assert split(alone, None) == [(alone, PRE_DEPLOY)]


def test_each_operation_on_a_table_gets_a_revision_of_its_own() -> None:
    change = script(
        ops.ModifyTableOps(
            "books",
            [
                ops.AddColumnOp("books", column("year")),
                ops.CreateIndexOp("ix_books_title", "books", ["title"]),
            ],
        )
    )

    first, second = split(change, None)

    assert [phase for _, phase in (first, second)] == [PRE_DEPLOY, PRE_DEPLOY]
    assert (first[0].head, second[0].head) == ("head", first[0].rev_id)
    assert [type(op) for op in first[0].upgrade_ops.ops[0].ops] == [ops.AddColumnOp]
    assert [type(op) for op in second[0].upgrade_ops.ops[0].ops] == [ops.CreateIndexOp]
    assert [type(op) for op in second[0].downgrade_ops.ops[0].ops] == [ops.DropIndexOp]


def test_a_new_column_keeps_its_index_and_unique_constraint() -> None:
    change = script(
        ops.ModifyTableOps(
            "books",
            [
                ops.AddColumnOp("books", column("isbn")),
                ops.CreateUniqueConstraintOp("uq_books_isbn", "books", ["isbn"]),
                ops.CreateIndexOp("ix_books_isbn_title", "books", ["isbn", "title"]),
            ],
        )
    )

    together, alone = split(change, None)

    kinds = [type(op.ops[0]) for op in together[0].upgrade_ops.ops]
    assert kinds == [ops.AddColumnOp, ops.CreateUniqueConstraintOp]
    # Undone in reverse: the constraint, then the column.
    undone = [type(op.ops[0]) for op in together[0].downgrade_ops.ops]
    assert undone == [ops.DropConstraintOp, ops.DropColumnOp]
    assert [type(op.ops[0]) for op in alone[0].upgrade_ops.ops] == [ops.CreateIndexOp]


def test_an_explicit_phase_keeps_the_order_and_gives_every_revision_that_phase() -> None:
    change = script(
        ops.ModifyTableOps(
            "books",
            [
                ops.DropColumnOp.from_column_and_tablename(None, "books", column("legacy")),
                ops.AddColumnOp("books", column("year")),
            ],
        )
    )

    written = split(change, POST_DEPLOY)

    assert [phase for _, phase in written] == [POST_DEPLOY, POST_DEPLOY]
    assert isinstance(written[0][0].upgrade_ops.ops[0].ops[0], ops.DropColumnOp)


def test_an_index_dropped_to_be_created_again_stays_pre_deploy() -> None:
    change = script(
        ops.ModifyTableOps(
            "books",
            [
                ops.DropIndexOp("ix_books_title", "books"),
                ops.CreateIndexOp("ix_books_title", "books", ["title", "year"]),
            ],
        )
    )

    assert [phase for _, phase in split(change, None)] == [PRE_DEPLOY, PRE_DEPLOY]
