"""lint-migrations: every rule over every file, acknowledgements applied, one report.

`lint_revisions()` is the entry point for other tools (the migration report): it returns every
finding, acknowledged ones included, and prints nothing. `run()` is the command.
"""

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from devtools.migration_lint import history, {{ "mysql, " if cookiecutter.database == "mysql" }}rules
from devtools.migration_lint.findings import CheckUnavailable, Finding, acknowledge
from devtools.migration_lint.migration import Migration, ParseError, checklist, is_merge, read
from devtools.migration_lint.registry import CHECKLIST, EDITED, HEADS, RULES, plain
from devtools.migration_lint.target import Target, TargetError, target

DEFAULT_PATHS = [Path("migrations/versions")]
ALEMBIC_INI = Path("alembic.ini")
CLEAN, FINDINGS, UNUSABLE = 0, 1, 2
WHY_PLACEHOLDER = "Why: <one or two sentences"
# A check over the SQL of revisions in the history (squawk): given (revision file, its place in
# the history) pairs, alembic.ini and the target, it returns the findings for each file it
# checked (an empty list for a clean one), so that their acknowledgements count as used or not.
RevisionCheck = Callable[
    [list[tuple[Migration, history.Revision]], Path, Target], dict[Path, list[Finding]]
]
assert rules{{ " and mysql" if cookiecutter.database == "mysql" }}  # imported for their @rule registrations


class LintUnusable(Exception):
    """The lint cannot run (no history, git or a tool missing); one line says why."""


@dataclass
class LintResult:
    findings: list[Finding]  # sorted; acknowledged ones have acknowledged=True and the reason
    unreadable: list[tuple[Path, str]]  # files that cannot be read or parsed, and why

    @property
    def open(self) -> list[Finding]:
        return [finding for finding in self.findings if not finding.acknowledged]


def _files(paths: Sequence[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        files += sorted(path.glob("*.py")) if path.is_dir() else [path]
    return [f for f in files if f.name != "__init__.py"]


def _checklist(migration: Migration) -> list[Finding]:
    if is_merge(migration):
        return []
    present, unticked = checklist(migration)
    fix = "review the migration, then tick each box with [x]; local runs may pass --allow-unticked"
    if not present:
        problem = "has no review checklist in its docstring"
        fix = "copy it from migrations/script.py.mako, " + fix
        return [Finding(migration.path, 1, CHECKLIST.id, problem, fix)]
    findings = []
    if unticked:
        line, text = unticked[0]
        problem = f"{len(unticked)} review checklist box(es) unticked, first: {text!r}"
        findings.append(Finding(migration.path, line, CHECKLIST.id, problem, fix))
    for number, text in enumerate(migration.lines, start=1):
        if text.startswith(WHY_PLACEHOLDER):
            problem = "the docstring's Why line still holds the template's placeholder"
            why = "say what the change is for and what a reviewer must know"
            findings.append(Finding(migration.path, number, CHECKLIST.id, problem, why))
    return findings


def _heads(heads: list[history.Revision]) -> list[Finding]:
    if len(heads) < 2:
        return []
    ids = ", ".join(sorted(h.id for h in heads))
    findings = []
    for head in heads:
        path = Path(head.path)
        path = path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path
        problem = f"{len(heads)} head revisions ({ids})"
        findings.append(Finding(path, 1, HEADS.id, problem, plain(HEADS.fix)))
    return findings


def file_findings(migration: Migration, target: Target) -> list[Finding]:
    """The findings of the per-file rules, before acknowledgements."""
    found = []
    for rule in RULES.values():
        for hit in rule.check(migration, target) if rule.check else ():
            fix = hit.fix if hit.fix is not None else plain(rule.fix)
            found.append(Finding(migration.path, hit.line, rule.id, hit.problem, fix))
    return found


def lint_revisions(
    paths: Sequence[Path] = (),
    *,
    base: str | None = None,
    allow_unticked: bool = False,
    revision_checks: Sequence[RevisionCheck] = (),
    alembic_ini: Path = ALEMBIC_INI,
) -> LintResult:
    """Lint the revision files in paths (default: migrations/versions); raises LintUnusable."""
    if not paths and not DEFAULT_PATHS[0].is_dir():
        raise LintUnusable("no migrations/versions here; run it from the project root")
    try:
        project = alembic_ini.parent
        wanted = target(project)
        if base:
            history.verify_base(base)
        revisions, heads = history.revisions(alembic_ini) if alembic_ini.is_file() else ([], [])
        migrations, unreadable = [], []
        for path in _files(paths or DEFAULT_PATHS):
            try:
                migrations.append(read(path))
            except ParseError as error:
                unreadable.append((path, str(error)))
        found = {m.path: _own_findings(m, wanted, base, allow_unticked) for m in migrations}
        # With a base, only new revisions get the SQL checks: the others were reviewed there.
        in_history = [
            (m, revision)
            for m in migrations
            if (revision := next((r for r in revisions if r.path == m.path.resolve()), None))
            and not (base and history.modified_since(base, m.path) is not None)
        ]
        checked_by: dict[Path, set[str]] = {m.path: set() for m in migrations}
        for check in revision_checks:
            for path, findings in check(in_history, alembic_ini, wanted).items():
                found[path] += findings
                checked_by[path].add("squawk:")
    except (history.HistoryError, CheckUnavailable, TargetError) as error:
        raise LintUnusable(str(error)) from None
    linted: list[Finding] = []
    for m in migrations:

        def checked(rule: str, families: set[str] = checked_by[m.path]) -> bool:
            if rule in RULES:
                return RULES[rule].needs == "file" or (RULES[rule].needs == "base" and bool(base))
            if rule.startswith("squawk:"):
                return "squawk:" in families
            return True  # an id no check uses (misspelt, lowercase) silences nothing: say so

        linted += acknowledge(found[m.path], m.acknowledgements, m.path, checked)
    return LintResult(sorted(linted + _heads(heads)), unreadable)


def _own_findings(
    migration: Migration, wanted: Target, base: str | None, allow_unticked: bool
) -> list[Finding]:
    path = migration.path
    found = file_findings(migration, wanted)
    if not allow_unticked:
        found += _checklist(migration)
    if base and history.modified_since(base, path):
        found.append(
            Finding(
                path,
                1,
                EDITED.id,
                f"was already merged on {base} and has been modified since",
                f"revert it (git checkout {base} -- {path}) and put the change in a new revision",
            )
        )
    return found


def run(
    paths: list[Path],
    base: str | None,
    allow_unticked: bool,
    revision_checks: Sequence[RevisionCheck] = (),
) -> int:
    try:
        result = lint_revisions(
            paths, base=base, allow_unticked=allow_unticked, revision_checks=revision_checks
        )
    except LintUnusable as error:
        print(f"lint-migrations: {error}", file=sys.stderr)
        return UNUSABLE
    for path, why in result.unreadable:
        print(f"{path}: cannot parse ({why})")
    for finding in result.open:
        print(finding)
    if result.open:
        print(
            f"{len(result.open)} finding(s); see docs/migration-linter.md for each rule",
            file=sys.stderr,
        )
    if result.unreadable:
        return UNUSABLE
    return FINDINGS if result.open else CLEAN
