"""Benchmark the template; prints markdown tables. See bench/README.md.

uv run python -m bench.run [--quick] [--sizes 25,100,400]
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from bench import api_throughput, bakes, report, scaling, suites, tenants
from bench.common import install, remove, scratch_database, scratch_mysql_url, sqlalchemy_url
from tests.helpers import bake, mysql_problem


def progress(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="sizes 25,100 and fewer repeats")
    parser.add_argument("--sizes", help="revision counts for the scaling table, e.g. 25,100,400")
    args = parser.parse_args()
    default_sizes = "25,100" if args.quick else "25,100,400"
    args.sizes = [int(size) for size in (args.sizes or default_sizes).split(",")]
    args.bake_repeats, args.suite_repeats, args.scaling_repeats = (
        (2, 1, 1) if args.quick else (5, 3, 3)
    )
    return args


def main() -> None:
    args = parse_args()
    # MariaDB is first used after minutes of PostgreSQL work: say now that it is missing.
    if problem := mysql_problem():
        sys.exit(problem)
    started, load_at_start = time.perf_counter(), os.getloadavg()
    scratch = Path(tempfile.mkdtemp(prefix="bench-"))
    sections = []
    try:
        progress("timing bakes")
        sections.append(report.bakes(bakes.bake_times(args.bake_repeats), args.bake_repeats))

        progress("baking and installing the default project and its SQLite variant")
        postgresql = bake(scratch / "postgresql")
        sqlite = bake(scratch / "sqlite", database="sqlite", docker="no")
        install(postgresql)
        install(sqlite)
        package = next((postgresql / "src").iterdir()).name

        with scratch_database() as dsn:
            url = sqlalchemy_url(dsn)
            progress("timing the full test suites")
            projects = {
                "PostgreSQL (default answers)": (postgresql, url),
                "SQLite (database=sqlite docker=no)": (
                    sqlite,
                    f"sqlite+aiosqlite:///{scratch / 'app.db'}",
                ),
            }
            results = suites.full_suites(projects, scratch, args.suite_repeats)
            sections.append(report.suites(results, args.suite_repeats))

            progress("timing per-test cost")
            per_test = suites.per_test(postgresql, url, scratch, args.suite_repeats)
            sections.append(report.per_test(per_test, args.suite_repeats))

            measured = []
            for size in args.sizes:
                progress(f"migration scaling on PostgreSQL at N={size}")
                measured.append(
                    scaling.measure(postgresql, package, url, scratch, size, args.scaling_repeats)
                )

        progress("baking and installing a database=mysql project")
        mysql = bake(scratch / "mysql", database="mysql")
        install(mysql)
        with scratch_mysql_url() as url:
            for size in args.sizes:
                progress(f"migration scaling on MariaDB at N={size}")
                measured.append(
                    scaling.measure(mysql, package, url, scratch, size, args.scaling_repeats)
                )
        sections.append(report.scaling(measured, args.scaling_repeats))

        progress("API throughput on one uvicorn worker")
        seconds = 1.5 if args.quick else 3.0
        sections.append(api_throughput.measure(postgresql, seconds, args.suite_repeats))

        progress("schema per tenant: upgrades over 100 and 1,000 tenants, and creating them")
        with_tenants = bake(scratch / "tenants", tenancy="schema-per-tenant")
        install(with_tenants)
        sections.append(tenants.measure(with_tenants, [100, 1000], args.suite_repeats))
    finally:
        remove(scratch)
    progress(f"done in {time.perf_counter() - started:.0f} s")
    sections.insert(0, report.machine(load_at_start, os.getloadavg(), os.cpu_count()))
    print("\n\n".join(sections))


if __name__ == "__main__":
    main()
