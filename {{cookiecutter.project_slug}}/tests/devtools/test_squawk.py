"""Squawk on the offline SQL of a revision (PostgreSQL bakes; DATABASE_URL picks the dialect)."""

import shutil
from pathlib import Path

import pytest

from devtools.migration_lint import squawk
from tests.devtools.conftest import Lint

PROJECT = Path(__file__).parents[2]
pytestmark = pytest.mark.skipif(squawk.DATABASE != "postgresql", reason="squawk reads PostgreSQL")

INDEX = """\"\"\"Index book titles.

Review checklist (tick each box with [x] before merging):
- [x] Reviewed
\"\"\"

from alembic import op

revision = "1a2b3c4d5e6f"
down_revision = None


{% if cookiecutter.tenancy == "schema-per-tenant" -%}
def upgrade(scope: str) -> None:{acknowledgement}
    globals()["upgrade_" + scope]()


def downgrade(scope: str) -> None:
    globals()["downgrade_" + scope]()


def upgrade_shared() -> None:
    pass


def downgrade_shared() -> None:
    pass


def upgrade_tenant() -> None:
{body}


def downgrade_tenant() -> None:
    op.drop_index("ix_books_title", table_name="books")
"""
{%- else -%}
def upgrade() -> None:{acknowledgement}
{body}


def downgrade() -> None:
    op.drop_index("ix_books_title", table_name="books")
"""
{%- endif %}
BLOCKING = '    op.create_index("ix_books_title", "books", ["title"])'
CONCURRENT = """    with op.get_context().autocommit_block():
        op.create_index(
            "ix_books_title", "books", ["title"], postgresql_concurrently=True, if_not_exists=True
        )"""


@pytest.fixture
def revision(tmp_path: Path) -> Path:
    """A copy of this project's Alembic setup whose only revision is written by the test."""
    for name in ("alembic.ini", ".squawk.toml", "migrations/env.py", "migrations/script.py.mako"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(PROJECT / name, tmp_path / name)
    (tmp_path / "migrations" / "versions").mkdir()
    return tmp_path / "migrations" / "versions" / "1a2b3c4d5e6f_index_titles.py"


def test_blocking_index_is_reported_on_upgrade(lint: Lint, revision: Path) -> None:
    revision.write_text(INDEX.format(acknowledgement="", body=BLOCKING))
    code, found, out = lint("lint-migrations")
    assert code == 1, out
    assert found == [(revision.name, 13, "squawk:require-concurrent-index-creation")], out
    assert "CREATE INDEX ix_books_title ON books (title)" in out


def test_concurrent_index_outside_the_transaction_is_clean(lint: Lint, revision: Path) -> None:
    revision.write_text(INDEX.format(acknowledgement="", body=CONCURRENT))
    code, found, out = lint("lint-migrations")
    assert (code, found) == (0, []), out


def test_squawk_finding_can_be_acknowledged(lint: Lint, revision: Path) -> None:
    reason = "  # migration-lint: ignore[squawk:require-concurrent-index-creation] 40 rows"
    revision.write_text(INDEX.format(acknowledgement=reason, body=BLOCKING))
    assert lint("lint-migrations")[:2] == (0, [])


def test_no_squawk_skips_it(lint: Lint, revision: Path) -> None:
    revision.write_text(INDEX.format(acknowledgement="", body=BLOCKING))
    assert lint("lint-migrations", "--no-squawk")[:2] == (0, [])


def test_revision_alembic_cannot_render_is_reported(lint: Lint, revision: Path) -> None:
    body = '    op.get_bind().exec_driver_sql("SELECT count(*) FROM books").scalar()'
    revision.write_text(INDEX.format(acknowledgement="", body=body))
    code, found, out = lint("lint-migrations")
    assert code == 1
    assert found == [(revision.name, 13, "squawk:offline-sql")], out
