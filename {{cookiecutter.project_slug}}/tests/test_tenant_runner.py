"""The fan-out runner over a few dozen real tenants: canaries, failures recorded, re-runs, progress.

The test revision fails in the tenants named in BROKEN, from inside PostgreSQL (the search_path
names the tenant being migrated), so the failure is a real one, in a real worker.
"""

import logging
import sys
from pathlib import Path

import pytest
from alembic.command import upgrade

from {{ cookiecutter.package_name }}.migrator import progress
from {{ cookiecutter.package_name }}.migrator.tenancy import tenant_versions
from {{ cookiecutter.package_name }}.settings import Settings
from {{ cookiecutter.package_name }}.tenants import create_tenants
from tests.databases import on_connection, query, run_alembic
from tests.fixtures.scratch_migrations import (
    ScratchMigrations,
    alembic_environment,
    project_head,
    run,
)

TENANTS = [f"t{index:02d}" for index in range(1, 25)]
BROKEN = ("t07", "t13")
REVISION = "f4f4f4f40001"
FAILS_IN_BROKEN_TENANTS = f"""
    op.execute(
        '''
        DO $$ BEGIN
            IF current_schema() IN ({", ".join(f"'tenant_{name}'" for name in BROKEN)}) THEN
                RAISE EXCEPTION 'this tenant is broken';
            END IF;
        END $$
        '''
    )
"""
ADD_COLUMN = 'op.add_column("notes", sa.Column("colour", sa.String(20)))'
CREATE_NOTES = 'op.create_table("notes", sa.Column("id", sa.Integer, primary_key=True))'
PACKAGE = "{{ cookiecutter.package_name }}"
TENANTS_CLI = [sys.executable, "-m", f"{PACKAGE}.tenants"]


@pytest.fixture
def tenants_database(database_url: str) -> str:
    """A database at the project's head with TENANTS created through the CLI's code path."""
    run_alembic(database_url, lambda config: upgrade(config, "head"))
    assert create_tenants(Settings(database_url=database_url), TENANTS) == TENANTS
    return database_url


@pytest.fixture
def migrations(tmp_path: Path) -> ScratchMigrations:
    """Two revisions: one every tenant takes, then one that fails in the BROKEN tenants."""
    migrations = ScratchMigrations(tmp_path)
    migrations.add("f4f4f4f40000", CREATE_NOTES, 'op.drop_table("notes")')
    migrations.add(REVISION, [FAILS_IN_BROKEN_TENANTS, ADD_COLUMN])
    return migrations


def versions(database_url: str) -> dict[str, tuple[str, ...]]:
    return on_connection(database_url, lambda connection: tenant_versions(connection, TENANTS))


def at(database_url: str, revision: str | None) -> set[str]:
    wanted = () if revision is None else (revision,)
    return {name for name, found in versions(database_url).items() if found == wanted}


def upgrade_head(
    migrations: ScratchMigrations, database_url: str, **settings: str
) -> tuple[int, str]:
    result = run(
        migrations.command("upgrade", "head"), alembic_environment(database_url, **settings)
    )
    return result.returncode, result.stdout + result.stderr


def test_failures_are_recorded_and_the_other_tenants_migrated(
    tenants_database: str, migrations: ScratchMigrations
) -> None:
    returncode, output = upgrade_head(migrations, tenants_database)

    assert returncode != 0
    assert at(tenants_database, REVISION) == set(TENANTS) - set(BROKEN)
    # Each revision commits on its own: the broken tenants keep the one before.
    assert at(tenants_database, "f4f4f4f40000") == set(BROKEN)
    colours = query(
        tenants_database,
        "SELECT table_schema FROM information_schema.columns WHERE column_name = 'colour'",
    )
    assert {schema for (schema,) in colours} == {
        f"tenant_{name}" for name in [*TENANTS, "template"] if name not in BROKEN
    }
    # One line per failure as it happens, and the run's error naming them all.
    for name in BROKEN:
        assert (
            f"tenant {name} at upgrade f4f4f4f40000 -> {REVISION} (Test revision {REVISION}.): "
            "RaiseError: this tenant is broken"
        ) in output
    assert f"2 of {len(TENANTS)} tenants failed, the others are migrated: tenant t07 at" in output
    assert "run the command again: it migrates only the tenants not done yet" in output
    # Not a terminal: plain progress lines.
    assert f"Migrating {len(TENANTS)} tenants on 4 connection(s); canaries first: t01" in output
    assert f"Tenants: {len(TENANTS)}/{len(TENANTS)} done, 2 failed, in " in output
    assert "Running upgrade" not in output.split("Migrating")[1]


def test_a_rerun_migrates_only_the_tenants_left_behind(
    tenants_database: str, migrations: ScratchMigrations
) -> None:
    assert upgrade_head(migrations, tenants_database)[0] != 0
    migrations.write(REVISION, "f4f4f4f40000", ADD_COLUMN, "pass")  # the fix

    returncode, output = upgrade_head(migrations, tenants_database)

    assert returncode == 0, output
    assert "Migrating 2 tenants on 2 connection(s); canaries first: t07" in output
    assert "Tenants: 2/2 done, 0 failed" in output
    assert at(tenants_database, REVISION) == set(TENANTS)
    again = upgrade_head(migrations, tenants_database)
    assert again[0] == 0 and "Migrating" not in again[1], again[1]
    assert "Nothing to do" in again[1]


def test_a_failing_canary_stops_the_run_before_any_other_tenant(
    tenants_database: str, migrations: ScratchMigrations
) -> None:
    returncode, output = upgrade_head(migrations, tenants_database, MIGRATION_CANARY_TENANTS="t13")

    assert returncode != 0
    assert (
        f"canary tenant t13 at upgrade f4f4f4f40000 -> {REVISION} (Test revision {REVISION}.): "
        "RaiseError: this tenant is broken; no other tenant was migrated"
    ) in output
    assert at(tenants_database, project_head()) == set(TENANTS) - {"t13"}
    assert at(tenants_database, "f4f4f4f40000") == {"t13"}


def test_a_canary_name_that_is_no_tenant_stops_the_run(
    tenants_database: str, migrations: ScratchMigrations
) -> None:
    returncode, output = upgrade_head(
        migrations, tenants_database, MIGRATION_CANARY_TENANTS="t01,t99"
    )

    assert returncode != 0
    assert "MIGRATION_CANARY_TENANTS names t99, which is not a registered tenant" in output
    assert at(tenants_database, project_head()) == set(TENANTS)


def test_one_worker_migrates_in_the_run_itself_with_the_same_record(
    tenants_database: str, migrations: ScratchMigrations
) -> None:
    returncode, output = upgrade_head(migrations, tenants_database, MIGRATION_TENANT_WORKERS="1")

    assert returncode != 0
    assert f"Migrating {len(TENANTS)} tenants on 1 connection(s)" in output
    assert f"2 of {len(TENANTS)} tenants failed" in output
    assert at(tenants_database, REVISION) == set(TENANTS) - set(BROKEN)


def test_progress_lines_come_every_interval_when_not_a_terminal(
    tenants_database: str,
    migrations: ScratchMigrations,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(progress, "PROGRESS_LOG_SECONDS", 0.0)
    migrations.write(REVISION, "f4f4f4f40000", ADD_COLUMN, "pass")

    with caplog.at_level(logging.INFO, logger="alembic.env.tenants"):
        run_alembic(
            tenants_database,
            lambda config: upgrade(config, "head"),
            script_location=migrations.ini.parent / "migrations",
        )

    lines = [record.getMessage() for record in caplog.records]
    counts = [f"Tenants: {done}/{len(TENANTS)} done, 0 failed" for done in (1, 12, len(TENANTS))]
    assert all(any(line.startswith(count) for line in lines) for count in counts), lines
    assert at(tenants_database, REVISION) == set(TENANTS)


def test_the_tenants_cli_creates_from_a_file_lists_and_drops(
    tenants_database: str, tmp_path: Path
) -> None:
    environment = alembic_environment(tenants_database)
    names = tmp_path / "tenants.txt"
    names.write_text("# new customers\nacme\n\nglobex  # from the sales list\n")

    created = run([*TENANTS_CLI, "create", "initech", "--from-file", str(names)], environment)
    refused = run([*TENANTS_CLI, "create", "acme", "umbrella"], environment)
    unconfirmed = run([*TENANTS_CLI, "drop", "globex"], environment)
    dropped = run([*TENANTS_CLI, "drop", "globex", "--yes"], environment)
    listed = run([*TENANTS_CLI, "list"], environment)

    assert created.returncode == 0, created.stderr
    assert created.stdout.splitlines() == [
        f"tenant {name} created in schema tenant_{name}" for name in ("initech", "acme", "globex")
    ]
    assert (refused.returncode, refused.stderr.strip()) == (
        2,
        "error: tenant acme exists already: choose another name",
    )
    assert unconfirmed.returncode == 2
    assert "run again with --yes to confirm" in unconfirmed.stderr
    assert dropped.returncode == 0, dropped.stderr
    assert (
        query(tenants_database, "SELECT 1 FROM pg_namespace WHERE nspname = 'tenant_globex'") == []
    )
    rows = {line.split()[0]: line.split()[1:] for line in listed.stdout.splitlines()}
    assert set(rows) == {*TENANTS, "initech", "acme"}
    assert rows["acme"] == [project_head(), "at", "head"]


def test_tenants_list_shows_who_is_behind(
    tenants_database: str, migrations: ScratchMigrations
) -> None:
    upgrade_head(migrations, tenants_database)
    environment = alembic_environment(tenants_database)
    listed = run([*TENANTS_CLI, "list"], {**environment, "ALEMBIC_INI": str(migrations.ini)})

    rows = {line.split()[0]: line.split()[1:] for line in listed.stdout.splitlines()}
    assert rows["t07"] == ["f4f4f4f40000", "behind"]
    assert rows["t01"] == [REVISION, "at", "head"]
