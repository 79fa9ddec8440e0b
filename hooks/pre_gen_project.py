"""Reject answers that would bake a broken project, before anything is written.

Each problem is reported as one line naming the option and the fix; cookiecutter
then removes the half-created directory.
"""

import json
import keyword
import re
import sys

ANSWERS_JSON = r"""{{ cookiecutter | jsonify }}"""

EXCLUDE_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\*?")
# The slug names the database: PostgreSQL truncates longer names to 63 bytes, MySQL refuses
# names over 64 characters.
DATABASE_NAME_LIMITS = {"postgresql": 63, "mysql": 64}
DATABASE_NAMES = {"postgresql": "PostgreSQL", "mysql": "MySQL"}
KUBERNETES_GAPS = {
    "sqlite": "the migration Jobs and the app's pods cannot share a SQLite file; "
    "answer deploy=none or database=postgresql",
    "mysql": "its migration Jobs are written and tested for PostgreSQL only; "
    "answer deploy=none or database=postgresql",
}


def identifier_problem(option: str, value: str) -> str | None:
    if not value.isidentifier() or not value.isascii():
        return (
            f"{option} {value!r} is not a valid Python identifier: "
            "use lowercase letters, digits and underscores, starting with a letter"
        )
    if keyword.iskeyword(value) or keyword.issoftkeyword(value):
        return f"{option} {value!r} is a Python keyword: choose another name, e.g. {value}_service"
    if value != value.lower():
        return f"{option} {value!r} has uppercase letters: use {value.lower()!r}"
    return None


def exclude_problem(value: str) -> str | None:
    for item in (part.strip() for part in value.split(",")):
        if item and not EXCLUDE_PATTERN.fullmatch(item):
            return (
                f"autogenerate_exclude item {item!r} is not a table name "
                "or a prefix ending in '*': use e.g. 'audit_*,spatial_ref_sys'"
            )
    return None


def problems(answers: dict[str, str]) -> list[str]:
    found = []
    if not answers["project_name"].strip():
        found.append("project_name is empty: give the service a name, e.g. 'Billing API'")
    for option in ("project_slug", "package_name"):
        problem = identifier_problem(option, answers[option])
        # package_name defaults to the slug: one mistake, one message.
        repeated = option == "package_name" and answers["package_name"] == answers["project_slug"]
        if problem and not repeated:
            found.append(problem)
    database = answers["database"]
    slug_length = len(answers["project_slug"].encode())
    limit = DATABASE_NAME_LIMITS.get(database)
    if limit is not None and slug_length > limit:
        found.append(
            f"project_slug is {slug_length} characters and names the {DATABASE_NAMES[database]} "
            f"database, which allows {limit}: choose a shorter slug"
        )
    if database != "postgresql" and answers["tenancy"] == "schema-per-tenant":
        found.append(
            f"tenancy=schema-per-tenant needs PostgreSQL schemas, which database={database} "
            "lacks: answer database=postgresql or tenancy=single"
        )
    if answers["deploy"] == "kubernetes" and database != "postgresql":
        found.append(f"deploy=kubernetes needs database=postgresql: {KUBERNETES_GAPS[database]}")
    if answers["deploy"] == "kubernetes" and answers["docker"] != "yes":
        found.append(
            "deploy=kubernetes runs the image the Dockerfile builds: answer docker=yes "
            "or deploy=none"
        )
    problem = exclude_problem(answers["autogenerate_exclude"])
    if problem:
        found.append(problem)
    return found


def main() -> int:
    found = problems(json.loads(ANSWERS_JSON))
    for problem in found:
        print(f"ERROR: {problem}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
