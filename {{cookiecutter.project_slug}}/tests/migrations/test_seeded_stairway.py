"""The stairway on rows: what passes on empty tables and fails on the first real row fails here.

The seeder's own test builds tables with every kind of rule the seeder must respect; the
stairway tests add a revision on top of the project's head and run the stairway twice, on empty
tables (it passes) and seeded (it fails, with the database's own error).
"""

from collections.abc import Callable
from pathlib import Path

import pytest
from alembic.config import Config
from sqlalchemy import (
    CheckConstraint,
    Column,
    Enum,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    func,
    select,
)
from sqlalchemy.exc import DBAPIError

from tests.databases import on_connection, run_alembic, scratch_database
from tests.fixtures.scratch_migrations import ScratchMigrations
from tests.migrations.seed import SeedWarning, seed
from tests.migrations.stairway import run_stairway

CREATE_GADGETS = """
    op.create_table(
        "gadgets",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(50), nullable=False),
    )
"""
{%- if cookiecutter.database == "postgresql" %}
ADD_NOT_NULL_COLUMN = 'op.add_column("gadgets", sa.Column("size", sa.Integer, nullable=False))'
DROP_NAME = 'op.drop_column("gadgets", "name")'
READD_NAME_NOT_NULL = 'op.add_column("gadgets", sa.Column("name", sa.String(50), nullable=False))'
NULLS_IN_SIZE = 'column "size" of relation "gadgets" contains null values'
NULLS_IN_NAME = 'column "name" of relation "gadgets" contains null values'
DUPLICATE_NAMES = 'could not create unique index "ix_gadgets_name"'
{%- elif cookiecutter.database == "mysql" %}
# MySQL adds a NOT NULL column without a default to a table with rows, giving each row the
# type's zero (0, ''), silently: what fails on the first real row is making a column NOT NULL
# over the NULLs older rows hold (MariaDB: "Data truncated", MySQL: "Invalid use of NULL").
ADD_NOT_NULL_COLUMN = """
    op.add_column("gadgets", sa.Column("size", sa.Integer))
    op.alter_column("gadgets", "size", existing_type=sa.Integer, nullable=False)
"""
DROP_NAME = 'op.drop_column("gadgets", "name")'
READD_NAME_NOT_NULL = """
    op.add_column("gadgets", sa.Column("name", sa.String(50)))
    op.alter_column("gadgets", "name", existing_type=sa.String(50), nullable=False)
"""
NULLS_IN_SIZE = "Data truncated for column 'size'|Invalid use of NULL value"
NULLS_IN_NAME = "Data truncated for column 'name'|Invalid use of NULL value"
DUPLICATE_NAMES = r"Duplicate entry '\w+' for key '(gadgets\.)?ix_gadgets_name'"
{%- else %}
# SQLite refuses ADD COLUMN ... NOT NULL without a default even on an empty table; a batch copy
# of the table is what meets the rows.
ADD_NOT_NULL_COLUMN = """
    with op.batch_alter_table("gadgets", recreate="always") as batch:
        batch.add_column(sa.Column("size", sa.Integer, nullable=False))
"""
DROP_NAME = """
    with op.batch_alter_table("gadgets", recreate="always") as batch:
        batch.drop_column("name")
"""
READD_NAME_NOT_NULL = """
    with op.batch_alter_table("gadgets", recreate="always") as batch:
        batch.add_column(sa.Column("name", sa.String(50), nullable=False))
"""
NULLS_IN_SIZE = "NOT NULL constraint failed: _alembic_tmp_gadgets.size"
NULLS_IN_NAME = "NOT NULL constraint failed: _alembic_tmp_gadgets.name"
DUPLICATE_NAMES = "UNIQUE constraint failed: gadgets.name"
{%- endif %}
DROP_SIZE = 'op.drop_column("gadgets", "size")'
INDEX_NAMES = 'op.create_index("ix_gadgets_name", "gadgets", ["name"], unique=True)'
DROP_NAME_INDEX = 'op.drop_index("ix_gadgets_name", table_name="gadgets")'


def library() -> MetaData:
    """Parents and children, unique and listed values, and a CHECK no generated row satisfies."""
    metadata = MetaData()
    Table(
        "shelves",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("code", String(8), nullable=False, unique=True),
        Column("kind", Enum("wall", "floor", name="shelfkind"), nullable=False),
        Column("label", String(20)),
    )
    Table(
        "volumes",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("shelf_id", ForeignKey("shelves.id"), nullable=False),
        Column("title", String(50), nullable=False),
        Column("pages", Integer, CheckConstraint("pages > 0"), nullable=False),
        Column(
            "format",
            Enum("paper", "ebook", name="volumeformat", native_enum=False, create_constraint=True),
            nullable=False,
        ),
    )
    Table(
        "covers",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("volume_id", ForeignKey("volumes.id"), nullable=False, unique=True),
    )
    Table(
        "strict",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("word", String(10), CheckConstraint("word = 'exact'"), nullable=False),
    )
    return metadata


def test_the_seeder_respects_keys_uniques_checks_and_enums(database_url: str) -> None:
    metadata = library()
    shelves, volumes, covers, strict = metadata.tables.values()
    on_connection(database_url, metadata.create_all)

    for _ in range(2):  # the second round meets the first one's rows
        with pytest.warns(SeedWarning, match="strict left without rows: a CHECK refused"):
            seeded = on_connection(database_url, seed)
        assert seeded == {"shelves": 3, "volumes": 3, "covers": 3}

    counts = {
        "shelves": select(func.count()).select_from(shelves),
        "distinct codes": select(func.count(shelves.c.code.distinct())),
        "labelled shelves": select(func.count()).where(shelves.c.label.is_not(None)),
        "volumes on a shelf": select(func.count()).where(volumes.c.shelf_id == shelves.c.id),
        "distinct titles": select(func.count(volumes.c.title.distinct())),
        "listed formats": select(func.count()).where(volumes.c.format.in_(["paper", "ebook"])),
        "covers of distinct volumes": select(func.count(covers.c.volume_id.distinct())),
        "strict": select(func.count()).select_from(strict),
    }
    assert on_connection(
        database_url, lambda sync: {name: sync.scalar(count) for name, count in counts.items()}
    ) == {
        "shelves": 6,
        "distinct codes": 6,
        "labelled shelves": 6,  # nullable columns get values too
        "volumes on a shelf": 6,
        "distinct titles": 1,  # a column that need not be unique repeats one value
        "listed formats": 6,
        "covers of distinct volumes": 6,
        "strict": 0,
    }


def stairway(rows_per_table: int) -> Callable[[Config], int]:
    def run(config: Config) -> int:
        return run_stairway(config, rows_per_table=rows_per_table)

    return run


@pytest.mark.parametrize(
    ("upgrade", "downgrade", "error"),
    [
        pytest.param(ADD_NOT_NULL_COLUMN, DROP_SIZE, NULLS_IN_SIZE, id="not-null-without-default"),
        pytest.param(INDEX_NAMES, DROP_NAME_INDEX, DUPLICATE_NAMES, id="unique-over-duplicates"),
        pytest.param(DROP_NAME, READD_NAME_NOT_NULL, NULLS_IN_NAME, id="downgrade-readds-not-null"),
    ],
)
def test_a_revision_that_needs_empty_tables_fails_only_the_seeded_stairway(
    tmp_path: Path, database_url: str, upgrade: str, downgrade: str, error: str
) -> None:
    migrations = ScratchMigrations(tmp_path)
    migrations.add("5eed00000001", CREATE_GADGETS, 'op.drop_table("gadgets")')
    migrations.add("5eed00000002", upgrade, downgrade)
    options = {"script_location": migrations.versions.parent}

    run_alembic(database_url, stairway(rows_per_table=0), **options)

    with scratch_database() as seeded_url, pytest.raises(DBAPIError, match=error):
        run_alembic(seeded_url, stairway(rows_per_table=3), **options)
