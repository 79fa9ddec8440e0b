"""Backfills for data migrations: a large UPDATE in primary-key ranges, each committed alone.

One UPDATE over a whole table holds the lock on every row it changed, and the revision's
transaction, until its last row: writers of those rows wait, and a failure at the end loses it
all. backfill() walks the primary key in ranges of `batch_size` rows instead, one UPDATE and
one commit per range, outside the revision's transaction.
{%- if cookiecutter.database == "sqlite" %}
On SQLite the file takes one writer at a time, so batches would not let other writers in: the
ranges run in the revision's transaction, which stays all or nothing.
{%- endif %}

`where` must hold for the rows still to do, and stop holding once a row is done (`status IS
NULL` for `status = 'pending'`). That makes a run stopped half-way (a kill, a deploy timeout, a
lock timeout) resumable: the next run walks the ranges again and updates only what is left.
"""

import logging
import time
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy import ColumnElement, Connection, TextClause

from {{ cookiecutter.package_name }}.migrator.pause import pause

log = logging.getLogger("alembic.env")

PROGRESS_SECONDS = 10.0


def backfill(
    table: str,
    values: dict[str, Any],
    where: str | ColumnElement[bool] | TextClause,
    *,
    key: str = "id",
    schema: str | None = None,
    batch_size: int = 1000,
    pause_seconds: float = 0,
    progress_seconds: float = PROGRESS_SECONDS,
) -> int:
    """UPDATE table SET values WHERE where, batch_size rows of the `key` order at a time.

    Call it alone in a data-migration revision{{ ": it commits what the revision did before it" if cookiecutter.database != "sqlite" }}.
    `values` maps columns to values or SQL expressions (`sa.column("customer_email")`);
    `pause_seconds` leaves the database to other work between batches. Progress is logged
    every `progress_seconds`; returns the number of rows updated.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size is {batch_size}: it must be 1 or more")
    rows = sa.table(table, sa.column(key), *map(sa.column, values), schema=schema)
    condition = sa.text(where) if isinstance(where, str) else where
    if op.get_context().as_sql:
        # An offline script has no rows to walk: the same change, as one statement, its values
        # typed from Python so that they render as SQL literals.
        literals = {
            name: value if isinstance(value, sa.ColumnElement) else sa.literal(value)
            for name, value in values.items()
        }
        op.execute(sa.update(rows).where(condition).values(literals))
        return 0
{%- if cookiecutter.database != "sqlite" %}
    with op.get_context().autocommit_block():
        # Each statement commits on its own: a batch's row locks last as long as its UPDATE.
        update = Backfill(op.get_bind(), rows, rows.c[key], values, condition)
        return update.run(batch_size, pause_seconds, progress_seconds)
{%- else %}
    update = Backfill(op.get_bind(), rows, rows.c[key], values, condition)
    return update.run(batch_size, pause_seconds, progress_seconds)
{%- endif %}


class Backfill:
    def __init__(
        self,
        connection: Connection,
        rows: sa.TableClause,
        key: sa.ColumnClause[Any],
        values: dict[str, Any],
        condition: ColumnElement[bool] | TextClause,
    ) -> None:
        self.connection = connection
        self.rows = rows
        self.key = key
        self.values = values
        self.condition = condition

    def run(self, batch_size: int, pause_seconds: float, progress_seconds: float) -> int:
        name = self.rows.fullname
        to_do = self.connection.scalar(
            sa.select(sa.func.count()).select_from(self.rows).where(self.condition)
        )
        log.info("Backfill of %s: %s rows to update, %d per batch", name, to_do, batch_size)
        started = reported = time.monotonic()
        done = 0
        last_key = None
        while (upto := self.batch_end(last_key, batch_size)) is not None:
            done += self.update(last_key, upto)
            last_key = upto
            if time.monotonic() - reported >= progress_seconds:
                reported = time.monotonic()
                log.info(
                    "Backfill of %s: %d of %s rows, up to %s %s",
                    name,
                    done,
                    to_do,
                    self.key.name,
                    upto,
                )
            if pause_seconds:
                pause(pause_seconds)
        log.info("Backfill of %s: done, %d rows in %.1fs", name, done, time.monotonic() - started)
        return done

    def after(self, last_key: Any) -> list[ColumnElement[bool]]:
        return [] if last_key is None else [self.key > last_key]

    def batch_end(self, last_key: Any, batch_size: int) -> Any:
        """The last key of the next batch_size rows, None past the end of the table."""
        batch = (
            sa.select(self.key)
            .where(*self.after(last_key))
            .order_by(self.key)
            .limit(batch_size)
            .subquery()
        )
        return self.connection.scalar(sa.select(sa.func.max(batch.c[self.key.name])))

    def update(self, last_key: Any, upto: Any) -> int:
        statement = (
            sa.update(self.rows)
            .where(*self.after(last_key), self.key <= upto, self.condition)
            .values(self.values)
        )
        return self.connection.execute(statement).rowcount
