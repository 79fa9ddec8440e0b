"""Which Alembic revisions the code expects, and which the database is at."""

import logging
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any, Literal, NamedTuple

from alembic.config import Config
from alembic.runtime.migration import MigrationContext, MigrationInfo
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection

from {{ cookiecutter.package_name }}.migrator import phases
from {{ cookiecutter.package_name }}.migrator.config import build_config, command_name
{%- if cookiecutter.tenancy == "schema-per-tenant" %}
from {{ cookiecutter.package_name }}.models.base import SHARED_SCHEMA
{%- endif %}
from {{ cookiecutter.package_name }}.settings import ConfigurationError

log = logging.getLogger("alembic.env")
SchemaState = Literal["at head", "ahead", "post-deploy pending", "behind"]


class AppliedRevisions:
    """What a run applied, so that a run with nothing to do says so."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.applied: list[MigrationInfo] = []

    def record(
        self,
        ctx: MigrationContext,
        step: MigrationInfo,
        heads: Collection[Any],
        run_args: Mapping[str, Any],
    ) -> None:
        self.applied.append(step)

    def report(self) -> None:
        if not self.applied and command_name(self.config) in {"upgrade", "downgrade"}:
            log.info("Nothing to do: the database is already at the requested revision.")


class CodeRevisions(NamedTuple):
    """The revisions this code ships: its heads, every revision it knows, and where a
    pre-deploy run stops (the database is ready for this code, post-deploy revisions pending).
    """

    heads: frozenset[str]
    known: frozenset[str]
    pre_deploy_stops: frozenset[frozenset[str]] = frozenset()

    def state(self, current: Collection[str]) -> SchemaState:
        """Where a database at `current` stands for this code.

        A revision this code does not know is taken for a newer release's: deploys migrate
        before the new code starts, and a pre-deploy migration keeps the old code working.
        """
        if set(current) == self.heads:
            return "at head"
        if not set(current) <= self.known:
            return "ahead"
        return "post-deploy pending" if frozenset(current) in self.pre_deploy_stops else "behind"


def code_revisions(alembic_ini: Path) -> CodeRevisions:
    if not alembic_ini.is_file():
        raise ConfigurationError(
            f"{alembic_ini} not found: start the app from the project directory "
            "or set ALEMBIC_INI to the path of alembic.ini"
        )
    try:
        script = ScriptDirectory.from_config(build_config(ini=alembic_ini))
        scripts = list(script.walk_revisions())
        return CodeRevisions(
            heads=frozenset(script.get_heads()),
            known=frozenset(revision.revision for revision in scripts),
            pre_deploy_stops=phases.pre_deploy_stops(scripts),
        )
    except CommandError as error:
        raise ConfigurationError(f"cannot read the migrations: {error}") from None


def current_revisions(connection: Connection) -> frozenset[str]:
{%- if cookiecutter.tenancy == "schema-per-tenant" %}
    """The shared schema's revisions; tenancy.schema_versions() has every tenant's."""
    context = MigrationContext.configure(connection, opts={"version_table_schema": SHARED_SCHEMA})
    return frozenset(context.get_current_heads())
{%- else %}
    return frozenset(MigrationContext.configure(connection).get_current_heads())
{%- endif %}
