"""What the linter reports, and how acknowledgement comments silence it."""

from dataclasses import dataclass
from pathlib import Path

from devtools.migration_lint.migration import Acknowledgement

ACKNOWLEDGE_HINT = "# migration-lint: ignore[{rule}] <why this is safe>"


class CheckUnavailable(Exception):
    """A check cannot run here (a tool is missing): the lint as a whole is unusable."""


@dataclass(frozen=True, order=True)
class Finding:
    path: Path
    line: int
    rule: str
    problem: str
    fix: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.rule} {self.problem} ({self.fix})"


def unacknowledged(
    findings: list[Finding], acknowledgements: dict[int, Acknowledgement], path: Path
) -> list[Finding]:
    """Drop findings acknowledged on their line or the line before; flag reasonless ones."""
    kept = [
        finding
        for finding in findings
        if not any(
            (ack := acknowledgements.get(line)) and ack.reason and finding.rule in ack.rules
            for line in (finding.line, finding.line - 1)
        )
    ]
    kept += [
        Finding(
            path,
            ack.line,
            "ML000",
            f"acknowledgement of {', '.join(sorted(ack.rules)) or 'no rule'} gives no reason",
            "write why it is safe after the bracket: "
            + ACKNOWLEDGE_HINT.format(rule=",".join(sorted(ack.rules)) or "ML002"),
        )
        for ack in acknowledgements.values()
        if not ack.reason or not ack.rules
    ]
    return kept
