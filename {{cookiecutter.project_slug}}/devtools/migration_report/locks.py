"""PostgreSQL's table-level lock modes: how strong each is and what it keeps others from doing."""

import re

# Weakest first, as in PostgreSQL's documentation ("Explicit Locking").
MODES = (
    "ACCESS SHARE",
    "ROW SHARE",
    "ROW EXCLUSIVE",
    "SHARE UPDATE EXCLUSIVE",
    "SHARE",
    "SHARE ROW EXCLUSIVE",
    "EXCLUSIVE",
    "ACCESS EXCLUSIVE",
)
READS_AND_WRITES, WRITES, NOTHING = "reads and writes", "writes", "nothing"
KINDS = {"r": "table", "p": "table", "i": "index", "I": "index", "S": "sequence", "v": "view"}
KINDS |= {"m": "materialized view", "f": "foreign table", "c": "type"}

# Statements PostgreSQL refuses inside a transaction block: their locks are gone by the time
# anyone could read pg_locks in the same session, so the documented mode is reported.
OUTSIDE_TRANSACTIONS = re.compile(
    r"\bCONCURRENTLY\b|^\s*(VACUUM|CREATE\s+DATABASE|DROP\s+DATABASE|ALTER\s+SYSTEM"
    r"|CREATE\s+TABLESPACE|DROP\s+TABLESPACE|REINDEX\s+(SCHEMA|DATABASE|SYSTEM))\b",
    re.IGNORECASE,
)
NAME = r'((?:"[^"]+"|[\w$]+)(?:\.(?:"[^"]+"|[\w$]+))?)'
DOCUMENTED = (
    (
        re.compile(
            rf"CREATE\s+(?:UNIQUE\s+)?INDEX\s+CONCURRENTLY.*?\sON\s+(?:ONLY\s+)?{NAME}",
            re.IGNORECASE | re.DOTALL,
        ),
        "SHARE UPDATE EXCLUSIVE",
    ),
    (
        re.compile(rf"DROP\s+INDEX\s+CONCURRENTLY\s+(?:IF\s+EXISTS\s+)?{NAME}", re.IGNORECASE),
        "SHARE UPDATE EXCLUSIVE",
    ),
    (
        re.compile(
            rf"REINDEX\s+(?:\(.*?\)\s*)?(?:INDEX|TABLE)\s+CONCURRENTLY\s+{NAME}", re.IGNORECASE
        ),
        "SHARE UPDATE EXCLUSIVE",
    ),
    (
        re.compile(
            rf"ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?{NAME}.*DETACH\s+PARTITION.*CONCURRENTLY",
            re.IGNORECASE | re.DOTALL,
        ),
        "SHARE UPDATE EXCLUSIVE",
    ),
)


def mode_name(pg_locks_mode: str) -> str:
    """pg_locks' "AccessExclusiveLock" as the documentation writes it: "ACCESS EXCLUSIVE"."""
    words = re.findall(r"[A-Z][a-z]*", pg_locks_mode.removesuffix("Lock"))
    return " ".join(words).upper()


def strength(mode: str) -> int:
    return MODES.index(mode) if mode in MODES else -1


def blocks(mode: str) -> str:
    if mode == "ACCESS EXCLUSIVE":
        return READS_AND_WRITES
    return WRITES if strength(mode) >= strength("SHARE") else NOTHING


def runs_outside_transactions(sql: str) -> bool:
    return OUTSIDE_TRANSACTIONS.search(sql) is not None


def documented_lock(sql: str) -> tuple[str, str] | None:
    """(relation as written, mode) for the statements that cannot be measured."""
    for pattern, mode in DOCUMENTED:
        if found := pattern.search(sql):
            return found.group(1).replace('"', ""), mode
    return None
