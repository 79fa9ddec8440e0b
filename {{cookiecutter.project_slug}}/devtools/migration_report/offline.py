"""The SQL `alembic upgrade <down>:<revision> --sql` renders, one statement at a time."""

import io
import re
from pathlib import Path

from alembic import command

from . import app
from .selection import Selected

STATEMENT_END = re.compile(r";\s*\n\s*\n")
RUNNING = re.compile(r"^-- Running upgrade .*$", re.MULTILINE)


def offline_statements(selected: Selected, alembic_ini: Path, database_url: str) -> list[str]:
    """The revision's statements as a DBA would run them, without the version table's.

    Raises whatever Alembic raises when the revision cannot be rendered offline.
    """
    config = app.alembic_config(alembic_ini, database_url, None)
    config.output_buffer = buffer = io.StringIO()
    start = selected.down[0] if selected.down else "base"
    command.upgrade(config, f"{start}:{selected.id}", sql=True)
    return statements(own_part(buffer.getvalue(), selected.id))


def own_part(script: str, revision: str) -> str:
    """The setup before the first revision, then this revision's part: a merge revision's
    range renders the other branch too."""
    preamble = RUNNING.split(script, 1)[0]
    own = re.search(rf"^-- Running upgrade .*-> {re.escape(revision)}$", script, re.MULTILINE)
    return preamble + (script[own.end() :] if own else "")


def statements(script: str) -> list[str]:
    found = []
    for chunk in STATEMENT_END.split(script):
        lines = [line for line in chunk.splitlines() if line.strip() and not line.startswith("--")]
        text = "\n".join(lines).strip().removesuffix(";")
        if text and "alembic_version" not in text:
            found.append(text)
    return found
