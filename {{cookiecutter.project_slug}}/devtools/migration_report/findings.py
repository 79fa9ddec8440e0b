"""The linter's findings for the reported revisions, acknowledged ones too, with their reasons."""

from collections.abc import Sequence
from pathlib import Path

from devtools.migration_lint import lint

from .model import ReportFinding


def revision_findings(
    paths: list[Path], checks: Sequence[lint.RevisionCheck], alembic_ini: Path
) -> dict[Path, list[ReportFinding]]:
    """Each file's findings, by its resolved path; raises lint.LintUnusable."""
    found: dict[Path, list[ReportFinding]] = {path.resolve(): [] for path in paths}
    if not paths:
        return found
    result = lint.lint_revisions(paths, revision_checks=checks, alembic_ini=alembic_ini)
    for finding in result.findings:
        reported = ReportFinding(
            finding.line,
            finding.rule,
            finding.problem,
            finding.fix,
            finding.acknowledged,
            finding.reason or None,
        )
        found.setdefault(finding.path.resolve(), []).append(reported)
    for path, problem in result.unreadable:
        found[path.resolve()].append(
            ReportFinding(1, "unreadable", problem, "make it valid Python", False)
        )
    return found
