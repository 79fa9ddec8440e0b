"""Every statement a revision runs, with the locks it took, read from pg_locks as it ran.

The revision runs online, through Alembic and env.py, as a deploy runs it: what the safe
operations decide by looking at the database, and their autocommit blocks, are traced as they
happen. SQLAlchemy's cursor events see each statement; after it, before anything commits,
pg_locks of the same backend says which locks it holds. PostgreSQL lists a lock mode once per
transaction, so a statement would hide a mode a statement before it took (a rewrite takes
SHARE on its table, as CREATE INDEX does): on the scratch database each statement runs in a
transaction of its own, and `Statement.transaction` says which ran together in a deploy (and
hold their locks until that commits). A statement in an autocommit block runs in an explicit
transaction too (what autocommit does implicitly); the few PostgreSQL refuses to run in one
(CONCURRENTLY) are reported with the lock mode its documentation gives.
"""

import re
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, event
from sqlalchemy.util import await_only

from . import locks
from .model import Lock, Statement

# The migration session's own statements (advisory lock, timeouts, version table), not the
# revision's.
BOOKKEEPING = re.compile(
    r"alembic_version|pg_(try_)?advisory_(xact_)?(un)?lock|set_config\(|current_setting\("
    r"|pg_backend_pid\(\)|^\s*(SHOW|RESET|BEGIN|COMMIT|ROLLBACK)\b|^\s*SELECT\b.*\bpg_catalog\."
    # The MySQL migration session's: its lock, its limits, the check of the database's charset.
    r"|\b(GET|RELEASE|IS_USED)_LOCK\(|innodb_lock_wait_timeout|@@character_set_database",
    re.IGNORECASE | re.DOTALL,
)
READ = re.compile(r"\s*SELECT\b", re.IGNORECASE)
RELATIONS = """
SELECT c.oid::bigint, c.relkind::text, c.relfilenode::bigint,
       CASE WHEN n.nspname = current_schema() THEN c.relname
            ELSE n.nspname || '.' || c.relname END
FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
WHERE n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'
"""
HELD_LOCKS = """
SELECT relation::bigint, mode FROM pg_locks
WHERE pid = pg_backend_pid() AND locktype = 'relation' AND granted
"""
TABLES = ("r", "p", "m")


@dataclass(frozen=True)
class Relation:
    kind: str
    filenode: int
    name: str


@dataclass
class Pending:
    """What the before-hook saw, for the after-hook of the same statement."""

    sql: str
    autocommit: bool
    own_transaction: bool
    relations: dict[int, Relation]
    started: float = field(default_factory=time.perf_counter)


class Tracer:
    """Listens on an engine; records statements only between start() and stop()."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.statements: list[Statement] = []
        self.existing: set[int] = set()  # relations there before the revision
        self.pending: Pending | None = None
        self.tracing = False
        self.transaction = 0
        self.transaction_ended = True
        event.listen(engine, "before_cursor_execute", self.before)
        event.listen(engine, "after_cursor_execute", self.after)
        event.listen(engine, "handle_error", self.failed)
        event.listen(engine, "commit", self.ended)
        event.listen(engine, "rollback", self.ended)

    def start(self, existing: set[int]) -> None:
        self.statements, self.existing, self.tracing = [], existing, True
        self.transaction_ended = True

    def ended(self, conn: Connection) -> None:
        self.transaction_ended = True

    def stop(self) -> list[Statement]:
        self.tracing = False
        return self.statements

    def before(self, conn: Connection, cursor: Any, sql: str, *rest: Any) -> None:
        if not self.tracing or BOOKKEEPING.search(sql):
            return
        autocommit = bool(getattr(conn.connection.dbapi_connection, "autocommit", False))
        if conn.dialect.name != "postgresql":
            self.pending = Pending(sql, autocommit, False, {})
            return
        own_transaction = autocommit and not locks.runs_outside_transactions(sql)
        if own_transaction:
            run_simple(conn, "BEGIN")
        # In a transaction this also starts it, if this statement is its first.
        relations = relations_now(conn)
        if not autocommit:
            run_simple(conn, "COMMIT; BEGIN")
        self.pending = Pending(sql, autocommit, own_transaction, relations)

    def after(self, conn: Connection, cursor: Any, sql: str, *rest: Any) -> None:
        pending, self.pending = self.pending, None
        if pending is None or pending.sql != sql:
            return
        milliseconds = (time.perf_counter() - pending.started) * 1000
        starts_transaction = pending.autocommit or self.transaction_ended
        self.transaction_ended = pending.autocommit
        statement = Statement(sql.strip(), pending.autocommit, round(milliseconds, 2), 0)
        if conn.dialect.name == "postgresql":
            self.measure(conn, pending, statement)
            if pending.own_transaction:
                run_simple(conn, "COMMIT")
            if READ.match(sql) and not statement.locks:
                # A look at the catalog (does the index exist?), not at the data.
                self.transaction_ended = starts_transaction
                return
        if not pending.autocommit:
            self.transaction += starts_transaction
            statement.transaction = self.transaction
        self.statements.append(statement)

    def failed(self, context: Any) -> None:
        pending, self.pending = self.pending, None
        if pending is not None and pending.own_transaction and context.connection is not None:
            run_simple(context.connection, "ROLLBACK")

    def measure(self, conn: Connection, pending: Pending, statement: Statement) -> None:
        after = relations_now(conn)
        relations = {**pending.relations, **after}
        if pending.autocommit and not pending.own_transaction:
            found = locks.documented_lock(pending.sql)
            if found:
                table, mode = found
                lock = Lock(table, "table", mode, locks.blocks(mode), measured=False)
                statement.locks.append(lock)
            statement.note = "runs outside any transaction: lock mode from PostgreSQL's docs"
            return
        for oid, pg_mode in sorted(held_locks(conn)):
            locked = relations.get(oid)
            if locked is None:  # a catalog, or our own probes' reads
                continue
            mode = locks.mode_name(pg_mode)
            kind = locks.KINDS.get(locked.kind, locked.kind)
            is_new = oid not in self.existing
            statement.locks.append(Lock(locked.name, kind, mode, locks.blocks(mode), is_new))
        statement.locks = strongest_per_relation(statement.locks)
        for oid, was in pending.relations.items():
            now = after.get(oid)
            if was.kind in TABLES and now and was.filenode and now.filenode != was.filenode:
                statement.rewrites.append(now.name)
        for lock in statement.locks:
            if lock.kind == "table" and not lock.new_relation and lock.relation in names(after):
                statement.rows[lock.relation] = count_rows(conn, lock.relation)


def strongest_per_relation(taken: list[Lock]) -> list[Lock]:
    strongest: dict[str, Lock] = {}
    for lock in taken:
        known = strongest.get(lock.relation)
        if known is None or locks.strength(lock.mode) > locks.strength(known.mode):
            strongest[lock.relation] = lock
    return sorted(strongest.values(), key=lambda lock: (lock.kind != "table", lock.relation))


def names(relations: dict[int, Relation]) -> set[str]:
    return {relation.name for relation in relations.values()}


def probe(conn: Connection, sql: str) -> list[Any]:
    """Run sql on the statement's own connection (its session and transaction), unseen by the
    events: through a cursor of its own, so the statement's result stays as it was."""
    dbapi_connection: Any = conn.connection.dbapi_connection
    assert dbapi_connection is not None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(sql)
        return list(cursor.fetchall()) if cursor.description else []
    finally:
        cursor.close()


def run_simple(conn: Connection, sql: str) -> None:
    """Transaction control behind the driver's back: asyncpg's simple protocol, no prepare."""
    driver_connection: Any = conn.connection.driver_connection
    await_only(driver_connection.execute(sql))


def relations_now(conn: Connection) -> dict[int, Relation]:
    return {row[0]: Relation(row[1], row[2], row[3]) for row in probe(conn, RELATIONS)}


def held_locks(conn: Connection) -> set[tuple[int, str]]:
    return {(row[0], row[1]) for row in probe(conn, HELD_LOCKS)}


def count_rows(conn: Connection, name: str) -> int:
    preparer = conn.dialect.identifier_preparer
    quoted = ".".join(preparer.quote(part) for part in name.split(".", 1))
    # The name comes from pg_class, quoted by the dialect.
    return int(probe(conn, f"SELECT count(*) FROM {quoted}")[0][0])  # noqa: S608
