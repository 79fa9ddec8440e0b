"""`python -m devtools.migration_lint.render ALEMBIC_INI REVISION...`: each revision's offline SQL.

One process renders them all (`alembic upgrade <down>:<rev> --sql` each, in process) and prints
a JSON object {revision: {"sql": ...} or {"error": ...}} on stdout. Before each statement the
SQL carries `-- migration-lint: line N`, the line of the revision file whose call emitted it
(0 when none did: the timeouts, the version table), so findings on the SQL point at Python.
"""

import io
import json
import os
import re
import sys
from pathlib import Path
from types import FrameType
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.ddl.impl import DefaultImpl
from alembic.operations.batch import BatchOperationsImpl
from alembic.script import ScriptDirectory

MARKER = "-- migration-lint: line "
# The line of the batch_op call whose queued operation runs now (they run when the block ends).
_batch_line: list[int] = []


def caller_line(revision_files: set[str], frame: FrameType | None) -> int:
    """The line in upgrade() (or downgrade()) that led here: a helper's caller, not the helper;
    upgrade_tenant(), not the upgrade(scope) that dispatches to it."""
    if _batch_line:
        return _batch_line[-1]
    innermost = 0
    while frame is not None:
        if os.path.realpath(frame.f_code.co_filename) in revision_files:
            if frame.f_code.co_name.startswith(("upgrade", "downgrade")):
                return frame.f_lineno
            innermost = innermost or frame.f_lineno
        frame = frame.f_back
    return innermost


class _LinedBatch(list[Any]):
    """batch_alter_table's queue of operations, remembering where each was called."""

    files: set[str] = set()

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[int] = []

    def append(self, entry: Any) -> None:
        super().append(entry)
        self.lines.append(caller_line(self.files, sys._getframe(1)))

    def __iter__(self) -> Any:
        for entry, line in zip(list.__iter__(self), self.lines, strict=False):
            _batch_line.append(line)
            try:
                yield entry
            finally:
                _batch_line.pop()


def install_markers(revision_files: set[str]) -> None:
    execute = DefaultImpl._exec
    start_batch = BatchOperationsImpl.__init__
    _LinedBatch.files = revision_files

    def marked_execute(self: DefaultImpl, construct: Any, *args: Any, **kwargs: Any) -> Any:
        if self.as_sql:
            self.static_output(f"{MARKER}{caller_line(revision_files, sys._getframe(1))}")
        return execute(self, construct, *args, **kwargs)

    def lined_batch(self: BatchOperationsImpl, *args: Any, **kwargs: Any) -> None:
        start_batch(self, *args, **kwargs)  # type: ignore[no-untyped-call]
        self.batch = _LinedBatch()

    setattr(DefaultImpl, "_exec", marked_execute)  # noqa: B010
    setattr(BatchOperationsImpl, "__init__", lined_batch)  # noqa: B010


def _own_part(script: str, revision: str) -> str:
    """A merge revision's range renders the other branch too: keep the setup and our part."""
    preamble = script.split("-- Running upgrade", 1)[0]
    own = re.search(rf"^-- Running upgrade .*-> {revision}$", script, re.MULTILINE)
    return preamble + (script[own.start() :] if own else "")


def render(alembic_ini: Path, revisions: list[str]) -> dict[str, dict[str, str]]:
    script = ScriptDirectory.from_config(Config(str(alembic_ini)))
    scripts = {revision: script.get_revision(revision) for revision in revisions}
    install_markers({os.path.realpath(s.path) for s in scripts.values() if s is not None})
    rendered: dict[str, dict[str, str]] = {}
    for revision, found in scripts.items():
        down = found.down_revision if found else None
        first = down if isinstance(down, str) or down is None else next(iter(down), None)
        buffer = io.StringIO()
        config = Config(str(alembic_ini), output_buffer=buffer)
        try:
            command.upgrade(config, f"{first or 'base'}:{revision}", sql=True)
        # A revision's code can raise anything; SystemExit is how env.py reports a bad setting.
        except (Exception, SystemExit) as error:
            lines = str(error).strip().splitlines() or [type(error).__name__]
            rendered[revision] = {"error": lines[-1]}
            continue
        rendered[revision] = {"sql": _own_part(buffer.getvalue(), revision)}
    return rendered


def main(argv: list[str]) -> int:
    if len(argv) < 1:
        print("usage: python -m devtools.migration_lint.render ALEMBIC_INI REVISION...")
        return 2
    stdout, sys.stdout = sys.stdout, sys.stderr  # what revisions print must not spoil the JSON
    try:
        rendered = render(Path(argv[0]), argv[1:])
    finally:
        sys.stdout = stdout
    print(json.dumps(rendered))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
