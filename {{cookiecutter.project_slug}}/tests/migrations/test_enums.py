"""Enum types, the way a developer meets them: change the models, autogenerate, migrate.

Every step is its own `alembic` process, as in a deploy: SQLAlchemy remembers within a process
which types it created, which hid the type left behind by a downgrade. The models are a copy of
the package's, put first on PYTHONPATH, with a `gadgets` module added.
"""

import ast
{% if cookiecutter.tenancy == "schema-per-tenant" -%}
import asyncio
{% endif -%}
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, String, TableClause, cast, column, delete, insert, inspect, select, table

from {{ cookiecutter.package_name }}.migrator.enums import new_labels
{% if cookiecutter.tenancy == "schema-per-tenant" -%}
from {{ cookiecutter.package_name }}.settings import Settings
from {{ cookiecutter.package_name }}.tenants import create_tenant
{% endif -%}
from tests.databases import on_connection, query
from tests.fixtures.scratch_migrations import (
    PROJECT,
    SCHEMA,
    ScratchMigrations,
    alembic_environment,
    run,
)

PACKAGE = "{{ cookiecutter.package_name }}"
GADGETS = """
from sqlalchemy import Enum
from sqlalchemy.orm import Mapped, mapped_column

from {package}.models.base import Base


class Gadget(Base):
    __tablename__ = "gadgets"

    id: Mapped[int] = mapped_column(primary_key=True)
{columns}
"""
STATUS = '    status: Mapped[str | None] = mapped_column(Enum({labels}, name="gadgetstatus"))\n'
{%- if cookiecutter.tenancy == "schema-per-tenant" %}
# The part of each revision that runs in every tenant's schema.
UPGRADE, DOWNGRADE = "upgrade_tenant", "downgrade_tenant"
# A registered tenant: each revision must reach it as well as the template it was written on.
TENANT_SCHEMA: str | None = "tenant_acme"
{%- else %}
UPGRADE, DOWNGRADE = "upgrade", "downgrade"
TENANT_SCHEMA: str | None = None
{%- endif %}


class ModelProject:
    """The project's migrations and a copy of its package whose models a test rewrites."""

    def __init__(self, directory: Path, database_url: str) -> None:
        self.migrations = ScratchMigrations(directory)
        source = directory / "src"
        shutil.copytree(
            PROJECT / "src" / PACKAGE,
            source / PACKAGE,
            ignore=shutil.ignore_patterns("__pycache__"),
        )
        self.models = source / PACKAGE / "models"
        with (self.models / "__init__.py").open("a") as models:
            models.write(f"from {PACKAGE}.models.gadgets import Gadget  # noqa: E402, F401\n")
        self.environment = alembic_environment(database_url, PYTHONPATH=str(source))
        self.revisions = 0

    def gadgets(self, status_labels: tuple[str, ...] | None) -> None:
        """The gadgets model: an id, and a status enum with these labels if given."""
        columns = ""
        if status_labels is not None:
            columns = STATUS.format(labels=", ".join(map(repr, status_labels)))
        (self.models / "gadgets.py").write_text(GADGETS.format(package=PACKAGE, columns=columns))

    def alembic(self, *arguments: str) -> str:
        """Run one `alembic` command; fails the test with its output if it fails."""
        result = run(self.migrations.command(*arguments), self.environment)
        assert result.returncode == 0, result.stderr
        return result.stdout + result.stderr

    def autogenerate(self) -> str:
        """Write a revision from the models and return its source."""
        before = set(self.migrations.versions.glob("*.py"))
        self.revisions += 1
        self.alembic("revision", "--autogenerate", "-m", f"gadgets {self.revisions}")
        [revision] = set(self.migrations.versions.glob("*.py")) - before
        return revision.read_text()


@pytest.fixture
def project(tmp_path: Path, database_url: str) -> ModelProject:
    project = ModelProject(tmp_path, database_url)
    project.gadgets(None)
    project.alembic("upgrade", "head")
{%- if cookiecutter.tenancy == "schema-per-tenant" %}
    asyncio.run(create_tenant(Settings(database_url=database_url), "acme"))
{%- endif %}
    return project


def function_source(source: str, name: str) -> str:
    [function] = [
        node
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef) and node.name == name
    ]
    return ast.get_source_segment(source, function) or ""


def schemas() -> list[str | None]:
    return [SCHEMA] if TENANT_SCHEMA is None else [SCHEMA, TENANT_SCHEMA]


def enum_labels(database_url: str, schema: str | None) -> dict[str, list[str]]:
    def read(connection: Any) -> dict[str, list[str]]:
        enums = inspect(connection).get_enums(schema=schema or "public")
        return {enum["name"]: enum["labels"] for enum in enums}

    return on_connection(database_url, read)


def gadgets(schema: str | None) -> TableClause:
    return table("gadgets", column("id"), column("status"), schema=schema)


def add_gadgets(database_url: str, *statuses: str) -> None:
    def write(connection: Connection) -> None:
        for schema in schemas():
            rows = [{"status": status} for status in statuses]
            connection.execute(insert(gadgets(schema)), rows)

    on_connection(database_url, write)


def remove_gadgets(database_url: str, status: str) -> None:
    def write(connection: Connection) -> None:
        for schema in schemas():
            rows = gadgets(schema)
            connection.execute(delete(rows).where(cast(rows.c.status, String) == status))

    on_connection(database_url, write)


def gadget_statuses(database_url: str, schema: str | None) -> list[str]:
    rows = gadgets(schema)
    statement = select(cast(rows.c.status, String)).order_by(rows.c.id)
    return on_connection(database_url, lambda sync: list(sync.scalars(statement)))


def storage_of_gadgets(database_url: str) -> list[tuple[Any, ...]]:
    """The file behind the table: a rewrite gives it a new one."""
    name = f"{SCHEMA or 'public'}.gadgets"
    statement = "SELECT relfilenode FROM pg_class WHERE oid = :name ::regclass"
    return query(database_url, statement, name=name)


def gadget_columns(database_url: str, schema: str | None) -> set[str]:
    return on_connection(
        database_url,
        lambda sync: {c["name"] for c in inspect(sync).get_columns("gadgets", schema=schema)},
    )


def test_a_new_enum_column_on_an_existing_table_creates_and_drops_its_type(
    project: ModelProject, database_url: str
) -> None:
    project.autogenerate()
    project.alembic("upgrade", "head")
    project.gadgets(("new", "used"))

    project.autogenerate()
    project.alembic("upgrade", "head")

    for schema in schemas():
        assert enum_labels(database_url, schema) == {"gadgetstatus": ["new", "used"]}
        assert "status" in gadget_columns(database_url, schema)
    project.alembic("downgrade", "-1")
    for schema in schemas():
        assert enum_labels(database_url, schema) == {}
        assert "status" not in gadget_columns(database_url, schema)
    project.alembic("upgrade", "head")
    assert "No new upgrade operations detected" in project.alembic("check")


def test_a_new_table_with_an_enum_goes_up_down_and_up_again(
    project: ModelProject, database_url: str
) -> None:
    project.gadgets(("new", "used"))
    project.autogenerate()

    project.alembic("upgrade", "head")
    project.alembic("downgrade", "-1")

    for schema in schemas():
        assert enum_labels(database_url, schema) == {}, "the downgrade left the type behind"
    project.alembic("upgrade", "head")
    for schema in schemas():
        assert enum_labels(database_url, schema) == {"gadgetstatus": ["new", "used"]}
    assert "No new upgrade operations detected" in project.alembic("check")


def test_a_new_label_is_detected_and_added_without_rewriting_the_table(
    project: ModelProject, database_url: str
) -> None:
    project.gadgets(("new", "used"))
    project.autogenerate()
    project.alembic("upgrade", "head")
    add_gadgets(database_url, "new", "used")
    project.gadgets(("new", "refurbished", "used", "lost"))

    drift = run(project.migrations.command("check"), project.environment)
    assert drift.returncode != 0 and "'refurbished'" in drift.stderr, drift.stderr

    revision = project.autogenerate()
    upgrade, downgrade = function_source(revision, UPGRADE), function_source(revision, DOWNGRADE)
    assert "ADD VALUE IF NOT EXISTS 'refurbished' BEFORE 'used'" in upgrade
    assert "ADD VALUE IF NOT EXISTS 'lost'" in upgrade
    assert "autocommit_block()" in upgrade and "sync_enum_values" not in upgrade
    assert "sync_enum_values" in downgrade
    storage = storage_of_gadgets(database_url)

    project.alembic("upgrade", "head")

    assert storage_of_gadgets(database_url) == storage, "adding a label rewrote the table"
    for schema in schemas():
        labels = {"gadgetstatus": ["new", "refurbished", "used", "lost"]}
        assert enum_labels(database_url, schema) == labels
    add_gadgets(database_url, "lost")
    assert "No new upgrade operations detected" in project.alembic("check")

    # Removing a label that rows still use would lose them: the downgrade refuses.
    refused = run(project.migrations.command("downgrade", "-1"), project.environment)
    assert refused.returncode != 0
    remove_gadgets(database_url, "lost")
    project.alembic("downgrade", "-1")
    for schema in schemas():
        assert enum_labels(database_url, schema) == {"gadgetstatus": ["new", "used"]}
        assert gadget_statuses(database_url, schema) == ["new", "used"]


def test_new_labels_are_placed_before_the_label_that_follows_them() -> None:
    assert new_labels(["a", "c"], ["x", "a", "b", "c", "d"]) == [
        ("x", "a"),
        ("b", "c"),
        ("d", None),
    ]
