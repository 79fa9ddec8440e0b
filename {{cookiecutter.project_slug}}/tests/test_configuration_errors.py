"""Bad configuration stops `alembic` and the app with one line: what is wrong and what to do.

Every case runs as a real `alembic upgrade head` process and through the app's start-up, in a
directory without .env; the password in the URL never appears in the output.
"""

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
{%- if cookiecutter.database == "mysql" %}
from sqlalchemy.engine import make_url
{%- endif %}
from starlette.types import Message

from {{ cookiecutter.package_name }}.main import create_app
from {{ cookiecutter.package_name }}.settings import get_settings
from tests.fixtures.scratch_migrations import (
    PROJECT,
    UVICORN,
    alembic,
    alembic_environment,
    run,
    run_each,
    stopped_with_one_line,
)

SECRET = "hunter2-secret"
{%- if cookiecutter.database == "mysql" %}
# Cases that must reach the server itself go to the one the tests run against.
SERVER = make_url(get_settings().database_url)
{%- endif %}
# The app finds alembic.ini through ALEMBIC_INI when it runs outside the project directory.
ALEMBIC_INI = str(PROJECT / "alembic.ini")

# case -> (DATABASE_URL, or None for unset; what the one line must say)
CASES: dict[str, tuple[str | None, list[str]]] = {
    "missing": (None, ["DATABASE_URL is not set", ".env"]),
    "not a URL": (f"{SECRET}@127.0.0.1", ["DATABASE_URL is invalid", "not a URL", "e.g."]),
{%- if cookiecutter.database == "postgresql" %}
    "other driver": (
        f"mysql://app:{SECRET}@127.0.0.1/app",
        ["mysql:// is not supported", "postgresql+asyncpg://"],
    ),
    "unencoded @ in the password": (
        f"postgresql://app:{SECRET}@x@127.0.0.1/app",
        ["URL-encode the password", "%40"],
    ),
    "cannot connect": (
        f"postgresql+asyncpg://app:{SECRET}@127.0.0.1:1/app",
        ["cannot connect", "127.0.0.1:1", "server is running"],
    ),
    "database does not exist": (
        f"postgresql+asyncpg://postgres:{SECRET}@127.0.0.1:5432/test_missing_database",
        ["does not exist", "createdb -h 127.0.0.1 -U postgres test_missing_database"],
    ),
{%- elif cookiecutter.database == "mysql" %}
    "other driver": (
        f"postgresql://app:{SECRET}@127.0.0.1/app",
        ["postgresql:// is not supported", "mysql+aiomysql://"],
    ),
    "unencoded @ in the password": (
        f"mysql://app:{SECRET}@x@127.0.0.1/app",
        ["URL-encode the password", "%40"],
    ),
    "no database": (
        f"mysql://app:{SECRET}@127.0.0.1:3306/",
        ["DATABASE_URL is invalid", "it names no database", "e.g. mysql+aiomysql://"],
    ),
    "narrow charset": (
        f"mysql://app:{SECRET}@127.0.0.1/app?charset=utf8",
        ["charset=utf8 cannot hold all of Unicode", "charset=utf8mb4"],
    ),
    "cannot connect": (
        f"mysql+aiomysql://app:{SECRET}@127.0.0.1:1/app",
        ["cannot connect", "127.0.0.1:1", "server is running"],
    ),
    # The server DATABASE_URL names, with a password its user does not have.
    "access denied": (
        SERVER.set(password=SECRET).render_as_string(hide_password=False),
        ["cannot connect", "Access denied", "fix the user or password in DATABASE_URL"],
    ),
    "database does not exist": (
        SERVER.set(database="test_missing_database").render_as_string(hide_password=False),
        [
            "Unknown database 'test_missing_database'",
            "-e 'CREATE DATABASE `test_missing_database` CHARACTER SET utf8mb4",
            "or fix DATABASE_URL",
        ],
    ),
{%- else %}
    "other driver": (
        f"postgresql://app:{SECRET}@127.0.0.1/app",
        ["postgresql:// is not supported", "sqlite+aiosqlite://"],
    ),
    # Relative to the directory the case runs in, where no such directory exists.
    "cannot connect": (
        "sqlite+aiosqlite:///no/such/directory/app.db",
        ["cannot connect", "unable to open database file", "directory"],
    ),
{%- endif %}
}


@pytest.fixture(scope="module")
def no_dotenv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("no-dotenv")


@pytest.fixture(scope="module")
def alembic_runs(no_dotenv: Path) -> dict[str, subprocess.CompletedProcess[str]]:
    environments = {case: alembic_environment(url) for case, (url, _) in CASES.items()}
{%- if cookiecutter.database == "sqlite" %}
    environments["sqlite:// is converted"] = alembic_environment("sqlite:///converted.db")
{%- endif %}
    return run_each(alembic("upgrade", "head"), environments, cwd=no_dotenv)


@pytest.mark.parametrize("case", CASES)
def test_alembic_says_what_is_wrong_on_one_line(
    case: str, alembic_runs: dict[str, subprocess.CompletedProcess[str]]
) -> None:
    result = alembic_runs[case]

    line = stopped_with_one_line(result)
    for fragment in CASES[case][1]:
        assert fragment in line
    assert SECRET not in result.stderr + result.stdout
{%- if cookiecutter.database == "postgresql" %}


def test_a_bad_migration_url_is_named_as_the_setting_to_fix(no_dotenv: Path) -> None:
    missing = f"postgresql+asyncpg://postgres:{SECRET}@127.0.0.1:5432/test_missing_migrations"
    environment = alembic_environment(
        "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres", MIGRATION_DATABASE_URL=missing
    )

    result = run(alembic("upgrade", "head"), environment, cwd=no_dotenv)

    line = stopped_with_one_line(result)
    assert "test_missing_migrations" in line
    assert line.endswith("or fix MIGRATION_DATABASE_URL")
    assert SECRET not in result.stderr + result.stdout
{%- endif %}
{%- if cookiecutter.database == "sqlite" %}


def test_a_sqlite_scheme_is_converted_to_the_async_driver(
    alembic_runs: dict[str, subprocess.CompletedProcess[str]], no_dotenv: Path
) -> None:
    result = alembic_runs["sqlite:// is converted"]

    assert result.returncode == 0, result.stderr
    assert "Running upgrade" in result.stderr
    assert (no_dotenv / "converted.db").is_file()
{%- endif %}


async def start_app() -> tuple[Message, BaseException | None]:
    """Run the app's lifespan start-up as a server does; the message it answers with."""
    replies: asyncio.Queue[Message] = asyncio.Queue()
    requests: asyncio.Queue[Message] = asyncio.Queue()
    await requests.put({"type": "lifespan.startup"})
    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    task = asyncio.create_task(create_app()(scope, requests.get, replies.put))
    reply = await replies.get()
    if reply["type"] == "lifespan.startup.complete":
        await requests.put({"type": "lifespan.shutdown"})
    try:
        await task
    except Exception as error:
        return reply, error
    return reply, None


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[pytest.MonkeyPatch]:
    """The environment get_settings() reads, in a directory without .env."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ALEMBIC_INI", ALEMBIC_INI)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


@pytest.mark.parametrize("case", CASES)
async def test_app_start_up_says_what_is_wrong_on_one_line(
    case: str, environment: pytest.MonkeyPatch
) -> None:
    url, fragments = CASES[case]
    if url is None:
        environment.delenv("DATABASE_URL", raising=False)
    else:
        environment.setenv("DATABASE_URL", url)

    reply, error = await start_app()

    assert reply["type"] == "lifespan.startup.failed"
    [line] = reply["message"].splitlines()
    for fragment in fragments:
        assert fragment in line
    assert SECRET not in line
    assert error is not None


def test_uvicorn_exits_with_the_line_and_no_traceback(tmp_path: Path) -> None:
    command = [*UVICORN, "--uds", str(tmp_path / "app.sock")]

    environment = alembic_environment(CASES["cannot connect"][0], ALEMBIC_INI=ALEMBIC_INI)

    result = run(command, environment, cwd=tmp_path)

    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "ERROR:    cannot connect to" in result.stderr
    assert "Application startup failed" in result.stderr
    assert SECRET not in result.stderr
