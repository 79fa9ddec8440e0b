"""Deploy phases: every revision is pre-deploy (expand) or post-deploy (contract).

A revision file says which with a module-level `phase = "pre-deploy"` or `"post-deploy"`. The
history stays one line, so `alembic upgrade head`, `downgrade -1` and the stairway work as
always; `-x phase=pre-deploy` only stops an upgrade before the first pending post-deploy
revision. A deploy runs `alembic -x phase=pre-deploy upgrade head`, rolls out the new code (it
runs against a database that has every pre-deploy revision), then runs `alembic upgrade head`.
"""

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal

from alembic.config import Config
from alembic.runtime.migration import MigrationContext, RevisionStep
from alembic.script import Script, ScriptDirectory
from alembic.util import CommandError, DatabaseNotAtHead, to_tuple

log = logging.getLogger("alembic.env")

Phase = Literal["pre-deploy", "post-deploy"]
PRE_DEPLOY: Phase = "pre-deploy"
POST_DEPLOY: Phase = "post-deploy"
PHASES: tuple[Phase, ...] = (PRE_DEPLOY, POST_DEPLOY)
# Autogenerate's rewriter records here which phase each revision it writes belongs to.
NEW_REVISION_PHASES = "revision_phases"

MigrationsFn = Callable[[Sequence[str], MigrationContext], Iterable[RevisionStep]]


def parse_phase(value: str, where: str) -> Phase:
    for phase in PHASES:
        if value == phase:
            return phase
    raise CommandError(f"{where} is {value!r}: use {PRE_DEPLOY!r} or {POST_DEPLOY!r}")


def requested_phase(x_arguments: dict[str, str]) -> Phase | None:
    """The phase of `-x phase=...`, None when not given."""
    value = x_arguments.get("phase")
    return None if value is None else parse_phase(value, "-x phase")


def phase_of(script: Script) -> Phase:
    """The phase a revision file declares; a revision without one is pre-deploy."""
    value = getattr(script.module, "phase", PRE_DEPLOY)
    return parse_phase(str(value), f"phase in {script.path}")


def new_revision_phase(config: Config, revision: str) -> Phase:
    """The phase `script.py.mako` writes into a new revision.

    Autogenerate decides per revision (drops go to post-deploy); a hand-written revision takes
    `-x phase=...`, else pre-deploy.
    """
    decided: dict[str, Phase] = config.attributes.get(NEW_REVISION_PHASES, {})
    if revision in decided:
        return decided[revision]
    x_arguments = dict(
        argument.split("=", 1) for argument in getattr(config.cmd_opts, "x", None) or []
    )
    return requested_phase(x_arguments) or PRE_DEPLOY


def record_new_revision_phase(config: Config, revision: str, phase: Phase) -> None:
    config.attributes.setdefault(NEW_REVISION_PHASES, {})[revision] = phase


def until_post_deploy(steps: Iterable[RevisionStep]) -> tuple[list[RevisionStep], list[Script]]:
    """The upgrade steps before the first post-deploy one, and the revisions left for later."""
    steps = list(steps)
    for index, step in enumerate(steps):
        if step.is_upgrade and phase_of(step.revision) == POST_DEPLOY:
            return steps[:index], [left.revision for left in steps[index:]]
    return steps, []


class PostDeployPending(DatabaseNotAtHead):
    """`current --check-heads`: every pre-deploy revision is applied, post-deploy ones are not."""


def limit_to_phase(migration_context: MigrationContext, phase: Phase | None) -> None:
    """Make `-x phase=pre-deploy` stop before the first pending post-deploy revision, and
    make `current --check-heads` tell "post-deploy pending" from "behind".

    Alembic's command hands env.py its work as `fn` (the steps to run, or the check); the run
    keeps the pre-deploy prefix of the steps and says what it left.
    """
    run_steps: Any = migration_context._migrations_fn
    script = migration_context.script
    assert run_steps is not None and script is not None

    def steps_for_phase(heads: Sequence[str], context: MigrationContext) -> list[RevisionStep]:
        try:
            steps = list(run_steps(heads, context))
        except DatabaseNotAtHead:
            pending = post_deploy_pending(script, heads)
            if pending:
                raise PostDeployPending(
                    f"pre-deploy done, post-deploy pending: {describe(pending)}; "
                    "run `alembic upgrade head` after the rollout"
                ) from None
            raise
        if phase != PRE_DEPLOY:
            return steps
        if any(not step.is_upgrade for step in steps):
            raise CommandError("-x phase=pre-deploy applies to upgrade only")
        kept, left = until_post_deploy(steps)
        if left:
            # Logged before the kept steps run: it says where this run will stop.
            log.info(
                "Pre-deploy phase: stops before %s, left for after the rollout "
                "(`alembic upgrade head`)",
                describe(left),
            )
        return kept

    migration_context._migrations_fn = steps_for_phase


def post_deploy_pending(script: ScriptDirectory, heads: Sequence[str]) -> list[Script]:
    """The revisions between `heads` and the head, when a pre-deploy run would stop at `heads`."""
    if frozenset(heads) not in pre_deploy_stops(script.walk_revisions()):
        return []
    return list(reversed(list(script.iterate_revisions("heads", tuple(heads)))))


def describe(scripts: Iterable[Script]) -> str:
    return ", ".join(f"{script.revision} ({script.doc})" for script in scripts)


def pre_deploy_stops(scripts: Iterable[Script]) -> frozenset[frozenset[str]]:
    """The revision sets at which a pre-deploy run stops: right before a post-deploy revision."""
    return frozenset(
        frozenset(to_tuple(script.down_revision, default=()))
        for script in scripts
        if phase_of(script) == POST_DEPLOY
    )
