"""Bad configuration stops `alembic` and the app with one line: what is wrong and what to do.

Every case runs as a real `alembic upgrade head` process (all at once, to keep the suite fast)
and through the app's start-up; the password in the URL never appears in the output.
"""

import asyncio
{%- if cookiecutter.database == "postgresql" %}
import socketserver
import struct
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import pool, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
{%- else %}
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
{%- endif %}
from starlette.types import Message

from {{ cookiecutter.package_name }}.main import app
from {{ cookiecutter.package_name }}.settings import get_settings
{%- if cookiecutter.database == "postgresql" %}
from tests.databases import scratch_database
{%- endif %}
from tests.fixtures.scratch_migrations import PROJECT, alembic_environment

SECRET = "hunter2-secret"
{%- if cookiecutter.database == "postgresql" %}
# Every character that needs URL-encoding in a password.
AWKWARD_PASSWORD = "p%w@d:s/1"
SSL_REQUEST, GSSENC_REQUEST = 80877103, 80877104
{%- endif %}

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
    "unreachable host": (
        f"postgresql+asyncpg://app:{SECRET}@127.0.0.1:1/app",
        ["cannot connect", "127.0.0.1:1", "server is running"],
    ),
    "database does not exist": (
        f"postgresql+asyncpg://postgres:{SECRET}@127.0.0.1:5432/"
        f"test_{{ cookiecutter.project_slug }}_missing_{uuid.uuid4().hex[:12]}",
        ["does not exist", "createdb -h 127.0.0.1 -U postgres test_"],
    ),
    # The URL points at a fake server (below): the real one trusts 127.0.0.1 connections.
    "wrong password": (
        f"postgresql+asyncpg://app:{SECRET}@127.0.0.1:{{ '{{port}}' }}/app",
        ["password authentication failed", "fix the user or password", "URL-encode"],
    ),
{%- else %}
    "other driver": (
        f"postgresql://app:{SECRET}@127.0.0.1/app",
        ["postgresql:// is not supported", "sqlite+aiosqlite://"],
    ),
    "unopenable file": (
        "sqlite+aiosqlite:///{tmp}/no/such/directory/app.db",
        ["cannot connect", "unable to open database file", "directory"],
    ),
{%- endif %}
}
{%- if cookiecutter.database == "postgresql" %}


def read_exactly(connection: socketserver.BaseRequestHandler, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = connection.request.recv(size - len(data))
        if not chunk:
            raise ConnectionError("client went away")
        data += chunk
    return data


class RejectsPasswords(socketserver.BaseRequestHandler):
    """Speaks just enough of the PostgreSQL protocol to ask for a password and refuse it."""

    server: "FakePostgres"

    def handle(self) -> None:
        while True:
            length, code = struct.unpack("!ii", read_exactly(self, 8))
            if code not in (SSL_REQUEST, GSSENC_REQUEST):
                read_exactly(self, length - 8)
                break
            self.request.sendall(b"N")
        self.request.sendall(b"R" + struct.pack("!ii", 8, 3))  # cleartext password, please
        (length,) = struct.unpack("!i", read_exactly(self, 5)[1:])
        self.server.passwords.append(read_exactly(self, length - 4).rstrip(b"\0").decode())
        fields = b'SFATAL\0VFATAL\0C28P01\0Mpassword authentication failed for user "app"\0\0'
        self.request.sendall(b"E" + struct.pack("!i", len(fields) + 4) + fields)


class FakePostgres(socketserver.ThreadingTCPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), RejectsPasswords)
        self.passwords: list[str] = []
        self.port: int = self.server_address[1]


@pytest.fixture(scope="module")
def fake_postgres() -> Iterator[FakePostgres]:
    with FakePostgres() as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield server
        server.shutdown()


FORMAT = text("SELECT format(:template, CAST(:first AS text), CAST(:second AS text))")


async def _run_as_admin(template: str, first: str, second: str = "") -> None:
    """Run a statement whose identifiers and literals the server itself quotes, with format()."""
    server = make_url(get_settings().database_url).set(database="postgres")
    engine = create_async_engine(server, isolation_level="AUTOCOMMIT", poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            statement = await connection.scalar(
                FORMAT, {"template": template, "first": first, "second": second}
            )
            await connection.exec_driver_sql(str(statement))
    finally:
        await engine.dispose()


@contextmanager
def role_owning_a_scratch_database(password: str) -> Iterator[str]:
    """A login role with this password that owns a new database; its URL, encoded."""
    role = f"test_{{ cookiecutter.project_slug }}_{uuid.uuid4().hex[:12]}"
    asyncio.run(_run_as_admin("CREATE ROLE %I LOGIN PASSWORD %L", role, password))
    try:
        with scratch_database() as url:
            address = make_url(url)
            database = str(address.database)
            asyncio.run(_run_as_admin("ALTER DATABASE %I OWNER TO %I", database, role))
            yield (
                f"postgres://{role}:{quote(password, safe='')}@{address.host}:{address.port}"
                f"/{database}"
            )
    finally:
        asyncio.run(_run_as_admin("DROP ROLE IF EXISTS %I", role))
{%- endif %}


def url_for(case: str, tmp: Path{{ ", fake: FakePostgres" if cookiecutter.database == "postgresql" }}) -> str | None:
    url = CASES[case][0]
    if url is None:
        return None
{%- if cookiecutter.database == "postgresql" %}
    return url.replace("{port}", str(fake.port))
{%- else %}
    return url.replace("{tmp}", str(tmp))
{%- endif %}


@pytest.fixture(scope="module")
def alembic_runs(
    tmp_path_factory: pytest.TempPathFactory{{ ", fake_postgres: FakePostgres" if cookiecutter.database == "postgresql" else "," }}
) -> Iterator[dict[str, subprocess.CompletedProcess[str]]]:
    """`alembic upgrade head` for every case, started together, run in a directory without .env."""
    directory = tmp_path_factory.mktemp("no-dotenv")
    command = [sys.executable, "-m", "alembic", "-c", str(PROJECT / "alembic.ini")]
    command += ["upgrade", "head"]
{%- if cookiecutter.database == "postgresql" %}
    urls = {case: url_for(case, directory, fake_postgres) for case in CASES}
{%- else %}
    urls = {case: url_for(case, directory) for case in CASES}
{%- endif %}
{%- if cookiecutter.database == "postgresql" %}
    with role_owning_a_scratch_database(AWKWARD_PASSWORD) as awkward_url:
        urls["awkward password"] = awkward_url
        encoded = quote(AWKWARD_PASSWORD, safe="")
        urls["awkward password, fake server"] = (
            f"postgresql+asyncpg://app:{encoded}@127.0.0.1:{fake_postgres.port}/app"
        )
        yield run_together(command, urls, directory)
{%- else %}
    urls["sqlite:// is converted"] = f"sqlite:///{directory / 'converted.db'}"
    yield run_together(command, urls, directory)
{%- endif %}


def run_together(
    command: list[str], urls: dict[str, str | None], directory: Path
) -> dict[str, subprocess.CompletedProcess[str]]:
    processes = {
        case: subprocess.Popen(
            command,
            env=alembic_environment(url),
            cwd=directory,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for case, url in urls.items()
    }
    results = {}
    for case, process in processes.items():
        stdout, stderr = process.communicate(timeout=60)
        results[case] = subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
    return results


@pytest.mark.parametrize("case", CASES)
def test_alembic_says_what_is_wrong_on_one_line(
    case: str, alembic_runs: dict[str, subprocess.CompletedProcess[str]]
) -> None:
    result = alembic_runs[case]

    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("alembic: ")
    for fragment in CASES[case][1]:
        assert fragment in line
    assert SECRET not in result.stderr + result.stdout
{%- if cookiecutter.database == "postgresql" %}


def test_alembic_sends_the_decoded_password(
    alembic_runs: dict[str, subprocess.CompletedProcess[str]], fake_postgres: FakePostgres
) -> None:
    assert alembic_runs["wrong password"].returncode == 1
    assert alembic_runs["awkward password, fake server"].returncode == 1
    assert AWKWARD_PASSWORD not in alembic_runs["awkward password, fake server"].stderr
    assert {SECRET, AWKWARD_PASSWORD} <= set(fake_postgres.passwords)


def test_an_encoded_awkward_password_and_postgres_scheme_work(
    alembic_runs: dict[str, subprocess.CompletedProcess[str]], fake_postgres: FakePostgres
) -> None:
    # The real server trusts 127.0.0.1, so this proves the URL parses and connects as the role;
    # the fake server proves the decoded password is what is sent.
    result = alembic_runs["awkward password"]

    assert result.returncode == 0, result.stderr
    assert "Running upgrade" in result.stderr
    assert AWKWARD_PASSWORD not in result.stderr
    assert quote(AWKWARD_PASSWORD, safe="") not in result.stderr
{%- else %}


def test_a_sqlite_scheme_is_converted_to_the_async_driver(
    alembic_runs: dict[str, subprocess.CompletedProcess[str]],
) -> None:
    result = alembic_runs["sqlite:// is converted"]

    assert result.returncode == 0, result.stderr
    assert "Running upgrade" in result.stderr
{%- endif %}


async def start_app() -> tuple[Message, BaseException | None]:
    """Run the app's lifespan start-up as a server does; the message it answers with."""
    replies: asyncio.Queue[Message] = asyncio.Queue()
    requests: asyncio.Queue[Message] = asyncio.Queue()
    await requests.put({"type": "lifespan.startup"})
    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    task = asyncio.create_task(app(scope, requests.get, replies.put))
    reply = await replies.get()
    if reply["type"] == "lifespan.startup.complete":
        await requests.put({"type": "lifespan.shutdown"})
    try:
        await task
    except Exception as error:
        return reply, error
    return reply, None


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


@pytest.mark.parametrize("case", CASES)
async def test_app_start_up_says_what_is_wrong_on_one_line(
    case: str,
    environment: pytest.MonkeyPatch,
    tmp_path: Path,
{%- if cookiecutter.database == "postgresql" %}
    fake_postgres: FakePostgres,
{%- endif %}
) -> None:
    url = url_for(case, tmp_path{{ ", fake_postgres" if cookiecutter.database == "postgresql" }})
    if url is None:
        environment.delenv("DATABASE_URL", raising=False)
        environment.chdir(tmp_path)
    else:
        environment.setenv("DATABASE_URL", url)

    reply, error = await start_app()

    assert reply["type"] == "lifespan.startup.failed"
    [line] = reply["message"].splitlines()
    for fragment in CASES[case][1]:
        assert fragment in line
    assert SECRET not in line
    assert error is not None


def test_uvicorn_exits_with_the_line_and_no_traceback(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "uvicorn", "{{ cookiecutter.package_name }}.main:app"]
    command += ["--uds", str(tmp_path / "app.sock")]
{%- if cookiecutter.database == "postgresql" %}
    url = f"postgresql+asyncpg://app:{SECRET}@127.0.0.1:1/app"
{%- else %}
    url = f"sqlite+aiosqlite:///{tmp_path}/no/such/directory/app.db"
{%- endif %}

    result = subprocess.run(
        command,
        env=alembic_environment(url),
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "ERROR:    cannot connect to" in result.stderr
    assert "Application startup failed" in result.stderr
    assert SECRET not in result.stderr
