"""Run the linter in-process from an empty directory, so the project's own history stays out."""

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from devtools.__main__ import main
from tests.fixtures.scratch_migrations import revision_source

FIXTURES = Path(__file__).parent / "fixtures"
FINDING = re.compile(r"^(?P<path>.+?):(?P<line>\d+): (?P<rule>\S+) ")
Lint = Callable[..., tuple[int, list[tuple[str, int, str]], str]]


@pytest.fixture
def lint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Lint:
    """Runs `python -m devtools <args>`: (exit code, [(file name, line, rule)], stdout + stderr)."""
    monkeypatch.chdir(tmp_path)

    def run(*args: str | Path) -> tuple[int, list[tuple[str, int, str]], str]:
        code = main([str(arg) for arg in args])
        captured = capsys.readouterr()
        found = [
            (Path(m["path"]).name, int(m["line"]), m["rule"])
            for m in map(FINDING.match, captured.out.splitlines())
            if m
        ]
        return code, found, captured.out + captured.err

    return run


def write_revision(directory: Path, revision: str, down: str | None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{revision}.py"
    path.write_text(
        revision_source(revision, down, 'op.execute("SELECT 1")', 'op.execute("SELECT 2")')
    )
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A minimal Alembic project: alembic.ini and an empty migrations/versions, no env.py."""
    (tmp_path / "migrations" / "versions").mkdir(parents=True)
    (tmp_path / "alembic.ini").write_text("[alembic]\nscript_location = %(here)s/migrations\n")
    return tmp_path


def copy_fixture(name: str, directory: Path) -> Path:
    return Path(shutil.copy(FIXTURES / f"{name}.py", directory / f"{name}.py"))
