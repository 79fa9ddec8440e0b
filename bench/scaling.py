"""Migration-suite scaling: the baked stairway vs pytest-alembic vs the raw-SQL floor.

Alone: uv run python -m bench.scaling [--sizes 25,100,400] [--repeats 3] [--databases mysql]
"""

import argparse
import asyncio
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from bench.common import (
    PytestRun,
    clean_env,
    install,
    median,
    ratio,
    remove,
    run_pytest,
    scratch_database,
    scratch_mysql_url,
    sqlalchemy_url,
)
from bench.revisions import generate
from tests.helpers import MYSQL_HOST, MYSQL_PORT, MYSQL_USER, bake, scratch_mysql_database

STAIRWAY = "tests/migrations/test_schema.py::test_stairway"
# The bake imports only pytest-alembic's model check (the stairway covers the rest): its up/down
# walk is imported here, into a module of the bench's own, to be measured against the stairway.
PYTEST_ALEMBIC_MODULE = "tests/migrations/test_bench_pytest_alembic.py"
PYTEST_ALEMBIC = f"{PYTEST_ALEMBIC_MODULE}::test_up_down_consistency"
MARKER = re.compile(r"^-- Running (upgrade|downgrade) (\S*) -> (\S*)$", re.MULTILINE)


def offline_sql(project: Path, url: str, *alembic_args: str) -> dict[str, str]:
    """Alembic's own DDL per revision (from --sql), minus its version-table bookkeeping."""
    output = subprocess.run(
        [".venv/bin/alembic", *alembic_args, "--sql"],
        cwd=project,
        env=clean_env(DATABASE_URL=url),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    parts = MARKER.split(output)
    scripts = {}
    # split() yields: preamble, then (direction, from, to, body) for every revision.
    for index in range(1, len(parts), 4):
        direction, source, target, body = parts[index : index + 4]
        statements = [
            statement.strip()
            for statement in body.split(";\n")
            if statement.strip()
            and "alembic_version" not in statement
            and statement.strip() not in ("BEGIN", "COMMIT")
        ]
        scripts[target if direction == "upgrade" else source] = ";\n".join(statements) + ";"
    return scripts


def floor_steps(project: Path, url: str, head: str) -> list[str]:
    """Up, down, up for every revision, base to head: the stairway's work as plain SQL."""
    ups = offline_sql(project, url, "upgrade", "heads")
    downs = offline_sql(project, url, "downgrade", f"{head}:base")
    return [step for revision in ups for step in (ups[revision], downs[revision], ups[revision])]


async def _run_floor(dsn: str, steps: list[str]) -> float:
    connection = await asyncpg.connect(dsn)
    try:
        start = time.perf_counter()
        # One round trip per step; a multi-statement script runs as one implicit transaction.
        for step in steps:
            await connection.execute(step)
        return time.perf_counter() - start
    finally:
        await connection.close()


def run_floor(steps: list[str]) -> float:
    with scratch_database() as dsn:
        return asyncio.run(_run_floor(dsn, steps))


def mysql_client_seconds(script: str, database: str = "") -> float:
    """Wall time of one `mariadb` client process running the script, start and connection included.

    The bench's own environment has no MySQL driver; the client sends one statement per round
    trip, on one connection, and MySQL commits each DDL statement on its own anyway.
    """
    client = shutil.which("mariadb") or shutil.which("mysql")
    if client is None:
        raise OSError("no mariadb or mysql client on PATH: install mariadb-client")
    command = [client, f"--host={MYSQL_HOST}", f"--port={MYSQL_PORT}", f"--user={MYSQL_USER}"]
    start = time.perf_counter()
    finished = subprocess.run(
        [*command, "--batch", *([database] if database else [])],
        input=script,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - start
    if finished.returncode != 0:
        raise RuntimeError(f"the MariaDB floor script failed: {finished.stderr.strip()}")
    return seconds


def run_mysql_floor(steps: list[str]) -> float:
    with scratch_mysql_database("bench") as name:
        return mysql_client_seconds("\n".join(steps), name)


@dataclass
class Pair:
    stairway: PytestRun
    pytest_alembic: PytestRun
    floor: float
    # MariaDB only: an empty script through the client, the part of its floor that is not DDL.
    client_start: float | None = None


@dataclass
class Scaling:
    database: str
    size: int
    revisions: int  # the generated ones plus the baked ones
    pairs: list[Pair] = field(default_factory=list)

    def _median(self, pick: Callable[[Pair], float]) -> float:
        return median([pick(pair) for pair in self.pairs])

    @property
    def stairway_wall(self) -> float:
        return self._median(lambda p: p.stairway.wall)

    @property
    def stairway_test(self) -> float:
        return self._median(lambda p: p.stairway.test_time())

    @property
    def pytest_alembic_wall(self) -> float:
        return self._median(lambda p: p.pytest_alembic.wall)

    @property
    def pytest_alembic_test(self) -> float:
        return self._median(lambda p: p.pytest_alembic.test_time())

    @property
    def floor(self) -> float:
        return self._median(lambda p: p.floor)

    @property
    def client_start(self) -> float | None:
        starts = [pair.client_start for pair in self.pairs if pair.client_start is not None]
        return median(starts) if starts else None

    # Ratios are taken within each pair, then the median, so a noisy moment cancels out.
    @property
    def over_pytest_alembic_wall(self) -> float:
        return self._median(lambda p: ratio(p.stairway.wall, p.pytest_alembic.wall))

    @property
    def over_pytest_alembic_test(self) -> float:
        return self._median(lambda p: ratio(p.stairway.test_time(), p.pytest_alembic.test_time()))

    @property
    def over_floor_wall(self) -> float:
        return self._median(lambda p: ratio(p.stairway.wall, p.floor))

    @property
    def over_floor_test(self) -> float:
        return self._median(lambda p: ratio(p.stairway.test_time(), p.floor))

    @property
    def status(self) -> str:
        runs = [run for pair in self.pairs for run in (pair.stairway, pair.pytest_alembic)]
        failed = sorted({run.summary() for run in runs if not run.ok})
        return "ok" if not failed else "; ".join(failed)


def measure(
    project: Path, package: str, url: str, scratch: Path, size: int, repeats: int
) -> Scaling:
    """`url` is the SQLAlchemy URL the baked tests get, on PostgreSQL or MariaDB."""
    ids = generate(project, package, size)
    (project / PYTEST_ALEMBIC_MODULE).write_text(
        "from pytest_alembic.tests import test_up_down_consistency\n\n"
        '__all__ = ["test_up_down_consistency"]\n'
    )
    # Compiled once here, so no timed run pays for writing the bytecode of fresh files.
    subprocess.run([".venv/bin/python", "-m", "compileall", "-q", "migrations"], cwd=project)
    steps = floor_steps(project, url, ids[-1])
    mysql = url.startswith("mysql")
    result = Scaling("MariaDB" if mysql else "PostgreSQL", size, len(steps) // 3)
    for repeat in range(repeats):
        # Alternate which goes first, so neither always runs on a warmer machine.
        runs = {}
        order = [STAIRWAY, PYTEST_ALEMBIC] if repeat % 2 == 0 else [PYTEST_ALEMBIC, STAIRWAY]
        for test in order:
            runs[test] = run_pytest(project, url, [test], scratch)
        floor = run_mysql_floor(steps) if mysql else run_floor(steps)
        start = mysql_client_seconds("") if mysql else None
        result.pairs.append(Pair(runs[STAIRWAY], runs[PYTEST_ALEMBIC], floor, start))
    return result


@contextmanager
def bench_url(database: str) -> Iterator[str]:
    """A scratch database of the bench's own for a bake answering `database`."""
    if database == "mysql":
        with scratch_mysql_url() as url:
            yield url
    else:
        with scratch_database() as dsn:
            yield sqlalchemy_url(dsn)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="25,100,400", help="revision counts, e.g. 25,100")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--databases", default="postgresql,mysql", help="bake answers")
    args = parser.parse_args()
    # Imported here: report imports this module for its types.
    from bench import report

    scratch = Path(tempfile.mkdtemp(prefix="bench-"))
    measured = []
    try:
        for database in args.databases.split(","):
            project = bake(scratch / database, database=database)
            install(project)
            package = next((project / "src").iterdir()).name
            with bench_url(database) as url:
                for size in [int(size) for size in args.sizes.split(",")]:
                    print(f"[bench] {database} at N={size}", file=sys.stderr, flush=True)
                    measured.append(measure(project, package, url, scratch, size, args.repeats))
    finally:
        remove(scratch)
    print(report.scaling(measured, args.repeats))


if __name__ == "__main__":
    main()
