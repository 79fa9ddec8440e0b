"""The migration session on SQLite: nothing to take or restore.

SQLite has no lock or statement timeouts to set, and the file takes one writer at a time;
db.create_engine() already makes its DDL transactional.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, TextClause

from {{ cookiecutter.package_name }}.settings import Settings


@contextmanager
def migration_session(connection: Connection, settings: Settings) -> Iterator[None]:
    yield


def offline_statements(settings: Settings) -> list[TextClause]:
    return []
