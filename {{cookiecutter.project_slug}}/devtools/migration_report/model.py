"""What the report says about each revision; JSON is these dataclasses as dictionaries."""

from dataclasses import dataclass, field

# Bumped when a field changes meaning or goes away; new fields may be added without a bump.
SCHEMA_VERSION = 1
GREEN, AMBER, RED = "green", "amber", "red"
VERDICTS = (GREEN, AMBER, RED)


@dataclass
class Lock:
    relation: str  # schema.name
    kind: str  # table, index, sequence, view, ...
    mode: str  # as PostgreSQL's documentation names it: "ACCESS EXCLUSIVE"
    blocks: str  # "reads and writes", "writes" or "nothing"
    # Created by this revision: nobody else can be using it, so the lock blocks nobody.
    new_relation: bool = False
    # False: read from PostgreSQL's documentation, the statement could not be measured.
    measured: bool = True


@dataclass
class Statement:
    sql: str
    # Ran outside the revision's transaction (an autocommit block): committed on its own.
    autocommit: bool
    duration_ms: float
    # Statements with the same number run in one transaction in a deploy: the locks each
    # takes are held until that transaction commits. 0: autocommit, committed on its own.
    transaction: int
    locks: list[Lock] = field(default_factory=list)  # taken by this statement
    rewrites: list[str] = field(default_factory=list)  # tables whose relfilenode changed
    rows: dict[str, int] = field(default_factory=dict)  # rows in the tables it locked
    note: str | None = None


@dataclass
class ReportFinding:
    line: int
    rule: str
    problem: str
    fix: str
    acknowledged: bool
    reason: str | None = None


@dataclass
class Change:
    table: str
    what: str  # "table created", "column added", "column changed", ...
    column: str | None = None
    detail: str | None = None


@dataclass
class RevisionReport:
    revision: str
    message: str
    phase: str
    depends_on: list[str]
    path: str
    verdict: str = GREEN
    reasons: list[str] = field(default_factory=list)
    offline_sql: list[str] | None = None
    statements: list[Statement] = field(default_factory=list)
    strongest_lock: Lock | None = None
    rewrites: list[str] = field(default_factory=list)
    findings: list[ReportFinding] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    diagram: str | None = None  # Mermaid erDiagram of the tables it touches, after it
    error: str | None = None  # the revision failed on the scratch database


@dataclass
class Report:
    database: str  # postgresql, mysql or sqlite
    locks_measured: bool
    base: str | None
    verdict: str
    revisions: list[RevisionReport]
    notes: list[str] = field(default_factory=list)
    schema_version: int = SCHEMA_VERSION
