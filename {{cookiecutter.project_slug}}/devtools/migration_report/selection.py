"""Which revisions the report is about, in the order they run."""

import subprocess
from dataclasses import dataclass
from pathlib import Path

from alembic.config import Config
from alembic.script import Script, ScriptDirectory
from alembic.util import to_tuple

from devtools.migration_lint import history

# The remote's default branch, then the usual names for it.
DEFAULT_BASES = ("origin/HEAD", "origin/main", "main")
PRE_DEPLOY = "pre-deploy"


class SelectionError(Exception):
    """The revisions to report cannot be told; the message says what to pass."""


@dataclass(frozen=True)
class Selected:
    script: Script
    path: Path

    @property
    def id(self) -> str:
        return self.script.revision

    @property
    def down(self) -> tuple[str, ...]:
        return to_tuple(self.script.down_revision, default=())

    @property
    def depends_on(self) -> list[str]:
        return [*self.down, *to_tuple(self.script.dependencies, default=())]

    @property
    def phase(self) -> str:
        return str(getattr(self.script.module, "phase", PRE_DEPLOY))

    @property
    def message(self) -> str:
        return str(self.script.doc or "").strip()


def in_order(alembic_ini: Path) -> list[Selected]:
    """Every revision, each after the ones it builds on."""
    try:
        scripts = list(ScriptDirectory.from_config(Config(alembic_ini)).walk_revisions())
    # Revision files are arbitrary Python: whatever they raise means the history is unreadable.
    except Exception as error:
        raise SelectionError(f"{alembic_ini}: cannot read the revisions ({error})") from None
    return [Selected(script, Path(script.path).resolve()) for script in reversed(scripts)]


def given(every: list[Selected], paths: list[Path]) -> list[Selected]:
    files = {
        p.resolve() for path in paths for p in (path.glob("*.py") if path.is_dir() else [path])
    }
    unknown = [path for path in files if path not in {s.path for s in every}]
    if unknown:
        raise SelectionError(
            f"{unknown[0]} is not a revision of this project's migrations/versions"
        )
    return [selected for selected in every if selected.path in files]


def new_since(every: list[Selected], base: str | None) -> tuple[str, list[Selected]]:
    """The revisions whose file the base does not have, and the base compared with."""
    base = base or default_base()
    try:
        history.verify_base(base)
        return base, [s for s in every if history.modified_since(base, s.path) is None]
    except history.HistoryError as error:
        raise SelectionError(str(error)) from None


def default_base() -> str:
    def exists(ref: str) -> bool:
        command = ["git", "rev-parse", "--verify", "--quiet", f"{ref}^" + "{commit}"]
        try:
            return subprocess.run(command, capture_output=True, check=False).returncode == 0
        except FileNotFoundError:
            return False

    found = next((ref for ref in DEFAULT_BASES if exists(ref)), None)
    if found is None:
        raise SelectionError(
            f"none of {', '.join(DEFAULT_BASES)} is a git ref here: pass --base REF, "
            "or the revision files to report"
        )
    return found
