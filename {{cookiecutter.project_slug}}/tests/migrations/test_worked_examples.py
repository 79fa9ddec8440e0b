"""The worked examples in docs/migrations.md are real migrations: they run up, down and up."""

import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from alembic.command import downgrade, upgrade
from alembic.config import Config
from sqlalchemy import inspect, text

from tests.databases import on_connection, run_alembic
from tests.migrations.stairway import run_stairway

EXAMPLES = Path(__file__).parent / "examples"
DOCS = Path(__file__).parents[2] / "docs" / "migrations.md"


@pytest.fixture
def migrations_with_examples(tmp_path: Path) -> Path:
    """A copy of migrations/ with the worked examples appended after the project's head."""
    copy = tmp_path / "migrations"
    shutil.copytree(Path("migrations"), copy, ignore=shutil.ignore_patterns("__pycache__"))
    for example in EXAMPLES.glob("e*.py"):
        shutil.copy(example, copy / "versions" / example.name)
    return copy


def run_examples(database_url: str, command: Callable[[Config], object], examples: Path) -> None:
    run_alembic(database_url, command, script_location=examples)


def columns(database_url: str) -> set[str]:
    return on_connection(
        database_url, lambda sync: {c["name"] for c in inspect(sync).get_columns("orders")}
    )


def test_not_null_column_in_three_steps_backfills_existing_rows(
    database_url: str, migrations_with_examples: Path
) -> None:
    run_examples(database_url, lambda c: upgrade(c, "e1a000000001"), migrations_with_examples)
    on_connection(
        database_url,
        lambda sync: sync.execute(
            text("INSERT INTO orders (customer_email, total_cents) VALUES ('a@example.com', 100)")
        ),
    )

    run_examples(database_url, lambda c: upgrade(c, "e1a000000004"), migrations_with_examples)

    statuses = on_connection(
        database_url, lambda sync: sync.execute(text("SELECT status FROM orders")).scalars().all()
    )
    assert statuses == ["pending"]


def test_rename_by_expand_and_contract_keeps_the_data(
    database_url: str, migrations_with_examples: Path
) -> None:
    run_examples(database_url, lambda c: upgrade(c, "e1a000000004"), migrations_with_examples)
    on_connection(
        database_url,
        lambda sync: sync.execute(
            text("INSERT INTO orders (customer_email, total_cents) VALUES ('b@example.com', 5)")
        ),
    )

    run_examples(database_url, lambda c: upgrade(c, "e1a000000007"), migrations_with_examples)

    assert "customer_email" not in columns(database_url)
    emails = on_connection(
        database_url, lambda sync: sync.execute(text("SELECT email FROM orders")).scalars().all()
    )
    assert emails == ["b@example.com"]

    run_examples(database_url, lambda c: downgrade(c, "e1a000000004"), migrations_with_examples)
    assert {"customer_email", "status"} <= columns(database_url)
    assert "email" not in columns(database_url)


def test_every_example_upgrades_downgrades_and_upgrades_again(
    database_url: str, migrations_with_examples: Path
) -> None:
    run_examples(database_url, run_stairway, migrations_with_examples)

    indexes = on_connection(
        database_url, lambda sync: {i["name"] for i in inspect(sync).get_indexes("orders")}
    )
    assert "ix_orders_email" in indexes
    views = on_connection(database_url, lambda sync: inspect(sync).get_view_names())
    assert "pending_orders" in views


def test_examples_pass_the_migration_linter() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "devtools", "lint-migrations", "--no-squawk", str(EXAMPLES)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (result.returncode, result.stdout) == (0, ""), result.stdout + result.stderr


def test_docs_show_the_tested_code() -> None:
    """Each python block in docs/migrations.md is taken from one of the example migrations."""
    sources = "\n".join(path.read_text() for path in EXAMPLES.glob("e*.py"))
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(), flags=re.DOTALL)
    assert blocks
    for block in blocks:
        assert block.strip() in sources, f"docs/migrations.md shows untested code:\n{block}"
