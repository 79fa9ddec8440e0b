"""Smoke test: squawk reads this project's offline SQL and points at the operation's line.

DATABASE_URL, if set, only picks the dialect; nothing connects.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.fixtures.scratch_migrations import PROJECT, revision_source

SETUP = ("alembic.ini", ".squawk.toml", "migrations/env.py", "migrations/script.py.mako")


def lint(project: Path) -> subprocess.CompletedProcess[str]:
    # devtools comes from this project wherever the revisions are.
    environment = {**os.environ, "PYTHONPATH": str(PROJECT)}
    return subprocess.run(
        [sys.executable, "-m", "devtools", "lint-migrations"],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_project_revisions_pass_squawk() -> None:
    result = lint(PROJECT)
    assert (result.returncode, result.stdout) == (0, ""), result.stdout + result.stderr


def test_a_blocking_index_is_reported_on_its_line(tmp_path: Path) -> None:
    for name in SETUP:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(PROJECT / name, tmp_path / name)
    revision = tmp_path / "migrations" / "versions" / "1a2b3c4d5e6f_index_titles.py"
    revision.parent.mkdir()
    upgrade = ['op.execute("SELECT 1")', 'op.create_index("ix_books_title", "books", ["title"])']
    source = revision_source("1a2b3c4d5e6f", None, upgrade, 'op.drop_index("ix_books_title")')
    revision.write_text(source)
    line = source.splitlines().index('    op.create_index("ix_books_title", "books", ["title"])')
    result = lint(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    expected = f"{revision.relative_to(tmp_path)}:{line + 1}: squawk:require-concurrent-index"
    assert result.stdout.startswith(expected), result.stdout
    assert "CREATE INDEX ix_books_title ON books (title)" in result.stdout
