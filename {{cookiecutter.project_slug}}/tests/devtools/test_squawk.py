"""Squawk on the offline SQL of a revision; DATABASE_URL, if set, only picks the dialect."""

import shutil
from pathlib import Path

import pytest

from tests.devtools.conftest import Lint
from tests.fixtures.scratch_migrations import PROJECT, revision_source

REVISION = "1a2b3c4d5e6f"
BLOCKING = 'op.create_index("ix_books_title", "books", ["title"])'
CONCURRENT = """
    with op.get_context().autocommit_block():
        op.create_index(
            "ix_books_title", "books", ["title"], postgresql_concurrently=True, if_not_exists=True
        )
"""
DROP_INDEX = 'op.drop_index("ix_books_title", table_name="books")'
ACKNOWLEDGED = "# migration-lint: ignore[squawk:require-concurrent-index-creation] 40 rows"


@pytest.fixture
def revision(tmp_path: Path) -> Path:
    """A copy of this project's Alembic setup whose only revision is written by the test."""
    for name in ("alembic.ini", ".squawk.toml", "migrations/env.py", "migrations/script.py.mako"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(PROJECT / name, tmp_path / name)
    (tmp_path / "migrations" / "versions").mkdir()
    return tmp_path / "migrations" / "versions" / f"{REVISION}_index_titles.py"


def write(path: Path, upgrade: str, acknowledgement: str | None = None) -> int:
    """Write the revision; return the line of `def upgrade`, where squawk's findings go."""
    source = revision_source(REVISION, None, upgrade, DROP_INDEX, message="Index book titles.")
    if acknowledgement:
        source = source.replace("\ndef upgrade(", f"\n{acknowledgement}\ndef upgrade(", 1)
    path.write_text(source)
    lines = enumerate(source.splitlines(), start=1)
    return next(number for number, text in lines if text.startswith("def upgrade("))


def test_blocking_index_is_reported_on_upgrade(lint: Lint, revision: Path) -> None:
    line = write(revision, BLOCKING)
    code, found, out = lint("lint-migrations")
    assert code == 1, out
    assert found == [(revision.name, line, "squawk:require-concurrent-index-creation")], out
    assert "CREATE INDEX ix_books_title ON books (title)" in out


def test_concurrent_index_outside_the_transaction_is_clean(lint: Lint, revision: Path) -> None:
    write(revision, CONCURRENT)
    code, found, out = lint("lint-migrations")
    assert (code, found) == (0, []), out


def test_squawk_finding_can_be_acknowledged(lint: Lint, revision: Path) -> None:
    write(revision, BLOCKING, acknowledgement=ACKNOWLEDGED)
    assert lint("lint-migrations")[:2] == (0, [])


def test_no_squawk_skips_it(lint: Lint, revision: Path) -> None:
    write(revision, BLOCKING)
    assert lint("lint-migrations", "--no-squawk")[:2] == (0, [])


def test_revision_alembic_cannot_render_is_reported(lint: Lint, revision: Path) -> None:
    line = write(revision, 'op.get_bind().exec_driver_sql("SELECT count(*) FROM books").scalar()')
    code, found, out = lint("lint-migrations")
    assert code == 1
    assert found == [(revision.name, line, "squawk:offline-sql")], out
