"""Checks across revisions: a single head, and no edits to revisions already on the base branch."""

import ast
import subprocess
from dataclasses import dataclass
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory


class HistoryError(Exception):
    """Git, the base ref or the revision history cannot be read; the message says which."""


@dataclass(frozen=True)
class Revision:
    id: str
    down: str | None  # the first parent; a merge revision has several
    path: Path


def revisions(alembic_ini: Path) -> tuple[list[Revision], list[Revision]]:
    """All revisions and the heads, as Alembic itself reads them."""
    try:
        # Not the app's build_config(): the linter runs before the project is installed
        # (pre-commit, a CI lint job), and reading revision files needs no settings.
        script = ScriptDirectory.from_config(Config(alembic_ini))
        every = list(script.walk_revisions())
        head_ids = set(script.get_heads())
    # Revision files are arbitrary Python: whatever they raise means the history is unreadable.
    except Exception as error:
        raise HistoryError(f"{alembic_ini}: cannot read the revisions ({error})") from None
    found = [Revision(s.revision, _first(s.down_revision), Path(s.path).resolve()) for s in every]
    return found, [r for r in found if r.id in head_ids]


def _first(down: str | tuple[str, ...] | list[str] | None) -> str | None:
    return down if isinstance(down, str) or down is None else next(iter(down), None)


def _git(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    except FileNotFoundError:
        raise HistoryError("--base needs git, which is not installed or not on PATH") from None


def verify_base(base: str) -> None:
    result = _git("rev-parse", "--verify", "--quiet", f"{base}^" + "{commit}", cwd=Path.cwd())
    if result.returncode != 0:
        detail = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else ""
        raise HistoryError(
            f"--base {base}: not a commit or ref in this git repository"
            + (f" ({detail})" if detail else "")
            + "; "
            f"fetch it first, e.g. git fetch origin {base.rsplit('/', 1)[-1]}"
        )


def _code(source: str) -> str | None:
    """The module without its docstring and comments: what running it would do."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    first = tree.body[0] if tree.body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
        tree.body.pop(0)
    return ast.dump(tree)


def modified_since(base: str, path: Path) -> bool | None:
    """None if path is new since base; else whether its code differs from the base version."""
    result = _git("show", f"{base}:./{path.name}", cwd=path.parent.resolve())
    if result.returncode != 0:
        return None
    return _code(result.stdout) != _code(path.read_text(encoding="utf-8"))
