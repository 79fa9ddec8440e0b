"""PostgreSQL safety of `alembic upgrade` and the app, with real processes on a real server.

Concurrent upgrades queue on env.py's advisory lock; lock and statement timeouts end a blocked
migration with a clear message; CREATE INDEX CONCURRENTLY runs in an autocommit_block; /health
reports an outage and recovers without a restart.
"""

import asyncio
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from alembic.command import upgrade
from sqlalchemy import text
from sqlalchemy.engine import make_url

from devtools.scratch import run_as_admin
from {{ cookiecutter.package_name }}.migrator.config import build_config
from {{ cookiecutter.package_name }}.migrator.session import APPLICATION_NAME
from tests.databases import connected, query, run_alembic
from tests.fixtures.scratch_migrations import (
    HUNG_SECONDS,
    INDEX_WIDGET_NAMES_CONCURRENTLY,
    PROJECT,
    UVICORN,
    WAIT_FOR_QUEUED_UPGRADES,
    ScratchMigrations,
    alembic_environment,
    count_run,
    failure_line,
    project_head,
    revisions_and_tables,
    run,
    run_at_once,
)

SESSION_STATE = text(
    "SELECT current_setting('search_path'), current_setting('lock_timeout'), "
    "current_setting('statement_timeout'), current_setting('application_name')"
)


def test_a_migration_run_leaves_its_connection_as_it_found_it(database_url: str) -> None:
    async def state_before_and_after() -> tuple[object, object]:
        async with connected(database_url) as connection:
            before = (await connection.execute(SESSION_STATE)).one()
            await connection.commit()
            await connection.run_sync(lambda sync: upgrade(build_config(sync), "head"))
            after = (await connection.execute(SESSION_STATE)).one()
            return before, after

    before, after = asyncio.run(state_before_and_after())

    assert after == before
    assert revisions_and_tables(database_url)[0] == {project_head()}


def test_concurrent_upgrades_apply_each_revision_once(tmp_path: Path, database_url: str) -> None:
    processes = 4
    migrations = ScratchMigrations(tmp_path)
    migrations.add(
        "c0c0c0c00001",
        upgrade=[
            'op.create_table("upgrade_runs", sa.Column("revision", sa.String(12)))',
            count_run("c0c0c0c00001"),
            WAIT_FOR_QUEUED_UPGRADES.format(others=processes - 1),
        ],
    )
    migrations.add(
        "c0c0c0c00002",
        upgrade=[
            'op.create_table("widgets", sa.Column("id", sa.Integer, primary_key=True))',
            count_run("c0c0c0c00002"),
        ],
    )
    migrations.add(
        "c0c0c0c00003",
        upgrade=[
            'op.add_column("widgets", sa.Column("colour", sa.String(20)))',
            count_run("c0c0c0c00003"),
        ],
    )
    command = migrations.command("upgrade", "head")
    environment = alembic_environment(database_url, MIGRATION_STATEMENT_TIMEOUT="10min")

    results = run_at_once(command, environment, processes)
    logs = [result.stderr for result in results]

    assert [result.returncode for result in results] == [0] * processes, logs
    assert revisions_and_tables(database_url)[0] == {"c0c0c0c00003"}
    assert query(database_url, "SELECT waiting FROM lock_waiters") == [(processes - 1,)]
    assert sorted(query(database_url, "SELECT revision FROM upgrade_runs")) == [
        ("c0c0c0c00001",),
        ("c0c0c0c00002",),
        ("c0c0c0c00003",),
    ]
    nothing_to_do = [log for log in logs if "Nothing to do" in log]
    assert len(nothing_to_do) == processes - 1
    assert all("Running upgrade" not in log for log in nothing_to_do)
    # A run that waits says so, and who it waits for.
    assert all(
        "Waiting for another migration run to finish: pid" in log and APPLICATION_NAME in log
        for log in nothing_to_do
    )


def test_a_blocked_migration_gives_up_after_the_lock_timeout(
    tmp_path: Path, database_url: str
) -> None:
    migrations = ScratchMigrations(tmp_path)
    created = migrations.add(
        "b10cced00001",
        upgrade='op.create_table("widgets", sa.Column("id", sa.Integer, primary_key=True))',
    )
    migrations.add(
        "b10cced00002", upgrade='op.add_column("widgets", sa.Column("colour", sa.String(20)))'
    )
    migrations.migrate(database_url, created)
    # Retries, and the sessions they name, are tests/test_lock_retries.py's.
    environment = alembic_environment(
        database_url, MIGRATION_LOCK_TIMEOUT="1s", MIGRATION_LOCK_RETRIES="0"
    )

    async def upgrade_while_a_reader_holds_the_table() -> subprocess.CompletedProcess[str]:
        async with connected(database_url) as reader:
            # An open transaction that read the table: ADD COLUMN has to wait for it.
            await reader.execute(text("SELECT count(*) FROM widgets"))
            command = migrations.command("upgrade", "head")
            result = await asyncio.to_thread(run, command, environment)
            # The reader never let go: only the lock timeout can have ended the wait.
            assert reader.in_transaction()
            return result

    result = asyncio.run(upgrade_while_a_reader_holds_the_table())

    line = failure_line(result)
    assert "could not get a lock on widgets within lock_timeout" in line
    assert "MIGRATION_LOCK_TIMEOUT=1s" in line
    assert "raise MIGRATION_LOCK_TIMEOUT" in line
    assert revisions_and_tables(database_url)[0] == {created}
    columns = query(
        database_url,
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'widgets'",
    )
    assert columns == [("id",)]


def test_a_slow_statement_gives_up_after_the_statement_timeout(
    tmp_path: Path, database_url: str
) -> None:
    migrations = ScratchMigrations(tmp_path)
    previous = migrations.head
    migrations.add(
        "51010e000001",
        upgrade=[
            'op.create_table("widgets", sa.Column("id", sa.Integer, primary_key=True))',
            'op.execute("SELECT pg_sleep(5)")',
        ],
    )
    environment = alembic_environment(database_url, MIGRATION_STATEMENT_TIMEOUT="200ms")

    result = run(migrations.command("upgrade", "head"), environment)

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "MIGRATION_STATEMENT_TIMEOUT=200ms" in result.stderr
    assert "SELECT pg_sleep(5)" in result.stderr
    revisions, tables = revisions_and_tables(database_url)
    assert revisions == ({previous} if previous else set())
    assert "widgets" not in tables


def test_create_index_concurrently_in_an_autocommit_block(
    tmp_path: Path, database_url: str
) -> None:
    migrations = ScratchMigrations(tmp_path)
    created = migrations.add(
        "a070c0000001",
        upgrade='op.create_table("widgets", sa.Column("name", sa.String(50), nullable=False))',
        downgrade='op.drop_table("widgets")',
    )
    migrations.add(
        "a070c0000002",
        upgrade=INDEX_WIDGET_NAMES_CONCURRENTLY,
        downgrade="""
            with op.get_context().autocommit_block():
                op.drop_index("ix_widgets_name", "widgets", postgresql_concurrently=True)
        """,
    )
    environment = alembic_environment(database_url)
    index_is_valid = """
        SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('ix_widgets_name')
    """

    upgraded = run(migrations.command("upgrade", "head"), environment)

    assert upgraded.returncode == 0, upgraded.stderr
    assert query(database_url, index_is_valid) == [(True,)]

    downgraded = run(migrations.command("downgrade", "-1"), environment)

    assert downgraded.returncode == 0, downgraded.stderr
    assert query(database_url, index_is_valid) == []
    assert revisions_and_tables(database_url)[0] == {created}


def allow_connections(database_url: str, allowed: bool) -> None:
    """Let the database accept connections, or refuse new ones and cut the open ones."""
    name = str(make_url(database_url).database)
    run_as_admin(database_url, "ALTER DATABASE %I ALLOW_CONNECTIONS %s", name, str(allowed))
    if not allowed:
        cut = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %L"
        run_as_admin(database_url, cut, name)


@pytest.fixture
def running_app(database_url: str, tmp_path: Path) -> Iterator[httpx.Client]:
    """The app under uvicorn on a migrated database, and a client for its socket."""
    run_alembic(database_url, lambda config: upgrade(config, "head"))
    socket = tmp_path / "app.sock"
    server = subprocess.Popen(
        [*UVICORN, "--uds", str(socket)],
        env=alembic_environment(database_url),
        cwd=PROJECT,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        with httpx.Client(transport=httpx.HTTPTransport(uds=str(socket)), timeout=60) as client:
            while not socket.exists() and server.poll() is None:
                time.sleep(0.05)
            assert server.poll() is None, server.communicate()[1]
            yield client
    finally:
        server.terminate()
        server.communicate(timeout=HUNG_SECONDS)


def test_health_reports_an_outage_and_recovers_without_a_restart(
    running_app: httpx.Client, database_url: str
) -> None:
    assert running_app.get("http://app/health").status_code == 200

    allow_connections(database_url, False)  # the database is "down"
    try:
        down = [running_app.get("http://app/health") for _ in range(2)]
    finally:
        allow_connections(database_url, True)

    assert [response.status_code for response in down] == [503, 503]
    assert down[0].json()["detail"] == "the database cannot be reached"
    # The pooled connection died with the outage; pre-ping replaces it on the next checkout.
    assert running_app.get("http://app/health").status_code == 200
