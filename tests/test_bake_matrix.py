"""Every valid option combination bakes into a clean, parseable, lint-free project."""

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from tests.conftest import SLUG, VALID_COMBINATIONS, bake, combination_id

UNRENDERED = re.compile(r"\{\{ *cookiecutter|\{%-? *(if|endif|for|endfor|raw|else)")


def expected_paths(answers: dict[str, str]) -> dict[str, bool]:
    """Path -> whether this combination must have it."""
    example = answers["example_model"] == "yes"
    tenants = answers["tenancy"] == "schema-per-tenant"
    return {
        "README.md": True,
        ".env.example": True,
        ".gitignore": True,
        "alembic.ini": True,
        "noxfile.py": True,
        "migrations/env.py": True,
        "migrations/script.py.mako": True,
        f"src/{SLUG}/main.py": True,
        f"src/{SLUG}/models/base.py": True,
        "tests/migrations/test_schema.py": True,
        "devtools/__main__.py": True,
        "docs/migrations.md": True,
        f"src/{SLUG}/models/library.py": example,
        f"src/{SLUG}/api/library.py": example,
        "tests/test_library_api.py": example,
        "migrations/versions/2026_11_25_1200-5c8a1d2e9f03_create_authors_and_books.py": example,
        "migrations/versions/2026_11_25_1200-0b5e1ae7c4d2_baseline.py": not example and not tenants,
        "migrations/versions/2026_11_25_1100-7a3c2e1f0b9d_create_tenant_registry.py": tenants,
        f"src/{SLUG}/tenants.py": tenants,
        f"src/{SLUG}/api/tenants.py": tenants,
        "tests/test_tenancy.py": tenants,
        "docs/tenancy.md": tenants,
        "tests/migrations/test_worked_examples.py": not tenants,
        ".github/workflows/ci.yml": answers["ci"] == "github",
        ".gitlab-ci.yml": answers["ci"] == "gitlab",
        "compose.yaml": answers["docker"] == "yes",
        "Dockerfile": answers["docker"] == "yes",
        ".env": False,
    }


@pytest.fixture(params=VALID_COMBINATIONS, ids=combination_id)
def baked(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[dict[str, str], Path]:
    return request.param, bake(tmp_path, **request.param)


def text_files(project: Path) -> list[Path]:
    return [path for path in project.rglob("*") if path.is_file()]


def test_has_exactly_the_files_its_options_call_for(baked: tuple[dict[str, str], Path]) -> None:
    answers, project = baked
    for relative, wanted in expected_paths(answers).items():
        assert (project / relative).exists() == wanted, f"{relative} should exist: {wanted}"


def test_nothing_is_left_unrendered(baked: tuple[dict[str, str], Path]) -> None:
    _, project = baked
    leftovers = [
        f"{path.relative_to(project)}:{number}: {line.strip()}"
        for path in text_files(project)
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if UNRENDERED.search(line)
    ]
    assert leftovers == []


def test_no_blank_line_junk(baked: tuple[dict[str, str], Path]) -> None:
    _, project = baked
    for path in text_files(project):
        text = path.read_text()
        if not text:
            continue
        assert text.endswith("\n") and not text.endswith("\n\n"), f"{path} trailing blank lines"
        assert not text.startswith("\n"), f"{path} starts with a blank line"
        assert "\n\n\n\n" not in text, f"{path} has a run of blank lines"


def test_python_toml_and_yaml_parse(baked: tuple[dict[str, str], Path]) -> None:
    _, project = baked
    for path in text_files(project):
        if path.suffix == ".py":
            ast.parse(path.read_text(), filename=str(path))
        elif path.suffix == ".toml":
            tomllib.loads(path.read_text())
        elif path.suffix in {".yml", ".yaml"}:
            yaml.safe_load(path.read_text())


def test_ruff_lint_and_format_are_clean(baked: tuple[dict[str, str], Path]) -> None:
    _, project = baked
    for args in (["check", "--no-cache", "."], ["format", "--check", "--no-cache", "."]):
        result = subprocess.run(
            [sys.executable, "-m", "ruff", *args],
            cwd=project,
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_env_example_points_at_the_chosen_database(baked: tuple[dict[str, str], Path]) -> None:
    answers, project = baked
    driver = "postgresql+asyncpg" if answers["database"] == "postgresql" else "sqlite+aiosqlite"
    assert f"DATABASE_URL={driver}://" in (project / ".env.example").read_text()
    assert ".env\n" in (project / ".gitignore").read_text()


def test_alembic_ini_holds_no_database_url(baked: tuple[dict[str, str], Path]) -> None:
    _, project = baked
    assert "sqlalchemy.url" not in (project / "alembic.ini").read_text()


def test_exclusions_reach_alembic_ini(tmp_path: Path) -> None:
    project = bake(tmp_path, autogenerate_exclude="audit_*,spatial_ref_sys")
    assert (
        "autogenerate_exclude = audit_*,spatial_ref_sys\n" in (project / "alembic.ini").read_text()
    )


def test_names_flow_into_the_package(tmp_path: Path) -> None:
    project = bake(tmp_path, project_name="Billing API", package_name="billing")
    assert project.name == "billing_api"
    assert (project / "src" / "billing" / "main.py").is_file()
    assert 'name = "billing-api"' in (project / "pyproject.toml").read_text()
