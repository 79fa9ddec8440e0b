"""backfill(): a data migration over 100,000 rows in batches that each commit on their own.

Writers of rows already done never wait for the rest; a run killed half-way leaves its batches
committed and the revision unapplied, and the next run updates only the rows still to do.
"""

import asyncio
import signal
import subprocess
from pathlib import Path

from sqlalchemy import text

from {{ cookiecutter.package_name }}.migrator.session import APPLICATION_NAME
from tests.databases import connected, query
from tests.fixtures.scratch_migrations import (
    HUNG_SECONDS,
    PROJECT,
    ScratchMigrations,
    alembic_environment,
    revisions_and_tables,
    run,
    wait_until,
)

ROWS = 100_000
PACKAGE = "{{ cookiecutter.package_name }}"
CREATE_ITEMS = f"""
    op.create_table(
        "items",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("status", sa.String(10)),
        sa.Column("note", sa.String(10)),
    )
    op.execute("INSERT INTO items (id) SELECT generate_series(1, {ROWS})")
"""
IMPORT_BACKFILL = f"from {PACKAGE}.migrator.backfill import backfill"
BACKFILL_STATUS = [
    IMPORT_BACKFILL,
    """
    backfill(
        "items",
        {"status": "done"},
        where="status IS NULL",
        batch_size=1000,
        pause_seconds=0.03,
        progress_seconds=0.5,
    )
""",
]
DONE = "SELECT count(*) FROM items WHERE status IS NOT NULL"
# Rows keep their xmin until they are updated again.
DONE_ROW_VERSIONS = """
    SELECT md5(string_agg(id || ':' || xmin, ',' ORDER BY id)) FROM items
    WHERE id <= :last_done
"""
MIGRATION_SESSIONS = "SELECT count(*) FROM pg_stat_activity WHERE application_name = :name"


def count(database_url: str, statement: str, **parameters: object) -> int:
    [(found,)] = query(database_url, statement, **parameters)
    return int(found or 0)


def items_then_backfill(tmp_path: Path, database_url: str) -> tuple[ScratchMigrations, str]:
    """100,000 items without a status (applied here), then their backfill (pending)."""
    migrations = ScratchMigrations(tmp_path)
    created = migrations.add("bac000000001", upgrade=CREATE_ITEMS)
    migrations.add("bac000000002", upgrade=BACKFILL_STATUS)
    migrations.migrate(database_url, created)
    return migrations, created


async def write_done_rows_within(database_url: str, lock_timeout: str) -> None:
    """Update rows the backfill has done while it runs: they are no longer locked."""
    async with connected(database_url) as writer:
        await writer.execute(text(f"SET LOCAL lock_timeout = '{lock_timeout}'"))
        await writer.execute(text("UPDATE items SET note = 'edited' WHERE id IN (1, 2)"))
        await writer.commit()


def test_a_killed_backfill_resumes_where_it_stopped_and_never_blocks_writers(
    tmp_path: Path, database_url: str
) -> None:
    migrations, created = items_then_backfill(tmp_path, database_url)
    environment = alembic_environment(database_url)
    process = subprocess.Popen(
        migrations.command("upgrade", "head"),
        env=environment,
        cwd=PROJECT,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Each batch commits: other sessions see them while the revision still runs.
        wait_until(lambda: count(database_url, DONE) >= ROWS // 10, "a tenth is backfilled")
        asyncio.run(write_done_rows_within(database_url, lock_timeout="2s"))
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=HUNG_SECONDS)
    finally:
        process.kill()
    wait_until(
        lambda: count(database_url, MIGRATION_SESSIONS, name=APPLICATION_NAME) == 0,
        "the server has ended the killed run's session",
    )
    done_before = count(database_url, DONE)
    [(last_done,)] = query(database_url, "SELECT max(id) FROM items WHERE status IS NOT NULL")
    versions_before = query(database_url, DONE_ROW_VERSIONS, last_done=last_done)

    assert ROWS // 10 <= done_before < ROWS
    assert revisions_and_tables(database_url)[0] == {created}

    resumed = run(migrations.command("upgrade", "head"), environment)

    assert resumed.returncode == 0, resumed.stderr
    assert revisions_and_tables(database_url)[0] == {"bac000000002"}
    assert count(database_url, DONE) == ROWS
    assert f"Backfill of items: {ROWS - done_before} rows to update" in resumed.stderr
    assert f"Backfill of items: done, {ROWS - done_before} rows in" in resumed.stderr
    assert "rows, up to id" in resumed.stderr
    # The rows done before the kill were not updated again, and the writer's edit stayed.
    assert query(database_url, DONE_ROW_VERSIONS, last_done=last_done) == versions_before
    assert query(database_url, "SELECT note FROM items WHERE id IN (1, 2)") == [
        ("edited",),
        ("edited",),
    ]


def test_a_backfill_walks_any_sortable_key_and_offline_sql_is_one_statement_with_literals(
    tmp_path: Path, database_url: str
) -> None:
    migrations = ScratchMigrations(tmp_path)
    created = migrations.add(
        "bac000000011",
        upgrade="""
            op.create_table(
                "codes",
                sa.Column("code", sa.Text, primary_key=True),
                sa.Column("kind", sa.Text),
                sa.Column("source", sa.Text),
            )
            op.execute("INSERT INTO codes SELECT md5(n::text) FROM generate_series(1, 2500) n")
        """,
    )
    migrations.add(
        "bac000000012",
        upgrade=[
            IMPORT_BACKFILL,
            """
            first = sa.func.left(sa.column("code"), 1)
            values = {"kind": first, "source": "backfill"}
            backfill("codes", values, where="kind IS NULL", key="code")
        """,
        ],
    )
    environment = alembic_environment(database_url)

    offline = run(migrations.command("upgrade", f"{created}:head", "--sql"), environment)
    upgraded = run(migrations.command("upgrade", "head"), environment)

    assert offline.returncode == 0, offline.stderr
    assert (
        "UPDATE codes SET kind=left(code, 1), source='backfill' WHERE kind IS NULL;"
        in offline.stdout
    )
    assert upgraded.returncode == 0, upgraded.stderr
    assert "Backfill of codes: done, 2500 rows in" in upgraded.stderr
    done = "SELECT count(*) FROM codes WHERE kind = left(code, 1) AND source = 'backfill'"
    assert count(database_url, done) == 2500
