"""A migration stopped mid-way (Ctrl-C, SIGTERM, kill -9) leaves nothing running or locked.

SIGTERM and Ctrl-C cancel the statement, roll the revision back and exit with one line; after a
kill -9 the server notices the missing client within a second and does the same. Concurrent
deploys over a revision that builds an index CONCURRENTLY both succeed, and a build killed
half-way is finished by the next run.
"""

import signal
import subprocess
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.migrator.session import APPLICATION_NAME
from tests.databases import query
from tests.fixtures.scratch_migrations import (
    INDEX_WIDGET_NAMES_CONCURRENTLY,
    PROJECT,
    WAIT_FOR_QUEUED_UPGRADES,
    ScratchMigrations,
    alembic_environment,
    revisions_and_tables,
    run,
    run_at_once,
    wait_until,
)

SLEEPING = """
    SELECT count(*) FROM pg_stat_activity
    WHERE datname = current_database() AND query LIKE 'SELECT pg_sleep(600)%'
"""
ADVISORY_LOCKS = """
    SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'
    AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""
CREATE_WIDGETS = 'op.create_table("widgets", sa.Column("id", sa.Integer, primary_key=True))'


def count(database_url: str, statement: str) -> int:
    [(found,)] = query(database_url, statement)
    return int(found)


def default_ctrl_c() -> None:
    """A child started from a background job inherits an ignored SIGINT: Ctrl-C must work."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize(
    "stop", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL], ids=lambda stop: stop.name
)
def test_a_stopped_migration_leaves_no_statement_or_lock_behind(
    stop: signal.Signals, tmp_path: Path, database_url: str
) -> None:
    migrations = ScratchMigrations(tmp_path)
    previous = migrations.head
    migrations.add(
        "51eeb0000001",
        upgrade=[CREATE_WIDGETS, 'op.execute("SELECT pg_sleep(600)")'],
    )
    environment = alembic_environment(database_url, MIGRATION_STATEMENT_TIMEOUT="10min")
    process = subprocess.Popen(
        migrations.command("upgrade", "head"),
        env=environment,
        cwd=PROJECT,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_ctrl_c,
    )
    try:
        wait_until(lambda: count(database_url, SLEEPING) == 1, "the migration is sleeping")
        process.send_signal(stop)
        _, stderr = process.communicate(timeout=120)
    finally:
        process.kill()

    wait_until(lambda: count(database_url, SLEEPING) == 0, "the server ended the statement")
    wait_until(lambda: count(database_url, ADVISORY_LOCKS) == 0, "the lock is released")
    revisions, tables = revisions_and_tables(database_url)
    assert revisions == ({previous} if previous else set())
    assert "widgets" not in tables
    if stop != signal.SIGKILL:
        assert process.returncode == 130
        assert "Traceback" not in stderr
        [line] = [line for line in stderr.splitlines() if line.startswith("alembic: ")]
        assert line.startswith("alembic: interrupted: the revision in progress was rolled back")

    migrations.write("51eeb0000001", previous, CREATE_WIDGETS, 'op.drop_table("widgets")')
    again = run(migrations.command("upgrade", "head"), environment)
    assert again.returncode == 0, again.stderr
    assert "Waiting for another migration run" not in again.stderr
    assert revisions_and_tables(database_url)[0] == {"51eeb0000001"}


def test_concurrent_deploys_over_create_index_concurrently_both_succeed(
    tmp_path: Path, database_url: str
) -> None:
    """A waiting run holds no snapshot, so the index build ahead of it does not deadlock."""
    migrations = ScratchMigrations(tmp_path)
    migrations.add(
        "c1c000000001",
        upgrade=[
            'op.create_table("widgets", sa.Column("name", sa.String(50)))',
            WAIT_FOR_QUEUED_UPGRADES.format(others=1),
        ],
    )
    migrations.add("c1c000000002", upgrade=INDEX_WIDGET_NAMES_CONCURRENTLY)
    environment = alembic_environment(database_url, MIGRATION_STATEMENT_TIMEOUT="10min")

    results = run_at_once(migrations.command("upgrade", "head"), environment, 2)

    assert [result.returncode for result in results] == [0, 0], results
    assert sum("Running upgrade" in result.stderr for result in results) == 1
    valid = "SELECT indisvalid FROM pg_index WHERE indexrelid = 'ix_widgets_name'::regclass"
    assert query(database_url, valid) == [(True,)]
    assert APPLICATION_NAME in "".join(result.stderr for result in results)


WRITER = "widget writer"
SESSIONS = """
    SELECT count(*) FROM pg_stat_activity
    WHERE datname = current_database() AND application_name = :name
    AND (wait_event_type = 'Lock' OR NOT :waiting)
    AND (state = 'idle in transaction' OR NOT :in_transaction)
"""
INDEX_STATE = """
    SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('ix_widgets_name')
"""


def test_a_concurrent_index_build_killed_half_way_is_rebuilt_by_the_next_run(
    tmp_path: Path, database_url: str
) -> None:
    """kill -9 while CREATE INDEX CONCURRENTLY waits for a writer: the build leaves an invalid
    index behind (its catalog entry commits first); the next run drops it and builds it."""
    migrations = ScratchMigrations(tmp_path)
    previous = migrations.add(
        "c1c000000011",
        upgrade='op.create_table("widgets", sa.Column("name", sa.String(50)))',
    )
    migrations.add(
        "c1c000000012",
        upgrade='op.create_index_concurrently("ix_widgets_name", "widgets", ["name"])',
    )
    environment = alembic_environment(
        database_url, MIGRATION_LOCK_TIMEOUT="10min", MIGRATION_STATEMENT_TIMEOUT="10min"
    )
    assert run(migrations.command("upgrade", previous), environment).returncode == 0

    def sessions(name: str, waiting: bool = False, in_transaction: bool = False) -> int:
        [(found,)] = query(
            database_url, SESSIONS, name=name, waiting=waiting, in_transaction=in_transaction
        )
        return int(found)

    # psql reads its statements from a pipe: the transaction stays open until the pipe closes.
    writer = subprocess.Popen(
        ["psql", "--no-psqlrc", database_url.replace("postgresql+asyncpg", "postgresql")],
        env={**environment, "PGAPPNAME": WRITER},
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert writer.stdin is not None
    writer.stdin.write("BEGIN;\nINSERT INTO widgets VALUES ('open');\n")
    writer.stdin.flush()
    try:
        wait_until(lambda: sessions(WRITER, in_transaction=True) == 1, "the writer waits")
        process = subprocess.Popen(
            migrations.command("upgrade", "head"),
            env=environment,
            cwd=PROJECT,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_until(lambda: sessions(APPLICATION_NAME, waiting=True) == 1, "the build waits")
            process.kill()
            process.wait(timeout=60)
        finally:
            process.kill()
        wait_until(lambda: sessions(APPLICATION_NAME) == 0, "the server ended the build")
    finally:
        writer.communicate(timeout=60)
    wait_until(lambda: sessions(WRITER) == 0, "the writer is gone")

    assert query(database_url, INDEX_STATE) == [(False,)]
    assert revisions_and_tables(database_url)[0] == {previous}

    again = run(migrations.command("upgrade", "head"), environment)

    assert again.returncode == 0, again.stderr
    assert query(database_url, INDEX_STATE) == [(True,)]
    assert revisions_and_tables(database_url)[0] == {"c1c000000012"}
