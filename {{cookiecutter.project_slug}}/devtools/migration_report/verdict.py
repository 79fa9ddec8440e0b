"""Red, amber or green: how much a reviewer should worry, and why.

Red: the revision rewrites a table that has rows in production (under ACCESS EXCLUSIVE, for as
long as the rewrite takes), fails on the scratch database, or has findings nobody acknowledged.
Amber: it takes a lock that blocks writes or reads on a table that exists already (brief if the
statement is, long if it scans), or has acknowledged findings whose reasons deserve a look.
Green: otherwise.
"""

from . import locks
from .model import AMBER, GREEN, RED, VERDICTS, Lock, RevisionReport


def strongest(taken: list[Lock]) -> Lock | None:
    """The strongest lock on a relation others can be using: tables before indexes."""
    candidates = [lock for lock in taken if not lock.new_relation] or taken
    if not candidates:
        return None
    return max(candidates, key=lambda lock: (locks.strength(lock.mode), lock.kind == "table"))


def judge(revision: RevisionReport) -> None:
    reasons: dict[str, list[str]] = {RED: [], AMBER: []}
    if revision.error:
        reasons[RED].append("fails on the scratch database")
    for table in revision.rewrites:
        reasons[RED].append(f"rewrites {table} (every row, under ACCESS EXCLUSIVE)")
    open_findings = [f for f in revision.findings if not f.acknowledged]
    if open_findings:
        reasons[RED].append(f"{len(open_findings)} unacknowledged finding(s)")
    blocking: dict[str, str] = {}
    for statement in revision.statements:
        for lock in statement.locks:
            if lock.kind == "table" and not lock.new_relation and lock.blocks != locks.NOTHING:
                known = blocking.get(lock.relation)
                if known is None or locks.strength(lock.mode) > locks.strength(known):
                    blocking[lock.relation] = lock.mode
    for table, mode in sorted(blocking.items()):
        reasons[AMBER].append(f"{mode} on {table} blocks {locks.blocks(mode)}")
    acknowledged = len(revision.findings) - len(open_findings)
    if acknowledged:
        reasons[AMBER].append(f"{acknowledged} acknowledged finding(s): check the reasons")
    revision.verdict = RED if reasons[RED] else AMBER if reasons[AMBER] else GREEN
    revision.reasons = reasons[RED] + reasons[AMBER]


def overall(revisions: list[RevisionReport]) -> str:
    return max((r.verdict for r in revisions), key=VERDICTS.index, default=GREEN)
