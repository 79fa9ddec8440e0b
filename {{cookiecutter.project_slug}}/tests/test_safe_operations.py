"""The safe operations of migrator/operations on a real PostgreSQL server, rows included.

Each one runs up and down, meets what a failed or killed run leaves behind, and its offline SQL
shows where it commits. Unqualified names resolve in the schema the tests migrate.
"""

from pathlib import Path

import pytest
from alembic.util import CommandError
from sqlalchemy.exc import DBAPIError, IntegrityError

from tests.databases import execute_outside_transaction, query
from tests.fixtures.scratch_migrations import (
    ScratchMigrations,
    alembic_environment,
    run,
)

CREATE_TABLES = """
    op.create_table("owners", sa.Column("id", sa.Integer, primary_key=True))
    op.create_table(
        "widgets",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(50)),
        sa.Column("owner_id", sa.Integer),
    )
"""
DROP_TABLES = """
    op.drop_table("widgets")
    op.drop_table("owners")
"""
FOREIGN_KEY = "fk_widgets_owner_id_owners"
IS_VALID = "SELECT indisvalid, indisunique FROM pg_index WHERE indexrelid = to_regclass(:name)"
CONSTRAINTS = """
    SELECT conname, contype::text, convalidated FROM pg_constraint
    WHERE conrelid = to_regclass(:table) ORDER BY conname
"""
OFFLINE_URL = "postgresql+asyncpg://offline@localhost/offline"


def constraints(database_url: str, table: str) -> list[tuple[str, str, bool]]:
    found = query(database_url, CONSTRAINTS, table=table)
    return [(str(name), str(kind), bool(valid)) for name, kind, valid in found]


def offline_sql(migrations: ScratchMigrations, revisions: str) -> str:
    result = run(
        migrations.command("upgrade", revisions, "--sql"), alembic_environment(OFFLINE_URL)
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture
def migrations(tmp_path: Path) -> ScratchMigrations:
    """The project's revisions, then one that creates owners and widgets."""
    scratch = ScratchMigrations(tmp_path)
    scratch.add("5afe00000001", upgrade=CREATE_TABLES, downgrade=DROP_TABLES)
    return scratch


def test_an_invalid_index_left_by_a_failed_build_is_dropped_and_built_again(
    migrations: ScratchMigrations, database_url: str
) -> None:
    migrations.add(
        "5afe00000002",
        upgrade='op.create_index_concurrently("ix_widgets_name", "widgets", ["name"])',
        downgrade='op.drop_index_concurrently("ix_widgets_name", "widgets")',
    )
    migrations.migrate(database_url, "5afe00000001")
    execute_outside_transaction(database_url, "INSERT INTO widgets (name) VALUES ('a'), ('a')")
    # What a build that failed (here: on duplicates) or was killed leaves behind.
    with pytest.raises(DBAPIError, match="could not create unique index"):
        execute_outside_transaction(
            database_url,
            "CREATE UNIQUE INDEX CONCURRENTLY ix_widgets_name ON widgets (name)",
        )
    assert query(database_url, IS_VALID, name="ix_widgets_name") == [(False, True)]

    migrations.migrate(database_url, "head")

    assert query(database_url, IS_VALID, name="ix_widgets_name") == [(True, False)]

    migrations.migrate(database_url, "-1")

    assert query(database_url, IS_VALID, name="ix_widgets_name") == []


def test_a_foreign_key_is_added_not_valid_and_validated_in_a_later_transaction(
    migrations: ScratchMigrations, database_url: str
) -> None:
    migrations.add(
        "5afe00000002",
        upgrade=f"""
            op.create_foreign_key_not_valid(
                "{FOREIGN_KEY}", "widgets", "owners", ["owner_id"], ["id"]
            )
            op.validate_constraint("{FOREIGN_KEY}", "widgets")
        """,
        downgrade=f'op.drop_constraint("{FOREIGN_KEY}", "widgets", type_="foreignkey")',
    )
    migrations.migrate(database_url, "5afe00000001")
    execute_outside_transaction(database_url, "INSERT INTO owners VALUES (1)")
    execute_outside_transaction(database_url, "INSERT INTO widgets (owner_id) VALUES (1), (2)")

    # The orphan row is only found by the validation, after the constraint was committed.
    with pytest.raises(IntegrityError, match="violates foreign key constraint"):
        migrations.migrate(database_url, "head")
    assert constraints(database_url, "widgets") == [
        (FOREIGN_KEY, "f", False),
        ("pk_widgets", "p", True),
    ]
    with pytest.raises(IntegrityError, match=FOREIGN_KEY):
        execute_outside_transaction(database_url, "INSERT INTO widgets (owner_id) VALUES (3)")

    # Run again once the data is fixed: the constraint left behind is kept and validated.
    execute_outside_transaction(database_url, "DELETE FROM widgets WHERE owner_id = 2")
    migrations.migrate(database_url, "head")

    assert constraints(database_url, "widgets") == [
        (FOREIGN_KEY, "f", True),
        ("pk_widgets", "p", True),
    ]
    sql = offline_sql(migrations, "5afe00000001:5afe00000002")
    added = sql.index(f"ADD CONSTRAINT {FOREIGN_KEY} FOREIGN KEY")
    validated = sql.index(f"VALIDATE CONSTRAINT {FOREIGN_KEY}")
    assert "COMMIT;" in sql[added:validated]
    assert f"DROP CONSTRAINT IF EXISTS {FOREIGN_KEY}" in sql[:added]

    migrations.migrate(database_url, "-1")

    assert constraints(database_url, "widgets") == [("pk_widgets", "p", True)]


def test_a_check_is_added_not_valid_and_validated(
    migrations: ScratchMigrations, database_url: str
) -> None:
    migrations.add(
        "5afe00000002",
        upgrade="""
            op.create_check_constraint_not_valid(
                op.f("ck_widgets_name_short"), "widgets", "length(name) < 10"
            )
        """,
        downgrade='op.drop_constraint(op.f("ck_widgets_name_short"), "widgets", type_="check")',
    )
    migrations.add(
        "5afe00000003",
        upgrade='op.validate_constraint("ck_widgets_name_short", "widgets")',
    )
    migrations.migrate(database_url, "5afe00000001")
    execute_outside_transaction(database_url, "INSERT INTO widgets (name) VALUES ('short')")

    migrations.migrate(database_url, "5afe00000002")

    assert ("ck_widgets_name_short", "c", False) in constraints(database_url, "widgets")

    migrations.migrate(database_url, "head")

    assert ("ck_widgets_name_short", "c", True) in constraints(database_url, "widgets")


def test_set_not_null_goes_through_a_validated_check_and_leaves_none_behind(
    migrations: ScratchMigrations, database_url: str
) -> None:
    migrations.add(
        "5afe00000002",
        upgrade='op.set_not_null("widgets", "name")',
        downgrade='op.alter_column("widgets", "name", nullable=True)',
    )
    migrations.migrate(database_url, "5afe00000001")
    execute_outside_transaction(database_url, "INSERT INTO widgets (name) VALUES ('a'), (NULL)")

    with pytest.raises(CommandError) as refused:
        migrations.migrate(database_url, "head")
    assert str(refused.value) == (
        "widgets.name is NULL in some rows: set_not_null needs them filled first (write the "
        "backfill above it, where autogenerate left a TODO(backfill))"
    )

    execute_outside_transaction(database_url, "UPDATE widgets SET name = 'b' WHERE name IS NULL")
    migrations.migrate(database_url, "head")

    not_null = """
        SELECT is_nullable FROM information_schema.columns
        WHERE table_name = 'widgets' AND column_name = 'name'
    """
    assert query(database_url, not_null) == [("NO",)]
    assert [name for name, *_ in constraints(database_url, "widgets")] == ["pk_widgets"]
    # The scan runs under VALIDATE; SET NOT NULL follows in the transaction that records it.
    sql = offline_sql(migrations, "5afe00000001:5afe00000002")
    check = "ck_widgets_name_not_null"
    steps = [
        f"DROP CONSTRAINT IF EXISTS {check}",
        f"ADD CONSTRAINT {check} CHECK (name IS NOT NULL) NOT VALID",
        "COMMIT;",
        f"VALIDATE CONSTRAINT {check}",
        "ALTER COLUMN name SET NOT NULL",
        f"DROP CONSTRAINT IF EXISTS {check}",
        "alembic_version SET version_num='5afe00000002'",
        "COMMIT;",
    ]
    positions = [sql.index(step, sql.index("5afe00000002")) for step in steps[:2]]
    for step in steps[2:]:
        positions.append(sql.index(step, positions[-1] + 1))
    assert positions == sorted(positions)
    assert "COMMIT;" not in sql[positions[3] : positions[6]]

    migrations.migrate(database_url, "-1")

    assert query(database_url, not_null) == [("YES",)]


def test_a_unique_constraint_is_attached_to_an_index_built_concurrently(
    migrations: ScratchMigrations, database_url: str
) -> None:
    migrations.add(
        "5afe00000002",
        upgrade='op.create_unique_constraint_concurrently("uq_widgets_name", "widgets", ["name"])',
        downgrade='op.drop_constraint("uq_widgets_name", "widgets", type_="unique")',
    )
    migrations.migrate(database_url, "5afe00000001")
    execute_outside_transaction(database_url, "INSERT INTO widgets (name) VALUES ('a'), ('a')")

    with pytest.raises(DBAPIError, match="could not create unique index"):
        migrations.migrate(database_url, "head")
    assert query(database_url, IS_VALID, name="uq_widgets_name") == [(False, True)]

    execute_outside_transaction(database_url, "UPDATE widgets SET name = 'b' WHERE id = 2")
    migrations.migrate(database_url, "head")

    assert query(database_url, IS_VALID, name="uq_widgets_name") == [(True, True)]
    assert ("uq_widgets_name", "u", True) in constraints(database_url, "widgets")
    with pytest.raises(IntegrityError, match="uq_widgets_name"):
        execute_outside_transaction(database_url, "INSERT INTO widgets (name) VALUES ('a')")

    migrations.migrate(database_url, "-1")

    assert query(database_url, IS_VALID, name="uq_widgets_name") == []


def test_offline_sql_of_a_concurrent_build_runs_outside_a_transaction(
    migrations: ScratchMigrations,
) -> None:
    migrations.add(
        "5afe00000002",
        upgrade='op.create_index_concurrently("ix_widgets_name", "widgets", ["name"])',
    )
    sql = offline_sql(migrations, "5afe00000001:5afe00000002")
    build = sql.index("CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_widgets_name ON widgets (name)")
    assert sql[:build].rstrip().endswith("COMMIT;")
    assert sql[build:].split(";", 1)[1].lstrip().startswith("BEGIN;")
