"""Squawk on each revision's offline SQL: the PostgreSQL view of what the revision will run.

`python -m devtools lint-migrations` runs check() on the revisions of the history, unless
--no-squawk. One process renders every revision's SQL (render.py), one squawk run reads them all,
and each finding goes to the line of the operation that emitted the statement; several reasons
for one operation are one finding.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import devtools
from devtools.migration_lint import sql
from devtools.migration_lint.findings import CheckUnavailable, Finding
from devtools.migration_lint.history import Revision
from devtools.migration_lint.migration import Migration
from devtools.migration_lint.render import MARKER
from devtools.migration_lint.target import Target

# Offline SQL only needs the dialect; no connection is made.
PLACEHOLDER_URL = "postgresql+asyncpg://offline@localhost/offline"
DOCS = "https://squawkhq.com/docs/{}"
# PostgreSQL refuses NOT VALID on these: squawk's advice to add it does not apply.
NO_NOT_VALID = {"UNIQUE", "PRIMARY KEY", "EXCLUDE"}
# The project's own operation that does what squawk advises (migrator/operations/).
SAFE_OPERATION = {
    "require-concurrent-index-creation": "op.create_index_concurrently(...)",
    "require-concurrent-index-deletion": "op.drop_index_concurrently(...)",
    "adding-foreign-key-constraint": "op.create_foreign_key_not_valid(...), then "
    "op.validate_constraint(...)",
    "constraint-missing-not-valid": "op.create_foreign_key_not_valid(...) or "
    "op.create_check_constraint_not_valid(...), then op.validate_constraint(...)",
    "disallowed-unique-constraint": "op.create_unique_constraint_concurrently(...)",
    "adding-not-nullable-field": "op.set_not_null(...) in a post-deploy revision",
}
# One violation as squawk's JSON reporter writes it.
Reported = dict[str, Any]


class SquawkError(CheckUnavailable):
    pass


@dataclass(frozen=True)
class Violation:
    rule: str
    message: str
    help: str
    statement: str


def binary() -> str:
    beside_python = Path(sys.executable).parent / "squawk"
    found = str(beside_python) if beside_python.is_file() else shutil.which("squawk")
    if not found:
        raise SquawkError(
            "squawk is not installed: pip install squawk-cli (a dev dependency), "
            "or pass --no-squawk"
        )
    return found


def offline_sql(revisions: list[Revision], alembic_ini: Path) -> dict[str, dict[str, str]]:
    """Each revision's SQL as `alembic upgrade <down>:<rev> --sql` renders it, or its error."""
    if not revisions:
        return {}
    env = dict(os.environ)
    env.setdefault("DATABASE_URL", PLACEHOLDER_URL)
    # env.py imports the application package, which need not be installed to render SQL.
    # The revisions may live in a copy of the project (tests, the report): devtools comes from
    # where this one was imported.
    project = alembic_ini.parent.resolve()
    tools = Path(devtools.__file__).resolve().parents[1]
    paths = (str(project / "src"), str(project), str(tools), env.get("PYTHONPATH"))
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    command = [sys.executable, "-m", "devtools.migration_lint.render", str(alembic_ini)]
    result = subprocess.run(
        command + [r.id for r in revisions], capture_output=True, text=True, env=env
    )
    try:
        rendered: dict[str, dict[str, str]] = json.loads(result.stdout)
    except json.JSONDecodeError:
        lines = result.stderr.strip().splitlines() or ["no output"]
        raise SquawkError(f"cannot render the revisions' SQL: {lines[-1]}") from None
    return rendered


def _squawk(
    scripts: dict[str, str], alembic_ini: Path, target: Target
) -> dict[str, list[Reported]]:
    """Squawk's violations (JSON) per script, from one squawk run over all of them."""
    config = alembic_ini.parent / ".squawk.toml"
    found: dict[str, list[Reported]] = {name: [] for name in scripts}
    with tempfile.TemporaryDirectory(prefix="migration-lint-") as directory:
        files = {}
        for name, script in scripts.items():
            files[str(Path(directory) / f"{name}.sql")] = name
            Path(directory, f"{name}.sql").write_text(script, encoding="utf-8")
        command = [binary(), "--reporter", "json", *files]
        command += ["--config", str(config)] if config.is_file() else []
        if target.postgresql and not config.is_file():
            command += ["--pg-version", f"{target.postgresql}.0"]
        result = subprocess.run(command, capture_output=True, text=True)
        try:
            violations = json.loads(result.stdout or "[]")
        except json.JSONDecodeError:
            message = result.stderr.strip() or result.stdout
            raise SquawkError(f"squawk failed: {message}") from None
    for violation in violations:
        found[files[violation["file"]]].append(violation)
    return found


def _python_lines(script: str) -> list[int]:
    """For each SQL line, the revision line the marker before it names (0: none)."""
    lines, current = [], 0
    for text in script.splitlines():
        if text.startswith(MARKER):
            current = int(text.removeprefix(MARKER))
        lines.append(current)
    return lines


def _statement(script_lines: list[str], start: int) -> str:
    text = []
    for line in script_lines[start:]:
        text.append(line.strip())
        if line.rstrip().endswith(";"):
            break
    return " ".join(text)


def _applies(rule: str, statement: str) -> bool:
    if rule == "constraint-missing-not-valid":
        return not sql.adds_constraint_kinds(statement) & NO_NOT_VALID
    return True


def _finding(path: Path, line: int, violations: list[Violation]) -> Finding:
    rules = sorted({v.rule for v in violations})
    named = len(rules) > 1
    messages = list(
        dict.fromkeys(v.message.rstrip(".") + (f" ({v.rule})" if named else "") for v in violations)
    )
    helps = list(dict.fromkeys(v.help.rstrip(".") for v in violations if v.help))
    safe = list(dict.fromkeys(SAFE_OPERATION[r] for r in rules if r in SAFE_OPERATION))
    helps += [f"here: {' / '.join(safe)}"] if safe else []
    statement = violations[0].statement
    return Finding(
        path,
        line,
        ",".join(f"squawk:{rule}" for rule in rules),
        f"{'; '.join(messages)} in SQL `{statement[:70]}`",
        "; ".join(helps) or "see " + ", ".join(DOCS.format(rule) for rule in rules),
    )


def check(
    pairs: list[tuple[Migration, Revision]], alembic_ini: Path, target: Target
) -> dict[Path, list[Finding]]:
    """Squawk's findings for each revision file, at the line of the operation they concern."""
    pairs = [(m, r) for m, r in pairs if "upgrade" in m.functions]
    rendered = offline_sql([r for _, r in pairs], alembic_ini)
    scripts = {r.id: rendered[r.id]["sql"] for _, r in pairs if "sql" in rendered.get(r.id, {})}
    violations = _squawk(scripts, alembic_ini, target)
    results: dict[Path, list[Finding]] = {}
    for migration, revision in pairs:
        upgrade_line = migration.functions["upgrade"].lineno
        if revision.id not in scripts:
            error = rendered.get(revision.id, {}).get("error", "no output")
            results[migration.path] = [
                Finding(
                    migration.path,
                    upgrade_line,
                    "squawk:offline-sql",
                    f"alembic cannot render this revision as SQL ({error})",
                    "make upgrade() work with `alembic upgrade --sql` (no reads through "
                    "op.get_bind()), or acknowledge",
                )
            ]
            continue
        script_lines = scripts[revision.id].splitlines()
        python_lines = _python_lines(scripts[revision.id])
        by_line: dict[int, list[Violation]] = {}
        for found in violations[revision.id]:
            number = found["line"]  # counted from 0
            statement = _statement(script_lines, number)
            if not _applies(found["rule_name"], statement):
                continue
            line = (python_lines[number] if number < len(python_lines) else 0) or upgrade_line
            violation = Violation(
                found["rule_name"], found["message"], found.get("help") or "", statement
            )
            by_line.setdefault(line, []).append(violation)
        results[migration.path] = [
            _finding(migration.path, line, found) for line, found in sorted(by_line.items())
        ]
    return results
