"""A project baked with cruft records its template and answers and learns when it is outdated."""

import json
import shutil
import subprocess
from pathlib import Path

from tests.conftest import SLUG, TEMPLATE, tool

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Template Test",
    "GIT_AUTHOR_EMAIL": "template@example.com",
    "GIT_COMMITTER_NAME": "Template Test",
    "GIT_COMMITTER_EMAIL": "template@example.com",
}


def git(args: list[str], cwd: Path, env: dict[str, str]) -> None:
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)


def template_repository(destination: Path, env: dict[str, str]) -> Path:
    """A git repository holding a copy of this template, as cruft expects."""
    ignore = shutil.ignore_patterns(".git", ".venv", ".nox", "__pycache__", ".*_cache", "bench")
    shutil.copytree(TEMPLATE, destination, ignore=ignore)
    git(["init", "--quiet", "--initial-branch=main"], destination, env)
    git(["add", "--all"], destination, env)
    git(["commit", "--quiet", "-m", "template"], destination, env)
    return destination


def test_cruft_reports_a_baked_project_out_of_date_after_a_template_change(
    tmp_path: Path, clean_env: dict[str, str]
) -> None:
    env = {**clean_env, **GIT_IDENTITY}
    template = template_repository(tmp_path / "template", env)
    projects = tmp_path / "projects"
    cruft = tool("cruft")
    subprocess.run(
        [cruft, "create", "--no-input", "--output-dir", str(projects), str(template)],
        env=env,
        check=True,
        capture_output=True,
    )
    project = projects / SLUG
    recorded = json.loads((project / ".cruft.json").read_text())
    assert recorded["template"] == str(template)
    assert recorded["context"]["cookiecutter"]["database"] == "postgresql"

    up_to_date = subprocess.run([cruft, "check"], cwd=project, env=env, capture_output=True)
    assert up_to_date.returncode == 0, up_to_date.stdout + up_to_date.stderr

    doc = template / "{{cookiecutter.project_slug}}" / "docs" / "migrations.md"
    doc.write_text(doc.read_text() + "\nA new section.\n")
    git(["commit", "--quiet", "--all", "-m", "improve the docs"], template, env)

    outdated = subprocess.run(
        [cruft, "check"], cwd=project, env=env, capture_output=True, text=True
    )
    assert outdated.returncode != 0
    assert "out of date" in outdated.stdout + outdated.stderr

    # `cruft update` applies the template's change as a diff to a committed project.
    git(["init", "--quiet"], project, env)
    git(["add", "--all"], project, env)
    git(["commit", "--quiet", "-m", "baked"], project, env)
    updated = subprocess.run(
        [cruft, "update", "--skip-apply-ask"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
    )
    assert updated.returncode == 0, updated.stdout + updated.stderr
    assert (project / "docs" / "migrations.md").read_text().endswith("A new section.\n")
    assert (
        subprocess.run([cruft, "check"], cwd=project, env=env, capture_output=True).returncode == 0
    )
