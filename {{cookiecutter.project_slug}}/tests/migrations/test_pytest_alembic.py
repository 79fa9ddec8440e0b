"""pytest-alembic's check that the models and the migrated database agree.

On drift it shows the migration autogenerate would write. Its other default tests run in a
stronger form in test_schema.py (single head, upgrade, stairway), so they are not imported.
"""

from pytest_alembic.tests import test_model_definitions_match_ddl

__all__ = ["test_model_definitions_match_ddl"]
