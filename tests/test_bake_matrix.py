"""Every valid option combination bakes into a clean, parseable, lint-free project.

So do awkward answers (quotes, backslashes, Unicode, a 60-character package name) on a few
combinations: every check below runs on them too, and they must land in each file as typed.
"""

import ast
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from markdown_it import MarkdownIt
from markdown_it.token import Token

from local_extensions import slugify_identifier
from tests.helpers import DEFAULTS, SLUG, VALID_COMBINATIONS, bake, combination_id, post_gen

UNRENDERED = re.compile(r"\{\{ *cookiecutter|\{%-? *(if|endif|for|endfor|raw|else)")

DRIVERS = {
    "postgresql": "postgresql+asyncpg",
    "mysql": "mysql+aiomysql",
    "sqlite": "sqlite+aiosqlite",
}
AWKWARD = {
    "project_name": 'Café "Quoted" \\ Service #2',
    "description": 'Says "hi" to C:\\new\\table, naïvely — *not* [markup] <b>',
    "author": 'Zoë "Z" O\\Brien <zoe@example.com>',
    "package_name": "payment_reconciliation_and_settlement_for_europe_version_two",
}
AWKWARD_ON = [
    "postgresql-example-github-docker",
    "sqlite-no-example-gitlab-docker",
    "postgresql-tenants-example-no-ci-no-docker",
    "mysql-example-github-docker",
]
CASES = [
    *VALID_COMBINATIONS,
    *(
        {**answers, **AWKWARD}
        for answers in VALID_COMBINATIONS
        if combination_id(answers) in AWKWARD_ON
    ),
]


def case_id(answers: dict[str, str]) -> str:
    return combination_id(answers) + ("-awkward-answers" if "author" in answers else "")


def expected_paths(answers: dict[str, str]) -> dict[str, bool]:
    """Path -> whether this combination must have it."""
    package = answers.get("package_name", SLUG)
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
        f"src/{package}/main.py": True,
        f"src/{package}/models/base.py": True,
        "tests/migrations/test_schema.py": True,
        "devtools/__main__.py": True,
        "docs/migrations.md": True,
        f"src/{package}/models/library.py": example,
        f"src/{package}/api/library.py": example,
        "tests/test_library_api.py": example,
        "migrations/versions/2026_11_25_1200-5c8a1d2e9f03_create_authors_and_books.py": example,
        "migrations/versions/2026_11_25_1200-0b5e1ae7c4d2_baseline.py": not example and not tenants,
        "migrations/versions/2026_11_25_1100-7a3c2e1f0b9d_create_tenant_registry.py": tenants,
        f"src/{package}/tenants.py": tenants,
        f"src/{package}/api/tenants.py": tenants,
        "tests/test_tenancy.py": tenants,
        "docs/tenancy.md": tenants,
        "tests/migrations/test_worked_examples.py": not tenants,
        ".github/workflows/ci.yml": answers["ci"] == "github",
        ".github/dependabot.yml": answers["ci"] == "github",
        ".gitlab-ci.yml": answers["ci"] == "gitlab",
        "renovate.json": answers["ci"] == "gitlab",
        "compose.yaml": answers["docker"] == "yes",
        "Dockerfile": answers["docker"] == "yes",
        ".dockerignore": answers["docker"] == "yes",
        "tests/test_postgresql_safety.py": answers["database"] == "postgresql",
        "tests/test_interrupted_migrations.py": answers["database"] == "postgresql",
        "tests/test_database_faults.py": answers["database"] != "sqlite",
        "tests/faults.py": answers["database"] != "sqlite",
        f"src/{package}/migrator/session.py": True,
        f"src/{package}/migrator/tenancy.py": tenants,
        f"src/{package}/migrator/fanout.py": tenants,
        "tests/test_tenant_runner.py": tenants,
        "tests/test_postgresql_passwords.py": answers["database"] == "postgresql",
        ".squawk.toml": answers["database"] == "postgresql",
        "devtools/migration_lint/squawk.py": answers["database"] == "postgresql",
        "tests/devtools/test_squawk.py": answers["database"] == "postgresql",
        f"src/{package}/migrator/phases.py": True,
        "tests/test_deploy_phases.py": True,
        f"src/{package}/migrator/enums.py": answers["database"] == "postgresql",
        "tests/migrations/test_enums.py": answers["database"] == "postgresql",
        "tests/migrations/seed.py": True,
        "tests/migrations/test_seeded_stairway.py": True,
        "devtools/migration_lint/render.py": answers["database"] == "postgresql",
        "devtools/migration_report/__init__.py": True,
        "tests/test_pgbouncer.py": answers["database"] == "postgresql",
        f"src/{package}/migrator/partial.py": answers["database"] == "mysql",
        f"src/{package}/mysql_connections.py": answers["database"] == "mysql",
        "tests/test_mysql_safety.py": answers["database"] == "mysql",
        "tests/test_one_per_revision.py": answers["database"] == "mysql" and example,
        f"src/{package}/migrator/one_per_revision.py": answers["database"] == "mysql",
        "deploy/kubernetes/app/deployment.yaml": answers["deploy"] == "kubernetes",
        "deploy/kubernetes/migrate.sh": answers["deploy"] == "kubernetes",
        # The post-gen hook records the bake for cruft (the template is a git checkout).
        ".cruft.json": True,
        ".env": False,
    }


@pytest.fixture(params=CASES, ids=case_id)
def baked(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[dict[str, str], Path]:
    return request.param, bake(tmp_path, **request.param)


def text_files(project: Path) -> list[Path]:
    return [path for path in project.rglob("*") if path.is_file()]


def test_has_exactly_the_files_its_options_call_for(baked: tuple[dict[str, str], Path]) -> None:
    answers, project = baked
    for relative, wanted in expected_paths(answers).items():
        assert (project / relative).exists() == wanted, f"{relative} should exist: {wanted}"


def test_no_variant_file_survives(baked: tuple[dict[str, str], Path]) -> None:
    answers, project = baked
    sources = post_gen.variant_sources({**DEFAULTS, **answers})
    survivors = [path for path in sources if (project / path).exists()]
    assert survivors == []
    # A module named `<stem>.<variant>.py` cannot be imported: one VARIANT_FILES does not list.
    dotted = [str(path.relative_to(project)) for path in project.rglob("*.*.py")]
    assert dotted == [], "variant files missing from VARIANT_FILES"


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
    driver = DRIVERS[answers["database"]]
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


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Billing API (v2)", "billing_api_v2"),
        ("2FA Service", "svc_2fa_service"),
        ("Café Service", "cafe_service"),
    ],
)
def test_a_typed_name_alone_derives_the_directory_and_package(
    tmp_path: Path, name: str, slug: str
) -> None:
    project = bake(tmp_path, project_name=name)
    assert project == tmp_path / slug
    assert (project / "src" / slug / "main.py").is_file()


def test_the_bake_says_where_the_project_is_and_what_to_do_next(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    project = bake(tmp_path)
    assert capfd.readouterr().out.splitlines() == [
        f"Created {project}. Next: cd {project} and follow README.md's Quickstart."
    ]


def test_names_flow_into_the_package(tmp_path: Path) -> None:
    project = bake(tmp_path, project_name="Billing API", package_name="billing")
    assert project.name == "billing_api"
    assert (project / "src" / "billing" / "main.py").is_file()
    assert 'name = "billing-api"' in (project / "pyproject.toml").read_text()


@pytest.mark.parametrize("answers", CASES[len(VALID_COMBINATIONS) :], ids=case_id)
def test_awkward_answers_land_as_typed(tmp_path: Path, answers: dict[str, str]) -> None:
    assert len(AWKWARD["package_name"]) == 60
    project = bake(tmp_path, **answers)
    assert project.name == slugify_identifier(AWKWARD["project_name"]) == "cafe_quoted_service_2"
    package = project / "src" / AWKWARD["package_name"]

    metadata = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    assert metadata["description"] == AWKWARD["description"]
    assert metadata["authors"] == [{"name": 'Zoë "Z" O\\Brien', "email": "zoe@example.com"}]

    tokens = MarkdownIt().parse((project / "README.md").read_text())
    heading, description = [token for token in tokens if token.type == "inline"][:2]
    assert tokens[0].tag == "h1" and heading.map == [0, 1] and description.map == [2, 3]
    assert plain_text(heading) == AWKWARD["project_name"]
    assert plain_text(description) == AWKWARD["description"]

    docstring = ast.get_docstring(ast.parse((package / "__init__.py").read_text()))
    assert docstring is not None and " ".join(docstring.split()) == AWKWARD["description"]
    titles = [
        ast.literal_eval(keyword.value)
        for node in ast.walk(ast.parse((package / "main.py").read_text()))
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "FastAPI"
        for keyword in node.keywords
        if keyword.arg == "title"
    ]
    assert titles == [AWKWARD["project_name"]]

    recorded = json.loads((project / ".cruft.json").read_text())["context"]["cookiecutter"]
    assert {key: recorded[key] for key in AWKWARD} == AWKWARD


def plain_text(inline: Token) -> str:
    """The text a Markdown inline renders to, markup removed."""
    return "".join(child.content for child in inline.children or [] if child.type == "text")
