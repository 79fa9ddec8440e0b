"""Squawk on each revision's offline SQL: the PostgreSQL view of what the revision will run.

`python -m devtools lint-migrations` runs check() on every revision, unless --no-squawk.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from devtools.migration_lint.findings import CheckUnavailable, Finding
from devtools.migration_lint.history import Revision
from devtools.migration_lint.migration import Migration

# Offline SQL only needs the dialect; no connection is made.
PLACEHOLDER_URL = "postgresql+asyncpg://offline@localhost/offline"
DOCS = "https://squawkhq.com/docs/{}"


class SquawkError(CheckUnavailable):
    pass


def binary() -> str:
    beside_python = Path(sys.executable).parent / "squawk"
    found = str(beside_python) if beside_python.is_file() else shutil.which("squawk")
    if not found:
        raise SquawkError(
            "squawk is not installed: pip install squawk-cli (a dev dependency), "
            "or pass --no-squawk"
        )
    return found


def offline_sql(revision: Revision, alembic_ini: Path) -> str:
    """This revision's SQL as `alembic upgrade <down>:<rev> --sql` renders it."""
    env = dict(os.environ)
    env.setdefault("DATABASE_URL", PLACEHOLDER_URL)
    # env.py imports the application package, which need not be installed to render SQL.
    source = str(alembic_ini.parent.resolve() / "src")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (source, env.get("PYTHONPATH")) if p)
    command = [sys.executable, "-m", "alembic", "-c", str(alembic_ini), "upgrade"]
    command += [f"{revision.down or 'base'}:{revision.id}", "--sql"]
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines() or ["no output"]
        raise ValueError(lines[-1])
    # A merge revision's range also renders the other branch: keep the setup and our part.
    preamble = result.stdout.split("-- Running upgrade", 1)[0]
    own = re.search(rf"^-- Running upgrade .*-> {revision.id}$", result.stdout, re.MULTILINE)
    return preamble + (result.stdout[own.start() :] if own else "")


def check(migration: Migration, revision: Revision, alembic_ini: Path) -> list[Finding]:
    """Squawk's findings, all on the line of upgrade(): SQL lines do not map back to Python."""
    upgrade = migration.functions.get("upgrade")
    if upgrade is None:
        return []
    path, line = migration.path, upgrade.lineno
    try:
        script = offline_sql(revision, alembic_ini)
    except ValueError as error:
        return [
            Finding(
                path,
                line,
                "squawk:offline-sql",
                f"alembic cannot render this revision as SQL ({error})",
                "make upgrade() work with `alembic upgrade --sql` (no reads through "
                "op.get_bind()), or acknowledge",
            )
        ]
    config = alembic_ini.parent / ".squawk.toml"
    command = [binary(), "--reporter", "json", "--stdin-filepath", str(path)]
    command += ["--config", str(config)] if config.is_file() else []
    result = subprocess.run(command, input=script, capture_output=True, text=True)
    try:
        violations = json.loads(result.stdout or "[]")
    except json.JSONDecodeError:
        raise SquawkError(f"squawk failed: {result.stderr.strip() or result.stdout}") from None
    sql_lines = script.splitlines()
    findings = []
    for violation in violations:
        rule = violation["rule_name"]
        number = violation["line"]  # counted from 0
        statement = sql_lines[number].strip() if number < len(sql_lines) else ""
        findings.append(
            Finding(
                path,
                line,
                f"squawk:{rule}",
                f"{violation['message'].rstrip('.')} in SQL `{statement[:70]}`",
                (violation.get("help") or "").rstrip(".") or f"see {DOCS.format(rule)}",
            )
        )
    return findings
