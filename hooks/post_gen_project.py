"""Shape the baked project to its answers, record how it was baked, and say where it is.

FEATURE_FILES and VARIANT_FILES are the one place that says which file belongs to which answer;
the functions below only apply them. Nothing here uses the network.
"""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

ANSWERS_JSON = r"""{{ cookiecutter | jsonify }}"""
# cookiecutter renders hooks from inside the template directory: this is its absolute path.
TEMPLATE_DIR = r"""{{ '.' | absolute_path }}"""

# Which answers a group of files needs; the files are removed unless every answer matches.
# An answer, or any of a tuple of answers.
Needs = dict[str, str | tuple[str, ...]]

FEATURE_FILES: list[tuple[Needs, list[str]]] = [
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
            "src/{package}/migrator/tenancy.py",
            "src/{package}/migrator/fanout.py",
            "src/{package}/migrator/workers.py",
            "src/{package}/migrator/progress.py",
            "tests/test_tenant_runner.py",
            "tests/test_tenancy.py",
            "docs/tenancy.md",
        ],
    ),
    # .github holds the workflow and dependabot.yml; on GitLab, renovate.json does Dependabot's job.
    ({"ci": "github"}, [".github"]),
    ({"ci": "gitlab"}, [".gitlab-ci.yml", "renovate.json"]),
    ({"docker": "yes"}, ["compose.yaml", "Dockerfile", ".dockerignore"]),
    ({"deploy": "kubernetes"}, ["deploy"]),
    (
        {"database": "postgresql"},
        [
            "tests/test_postgresql_safety.py",
            "tests/test_interrupted_migrations.py",
            "tests/test_postgresql_passwords.py",
            "src/{package}/migrator/locks.py",
            "src/{package}/migrator/blockers.py",
            "src/{package}/migrator/timeouts.py",
            "tests/test_lock_retries.py",
            "tests/test_backfill.py",
            ".squawk.toml",
            "devtools/migration_lint/squawk.py",
            "devtools/migration_lint/render.py",
            "tests/devtools/test_squawk.py",
            "src/{package}/migrator/enums.py",
            "tests/migrations/test_enums.py",
            "tests/test_safe_operations.py",
            "tests/test_pgbouncer.py",
            "tests/fixtures/pgbouncer.py",
        ],
    ),
    ({"database": "postgresql", "example_model": "yes"}, ["tests/test_safe_autogenerate.py"]),
    (
        {"database": "mysql"},
        [
            "src/{package}/mysql_connections.py",
            "src/{package}/migrator/partial.py",
            "src/{package}/migrator/one_per_revision.py",
            "tests/test_mysql_safety.py",
            "devtools/migration_lint/mysql.py",
        ],
    ),
    ({"database": "mysql", "example_model": "yes"}, ["tests/test_one_per_revision.py"]),
    # A database server can stall or go away; a SQLite file cannot.
    ({"database": ("postgresql", "mysql")}, ["tests/faults.py", "tests/test_database_faults.py"]),
]

# Whole-file variants: (answers needed, target, variant). The variant, named
# `<stem>.<variant>.<ext>` beside its target, replaces the target when every answer matches;
# afterwards no variant file is left, whatever the answers. Variants apply before FEATURE_FILES
# prunes, so a pruned target stays pruned.
VARIANT_FILES: list[tuple[Needs, str, str]] = [
    ({"tenancy": "schema-per-tenant"}, "migrations/env.py", "migrations/env.tenants.py"),
    ({"database": "sqlite"}, "compose.yaml", "compose.sqlite.yaml"),
    (
        {"database": "sqlite"},
        "src/{package}/migrator/session.py",
        "src/{package}/migrator/session.sqlite.py",
    ),
    ({"database": "mysql"}, "compose.yaml", "compose.mysql.yaml"),
    (
        {"database": "mysql"},
        "src/{package}/migrator/session.py",
        "src/{package}/migrator/session.mysql.py",
    ),
]

# The baked project's ruff line-length.
LINE_LENGTH = 100
ONE_LINE_IMPORT = re.compile(r"(\s*)from ([\w.]+) import ([\w, ]+)")

# Where a template given as `gh:org/name`, `https://...` or `git@host:...` was cloned from
# (cookiecutter clones those); anything else is a local directory.
REMOTE_TEMPLATE = re.compile(r"^[A-Za-z][\w+.-]+:|^[\w.-]+@")


def matches(answers: dict[str, str], needs: Needs) -> bool:
    """Whether every answer is the one needed, or one of the ones a tuple lists."""
    return all(
        answers[option] in (value if isinstance(value, tuple) else (value,))
        for option, value in needs.items()
    )


def paths_to_remove(answers: dict[str, str]) -> list[str]:
    package = answers["package_name"]
    return [
        path.format(package=package)
        for needs, paths in FEATURE_FILES
        if not matches(answers, needs)
        for path in paths
    ]


def variants_to_apply(answers: dict[str, str]) -> list[tuple[str, str]]:
    """(variant, target) pairs whose answers match, in table order."""
    package = answers["package_name"]
    return [
        (variant.format(package=package), target.format(package=package))
        for needs, target, variant in VARIANT_FILES
        if matches(answers, needs)
    ]


def variant_sources(answers: dict[str, str]) -> list[str]:
    """Every variant file of the table: none of them belongs in a baked project."""
    return [variant.format(package=answers["package_name"]) for _, _, variant in VARIANT_FILES]


def apply_variants(project_dir: Path, answers: dict[str, str]) -> None:
    for variant, target in variants_to_apply(answers):
        # A missing variant is a bug in the template: fail the bake rather than ship the default.
        (project_dir / variant).replace(project_dir / target)
    remove(project_dir, variant_sources(answers))


def remove(project_dir: Path, relative_paths: list[str]) -> None:
    for relative in relative_paths:
        path = project_dir / relative
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def wrap_long_imports(source: str, limit: int = LINE_LENGTH) -> str:
    """Write `from x import a, b` lines longer than the limit one name a line, as ruff does.

    Only a long package name makes them long: every other bake keeps the lines as written.
    """
    lines = []
    for line in source.splitlines(keepends=True):
        found = ONE_LINE_IMPORT.fullmatch(line.rstrip("\n"))
        if found is None or len(line.rstrip("\n")) <= limit:
            lines.append(line)
            continue
        indent, module, names = found.groups()
        lines.append(f"{indent}from {module} import (\n")
        lines += [f"{indent}    {name.strip()},\n" for name in names.split(",")]
        lines.append(f"{indent})\n")
    return "".join(lines)


def wrap_imports(project_dir: Path) -> None:
    for path in project_dir.rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        wrapped = wrap_long_imports(source)
        if wrapped != source:
            path.write_text(wrapped, encoding="utf-8")


def baked_by_cruft(context: dict[str, Any]) -> bool:
    """cruft create and update render with `_commit` set, and write .cruft.json themselves."""
    return "_commit" in context


def cruft_record(
    context: dict[str, Any], checkout_root: Path, commit: str, origin: str | None, template: Path
) -> dict[str, Any]:
    """The .cruft.json that `cruft create` would have written for this bake.

    A remote template is recorded by the URL its clone came from, a local one by its path, so
    that `cruft check` and `cruft update` find the same template again.
    """
    remote = REMOTE_TEMPLATE.match(context.get("_template", ""))
    source = origin if remote and origin else str(checkout_root)
    directory = template.relative_to(checkout_root).as_posix()
    answers = {key: value for key, value in context.items() if not key.startswith("_")}
    return {
        "template": source,
        "commit": commit,
        "checkout": context.get("_checkout"),
        "context": {"cookiecutter": {**answers, "_template": source, "_commit": commit}},
        "directory": None if directory == "." else directory,
    }


def git(template: Path, *args: str) -> str | None:
    """One local git query about the template's checkout; None when it is not one."""
    try:
        result = subprocess.run(
            ["git", "-C", str(template), *args], capture_output=True, text=True, check=False
        )
    except OSError:
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def record_bake(project_dir: Path, context: dict[str, Any], template: Path) -> bool:
    """Write .cruft.json when the template is a git checkout; return whether it was written."""
    root, commit = git(template, "rev-parse", "--show-toplevel"), git(template, "rev-parse", "HEAD")
    if not root or not commit:
        return False
    origin = git(template, "config", "--get", "remote.origin.url")
    record = cruft_record(context, Path(root), commit, origin, template.resolve())
    text = json.dumps(record, ensure_ascii=False, indent=2, separators=(",", ": "))
    (project_dir / ".cruft.json").write_text(text + "\n", encoding="utf-8")
    return True


def main() -> int:
    context = json.loads(ANSWERS_JSON)
    project_dir = Path.cwd()
    apply_variants(project_dir, context)
    remove(project_dir, paths_to_remove(context))
    wrap_imports(project_dir)
    if baked_by_cruft(context):
        return 0
    print(f"Created {project_dir}. Next: cd {project_dir} and follow README.md's Quickstart.")
    if not record_bake(project_dir, context, Path(TEMPLATE_DIR)):
        print("No .cruft.json: the template is not a git checkout, so cruft cannot update this.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
