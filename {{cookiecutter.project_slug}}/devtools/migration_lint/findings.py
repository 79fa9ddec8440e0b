"""What the linter reports, and how acknowledgement comments silence it."""

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from devtools.migration_lint.migration import Acknowledgement

ACKNOWLEDGE_HINT = "# migration-lint: ignore[{rule}] <why this is safe>"
# Acknowledgements are reported by ML000 itself, and the checklist (ML013) is not to be skipped.
NOT_ACKNOWLEDGEABLE = {"ML000", "ML013"}


class CheckUnavailable(Exception):
    """A check cannot run here (a tool is missing): the lint as a whole is unusable."""


@dataclass(frozen=True, order=True)
class Finding:
    """One problem at one line. `rule` is one id, or several joined by "," when one operation
    has several reasons (squawk); an acknowledgement must name each of them."""

    path: Path
    line: int
    rule: str
    problem: str
    fix: str
    acknowledged: bool = False
    reason: str = ""

    @property
    def rules(self) -> set[str]:
        return set(self.rule.split(","))

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.rule} {self.problem} ({self.fix})"


def acknowledge(
    findings: list[Finding],
    acknowledgements: dict[int, Acknowledgement],
    path: Path,
    checked: Callable[[str], bool],
) -> list[Finding]:
    """Mark the findings an acknowledgement with a reason silences; add an ML000 finding for each
    acknowledgement without a reason, and for each that silences nothing (`checked(rule)` says
    whether that rule ran at all, so a skipped check does not make its acknowledgements unused)."""
    marked, used = [], set()
    for finding in findings:
        ack = next(
            (
                a
                for a in acknowledgements.values()
                if finding.line in (a.line, a.target)
                and a.reason
                and finding.rules <= a.rules
                and not finding.rules & NOT_ACKNOWLEDGEABLE
            ),
            None,
        )
        if ack:
            used.add(ack.line)
            finding = replace(finding, acknowledged=True, reason=ack.reason)
        marked.append(finding)
    for ack in acknowledgements.values():
        if not ack.reason or not ack.rules:
            marked.append(_without_reason(ack, path))
        elif ack.line not in used and all(checked(rule) for rule in ack.rules):
            marked.append(_unused(ack, path, [f for f in marked if not f.acknowledged]))
    return marked


def _without_reason(ack: Acknowledgement, path: Path) -> Finding:
    rules = ",".join(sorted(ack.rules)) or "ML002"
    return Finding(
        path,
        ack.line,
        "ML000",
        f"acknowledgement of {', '.join(sorted(ack.rules)) or 'no rule'} gives no reason",
        "write why it is safe after the bracket: " + ACKNOWLEDGE_HINT.format(rule=rules),
    )


def _unused(ack: Acknowledgement, path: Path, open_findings: list[Finding]) -> Finding:
    rules = ",".join(sorted(ack.rules))
    for finding in open_findings:
        if finding.line == ack.target and finding.rules & ack.rules:
            missing = ",".join(sorted(finding.rules - ack.rules))
            return Finding(
                path,
                ack.line,
                "ML000",
                f"acknowledgement of {rules} does not name every reason of the finding on "
                f"line {finding.line}",
                f"add {missing} to the brackets once you have checked it too",
            )
    elsewhere = sorted({f.line for f in open_findings if f.rules & ack.rules})
    if elsewhere:
        lines = ", ".join(str(line) for line in elsewhere)
        return Finding(
            path,
            ack.line,
            "ML000",
            f"acknowledgement of {rules} silences nothing here: "
            f"the finding is on line {lines}, not line {ack.target}",
            f"move it onto the line above line {elsewhere[0]} (or to the end of that line); "
            "it names every rule of that finding",
        )
    return Finding(
        path,
        ack.line,
        "ML000",
        f"acknowledgement of {rules} silences nothing: no such finding in this file",
        "delete it: the problem it acknowledged is gone (or the rule id is misspelt)",
    )
