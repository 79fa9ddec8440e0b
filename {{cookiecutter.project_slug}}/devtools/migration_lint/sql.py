"""Just enough SQL reading to check raw statements: no parser, only tokens and keywords."""

import re

# Order matters: comments and quoted text are matched before a lone `;` is.
TOKEN = re.compile(
    r"""
    (?P<comment>--[^\n]*|/\*.*?\*/)
    | (?P<dollar>\$(?P<tag>[A-Za-z_]*)\$.*?\$(?P=tag)\$)
    | (?P<string>'(?:[^']|'')*')
    | (?P<ident>"(?:[^"]|"")*")
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


NAME = r'(?:"(?:[^"]|"")+"|[\w$]+)(?:\.(?:"(?:[^"]|"")+"|[\w$]+))?'
IF_EXISTS = r"(?:IF\s+EXISTS\s+)?"
# ALTER TABLE t DROP x drops column x: COLUMN is optional, these words are not columns.
NOT_A_COLUMN = {"CONSTRAINT", "DEFAULT", "NOT", "IDENTITY", "EXPRESSION", "COLUMN"}


def _name(text: str) -> str:
    return text.rsplit(".", 1)[-1].strip('"')


def altered_table(statement: str) -> str | None:
    match = re.match(rf"\s*ALTER\s+TABLE\s+{IF_EXISTS}(?:ONLY\s+)?({NAME})", statement, re.I)
    return _name(match.group(1)) if match else None


def drops(statement: str) -> list[tuple[str, str]]:
    """(kind, name) of what statement drops: table, schema, column, index or constraint."""
    found: list[tuple[str, str]] = []
    direct = re.match(
        rf"\s*DROP\s+(TABLE|SCHEMA|INDEX)\s+(?:CONCURRENTLY\s+)?{IF_EXISTS}({NAME})",
        statement,
        re.I,
    )
    if direct:
        found.append((direct.group(1).lower(), _name(direct.group(2))))
    table = altered_table(statement)
    if table is None:
        return found
    # ALTER COLUMN c DROP DEFAULT / DROP NOT NULL drop no column: skip the ALTER COLUMN clauses.
    clauses = re.split(r",(?![^(]*\))", statement)
    for clause in clauses:
        if re.search(r"\bALTER\s+(?:COLUMN\s+)?\S+\s+(?:SET|DROP|TYPE)\b", clause, re.I):
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
    return names


def added_required_columns(statement: str) -> list[str]:
    """table.column of each ADD COLUMN ... NOT NULL without a DEFAULT (fails on rows)."""
    table = altered_table(statement)
    if table is None:
        return []
    found = []
    for clause in re.split(r",(?![^(]*\))", statement):
        match = re.search(
            rf"\bADD\s+(?:COLUMN\s+)?(?:IF\s+NOT\s+EXISTS\s+)?({NAME})\s", clause, re.I
        )
        if not match or match.group(1).upper() in {"CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK"}:
            continue
        defaulted = has_keyword(clause, "DEFAULT") or has_keyword(clause, "GENERATED")
        if has_keyword(clause, "NOT", "NULL") and not defaulted:
            found.append(f"{table}.{_name(match.group(1))}")
    return found


def adds_constraint_kinds(statement: str) -> set[str]:
    """The kinds of constraint an ALTER TABLE ... ADD [CONSTRAINT n] adds, upper case."""
    kinds = re.findall(
        rf"\bADD\s+(?:CONSTRAINT\s+{NAME}\s+)?(UNIQUE|PRIMARY\s+KEY|EXCLUDE|FOREIGN\s+KEY|CHECK)",
        statement,
        re.I,
    )
    return {" ".join(kind.upper().split()) for kind in kinds}
