"""Every tenant migrated, several at a time, after the shared schema and the template.

One query reads every tenant's version table, so tenants already at the target cost nothing
and a run after a failure picks up only the tenants not done. The canary tenants go first
(MIGRATION_CANARY_TENANTS: the first N, or names): if one fails, the run stops before any other
tenant. After them, MIGRATION_TENANT_WORKERS connections migrate the rest (workers.py), each
tenant in its own transaction per revision. A tenant that fails is logged (which tenant, which
revision, the error on one line) and the others go on; the run then fails naming them.

The run's own connection keeps the migration lock throughout. A caller's open transaction (tests,
in-process callers) cannot be shared with other connections: there tenants run one after
another on it, and the first failure ends the run.
"""

import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from alembic.runtime.migration import MigrationContext
from alembic.util import CommandError
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from ..settings import Settings
from . import errors, tenancy
from .progress import Progress
from .tenancy import TEMPLATE_SCHEMA, Target, TenantError, schema_for
from .workers import WorkerPool, can_fork

log = logging.getLogger("alembic.env.tenants")

# Alembic's lines for each tenant (thousands of them) give way to the progress lines.
QUIETED_LOGGERS = ("alembic.runtime.migration", "alembic.env")
NAMED_IN_ERRORS = 5
ERROR_CHARACTERS = 300

Configure = Callable[[Connection, Target], MigrationContext]
Migrate = Callable[[Connection, Target], None]


class TenantsFailed(CommandError):
    """Some tenants could not be migrated; the others were."""


class CanaryFailed(TenantsFailed):
    """A canary tenant could not be migrated, so no other tenant was."""


@dataclass(frozen=True)
class Failure:
    tenant: str
    revision: str
    error: str

    def __str__(self) -> str:
        return f"tenant {self.tenant} at {self.revision}: {self.error}"


@dataclass
class TenantRunner:
    """Migrates tenants for one run.

    `configure(connection, target)` makes the migration context of a target without running
    it; `migrate(connection, target)` migrates one. `owns_connection` is False inside a
    caller's transaction.
    """

    connection: Connection
    settings: Settings
    configure: Configure
    migrate: Migrate
    owns_connection: bool
    # What a run would do to a tenant, judged without touching one.
    probe: MigrationContext = field(init=False)

    def __post_init__(self) -> None:
        self.probe = self.configure(self.connection, Target("tenant", TEMPLATE_SCHEMA))

    def run(self, tenants: list[str], creating: bool = False) -> int:
        """Migrate the tenants, then register them if `creating`; the number migrated.

        Raises CanaryFailed, or TenantsFailed once every other tenant has had its turn.
        """
        if not tenants:
            return 0
        if not moves_revisions(self.probe):  # `alembic current`: each tenant says where it is
            for tenant in tenants:
                self.migrate(self.connection, Target("tenant", schema_for(tenant)))
            return 0
        with quiet(*QUIETED_LOGGERS):
            pending = self.pending(tenants)
            canaries = choose_canaries(
                self.settings.migration_canary_tenants, tenants, pending, creating
            )
            failures = self.migrate_all(pending, canaries) if pending else []
            if creating:
                failed = {failure.tenant for failure in failures}
                self.register([tenant for tenant in tenants if tenant not in failed])
        if failures:
            raise TenantsFailed(failed_message(failures, len(pending)))
        return len(pending)

    def pending(self, tenants: list[str]) -> list[str]:
        """The tenants not at the target yet, read in one go; each version is judged once."""
        versions = tenancy.tenant_versions(self.connection, tenants)
        if self.owns_connection:
            self.connection.commit()
        judged: dict[tuple[str, ...], bool] = {}
        for revisions in versions.values():
            if revisions not in judged:
                judged[revisions] = bool(self.steps(revisions)) or self.probe.purge
        return [tenant for tenant in tenants if judged[versions[tenant]]]

    def steps(self, revisions: tuple[str, ...]) -> list[str]:
        """What the run does to a schema at `revisions`: its steps, described."""
        steps_for = self.probe._migrations_fn
        assert steps_for is not None
        try:
            steps = steps_for(revisions, self.probe)
            return [
                f"{step.short_log} ({step.doc})" if step.doc else step.short_log for step in steps
            ]
        except CommandError as error:  # that tenant's own run will say it
            return [f"no step: {error}"]

    def migrate_all(self, pending: list[str], canaries: list[str]) -> list[Failure]:
        rest = [tenant for tenant in pending if tenant not in canaries]
        workers = self.worker_count(len(pending))
        log.info(
            "Migrating %d tenant%s on %d connection(s); %s",
            len(pending),
            "" if len(pending) == 1 else "s",
            workers,
            f"canaries first: {', '.join(canaries)}" if canaries else "no canary",
        )
        progress = Progress(len(pending))
        with self.executor(workers) as run:
            failures = collect(run(canaries), progress)
            if failures:
                progress.finish()
                raise CanaryFailed(canary_message(failures))
            failures += collect(run(rest), progress)
        progress.finish()
        return failures

    def worker_count(self, pending: int) -> int:
        if not self.owns_connection or not can_fork():
            return 1
        return min(self.settings.migration_tenant_workers, pending)

    @contextmanager
    def executor(
        self, workers: int
    ) -> Iterator[Callable[[Iterable[str]], Iterator[tuple[str, Failure | None]]]]:
        """Runs tenants on the run's connection, or on `workers` forked workers."""
        if workers == 1:
            yield lambda tenants: (
                (tenant, self.attempt(self.connection, tenant)) for tenant in tenants
            )
            return
        # Workers connect where the run does (MIGRATION_DATABASE_URL, a test's database).
        url = self.connection.engine.url.render_as_string(hide_password=False)
        settings = self.settings.model_copy(update={"database_url": url})
        with WorkerPool(workers, settings, self.attempt, self.lost, self.connection) as pool:
            yield pool.run

    def attempt(self, connection: Connection, tenant: str) -> Failure | None:
        """Migrate one tenant; what went wrong, if anything."""
        if not self.owns_connection:  # a failure has ended the caller's transaction
            self.migrate(connection, Target("tenant", schema_for(tenant)))
            return None
        try:
            self.migrate(connection, Target("tenant", schema_for(tenant)))
        except Exception as error:
            return Failure(tenant, self.failed_revision(connection, tenant), one_line(error))
        return None

    def failed_revision(self, connection: Connection, tenant: str) -> str:
        """The step the tenant stopped at: every revision before it has committed."""
        try:
            revisions = tenancy.tenant_versions(connection, [tenant])[tenant]
            connection.commit()
        except DBAPIError:
            return "an unknown revision"
        steps = self.steps(revisions)
        return steps[0] if steps else "an unknown revision"

    def lost(self, tenant: str, why: str) -> Failure:
        return Failure(tenant, "an unknown revision", why)

    def register(self, tenants: list[str]) -> None:
        taken = tenancy.register_tenants(self.connection, tenants)
        if self.owns_connection:
            self.connection.commit()
        if taken:
            raise TenantError(
                f"tenant {taken[0]} exists already: choose another name"
                if len(taken) == 1
                else f"tenants {', '.join(taken)} exist already: choose other names"
            )


def moves_revisions(migration_context: MigrationContext) -> bool:
    """upgrade, downgrade and stamp have a destination; `current` has none."""
    environment = migration_context.environment_context
    if environment is None:
        return False
    try:
        environment.get_revision_argument()
    except KeyError:
        return False
    return True


def choose_canaries(
    setting: str, tenants: list[str], pending: list[str], creating: bool
) -> list[str]:
    """MIGRATION_CANARY_TENANTS: the first N tenants still to migrate, or the named ones.

    A name that is no tenant stops the run: a typo must not deploy without its canary. New
    tenants are not the canaries named for the registered ones.
    """
    if setting.isdigit():
        return pending[: int(setting)]
    named = setting.split(",")
    unknown = [name for name in named if name not in tenants]
    if unknown and not creating:
        raise CommandError(
            f"MIGRATION_CANARY_TENANTS names {', '.join(unknown)}, which is not a registered "
            "tenant: correct the names, or give a number (the first N tenants)"
        )
    return [tenant for tenant in pending if tenant in named]


def collect(outcomes: Iterable[tuple[str, Failure | None]], progress: Progress) -> list[Failure]:
    failures = []
    for _, failure in outcomes:
        progress.advance(failed=failure is not None)
        if failure is not None:
            failures.append(failure)
            progress.error("%s", failure)
    return failures


def one_line(error: Exception) -> str:
    """The error on one line: explained when the migrator knows it, else the database's words."""
    explained = errors.one_line(error)
    if explained is None and isinstance(error, CommandError):
        explained = errors.explain_command_error(error)
    if explained is None:
        cause: BaseException = error
        if isinstance(error, DBAPIError) and error.orig is not None:
            # SQLAlchemy's adapter wraps the driver's own exception, which names the problem.
            cause = error.orig.__cause__ or error.orig
        lines = str(cause).strip().splitlines() or [""]
        explained = f"{type(cause).__name__}: {lines[0]}"
    return explained[:ERROR_CHARACTERS]


def canary_message(failures: list[Failure]) -> str:
    return (
        f"canary {'; '.join(map(str, failures))}; no other tenant was migrated: fix the "
        "revision, then run the command again (MIGRATION_CANARY_TENANTS chooses the canaries)"
    )


def failed_message(failures: list[Failure], total: int) -> str:
    named = "; ".join(map(str, failures[:NAMED_IN_ERRORS]))
    more = len(failures) - NAMED_IN_ERRORS
    if more > 0:
        named += f"; and {more} more (each in the log above)"
    return (
        f"{len(failures)} of {total} tenants failed, the others are migrated: {named}; fix "
        "them, then run the command again: it migrates only the tenants not done yet"
    )


class BelowWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING


@contextmanager
def quiet(*names: str) -> Iterator[None]:
    """Only warnings and errors from these loggers while inside (and in workers forked here)."""
    below_warning = BelowWarning()
    loggers = [logging.getLogger(name) for name in names]
    for logger in loggers:
        logger.addFilter(below_warning)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(below_warning)
