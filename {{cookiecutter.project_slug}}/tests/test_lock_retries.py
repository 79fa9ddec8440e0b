"""Lock contention on PostgreSQL: a revision that gives up on lock_timeout is tried again.

A reader keeps a transaction open on a table the next revision alters. The run gives up after
lock_timeout, rolls the revision back, waits, and tries again; when its retries run out it
names the reader. Other clients are never queued behind it for longer than lock_timeout.
Revisions may set their own timeouts.
"""

import asyncio
import signal
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from alembic.command import upgrade
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection

from {{ cookiecutter.package_name }}.migrator.blockers import WATCH_APPLICATION_NAME
from {{ cookiecutter.package_name }}.migrator.config import build_config
from {{ cookiecutter.package_name }}.migrator.locks import LockRetriesExhausted
from {{ cookiecutter.package_name }}.settings import Settings
from tests.databases import connected, on_connection, query, run_alembic
from tests.fixtures.scratch_migrations import (
    HUNG_SECONDS,
    PROJECT,
    ScratchMigrations,
    alembic_environment,
    failure_line,
    revisions_and_tables,
    run,
    wait_until,
)

CREATE_WIDGETS = 'op.create_table("widgets", sa.Column("id", sa.Integer, primary_key=True))'
ADD_COLOUR = 'op.add_column("widgets", sa.Column("colour", sa.String(20)))'
READER_NAME = "nightly report"
READ_WIDGETS = "SELECT count(*) FROM widgets"
# Fast retries: these tests are about what happens, not about the default pace.
QUICK_RETRIES = {"MIGRATION_LOCK_RETRIES": "2", "MIGRATION_LOCK_RETRY_DELAY": "100ms"}


def widgets_then_colour(
    tmp_path: Path, database_url: str, add_colour: str = ADD_COLOUR
) -> tuple[ScratchMigrations, str]:
    """Migrations that create widgets (applied here) and then add a column to it (pending)."""
    migrations = ScratchMigrations(tmp_path)
    created = migrations.add("10c000000001", upgrade=CREATE_WIDGETS)
    migrations.add("10c000000002", upgrade=add_colour)
    migrations.migrate(database_url, created)
    return migrations, created


@asynccontextmanager
async def reader_in_a_transaction(database_url: str) -> AsyncIterator[AsyncConnection]:
    """A session that has read widgets and keeps its transaction (and its lock) open."""
    async with connected(database_url) as reader:
        await reader.execute(text(f"SET application_name = '{READER_NAME}'"))
        await reader.execute(text(READ_WIDGETS))
        yield reader


async def backend_pid(connection: AsyncConnection) -> int:
    return int(await connection.scalar(text("SELECT pg_backend_pid()")) or 0)


def columns(database_url: str) -> list[tuple[str]]:
    statement = "SELECT column_name FROM information_schema.columns WHERE table_name = 'widgets'"
    return [(str(name),) for (name,) in query(database_url, statement)]


def sessions_named(database_url: str, application_name: str) -> int:
    statement = "SELECT count(*) FROM pg_stat_activity WHERE application_name = :name"
    [(count,)] = query(database_url, statement, name=application_name)
    return int(count)


async def upgrade_reacting_to(
    migrations: ScratchMigrations,
    environment: dict[str, str],
    cue: str,
    react: Callable[[asyncio.subprocess.Process], Awaitable[None]],
) -> tuple[int, str]:
    """`alembic upgrade head` in a process of its own; `react` runs at each log line holding
    `cue`. Returns the exit code and the log."""
    process = await asyncio.create_subprocess_exec(
        *migrations.command("upgrade", "head"),
        env=environment,
        cwd=PROJECT,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    log = []
    async with asyncio.timeout(HUNG_SECONDS):
        while line := (await process.stderr.readline()).decode():
            log.append(line)
            if cue in line:
                await react(process)
        return await process.wait(), "".join(log)


def lines_with(text_in_line: str, log: str) -> list[str]:
    return [line for line in log.splitlines() if text_in_line in line]


def test_a_revision_blocked_on_every_retry_names_the_session_that_blocked_it(
    tmp_path: Path, database_url: str
) -> None:
    migrations, created = widgets_then_colour(tmp_path, database_url)
    environment = alembic_environment(database_url, MIGRATION_LOCK_TIMEOUT="300ms", **QUICK_RETRIES)

    async def upgrade_while_blocked() -> tuple[str, int]:
        async with reader_in_a_transaction(database_url) as reader:
            command = migrations.command("upgrade", "head")
            result = await asyncio.to_thread(run, command, environment)
            # The reader never let go: only giving up can have ended the run.
            assert reader.in_transaction()
            return failure_line(result), await backend_pid(reader)

    line, reader_pid = asyncio.run(upgrade_while_blocked())

    assert "could not get a lock on widgets within lock_timeout" in line
    assert "(MIGRATION_LOCK_TIMEOUT=300ms)" in line
    assert f"gave up after 2 retries: blocked by pid {reader_pid} ({READER_NAME}, " in line
    assert "idle in transaction, for " in line
    assert f"s: {READ_WIDGETS})" in line
    assert revisions_and_tables(database_url)[0] == {created}
    assert columns(database_url) == [("id",)]


@pytest.mark.parametrize(
    "add_colour",
    [ADD_COLOUR, f"with op.get_context().autocommit_block():\n    {ADD_COLOUR}"],
    ids=["in-its-transaction", "in-an-autocommit-block"],
)
def test_each_retry_is_logged_and_the_revision_applies_once_the_blocker_is_gone(
    add_colour: str, tmp_path: Path, database_url: str
) -> None:
    migrations, _ = widgets_then_colour(tmp_path, database_url, add_colour)
    environment = alembic_environment(
        database_url,
        MIGRATION_LOCK_TIMEOUT="300ms",
        MIGRATION_LOCK_RETRIES="5",
        MIGRATION_LOCK_RETRY_DELAY="100ms",
    )

    async def upgrade_until_the_reader_commits() -> tuple[int, str]:
        async with reader_in_a_transaction(database_url) as reader:

            async def commit(process: asyncio.subprocess.Process) -> None:
                await reader.commit()

            return await upgrade_reacting_to(migrations, environment, "retry 2/5", commit)

    returncode, log = asyncio.run(upgrade_until_the_reader_commits())

    assert returncode == 0, log
    assert revisions_and_tables(database_url)[0] == {"10c000000002"}
    assert columns(database_url) == [("id",), ("colour",)]
    retries = lines_with("could not get a lock within lock_timeout", log)
    # The reader commits on seeing retry 2; a slow machine may need one more attempt.
    assert len(retries) >= 2, log
    assert "upgrade 10c000000001 -> 10c000000002" in retries[0]
    assert "rolled back, retry 1/5 in 0.1s" in retries[0]
    # By the second attempt the watch has seen who blocks the revision.
    assert "blocked by pid" in retries[1] and READER_NAME in retries[1]
    assert "rolled back, retry 2/5 in 0.2s" in retries[1]


def test_sigterm_ends_the_wait_between_attempts(tmp_path: Path, database_url: str) -> None:
    migrations, created = widgets_then_colour(tmp_path, database_url)
    # Only a cancelled wait ends the run before the test gives up on it (HUNG_SECONDS).
    environment = alembic_environment(
        database_url, MIGRATION_LOCK_TIMEOUT="300ms", MIGRATION_LOCK_RETRY_DELAY="1h"
    )

    async def stop_while_waiting_to_retry() -> tuple[int, str]:
        async with reader_in_a_transaction(database_url):

            async def stop(process: asyncio.subprocess.Process) -> None:
                process.send_signal(signal.SIGTERM)

            return await upgrade_reacting_to(migrations, environment, "retry 1/3 in 3600s", stop)

    returncode, log = asyncio.run(stop_while_waiting_to_retry())

    assert returncode == 130, log
    assert "alembic: interrupted: the revision in progress was rolled back" in log
    assert revisions_and_tables(database_url)[0] == {created}


def test_an_in_process_run_raises_the_blocked_revision_and_leaves_no_connection(
    tmp_path: Path, database_url: str
) -> None:
    migrations, created = widgets_then_colour(tmp_path, database_url)
    settings = Settings(
        database_url=database_url,
        migration_lock_timeout="200ms",
        migration_lock_retries=2,
        migration_lock_retry_delay="100ms",
    )

    async def upgrade_in_process_while_blocked() -> tuple[pytest.ExceptionInfo[DBAPIError], int]:
        async with reader_in_a_transaction(database_url) as reader:
            with pytest.raises(DBAPIError) as raised:
                await asyncio.to_thread(
                    run_alembic,
                    database_url,
                    lambda config: upgrade(config, "head"),
                    script_location=migrations.versions.parent,
                    settings=settings,
                )
            return raised, await backend_pid(reader)

    raised, reader_pid = asyncio.run(upgrade_in_process_while_blocked())

    assert isinstance(raised.value, LockRetriesExhausted)
    assert isinstance(raised.value, OperationalError)
    assert raised.value.retries == 2
    assert [blocker.pid for blocker in raised.value.blockers] == [reader_pid]
    assert revisions_and_tables(database_url)[0] == {created}
    # The watch closed its connection; the server ends the backend a moment later.
    wait_until(lambda: sessions_named(database_url, WATCH_APPLICATION_NAME) == 0)


def test_a_callers_transaction_is_not_retried(tmp_path: Path, database_url: str) -> None:
    """Its failure rolled back everything the caller did: there is nothing to resume."""
    migrations, _ = widgets_then_colour(tmp_path, database_url)
    settings = Settings(database_url=database_url, migration_lock_timeout="200ms")

    async def upgrade_in_a_callers_transaction() -> BaseException:
        async with (
            reader_in_a_transaction(database_url),
            connected(database_url) as connection,
        ):
            await connection.begin()
            with pytest.raises(DBAPIError) as raised:
                await connection.run_sync(
                    lambda sync: upgrade(
                        build_config(
                            sync, script_location=migrations.versions.parent, settings=settings
                        ),
                        "head",
                    )
                )
            return raised.value

    error = asyncio.run(upgrade_in_a_callers_transaction())

    assert getattr(error.orig, "sqlstate", None) == "55P03"
    assert not isinstance(error, LockRetriesExhausted)
    assert columns(database_url) == [("id",)]


def test_other_clients_never_wait_behind_the_migration_longer_than_lock_timeout(
    tmp_path: Path, database_url: str
) -> None:
    """An ALTER TABLE queued for its lock queues every later query on the table behind it,
    until lock_timeout ends its wait; between attempts nothing is queued."""
    migrations, _ = widgets_then_colour(tmp_path, database_url)
    lock_timeout = 2.0
    environment = alembic_environment(
        database_url,
        MIGRATION_LOCK_TIMEOUT=f"{lock_timeout:g}s",
        MIGRATION_LOCK_RETRIES="2",
        MIGRATION_LOCK_RETRY_DELAY="200ms",
    )
    # A read and a write, timed by the server from before the table is locked until after:
    # the wait for the lock, not the client's or the scheduler's delays.
    on_connection(
        database_url,
        lambda connection: connection.execute(
            text(
                """
                CREATE FUNCTION probe() RETURNS float LANGUAGE plpgsql AS $$
                DECLARE started timestamptz := clock_timestamp();
                BEGIN
                    PERFORM count(*) FROM widgets;
                    INSERT INTO widgets DEFAULT VALUES;
                    RETURN extract(epoch FROM clock_timestamp() - started);
                END $$
                """
            )
        ),
    )

    async def probe_while_upgrading() -> tuple[int, list[float]]:
        async with reader_in_a_transaction(database_url):
            upgrading = asyncio.create_task(
                asyncio.to_thread(run, migrations.command("upgrade", "head"), environment)
            )
            waits = []
            async with connected(database_url) as client:
                await client.execution_options(isolation_level="AUTOCOMMIT")
                while not upgrading.done():
                    waits.append(float(await client.scalar(text("SELECT probe()")) or 0))
            return (await upgrading).returncode, waits

    returncode, waits = asyncio.run(probe_while_upgrading())

    assert returncode == 1
    # The probes did queue behind the migration's attempts...
    assert max(waits) > lock_timeout / 4, waits
    # ...and never longer than its lock_timeout (plus the server's own slowness).
    assert max(waits) < lock_timeout + 1, waits


def with_attributes(migrations: ScratchMigrations, revision: str, attributes: str) -> None:
    """Module-level lines in a revision file, after its identifiers."""
    path = migrations.versions / f"{revision}_test.py"
    source = path.read_text()
    path.write_text(source.replace("depends_on = None\n", f"depends_on = None\n{attributes}\n"))


RECORD_TIMEOUTS = """
    op.execute(
        "INSERT INTO seen SELECT '{label}', current_setting('statement_timeout'), "
        "current_setting('lock_timeout')"
    )
"""


def timed_revisions(tmp_path: Path) -> ScratchMigrations:
    """A revision with its own timeouts, between two that run with the run's."""
    migrations = ScratchMigrations(tmp_path)
    migrations.add(
        "713e00000001",
        upgrade=[
            'op.create_table("seen", *(sa.Column(c, sa.Text) for c in ("label", "st", "lt")))',
            RECORD_TIMEOUTS.format(label="before"),
        ],
    )
    migrations.add(
        "713e00000002",
        upgrade=[
            RECORD_TIMEOUTS.format(label="own"),
            "with op.get_context().autocommit_block():\n"
            + textwrap.indent(
                textwrap.dedent(RECORD_TIMEOUTS.format(label="own, autocommit")), "    "
            ),
        ],
    )
    with_attributes(migrations, "713e00000002", 'statement_timeout = "7min"\nlock_timeout = "3s"')
    migrations.add("713e00000003", upgrade=RECORD_TIMEOUTS.format(label="after"))
    return migrations


def test_a_revision_sets_its_own_timeouts_for_itself_only(
    tmp_path: Path, database_url: str
) -> None:
    migrations = timed_revisions(tmp_path)
    environment = alembic_environment(
        database_url, MIGRATION_STATEMENT_TIMEOUT="45s", MIGRATION_LOCK_TIMEOUT="4s"
    )

    result = run(migrations.command("upgrade", "head"), environment)

    assert result.returncode == 0, result.stderr
    assert query(database_url, "SELECT label, st, lt FROM seen") == [
        ("before", "45s", "4s"),
        ("own", "7min", "3s"),
        ("own, autocommit", "7min", "3s"),
        ("after", "45s", "4s"),
    ]


def test_offline_sql_shows_a_revisions_own_timeouts(tmp_path: Path) -> None:
    migrations = timed_revisions(tmp_path)
    environment = alembic_environment(
        "postgresql+asyncpg://nobody@127.0.0.1:1/offline", MIGRATION_STATEMENT_TIMEOUT="45s"
    )

    result = run(migrations.command("upgrade", "713e00000001:head", "--sql"), environment)

    assert result.returncode == 0, result.stderr
    assert result.stdout.count("-- Running upgrade 713e00000001 -> 713e00000002") >= 1
    # The last one: a schema-per-tenant script runs the shared part first, then the tenant's.
    *_, own = result.stdout.split("-- Running upgrade 713e00000001 -> 713e00000002")
    own, *_ = own.split("-- Running upgrade 713e00000002 -> 713e00000003")
    assert own.index("SET statement_timeout = '7min';") < own.index("INSERT INTO seen")
    assert own.index("SET lock_timeout = '3s';") < own.index("INSERT INTO seen")
    assert own.rindex("SET statement_timeout = '45s';") > own.rindex("INSERT INTO seen")
    assert own.rindex("SET lock_timeout = '5s';") > own.rindex("INSERT INTO seen")


def test_a_revisions_own_lock_timeout_bounds_its_wait(tmp_path: Path, database_url: str) -> None:
    migrations, created = widgets_then_colour(tmp_path, database_url)
    with_attributes(migrations, "10c000000002", 'lock_timeout = "300ms"')
    # Without the revision's own value, the run would wait minutes for each attempt.
    environment = alembic_environment(
        database_url,
        MIGRATION_LOCK_TIMEOUT="5min",
        MIGRATION_LOCK_RETRIES="1",
        MIGRATION_LOCK_RETRY_DELAY="100ms",
    )

    async def upgrade_while_blocked() -> str:
        async with reader_in_a_transaction(database_url):
            result = await asyncio.to_thread(
                run, migrations.command("upgrade", "head"), environment
            )
            return failure_line(result)

    line = asyncio.run(upgrade_while_blocked())

    assert "within lock_timeout (lock_timeout = '300ms' in revision 10c000000002)" in line
    assert "gave up after 1 retry: blocked by pid" in line
    assert revisions_and_tables(database_url)[0] == {created}


def test_a_timeout_that_is_not_a_duration_is_refused(tmp_path: Path) -> None:
    migrations = ScratchMigrations(tmp_path)
    migrations.add("713e00000009", upgrade="pass")
    with_attributes(migrations, "713e00000009", 'lock_timeout = "soon"')
    environment = alembic_environment("postgresql+asyncpg://nobody@127.0.0.1:1/offline")

    result = run(migrations.command("upgrade", "head", "--sql"), environment)

    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "lock_timeout in " in result.stderr
    assert "713e00000009_test.py is 'soon': use a duration such as '500ms'" in result.stderr
