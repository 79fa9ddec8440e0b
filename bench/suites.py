"""The baked default project's whole test suite, and the per-test cost of the app tests."""

from dataclasses import dataclass
from pathlib import Path

from bench.common import PytestRun, median, run_pytest

APP_TESTS = ["tests/test_library_api.py", "tests/test_health.py"]
TRIVIAL_TESTS = "tests/test_bench_trivial.py"
TRIVIAL_COUNT = 30
# A request that touches the database through the rolled-back session and nothing else.
TRIVIAL_SOURCE = f'''"""Written by bench/: the cheapest request test, repeated for a median."""

import pytest
from httpx import AsyncClient


@pytest.mark.parametrize("attempt", range({TRIVIAL_COUNT}))
async def test_trivial_request(client: AsyncClient, attempt: int) -> None:
    assert (await client.get("/authors")).status_code == 200
'''


@dataclass
class SuiteResult:
    label: str
    runs: list[PytestRun]

    @property
    def wall(self) -> float:
        return median([run.wall for run in self.runs])

    @property
    def in_pytest(self) -> float:
        return median([run.test_time() for run in self.runs])

    @property
    def status(self) -> str:
        tests = len(self.runs[0].outcomes) if self.runs else 0
        return f"{tests} tests, " + ", ".join(sorted({run.summary() for run in self.runs}))


def full_suites(
    projects: dict[str, tuple[Path, str]], scratch: Path, repeats: int
) -> list[SuiteResult]:
    """label -> (project, DATABASE_URL); runs interleaved so machine noise hits each alike."""
    results = {label: SuiteResult(label, []) for label in projects}
    for _ in range(repeats):
        for label, (project, url) in projects.items():
            results[label].runs.append(run_pytest(project, url, [], scratch))
    return list(results.values())


@dataclass
class PerTest:
    app_total: float  # setup + call + teardown, median over the app tests
    app_overhead: float  # setup + teardown only: what the rolled-back transaction costs
    trivial_total: float
    trivial_overhead: float
    session_setup: float  # the one-off migration of the session database
    tests: int
    status: str


def per_test(project: Path, url: str, scratch: Path, repeats: int) -> PerTest:
    trivial = project / TRIVIAL_TESTS
    trivial.write_text(TRIVIAL_SOURCE)
    try:
        runs = [
            run_pytest(project, url, [*APP_TESTS, TRIVIAL_TESTS], scratch) for _ in range(repeats)
        ]
    finally:
        trivial.unlink()
    app, app_overhead, easy, easy_overhead, session = [], [], [], [], []
    for run in runs:
        # The first test to ask for a client pays for migrating the session database.
        first = next(iter(run.phases.values()), {})
        session.append(first.get("setup", 0.0))
        for nodeid, phases in list(run.phases.items())[1:]:
            overhead = phases.get("setup", 0.0) + phases.get("teardown", 0.0)
            total = overhead + phases.get("call", 0.0)
            if "test_trivial_request" in nodeid:
                easy.append(total)
                easy_overhead.append(overhead)
            else:
                app.append(total)
                app_overhead.append(overhead)
    return PerTest(
        app_total=median(app),
        app_overhead=median(app_overhead),
        trivial_total=median(easy),
        trivial_overhead=median(easy_overhead),
        session_setup=median(session),
        tests=len(runs[0].phases) if runs else 0,
        status=", ".join(sorted({run.summary() for run in runs})),
    )
