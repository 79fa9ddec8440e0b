"""The N-1 test of a real bake: the base branch's API tests on a change's pre-deploy schema.

A change that drops a column the running release still reads fails it while the drop is a
pre-deploy revision, and passes once the drop is post-deploy, where it belongs.
"""

import asyncio
import subprocess
from pathlib import Path

import asyncpg
import pytest

from tests.helpers import (
    POSTGRES_SERVER,
    bake,
    install,
    postgres_problem,
    run,
    scratch_postgres_database,
)

pytestmark = pytest.mark.realdb

# The books' title is what the base's API tests create, read and list books by.
DROP_BOOK_TITLE = '''"""Drop books.title.

Revision ID: d7091e00b00c
Revises: 5c8a1d2e9f03
"""

import sqlalchemy as sa
from alembic import op

revision = "d7091e00b00c"
down_revision = "5c8a1d2e9f03"
branch_labels = None
depends_on = None
phase = "{phase}"


def upgrade() -> None:
    op.drop_column("books", "title")


def downgrade() -> None:
    op.add_column("books", sa.Column("title", sa.String(300), nullable=True))
'''
REVISION_FILE = "migrations/versions/2026_12_01_1200-d7091e00b00c_drop_book_title.py"
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Template Test",
    "GIT_AUTHOR_EMAIL": "template-test@example.com",
    "GIT_COMMITTER_NAME": "Template Test",
    "GIT_COMMITTER_EMAIL": "template-test@example.com",
}


async def databases_named_like(prefix: str) -> set[str]:
    connection = await asyncpg.connect(f"postgresql://{POSTGRES_SERVER}/postgres", timeout=5)
    try:
        rows = await connection.fetch(
            "SELECT datname FROM pg_database WHERE starts_with(datname, $1)", prefix
        )
        return {row[0] for row in rows}
    finally:
        await connection.close()


def n_minus_one(project: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["python", "-m", "devtools", "n-minus-one"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def commit_drop_in_phase(project: Path, env: dict[str, str], phase: str) -> None:
    (project / REVISION_FILE).write_text(DROP_BOOK_TITLE.format(phase=phase))
    run(["git", "add", REVISION_FILE], project, env)
    run(["git", "commit", "--quiet", "--message", f"Drop books.title ({phase})"], project, env)


def test_a_pre_deploy_drop_fails_the_n_minus_one_test_and_a_post_deploy_one_passes(
    tmp_path: Path, clean_env: dict[str, str]
) -> None:
    if problem := postgres_problem():
        pytest.fail(problem)
    project = bake(tmp_path)
    env = {**install(project, clean_env), **GIT_IDENTITY}
    run(["git", "init", "--quiet", "--initial-branch", "main"], project, env)
    run(["git", "add", "--all"], project, env)
    run(["git", "commit", "--quiet", "--message", "The release running now"], project, env)
    run(["git", "switch", "--quiet", "--create", "drop-book-title"], project, env)
    scratch_prefix = "n_minus_one_"
    left_before = asyncio.run(databases_named_like(scratch_prefix))

    with scratch_postgres_database("template_n_minus_one") as database:
        env["DATABASE_URL"] = f"postgresql+asyncpg://{POSTGRES_SERVER}/{database}"

        commit_drop_in_phase(project, env, "pre-deploy")
        failed = n_minus_one(project, env)
        assert failed.returncode == 1, failed.stdout + failed.stderr
        assert "FAILED tests/test_library_api.py::test_book_lifecycle" in failed.stdout
        assert 'column "title" of relation "books" does not exist' in failed.stdout
        assert "fail on this pre-deploy schema" in failed.stderr
        assert "post-deploy revision" in failed.stderr

        commit_drop_in_phase(project, env, "post-deploy")
        passed = n_minus_one(project, env)
        assert passed.returncode == 0, passed.stdout + passed.stderr
        assert "passed" in passed.stdout and "failed" not in passed.stdout
        assert "pass on this pre-deploy schema" in passed.stdout

    # The worktree and the scratch database are gone; the branch is as it was.
    worktrees = run(["git", "worktree", "list"], project, env).stdout.splitlines()
    assert len(worktrees) == 1 and "[drop-book-title]" in worktrees[0]
    assert asyncio.run(databases_named_like(scratch_prefix)) <= left_before
    assert run(["git", "status", "--porcelain"], project, env).stdout == ""
