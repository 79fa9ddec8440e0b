"""Smoke test: `python -m devtools lint-migrations` runs on this project and reports a danger.

The linter's rules are the template's code, tested in its own repository; this checks that the
tool works here, on this project's revisions.
"""

import subprocess
import sys
from pathlib import Path

from tests.fixtures.scratch_migrations import PROJECT, revision_source

NO_SQUAWK = [{{ '"--no-squawk"' if cookiecutter.database == "postgresql" }}]


def lint(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "devtools", "lint-migrations", *NO_SQUAWK, *map(str, args)],
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
