"""Deploy phases: `-x phase=pre-deploy` stops before post-deploy revisions; the rest says so."""

from pathlib import Path

import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from {{ cookiecutter.package_name }}.migrator.revisions import CodeRevisions
from tests.fixtures.scratch_migrations import (
    ScratchMigrations,
    alembic_environment,
    revisions_and_tables,
    run,
)


def create_table(name: str) -> str:
    return f'op.create_table("{name}", sa.Column("id", sa.Integer, primary_key=True))'


def drop_table(name: str) -> str:
    return f'op.drop_table("{name}")'


@pytest.fixture
def expand_contract_expand(tmp_path: Path) -> ScratchMigrations:
    """pre-deploy, post-deploy, pre-deploy: a later release's expand queued behind a contract."""
    migrations = ScratchMigrations(tmp_path)
    migrations.add("b1a5e0000001", create_table("gadgets"), drop_table("gadgets"))
    migrations.add(
        "b1a5e0000002", create_table("gizmos"), drop_table("gizmos"), phase="post-deploy"
    )
    migrations.add("b1a5e0000003", create_table("widgets"), drop_table("widgets"))
    return migrations


def test_pre_deploy_stops_before_the_first_post_deploy_revision_and_says_what_is_left(
    expand_contract_expand: ScratchMigrations, database_url: str
) -> None:
    migrations, environment = expand_contract_expand, alembic_environment(database_url)

    pre_deploy = run(migrations.command("-x", "phase=pre-deploy", "upgrade", "head"), environment)

    assert pre_deploy.returncode == 0, pre_deploy.stderr
    assert "left for after the rollout" in pre_deploy.stderr
    assert "b1a5e0000002 (Test revision b1a5e0000002.), b1a5e0000003" in pre_deploy.stderr
    revisions, tables = revisions_and_tables(database_url)
    assert revisions == {"b1a5e0000001"}
    assert "gadgets" in tables
    assert not {"gizmos", "widgets"} & tables

    again = run(migrations.command("-x", "phase=pre-deploy", "upgrade", "head"), environment)

    assert again.returncode == 0, again.stderr
    assert revisions_and_tables(database_url)[0] == {"b1a5e0000001"}

    post_deploy = run(migrations.command("upgrade", "head"), environment)

    assert post_deploy.returncode == 0, post_deploy.stderr
    revisions, tables = revisions_and_tables(database_url)
    assert revisions == {"b1a5e0000003"}
    assert {"gadgets", "gizmos", "widgets"} <= tables


def test_check_heads_tells_post_deploy_pending_from_behind(
    expand_contract_expand: ScratchMigrations, database_url: str
) -> None:
    migrations, environment = expand_contract_expand, alembic_environment(database_url)
    check_heads = migrations.command("current", "--check-heads")
    run(migrations.command("upgrade", "b1a5e0000001"), environment)

    pending = run(check_heads, environment)

    assert pending.returncode != 0
    assert (
        "pre-deploy done, post-deploy pending: b1a5e0000002 (Test revision b1a5e0000002.), "
        "b1a5e0000003 (Test revision b1a5e0000003.); run `alembic upgrade head` after the rollout"
    ) in pending.stderr

    run(migrations.command("downgrade", "-1"), environment)
    behind = run(check_heads, environment)

    assert behind.returncode != 0
    assert "the database is not at the head revision" in behind.stderr
    assert "post-deploy pending" not in behind.stderr

    run(migrations.command("upgrade", "head"), environment)
    at_head = run(check_heads, environment)

    assert at_head.returncode == 0, at_head.stderr


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (("-x", "phase=post_deploy", "upgrade", "head"), "-x phase is 'post_deploy': use"),
        (("-x", "phase=pre-deploy", "downgrade", "base"), "-x phase=pre-deploy applies to upgrade"),
    ],
    ids=["misspelt-phase", "pre-deploy-downgrade"],
)
def test_a_wrong_phase_argument_is_refused_with_one_line(
    tmp_path: Path, migrated_database_url: str, arguments: tuple[str, ...], expected: str
) -> None:
    migrations = ScratchMigrations(tmp_path)
    before = revisions_and_tables(migrated_database_url)

    refused = run(migrations.command(*arguments), alembic_environment(migrated_database_url))

    assert refused.returncode != 0
    assert f"FAILED: {expected}" in refused.stdout
    assert "Traceback" not in refused.stderr
    assert revisions_and_tables(migrated_database_url) == before


def test_a_revision_declaring_an_unknown_phase_is_refused_before_anything_runs(
    tmp_path: Path, database_url: str
) -> None:
    migrations = ScratchMigrations(tmp_path)
    migrations.add("b1a5e0000004", create_table("gadgets"), phase="later")

    refused = run(
        migrations.command("-x", "phase=pre-deploy", "upgrade", "head"),
        alembic_environment(database_url),
    )

    assert refused.returncode != 0
    assert "b1a5e0000004_test.py is 'later': use 'pre-deploy' or 'post-deploy'" in refused.stderr
    assert "gadgets" not in revisions_and_tables(database_url)[1]


@pytest.mark.parametrize(
    ("arguments", "phase"),
    [((), "pre-deploy"), (("-x", "phase=post-deploy"), "post-deploy")],
    ids=["default", "post-deploy"],
)
def test_a_hand_written_revision_declares_its_phase(
    tmp_path: Path, arguments: tuple[str, ...], phase: str
) -> None:
    migrations = ScratchMigrations(tmp_path)

    written = run(
        migrations.command(*arguments, "revision", "-m", "hand written"),
        alembic_environment(None),
    )

    assert written.returncode == 0, written.stderr
    [script] = migrations.versions.glob("*hand_written.py")
    assert f'\nphase = "{phase}"\n' in script.read_text()


def test_code_revisions_tell_post_deploy_pending_from_behind() -> None:
    code = CodeRevisions(
        heads=frozenset({"c"}),
        known=frozenset({"a", "b", "c"}),
        pre_deploy_stops=frozenset({frozenset({"b"})}),
    )

    assert code.state({"c"}) == "at head"
    assert code.state({"b"}) == "post-deploy pending"
    assert code.state({"a"}) == "behind"
    assert code.state(set()) == "behind"
    assert code.state({"d"}) == "ahead"


async def test_health_stays_ok_when_only_post_deploy_revisions_are_pending(
    app: FastAPI, client: AsyncClient
) -> None:
    """Pre-deploy ran, the new code rolls out: its replicas must pass their readiness check."""
    current = set((await client.get("/health")).json()["current_revisions"])
    newer = CodeRevisions(
        heads=frozenset({"c0de0000f00d"}),
        known=frozenset(current | {"c0de0000f00d"}),
        pre_deploy_stops=frozenset({frozenset(current)}),
    )
    shipped = app.state.code_revisions
    try:
        app.state.code_revisions = newer
        pending = await client.get("/health")
        app.state.code_revisions = newer._replace(pre_deploy_stops=frozenset())
        behind = await client.get("/health")
    finally:
        app.state.code_revisions = shipped

    assert pending.status_code == 200
    assert pending.json()["status"] == "ok"
    assert pending.json()["detail"].startswith("pre-deploy done, post-deploy pending")
    assert behind.status_code == 503
