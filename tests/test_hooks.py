"""Unit tests for the pure functions in the cookiecutter hooks and the template's Jinja filters."""

import ast
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from jinja2 import Environment

import local_extensions
from tests.helpers import (
    DEFAULTS,
    OPTIONS,
    TEMPLATE,
    VALID_COMBINATIONS,
    combination_id,
    post_gen,
    pre_gen,
)

# --- pre-gen: answers -------------------------------------------------------------------------


def test_default_answers_have_no_problems() -> None:
    assert pre_gen.problems(DEFAULTS) == []
    assert DEFAULTS["project_slug"] == DEFAULTS["package_name"] == "my_service"


def test_every_single_valid_answer_bakes_without_a_second_one() -> None:
    for option, values in OPTIONS.items():
        for value in values:
            assert pre_gen.problems({**DEFAULTS, option: value}) == [], f"{option}={value}"


def test_the_matrix_has_readable_unique_ids_and_only_valid_combinations() -> None:
    ids = [combination_id(answers) for answers in VALID_COMBINATIONS]
    assert len(set(ids)) == len(ids)
    assert "sqlite-no-example-gitlab-no-docker" in ids
    assert "sqlite-example-github-docker" in ids
    assert not any(name.startswith("sqlite-tenants") for name in ids)


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


def test_a_slug_too_long_for_a_postgresql_database_name_is_refused() -> None:
    slug = "s" * 64
    [problem] = pre_gen.problems({**DEFAULTS, "project_slug": slug, "package_name": "s"})
    assert problem.startswith("project_slug is 64 characters and names the PostgreSQL database")
    assert pre_gen.problems({**DEFAULTS, "project_slug": slug[:63], "package_name": "s"}) == []
    assert pre_gen.problems({**DEFAULTS, "project_slug": slug, "database": "sqlite"}) == []


def test_sqlite_with_docker_is_accepted() -> None:
    assert pre_gen.problems({**DEFAULTS, "database": "sqlite", "docker": "yes"}) == []


@pytest.mark.parametrize("database", ["sqlite", "mysql"])
def test_schema_per_tenant_needs_postgresql(database: str) -> None:
    answers = {**DEFAULTS, "database": database, "tenancy": "schema-per-tenant"}
    [problem] = pre_gen.problems(answers)
    assert problem == (
        f"tenancy=schema-per-tenant needs PostgreSQL schemas, which database={database} lacks: "
        "answer database=postgresql or tenancy=single"
    )


def test_a_mysql_database_name_is_at_most_64_characters() -> None:
    answers = {**DEFAULTS, "database": "mysql", "project_slug": "s" * 65, "package_name": "pkg"}
    [problem] = pre_gen.problems(answers)
    assert problem == (
        "project_slug is 65 characters and names the MySQL database, which allows 64: "
        "choose a shorter slug"
    )
    assert pre_gen.problems({**answers, "project_slug": "s" * 64}) == []


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        ({"database": "sqlite"}, "deploy=kubernetes needs database=postgresql: the migration"),
        ({"database": "mysql"}, "deploy=kubernetes needs database=postgresql: its migration"),
        ({"docker": "no"}, "deploy=kubernetes runs the image the Dockerfile builds"),
    ],
    ids=["sqlite", "mysql", "no-docker"],
)
def test_kubernetes_needs_postgresql_and_the_image(answers: dict[str, str], expected: str) -> None:
    [problem] = pre_gen.problems({**DEFAULTS, "deploy": "kubernetes", **answers})
    assert problem.startswith(expected)


def test_exclusions_accept_names_and_prefixes() -> None:
    assert pre_gen.exclude_problem("audit_*, spatial_ref_sys,") is None


# --- post-gen: features and variants ----------------------------------------------------------


def test_defaults_keep_every_default_feature() -> None:
    removed = post_gen.paths_to_remove(DEFAULTS)
    assert ".github" not in removed
    assert "compose.yaml" not in removed
    assert "src/my_service/models/library.py" not in removed
    assert ".gitlab-ci.yml" in removed
    assert "deploy" in removed


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


@pytest.mark.parametrize(
    ("database", "kept"), [("postgresql", True), ("mysql", True), ("sqlite", False)]
)
def test_a_tuple_of_answers_keeps_files_for_any_of_them(database: str, kept: bool) -> None:
    removed = post_gen.paths_to_remove({**DEFAULTS, "database": database})

    assert ("tests/test_database_faults.py" not in removed) == kept
    assert post_gen.matches({"database": database}, {"database": ("postgresql", "mysql")}) == kept


def test_remove_deletes_files_and_directories(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "file").write_text("x")
    (tmp_path / "single").write_text("x")
    post_gen.remove(tmp_path, ["dir", "single", "never-existed"])
    assert list(tmp_path.iterdir()) == []


def test_variant_files_are_named_beside_their_target() -> None:
    for _, target, variant in post_gen.VARIANT_FILES:
        target_path, variant_path = Path(target), Path(variant)
        assert variant_path.parent == target_path.parent, variant
        assert variant_path.name.startswith(target_path.stem + "."), variant
        assert variant_path.suffix == target_path.suffix, variant
        assert len(variant_path.suffixes) >= 2, f"{variant}: not <stem>.<variant>.<ext>"


def test_matching_variants_are_chosen_and_every_variant_is_a_source() -> None:
    tenants = {**DEFAULTS, "tenancy": "schema-per-tenant"}
    chosen = post_gen.variants_to_apply(tenants)
    assert ("migrations/env.tenants.py", "migrations/env.py") in chosen
    sqlite = post_gen.variants_to_apply({**DEFAULTS, "database": "sqlite"})
    assert ("compose.sqlite.yaml", "compose.yaml") in sqlite
    assert ("migrations/env.tenants.py", "migrations/env.py") not in sqlite
    assert post_gen.variants_to_apply(DEFAULTS) == []
    sources = post_gen.variant_sources(DEFAULTS)
    assert {"migrations/env.tenants.py", "compose.sqlite.yaml"} <= set(sources)


def test_apply_variants_replaces_the_target_and_leaves_no_source(tmp_path: Path) -> None:
    package = DEFAULTS["package_name"]
    variants = [
        (variant.format(package=package), target.format(package=package))
        for _, target, variant in post_gen.VARIANT_FILES
    ]
    for variant, target in variants:
        (tmp_path / variant).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / target).write_text("default")
        (tmp_path / variant).write_text(f"variant of {target}")
    post_gen.apply_variants(tmp_path, {**DEFAULTS, "tenancy": "schema-per-tenant"})
    assert (tmp_path / "migrations/env.py").read_text() == "variant of migrations/env.py"
    assert (tmp_path / "compose.yaml").read_text() == "default"
    assert not any((tmp_path / variant).exists() for variant, _ in variants)


def test_a_missing_variant_fails_the_bake(tmp_path: Path) -> None:
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "env.py").write_text("default")
    with pytest.raises(FileNotFoundError):
        post_gen.apply_variants(tmp_path, {**DEFAULTS, "tenancy": "schema-per-tenant"})


LONG = "payment_reconciliation_and_settlement_for_europe_version_two"
IMPORTS = f"""import asyncio

from my_service.db import create_engine
from {LONG}.api.deps import EngineDep, SessionDep
from {LONG}.api.tenants import TenantSessionDep as SessionDep


def main() -> None:
    from {LONG}.settings import ConfigurationError, get_settings
"""


def ruff(source: str, *arguments: str) -> str:
    command = [sys.executable, "-m", "ruff", *arguments, "--isolated", "--line-length=100", "-"]
    return subprocess.run(command, input=source, capture_output=True, text=True).stdout


def test_long_imports_are_wrapped_as_ruff_would_and_short_ones_kept() -> None:
    wrapped = post_gen.wrap_long_imports(IMPORTS)

    assert "from my_service.db import create_engine\n" in wrapped
    assert f"    from {LONG}.settings import (\n        ConfigurationError,\n" in wrapped
    assert all(len(line) <= 100 for line in wrapped.splitlines())
    assert ruff(wrapped, "format") == wrapped
    assert ruff(wrapped, "check", "--select=I,E501", "--fix-only", "--exit-zero") == wrapped
    assert post_gen.wrap_long_imports(wrapped) == wrapped


# --- post-gen: the bake's record ----------------------------------------------------------------


def record(template: str, root: str, directory: str, origin: str | None) -> dict[str, object]:
    context = {**DEFAULTS, "_template": template, "_repo_dir": "x", "_checkout": None}
    return post_gen.cruft_record(context, Path(root), "abc123", origin, Path(root) / directory)


def test_a_local_template_is_recorded_by_path_with_the_answers() -> None:
    recorded = record("../alembic-starter", "/src/alembic-starter", ".", "git@host:org/x.git")
    assert recorded["template"] == "/src/alembic-starter"
    assert recorded["commit"] == "abc123"
    assert recorded["directory"] is None
    assert recorded["context"] == {
        "cookiecutter": {**DEFAULTS, "_template": "/src/alembic-starter", "_commit": "abc123"}
    }


@pytest.mark.parametrize(
    "template", ["gh:org/alembic-starter", "https://github.com/org/x", "git@github.com:org/x.git"]
)
def test_a_cloned_template_is_recorded_by_the_url_it_came_from(template: str) -> None:
    origin = "https://github.com/org/alembic-starter.git"
    recorded = record(template, "/home/me/.cookiecutters/alembic-starter", "sub", origin)
    assert recorded["template"] == origin
    assert recorded["directory"] == "sub"


def test_cruft_renders_are_recognised() -> None:
    assert post_gen.baked_by_cruft({**DEFAULTS, "_commit": "abc"})
    assert not post_gen.baked_by_cruft({**DEFAULTS, "_repo_dir": "/x"})


def test_no_record_outside_a_git_checkout(tmp_path: Path) -> None:
    assert not post_gen.record_bake(tmp_path, {**DEFAULTS, "_template": "x"}, tmp_path)
    assert not (tmp_path / ".cruft.json").exists()


# --- the Jinja filters --------------------------------------------------------------------------

AWKWARD = [
    "plain",
    'Say "hi"',
    "it's",
    "both \"a\" and 'b'",
    "back\\slash",
    "ends in a backslash\\",
    "C:\\new\\table",
    "tab\there",
    "Café Service — ünïcödé ✓",
    "delete\x7f",
    '"""triple"""',
    'ends with a quote"',
    '"starts with a quote',
    "",
    "x" * 150 + " y",
    " ".join(["word"] * 40),
]


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("My Service", "my_service"),
        ("Billing API (v2)", "billing_api_v2"),
        ("2FA Service", "svc_2fa_service"),
        ("Café Service", "cafe_service"),
        ("Straße--Plan__B", "strasse_plan_b"),
        ("class", "svc_class"),
        ("Match", "svc_match"),
        ("!!!", "svc"),
        ("Word " * 20, "word" + "_word" * 11),
        ("2" + " word" * 20, "svc_2" + "_word" * 11),
    ],
    ids=str.strip,
)
def test_a_typed_name_derives_a_valid_identifier(name: str, slug: str) -> None:
    assert local_extensions.slugify_identifier(name) == slug
    assert pre_gen.identifier_problem("project_slug", slug) is None


@pytest.mark.parametrize("value", AWKWARD)
def test_python_string_is_the_literal_ruff_format_would_write(tmp_path: Path, value: str) -> None:
    literal = local_extensions.python_string(value)
    assert ast.literal_eval(literal) == value
    docstring = local_extensions.python_docstring(value)
    assert " ".join(ast.literal_eval(docstring).split()) == " ".join(value.split())
    source = tmp_path / "module.py"
    source.write_text(f"{docstring}\n\nTITLE = {literal}\n")
    formatted = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--isolated", "--line-length=100", "-"],
        input=source.read_text(),
        capture_output=True,
        text=True,
        check=True,
    )
    assert formatted.stdout == source.read_text()
    assert all(len(line) <= 100 or " " not in line for line in docstring.splitlines())


@pytest.mark.parametrize("value", AWKWARD)
def test_toml_string_and_author_round_trip(value: str) -> None:
    assert tomllib.loads(f"v = {local_extensions.toml_string(value)}")["v"] == value
    authors = tomllib.loads(f"v = [{local_extensions.toml_author(value + ' <a@b.example>')}]")
    name = {"name": value} if value else {}
    assert authors["v"] == [{**name, "email": "a@b.example"}]


def test_an_author_is_split_into_name_and_email() -> None:
    author = local_extensions.toml_author
    assert author("Your Name <you@example.com>") == (
        '{ name = "Your Name", email = "you@example.com" }'
    )
    assert author("Ada Lovelace") == '{ name = "Ada Lovelace" }'
    assert author("<ada@example.com>") == '{ email = "ada@example.com" }'
    assert author("  ") == ""


@pytest.mark.parametrize(
    ("value", "markdown"),
    [
        ("My Service", "My Service"),
        ("my_service is *not* [a link](x) <b>", r"my_service is \*not\* \[a link\](x) \<b\>"),
        ("`code` and C:\\path", "\\`code\\` and C:\\\\path"),
        ("# not a heading #2", "\\# not a heading \\#2"),
        ("- not a list", "\\- not a list"),
        ("1. not a list", "1\\. not a list"),
        ("2FA Service", "2FA Service"),
    ],
)
def test_markdown_text_renders_as_typed(value: str, markdown: str) -> None:
    assert local_extensions.markdown_text(value) == markdown


def test_the_filters_are_registered_under_their_names() -> None:
    environment = Environment(extensions=[local_extensions.TemplateFilters])
    rendered = environment.from_string("{{ name | python_string }} {{ name | toml_string }}")
    assert rendered.render(name='a "b"') == '\'a "b"\' "a \\"b\\""'
    context = json.loads((TEMPLATE / "cookiecutter.json").read_text())
    assert context["_extensions"] == ["local_extensions.TemplateFilters"]
