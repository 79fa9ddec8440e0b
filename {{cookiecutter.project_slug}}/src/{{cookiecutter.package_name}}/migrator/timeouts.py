"""Timeouts a revision sets for itself: `lock_timeout = "10s"`, `statement_timeout = "30min"`.

A revision file may set either at module level, for a statement known to need more (a long
VALIDATE CONSTRAINT, an index built CONCURRENTLY) or less. They hold from the start of the
revision to its end, and the run's own values (MIGRATION_LOCK_TIMEOUT,
MIGRATION_STATEMENT_TIMEOUT) come back after it. They are set for the session, not with SET
LOCAL, so that they also reach the statements of an autocommit_block; a revision that fails
rolls its SET back with it, or, past an autocommit_block, the run puts the session back
(locks.py). Offline (--sql) scripts show the same SETs around the revision.
"""

from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import wraps
from typing import Any

from alembic.runtime.migration import MigrationContext, RevisionStep
from alembic.script import Script
from alembic.util import CommandError
from sqlalchemy import Connection, text

from {{ cookiecutter.package_name }}.settings import DURATION, Settings

TIMEOUTS = ("lock_timeout", "statement_timeout")
SET_CONFIG = text("SELECT set_config(:name, :value, false)")

StepsFn = Callable[..., Iterable[RevisionStep]]


def revision_timeouts(script: Script) -> dict[str, str]:
    """The timeouts a revision file sets, validated: they are written into SQL as they are."""
    found = {}
    for name in TIMEOUTS:
        value = getattr(script.module, name, None)
        if value is None:
            continue
        if not isinstance(value, str) or not DURATION.fullmatch(value):
            raise CommandError(
                f"{name} in {script.path} is {value!r}: use a duration such as '500ms', '5s' "
                "or '30min'"
            )
        found[name] = value
    return found


def run_timeouts(settings: Settings) -> dict[str, str]:
    return {
        "lock_timeout": settings.migration_lock_timeout,
        "statement_timeout": settings.migration_statement_timeout,
    }


def use_revision_timeouts(migration_context: MigrationContext, settings: Settings) -> None:
    """Make every revision that sets its own timeouts run with them.

    Alembic hands env.py the steps to run as `fn`; each step of such a revision is wrapped.
    """
    steps_fn: StepsFn | None = migration_context._migrations_fn
    if steps_fn is None:
        return
    restored = run_timeouts(settings)

    def timed_steps(heads: Sequence[str], context: MigrationContext) -> Iterator[RevisionStep]:
        for step in steps_fn(heads, context):
            if isinstance(step, RevisionStep):
                overrides = revision_timeouts(step.revision)
                if overrides:
                    step.migration_fn = timed(step.migration_fn, context, overrides, restored)
            yield step

    migration_context._migrations_fn = timed_steps


def timed(
    migration_fn: Callable[..., None],
    migration_context: MigrationContext,
    overrides: dict[str, str],
    restored: dict[str, str],
) -> Callable[..., None]:
    # In a caller's transaction, a session-level SET would outlive the run: SET LOCAL instead.
    scope = "LOCAL " if migration_context._in_external_transaction else ""

    def set_timeouts(values: dict[str, str]) -> None:
        for name, value in values.items():
            migration_context.execute(text(f"SET {scope}{name} = '{value}'"))

    # wraps: Alembic names the step after its function ("Running upgrade ...").
    @wraps(migration_fn)
    def run_with_timeouts(**kw: Any) -> None:
        set_timeouts(overrides)
        migration_fn(**kw)
        set_timeouts({name: restored[name] for name in overrides})

    return run_with_timeouts


def restore_run_timeouts(connection: Connection, settings: Settings) -> None:
    """Put the run's timeouts back after a revision that failed past an autocommit_block."""
    for name, value in run_timeouts(settings).items():
        connection.execute(SET_CONFIG, {"name": name, "value": value})
    connection.commit()
