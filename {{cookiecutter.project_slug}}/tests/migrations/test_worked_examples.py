"""The worked examples in docs/migrations.md are real migrations: they run up, down and up.

The data migrations are tested the pytest-alembic way: migrate up to the revision before,
insert rows, migrate on and look at what became of them.
"""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.config import Config
from pytest_alembic import MigrationContext
from sqlalchemy import inspect

from {{ cookiecutter.package_name }}.migrator.config import build_config
from tests.databases import on_connection, query, run_alembic
from tests.fixtures.scratch_migrations import PROJECT, ScratchMigrations
from tests.migrations.stairway import run_stairway

EXAMPLES = Path(__file__).parent / "examples"
DOCS = PROJECT / "docs" / "migrations.md"


@pytest.fixture
def migrations_with_examples(tmp_path: Path) -> Path:
    """A copy of migrations/ with the worked examples after the project's head."""
    migrations = ScratchMigrations(tmp_path)
    for example in EXAMPLES.glob("e*.py"):
        shutil.copy(example, migrations.versions / example.name)
    return migrations.versions.parent


@pytest.fixture
def alembic_config(migrations_with_examples: Path) -> Config:
    """What alembic_runner runs: the examples."""
    return build_config(script_location=migrations_with_examples)


def columns(database_url: str) -> set[str]:
    return on_connection(
        database_url, lambda sync: {c["name"] for c in inspect(sync).get_columns("orders")}
    )


def test_not_null_column_in_three_steps_backfills_existing_rows(
    alembic_runner: MigrationContext, database_url: str
) -> None:
    alembic_runner.migrate_up_to("e1a000000001")
    alembic_runner.insert_into("orders", {"customer_email": "a@example.com", "total_cents": 100})

    alembic_runner.migrate_up_to("e1a000000004")

    assert query(database_url, "SELECT status FROM orders") == [("pending",)]


def test_rename_by_expand_and_contract_keeps_the_data(
    alembic_runner: MigrationContext, database_url: str
) -> None:
    alembic_runner.migrate_up_to("e1a000000004")
    alembic_runner.insert_into("orders", {"customer_email": "b@example.com", "total_cents": 5})

    alembic_runner.migrate_up_to("e1a000000007")

    assert "customer_email" not in columns(database_url)
    assert query(database_url, "SELECT email FROM orders") == [("b@example.com",)]

    alembic_runner.migrate_down_to("e1a000000004")

    assert {"customer_email", "status"} <= columns(database_url)
    assert "email" not in columns(database_url)
    assert query(database_url, "SELECT customer_email FROM orders") == [("b@example.com",)]


def test_every_example_upgrades_downgrades_and_upgrades_again(
    migrations_with_examples: Path, database_url: str
) -> None:
    run_alembic(database_url, run_stairway, script_location=migrations_with_examples)

    indexes = on_connection(
        database_url, lambda sync: {i["name"] for i in inspect(sync).get_indexes("orders")}
    )
    assert "ix_orders_email" in indexes
    views = on_connection(database_url, lambda sync: inspect(sync).get_view_names())
    assert "pending_orders" in views
    assert {"ix_orders_replaces_id", "uq_orders_reference"} <= indexes
{%- if cookiecutter.database != "sqlite" %}
    uniques = on_connection(
        database_url,
        lambda sync: {u["name"] for u in inspect(sync).get_unique_constraints("orders")},
    )
    assert "uq_orders_reference" in uniques
    keys = on_connection(
        database_url, lambda sync: {k["name"] for k in inspect(sync).get_foreign_keys("orders")}
    )
    assert "fk_orders_replaces_id_orders" in keys
{%- endif %}


def test_examples_pass_the_migration_linter() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "devtools", "lint-migrations", str(EXAMPLES)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (result.returncode, result.stdout) == (0, ""), result.stdout + result.stderr


def test_docs_show_the_tested_code() -> None:
    """Each python block in docs/migrations.md is taken from one of the example migrations, or
    from the migration report's tests (its fixtures file)."""
    tested = [*EXAMPLES.glob("e*.py"), PROJECT / "tests" / "devtools" / "test_migration_report.py"]
    sources = "\n".join(path.read_text() for path in tested)
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(), flags=re.DOTALL)
    assert blocks
    for block in blocks:
        assert block.strip() in sources, f"docs/migrations.md shows untested code:\n{block}"
