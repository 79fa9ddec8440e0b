"""Behind a real PgBouncer in transaction pooling mode (tests/fixtures/pgbouncer.py).

The app needs DATABASE_POOLER=pgbouncer: without it, asyncpg's prepared statements meet other
clients' on the server connections PgBouncer shares out. Alembic holds a session lock and
session settings, which a transaction pooler loses: it refuses to run through one, and
MIGRATION_DATABASE_URL takes it straight to PostgreSQL (docs/runbook.md, "Behind PgBouncer").
"""

import asyncio
import subprocess
{%- if cookiecutter.tenancy == "schema-per-tenant" %}
import sys
{%- endif %}
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from alembic.command import upgrade
from alembic.config import Config
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from {{ cookiecutter.package_name }}.db import create_app_engine, create_engine
from {{ cookiecutter.package_name }}.main import create_app
from {{ cookiecutter.package_name }}.migrator.config import settings_for
from {{ cookiecutter.package_name }}.settings import ConfigurationError, Settings, describe, get_settings
from tests.databases import connected, query, run_alembic
from tests.fixtures.pgbouncer import PgBouncer, running_pgbouncer
from tests.fixtures.scratch_migrations import (
    HUNG_SECONDS,
    PROJECT,
    UVICORN,
    WAIT_FOR_QUEUED_UPGRADES,
    ScratchMigrations,
    alembic,
    alembic_environment,
    revisions_and_tables,
    run,
    run_at_once,
    stopped_with_one_line,
)

CLIENTS = 20
REQUESTS = 500
{%- if cookiecutter.tenancy == "schema-per-tenant" %}
TENANT = "acme"
TENANTS_CLI = "{{ cookiecutter.package_name }}.tenants"
{%- endif %}
{%- if cookiecutter.example_model == "yes" %}
COUNT_AUTHORS = "SELECT count(*) FROM {{ 'tenant_acme.' if cookiecutter.tenancy == "schema-per-tenant" }}authors"
{%- endif %}
URL = "postgresql+asyncpg://app@db.internal:6432/app"
DIRECT_URL = "postgresql+asyncpg://app@db.internal:5432/app"
LOST = "where the migration lock and settings would not last past a transaction"
THROUGH_PGBOUNCER = "through PgBouncer"
PAGES_OVER = text("SELECT count(*) FROM pg_class WHERE relpages > :pages")
TABLE_NAMED = text("SELECT to_regclass(:name)")
SHOW_STATEMENT_TIMEOUT = text("SHOW statement_timeout")
UPGRADES = 4
RECORD_RUN = """
    op.execute("INSERT INTO upgrade_runs (revision) VALUES ('{revision}')")
"""


@pytest.fixture
def pgbouncer() -> Iterator[PgBouncer]:
    """A PgBouncer of this test's own, in front of the server of DATABASE_URL."""
    with running_pgbouncer(get_settings().database_url) as bouncer:
        yield bouncer


def test_database_pooler_is_none_or_pgbouncer() -> None:
    assert Settings(database_url=URL).database_pooler == "none"
    with pytest.raises(ValidationError) as refused:
        Settings(database_url=URL, database_pooler="pgpool")

    assert describe(refused.value) == (
        "DATABASE_POOLER is invalid: Input should be 'none' or 'pgbouncer'"
    )


def test_alembic_connects_with_migration_database_url_when_it_is_set() -> None:
    behind_pgbouncer = Settings(
        database_url=URL,
        database_pooler="pgbouncer",
        # Written as libpq tools take it: converted to the app's driver like DATABASE_URL.
        migration_database_url=DIRECT_URL.replace("+asyncpg", ""),
    )
    config = Config()
    config.attributes["settings"] = behind_pgbouncer

    migrations = settings_for(config)

    assert (migrations.database_url, migrations.database_pooler) == (DIRECT_URL, "none")
    config.attributes["settings"] = Settings(database_url=URL, database_pooler="pgbouncer")
    assert settings_for(config).database_url == URL


async def errors_of_transactions_at_once(engine: AsyncEngine) -> list[str]:
    """The errors of CLIENTS clients running REQUESTS short transactions between them."""
    errors: list[str] = []

    async def client(number: int) -> None:
        for step in range(REQUESTS // CLIENTS):
            try:
                async with engine.begin() as connection:
                    await connection.execute(PAGES_OVER, {"pages": number + step})
                    await connection.execute(TABLE_NAMED, {"name": f"table_{number}"})
            except DBAPIError as error:
                errors.append(str(error.orig))

    await asyncio.gather(*(client(number) for number in range(CLIENTS)))
    return errors


async def test_prepared_statements_break_through_pgbouncer_unless_told(
    pgbouncer: PgBouncer, database_url: str
) -> None:
    async def errors_with(pooler: str) -> list[str]:
        settings = Settings(database_url=pgbouncer.url_for(database_url), database_pooler=pooler)
        engine = create_engine(settings)
        try:
            return await errors_of_transactions_at_once(engine)
        finally:
            await engine.dispose()

    told = await errors_with("pgbouncer")
    untold = await errors_with("none")

    assert told == []
    # "prepared statement "__asyncpg_stmt_1f__" does not exist", or "already exists".
    assert any("prepared statement" in error for error in untold), untold[:3]


async def test_the_app_keeps_its_statement_timeout_behind_pgbouncer(database_url: str) -> None:
    # One server connection: every transaction below runs on it, one after another.
    with running_pgbouncer(database_url, server_connections=1) as bouncer:
        settings = Settings(
            database_url=bouncer.url_for(database_url),
            database_pooler="pgbouncer",
            database_statement_timeout="200ms",
        )
        app_engine = create_app_engine(settings)
        other_client = create_engine(settings)
        try:
            async with app_engine.connect() as connection:
                app_limit = await connection.scalar(SHOW_STATEMENT_TIMEOUT)
                await connection.rollback()
                with pytest.raises(DBAPIError, match="statement timeout"):
                    await connection.execute(text("SELECT pg_sleep(5)"))
            # The server connection goes to the next client without the app's setting.
            async with other_client.connect() as connection:
                left_behind = await connection.scalar(SHOW_STATEMENT_TIMEOUT)
        finally:
            await app_engine.dispose()
            await other_client.dispose()
    async with connected(database_url) as connection:
        server_default = await connection.scalar(SHOW_STATEMENT_TIMEOUT)

    assert app_limit == "200ms"
    assert left_behind == server_default


async def test_the_app_without_database_pooler_stops_at_start_naming_it(
    pgbouncer: PgBouncer, database_url: str
) -> None:
    app = create_app(Settings(database_url=pgbouncer.url_for(database_url)))

    with pytest.raises(ConfigurationError) as stopped:
        async with app.router.lifespan_context(app):
            pass

    # PgBouncer refuses the statement_timeout the app asks for at connect.
    assert "unsupported startup parameter" in str(stopped.value)
    assert "set DATABASE_POOLER=pgbouncer" in str(stopped.value)


@pytest.fixture
def app_behind_pgbouncer(pgbouncer: PgBouncer, database_url: str, tmp_path: Path) -> Iterator[Path]:
    """The app under uvicorn, its database migrated, reached through PgBouncer; its socket."""
    run_alembic(database_url, lambda config: upgrade(config, "head"))
{%- if cookiecutter.tenancy == "schema-per-tenant" %}
    created = run(
        [sys.executable, "-m", TENANTS_CLI, "create", TENANT], alembic_environment(database_url)
    )
    assert created.returncode == 0, created.stderr
{%- endif %}
    socket = tmp_path / "app.sock"
    log = tmp_path / "uvicorn.log"
    environment = alembic_environment(pgbouncer.url_for(database_url), DATABASE_POOLER="pgbouncer")
    with log.open("w") as output:
        server = subprocess.Popen(
            [*UVICORN, "--uds", str(socket), "--no-access-log"],
            env=environment,
            cwd=PROJECT,
            stderr=output,
        )
    try:
        while not socket.exists() and server.poll() is None:
            time.sleep(0.05)
        assert server.poll() is None, log.read_text()
        yield socket
    finally:
        server.terminate()
        server.wait(timeout=HUNG_SECONDS)
    assert "Traceback" not in log.read_text(), log.read_text()


async def next_request(client: httpx.AsyncClient, step: int, author: int) -> httpx.Response:
{%- if cookiecutter.example_model == "yes" %}
    """Write an author, read it back, list authors, check health; and again."""
    if step % 4 == 0:
        email = f"author-{author}-{step}@example.com"
        return await client.post("/authors", json={"name": "A. Author", "email": email})
    if step % 4 == 1:
        return await client.get(f"/authors/{author}")
    if step % 4 == 2:
        return await client.get("/authors", params={"limit": 10})
{%- else %}
    """Check health: it reads the version table{{ "s" if cookiecutter.tenancy == "schema-per-tenant" }}."""
{%- endif %}
    return await client.get("/health")


async def outcomes_of_requests(socket: Path) -> Counter[str]:
    """REQUESTS requests, CLIENTS at a time: how many ended how ("GET 200", an error)."""
    outcomes: Counter[str] = Counter()
    transport = httpx.AsyncHTTPTransport(uds=str(socket))
{%- if cookiecutter.tenancy == "schema-per-tenant" %}
    headers = {"X-Tenant": TENANT}
{%- else %}
    headers: dict[str, str] = {}
{%- endif %}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://app", headers=headers, timeout=HUNG_SECONDS
    ) as client:

        async def client_session(number: int) -> None:
            author = 0
            for step in range(REQUESTS // CLIENTS):
                try:
                    response = await next_request(client, step, author or number)
                except httpx.HTTPError as error:
                    outcomes[f"{type(error).__name__}: {error}"] += 1
                    continue
                outcomes[f"{response.request.method} {response.status_code}"] += 1
                if response.status_code == 201:
                    author = response.json()["id"]

        await asyncio.gather(*(client_session(number) for number in range(CLIENTS)))
    return outcomes


def test_the_app_serves_500_requests_at_concurrency_20_through_pgbouncer(
    app_behind_pgbouncer: Path, pgbouncer: PgBouncer, database_url: str
) -> None:
    outcomes = asyncio.run(outcomes_of_requests(app_behind_pgbouncer))

    failed = {outcome: n for outcome, n in outcomes.items() if not outcome.endswith(("200", "201"))}
    assert failed == {}
    assert outcomes.total() == REQUESTS
{%- if cookiecutter.example_model == "yes" %}
    assert query(database_url, COUNT_AUTHORS) == [(outcomes["POST 201"],)]
{%- endif %}
    assert pgbouncer.logins(database_url) > 0


@pytest.mark.parametrize(
    ("settings", "refusal"),
    [
        (
            {"DATABASE_POOLER": "pgbouncer"},
            f"DATABASE_POOLER=pgbouncer: DATABASE_URL goes through PgBouncer, {LOST}; "
            "set MIGRATION_DATABASE_URL to a URL straight to PostgreSQL",
        ),
        (
            {},
            "DATABASE_URL (127.0.0.1:{port}) goes through a connection pooler such as "
            f"PgBouncer, {LOST}; set MIGRATION_DATABASE_URL to a URL straight to PostgreSQL",
        ),
        (
            {"MIGRATION_DATABASE_URL": THROUGH_PGBOUNCER},
            "MIGRATION_DATABASE_URL (127.0.0.1:{port}) goes through a connection pooler such "
            f"as PgBouncer, {LOST}; point it straight at PostgreSQL",
        ),
    ],
    ids=["declared", "detected", "migration-url-through-pgbouncer"],
)
def test_alembic_upgrade_through_pgbouncer_refuses_on_one_line(
    pgbouncer: PgBouncer, database_url: str, settings: dict[str, str], refusal: str
) -> None:
    through = pgbouncer.url_for(database_url)
    given = {name: value.replace(THROUGH_PGBOUNCER, through) for name, value in settings.items()}
    environment = alembic_environment(through, **given)

    result = run(alembic("upgrade", "head"), environment)

    line = stopped_with_one_line(result)
    assert line.startswith(f"alembic: {refusal.format(port=pgbouncer.port)} ("), line
    assert revisions_and_tables(database_url) == (set(), set())


def test_concurrent_upgrades_through_pgbouncer_all_refuse(
    pgbouncer: PgBouncer, database_url: str
) -> None:
    environment = alembic_environment(pgbouncer.url_for(database_url))

    results = run_at_once(alembic("upgrade", "head"), environment, UPGRADES)

    lines = [stopped_with_one_line(result) for result in results]
    # Each says to set MIGRATION_DATABASE_URL; a run whose connection met another client's
    # prepared statements in PgBouncer stops at connect, and says so.
    assert all("PgBouncer" in line and "MIGRATION_DATABASE_URL" in line for line in lines), lines
    assert revisions_and_tables(database_url) == (set(), set())


def test_concurrent_upgrades_behind_pgbouncer_apply_each_revision_once(
    tmp_path: Path, pgbouncer: PgBouncer, database_url: str
) -> None:
    migrations = ScratchMigrations(tmp_path)
    migrations.add(
        "b0b0b0b00001",
        upgrade=[
            'op.create_table("upgrade_runs", sa.Column("revision", sa.String(12)))',
            RECORD_RUN.format(revision="b0b0b0b00001"),
            WAIT_FOR_QUEUED_UPGRADES.format(others=UPGRADES - 1),
        ],
    )
    migrations.add(
        "b0b0b0b00002",
        upgrade=[
            'op.create_table("widgets", sa.Column("id", sa.Integer, primary_key=True))',
            RECORD_RUN.format(revision="b0b0b0b00002"),
        ],
    )
    # The deploy of a service behind PgBouncer: the app's settings, and the direct URL.
    environment = alembic_environment(
        pgbouncer.url_for(database_url),
        DATABASE_POOLER="pgbouncer",
        MIGRATION_DATABASE_URL=database_url,
        MIGRATION_STATEMENT_TIMEOUT="10min",
    )

    results = run_at_once(migrations.command("upgrade", "head"), environment, UPGRADES)

    assert [result.returncode for result in results] == [0] * UPGRADES, [
        result.stderr for result in results
    ]
    assert revisions_and_tables(database_url)[0] == {"b0b0b0b00002"}
    assert query(database_url, "SELECT waiting FROM lock_waiters") == [(UPGRADES - 1,)]
    assert sorted(query(database_url, "SELECT revision FROM upgrade_runs")) == [
        ("b0b0b0b00001",),
        ("b0b0b0b00002",),
    ]
    # Straight to PostgreSQL: none of them went through the pooler.
    assert pgbouncer.logins(database_url) == 0
