"""`python -m devtools migration-report` on test revisions: the locks {{ "PostgreSQL really takes" if cookiecutter.database == "postgresql" else "MySQL is not asked for" if cookiecutter.database == "mysql" else "SQLite cannot show" }}.

Each test writes revisions on top of the project's head in a copy of migrations/, and the report
runs them on a scratch database of its own.
"""

import json
{%- if cookiecutter.database != "sqlite" %}
import os
import signal
{%- endif %}
import subprocess
{%- if cookiecutter.database != "sqlite" %}
import sys
{%- endif %}
from pathlib import Path
from typing import Any

import pytest

from devtools.__main__ import main
{%- if cookiecutter.database != "sqlite" %}
from tests.databases import query
from tests.fixtures.scratch_migrations import HUNG_SECONDS, PROJECT, ScratchMigrations, wait_until
{%- else %}
from tests.fixtures.scratch_migrations import PROJECT, ScratchMigrations
{%- endif %}

CREATE_GADGETS = """
op.create_table(
    "gadgets",
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
)
op.create_table(
    "parts", sa.Column("id", sa.Integer, primary_key=True), sa.Column("gadget_id", sa.Integer)
)
"""
# A volatile default: every existing row gets its own value, so PostgreSQL rewrites the table.
ADD_TOKEN = """
op.add_column(
    "gadgets",
    sa.Column("token", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
)
op.create_index("ix_gadgets_token", "gadgets", ["token"])
"""
SAFE_OPERATIONS = """
op.create_index_concurrently("ix_gadgets_name", "gadgets", ["name"])
op.create_foreign_key_not_valid(
    "fk_parts_gadget_id_gadgets", "parts", "gadgets", ["gadget_id"], ["id"]
)
op.validate_constraint("fk_parts_gadget_id_gadgets", "parts")
"""
ACKNOWLEDGED_DROP = """
# migration-lint: ignore[ML002] nothing reads name any more
op.drop_column("gadgets", "name")
"""
ADD_COLOUR = """
op.add_column("gadgets", sa.Column("colour", sa.String(20)))
op.create_index("ix_gadgets_colour", "gadgets", ["colour"])
"""
{%- if cookiecutter.database == "mysql" %}
# MySQL fills a new NOT NULL column with '' on its own; this fails on the first row instead.
FAILS_ON_ROWS = """
op.alter_column(
    "gadgets", "name", existing_type=sa.Text, type_=sa.Integer, existing_nullable=False
)
"""
{%- else %}
NOT_NULL_WITHOUT_DEFAULT = """
op.add_column("gadgets", sa.Column("colour", sa.Text, nullable=False))
"""
{%- endif %}
FIXTURES = """
from sqlalchemy import Connection, text


def seed(connection: Connection, revision: str | None) -> None:
    connection.execute(text("INSERT INTO gadgets (name) VALUES ('a'), ('b'), ('c')"))
"""
# docs/migrations.md shows this one (tests/migrations/test_worked_examples.py checks it).
DOCUMENTED_FIXTURES = '''
from sqlalchemy import Connection, text


def seed(connection: Connection, revision: str | None) -> None:
    """revision: the one the scratch database is at (None: empty)."""
    connection.execute(text("INSERT INTO authors (name, email) VALUES ('Ann', 'ann@example.com')"))
    connection.execute(
        text(
            "INSERT INTO books (title, pages, author_id) "
{%- if cookiecutter.database == "mysql" %}
            "WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500) "
            "SELECT 'Book', 10, 1 FROM n"
{%- else %}
            "SELECT 'Book', 10, 1 FROM generate_series(1, 500)"
{%- endif %}
        )
    )
'''


@pytest.fixture
def migrations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ScratchMigrations:
    scratch = ScratchMigrations(tmp_path)
    scratch.add("gadgets", CREATE_GADGETS)
    (tmp_path / "fixtures.py").write_text(FIXTURES)
    monkeypatch.chdir(tmp_path)
    # The linter renders SQL in a subprocess, which imports devtools from where it runs.
    monkeypatch.setenv("PYTHONPATH", str(PROJECT))
    return scratch


def report(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    code = main(["migration-report", "--fixtures", "fixtures.py", *args])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.out


def json_report(capsys: pytest.CaptureFixture[str], *paths: Path) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(report(capsys, "--format", "json", *map(str, paths)))
    return found


def revision_file(migrations: ScratchMigrations, revision: str) -> Path:
    return migrations.versions.relative_to(Path.cwd()) / f"{revision}_test.py"


def statement(revision: dict[str, Any], start: str) -> dict[str, Any]:
    found = [s for s in revision["statements"] if s["sql"].startswith(start)]
    assert len(found) == 1, [s["sql"] for s in revision["statements"]]
    return found[0]


def locks(statement: dict[str, Any]) -> dict[str, tuple[str, bool]]:
    return {lock["relation"]: (lock["mode"], lock["measured"]) for lock in statement["locks"]}


{% if cookiecutter.database == "postgresql" -%}
def test_a_volatile_default_rewrites_the_table_under_access_exclusive(
    migrations: ScratchMigrations, capsys: pytest.CaptureFixture[str]
) -> None:
    migrations.add("token", ADD_TOKEN)
    (revision,) = json_report(capsys, revision_file(migrations, "token"))["revisions"]

    add_column = statement(revision, "ALTER TABLE gadgets ADD COLUMN token")
    assert locks(add_column)["gadgets"] == ("ACCESS EXCLUSIVE", True)
    assert add_column["rewrites"] == ["gadgets"]
    assert add_column["rows"] == {"gadgets": 3}
    index = statement(revision, "CREATE INDEX ix_gadgets_token")
    assert locks(index)["gadgets"] == ("SHARE", True)
    assert [lock["blocks"] for lock in index["locks"] if lock["relation"] == "gadgets"] == [
        "writes"
    ]
    assert add_column["transaction"] == index["transaction"] == 1
    assert revision["rewrites"] == ["gadgets"]
    assert revision["strongest_lock"]["mode"] == "ACCESS EXCLUSIVE"
    rules = {finding["rule"] for finding in revision["findings"]}
    assert {"squawk:adding-field-with-default", "squawk:require-concurrent-index-creation"} <= rules
    assert revision["verdict"] == "red"
    assert "rewrites gadgets (every row, under ACCESS EXCLUSIVE)" in revision["reasons"]


def test_safe_operations_take_the_locks_postgresql_documents(
    migrations: ScratchMigrations, capsys: pytest.CaptureFixture[str]
) -> None:
    migrations.add("safe", SAFE_OPERATIONS)
    (revision,) = json_report(capsys, revision_file(migrations, "safe"))["revisions"]

    concurrently = statement(revision, "CREATE INDEX CONCURRENTLY")
    assert concurrently["autocommit"] is True
    assert concurrently["transaction"] == 0
    # CONCURRENTLY cannot run in a transaction: the mode is the documented one.
    assert locks(concurrently) == {"gadgets": ("SHARE UPDATE EXCLUSIVE", False)}
    foreign_key = statement(revision, "ALTER TABLE parts ADD CONSTRAINT fk_parts_gadget_id")
    assert locks(foreign_key)["parts"] == ("SHARE ROW EXCLUSIVE", True)
    assert locks(foreign_key)["gadgets"] == ("SHARE ROW EXCLUSIVE", True)
    validate = statement(revision, "ALTER TABLE parts VALIDATE CONSTRAINT")
    assert locks(validate)["parts"] == ("SHARE UPDATE EXCLUSIVE", True)
    assert validate["transaction"] > foreign_key["transaction"]
    assert revision["rewrites"] == []


def test_the_markdown_report_has_a_summary_sections_findings_and_a_diagram(
    migrations: ScratchMigrations, capsys: pytest.CaptureFixture[str]
) -> None:
    migrations.add("drop_name", ACKNOWLEDGED_DROP)
    markdown = report(capsys, str(revision_file(migrations, "drop_name")))

    assert markdown.startswith("<!-- migration-report -->\n## Migration report: ")
    assert (
        "| Revision | Phase | Strongest lock | Tables rewritten | Findings | Verdict |" in markdown
    )
    assert (
        "| `drop_name` Test revision drop_name. | pre-deploy | ACCESS EXCLUSIVE on gadgets |"
        in (markdown)
    )
    assert "### `drop_name` Test revision drop_name." in markdown
    assert "| `ML002` |" in markdown
    assert "| yes: nothing reads name any more |" in markdown
    assert "```mermaid\nerDiagram\n    gadgets {" in markdown
    assert 'TEXT name "dropped"' in markdown
    assert "ALTER TABLE gadgets DROP COLUMN name;" in markdown  # the offline SQL


{% endif -%}
{% if cookiecutter.database != "sqlite" -%}
{% if cookiecutter.example_model == "yes" -%}
def test_the_documented_fixtures_seed_the_scratch_database(
    migrations: ScratchMigrations, capsys: pytest.CaptureFixture[str]
) -> None:
    (Path.cwd() / "fixtures.py").write_text(DOCUMENTED_FIXTURES)
{%- if cookiecutter.database == "mysql" %}
    # MySQL's row counts are not measured: 500 books of one title fail a unique index instead.
    unique_titles = 'op.create_index("ix_books_title", "books", ["title"], unique=True)'
    migrations.add("unique_titles", unique_titles)

    (revision,) = json_report(capsys, revision_file(migrations, "unique_titles"))["revisions"]

    assert "Duplicate entry 'Book'" in revision["error"]
{%- else %}
    add_column = 'op.add_column("books", sa.Column("shelf_mark", sa.String(20)))'
    migrations.add("shelf_mark", add_column)

    (revision,) = json_report(capsys, revision_file(migrations, "shelf_mark"))["revisions"]

    added = statement(revision, "ALTER TABLE books ADD COLUMN shelf_mark")
    assert added["rows"] == {"books": 500}
{%- endif %}


{% endif -%}
def test_a_revision_that_fails_on_the_scratch_database_is_red(
    migrations: ScratchMigrations, capsys: pytest.CaptureFixture[str]
) -> None:
{%- if cookiecutter.database == "mysql" %}
    migrations.add("colour", FAILS_ON_ROWS)
    (revision,) = json_report(capsys, revision_file(migrations, "colour"))["revisions"]

    assert "integer value: 'a'" in revision["error"].lower()
{%- else %}
    migrations.add("colour", NOT_NULL_WITHOUT_DEFAULT)
    (revision,) = json_report(capsys, revision_file(migrations, "colour"))["revisions"]

    assert "NotNullViolationError" in revision["error"] or "null values" in revision["error"]
{%- endif %}
    assert revision["verdict"] == "red"


def report_process(*args: str, **environment: str) -> subprocess.Popen[str]:
    """The report as CI runs it: a process of its own, which signals can stop."""
    return subprocess.Popen(
        [sys.executable, "-m", "devtools", "migration-report", *args],
        env={**os.environ, **environment},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def server_url() -> str:
    return os.environ["DATABASE_URL"]


# Each says which scratch database it runs on, then waits to be stopped.
SLOW_SEED = """
from pathlib import Path

from sqlalchemy import Connection, text


def seed(connection: Connection, revision: str | None) -> None:
    name = connection.scalar(text("SELECT {{ 'DATABASE()' if cookiecutter.database == 'mysql' else 'current_database()' }}"))
    Path("started").write_text(name)
    connection.execute(text("{{ 'DO SLEEP(600)' if cookiecutter.database == 'mysql' else 'SELECT pg_sleep(600)' }}"))
"""
SLOW_REVISION = """
name = op.get_bind().scalar(sa.text("SELECT {{ 'DATABASE()' if cookiecutter.database == 'mysql' else 'current_database()' }}"))
pathlib.Path("started").write_text(name)
op.execute(sa.text("{{ 'DO SLEEP(600)' if cookiecutter.database == 'mysql' else 'SELECT pg_sleep(600)' }}"))
"""
{%- if cookiecutter.database == "mysql" %}
DATABASE_EXISTS = "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = :name"
UNREACHABLE = "mysql+aiomysql://root@127.0.0.1:1/app"
{%- else %}
DATABASE_EXISTS = "SELECT 1 FROM pg_database WHERE datname = :name"
UNREACHABLE = "postgresql+asyncpg://postgres@127.0.0.1:1/app"
{%- endif %}


@pytest.mark.parametrize("where", ["seed", "revision"])
def test_sigterm_drops_the_scratch_database_and_says_so_on_one_line(
    migrations: ScratchMigrations, where: str
) -> None:
    (Path.cwd() / "slow_fixtures.py").write_text(SLOW_SEED if where == "seed" else FIXTURES)
    migrations.add("slow", ["import pathlib", SLOW_REVISION] if where == "revision" else "pass")
    started = Path("started")
    path = str(revision_file(migrations, "slow"))
    process = report_process("--fixtures", "slow_fixtures.py", path)
    try:
        wait_until(lambda: started.is_file() or process.poll() is not None, "it is running")
        assert process.poll() is None, process.communicate()
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=HUNG_SECONDS)
    finally:
        process.kill()

    assert (process.returncode, out) == (130, "")
    assert err == (
        "migration-report: interrupted: nothing reported, and the scratch database was dropped\n"
    )
    name = started.read_text()
    assert query(server_url(), DATABASE_EXISTS, name=name) == []


def test_a_server_that_cannot_be_reached_is_one_line(migrations: ScratchMigrations) -> None:
    migrations.add("colour", ADD_COLOUR)
    process = report_process(str(revision_file(migrations, "colour")), DATABASE_URL=UNREACHABLE)
    out, err = process.communicate(timeout=HUNG_SECONDS)

    assert (process.returncode, out) == (2, "")
    assert err.startswith(f"migration-report: cannot connect to {UNREACHABLE}")
    assert err.count("\n") == 1, err


{% endif -%}
{% if cookiecutter.database == "postgresql" -%}
def test_behind_a_pooler_it_measures_through_migration_database_url(
    migrations: ScratchMigrations,
) -> None:
    """The scratch database is made and migrated straight on PostgreSQL, never via the pooler."""
    migrations.add("colour", ADD_COLOUR)
    pooler = "postgresql+asyncpg://postgres@127.0.0.1:1/app"  # nothing listens: never used
    path = str(revision_file(migrations, "colour"))
    behind = {"DATABASE_URL": pooler, "DATABASE_POOLER": "pgbouncer"}

    direct = report_process("--format", "json", path, **behind, MIGRATION_DATABASE_URL=server_url())
    out, err = direct.communicate(timeout=HUNG_SECONDS)
    assert direct.returncode == 0, err
    assert json.loads(out)["revisions"][0]["strongest_lock"]["mode"] == "ACCESS EXCLUSIVE"

    without = report_process(path, **behind)
    out, err = without.communicate(timeout=HUNG_SECONDS)
    assert (without.returncode, out) == (2, "")
    assert err.startswith("migration-report: DATABASE_POOLER=pgbouncer: ") and err.count("\n") == 1
    assert "set MIGRATION_DATABASE_URL to a URL straight to PostgreSQL" in err


{% elif cookiecutter.database == "mysql" -%}
def test_mysql_runs_the_statements_and_renders_them_but_measures_no_locks(
    migrations: ScratchMigrations, capsys: pytest.CaptureFixture[str]
) -> None:
    migrations.add("colour", ADD_COLOUR)
    path = revision_file(migrations, "colour")
    found = json_report(capsys, path)
    (revision,) = found["revisions"]

    assert (found["database"], found["locks_measured"]) == ("mysql", False)
    # The migration session's own statements (its lock, its limits) are not the revision's.
    assert [statement["sql"] for statement in revision["statements"]] == [
        "ALTER TABLE gadgets ADD COLUMN colour VARCHAR(20)",
        "CREATE INDEX ix_gadgets_colour ON gadgets (colour)",
    ]
    assert all(statement["locks"] == [] for statement in revision["statements"])
    assert [change["what"] for change in revision["changes"]] == ["column added", "index created"]
    assert "CREATE INDEX ix_gadgets_colour ON gadgets (colour)" in revision["offline_sql"]
    # The test revision's downgrade() is `pass`: the linter's finding is in the report.
    assert "ML001" in {finding["rule"] for finding in revision["findings"]}
    assert "locks not measured (the linter's ML rules" in report(capsys, str(path))


{% else -%}
def test_sqlite_runs_the_statements_but_measures_no_locks(
    migrations: ScratchMigrations, capsys: pytest.CaptureFixture[str]
) -> None:
    migrations.add("colour", ADD_COLOUR)
    path = revision_file(migrations, "colour")
    found = json_report(capsys, path)
    (revision,) = found["revisions"]

    assert found["locks_measured"] is False
    index = statement(revision, "CREATE INDEX ix_gadgets_colour")
    assert index["locks"] == []
    assert [change["what"] for change in revision["changes"]] == ["column added", "index created"]
    assert "locks not measured (SQLite has no pg_locks" in report(capsys, str(path))


{% endif -%}
def git(*args: str) -> None:
    identity = ["-c", "user.name=Test", "-c", "user.email=test@example.com"]
    subprocess.run(["git", *identity, *args], check=True, capture_output=True)


def test_without_paths_it_reports_the_revisions_new_since_the_base(
    migrations: ScratchMigrations, capsys: pytest.CaptureFixture[str]
) -> None:
    git("init", "--quiet", "--initial-branch=main")
    git("add", "--all")
    git("commit", "--quiet", "--message", "base")
    migrations.add("colour", ADD_COLOUR)

    revisions = json.loads(report(capsys, "--format", "json", "--base", "main"))["revisions"]

    assert [revision["revision"] for revision in revisions] == ["colour"]


def test_without_alembic_ini_it_says_where_to_run_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["migration-report"]) == 2
    assert capsys.readouterr().err == (
        "migration-report: no alembic.ini here; run it from the project root\n"
    )


@pytest.mark.parametrize("option", ["--output", "--json"])
def test_a_report_into_a_missing_directory_is_refused_before_it_runs(
    migrations: ScratchMigrations, capsys: pytest.CaptureFixture[str], option: str
) -> None:
    migrations.add("colour", ADD_COLOUR)
    target = Path("missing") / "report.md"
    path = str(revision_file(migrations, "colour"))

    assert main(["migration-report", option, str(target), path]) == 2
    assert capsys.readouterr().err == (
        f"migration-report: {option} {target}: no directory missing; create it first\n"
    )
