"""A revision that fails on MySQL: what it had applied, where the database is, how to go on.

MySQL commits each DDL statement on its own, and the transaction's earlier statements with
it: a revision that fails at its second statement leaves the first applied while the version
table still names the revision before. The linter keeps revisions to one DDL statement (or to
statements that only create new objects, which a DROP undoes); this turns any failure into
one line that says exactly what was applied and what to do.
"""

import logging
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from alembic.runtime.migration import MigrationContext, RevisionStep
from sqlalchemy import Connection, event, text
from sqlalchemy.exc import DBAPIError, OperationalError

from {{ cookiecutter.package_name }}.db import error_args, mysql_error_code
from {{ cookiecutter.package_name }}.settings import Settings

log = logging.getLogger("alembic.env")

DDL = re.compile(r"\s*(CREATE|ALTER|DROP|RENAME|TRUNCATE)\b", re.IGNORECASE)
# Statements that change nothing, which Alembic and SQLAlchemy also run: not counted.
READ = re.compile(
    r"\s*(SELECT|SHOW|DESCRIBE|EXPLAIN|SET|DO|SAVEPOINT|RELEASE|ROLLBACK)\b", re.IGNORECASE
)
NAME = r"(`[^`]+`|[\w.]+)"
# What undoes a statement that created something new; anything else is undone by hand.
UNDO = [
    (re.compile(rf"CREATE TABLE (?:IF NOT EXISTS )?{NAME}", re.I), "DROP TABLE {0}"),
    (
        re.compile(
            rf"CREATE (?:UNIQUE |FULLTEXT |SPATIAL )?INDEX (?:IF NOT EXISTS )?{NAME} ON {NAME}",
            re.I,
        ),
        "DROP INDEX {0} ON {1}",
    ),
    (
        re.compile(rf"ALTER TABLE {NAME} ADD COLUMN (?:IF NOT EXISTS )?{NAME}", re.I),
        "ALTER TABLE {0} DROP COLUMN {1}",
    ),
    (
        re.compile(rf"ALTER TABLE {NAME} ADD CONSTRAINT {NAME} FOREIGN KEY", re.I),
        "ALTER TABLE {0} DROP FOREIGN KEY {1}",
    ),
    (
        re.compile(rf"ALTER TABLE {NAME} ADD CONSTRAINT {NAME} UNIQUE", re.I),
        "DROP INDEX {1} ON {0}",
    ),
    (
        re.compile(rf"ALTER TABLE {NAME} ADD CONSTRAINT {NAME} CHECK", re.I),
        "ALTER TABLE {0} DROP CONSTRAINT {1}",
    ),
]
TABLE_IN_STATEMENT = re.compile(
    rf"\b(?:TABLE|ON|INTO|FROM|UPDATE|REFERENCES)\s+(?:IF\s+(?:NOT\s+)?EXISTS\s+)?{NAME}",
    re.IGNORECASE,
)
LOCK_WAIT_TIMEOUT = 1205
# A table, column, index, key or foreign key already there: what a run stopped (killed, its
# server lost) after a DDL statement and before the version table moved leaves behind.
ALREADY_THERE = {1022, 1050, 1060, 1061, 1826}
# MariaDB's max_statement_time, MySQL's max_execution_time.
STATEMENT_TIMEOUTS = {1969, 3024}
BLOCKERS = text(
    """
    SELECT p.ID AS id, p.USER AS user, p.COMMAND AS command,
           TIMESTAMPDIFF(SECOND, t.trx_started, NOW()) AS seconds,
           LEFT(COALESCE(p.INFO, t.trx_query, ''), 80) AS query
    FROM information_schema.INNODB_TRX AS t
    JOIN information_schema.PROCESSLIST AS p ON p.ID = t.trx_mysql_thread_id
    WHERE p.ID <> CONNECTION_ID()
    ORDER BY t.trx_started
    LIMIT 5
    """
)


class RevisionFailed(OperationalError):
    """A statement of a revision failed; str() is the one-line explanation."""

    def __init__(self, error: DBAPIError, explanation: str) -> None:
        super().__init__(error.statement, error.params, error.orig or error, hide_parameters=True)
        self.explanation = explanation

    def __str__(self) -> str:
        return self.explanation


@dataclass
class Progress:
    """The revision being applied, and its statements that have run."""

    step: RevisionStep | None = None
    statements: list[str] = field(default_factory=list)
    # Positions of statements run in autocommit (an autocommit_block, a backfill's batches).
    autocommitted: set[int] = field(default_factory=set)

    def start(self, step: RevisionStep | None) -> None:
        self.step, self.statements, self.autocommitted = step, [], set()

    def committed(self, failed: str = "") -> list[str]:
        """The statements MySQL has committed: it commits the open transaction before each DDL
        statement it starts (even one that then fails), each DDL statement itself, and what
        ran in autocommit."""
        if DDL.match(failed):
            return list(self.statements)
        last = max(
            (
                index
                for index, statement in enumerate(self.statements)
                if DDL.match(statement) or index in self.autocommitted
            ),
            default=-1,
        )
        return self.statements[: last + 1]


@contextmanager
def tracked(migration_context: MigrationContext, settings: Settings) -> Iterator[None]:
    """Record each revision's statements; explain a failure in one line (RevisionFailed)."""
    connection = migration_context.connection
    steps_fn = migration_context._migrations_fn
    if connection is None or steps_fn is None:
        yield
        return
    progress = Progress()
    version_table = migration_context.version_table

    def steps(heads: Sequence[str], context: MigrationContext) -> Iterator[RevisionStep]:
        for step in steps_fn(heads, context):
            progress.start(step)
            yield step
        progress.start(None)

    def record(on: Connection, cursor: object, statement: str, *rest: Any) -> None:
        if (
            progress.step is not None
            and not READ.match(statement)
            and version_table not in statement
        ):
            if on.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
                progress.autocommitted.add(len(progress.statements))
            progress.statements.append(statement)

    migration_context._migrations_fn = steps
    event.listen(connection, "after_cursor_execute", record)
    try:
        yield
    except DBAPIError as error:
        if progress.step is None:
            raise
        blockers = (
            open_transactions(connection) if mysql_error_code(error) == LOCK_WAIT_TIMEOUT else []
        )
        raise RevisionFailed(error, explain(progress, error, blockers, settings)) from error
    except BaseException:
        if progress.step is not None and progress.committed():
            log.error("Interrupted: %s", left_behind(progress, "run again"))
        raise
    finally:
        event.remove(connection, "after_cursor_execute", record)
        migration_context._migrations_fn = steps_fn


def explain(progress: Progress, error: DBAPIError, blockers: list[str], settings: Settings) -> str:
    step = progress.step
    assert step is not None
    code = mysql_error_code(error)
    statement = shown(str(error.statement or ""))
    reason = " ".join(str(error_args(error)[-1] if code else error.orig or error).split())
    revision = f"revision {step.revision.revision} ({step.doc or 'no message'})"
    number = len(progress.statements) + 1
    if code == LOCK_WAIT_TIMEOUT:
        table = TABLE_IN_STATEMENT.search(statement)
        on = f" on {table.group(1)}" if table else ""
        who = (
            f"open transactions that may hold it: {'; '.join(blockers)}"
            if blockers
            else "no other open transaction was caught (see SHOW PROCESSLIST)"
        )
        what = (
            f"{revision} could not get a lock{on} within lock_wait_timeout "
            f"(MIGRATION_LOCK_TIMEOUT={settings.migration_lock_timeout}) at its statement "
            f"{number}: {statement}; {who}"
        )
        retry = (
            "run again when that session has finished (or KILL it), or raise MIGRATION_LOCK_TIMEOUT"
        )
    elif code in STATEMENT_TIMEOUTS:
        what = (
            f"{revision}'s statement {number} ran longer than MIGRATION_STATEMENT_TIMEOUT="
            f"{settings.migration_statement_timeout}: {statement}"
        )
        retry = "raise MIGRATION_STATEMENT_TIMEOUT for this run, or split the work, and run again"
    elif code in ALREADY_THERE and not progress.committed():
        what = f"{revision} failed at its statement {number}: {statement}: {reason}"
        retry = (
            "a run stopped after this statement and before the version table moved leaves just "
            "this: if it is this revision's, drop it, or run `alembic stamp "
            f"{step.revision.revision}` if the revision was complete, then run again"
        )
    else:
        what = f"{revision} failed at its statement {number}: {statement}: {reason}"
        retry = "fix the cause and run again"
    return f"{what}; {left_behind(progress, retry, str(error.statement or ''))}"


def left_behind(progress: Progress, retry: str, failed: str = "") -> str:
    """Where the failed revision left the database, and how to go on from there."""
    step = progress.step
    assert step is not None
    at = ", ".join(step.from_revisions) or "no revision (empty)"
    committed = progress.committed(failed)
    if not committed:
        return f"nothing of it was applied and the database is still at {at}: {retry}"
    undo = [undo_statement(statement) for statement in committed]
    them = "it" if len(committed) == 1 else "them"
    how = f"undo {them} ({'; '.join(undo)})" if all(undo) else f"undo {them} by hand"
    applied = "; ".join(
        f"{index}. {shown(statement, 60)}" for index, statement in enumerate(committed, 1)
    )
    # A downgrade finished by hand ends at the revision before: stamping this one changes nothing.
    finished = step.revision.revision if step.is_upgrade else " ".join(step.to_revisions) or "base"
    return (
        f"MySQL had already committed {len(committed)} statement(s) of it ({applied}) and the "
        f"database is still marked at {at}: {how}, then {retry}; or finish the revision by "
        f"hand and `alembic stamp {finished}`"
    )


def undo_statement(statement: str) -> str:
    for pattern, undo in UNDO:
        match = pattern.match(" ".join(statement.split()))
        if match:
            return undo.format(*match.groups())
    return ""


def open_transactions(connection: Connection) -> list[str]:
    """Other sessions with an open transaction: MDL holders are among them."""
    try:
        rows = connection.execute(BLOCKERS).all()
    except DBAPIError:
        return []
    return [
        f"connection {row.id} ({row.user}, {row.command}, transaction open for {row.seconds}s"
        + (f": {' '.join(str(row.query).split())}" if row.query else "")
        + ")"
        for row in rows
    ]


def shown(statement: str, limit: int = 120) -> str:
    statement = " ".join(statement.split())
    return statement if len(statement) <= limit else f"{statement[: limit - 3]}..."
