"""Failures a migration run meets every day, each explained on one line with its fix."""

import asyncio
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress

from alembic.config import Config
from alembic.script.revision import MultipleHeads, ResolutionError
from alembic.util import CommandError, DatabaseNotAtHead
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from {{ cookiecutter.package_name }}.db import explain_connection_error
from {{ cookiecutter.package_name }}.migrator.config import is_command_line
{%- if cookiecutter.database == "postgresql" %}
from {{ cookiecutter.package_name }}.migrator.locks import LOCK_NOT_AVAILABLE, LockRetriesExhausted
{%- elif cookiecutter.database == "mysql" %}
from {{ cookiecutter.package_name }}.migrator.partial import RevisionFailed
{%- endif %}
from {{ cookiecutter.package_name }}.migrator.phases import PostDeployPending
{%- if cookiecutter.tenancy == "schema-per-tenant" %}
from {{ cookiecutter.package_name }}.migrator.tenancy import TenantNameError
{%- endif %}
from {{ cookiecutter.package_name }}.settings import ConfigurationError{{ ", get_settings" if cookiecutter.database == "postgresql" }}

EXPLAINED = (CommandError, DatabaseNotAtHead)
REVISION_ID = re.compile(r"[0-9A-Za-z_]{1,64}")
{%- if cookiecutter.database == "mysql" %}
INTERRUPTED = (
    "interrupted: the statement in progress was stopped and the migration lock released; "
    "MySQL keeps the DDL statements the revision had already run (the log above lists them): "
    "`alembic current` shows where the database is, run the command again to continue"
)
{%- else %}
INTERRUPTED = (
    "interrupted: the revision in progress was rolled back and the migration lock released; "
    "`alembic current` shows where the database is, run the command again to continue"
)
{%- endif %}
{%- if cookiecutter.database == "postgresql" %}
INSUFFICIENT_PRIVILEGE = "42501"
QUERY_CANCELED = "57014"
TABLE_IN_STATEMENT = re.compile(
    r"\b(?:TABLE|ON|INTO|FROM|UPDATE|REFERENCES)\s+(?:ONLY\s+)?(?:IF\s+(?:NOT\s+)?EXISTS\s+)?"
    r'((?:"[^"]+"|\w+)(?:\.(?:"[^"]+"|\w+))?)',
    re.IGNORECASE,
)
{%- endif %}


@contextmanager
def reported(config: Config) -> Iterator[None]:
    """On the command line, exit with `alembic: <what happened and what to do>`, no traceback.

    Python callers (the app, tests) get the exceptions instead; Alembic's own are explained.
    """
    try:
        yield
    except CommandError as error:
        explanation = explain_command_error(error)
        if explanation == str(error):
            raise
        # The same class, so that callers can still tell them apart.
        kind = type(error) if type(error) in EXPLAINED else CommandError
        raise kind(explanation) from error
    except BaseException as error:
        line = one_line(error) if is_command_line(config) else None
        if line is None:
            raise
        print(f"alembic: {line}", file=sys.stderr)
        sys.exit(130 if isinstance(error, KeyboardInterrupt | asyncio.CancelledError) else 1)


def one_line(error: BaseException) -> str | None:
    """The one-line explanation of an error a migration run can expect; None for the others."""
    if isinstance(error, {{ "ConfigurationError | TenantNameError" if cookiecutter.tenancy == "schema-per-tenant" else "ConfigurationError" }}):
        return str(error)
    if isinstance(error, KeyboardInterrupt | asyncio.CancelledError):
        return INTERRUPTED
{%- if cookiecutter.database == "postgresql" %}
    if isinstance(error, DBAPIError):
        return explain_timeout(error)
{%- elif cookiecutter.database == "mysql" %}
    if isinstance(error, RevisionFailed):
        return str(error)
{%- endif %}
    return None


@asynccontextmanager
async def connected(
    engine: AsyncEngine, url_variable: str = "DATABASE_URL"
) -> AsyncIterator[AsyncConnection]:
    """A connection whose failure to open says why (naming `url_variable`, the setting the URL
    came from); SIGTERM cancels the run like Ctrl-C."""
    try:
        connection = await engine.connect()
    except (OSError, DBAPIError) as error:
        url = engine.url.render_as_string(hide_password=False)
        raise ConfigurationError(explain_connection_error(url, error, url_variable)) from None
    loop = asyncio.get_running_loop()
    run = asyncio.current_task()
    # Only the main thread can take signals; in-process callers keep their own handling.
    with suppress(ValueError, RuntimeError, NotImplementedError):
        if run is not None:
            loop.add_signal_handler(signal.SIGTERM, run.cancel)
    try:
        yield connection
    finally:
        with suppress(ValueError, RuntimeError, NotImplementedError):
            loop.remove_signal_handler(signal.SIGTERM)
        await connection.close()


def explain_command_error(error: CommandError) -> str:
    cause = error.__cause__
    message = str(error)
    if message == "Target database is not up to date.":
        return (
            "the database is behind the migrations, so autogenerate would compare against an "
            "old schema: run `alembic upgrade head` first, then autogenerate again"
        )
    if isinstance(cause, MultipleHeads):
        return (
            f"the migrations have several heads ({', '.join(cause.heads)}), e.g. after a git "
            'merge: merge them with `alembic merge heads -m "merge heads"`, or name one revision'
        )
    if isinstance(cause, ResolutionError) and isinstance(cause.argument, str):
        return f"{message}: {missing_revision_hint(cause.argument)}"
    if isinstance(error, DatabaseNotAtHead) and not isinstance(error, PostDeployPending):
        return (
            "the database is not at the head revision (`alembic current` shows where it is, "
            "`alembic heads` where the code is): run `alembic upgrade head`"
        )
    if message == "Ambiguous walk":
        return (
            "`downgrade -1` is ambiguous at a merge point (two revisions come before it): name "
            "the revision to go to, `alembic downgrade <revision>` (see `alembic history`)"
        )
    return message


def missing_revision_hint(revision: str) -> str:
    """Where a revision this checkout lacks probably lives: another git branch."""
    branches = branches_with_revision(revision)
    where = f"it is on git branch {', '.join(branches)}" if branches else "it is on another branch"
    return (
        f"the database is at a revision these migrations do not have; {where}: check that "
        "branch out, `alembic downgrade` to a revision both branches have, then switch back "
        "and `alembic upgrade head` (or, if you typed the revision, see `alembic history`)"
    )


def branches_with_revision(revision: str) -> list[str]:
    if not REVISION_ID.fullmatch(revision):
        return []
    try:
        commit = git("log", "--all", "-1", "--format=%H", "--", f":(glob)**/*{revision}*.py")
        if not commit:
            return []
        return git("branch", "--all", "--contains", commit, "--format=%(refname:short)").split()
    except (OSError, subprocess.SubprocessError):
        return []


def git(*arguments: str) -> str:
    result = subprocess.run(
        ["git", *arguments], capture_output=True, text=True, timeout=5, check=True
    )
    return result.stdout.strip()
{%- if cookiecutter.database == "postgresql" %}


def explain_timeout(error: DBAPIError) -> str | None:
    """Turn a lock or statement timeout into what happened and what to do; None for others."""
    settings = get_settings()
    sqlstate = getattr(error.orig, "sqlstate", None)
    statement = " ".join(str(error.statement or "").split())
    table = TABLE_IN_STATEMENT.search(statement)
    shown = statement if len(statement) <= 120 else f"{statement[:117]}..."
    kept = "the failed revision was rolled back and the database is at the revision before it"
    if sqlstate == LOCK_NOT_AVAILABLE:
        on = f" on {table.group(1)}" if table else ""
        if isinstance(error, LockRetriesExhausted) and error.retries:
            limit = error.limit
            who = (
                f"blocked by {'; '.join(map(str, error.blockers))}"
                if error.blockers
                else "the blocking session was not caught (see pg_stat_activity and pg_locks)"
            )
            retries = "retry" if error.retries == 1 else "retries"
            blocked = f"gave up after {error.retries} {retries}: {who}"
        else:
            limit = f"MIGRATION_LOCK_TIMEOUT={settings.migration_lock_timeout}"
            blocked = "another session holds a conflicting lock (see pg_stat_activity and pg_locks)"
        return (
            f"could not get a lock{on} within lock_timeout ({limit}) for: {shown}; {blocked}; "
            f"{kept}: retry when that session has finished (or end it), or raise "
            "MIGRATION_LOCK_TIMEOUT"
        )
    if sqlstate == INSUFFICIENT_PRIVILEGE:
        return (
            f"the role in DATABASE_URL may not do this: {shown}; migrate as the role that owns "
            "the schema, or grant that role the privilege"
        )
    if sqlstate == QUERY_CANCELED and "statement timeout" in str(error.orig):
        return (
            "a statement ran longer than statement_timeout "
            f"(MIGRATION_STATEMENT_TIMEOUT={settings.migration_statement_timeout}): {shown}; "
            f"{kept}: raise MIGRATION_STATEMENT_TIMEOUT for this run, or split the work"
        )
    return None
{%- endif %}
