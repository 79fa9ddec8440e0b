"""`python -m devtools n-minus-one`: its git steps, its guards, and the tests' opt-in.

The whole command, failing on a pre-deploy drop and passing once the drop is post-deploy, runs
in the template's own tests: it needs a history of two commits of a full project.
"""

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from devtools.n_minus_one import (
    MIGRATED_DATABASE_VARIABLE,
    Commands,
    NMinusOneError,
    base_checkout,
    check_base_code_is_imported,
    check_base_opts_in,
    commands_stopped_by_sigterm,
    default_base,
    merge_base,
)
from tests.databases import query, scratch_database
from tests.fixtures.scratch_migrations import PROJECT

PACKAGE = "{{ cookiecutter.package_name }}"
# A test that runs on the shared migrated database in every bake.
ON_THE_MIGRATED_DATABASE = (
    "tests/test_api_robustness.py::test_statement_parameters_stay_out_of_errors_and_logs"
)
STILL_RUNNING_AFTER_SECONDS = 30


def git(repository: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", *args], cwd=repository, capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


@pytest.fixture
def repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git repository: a project-like commit on main, and a branch `feature` one commit on."""
    for variable in ("GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME"):
        monkeypatch.setenv(variable, "N-1 test")
    for variable in ("GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL"):
        monkeypatch.setenv(variable, "n-minus-one@example.com")
    repository = tmp_path / "repository"
    repository.mkdir()
    git(repository, "init", "--quiet", "--initial-branch", "main")
    (repository / "alembic.ini").write_text("[alembic]\n")
    git(repository, "add", "alembic.ini")
    git(repository, "commit", "--quiet", "--message", "base")
    git(repository, "switch", "--quiet", "--create", "feature")
    (repository / "change.txt").write_text("the change under review\n")
    git(repository, "add", "change.txt")
    git(repository, "commit", "--quiet", "--message", "change")
    return repository


def test_the_default_base_is_the_remote_default_branch_then_main() -> None:
    assert default_base({"origin/HEAD", "origin/main", "main"}.__contains__) == "origin/HEAD"
    assert default_base({"origin/main", "main"}.__contains__) == "origin/main"
    assert default_base({"main"}.__contains__) == "main"
    assert default_base(set[str]().__contains__) is None


def test_the_base_is_where_head_forked_from_main(repository: Path) -> None:
    fork_point = git(repository, "rev-parse", "main")

    assert merge_base(None, repository) == ("main", fork_point)
    assert merge_base("main", repository) == ("main", fork_point)


def test_a_missing_base_ref_is_one_line_naming_it(repository: Path) -> None:
    with pytest.raises(NMinusOneError, match=r"^--base origin/release: not a commit or ref"):
        merge_base("origin/release", repository)


def test_without_main_the_base_must_be_given(repository: Path) -> None:
    git(repository, "branch", "--move", "main", "trunk")

    with pytest.raises(NMinusOneError, match="none of origin/HEAD, origin/main, main exists"):
        merge_base(None, repository)


def test_outside_a_git_repository_it_says_so(tmp_path: Path) -> None:
    with pytest.raises(NMinusOneError, match="is not in a git repository"):
        merge_base(None, tmp_path)


def test_the_base_worktree_is_removed_even_when_the_run_fails(repository: Path) -> None:
    base = git(repository, "rev-parse", "main")

    with pytest.raises(RuntimeError), base_checkout(base, repository) as checkout:
        assert (checkout / "alembic.ini").is_file()
        assert not (checkout / "change.txt").exists()
        raise RuntimeError("the tests crashed")

    assert not checkout.exists()
    assert len(git(repository, "worktree", "list").splitlines()) == 1


def test_a_base_from_before_the_n_minus_one_test_is_refused(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "conftest.py").write_text('"""Fixtures that migrate their own."""\n')

    with pytest.raises(NMinusOneError, match=r"^the base 0123456789ab predates the N-1 test"):
        check_base_opts_in(tmp_path, "0123456789abcdef")


def test_the_base_code_comes_before_the_installed_project(tmp_path: Path) -> None:
    """This project is installed (editable) in the environment; the base's copy must win."""
    base = tmp_path / "base"
    (base / "src" / PACKAGE).mkdir(parents=True)
    (base / "src" / PACKAGE / "__init__.py").write_text("")

    check_base_code_is_imported(Commands(), PACKAGE, base)

    elsewhere = tmp_path / "no-package-here"
    elsewhere.mkdir()
    with pytest.raises(NMinusOneError, match=rf"the base has no src/{PACKAGE}, so its tests"):
        check_base_code_is_imported(Commands(), PACKAGE, elsewhere)


def test_sigterm_ends_the_running_command_and_the_run(tmp_path: Path) -> None:
    started = tmp_path / "started"
    sleeper = f"open({str(started)!r}, 'w').close(); import time; time.sleep(600)"

    def terminate_once_started() -> None:
        deadline = time.monotonic() + STILL_RUNNING_AFTER_SECONDS
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        if started.exists():
            os.kill(os.getpid(), signal.SIGTERM)
        elif commands.running is not None:
            commands.running.kill()  # never started properly: fail the test, not the run

    with commands_stopped_by_sigterm() as commands:
        threading.Thread(target=terminate_once_started, daemon=True).start()
        began = time.monotonic()
        with pytest.raises(SystemExit) as stopped:
            commands.run([sys.executable, "-c", sleeper])

    assert started.exists()
    assert stopped.value.code == 128 + signal.SIGTERM
    # The child was ended, not waited for: its sleep is far longer than this.
    assert time.monotonic() - began < STILL_RUNNING_AFTER_SECONDS * 2
    assert signal.getsignal(signal.SIGTERM) is not commands.terminate


def run_tests_on(database_url: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, MIGRATED_DATABASE_VARIABLE: database_url}
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", ON_THE_MIGRATED_DATABASE]
    return subprocess.run(
        command, cwd=PROJECT, env=environment, capture_output=True, text=True, check=False
    )


@pytest.fixture
def unmigrated_database_url() -> Iterator[str]:
    with scratch_database() as url:
        query(url, "SELECT 1")  # SQLite: the file exists from here on
        yield url


def test_the_tests_use_the_database_the_n_minus_one_test_gives_them(
    unmigrated_database_url: str,
) -> None:
    given = make_url(unmigrated_database_url)
{%- if cookiecutter.database != "sqlite" %}
    missing = f"{given.database}_missing_{uuid.uuid4().hex[:6]}"
{%- else %}
    # SQLite creates a missing file, not a missing directory.
    path = Path(given.database or "")
    missing = str(path.parent / f"missing_{uuid.uuid4().hex[:6]}" / path.name)
{%- endif %}

    result = run_tests_on(given.set(database=missing).render_as_string(hide_password=False))

    assert result.returncode != 0
    assert missing in result.stdout, result.stdout


def test_the_tests_neither_migrate_nor_drop_the_database_they_are_given(
    unmigrated_database_url: str,
) -> None:
    result = run_tests_on(unmigrated_database_url)

    assert result.returncode == 0, result.stdout
{% if cookiecutter.database == "postgresql" %}
    version_table_name = "{{ 'shared.' if cookiecutter.tenancy == 'schema-per-tenant' }}alembic_version"
    [(version_table,)] = query(
        unmigrated_database_url, "SELECT to_regclass(:name)", name=version_table_name
    )
    assert version_table is None
{%- elif cookiecutter.database == "mysql" %}
    # The query fails if the database was dropped.
    version_tables = query(
        unmigrated_database_url,
        "SELECT TABLE_NAME FROM information_schema.TABLES "
        "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'alembic_version'",
    )
    assert version_tables == []
{%- else %}
    path = Path(make_url(unmigrated_database_url).database or "")
    assert path.is_file(), "dropped"
    tables = query(unmigrated_database_url, "SELECT name FROM sqlite_master WHERE type = 'table'")
    assert ("alembic_version",) not in tables
{%- endif %}
