"""Unit tests for the pure functions in the cookiecutter hooks."""

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

HOOKS = Path(__file__).resolve().parents[1] / "hooks"

DEFAULTS = {
    "project_name": "My Service",
    "project_slug": "my_service",
    "package_name": "my_service",
    "database": "postgresql",
    "tenancy": "single",
    "example_model": "yes",
    "ci": "github",
    "docker": "yes",
    "autogenerate_exclude": "",
}


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, HOOKS / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pre_gen = load("pre_gen_project")
post_gen = load("post_gen_project")


def test_default_answers_have_no_problems() -> None:
    assert pre_gen.problems(DEFAULTS) == []


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("project_slug", "my-service", "project_slug 'my-service' is not a valid Python"),
        ("project_slug", "2fast", "project_slug '2fast' is not a valid Python identifier"),
        ("package_name", "class", "package_name 'class' is a Python keyword"),
        ("package_name", "match", "package_name 'match' is a Python keyword"),
        ("package_name", "MyService", "package_name 'MyService' has uppercase letters"),
        ("package_name", "café", "package_name 'café' is not a valid Python identifier"),
        ("project_name", "  ", "project_name is empty"),
        ("autogenerate_exclude", "audit_*, bad-name", "autogenerate_exclude item 'bad-name'"),
    ],
    ids=lambda value: str(value).replace(" ", "_")[:30],
)
def test_bad_answer_is_named_with_its_fix(option: str, value: str, expected: str) -> None:
    found = pre_gen.problems({**DEFAULTS, option: value})
    assert len(found) == 1
    assert found[0].startswith(expected)
    assert ":" in found[0], "each message says how to fix it after a colon"


def test_a_bad_slug_is_reported_once_when_the_package_name_is_derived_from_it() -> None:
    found = pre_gen.problems(
        {**DEFAULTS, "project_slug": "my-service", "package_name": "my-service"}
    )
    assert [problem.split(" ")[0] for problem in found] == ["project_slug"]


def test_sqlite_with_docker_is_incompatible() -> None:
    found = pre_gen.problems({**DEFAULTS, "database": "sqlite", "docker": "yes"})
    assert found == [
        "docker=yes runs a local PostgreSQL, which database=sqlite does not use: "
        "answer docker=no or database=postgresql"
    ]


def test_sqlite_with_schema_per_tenant_is_incompatible() -> None:
    answers = {**DEFAULTS, "database": "sqlite", "docker": "no", "tenancy": "schema-per-tenant"}
    [problem] = pre_gen.problems(answers)
    assert problem.startswith("tenancy=schema-per-tenant needs PostgreSQL schemas")


def test_exclusions_accept_names_and_prefixes() -> None:
    assert pre_gen.exclude_problem("audit_*, spatial_ref_sys,") is None


def test_defaults_keep_every_default_feature() -> None:
    removed = post_gen.paths_to_remove(DEFAULTS)
    assert ".github" not in removed
    assert "compose.yaml" not in removed
    assert "src/my_service/models/library.py" not in removed
    assert ".gitlab-ci.yml" in removed


def test_unchosen_features_are_removed_with_the_package_name_filled_in() -> None:
    answers = {**DEFAULTS, "package_name": "billing", "example_model": "no", "ci": "none"}
    removed = post_gen.paths_to_remove(answers)
    assert "src/billing/models/library.py" in removed
    assert ".github" in removed
    assert not any("{package}" in path for path in removed)


def test_baseline_revision_is_kept_only_for_single_tenancy_without_example() -> None:
    baseline = "migrations/versions/2026_11_25_1200-0b5e1ae7c4d2_baseline.py"
    registry = "migrations/versions/2026_11_25_1100-7a3c2e1f0b9d_create_tenant_registry.py"
    no_example = {**DEFAULTS, "example_model": "no"}
    assert baseline not in post_gen.paths_to_remove(no_example)
    assert registry in post_gen.paths_to_remove(no_example)
    tenants = {**no_example, "tenancy": "schema-per-tenant"}
    assert baseline in post_gen.paths_to_remove(tenants)
    assert registry not in post_gen.paths_to_remove(tenants)


def test_remove_deletes_files_and_directories(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "file").write_text("x")
    (tmp_path / "single").write_text("x")
    post_gen.remove(tmp_path, ["dir", "single", "never-existed"])
    assert list(tmp_path.iterdir()) == []
