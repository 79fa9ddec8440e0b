"""The migration session on SQLite: nothing to take, restore or retry.

SQLite has no lock or statement timeouts to set (a revision's `lock_timeout` and
`statement_timeout` are ignored), and the file takes one writer at a time; db.create_engine()
already makes its DDL transactional.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, TextClause

from {{ cookiecutter.package_name }}.settings import Settings


@contextmanager
def migration_session(connection: Connection, settings: Settings) -> Iterator[None]:
    yield


def offline_statements(settings: Settings) -> list[TextClause]:
    return []


def use_revision_timeouts(migration_context: MigrationContext, settings: Settings) -> None:
    pass


def run_revisions(
    migration_context: MigrationContext,
    settings: Settings,
    run_migrations: Callable[..., None],
    **kw: Any,
) -> None:
    run_migrations(**kw)
