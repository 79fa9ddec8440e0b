"""Just enough SQL reading to check raw statements: no parser, only tokens and keywords.

PostgreSQL's and MySQL's spellings both: `"quoted"` and `` `backquoted` `` names, MySQL's
`ALTER TABLE t DROP INDEX i` / `ADD KEY k (...)` clauses.
"""

import re

# Order matters: comments and quoted text are matched before a lone `;` is.
TOKEN = re.compile(
    r"""
    (?P<comment>--[^\n]*|/\*.*?\*/)
    | (?P<dollar>\$(?P<tag>[A-Za-z_]*)\$.*?\$(?P=tag)\$)
    | (?P<string>'(?:[^']|'')*')
    | (?P<ident>"(?:[^"]|"")*"|`(?:[^`]|``)*`)
    | (?P<semicolon>;)
    """,
    re.DOTALL | re.VERBOSE,
)
DML = {"INSERT", "UPDATE", "DELETE", "MERGE", "COPY", "TRUNCATE"}


def statements(sql: str) -> list[str]:
    """The statements in sql, comments removed and literals blanked to ''."""
    found, current, position = [], [], 0
    for match in TOKEN.finditer(sql):
        current.append(sql[position : match.start()])
        position = match.end()
        if match.group("semicolon"):
            found.append("".join(current))
            current = []
        elif match.group("string") or match.group("dollar"):
            current.append("''")
        elif match.group("ident"):
            current.append(match.group())
        else:
            current.append(" ")
    found.append("".join(current) + sql[position:])
    return [" ".join(statement.split()) for statement in found if statement.strip()]


def words(statement: str) -> list[str]:
    return re.findall(r"[A-Za-z_]+", statement.upper())


def is_data_change(statement: str) -> bool:
    tokens = words(statement)
    if tokens[:1] == ["WITH"]:
        return bool(DML & set(tokens))
    return bool(tokens) and tokens[0] in DML


def is_unbounded_write(statement: str) -> bool:
    """An UPDATE or DELETE that touches every row (TRUNCATE always does)."""
    tokens = words(statement)
    if tokens[:1] == ["TRUNCATE"]:
        return True
    return bool({"UPDATE", "DELETE"} & set(tokens[:1])) and "WHERE" not in tokens


def has_keyword(statement: str, *phrase: str) -> bool:
    pattern = r"\b" + r"\s+".join(phrase) + r"\b"
    return re.search(pattern, statement, re.IGNORECASE) is not None


def table_written(statement: str) -> str | None:
    match = re.match(
        r'\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+(?:ONLY\s+)?"?([\w.]+)"?',
        statement,
        re.IGNORECASE,
    )
    return match.group(1).rsplit(".", 1)[-1] if match else None


PART = r'(?:"(?:[^"]|"")+"|`(?:[^`]|``)+`|[\w$]+)'
NAME = rf"{PART}(?:\.{PART})?"
IF_EXISTS = r"(?:IF\s+EXISTS\s+)?"
# ALTER TABLE t DROP x drops column x: COLUMN is optional, these words are not columns.
NOT_A_COLUMN = {"CONSTRAINT", "DEFAULT", "NOT", "IDENTITY", "EXPRESSION", "COLUMN"}
# MySQL's ALTER TABLE t DROP INDEX i, DROP KEY k, DROP FOREIGN KEY f, DROP CHECK c, DROP PRIMARY KEY
MYSQL_DROPS = {"INDEX": "index", "KEY": "index", "FOREIGN": "constraint", "CHECK": "constraint"}
# ADD <word> that adds no column
NOT_ADDED_COLUMNS = {"CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "INDEX", "KEY", "FULLTEXT"}
NOT_ADDED_COLUMNS |= {"SPATIAL", "FOREIGN", "PARTITION"}


def _name(text: str) -> str:
    return text.rsplit(".", 1)[-1].strip('"`')


def altered_table(statement: str) -> str | None:
    match = re.match(rf"\s*ALTER\s+TABLE\s+{IF_EXISTS}(?:ONLY\s+)?({NAME})", statement, re.I)
    return _name(match.group(1)) if match else None


def drops(statement: str) -> list[tuple[str, str]]:
    """(kind, name) of what statement drops: table, schema, column, index or constraint."""
    found: list[tuple[str, str]] = []
    direct = re.match(
        rf"\s*DROP\s+(TABLE|SCHEMA|DATABASE|INDEX)\s+(?:CONCURRENTLY\s+)?{IF_EXISTS}({NAME})",
        statement,
        re.I,
    )
    if direct:
        kind = direct.group(1).lower().replace("database", "schema")
        found.append((kind, _name(direct.group(2))))
    table = altered_table(statement)
    if table is None:
        return found
    # ALTER COLUMN c DROP DEFAULT / DROP NOT NULL drop no column: skip the ALTER COLUMN clauses.
    clauses = re.split(r",(?![^(]*\))", statement)
    for clause in clauses:
        if re.search(r"\bALTER\s+(?:COLUMN\s+)?\S+\s+(?:SET|DROP|TYPE)\b", clause, re.I):
            continue
        if re.search(r"\bDROP\s+PRIMARY\s+KEY\b", clause, re.I):
            found.append(("constraint", "PRIMARY"))
            continue
        mysql = re.search(
            rf"\bDROP\s+(INDEX|KEY|FOREIGN\s+KEY|CHECK)\s+{IF_EXISTS}({NAME})", clause, re.I
        )
        if mysql:
            found.append((MYSQL_DROPS[mysql.group(1).split()[0].upper()], _name(mysql.group(2))))
            continue
        for match in re.finditer(
            rf"\bDROP\s+(?:(COLUMN|CONSTRAINT)\s+)?{IF_EXISTS}({NAME})", clause, re.I
        ):
            kind, name = (match.group(1) or "").upper(), _name(match.group(2))
            if kind == "CONSTRAINT":
                found.append(("constraint", name))
            elif kind == "COLUMN" or name.upper() not in NOT_A_COLUMN:
                found.append(("column", f"{table}.{name}"))
    return found


def created_names(statement: str) -> set[str]:
    """Names of indexes and constraints statement creates."""
    names = {
        _name(m.group(1))
        for m in re.finditer(
            rf"\bCREATE\s+(?:UNIQUE\s+)?INDEX\s+(?:CONCURRENTLY\s+)?(?:IF\s+NOT\s+EXISTS\s+)?({NAME})",
            statement,
            re.I,
        )
    }
    constraints = re.finditer(rf"\bADD\s+CONSTRAINT\s+({NAME})", statement, re.I)
    names |= {_name(m.group(1)) for m in constraints}
    # MySQL: CREATE FULLTEXT INDEX i ON t, ALTER TABLE t ADD [UNIQUE] INDEX|KEY i (...)
    mysql = re.finditer(
        rf"\b(?:CREATE\s+(?:FULLTEXT|SPATIAL)\s+INDEX|ADD\s+(?:UNIQUE\s+|FULLTEXT\s+|SPATIAL\s+)?"
        rf"(?:INDEX|KEY))\s+(?:IF\s+NOT\s+EXISTS\s+)?({NAME})",
        statement,
        re.I,
    )
    names |= {_name(m.group(1)) for m in mysql}
    return names


def _added_columns(statement: str) -> list[tuple[str, str]]:
    """(column, its clause) of each ADD [COLUMN] of an ALTER TABLE."""
    found = []
    for clause in re.split(r",(?![^(]*\))", statement):
        match = re.search(
            rf"\bADD\s+(?:COLUMN\s+)?(?:IF\s+NOT\s+EXISTS\s+)?({NAME})\s", clause, re.I
        )
        if match and match.group(1).upper() not in NOT_ADDED_COLUMNS:
            found.append((_name(match.group(1)), clause))
    return found


def added_required_columns(statement: str) -> list[str]:
    """table.column of each ADD COLUMN ... NOT NULL without a DEFAULT (fails on rows)."""
    table = altered_table(statement)
    if table is None:
        return []
    found = []
    for column, clause in _added_columns(statement):
        # A generated or AUTO_INCREMENT column (MySQL's `c INT AS (...)`) gets its values.
        filled = ("DEFAULT", "GENERATED", "AUTO_INCREMENT")
        defaulted = any(has_keyword(clause, word) for word in filled)
        defaulted = defaulted or re.search(r"\bAS\s*\(", clause, re.I) is not None
        if has_keyword(clause, "NOT", "NULL") and not defaulted:
            found.append(f"{table}.{column}")
    return found


def filled_columns(statement: str) -> list[tuple[str, str]]:
    """(column, "stored" or "counter") of each MySQL column an ALTER TABLE adds that the server
    fills row by row: a STORED (MariaDB: PERSISTENT) generated one, or an AUTO_INCREMENT one."""
    found = []
    for column, clause in _added_columns(statement):
        if has_keyword(clause, "STORED") or has_keyword(clause, "PERSISTENT"):
            found.append((column, "stored"))
        elif has_keyword(clause, "AUTO_INCREMENT"):
            found.append((column, "counter"))
    return found


def adds_constraint_kinds(statement: str) -> set[str]:
    """The kinds of constraint an ALTER TABLE ... ADD [CONSTRAINT n] adds, upper case."""
    kinds = re.findall(
        rf"\bADD\s+(?:CONSTRAINT\s+{NAME}\s+)?(UNIQUE|PRIMARY\s+KEY|EXCLUDE|FOREIGN\s+KEY|CHECK)",
        statement,
        re.I,
    )
    return {" ".join(kind.upper().split()) for kind in kinds}


def online_clause(statement: str) -> bool:
    """Whether a MySQL ALTER TABLE asks for ALGORITHM=INSTANT, or ALGORITHM=INPLACE with
    LOCK=NONE: the server then refuses what it could only do by copying or locking."""
    algorithm = re.search(r"\bALGORITHM\s*=?\s*(\w+)", statement, re.I)
    lock = re.search(r"\bLOCK\s*=?\s*(\w+)", statement, re.I)
    chosen = algorithm.group(1).upper() if algorithm else None
    return chosen == "INSTANT" or (
        chosen == "INPLACE" and lock is not None and lock.group(1).upper() == "NONE"
    )


FOREIGN_KEY_CHECKS_OFF = re.compile(
    r"\s*SET\s+(?:SESSION\s+|@@(?:SESSION\.)?)?foreign_key_checks\s*=\s*(?:0|OFF)\b", re.I
)


def turns_off_foreign_key_checks(statement: str) -> bool:
    return FOREIGN_KEY_CHECKS_OFF.match(statement) is not None


def renamed_columns(statement: str) -> list[str]:
    """`old to new` of each MySQL `CHANGE [COLUMN] old new ...` that gives a new name."""
    found = []
    for match in re.finditer(rf"\bCHANGE\s+(?:COLUMN\s+)?({NAME})\s+({NAME})", statement, re.I):
        old, new = _name(match.group(1)), _name(match.group(2))
        if old.lower() != new.lower():
            found.append(f"{old} to {new}")
    return found


def indexed_table(statement: str) -> str | None:
    """The table a CREATE [UNIQUE|FULLTEXT|SPATIAL] INDEX ... ON <table> indexes."""
    match = re.match(rf"\s*CREATE\s+(?:\w+\s+)?INDEX\s+.*?\bON\s+({NAME})", statement, re.I)
    return _name(match.group(1)) if match else None
