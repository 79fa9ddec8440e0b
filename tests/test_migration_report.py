"""The migration report a reviewer reads, for a revision that blocks traffic, from a real bake.

A default bake, committed as `main`; on a branch, a revision that adds a NOT NULL column with a
volatile default (every row gets its own value, so PostgreSQL rewrites the table) and an index
built without CONCURRENTLY. `python -m devtools migration-report --base main` runs it on a
scratch database seeded by the project's `devtools/report_fixtures.py`, and reports the locks
PostgreSQL's documentation gives for those statements, the rewrite, and the linter's findings.
"""

import asyncio
import json
import re
import subprocess
from pathlib import Path

import asyncpg
import pytest

from tests.helpers import POSTGRES_SERVER, bake, install, run

UPGRADE = """\
def upgrade() -> None:
    op.add_column(
        "books",
        sa.Column("token", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
    )
    op.create_index("ix_books_token", "books", ["token"])
"""
DOWNGRADE = """\
def downgrade() -> None:
    op.drop_index("ix_books_token", table_name="books")
    op.drop_column("books", "token")
"""
FIXTURES = '''\
"""Rows for the migration report's scratch database: what production roughly looks like."""

from sqlalchemy import Connection, text


def seed(connection: Connection, revision: str | None) -> None:
    connection.execute(text("INSERT INTO authors (name, email) VALUES ('Ann', 'ann@example.com')"))
    connection.execute(
        text(
            "INSERT INTO books (title, pages, author_id) "
            "SELECT 'Book', 10, 1 FROM generate_series(1, 500)"
        )
    )
'''
SCRATCH_DATABASES = "SELECT datname FROM pg_database WHERE datname LIKE 'report\\_%'"


def git(project: Path, *args: str) -> None:
    identity = ["-c", "user.name=Test", "-c", "user.email=test@example.com"]
    subprocess.run(["git", *identity, *args], cwd=project, check=True, capture_output=True)


def write_the_revision(project: Path, env: dict[str, str]) -> Path:
    versions = project / "migrations" / "versions"
    before = set(versions.glob("*.py"))
    run(["alembic", "revision", "-m", "books get a public token"], project, env)
    [revision] = sorted(set(versions.glob("*.py")) - before)
    source = revision.read_text().replace("- [ ]", "- [x]")
    source = re.sub(
        r"^Why: <.*>$", "Why: links to a book must not expose its id.", source, flags=re.M
    )
    source = source.replace("def upgrade() -> None:\n    pass\n", UPGRADE)
    revision.write_text(source.replace("def downgrade() -> None:\n    pass\n", DOWNGRADE))
    return revision


async def scratch_databases() -> set[str]:
    connection = await asyncpg.connect(f"postgresql://{POSTGRES_SERVER}/postgres", timeout=5)
    try:
        return {row[0] for row in await connection.fetch(SCRATCH_DATABASES)}
    finally:
        await connection.close()


def modes(statement: dict[str, object]) -> dict[str, str]:
    locks = statement["locks"]
    assert isinstance(locks, list)
    return {lock["relation"]: lock["mode"] for lock in locks}


@pytest.mark.realdb
def test_the_report_shows_the_locks_the_rewrite_and_the_findings(
    tmp_path: Path, clean_env: dict[str, str]
) -> None:
    project = bake(tmp_path)
    env = {
        **install(project, clean_env),
        # The report makes its scratch database next to this one and never writes to it.
        "DATABASE_URL": f"postgresql+asyncpg://{POSTGRES_SERVER}/postgres",
    }
    git(project, "init", "--quiet", "--initial-branch=main")
    git(project, "add", "--all")
    git(project, "commit", "--quiet", "--message", "baked")
    git(project, "switch", "--quiet", "--create", "books-token")
    (project / "devtools" / "report_fixtures.py").write_text(FIXTURES)
    revision = write_the_revision(project, env)
    before = asyncio.run(scratch_databases())

    command = ["python", "-m", "devtools", "migration-report", "--base", "main"]
    run([*command, "--output", "report.md", "--json", "report.json"], project, env)

    assert asyncio.run(scratch_databases()) == before, "the scratch database is dropped"
    report = json.loads((project / "report.json").read_text())
    assert report["schema_version"] == 1
    assert report["base"] == "main"
    (reported,) = report["revisions"]
    assert reported["revision"] in revision.name
    assert (reported["message"], reported["phase"]) == ("books get a public token", "pre-deploy")
    add_column, create_index = reported["statements"]
    assert add_column["sql"].startswith("ALTER TABLE books ADD COLUMN token UUID DEFAULT")
    # PostgreSQL's documentation: ALTER TABLE ADD COLUMN takes ACCESS EXCLUSIVE, CREATE INDEX
    # takes SHARE (it blocks writes, not reads).
    assert modes(add_column)["books"] == "ACCESS EXCLUSIVE"
    assert add_column["rewrites"] == ["books"]
    assert add_column["rows"] == {"books": 500}
    assert create_index["sql"] == "CREATE INDEX ix_books_token ON books (token)"
    assert modes(create_index)["books"] == "SHARE"
    assert modes(create_index)["ix_books_token"] == "ACCESS EXCLUSIVE"
    assert [lock["new_relation"] for lock in create_index["locks"]] == [False, True]
    assert add_column["transaction"] == create_index["transaction"] == 1
    assert reported["rewrites"] == ["books"]
    rules = {rule for finding in reported["findings"] for rule in finding["rule"].split(",")}
    assert {"squawk:adding-field-with-default", "squawk:require-concurrent-index-creation"} <= rules
    assert not any(finding["acknowledged"] for finding in reported["findings"])
    assert (report["verdict"], reported["verdict"]) == ("red", "red")
    assert [change["what"] for change in reported["changes"]] == ["column added", "index created"]

    markdown = (project / "report.md").read_text()
    assert markdown.startswith("<!-- migration-report -->\n## Migration report: 🔴 red\n")
    assert (
        f"| `{reported['revision']}` books get a public token | pre-deploy | "
        f"ACCESS EXCLUSIVE on books | books | {len(reported['findings'])} | 🔴 red |"
    ) in markdown.splitlines()
    assert "| SHARE on books<br>ACCESS EXCLUSIVE on ix_books_token (new) |" in markdown
    assert 'UUID token "added; index created (ix_books_token)"' in markdown
