"""Smoke test: `python -m devtools lint-migrations` runs on this project and reports a danger.

The linter's rules are the template's code, tested in its own repository; this checks that the
tool works here, on this project's revisions.
{%- if cookiecutter.database == "mysql" %} On MySQL it also holds the cost rules to the server:
what they report is what the server refuses to do with ALGORITHM=INPLACE, LOCK=NONE.
{%- endif %}
"""

{% if cookiecutter.database == "mysql" -%}
import importlib.util
{% endif -%}
import subprocess
import sys
from pathlib import Path

{% if cookiecutter.database == "mysql" -%}
import pytest
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, event, text
from sqlalchemy.exc import DBAPIError

from devtools.migration_lint.lint import lint_revisions
from {{ cookiecutter.package_name }}.db import mysql_error_code
from tests.databases import on_connection, query
{% endif -%}
from tests.fixtures.scratch_migrations import PROJECT, revision_source

LINT = [sys.executable, "-m", "devtools", "lint-migrations"{{ ', "--no-squawk"' if cookiecutter.database == "postgresql" }}]


def lint(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LINT, *map(str, args)],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_project_revisions_lint_clean() -> None:
    result = lint()
    assert (result.returncode, result.stdout) == (0, ""), result.stdout + result.stderr


def test_a_drop_before_the_rollout_is_reported(tmp_path: Path) -> None:
    revision = tmp_path / "1a2b3c4d5e6f_drop_pages.py"
    revision.write_text(revision_source("1a2b3c4d5e6f", None, 'op.drop_column("books", "pages")'))
    result = lint(revision)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{revision}:" in result.stdout and " ML002 drops column books.pages" in result.stdout


def test_the_rules_it_prints_are_the_ones_the_guide_documents() -> None:
    result = lint("--rules")
    guide = (PROJECT / "docs" / "migration-linter.md").read_text()
    assert result.returncode == 0, result.stderr
    assert "| ML002 |" in result.stdout
    assert result.stdout.strip() in guide
{%- if cookiecutter.database == "mysql" %}


def test_two_ddl_statements_in_one_revision_are_reported(tmp_path: Path) -> None:
    revision = tmp_path / "1a2b3c4d5e6f_isbn.py"
    upgrade = [
        'op.add_column("books", sa.Column("isbn", sa.String(20), nullable=True))',
        'op.create_index("ix_books_title", "books", ["title"])',
    ]
    revision.write_text(revision_source("1a2b3c4d5e6f", None, upgrade))
    result = lint(revision)
    assert result.returncode == 1, result.stdout + result.stderr
    assert " ML101 upgrade() runs 2 DDL statements" in result.stdout


# The cost rules against the server: each operation runs with ALGORITHM=INPLACE, LOCK=NONE
# added, and MySQL (or MariaDB) refuses exactly those a cost rule reports.
COST_RULES = {"ML102", "ML103", "ML104", "ML105", "ML106", "ML108"}
# ER_ALTER_OPERATION_NOT_SUPPORTED and ..._REASON: "ALGORITHM=INPLACE is not supported ..."
NOT_ONLINE = {1845, 1846}
TABLES = [
    "CREATE TABLE authors (id INT PRIMARY KEY)",
    "CREATE TABLE books (id INT PRIMARY KEY, title VARCHAR(40) NOT NULL, pages INT NOT NULL, "
    "state ENUM('a', 'b'), body TEXT, place POINT NOT NULL, author_id INT, "
    "INDEX ix_books_author_id (author_id))",
    "INSERT INTO authors VALUES (1)",
    "INSERT INTO books VALUES (1, 'Dune', 412, 'a', 'Arrakis', POINT(1, 1), 1)",
]
OPERATIONS = {
    "a longer VARCHAR, same length prefix": (
        """op.alter_column("books", "title", type_=sa.String(63), existing_type=sa.String(40),
        existing_nullable=False)""",
        None,
    ),
    "a VARCHAR past 63 characters": (
        """op.alter_column("books", "title", type_=sa.String(64), existing_type=sa.String(40),
        existing_nullable=False)""",
        "ML102",
    ),
    "a wider integer": (
        """op.alter_column("books", "pages", type_=sa.BigInteger(), existing_type=sa.Integer(),
        existing_nullable=False)""",
        "ML102",
    ),
    "an ENUM value added at the end": (
        """op.alter_column("books", "state", type_=sa.Enum("a", "b", "c"),
        existing_type=sa.Enum("a", "b"), existing_nullable=True)""",
        None,
    ),
    "ENUM values reordered": (
        """op.alter_column("books", "state", type_=sa.Enum("b", "a"),
        existing_type=sa.Enum("a", "b"), existing_nullable=True)""",
        "ML102",
    ),
    "a primary key dropped": ('op.drop_constraint("pk", "books", type_="primary")', "ML103"),
    "a foreign key": (
        """op.create_foreign_key("fk_books_author_id_authors", "books", "authors",
        ["author_id"], ["id"])""",
        "ML104",
    ),
    "a FULLTEXT index": (
        'op.create_index("ft_books_body", "books", ["body"], mysql_prefix="FULLTEXT")',
        "ML105",
    ),
    "a SPATIAL index": (
        'op.create_index("sp_books_place", "books", ["place"], mysql_prefix="SPATIAL")',
        "ML105",
    ),
    "an index": ('op.create_index("ix_books_title", "books", ["title"])', None),
    "a STORED generated column": (
        """op.add_column("books", sa.Column("leaves", sa.Integer(),
        sa.Computed("pages / 2", persisted=True)))""",
        "ML106",
    ),
    "a VIRTUAL generated column": (
        """op.add_column("books", sa.Column("leaves", sa.Integer(), sa.Computed("pages / 2")))""",
        None,
    ),
    "a check constraint": (
        'op.create_check_constraint("ck_books_pages", "books", "pages < 100000")',
        "ML108",
    ),
    "a column with a default": (
        """op.add_column("books", sa.Column("copies", sa.Integer(), nullable=False,
        server_default="1"))""",
        None,
    ),
}


def online(
    connection: Connection, cursor: object, statement: str, parameters: object, *args: object
) -> tuple[str, object]:
    """Ask the server to alter online or refuse: the clause the linter's ML107 asks for."""
    if statement.startswith("ALTER TABLE"):
        return f"{statement}, ALGORITHM=INPLACE, LOCK=NONE", parameters
    if statement.startswith("CREATE") and " INDEX " in statement:
        return f"{statement} ALGORITHM=INPLACE LOCK=NONE", parameters
    return statement, parameters


def write_revision(directory: Path, upgrade: str) -> Path:
    revision = directory / "1a2b3c4d5e6f_case.py"
    # Post-deploy: the cost rules, not the rollout's, are under test.
    revision.write_text(revision_source("1a2b3c4d5e6f", None, upgrade, phase="post-deploy"))
    return revision


def findings(revision: Path) -> set[str]:
    result = lint_revisions([revision], alembic_ini=revision.parent / "alembic.ini")
    return {finding.rule for finding in result.open}


def upgrade_on(database_url: str, revision: Path, *, online_only: bool = False) -> None:
    """Create TABLES, then run the revision's upgrade() on them, as Alembic would."""
    spec = importlib.util.spec_from_file_location(revision.stem, revision)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    def work(connection: Connection) -> None:
        for statement in TABLES:
            connection.execute(text(statement))
        if online_only:
            event.listen(connection, "before_cursor_execute", online, retval=True)
        with Operations.context(MigrationContext.configure(connection)):
            module.upgrade()

    on_connection(database_url, work)


@pytest.mark.parametrize(("upgrade", "rule"), OPERATIONS.values(), ids=list(OPERATIONS))
def test_the_cost_rules_report_what_mysql_cannot_do_online(
    database_url: str, tmp_path: Path, upgrade: str, rule: str | None
) -> None:
    revision = write_revision(tmp_path, upgrade)
    assert findings(revision) & COST_RULES == ({rule} if rule else set())
    if rule is None:
        upgrade_on(database_url, revision, online_only=True)
        return
    with pytest.raises(DBAPIError) as refused:
        upgrade_on(database_url, revision, online_only=True)
    assert mysql_error_code(refused.value) in NOT_ONLINE, refused.value


def test_a_not_null_column_without_default_fills_rows_silently(
    database_url: str, tmp_path: Path
) -> None:
    upgrade = 'op.add_column("books", sa.Column("copies", sa.Integer(), nullable=False))'
    revision = write_revision(tmp_path, upgrade)
    assert "ML005" in findings(revision)
    upgrade_on(database_url, revision)
    assert query(database_url, "SELECT copies FROM books") == [(0,)]


def test_alter_column_without_existing_nullable_makes_the_column_nullable(
    database_url: str, tmp_path: Path
) -> None:
    upgrade = 'op.alter_column("books", "title", existing_type=sa.String(40), comment="cover")'
    revision = write_revision(tmp_path, upgrade)
    assert "ML109" in findings(revision)
    upgrade_on(database_url, revision)
    nullable = (
        "SELECT is_nullable FROM information_schema.columns "
        "WHERE table_schema = DATABASE() AND table_name = 'books' AND column_name = 'title'"
    )
    assert query(database_url, nullable) == [("YES",)]
{%- endif %}
