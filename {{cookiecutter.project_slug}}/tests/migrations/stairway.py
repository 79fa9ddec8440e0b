"""A stairway run whose cost grows linearly with the number of revisions.

Calling `alembic.command.upgrade`/`downgrade` once per step re-reads every revision file each
time (quadratic). Here the script directory is loaded once and env.py runs once, on one
connection, with Alembic's own migration steps queued up, down and up again for every revision;
each step still runs in its own transaction and moves the version table like a real upgrade.

Before every step each table that is new, or whose columns changed since, gets a few more rows
(tests/migrations/seed.py): a revision that fails on the first real row fails here, and a
downgrade meets rows written in the shape it undoes, as a rollback in production does.
"""

from collections.abc import Callable, Iterator
from typing import Any

from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext, MigrationStep
from alembic.script import ScriptDirectory

from tests.migrations.seed import NOT_SEEDED, ROWS_PER_TABLE, Seeder

# Tables left without rows, by schema (None: the default one), beside the version table.
{%- if cookiecutter.tenancy == "schema-per-tenant" %}
# The tenant registry stays empty: each name in it is a schema every upgrade would migrate.
NOT_SEEDED_IN: dict[str | None, tuple[str, ...]] = {"shared": (*NOT_SEEDED, "tenants")}
{%- else %}
NOT_SEEDED_IN: dict[str | None, tuple[str, ...]] = {}
{%- endif %}


class Seeding:
    """A Seeder for each schema the run migrates, kept from step to step."""

    def __init__(self, rows: int) -> None:
        self.rows = rows
        self.seeders: dict[str | None, Seeder] = {}

    def before_step(self, context: MigrationContext) -> None:
        schema = context.version_table_schema
        assert context.connection is not None
        if schema not in self.seeders:
            skip = NOT_SEEDED_IN.get(schema, NOT_SEEDED)
            self.seeders[schema] = Seeder(schema, self.rows, skip)
        self.seeders[schema](context.connection)


def seeding_first(
    migrate: Callable[..., None], context: MigrationContext, seeding: Seeding
) -> Callable[..., None]:
    """The step's function, after rows in the tables that are new or changed since they were
    last seeded, in the schema the run migrates.

    The rows go in the step's own transaction: the run lists its steps before it starts, so
    nothing runs between them.
    """

    def seeded(**kw: Any) -> None:
        seeding.before_step(context)
        migrate(**kw)

    return seeded


def run_stairway(config: Config, rows_per_table: int = ROWS_PER_TABLE) -> int:
    """Upgrade, downgrade and upgrade again each revision, base to head; return the step count.

    rows_per_table=0 runs it on empty tables.
    """
    script = ScriptDirectory.from_config(config)
    revisions = list(reversed(list(script.walk_revisions())))
    seeding = Seeding(rows_per_table)

    def steps(heads: tuple[str, ...], context: MigrationContext) -> Iterator[MigrationStep]:
        for revision in revisions:
            up = MigrationStep.upgrade_from_script(script.revision_map, revision)
            down = MigrationStep.downgrade_from_script(script.revision_map, revision)
            if rows_per_table:
                for step in (up, down):
                    step.migration_fn = seeding_first(step.migration_fn, context, seeding)
            yield from (up, down, up)

    with EnvironmentContext(config, script, fn=steps, destination_rev="heads"):
        script.run_env()
    return 3 * len(revisions)
