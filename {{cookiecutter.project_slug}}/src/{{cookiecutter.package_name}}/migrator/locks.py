"""Lock contention: a revision that gives up on lock_timeout is rolled back and run again.

lock_timeout keeps a migration from stalling traffic: an ALTER TABLE queued behind a long
transaction makes every later query on that table queue behind it. Giving up at the first
busy moment would fail deploys for nothing, so the run tries the revision again, up to
MIGRATION_LOCK_RETRIES times, after MIGRATION_LOCK_RETRY_DELAY doubled at each retry. Between
attempts it waits for no lock, so traffic flows. Every revision has its own transaction: the
ones before are committed and the failed one was rolled back entirely, so the next attempt
starts at it. When it gives up, it names the sessions that blocked it (blockers.py).
"""

import logging
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from typing import Any

from alembic.runtime.migration import MigrationContext, RevisionStep
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError, OperationalError

from {{ cookiecutter.package_name }}.migrator import timeouts
from {{ cookiecutter.package_name }}.migrator.blockers import Blocker, BlockerWatch
from {{ cookiecutter.package_name }}.migrator.pause import pause
from {{ cookiecutter.package_name }}.settings import Settings, duration_seconds

log = logging.getLogger("alembic.env")

LOCK_NOT_AVAILABLE = "55P03"
BACKEND_PID = text("SELECT pg_backend_pid()")


class LockRetriesExhausted(OperationalError):
    """lock_timeout ended every attempt at one revision; errors.py explains it on one line."""

    def __init__(
        self,
        error: DBAPIError,
        revision: str,
        retries: int,
        limit: str,
        blockers: list[Blocker],
    ) -> None:
        super().__init__(
            error.statement,
            error.params,
            error.orig or error,
            hide_parameters=error.hide_parameters,
        )
        self.revision = revision
        self.retries = retries
        self.limit = limit
        self.blockers = blockers


class Plan:
    """The run's steps, computed once, and how far the run got.

    Alembic works the steps out again from the version table at every run_migrations(): after
    a failed attempt, a relative target (`upgrade +2`, `downgrade -1`) would count from where
    the database is now. The plan keeps the first answer and resumes at the failed step.
    """

    def __init__(self, migration_context: MigrationContext) -> None:
        self.steps: list[RevisionStep] | None = None
        self.position = 0
        steps_fn = migration_context._migrations_fn
        assert steps_fn is not None

        def planned(heads: Sequence[str], context: MigrationContext) -> Iterator[RevisionStep]:
            if self.steps is None:
                self.steps = list(steps_fn(heads, context))
            while self.position < len(self.steps):
                yield self.steps[self.position]
                # Resumed only once the step has committed.
                self.position += 1

        migration_context._migrations_fn = planned

    @property
    def running(self) -> RevisionStep | None:
        """The step in progress, or the one that failed."""
        if self.steps is None or self.position >= len(self.steps):
            return None
        return self.steps[self.position]


def run_retrying(
    migration_context: MigrationContext,
    settings: Settings,
    run_migrations: Callable[..., None],
    **kw: Any,
) -> None:
    """run_migrations(**kw), again from the failed revision after each lock timeout.

    A caller's open transaction (tests, in-process callers) was rolled back as a whole by the
    failure: there is nothing to resume, so its error is raised as it is.
    """
    connection = migration_context.connection
    external = migration_context._in_external_transaction
    if connection is None or external or migration_context._migrations_fn is None:
        run_migrations(**kw)
        return
    plan = Plan(migration_context)
    failures: Counter[int] = Counter()
    with ExitStack() as stack:
        watch: BlockerWatch | None = None
        while True:
            try:
                run_migrations(**kw)
                return
            except DBAPIError as error:
                step = plan.running
                if getattr(error.orig, "sqlstate", None) != LOCK_NOT_AVAILABLE or step is None:
                    raise
                failures[plan.position] += 1
                attempt = failures[plan.position]
                blockers = watch.blockers if watch else []
                limit = lock_timeout_source(step, settings)
                if attempt > settings.migration_lock_retries:
                    raise LockRetriesExhausted(
                        error, step.short_log, settings.migration_lock_retries, limit, blockers
                    ) from error
                if watch is None:
                    watch = stack.enter_context(
                        BlockerWatch(connection.engine.url, backend_pid(connection))
                    )
                wait = duration_seconds(settings.migration_lock_retry_delay) * 2 ** (attempt - 1)
                log_retry(step, limit, blockers, attempt, settings.migration_lock_retries, wait)
                timeouts.restore_run_timeouts(connection, settings)
                pause(wait)


def log_retry(
    step: RevisionStep,
    limit: str,
    blockers: list[Blocker],
    attempt: int,
    retries: int,
    wait: float,
) -> None:
    blocked_by = f", blocked by {'; '.join(map(str, blockers))}" if blockers else ""
    log.warning(
        "%s could not get a lock within lock_timeout (%s)%s; rolled back, retry %d/%d in %gs",
        step.short_log,
        limit,
        blocked_by,
        attempt,
        retries,
        wait,
    )


def lock_timeout_source(step: RevisionStep, settings: Settings) -> str:
    if isinstance(step, RevisionStep):
        own = timeouts.revision_timeouts(step.revision).get("lock_timeout")
        if own is not None:
            return f"lock_timeout = {own!r} in revision {step.revision.revision}"
    return f"MIGRATION_LOCK_TIMEOUT={settings.migration_lock_timeout}"


def backend_pid(connection: Connection) -> int:
    backend_pid = int(connection.scalar(BACKEND_PID) or 0)
    connection.commit()
    return backend_pid
