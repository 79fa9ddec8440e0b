"""Static checks of Alembic revision files; see docs/migration-linter.md."""
