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
