"""A thousand tenant schemas on a real PostgreSQL: created and upgraded by the fan-out runner.

The tenants are created through the baked CLI (`tenants create --from-file`, which migrates
them with the runner), not cloned with SQL, so each schema is what a real tenant's would be.
"""

import asyncio
from pathlib import Path

import asyncpg
import pytest

from tests.helpers import (
    POSTGRES_SERVER,
    SLUG,
    TENANT_COLUMN_REVISION,
    bake,
    install,
    run,
    scratch_postgres_database,
)

pytestmark = pytest.mark.realdb

TENANTS = 1000


def count(database: str, query: str) -> int:
    async def fetch() -> int:
        connection = await asyncpg.connect(f"postgresql://{POSTGRES_SERVER}/{database}")
        try:
            return int(await connection.fetchval(query))
        finally:
            await connection.close()

    return asyncio.run(fetch())


def test_a_thousand_tenants_are_created_and_upgraded_by_the_runner(
    tmp_path: Path, clean_env: dict[str, str]
) -> None:
    project = bake(tmp_path, tenancy="schema-per-tenant")
    with scratch_postgres_database("template_test") as database:
        env = {
            **install(project, clean_env),
            "DATABASE_URL": f"postgresql+asyncpg://{POSTGRES_SERVER}/{database}",
        }
        run(["alembic", "upgrade", "head"], project, env)
        names = tmp_path / "tenants.txt"
        names.write_text("".join(f"customer_{index:04d}\n" for index in range(TENANTS)))

        create = ["python", "-m", f"{SLUG}.tenants", "create", "--from-file", str(names)]
        created = run(create, project, env)

        assert len(created.stdout.splitlines()) == TENANTS
        assert f"Tenants: {TENANTS}/{TENANTS} done, 0 failed" in created.stderr
        head = run(["alembic", "heads"], project, env).stdout.split()[0]
        (project / "migrations/versions/ab1e00000001_add_note.py").write_text(
            TENANT_COLUMN_REVISION.format(
                message="Add a note to every author.",
                revision="ab1e00000001",
                down_revision=head,
                column="note",
            )
        )

        upgraded = run(["alembic", "upgrade", "head"], project, env)

        assert f"Migrating {TENANTS} tenants on 4 connection(s)" in upgraded.stderr
        assert f"Tenants: {TENANTS}/{TENANTS} done, 0 failed" in upgraded.stderr
        notes = count(
            database, "SELECT count(*) FROM information_schema.columns WHERE column_name = 'note'"
        )
        assert notes == TENANTS + 1  # and tenant_template
        listed = run(["python", "-m", f"{SLUG}.tenants", "list"], project, env).stdout
        assert listed.count("ab1e00000001  at head") == TENANTS
        # Everyone at the target: two queries, no tenant touched.
        again = run(["alembic", "upgrade", "head"], project, env)
        assert "Migrating" not in again.stderr and "Nothing to do" in again.stderr
