"""MySQL and MariaDB safety of `alembic upgrade`, with real processes on a real server.

Concurrent upgrades queue on GET_LOCK(); lock_wait_timeout and max_statement_time end a blocked
or slow migration with one line; a revision that fails half-way says what MySQL had already
committed, and following that line gets the database to head.
"""

import asyncio
import signal
import subprocess
from pathlib import Path

import pytest
from alembic.command import upgrade
from sqlalchemy import text
from sqlalchemy.engine import make_url

from devtools.scratch import on_mysql_server
from {{ cookiecutter.package_name }}.migrator.config import build_config
from {{ cookiecutter.package_name }}.migrator.session import LOCK_NAME_LIMIT, lock_name
from tests.databases import connected, on_connection, query
from tests.fixtures.scratch_migrations import (
    HUNG_SECONDS,
    ScratchMigrations,
    alembic,
    alembic_environment,
    count_run,
    failure_line,
    project_head,
    revisions_and_tables,
    run,
    run_at_once,
    stopped_with_one_line,
    wait_until,
)

SESSION_STATE = text(
    "SELECT @@SESSION.lock_wait_timeout, @@SESSION.innodb_lock_wait_timeout, "
    "@@SESSION.max_statement_time"
)
# Holds the migration lock until every other upgrade process waits in GET_LOCK(), so the test
# proves they ran at the same moment, then records how many were waiting.
WAITING_RUNS = (
    "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = DATABASE() "
    "AND ID <> CONNECTION_ID() AND INFO LIKE 'SELECT GET_LOCK(%'"
)
WAIT_FOR_QUEUED_UPGRADES = """
    op.create_table("lock_waiters", sa.Column("waiting", sa.Integer, nullable=False))
    while op.get_bind().scalar(sa.text("WAITING_RUNS")) < OTHERS:
        op.execute("DO SLEEP(0.05)")
    op.execute("INSERT INTO lock_waiters WAITING_RUNS")
""".replace("WAITING_RUNS", WAITING_RUNS)
# Billions of rows: only max_statement_time ends it (SLEEP() would return quietly instead).
ENDLESS_SELECT = (
    "SELECT COUNT(*) FROM information_schema.COLLATIONS AS a, information_schema.COLLATIONS AS b, "
    "information_schema.COLLATIONS AS c, information_schema.COLLATIONS AS d"
)
SLEEPING = (
    "SELECT COUNT(*) FROM information_schema.PROCESSLIST "
    "WHERE DB = DATABASE() AND INFO = 'DO SLEEP(600)'"
)
CREATE_WIDGETS = 'op.create_table("widgets", sa.Column("id", sa.Integer, primary_key=True))'


def lock_holder(database_url: str) -> list[tuple[object, ...]]:
    name = lock_name(str(make_url(database_url).database))
    return query(database_url, "SELECT IS_USED_LOCK(:name)", name=name)


def test_lock_names_fit_the_server_and_differ_per_database() -> None:
    long_names = [lock_name("d" * 64), lock_name("d" * 63 + "e")]

    assert all(len(name) <= LOCK_NAME_LIMIT for name in long_names)
    assert long_names[0] != long_names[1]
    assert lock_name("d" * 64) == long_names[0]
    assert lock_name("orders") != lock_name("invoices")


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
    assert lock_holder(database_url) == [(None,)]


def test_concurrent_upgrades_apply_each_revision_once(tmp_path: Path, database_url: str) -> None:
    processes = 4
    migrations = ScratchMigrations(tmp_path)
    migrations.add(
        "c0c0c0c00001",
        upgrade=[
            'op.create_table("upgrade_runs", sa.Column("revision", sa.String(12)))',
            count_run("c0c0c0c00001"),
            WAIT_FOR_QUEUED_UPGRADES.replace("OTHERS", str(processes - 1)),
        ],
    )
    migrations.add("c0c0c0c00002", upgrade=[CREATE_WIDGETS, count_run("c0c0c0c00002")])
    migrations.add(
        "c0c0c0c00003",
        upgrade=[
            'op.add_column("widgets", sa.Column("colour", sa.String(20)))',
            count_run("c0c0c0c00003"),
        ],
    )
    environment = alembic_environment(database_url, MIGRATION_STATEMENT_TIMEOUT="10min")

    results = run_at_once(migrations.command("upgrade", "head"), environment, processes)
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
    waited = "Waiting for another migration run to finish: connection"
    assert all(waited in log for log in nothing_to_do), nothing_to_do
    assert lock_holder(database_url) == [(None,)]


def test_a_killed_run_lets_the_next_one_through(tmp_path: Path, database_url: str) -> None:
    migrations = ScratchMigrations(tmp_path)
    migrations.add("deadbeef0001", upgrade=[CREATE_WIDGETS, 'op.execute("DO SLEEP(600)")'])
    environment = alembic_environment(database_url, MIGRATION_STATEMENT_TIMEOUT="2s")
    command = migrations.command("upgrade", "head")
    killed = subprocess.Popen(command, env=environment, stderr=subprocess.DEVNULL)
    wait_until(lambda: query(database_url, SLEEPING) == [(1,)], "the first run sleeps")

    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=HUNG_SECONDS)
    # The server ends the orphaned SLEEP at max_statement_time, and the lock goes with it.
    retried = run(command, {**environment, "MIGRATION_STATEMENT_TIMEOUT": "10min"})

    line = failure_line(retried)
    assert "failed at its statement 1: CREATE TABLE widgets" in line
    assert "Table 'widgets' already exists" in line
    # What a run stopped between a statement and the version table leaves, and the way out.
    assert line.endswith(
        "a run stopped after this statement and before the version table moved leaves just "
        "this: if it is this revision's, drop it, or run `alembic stamp deadbeef0001` if the "
        "revision was complete, then run again"
    )


def test_sigterm_stops_the_statement_on_the_server_and_frees_the_lock(
    tmp_path: Path, database_url: str
) -> None:
    migrations = ScratchMigrations(tmp_path)
    migrations.add("7e57e7000001", upgrade=[CREATE_WIDGETS, 'op.execute("DO SLEEP(600)")'])
    command = migrations.command("upgrade", "head")
    environment = alembic_environment(database_url, MIGRATION_STATEMENT_TIMEOUT="10min")
    stopped = subprocess.Popen(command, env=environment, stderr=subprocess.PIPE, text=True)
    wait_until(lambda: query(database_url, SLEEPING) == [(1,)], "the run sleeps")

    stopped.send_signal(signal.SIGTERM)
    _, log = stopped.communicate(timeout=HUNG_SECONDS)

    assert stopped.returncode == 130, log
    assert "Traceback" not in log
    assert "Interrupted: MySQL had already committed 1 statement(s) of it (1. CREATE TABLE" in log
    assert log.rstrip().endswith("run the command again to continue")
    # Nothing goes on in the server: no sleeping statement, no lock held.
    wait_until(lambda: query(database_url, SLEEPING) == [(0,)], "the statement is stopped")
    assert lock_holder(database_url) == [(None,)]


def test_a_blocked_migration_gives_up_after_the_lock_wait_timeout(
    tmp_path: Path, database_url: str
) -> None:
    migrations = ScratchMigrations(tmp_path)
    created = migrations.add("b10cced00001", upgrade=CREATE_WIDGETS)
    migrations.add(
        "b10cced00002", upgrade='op.add_column("widgets", sa.Column("colour", sa.String(20)))'
    )
    migrations.migrate(database_url, created)
    environment = alembic_environment(database_url, MIGRATION_LOCK_TIMEOUT="1s")

    async def upgrade_while_a_writer_holds_the_table() -> subprocess.CompletedProcess[str]:
        async with connected(database_url) as writer:
            await writer.execute(text("INSERT INTO widgets (id) VALUES (1)"))
            command = migrations.command("upgrade", "head")
            result = await asyncio.to_thread(run, command, environment)
            # The writer never let go: only lock_wait_timeout can have ended the wait.
            assert writer.in_transaction()
            return result

    result = asyncio.run(upgrade_while_a_writer_holds_the_table())

    line = failure_line(result)
    assert "could not get a lock on widgets within lock_wait_timeout" in line
    assert "(MIGRATION_LOCK_TIMEOUT=1s) at its statement 1: ALTER TABLE widgets ADD" in line
    assert "open transactions that may hold it: connection " in line
    assert "INSERT INTO widgets" in line or "transaction open for" in line
    assert f"nothing of it was applied and the database is still at {created}" in line
    assert revisions_and_tables(database_url)[0] == {created}
    columns = query(
        database_url,
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = DATABASE() AND table_name = 'widgets'",
    )
    assert columns == [("id",)]


def test_a_slow_statement_gives_up_after_the_statement_timeout(
    tmp_path: Path, database_url: str
) -> None:
    migrations = ScratchMigrations(tmp_path)
    previous = migrations.head
    migrations.add(
        "51010e000001",
        upgrade=[f'op.execute("{ENDLESS_SELECT}")', CREATE_WIDGETS],
    )
    environment = alembic_environment(database_url, MIGRATION_STATEMENT_TIMEOUT="200ms")

    result = run(migrations.command("upgrade", "head"), environment)

    line = failure_line(result)
    assert f"ran longer than MIGRATION_STATEMENT_TIMEOUT=200ms: {ENDLESS_SELECT[:80]}" in line
    revisions, tables = revisions_and_tables(database_url)
    assert revisions == ({previous} if previous else set())
    assert "widgets" not in tables


def test_a_revision_failing_at_its_second_statement_says_what_to_undo(
    tmp_path: Path, database_url: str
) -> None:
    migrations = ScratchMigrations(tmp_path)
    previous = migrations.head
    migrations.add(
        "ba1f0a000001",
        upgrade=[CREATE_WIDGETS, 'op.add_column("widgets", sa.Column("id", sa.Integer))'],
    )
    environment = alembic_environment(database_url)

    result = run(migrations.command("upgrade", "head"), environment)

    line = failure_line(result)
    assert line.startswith(
        "alembic: revision ba1f0a000001 (Test revision ba1f0a000001.) failed at its statement 2: "
        "ALTER TABLE widgets ADD COLUMN id INTEGER: Duplicate column name 'id'; "
        "MySQL had already committed 1 statement(s) of it (1. CREATE TABLE widgets ("
    )
    assert line.endswith(
        f"and the database is still marked at {previous}: undo it (DROP TABLE widgets), then "
        "fix the cause and run again; or finish the revision by hand and "
        "`alembic stamp ba1f0a000001`"
    )
    revisions, tables = revisions_and_tables(database_url)
    assert revisions == {previous}
    assert "widgets" in tables

    # Doing what the line says gets the database to head.
    on_connection(database_url, lambda connection: connection.exec_driver_sql("DROP TABLE widgets"))
    migrations.write("ba1f0a000001", previous, CREATE_WIDGETS, "pass")
    assert run(migrations.command("upgrade", "head"), environment).returncode == 0
    assert revisions_and_tables(database_url) == ({"ba1f0a000001"}, tables)


def test_a_downgrade_failing_half_way_says_to_stamp_the_revision_before(
    tmp_path: Path, database_url: str
) -> None:
    migrations = ScratchMigrations(tmp_path)
    before = migrations.add("d0d0d0000001", upgrade=CREATE_WIDGETS)
    migrations.add(
        "d0d0d0000002",
        upgrade='op.create_table("gadgets", sa.Column("id", sa.Integer, primary_key=True))',
        downgrade='op.drop_table("gadgets")\nop.execute("DROP TABLE no_such_table")',
    )
    migrations.migrate(database_url, "head")

    result = run(migrations.command("downgrade", "-1"), alembic_environment(database_url))

    line = failure_line(result)
    assert "MySQL had already committed 1 statement(s) of it (1. DROP TABLE gadgets)" in line
    assert "the database is still marked at d0d0d0000002: undo it by hand" in line
    assert line.endswith(f"or finish the revision by hand and `alembic stamp {before}`")
    assert "gadgets" not in revisions_and_tables(database_url)[1]


def test_rows_written_before_a_failing_ddl_statement_are_reported_committed(
    tmp_path: Path, database_url: str
) -> None:
    migrations = ScratchMigrations(tmp_path)
    created = migrations.add("ba1f0a000002", upgrade=CREATE_WIDGETS)
    migrations.add(
        "ba1f0a000003",
        upgrade=[
            'op.execute("INSERT INTO widgets (id) VALUES (7)")',
            'op.add_column("widgets", sa.Column("id", sa.Integer))',
        ],
    )

    result = run(migrations.command("upgrade", "head"), alembic_environment(database_url))

    line = failure_line(result)
    # MySQL commits the open transaction before it starts a DDL statement, even a failing one.
    insert = "INSERT INTO widgets (id) VALUES (7)"
    assert f"MySQL had already committed 1 statement(s) of it (1. {insert}) and" in line
    assert f"the database is still marked at {created}: undo it by hand" in line
    assert query(database_url, "SELECT id FROM widgets") == [(7,)]
    assert revisions_and_tables(database_url)[0] == {created}


def test_a_database_that_cannot_hold_unicode_is_refused(database_url: str) -> None:
    name = make_url(database_url).database
    on_mysql_server(database_url, f"ALTER DATABASE `{name}` CHARACTER SET latin1")

    result = run(alembic("upgrade", "head"), alembic_environment(database_url))

    line = stopped_with_one_line(result)
    assert line == (
        f"alembic: database {name} stores text as latin1, which cannot hold all of Unicode: "
        f"run ALTER DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci, "
        "then migrate again"
    )
    assert revisions_and_tables(database_url) == (set(), set())


@pytest.mark.parametrize("lock", ["2s", "1500ms"])
def test_offline_sql_sets_the_limits_for_mysql_and_mariadb(lock: str) -> None:
    environment = alembic_environment(
        "mysql://nobody@127.0.0.1:9/none",
        MIGRATION_LOCK_TIMEOUT=lock,
        MIGRATION_STATEMENT_TIMEOUT="90s",
    )

    result = run(alembic("upgrade", "head", "--sql"), environment)

    assert result.returncode == 0, result.stderr
    assert "SET NAMES utf8mb4;" in result.stdout
    assert "time_zone = '+00:00'" in result.stdout
    assert (
        "SET SESSION lock_wait_timeout = 2, innodb_lock_wait_timeout = 2 "
        "/*M!, max_statement_time = 90 */;"
    ) in result.stdout
