"""Markdown tables of the bench's results."""

from collections.abc import Callable

from bench.common import median
from bench.scaling import Scaling
from bench.suites import PerTest, SuiteResult

# Issue 7's targets at the largest size: stairway / pytest-alembic and stairway / floor.
MAX_OVER_PYTEST_ALEMBIC = 1 / 3
MAX_OVER_FLOOR = 6.0


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        return (
            "| "
            + " | ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True))
            + " |"
        )

    return "\n".join(
        [line(headers), line(["-" * width for width in widths])] + [line(r) for r in rows]
    )


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def machine(start: tuple[float, ...], end: tuple[float, ...], cpus: int | None) -> str:
    def load(averages: tuple[float, ...]) -> str:
        return "/".join(f"{value:.1f}" for value in averages)

    return (
        f"Machine: {cpus} CPUs; load average (1/5/15 min) {load(start)} at the start, "
        f"{load(end)} at the end. Shared machine: compare numbers within one run."
    )


def bakes(rows: list[tuple[str, float]], repeats: int) -> str:
    body = [[label, ms(seconds)] for label, seconds in rows]
    return f"## Bake time (median of {repeats})\n\n" + table(["answers", "ms"], body)


def suites(results: list[SuiteResult], repeats: int) -> str:
    body = [[r.label, f"{r.wall:.2f}", f"{r.in_pytest:.2f}", r.status] for r in results]
    headers = ["baked project on", "wall s", "in tests s", "result"]
    return f"## Full test suite (median of {repeats})\n\n" + table(headers, body)


def per_test(result: PerTest, repeats: int) -> str:
    body = [
        ["app test (setup + call + teardown)", ms(result.app_total)],
        ["app test fixture overhead (setup + teardown)", ms(result.app_overhead)],
        ["trivial request test (setup + call + teardown)", ms(result.trivial_total)],
        ["trivial request fixture overhead (setup + teardown)", ms(result.trivial_overhead)],
        ["session setup: migrate the shared database once", ms(result.session_setup)],
    ]
    title = (
        f"## Per-test cost on PostgreSQL (medians, {result.tests} tests x {repeats} runs; "
        f"{result.status})"
    )
    return f"{title}\n\n" + table(["measure", "ms"], body)


def scaling(results: list[Scaling], repeats: int) -> str:
    headers = [
        "database",
        "N",
        "revisions",
        "stairway s",
        "pytest-alembic s",
        "floor s",
        "stairway/pytest-alembic",
        "stairway/floor",
        "stairway ms/rev",
        "pytest-alembic ms/rev",
        "result",
    ]
    by_database: dict[str, list[Scaling]] = {}
    for result in results:
        by_database.setdefault(result.database, []).append(result)
    body = [
        [
            r.database,
            str(r.size),
            str(r.revisions),
            f"{r.stairway_wall:.2f} ({r.stairway_test:.2f})",
            f"{r.pytest_alembic_wall:.2f} ({r.pytest_alembic_test:.2f})",
            f"{r.floor:.3f}",
            f"{r.over_pytest_alembic_wall:.3f} ({r.over_pytest_alembic_test:.3f})",
            f"{r.over_floor_wall:.1f} ({r.over_floor_test:.1f})",
            marginal(previous, r, lambda x: x.stairway_test),
            marginal(previous, r, lambda x: x.pytest_alembic_test),
            r.status,
        ]
        for rows in by_database.values()
        for previous, r in zip([None, *rows], rows, strict=False)
    ]
    title = f"## Migration-suite scaling (medians of {repeats} paired runs)"
    legend = [
        "Pytest times are subprocess wall time, (in brackets) the test's own setup + call + "
        "teardown inside pytest.",
        "The floor is the same DDL, up, down, up per revision, on one connection: sent by "
        "asyncpg on PostgreSQL, one round trip per step.",
        "*ms/rev* is the in-test cost of each extra revision since the previous N of the same "
        "database: flat when a suite scales linearly.",
    ]
    starts = [r.client_start for r in results if r.client_start is not None]
    if starts:
        legend.insert(
            2,
            "On MariaDB the floor is one `mariadb` client process reading the script, one round "
            "trip per statement, its start and connection included "
            f"(an empty script: {ms(median(starts))} ms).",
        )
    verdicts = [targets(rows[-1]) for rows in by_database.values()]
    return "\n\n".join([title, table(headers, body), "\n".join(legend), *verdicts])


def marginal(previous: Scaling | None, current: Scaling, pick: Callable[[Scaling], float]) -> str:
    if previous is None:
        return "-"
    extra = current.revisions - previous.revisions
    return f"{(pick(current) - pick(previous)) / extra * 1000:.1f}"


def targets(largest: Scaling) -> str:
    def verdict(value: float, limit: float) -> str:
        return "met" if value <= limit else "MISSED"

    return "\n".join(
        [
            f"Targets at N={largest.size} on {largest.database}:",
            f"- stairway >= 3x faster than pytest-alembic: "
            f"{1 / largest.over_pytest_alembic_wall:.1f}x wall "
            f"({verdict(largest.over_pytest_alembic_wall, MAX_OVER_PYTEST_ALEMBIC)}), "
            f"{1 / largest.over_pytest_alembic_test:.1f}x in tests "
            f"({verdict(largest.over_pytest_alembic_test, MAX_OVER_PYTEST_ALEMBIC)})",
            f"- stairway within 6x of the floor: "
            f"{largest.over_floor_wall:.1f}x wall "
            f"({verdict(largest.over_floor_wall, MAX_OVER_FLOOR)}), "
            f"{largest.over_floor_test:.1f}x in tests "
            f"({verdict(largest.over_floor_test, MAX_OVER_FLOOR)})",
        ]
    )
