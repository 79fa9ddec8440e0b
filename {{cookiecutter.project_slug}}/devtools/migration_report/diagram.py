"""A Mermaid erDiagram of the tables a revision touches, as they are after it, changes marked."""

import re

from .model import Change
from .schema import Table

# Written apart: the template engine would read doubled braces.
OPEN = "{"
UNSAFE = re.compile(r"[^A-Za-z0-9_\-()\[\]]")


def entity(name: str) -> str:
    return UNSAFE.sub("_", name)


def attribute_type(type_: str) -> str:
    # Mermaid reads a type as one word: "TIMESTAMP WITH TIME ZONE" becomes one.
    cleaned = UNSAFE.sub("_", type_.replace(",", "-").replace(" ", "_"))
    return cleaned if re.match(r"[A-Za-z_]", cleaned) else f"t_{cleaned}"


def comment(text: str) -> str:
    return '"' + text.replace('"', "'") + '"'


def er_diagram(
    touched: list[str], before: dict[str, Table], after: dict[str, Table], changes: list[Change]
) -> str | None:
    if not touched:
        return None
    lines = ["erDiagram"]
    relationships: list[str] = []
    for name in touched:
        table = after.get(name) or before.get(name)
        if table is None:
            continue
        marks = column_marks(name, changes)
        whole = "new table" if name not in before else None
        whole = "table dropped" if name not in after else whole
        gone = before.get(name, table).columns
        dropped = [column for column in gone.values() if column.name not in table.columns]
        foreign = {column for key in table.foreign_keys for column in key.columns}
        unique = {key[0] for key in table.unique if len(key) == 1}
        lines.append(f"    {entity(name)} " + OPEN)
        for column in [*table.columns.values(), *dropped]:
            keys = [
                key
                for key, applies in (
                    ("PK", column.primary_key),
                    ("FK", column.name in foreign),
                    ("UK", column.name in unique),
                )
                if applies
            ]
            line = f"        {attribute_type(column.type)} {entity(column.name)}"
            line += f" {', '.join(keys)}" if keys else ""
            if note := whole or marks.get(column.name):
                line += f" {comment(note)}"
            lines.append(line)
        lines.append("    }")
        for key in sorted(table.foreign_keys, key=lambda key: key.columns):
            label = comment(", ".join(key.columns))
            one_to_many = f"||--o{OPEN}"
            relationships.append(f"    {entity(key.table)} {one_to_many} {entity(name)} : {label}")
    return "\n".join(lines + relationships)


def column_marks(table: str, changes: list[Change]) -> dict[str, str]:
    """What to write beside each changed column: the reader's eye goes to these."""
    marks: dict[str, list[str]] = {}
    for change in changes:
        if change.table != table or not change.column:
            continue
        what = change.what.removeprefix("column ")
        if change.what.startswith(("index", "foreign key")):
            what = f"{change.what} ({change.detail})"
        elif change.detail:
            what = f"{what}: {change.detail}"
        for column in change.column.split(", "):
            marks.setdefault(column, []).append(what)
    return {column: "; ".join(notes) for column, notes in marks.items()}
