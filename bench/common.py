"""Baking, installing and timing baked projects; scratch PostgreSQL and MariaDB databases."""

import json
import os
import shutil
import statistics
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests import helpers
from tests.helpers import (
    MYSQL_SERVER,
    POSTGRES_SERVER,
    scratch_mysql_database,
    scratch_postgres_database,
)

PLUGIN_DIR = Path(__file__).resolve().parent / "plugin"


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def ratio(numerator: float, denominator: float) -> float:
    # A run that failed before its test started has no test time; show nan, not a crash.
    return numerator / denominator if denominator else float("nan")


def clean_env(**extra: str) -> dict[str, str]:
    # `uv run` exports VIRTUAL_ENV for the template's venv; uv pip would install there instead.
    env = {key: value for key, value in os.environ.items() if key != "VIRTUAL_ENV"}
    env.update(extra)
    return env


def install(project: Path) -> None:
    """The baked project in its .venv, installed the way the template tests install it."""
    # With compiled bytecode, so no timed run pays for compiling the dependencies.
    helpers.install(project, clean_env())


@dataclass
class PytestRun:
    wall: float
    returncode: int
    output: str
    # nodeid -> {"setup": s, "call": s, "teardown": s}
    phases: dict[str, dict[str, float]] = field(default_factory=dict)
    outcomes: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def test_time(self, nodeid_suffix: str | None = None) -> float:
        """Seconds pytest spent in tests (all phases), optionally only in matching tests."""
        return sum(
            sum(phases.values())
            for nodeid, phases in self.phases.items()
            if nodeid_suffix is None or nodeid.endswith(nodeid_suffix)
        )

    def summary(self) -> str:
        failed = [nodeid for nodeid, outcome in self.outcomes.items() if outcome == "failed"]
        if self.ok:
            return "ok"
        return f"exit {self.returncode}, {len(failed)} failed"


def run_pytest(project: Path, database_url: str, args: list[str], scratch: Path) -> PytestRun:
    """Wall time of a whole pytest process, plus each test phase's duration from inside it."""
    timings = scratch / f"timings-{uuid.uuid4().hex}.jsonl"
    env = clean_env(
        DATABASE_URL=database_url,
        BENCH_TIMINGS=str(timings),
        PYTHONPATH=str(PLUGIN_DIR),
    )
    command = [".venv/bin/pytest", "-q", "-p", "no:cacheprovider", "-p", "bench_timings", *args]
    start = time.perf_counter()
    finished = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    run = PytestRun(wall, finished.returncode, finished.stdout + finished.stderr)
    if timings.exists():
        for line in timings.read_text().splitlines():
            record = json.loads(line)
            run.phases.setdefault(record["nodeid"], {})[record["when"]] = record["duration"]
            if record["outcome"] != "passed" or record["when"] == "call":
                run.outcomes[record["nodeid"]] = record["outcome"]
        timings.unlink()
    return run


@contextmanager
def scratch_database() -> Iterator[str]:
    """A database of the bench's own on the local server; yields its asyncpg DSN."""
    with scratch_postgres_database("bench") as name:
        yield f"postgresql://{POSTGRES_SERVER}/{name}"


@contextmanager
def scratch_mysql_url() -> Iterator[str]:
    """A database of the bench's own on the local MariaDB; yields its SQLAlchemy URL."""
    with scratch_mysql_database("bench") as name:
        yield f"mysql+aiomysql://{MYSQL_SERVER}/{name}"


def sqlalchemy_url(dsn: str) -> str:
    return dsn.replace("postgresql://", "postgresql+asyncpg://", 1)


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
