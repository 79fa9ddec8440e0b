"""lint-migrations: every rule over every file, acknowledgements applied, one report."""

import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from devtools.migration_lint import history
from devtools.migration_lint.findings import CheckUnavailable, Finding, unacknowledged
from devtools.migration_lint.migration import Migration, ParseError, checklist, read
from devtools.migration_lint.rules import RULES

DEFAULT_PATHS = [Path("migrations/versions")]
ALEMBIC_INI = Path("alembic.ini")
CLEAN, FINDINGS, UNUSABLE = 0, 1, 2
WHY_PLACEHOLDER = "Why: <one or two sentences"
# A check that needs the revision's place in the history (alembic.ini is the third argument),
# such as a linter of the SQL that `alembic upgrade <down>:<revision> --sql` renders.
RevisionCheck = Callable[[Migration, history.Revision, Path], list[Finding]]


def _files(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        files += sorted(path.glob("*.py")) if path.is_dir() else [path]
    return [f for f in files if f.name != "__init__.py"]


def _checklist(migration: Migration) -> list[Finding]:
    present, unticked = checklist(migration)
    fix = "review the migration, then tick each box with [x]; local runs may pass --allow-unticked"
    if not present:
        problem = "has no review checklist in its docstring"
        fix = "copy it from migrations/script.py.mako, " + fix
        return [Finding(migration.path, 1, "ML013", problem, fix)]
    findings = []
    if unticked:
        line, text = unticked[0]
        problem = f"{len(unticked)} review checklist box(es) unticked, first: {text!r}"
        findings.append(Finding(migration.path, line, "ML013", problem, fix))
    for number, text in enumerate(migration.lines, start=1):
        if text.startswith(WHY_PLACEHOLDER):
            problem = "the docstring's Why line still holds the template's placeholder"
            why = "say what the change is for and what a reviewer must know"
            findings.append(Finding(migration.path, number, "ML013", problem, why))
    return findings


def _heads(findings: list[Finding], heads: list[history.Revision]) -> None:
    if len(heads) < 2:
        return
    ids = ", ".join(sorted(h.id for h in heads))
    for head in heads:
        path = Path(head.path)
        path = path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path
        findings.append(
            Finding(
                path,
                1,
                "ML014",
                f"{len(heads)} head revisions ({ids})",
                'merge them: alembic merge heads -m "merge heads", then review the merge revision',
            )
        )


def run(
    paths: list[Path],
    base: str | None,
    allow_unticked: bool,
    revision_checks: Sequence[RevisionCheck] = (),
) -> int:
    status = CLEAN
    if not paths and not DEFAULT_PATHS[0].is_dir():
        print(
            "lint-migrations: no migrations/versions here; run it from the project root",
            file=sys.stderr,
        )
        return UNUSABLE
    revisions: list[history.Revision] = []
    heads: list[history.Revision] = []
    findings: list[Finding] = []
    try:
        if base:
            history.verify_base(base)
        if ALEMBIC_INI.is_file():
            revisions, heads = history.revisions(ALEMBIC_INI)
        for path in _files(paths or DEFAULT_PATHS):
            try:
                migration = read(path)
            except ParseError as error:
                print(f"{path}: cannot parse ({error})")
                status = UNUSABLE
                continue
            findings += _lint_file(migration, revisions, base, allow_unticked, revision_checks)
    except (history.HistoryError, CheckUnavailable) as error:
        print(f"lint-migrations: {error}", file=sys.stderr)
        return UNUSABLE
    _heads(findings, heads)
    for finding in sorted(findings):
        print(finding)
    if findings:
        print(
            f"{len(findings)} finding(s); see docs/migration-linter.md for each rule",
            file=sys.stderr,
        )
    return status or (FINDINGS if findings else CLEAN)


def _lint_file(
    migration: Migration,
    revisions: list[history.Revision],
    base: str | None,
    allow_unticked: bool,
    revision_checks: Sequence[RevisionCheck],
) -> list[Finding]:
    path = migration.path
    found = [Finding(path, *result) for rule in RULES for result in rule(migration)]
    if not allow_unticked:
        found += _checklist(migration)
    modified = history.modified_since(base, path) if base else None
    if modified:
        found.append(
            Finding(
                path,
                1,
                "ML015",
                f"was already merged on {base} and has been modified since",
                f"revert it (git checkout {base} -- {path}) and put the change in a new revision",
            )
        )
    revision = next((r for r in revisions if r.path == path.resolve()), None)
    # With a base, only new revisions get these checks: the others were reviewed there.
    if revision and modified is None:
        for check in revision_checks:
            found += check(migration, revision, ALEMBIC_INI)
    return unacknowledged(found, migration.acknowledgements, path)
