"""migration-report: select the revisions, measure them, lint them, render the report."""

import asyncio
import sys
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from devtools.migration_lint.findings import CheckUnavailable
from devtools.migration_lint.lint import LintUnusable

from . import app, diagram, offline, render, schema, selection, verdict
from .findings import revision_findings
from .measure import FIXTURES, FixturesError, Measured, ScratchLost, measure, sigterm_interrupts
from .model import Report, RevisionReport

ALEMBIC_INI = Path("alembic.ini")
REPORTED, UNUSABLE, CANCELLED = 0, 2, 130
# What the report cannot measure on a database other than PostgreSQL.
UNMEASURED = {
    "sqlite": "SQLite: no locks, rewrites or offline SQL; statements and times only.",
    "mysql": "MySQL: no locks or table copies measured; statements, times and offline SQL.",
}
INTERRUPTED = "interrupted: nothing reported, and the scratch database was dropped"


def run(
    paths: list[Path],
    base: str | None,
    output_format: str,
    output: Path | None,
    fixtures: Path | None,
    json_output: Path | None = None,
) -> int:
    if not ALEMBIC_INI.is_file():
        return unusable("no alembic.ini here; run it from the project root")
    if fixtures is not None and not fixtures.is_file():
        return unusable(f"--fixtures {fixtures}: no such file")
    # Before the scratch database is made: a report that cannot be written is not worth making.
    for option, path in (("--output", output), ("--json", json_output)):
        if path is not None and not path.parent.is_dir():
            return unusable(f"{option} {path}: no directory {path.parent}; create it first")
    try:
        database_url = app.database_url()
        every = selection.in_order(ALEMBIC_INI)
        if paths:
            compared_with, reported = None, selection.given(every, paths)
        else:
            compared_with, reported = selection.new_since(every, base)
        fixtures = fixtures or (FIXTURES if FIXTURES.is_file() else None)
        with sigterm_interrupts():
            measured = measure(database_url, ALEMBIC_INI, every, reported, fixtures)
        report = build(database_url, compared_with, reported, measured, fixtures)
    except (selection.SelectionError, app.ConfigurationError, FixturesError) as error:
        return unusable(str(error))
    except (CheckUnavailable, LintUnusable) as error:
        return unusable(f"{error}")
    except ScratchLost as error:
        return unusable(str(error))
    except (OSError, DBAPIError) as error:  # the server cannot be reached to make the database
        return unusable(app.cannot_connect(database_url, error))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print(f"migration-report: {INTERRUPTED}", file=sys.stderr)
        return CANCELLED
    text = render.as_json(report) if output_format == "json" else render.as_markdown(report)
    try:
        if json_output is not None:
            json_output.write_text(render.as_json(report), encoding="utf-8")
        if output is not None:
            output.write_text(text, encoding="utf-8")
    except OSError as error:
        return unusable(f"cannot write the report: {error.strerror}: {error.filename}")
    if output is None:
        sys.stdout.write(text)
    else:
        print(f"migration-report: {report.verdict}, written to {output}", file=sys.stderr)
    return REPORTED


def unusable(problem: str) -> int:
    print(f"migration-report: {problem}", file=sys.stderr)
    return UNUSABLE


def build(
    database_url: str,
    compared_with: str | None,
    reported: list[selection.Selected],
    measured: dict[str, Measured],
    fixtures: Path | None,
) -> Report:
    backend = make_url(database_url).get_backend_name()
    is_postgresql = backend == "postgresql"
    notes = [f"The scratch database was seeded by `{fixtures}` first."] if fixtures else []
    checks, unavailable = app.lint_checks() if is_postgresql else ([], None)
    notes += [unavailable] if unavailable else []
    paths = [Path(relative(selected.path)) for selected in reported]
    findings = revision_findings(paths, checks, ALEMBIC_INI)
    revisions = []
    for selected in reported:
        revision = describe(selected, measured.get(selected.id), backend, database_url)
        revision.findings = findings.get(selected.path, [])
        verdict.judge(revision)
        revisions.append(revision)
    if not is_postgresql:
        notes.append(UNMEASURED[backend])
    return Report(
        database=backend,
        locks_measured=is_postgresql,
        base=compared_with,
        verdict=verdict.overall(revisions),
        revisions=revisions,
        notes=notes,
    )


def relative(path: Path) -> str:
    return str(path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path)


def describe(
    selected: selection.Selected,
    measured: Measured | None,
    backend: str,
    database_url: str,
) -> RevisionReport:
    revision = RevisionReport(
        revision=selected.id,
        message=selected.message,
        phase=selected.phase,
        depends_on=selected.depends_on,
        path=relative(selected.path),
    )
    if backend != "sqlite":
        try:
            revision.offline_sql = offline.offline_statements(selected, ALEMBIC_INI, database_url)
        except Exception as error:  # a revision that reads the database cannot be rendered
            revision.offline_sql = [f"-- cannot be rendered offline: {error}"]
    if measured is None:
        revision.error = revision.error or "not run: a revision before it failed"
        return revision
    revision.statements = measured.statements
    revision.error = measured.error
    revision.changes = schema.changes(measured.before, measured.after)
    taken = [lock for statement in measured.statements for lock in statement.locks]
    revision.strongest_lock = verdict.strongest(taken)
    revision.rewrites = sorted({t for s in measured.statements for t in s.rewrites})
    touched = {change.table for change in revision.changes}
    touched |= {lock.relation for lock in taken if lock.kind == "table"}
    revision.diagram = diagram.er_diagram(
        sorted(touched), measured.before, measured.after, revision.changes
    )
    return revision
