"""A baked project records its template and answers, and learns when the template moves on.

Both ways of baking count: `cruft create`, and plain cookiecutter, whose post-gen hook writes the
same .cruft.json from the template's git checkout.
"""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import SLUG, TEMPLATE, bake, tool

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Template Test",
    "GIT_AUTHOR_EMAIL": "template@example.com",
    "GIT_COMMITTER_NAME": "Template Test",
    "GIT_COMMITTER_EMAIL": "template@example.com",
}
# Answers that must survive the round trip through .cruft.json and `cruft update`.
ANSWERS = {"project_name": 'Café "Q" \\ Service', "database": "sqlite"}


def git(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True
    ).stdout.strip()


def template_repository(destination: Path, env: dict[str, str]) -> Path:
    """A git repository holding a copy of this template, as cruft expects."""
    ignore = shutil.ignore_patterns(".git", ".venv", ".nox", "__pycache__", ".*_cache", "bench")
    shutil.copytree(TEMPLATE, destination, ignore=ignore)
    git(["init", "--quiet", "--initial-branch=main"], destination, env)
    git(["add", "--all"], destination, env)
    git(["commit", "--quiet", "-m", "template"], destination, env)
    return destination


def bake_with_cruft(template: Path, output_dir: Path, env: dict[str, str]) -> Path:
    answers = json.dumps(ANSWERS)
    subprocess.run(
        [tool("cruft"), "create", "--no-input", "--output-dir", str(output_dir)]
        + ["--extra-context", answers, str(template)],
        env=env,
        check=True,
        capture_output=True,
    )
    return output_dir / "cafe_q_service"


def bake_with_cookiecutter(template: Path, output_dir: Path, env: dict[str, str]) -> Path:
    return bake(output_dir, template=template, **ANSWERS)


@pytest.mark.parametrize("bake_project", [bake_with_cruft, bake_with_cookiecutter])
def test_cruft_reports_a_baked_project_out_of_date_and_updates_it(
    tmp_path: Path, clean_env: dict[str, str], bake_project
) -> None:
    env = {**clean_env, **GIT_IDENTITY}
    template = template_repository(tmp_path / "template", env)
    project = bake_project(template, tmp_path / "projects", env)
    cruft = tool("cruft")

    recorded = json.loads((project / ".cruft.json").read_text())
    assert recorded["template"] == str(template)
    assert recorded["commit"] == git(["rev-parse", "HEAD"], template, env)
    assert recorded["directory"] is None
    answers = recorded["context"]["cookiecutter"]
    assert {key: answers[key] for key in ANSWERS} == ANSWERS
    assert answers["project_slug"] == answers["package_name"] == "cafe_q_service" != SLUG

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
    changed = git(["status", "--porcelain"], project, env).splitlines()
    assert sorted(line.split()[-1] for line in changed) == [".cruft.json", "docs/migrations.md"]
    assert (
        subprocess.run([cruft, "check"], cwd=project, env=env, capture_output=True).returncode == 0
    )
