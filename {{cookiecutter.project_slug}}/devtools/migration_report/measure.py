"""Run the revisions on a scratch database, each traced, and see what they changed."""

import asyncio
import importlib.util
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import NoReturn, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from devtools.scratch import scratch_database

from . import app, schema
from .model import Statement
from .selection import Selected
from .tracing import RELATIONS, Tracer

T = TypeVar("T")
FIXTURES = Path("devtools/report_fixtures.py")


@dataclass
class Measured:
    statements: list[Statement] = field(default_factory=list)
    before: dict[str, schema.Table] = field(default_factory=dict)
    after: dict[str, schema.Table] = field(default_factory=dict)
    error: str | None = None


class FixturesError(Exception):
    """The fixtures script is missing its seed() or failed; the message says which."""


class ScratchLost(Exception):
    """The scratch database stopped answering mid-report (dropped, server restarted)."""


def interrupt(signum: int, frame: FrameType | None) -> NoReturn:
    raise KeyboardInterrupt


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """SIGTERM (a cancelled CI job) stops the report as Ctrl-C does, so that the scratch
    database is dropped on the way out rather than left behind."""
    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: the caller handles the signals
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def upgrade(config: Config, revision: str) -> None:
    """`alembic upgrade revision`, SIGTERM still interrupting after it: env.py's event loop
    takes SIGTERM while it runs and leaves it at the default (end the process) when done."""
    handler = signal.getsignal(signal.SIGTERM)
    try:
        command.upgrade(config, revision)
    finally:
        if handler is interrupt:
            signal.signal(signal.SIGTERM, interrupt)


def on(engine: AsyncEngine, work: Callable[[Connection], T]) -> T:
    """work(connection) on a connection of its own, committed."""

    async def run() -> T:
        try:
            async with engine.connect() as connection:
                result = await connection.run_sync(work)
                await connection.commit()
                return result
        finally:
            await engine.dispose()

    return asyncio.run(run())


def existing_relations(connection: Connection) -> set[int]:
    if connection.dialect.name != "postgresql":
        return set()
    return {row[0] for row in connection.execute(text(RELATIONS))}


def seed(engine: AsyncEngine, fixtures: Path, revision: str | None) -> None:
    """Run fixtures' seed(connection, revision) on the database as the base left it."""
    spec = importlib.util.spec_from_file_location("report_fixtures", fixtures)
    if spec is None or spec.loader is None:
        raise FixturesError(f"{fixtures}: cannot be loaded as a Python module")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    seed_function = getattr(module, "seed", None)
    if not callable(seed_function):
        raise FixturesError(f"{fixtures} has no seed(connection, revision) function")
    try:
        on(engine, lambda connection: seed_function(connection, revision))
    except Exception as error:
        raise FixturesError(f"{fixtures}: seed() failed: {one_line(error)}") from None


def one_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}"


@contextmanager
def scratch(database_url: str) -> Iterator[str]:
    with scratch_database(database_url, app.SCRATCH_PREFIX, app.SEARCH_PATH) as url:
        yield url


def measure(
    database_url: str,
    alembic_ini: Path,
    every: list[Selected],
    reported: list[Selected],
    fixtures: Path | None,
) -> dict[str, Measured]:
    """Each reported revision, run after the ones before it, on a scratch database dropped after.

    The fixtures seed the database right before the first reported revision: the schema
    production has now.
    """
    if not reported:
        return {}
    wanted = {selected.id for selected in reported}
    last = max(index for index, selected in enumerate(every) if selected.id in wanted)
    with scratch(database_url) as url:
        try:
            return measure_on(url, alembic_ini, every[: last + 1], wanted, fixtures)
        except (OSError, DBAPIError) as error:
            name = make_url(url).database
            raise ScratchLost(
                f"the scratch database {name} stopped answering mid-report "
                f"({one_line(error)}); run the report again"
            ) from None


def measure_on(
    url: str,
    alembic_ini: Path,
    every: list[Selected],
    wanted: set[str],
    fixtures: Path | None,
) -> dict[str, Measured]:
    """Upgrade the database at url through every revision, tracing the wanted ones."""
    measured: dict[str, Measured] = {}
    engine = app.engine(url)
    tracer = Tracer(engine.sync_engine)
    config = app.alembic_config(alembic_ini, url, engine)
    seeded = fixtures is None
    for selected in every:
        if selected.id not in wanted:
            upgrade(config, selected.id)
            continue
        if not seeded and fixtures is not None:
            seed(engine, fixtures, selected.down[0] if selected.down else None)
            seeded = True
        result = measured[selected.id] = Measured()
        result.before = on(engine, schema.snapshot)
        tracer.start(on(engine, existing_relations))
        try:
            upgrade(config, selected.id)
        except Exception as error:
            result.error = one_line(error)
        finally:
            result.statements = tracer.stop()
        result.after = on(engine, schema.snapshot)
        if result.error:
            break  # what follows would run on a database the revision left half done
    return measured
