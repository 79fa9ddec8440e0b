"""Static checks of Alembic revision files; see docs/migration-linter.md."""

import sys

try:
    import alembic  # noqa: F401
except ModuleNotFoundError:
    # Run by a bare `python` (a git hook, a shell without the virtualenv): one line, no traceback.
    raise SystemExit(
        f"migration linter: alembic is not installed for {sys.executable}: activate the "
        "project's virtualenv first (source .venv/bin/activate), or run it with uv run"
    ) from None
