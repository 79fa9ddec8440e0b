"""Column type changes PostgreSQL makes without rewriting the table (strong_migrations' list).

Only the metadata changes, under a brief lock: a longer or unlimited varchar, varchar to text,
text to unlimited varchar, a wider or unconstrained numeric, cidr to inet, and timestamp to
timestamptz from PostgreSQL 12 (with the session time zone UTC, as the migrations run).
"""

import ast
from dataclasses import dataclass

from devtools.migration_lint.migration import call_name

VARCHAR = {"String", "VARCHAR", "Unicode", "NVARCHAR"}
TEXT = {"Text", "TEXT", "UnicodeText"}
NUMERIC = {"Numeric", "NUMERIC", "DECIMAL"}
TIMESTAMP = {"DateTime", "TIMESTAMP"}
NETWORK = {"CIDR": "cidr", "INET": "inet"}


@dataclass(frozen=True)
class ColumnType:
    family: str  # varchar, text, numeric, timestamp, cidr, inet
    size: tuple[int | None, ...] = ()  # varchar: (length,); numeric: (precision, scale)
    timezone: bool = False


def _number(node: ast.expr | None) -> int | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, int):
        return node.value
    return None


def column_type(node: ast.expr | None) -> ColumnType | None:
    """The type an sa.<Type>(...) expression (or the bare class) names, if it is one we know."""
    if node is None:
        return None
    call = node if isinstance(node, ast.Call) else None
    name = call_name(node) if call else getattr(node, "attr", getattr(node, "id", None))
    args = call.args if call else []
    keywords = {k.arg: k.value for k in call.keywords if k.arg} if call else {}

    def argument(index: int, keyword: str) -> ast.expr | None:
        return args[index] if index < len(args) else keywords.get(keyword)

    if name in VARCHAR:
        return ColumnType("varchar", (_number(argument(0, "length")),))
    if name in TEXT:
        return ColumnType("text")
    if name in NUMERIC:
        return ColumnType(
            "numeric", (_number(argument(0, "precision")), _number(argument(1, "scale")))
        )
    if name in TIMESTAMP:
        timezone = argument(0, "timezone")
        with_zone = isinstance(timezone, ast.Constant) and timezone.value is True
        return ColumnType("timestamp", timezone=with_zone)
    if name in NETWORK:
        return ColumnType(NETWORK[name])
    return None


def without_rewrite(old: ColumnType, new: ColumnType, postgresql: int) -> bool:
    if old == new:
        return True
    if old.family == "varchar" and new.family == "varchar":
        (before,), (after,) = old.size, new.size
        return after is None or (before is not None and after >= before)
    if old.family == "varchar" and new.family == "text":
        return True
    if old.family == "text" and new.family == "varchar":
        return new.size == (None,)
    if old.family == "numeric" and new.family == "numeric":
        (precision, scale), (new_precision, new_scale) = old.size, new.size
        if new_precision is None:
            return new_scale is None
        return precision is not None and new_precision >= precision and new_scale == scale
    if old.family == "timestamp" and new.family == "timestamp":
        return new.timezone and postgresql >= 12
    return (old.family, new.family) == ("cidr", "inet")
