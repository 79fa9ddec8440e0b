"""Enum support is PostgreSQL's alone; every bake's stairway runs on seeded tables.

The behaviour itself is tested by the baked suites the real-bake tests run
(tests/migrations/test_enums.py and test_seeded_stairway.py); this checks what each answer ships.
"""

from pathlib import Path

import pytest

from tests.helpers import DEFAULTS, bake

PACKAGE = DEFAULTS["package_name"]
ENUMS_MODULE = f"src/{PACKAGE}/migrator/enums.py"
ENUMS_IMPORT = f"import {PACKAGE}.migrator.enums"


@pytest.mark.parametrize("database", ["postgresql", "sqlite", "mysql"])
def test_only_postgresql_bakes_ship_and_load_the_enum_support(
    tmp_path: Path, database: str
) -> None:
    project = bake(tmp_path, database=database)
    postgresql = database == "postgresql"

    assert ("alembic-postgresql-enum" in (project / "pyproject.toml").read_text()) == postgresql
    assert (ENUMS_IMPORT in (project / "migrations" / "env.py").read_text()) == postgresql
    assert (project / ENUMS_MODULE).exists() == postgresql
    assert (project / "tests" / "migrations" / "test_enums.py").exists() == postgresql
    stairway = (project / "tests" / "migrations" / "stairway.py").read_text()
    assert "Seeding(" in stairway
    assert (project / "tests" / "migrations" / "test_seeded_stairway.py").exists()


def test_the_schema_per_tenant_environment_loads_the_enum_support(tmp_path: Path) -> None:
    project = bake(tmp_path, tenancy="schema-per-tenant")

    assert ENUMS_IMPORT in (project / "migrations" / "env.py").read_text()
