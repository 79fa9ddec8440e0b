"""Schema per tenant at scale: `alembic upgrade head` of one revision (one nullable column) over
T tenants, one tenant after another (MIGRATION_TENANT_WORKERS=1, the path every run took before
the fan-out runner) and with the runner (its default workers), in one run; and creating T
tenants with `python -m <pkg>.tenants create --from-file`, both ways.

uv run python -m bench.tenants [--sizes 100,1000] [--repeats 3]
"""

import argparse
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import clean_env, install, median, remove, scratch_database, sqlalchemy_url
from bench.report import table
from tests.helpers import TENANT_COLUMN_REVISION, bake

SEQUENTIAL, RUNNER = "one after another", "fan-out runner"
WORKERS = {SEQUENTIAL: "1", RUNNER: "4"}
# The runner's closing line: the tenant phase alone, without start-up or the shared schema.
TENANT_PHASE = re.compile(r"Tenants: (\d+)/\d+ done, (\d+) failed, in ([0-9.]+)s")
REVISION_ID = "be0c0000c01a"


@dataclass
class Timing:
    wall: list[float] = field(default_factory=list)
    # Seconds of the tenant phase, from the runner's closing line.
    tenants: list[float] = field(default_factory=list)


@dataclass
class Result:
    size: int
    upgrade: dict[str, Timing]
    create: dict[str, Timing]
    no_op_wall: list[float] = field(default_factory=list)


class Project:
    def __init__(self, path: Path, url: str) -> None:
        self.path = path
        self.package = next((path / "src").iterdir()).name
        self.url = url

    def run(self, *arguments: str, workers: str = "4", url: str | None = None) -> Timing:
        started = time.perf_counter()
        finished = subprocess.run(
            [str(self.path / ".venv/bin/python"), "-m", *arguments],
            cwd=self.path,
            env=clean_env(DATABASE_URL=url or self.url, MIGRATION_TENANT_WORKERS=workers),
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - started
        if finished.returncode != 0:
            raise RuntimeError(f"{' '.join(arguments)} failed:\n{finished.stderr[-2000:]}")
        timing = Timing([wall])
        phase = TENANT_PHASE.search(finished.stderr)
        if phase:
            assert phase.group(2) == "0", finished.stderr[-2000:]
            timing.tenants.append(float(phase.group(3)))
        return timing

    def alembic(self, *arguments: str, workers: str = "4", url: str | None = None) -> Timing:
        return self.run("alembic", *arguments, workers=workers, url=url)

    def create(self, names: Path, workers: str, url: str) -> Timing:
        return self.run(
            f"{self.package}.tenants", "create", "--from-file", str(names), workers=workers, url=url
        )


def names_file(directory: Path, prefix: str, size: int) -> Path:
    path = directory / f"{prefix}.txt"
    path.write_text("".join(f"{prefix}{index:05d}\n" for index in range(size)))
    return path


def measure_size(project: Project, scratch: Path, size: int, repeats: int) -> Result:
    result = Result(size, {SEQUENTIAL: Timing(), RUNNER: Timing()}, {})
    project.alembic("upgrade", "head")
    project.create(names_file(scratch, "t", size), WORKERS[RUNNER], project.url)
    down_revision = current_head(project)
    revision = project.path / "migrations/versions" / f"{REVISION_ID}_bench.py"
    revision.write_text(
        TENANT_COLUMN_REVISION.format(
            message="Bench: one nullable column in every tenant.",
            revision=REVISION_ID,
            down_revision=down_revision,
            column="bench_note",
        )
    )
    try:
        for repeat in range(repeats):
            # Alternate which goes first, so neither always runs on a warmer machine.
            order = [SEQUENTIAL, RUNNER] if repeat % 2 == 0 else [RUNNER, SEQUENTIAL]
            for path in order:
                timing = project.alembic("upgrade", "head", workers=WORKERS[path])
                result.upgrade[path].wall += timing.wall
                result.upgrade[path].tenants += timing.tenants
                project.alembic("downgrade", "-1")
            # Start-up, the shared schema and reading every tenant's version: the fixed cost.
            result.no_op_wall += project.alembic("upgrade", down_revision).wall
    finally:
        revision.unlink()
    for path in (SEQUENTIAL, RUNNER):
        result.create[path] = Timing()
    for repeat in range(repeats):
        order = [SEQUENTIAL, RUNNER] if repeat % 2 == 0 else [RUNNER, SEQUENTIAL]
        for path in order:
            # A database of its own each time: the tenants of other runs would weigh on it.
            with scratch_database() as dsn:
                url = sqlalchemy_url(dsn)
                project.alembic("upgrade", "head", url=url)
                prefix = f"c{repeat}{'s' if path == SEQUENTIAL else 'r'}"
                timing = project.create(names_file(scratch, prefix, size), WORKERS[path], url)
            result.create[path].wall += timing.wall
            result.create[path].tenants += timing.tenants
    return result


def current_head(project: Project) -> str:
    heads = subprocess.run(
        [str(project.path / ".venv/bin/alembic"), "heads"],
        cwd=project.path,
        env=clean_env(DATABASE_URL=project.url),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return heads[0]


def per_tenant_ms(seconds: list[float], size: int) -> str:
    return f"{median(seconds) * 1000 / size:.1f}"


def report(results: list[Result], repeats: int) -> str:
    upgrade_rows = []
    create_rows = []
    for result in results:
        fixed = median(result.no_op_wall)
        for path in (SEQUENTIAL, RUNNER):
            upgrade = result.upgrade[path]
            upgrade_rows.append(
                [
                    str(result.size),
                    path,
                    f"{median(upgrade.wall):.2f}",
                    per_tenant_ms([wall - fixed for wall in upgrade.wall], result.size),
                    per_tenant_ms(upgrade.tenants, result.size),
                ]
            )
            create = result.create[path]
            create_rows.append(
                [
                    str(result.size),
                    path,
                    f"{median(create.wall):.2f}",
                    per_tenant_ms(create.wall, result.size),
                    per_tenant_ms(create.tenants, result.size),
                ]
            )
        upgrade_rows.append([str(result.size), "nothing to do", f"{fixed:.2f}", "", ""])
    return (
        f"## Schema per tenant: upgrade of one revision (median of {repeats})\n\n"
        "*ms/tenant (wall)* is (wall - the nothing-to-do run's wall) / tenants; *ms/tenant "
        "(tenant phase)* is the runner's own measure of the tenants alone. Goal: <= 15 ms per "
        "tenant at 1,000, flat from 100.\n\n"
        + table(
            ["tenants", "path", "wall s", "ms/tenant (wall)", "ms/tenant (tenant phase)"],
            upgrade_rows,
        )
        + f"\n\n## Schema per tenant: creating tenants (median of {repeats})\n\n"
        + table(
            ["tenants", "path", "wall s", "ms/tenant (wall)", "ms/tenant (tenant phase)"],
            create_rows,
        )
    )


def measure(project_path: Path, sizes: list[int], repeats: int) -> str:
    scratch = Path(tempfile.mkdtemp(prefix="bench-tenants-"))
    results = []
    try:
        for size in sizes:
            with scratch_database() as dsn:
                project = Project(project_path, sqlalchemy_url(dsn))
                results.append(measure_size(project, scratch, size, repeats))
    finally:
        remove(scratch)
    return report(results, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="100,1000", help="tenant counts, e.g. 100,1000")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bench-"))
    try:
        project = bake(scratch / "tenants", tenancy="schema-per-tenant")
        install(project)
        sizes = [int(size) for size in args.sizes.split(",")]
        print(measure(project, sizes, args.repeats))
    finally:
        remove(scratch)


if __name__ == "__main__":
    main()
