"""Remove the files that belong to options the user did not choose.

FEATURE_FILES is the one place that says which file belongs to which answer.
"""

import json
import shutil
import sys
from pathlib import Path

ANSWERS_JSON = r"""{{ cookiecutter | jsonify }}"""

# Which answers a group of files needs; the files are removed unless every answer matches.
FEATURE_FILES: list[tuple[dict[str, str], list[str]]] = [
    (
        {"example_model": "yes"},
        [
            "src/{package}/models/library.py",
            "src/{package}/api/library.py",
            "migrations/versions/2026_11_25_1200-5c8a1d2e9f03_create_authors_and_books.py",
            "tests/test_library_api.py",
        ],
    ),
    (
        {"example_model": "no", "tenancy": "single"},
        ["migrations/versions/2026_11_25_1200-0b5e1ae7c4d2_baseline.py"],
    ),
    (
        # The worked examples are single-schema revisions; docs/tenancy.md shows the scoped form.
        {"tenancy": "single"},
        ["tests/migrations/examples", "tests/migrations/test_worked_examples.py"],
    ),
    (
        {"tenancy": "schema-per-tenant"},
        [
            "src/{package}/tenants.py",
            "src/{package}/models/tenant.py",
            "src/{package}/api/tenants.py",
            "migrations/versions/2026_11_25_1100-7a3c2e1f0b9d_create_tenant_registry.py",
            "tests/test_tenancy.py",
            "docs/tenancy.md",
        ],
    ),
    ({"ci": "github"}, [".github"]),
    ({"ci": "gitlab"}, [".gitlab-ci.yml"]),
    ({"docker": "yes"}, ["compose.yaml", "Dockerfile", ".dockerignore"]),
    ({"database": "postgresql"}, ["tests/test_postgresql_safety.py", ".squawk.toml"]),
]


def paths_to_remove(answers: dict[str, str]) -> list[str]:
    package = answers["package_name"]
    return [
        path.format(package=package)
        for needs, paths in FEATURE_FILES
        if any(answers[option] != value for option, value in needs.items())
        for path in paths
    ]


def remove(project_dir: Path, relative_paths: list[str]) -> None:
    for relative in relative_paths:
        path = project_dir / relative
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def main() -> int:
    answers = json.loads(ANSWERS_JSON)
    remove(Path.cwd(), paths_to_remove(answers))
    return 0


if __name__ == "__main__":
    sys.exit(main())
