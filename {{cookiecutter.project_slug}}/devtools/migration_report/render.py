"""The report as JSON (for machines) and as markdown (for reviewers, in a PR comment)."""

import dataclasses
import json

from .model import AMBER, GREEN, RED, Lock, Report, RevisionReport, Statement

# CI finds its previous comment by this line and edits it instead of adding another.
MARKER = "<!-- migration-report -->"
ICONS = {RED: "🔴", AMBER: "🟠", GREEN: "🟢"}
LEGEND = (
    "🔴 rewrites a table, fails, or has unacknowledged findings · "
    "🟠 blocks reads or writes on an existing table, or has acknowledged findings · "
    "🟢 neither"
)
CELL_LIMIT = 110
NOT_MEASURED = {
    "sqlite": "locks not measured (SQLite has no pg_locks; a write locks the whole file)",
    "mysql": "locks not measured (the linter's ML rules say which ALTERs copy or block a table)",
}
SUMMARY_HEADER = "| Revision | Phase | Strongest lock | Tables rewritten | Findings | Verdict |"
TRANSACTIONS = (
    "Tx: statements with the same number run in one transaction and hold their locks until it "
    "commits; `own` runs in an autocommit block, committed on its own. A lock marked "
    "(documented) cannot be read from pg_locks: PostgreSQL runs that statement outside any "
    "transaction; the mode is from its documentation."
)


def as_json(report: Report) -> str:
    return json.dumps(dataclasses.asdict(report), indent=2, ensure_ascii=False) + "\n"


def cell(text: str, limit: int = CELL_LIMIT) -> str:
    one_line = " ".join(text.split())
    if len(one_line) > limit:
        one_line = one_line[: limit - 1] + "…"
    return one_line.replace("|", "\\|")


def code(text: str) -> str:
    return "`" + cell(text).replace("`", "'") + "`"


def verdict(name: str) -> str:
    return f"{ICONS[name]} {name}"


def lock_text(lock: Lock | None) -> str:
    if lock is None:
        return "none"
    where = f"{lock.mode} on {lock.relation}"
    return where + (" (new)" if lock.new_relation else "")


def as_markdown(report: Report) -> str:
    lines = [MARKER, f"## Migration report: {verdict(report.verdict)}", ""]
    count = len(report.revisions)
    since = f" since `{report.base}`" if report.base else ""
    where = (
        "measured on a scratch PostgreSQL database migrated to the revision before each"
        if report.locks_measured
        else NOT_MEASURED[report.database]
    )
    if not count:
        return "\n".join([*lines, f"No new revisions{since}."]) + "\n"
    lines.append(f"{count} new revision(s){since}; {where}.")
    lines += report.notes
    lines += ["", SUMMARY_HEADER, "| --- | --- | --- | --- | --- | --- |"]
    lines += [summary_row(revision, report.locks_measured) for revision in report.revisions]
    lines += ["", LEGEND]
    for revision in report.revisions:
        lines += ["", *section(revision, report.locks_measured)]
    return "\n".join(lines) + "\n"


def findings_text(revision: RevisionReport) -> str:
    acknowledged = sum(1 for finding in revision.findings if finding.acknowledged)
    total = len(revision.findings)
    return f"{total} ({acknowledged} acknowledged)" if acknowledged else str(total)


def summary_row(revision: RevisionReport, measured: bool) -> str:
    strongest = lock_text(revision.strongest_lock) if measured else "not measured"
    cells = [
        f"`{revision.revision}` {cell(revision.message, 60)}",
        revision.phase,
        strongest,
        ", ".join(revision.rewrites) or "none",
        findings_text(revision),
        verdict(revision.verdict),
    ]
    return "| " + " | ".join(cells) + " |"


def section(revision: RevisionReport, measured: bool) -> list[str]:
    depends = ", ".join(f"`{d}`" for d in revision.depends_on) or "nothing (first revision)"
    lines = [
        f"### `{revision.revision}` {cell(revision.message, 80)}: {verdict(revision.verdict)}",
        "",
        f"`{revision.path}` · phase **{revision.phase}** · depends on {depends}",
    ]
    if revision.reasons:
        lines += ["", "Why: " + "; ".join(revision.reasons) + "."]
    if revision.error:
        lines += ["", f"**Fails on the scratch database:** {code(revision.error)}"]
    lines += ["", *statements_table(revision.statements, measured)]
    lines += ["", *findings_table(revision)]
    if revision.diagram:
        lines += ["", "#### The tables it touches, after it", "", "```mermaid"]
        lines += [revision.diagram, "```"]
    if revision.offline_sql is not None:
        start = revision.depends_on[0] if revision.depends_on else "base"
        command = f"alembic upgrade {start}:{revision.revision} --sql"
        lines += ["", f"<details><summary>Offline SQL ({command})</summary>", "", "```sql"]
        lines += [statement + ";" for statement in revision.offline_sql]
        lines += ["```", "", "</details>"]
    return lines


def statements_table(statements: list[Statement], measured: bool) -> list[str]:
    if not statements:
        return ["It runs no statements."]
    lines = ["#### Statements, as run", ""]
    if measured:
        lines += ["| # | Tx | Statement | Locks taken | Blocks | Rewrites | Rows | Time |"]
        lines.append("| --- | --- | --- | --- | --- | --- | --- | --- |")
    else:
        lines += ["| # | Statement | Time |", "| --- | --- | --- |"]
    for number, statement in enumerate(statements, start=1):
        sql = code(statement.sql)
        time = f"{statement.duration_ms:.1f} ms"
        if not measured:
            lines.append(f"| {number} | {sql} | {time} |")
            continue
        taken = "<br>".join(
            lock_text(lock) + ("" if lock.measured else " (documented)") for lock in statement.locks
        )
        blocked = "<br>".join(
            "nobody (new)" if lock.new_relation else lock.blocks for lock in statement.locks
        )
        rows = ", ".join(f"{table}: {count}" for table, count in statement.rows.items())
        rewrites = ", ".join(statement.rewrites)
        transaction = "own" if statement.autocommit else str(statement.transaction)
        cells = [str(number), transaction, sql, taken or "none", blocked or "-", rewrites or "-"]
        lines.append("| " + " | ".join([*cells, rows or "-", time]) + " |")
    if measured:
        lines += ["", TRANSACTIONS]
    return lines


def findings_table(revision: RevisionReport) -> list[str]:
    if not revision.findings:
        return ["No linter findings."]
    lines = ["#### Linter findings", "", "| Line | Rule | Problem | Fix | Acknowledged |"]
    lines.append("| --- | --- | --- | --- | --- |")
    for finding in revision.findings:
        acknowledged = f"yes: {cell(finding.reason or '')}" if finding.acknowledged else "**no**"
        cells = [str(finding.line), f"`{finding.rule}`", cell(finding.problem, 200)]
        lines.append("| " + " | ".join([*cells, cell(finding.fix, 200), acknowledged]) + " |")
    return lines
