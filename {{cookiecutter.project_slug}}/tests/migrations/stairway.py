"""A stairway run whose cost grows linearly with the number of revisions.

Calling `alembic.command.upgrade`/`downgrade` once per step re-reads every revision file each
time (quadratic). Here the script directory is loaded once and env.py runs once, on one
connection, with Alembic's own migration steps queued up, down and up again for every revision;
each step still runs in its own transaction and moves the version table like a real upgrade.
"""

from collections.abc import Iterator

from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext, MigrationStep
from alembic.script import ScriptDirectory


def run_stairway(config: Config) -> int:
    """Upgrade, downgrade and upgrade again each revision, base to head; return the step count."""
    script = ScriptDirectory.from_config(config)
    revisions = list(reversed(list(script.walk_revisions())))

    def steps(heads: tuple[str, ...], context: MigrationContext) -> Iterator[MigrationStep]:
        for revision in revisions:
            up = MigrationStep.upgrade_from_script(script.revision_map, revision)
            down = MigrationStep.downgrade_from_script(script.revision_map, revision)
            yield from (up, down, up)

    with EnvironmentContext(config, script, fn=steps, destination_rev="heads"):
        script.run_env()
    return 3 * len(revisions)
