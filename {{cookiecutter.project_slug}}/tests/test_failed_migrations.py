"""A migration that fails part-way leaves the database at the revision before it.

env.py runs each revision in its own transaction (transaction_per_migration). PostgreSQL DDL is
transactional. SQLite's is too, but the sqlite3 driver only opens transactions before DML, so
db.create_engine() takes over BEGIN; see docs/runbook.md. MySQL commits each DDL statement on
its own: the version stays, the statements before the failing one stay too, and the failure
says which they are and how to undo them.
"""

from pathlib import Path

{% if cookiecutter.database == "mysql" -%}
from tests.databases import on_connection
{% endif -%}
from tests.fixtures.scratch_migrations import (
    ScratchMigrations,
    alembic_environment,
    revisions_and_tables,
    run,
)

CREATE_GADGETS = """
    op.create_table(
        "gadgets",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(50), nullable=False),
    )
"""
INSERT_TWINS = """
    op.execute("INSERT INTO gadgets (id, name) VALUES (1, 'twin')")
    op.execute("INSERT INTO gadgets (id, name) VALUES (2, 'twin')")
"""


def test_a_failing_second_operation_leaves_the_previous_revision(
    tmp_path: Path, database_url: str
) -> None:
    migrations = ScratchMigrations(tmp_path)
    previous = migrations.head
    before = set() if previous is None else {previous}
    migrations.add(
        "a1f0c0de0001",
        upgrade=[CREATE_GADGETS, 'op.add_column("no_such_table", sa.Column("x", sa.Integer))'],
        downgrade='op.drop_table("gadgets")',
    )
    environment = alembic_environment(database_url)

    failed = run(migrations.command("upgrade", "head"), environment)

    assert failed.returncode != 0
{%- if cookiecutter.database == "mysql" %}
    assert "no_such_table' doesn't exist" in failed.stderr
    assert "undo it (DROP TABLE gadgets)" in failed.stderr
    revisions, tables = revisions_and_tables(database_url)
    assert revisions == before
    assert "gadgets" in tables
    on_connection(database_url, lambda connection: connection.exec_driver_sql("DROP TABLE gadgets"))
{%- else %}
    assert {{ '\'relation "no_such_table" does not exist\'' if cookiecutter.database == "postgresql" else '"no such table: no_such_table"' }} in failed.stderr
    revisions, tables = revisions_and_tables(database_url)
    assert revisions == before
    assert "gadgets" not in tables
{%- endif %}

    migrations.write("a1f0c0de0001", previous, CREATE_GADGETS, 'op.drop_table("gadgets")')
    fixed = run(migrations.command("upgrade", "head"), environment)

    assert fixed.returncode == 0, fixed.stderr
    revisions, tables = revisions_and_tables(database_url)
    assert revisions == {"a1f0c0de0001"}
    assert "gadgets" in tables


def test_a_failing_table_rebuild_leaves_no_temporary_table(
    tmp_path: Path, database_url: str
) -> None:
    migrations = ScratchMigrations(tmp_path)
    with_duplicates = migrations.add(
        "a1f0c0de0002",
        upgrade=[CREATE_GADGETS, INSERT_TWINS],
        downgrade='op.drop_table("gadgets")',
    )
    # On SQLite, batch mode copies the table into _alembic_tmp_gadgets; the copy hits the
    # duplicates half-way through the rebuild.
    migrations.add(
        "a1f0c0de0003",
        upgrade="""
            with op.batch_alter_table("gadgets") as batch:
                batch.create_unique_constraint("uq_gadgets_name", ["name"])
        """,
    )

    failed = run(migrations.command("upgrade", "head"), alembic_environment(database_url))

    assert failed.returncode != 0
    revisions, tables = revisions_and_tables(database_url)
    assert revisions == {with_duplicates}
    assert tables >= {"gadgets"}
    assert not [table for table in tables if table.startswith("_alembic_tmp")]
