"""Representative bakes, installed in their own virtualenv and run against a real database."""

import asyncio
import re
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
import yaml

from tests.helpers import (
    MYSQL_SERVER,
    POSTGRES_SERVER,
    SLUG,
    bake,
    install,
    mysql_client,
    mysql_problem,
    postgres_problem,
    run,
    run_unchecked,
    scratch_mysql_database,
    scratch_postgres_database,
    tool,
)

pytestmark = pytest.mark.realdb

UNREACHABLE_URLS = {
    "postgresql": "postgresql+asyncpg://nobody@127.0.0.1:1/nowhere",
    "mysql": "mysql+aiomysql://nobody@127.0.0.1:1/nowhere",
}
# What an offline script sets first, so that a DBA's run is bounded like `alembic upgrade`.
OFFLINE_LIMITS = {
    "postgresql": "SET lock_timeout = '5s';",
    "mysql": "SET SESSION lock_wait_timeout = 5, innodb_lock_wait_timeout = 5",
}

REPRESENTATIVE = {
    "postgresql-default": {},
    "sqlite": {"database": "sqlite"},
    "mysql": {"database": "mysql"},
    "postgresql-no-example-gitlab": {"example_model": "no", "ci": "gitlab", "docker": "no"},
}
# The default and SQLite bakes run their whole suite. The others run what their answers change
# (the app, env.py and the migrations they ship); the fault, signal and configuration tests
# exercise the same code in every PostgreSQL bake and run once, in the default one.
BAKED_TESTS = {
    "postgresql-default": [],
    "sqlite": [],
    "mysql": [],
    "postgresql-no-example-gitlab": ["tests/migrations", "tests/test_health.py"],
    "postgresql-tenants": [
        "tests/migrations",
        "tests/test_health.py",
        "tests/test_tenancy.py",
        "tests/test_library_api.py",
        "tests/test_postgresql_safety.py",
        "tests/test_deploy_phases.py",
        "tests/test_lock_retries.py",
        "tests/test_backfill.py",
        "tests/test_tenant_runner.py",
    ],
}

NEW_BOOK_COLUMN = "    isbn: Mapped[str | None] = mapped_column(String(20), unique=True)\n"
NEW_MODEL = """

class Note(Base):
    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(50), unique=True)
"""
# SQLite drops it by copying the table, the batch operation offline SQL cannot render.
DROPPED_COLUMN = (
    "    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), "
    "server_default=func.now())\n"
)


async def fetch_column(database: str, query: str) -> set[str]:
    connection = await asyncpg.connect(f"postgresql://{POSTGRES_SERVER}/{database}", timeout=5)
    try:
        return {row[0] for row in await connection.fetch(query)}
    finally:
        await connection.close()


@pytest.fixture(scope="session", autouse=True)
def postgres_is_reachable() -> None:
    """The real-database tests fail, never skip, when PostgreSQL is not there."""
    problem = postgres_problem()
    if problem:
        pytest.fail(problem)


@pytest.fixture(scope="session")
def mysql_is_reachable() -> None:
    """As for PostgreSQL: the MariaDB bakes fail, never skip, when the server is not there."""
    problem = mysql_problem()
    if problem:
        pytest.fail(problem)


@pytest.fixture
def postgres_database() -> Iterator[str]:
    with scratch_postgres_database("template_test") as name:
        yield name


@pytest.fixture
def mysql_database() -> Iterator[str]:
    with scratch_mysql_database("template_test") as name:
        yield name


class Database:
    """The database a baked project runs against, and a way to look inside it."""

    def __init__(self, kind: str, url: str, name: str | None, sqlite_path: Path | None) -> None:
        self.kind = kind
        self.url = url
        self.name = name
        self.sqlite_path = sqlite_path

    def query(self, sql: str) -> set[str]:
        if self.kind == "postgresql":
            assert self.name
            return asyncio.run(fetch_column(self.name, sql))
        if self.kind == "mysql":
            assert self.name
            return set(mysql_client(sql, self.name))
        with sqlite3.connect(self.sqlite_path) as connection:
            return {row[0] for row in connection.execute(sql)}

    def tables(self) -> set[str]:
        if self.kind == "postgresql":
            return self.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        if self.kind == "mysql":
            return self.query("SHOW TABLES")
        return self.query("SELECT name FROM sqlite_master WHERE type = 'table'")

    def columns(self, table: str) -> set[str]:
        if self.kind == "postgresql":
            return self.query(
                f"SELECT column_name FROM information_schema.columns WHERE table_name = '{table}'"
            )
        if self.kind == "mysql":
            return self.query(
                "SELECT column_name FROM information_schema.columns "
                f"WHERE table_schema = DATABASE() AND table_name = '{table}'"
            )
        return self.query(f"SELECT name FROM pragma_table_info('{table}')")


@pytest.fixture
def database(request: pytest.FixtureRequest, tmp_path: Path, answers: dict[str, str]) -> Database:
    kind = answers.get("database", "postgresql")
    if kind == "sqlite":
        path = tmp_path / "app.db"
        return Database(kind, f"sqlite+aiosqlite:///{path}", None, path)
    if kind == "mysql":
        request.getfixturevalue("mysql_is_reachable")
        name = request.getfixturevalue("mysql_database")
        return Database(kind, f"mysql+aiomysql://{MYSQL_SERVER}/{name}", name, None)
    name = request.getfixturevalue("postgres_database")
    return Database(kind, f"postgresql+asyncpg://{POSTGRES_SERVER}/{name}", name, None)


def run_local_pre_commit_hooks(project: Path, env: dict[str, str]) -> None:
    """The baked pre-commit config's local hooks (remote hook repos cannot be cloned here)."""
    config = yaml.safe_load((project / ".pre-commit-config.yaml").read_text())
    config["repos"] = [repo for repo in config["repos"] if repo["repo"] == "local"]
    hooks = {hook["id"] for repo in config["repos"] for hook in repo["hooks"]}
    assert hooks == {"migration-lint", "single-head"}
    local = project / ".pre-commit-local.yaml"
    local.write_text(yaml.safe_dump(config))
    run(["git", "init", "--quiet"], project, env)
    run(["git", "add", "--all"], project, env)
    run(["pre-commit", "run", "--all-files", "--config", str(local)], project, env)
    local.unlink()


def new_revisions(project: Path, before: set[Path]) -> list[Path]:
    return sorted(set((project / "migrations" / "versions").glob("*.py")) - before)


@pytest.mark.parametrize("answers", REPRESENTATIVE.values(), ids=REPRESENTATIVE.keys())
def test_baked_project_migrates_tests_and_lints(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    clean_env: dict[str, str],
    answers: dict[str, str],
    database: Database,
) -> None:
    project = bake(tmp_path, **answers)
    env = {**install(project, clean_env), "DATABASE_URL": database.url}
    example = answers.get("example_model", "yes") == "yes"
    model_tables = {"authors", "books"} if example else set()

    for linter in (
        ["ruff", "check", "."],
        ["ruff", "format", "--check", "."],
        ["mypy"],
        ["python", "-m", "devtools", "lint-migrations"],
    ):
        run(linter, project, env)
    run_local_pre_commit_hooks(project, env)

    run(["alembic", "upgrade", "head"], project, env)
    assert database.tables() == model_tables | {"alembic_version"}
    assert "No new upgrade operations detected" in run(["alembic", "check"], project, env).stdout
    # `nox -s migrations` runs this: it goes down to base, but never in the developer's database.
    run(["python", "-m", "devtools", "migration-roundtrip"], project, env)
    assert database.tables() == model_tables | {"alembic_version"}
    run(["alembic", "current", "--check-heads"], project, env)

    run(["alembic", "downgrade", "base"], project, env)
    assert database.tables() <= {"alembic_version"}

    unreachable = UNREACHABLE_URLS.get(database.kind)
    offline_env = {**env, "DATABASE_URL": unreachable} if unreachable else env
    offline = run(["alembic", "upgrade", "head", "--sql"], project, offline_env).stdout
    assert "CREATE TABLE alembic_version" in offline
    assert ("CREATE TABLE books" in offline) == example
    assert OFFLINE_LIMITS.get(database.kind, "") in offline

    # A model change, autogenerated: checklist template, named constraint, reversible.
    run(["alembic", "upgrade", "head"], project, env)
    before = set((project / "migrations" / "versions").glob("*.py"))
    if example:
        with (project / "src" / SLUG / "models" / "library.py").open("a") as models:
            models.write(NEW_BOOK_COLUMN)
        table, column, constraint = "books", "isbn", "uq_books_isbn"
    else:
        models_init = project / "src" / SLUG / "models" / "__init__.py"
        models_init.write_text(
            "from sqlalchemy import String\nfrom sqlalchemy.orm import Mapped, mapped_column\n\n"
            + models_init.read_text()
            + NEW_MODEL
        )
        table, column, constraint = "notes", "title", "uq_notes_title"
    run(["alembic", "revision", "--autogenerate", "-m", "model change"], project, env)
    revisions = new_revisions(project, before)
    sources = [revision.read_text() for revision in revisions]
    # On MySQL too: a new column keeps its unique constraint in its revision.
    assert len(revisions) == 1
    for source in sources:
        assert "- [ ] Reviewed the autogenerated operations" in source
        assert "def upgrade() -> None:" in source and "def downgrade() -> None:" in source
    assert f'op.f("{constraint}")' in sources[-1]
    for revision in revisions:
        run(["ruff", "check", str(revision)], project, env)
        run(["ruff", "format", "--check", str(revision)], project, env)

    run(["alembic", "upgrade", "head"], project, env)
    assert column in database.columns(table)
    run(["alembic", "downgrade", f"-{len(revisions)}"], project, env)
    assert column not in database.columns(table)
    run(["alembic", "upgrade", "head"], project, env)
    assert "No new upgrade operations detected" in run(["alembic", "check"], project, env).stdout

    second = run(["alembic", "revision", "--autogenerate", "-m", "nothing"], project, env)
    assert "No changes detected" in second.stderr
    assert new_revisions(project, before) == revisions, "an empty autogenerate wrote a file"

    # A hand-written revision starts empty but keeps the imports its operations will need.
    run(["alembic", "revision", "-m", "hand written"], project, env)
    [empty] = [path for path in new_revisions(project, before) if path not in revisions]
    assert "from alembic import op" in empty.read_text()
    empty.unlink()

    # The baked suite, including its migration tests and linter over the new revisions, reviewed.
    for revision, source in zip(revisions, sources, strict=True):
        reviewed = source.replace("- [ ]", "- [x]")
        revision.write_text(re.sub(r"^Why: <.*>$", "Why: books get an ISBN.", reviewed, flags=re.M))
    server_env = {**env, "DATABASE_URL": database.url}
    tests = BAKED_TESTS[request.node.callspec.id]
    suite = run(["pytest", "-q", "-p", "no:cacheprovider", *tests], project, server_env)
    assert " passed" in suite.stdout and "failed" not in suite.stdout


@pytest.mark.parametrize("answers", [{"tenancy": "schema-per-tenant"}], ids=["postgresql-tenants"])
def test_schema_per_tenant_bake_migrates_every_tenant(
    tmp_path: Path, clean_env: dict[str, str], answers: dict[str, str], database: Database
) -> None:
    project = bake(tmp_path, **answers)
    env = {**install(project, clean_env), "DATABASE_URL": database.url}
    for linter in (
        ["ruff", "check", "."],
        ["mypy"],
        ["python", "-m", "devtools", "lint-migrations"],
    ):
        run(linter, project, env)

    run(["alembic", "upgrade", "head"], project, env)
    for name in ("acme", "globex"):
        created = run(["python", "-m", f"{SLUG}.tenants", "create", name], project, env)
        assert f"tenant {name} created in schema tenant_{name}" in created.stdout
    refused = run_unchecked(
        ["python", "-m", f"{SLUG}.tenants", "create", "evil;drop"], project, env
    )
    assert refused.returncode == 2 and "tenant name 'evil;drop' is invalid" in refused.stderr

    with (project / "src" / SLUG / "models" / "library.py").open("a") as models:
        models.write(NEW_BOOK_COLUMN)
    before = set((project / "migrations" / "versions").glob("*.py"))
    run(["alembic", "revision", "--autogenerate", "-m", "add isbn"], project, env)
    [revision] = new_revisions(project, before)
    tenant_part = revision.read_text().split("def upgrade_tenant() -> None:")[1]
    tenant_upgrade = tenant_part.split("def ")[0]
    assert tenant_upgrade.count("op.add_column(") == 1
    assert '"books", sa.Column("isbn"' in tenant_upgrade
    # Tenants' tables exist already: the unique constraint comes from a concurrent index build.
    unique = 'op.create_unique_constraint_concurrently(op.f("uq_books_isbn"), "books", ["isbn"])'
    assert unique in tenant_upgrade

    run(["alembic", "upgrade", "head"], project, env)
    isbn_schemas = database.query(
        "SELECT table_schema FROM information_schema.columns WHERE column_name = 'isbn'"
    )
    assert isbn_schemas == {"tenant_template", "tenant_acme", "tenant_globex"}
    assert "No new upgrade operations detected" in run(["alembic", "check"], project, env).stdout

    tests = BAKED_TESTS["postgresql-tenants"]
    suite = run(["pytest", "-q", "-p", "no:cacheprovider", *tests], project, env)
    assert " passed" in suite.stdout and "failed" not in suite.stdout


def test_default_bake_nox_sessions_run_green(
    tmp_path: Path, clean_env: dict[str, str], postgres_database: str
) -> None:
    project = bake(tmp_path)
    tools = str(Path(sys.executable).parent)
    env = {
        **clean_env,
        "PATH": f"{tools}:{clean_env['PATH']}",
        "DATABASE_URL": f"postgresql+asyncpg://{POSTGRES_SERVER}/{postgres_database}",
        # nox's sessions install with uv, which compiles bytecode only when asked.
        "UV_COMPILE_BYTECODE": "1",
    }
    listed = run([tool("nox"), "--list"], project, env).stdout
    for session in ("lint", "typecheck", "tests", "migrations", "lint-migrations"):
        assert f"* {session} -> " in listed
    assert "- audit -> " in listed

    # Sessions install what uv.lock pins: without it they stop, naming the command that makes it.
    unlocked = run_unchecked([tool("nox"), "-s", "lint"], project, env)
    assert unlocked.returncode != 0 and "uv lock" in unlocked.stdout + unlocked.stderr
    run([tool("uv"), "lock", "--quiet"], project, env)

    run([tool("nox"), "-s", "lint", "typecheck", "migrations", "lint-migrations"], project, env)
    # posargs reach pytest; the full suite runs in test_baked_project_migrates_tests_and_lints.
    tests = run([tool("nox"), "-s", "tests", "--", "-k", "health"], project, env)
    assert "deselected" in tests.stdout + tests.stderr
    # The audit up to the lookup: PyPI's per-version API, which it asks, is not reachable here.
    audit = run([tool("nox"), "-s", "audit", "--", "--dry-run"], project, env)
    assert re.search(r"would have audited \d+ packages", audit.stdout + audit.stderr)

    # A dependency added to pyproject.toml without `uv lock` fails the install, as in CI.
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace("dev = [\n", 'dev = [\n    "rich>=13",\n'))
    stale = run_unchecked([tool("nox"), "-s", "lint"], project, env)
    assert stale.returncode != 0 and "needs to be updated" in stale.stdout + stale.stderr


def runs_migrations(command: str) -> bool:
    """Whether a CI command runs alembic, or the nox session that migrates a scratch database."""
    for line in command.splitlines():
        words = line.split(" -- ")[0].split()
        if words[:1] == ["alembic"] or (words[:1] == ["nox"] and "migrations" in words[2:]):
            return True
    return False


def test_sqlite_ci_migrates_a_revision_that_copies_a_table(
    tmp_path: Path, clean_env: dict[str, str]
) -> None:
    """SQLite drops a column by copying the table (batch "move and copy"), which offline SQL
    cannot render; the CI's migration steps, read from the workflow, must pass over it."""
    project = bake(tmp_path, database="sqlite", docker="no")
    env = {**install(project, clean_env), "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/dev.db"}
    run(["alembic", "upgrade", "head"], project, env)
    models = project / "src" / SLUG / "models" / "library.py"
    assert DROPPED_COLUMN in models.read_text()
    models.write_text(models.read_text().replace(DROPPED_COLUMN, ""))
    before = set((project / "migrations" / "versions").glob("*.py"))
    run(["alembic", "revision", "--autogenerate", "-m", "drop authors created_at"], project, env)
    [revision] = new_revisions(project, before)
    assert 'batch_op.drop_column("created_at")' in revision.read_text()
    revision_id = revision.name.split("-")[1].split("_")[0]
    # What the README says to do once, and commit: CI installs from the lock.
    run([tool("uv"), "lock", "--quiet"], project, env)

    workflow = yaml.safe_load((project / ".github" / "workflows" / "ci.yml").read_text())
    job = workflow["jobs"]["checks"]
    commands = [step["run"] for step in job["steps"] if runs_migrations(step.get("run", ""))]
    assert commands, "the workflow runs no migrations"
    ci_env = {**env, **job["env"]}
    output = ""
    for command in commands:
        # As GitHub runs a `run:` step that names no shell.
        result = run(["bash", "-e", "-c", command], project, ci_env)
        output += result.stdout + result.stderr
    assert f"Running upgrade 5c8a1d2e9f03 -> {revision_id}" in output
    assert f"Running downgrade {revision_id} -> 5c8a1d2e9f03" in output
