"""Passwords in DATABASE_URL: sent decoded, refused on one line, never shown.

The local server trusts 127.0.0.1 and never asks for a password, so a fake one records what is
sent and refuses it; the real one proves that a URL with an awkward, encoded password parses
and connects as its role.
"""

import socketserver
import struct
import subprocess
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

import pytest
from sqlalchemy.engine import make_url

from devtools.scratch import run_as_admin
from {{ cookiecutter.package_name }}.main import create_app
from {{ cookiecutter.package_name }}.settings import ConfigurationError, Settings, get_settings
from tests.databases import scratch_database
from tests.fixtures.scratch_migrations import (
    alembic,
    alembic_environment,
    run_each,
    stopped_with_one_line,
)

SECRET = "hunter2-secret"
# Every character that needs URL-encoding in a password.
AWKWARD_PASSWORD = "p%w@d:s/1"
ENCODED_PASSWORD = quote(AWKWARD_PASSWORD, safe="")
REFUSED = ["password authentication failed", "fix the user or password", "URL-encode"]
SSL_REQUEST, GSSENC_REQUEST = 80877103, 80877104


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

    def url(self, password: str) -> str:
        return f"postgresql+asyncpg://app:{password}@127.0.0.1:{self.port}/app"


@pytest.fixture(scope="module")
def fake_postgres() -> Iterator[FakePostgres]:
    with FakePostgres() as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield server
        server.shutdown()


@contextmanager
def role_owning_a_scratch_database(password: str) -> Iterator[str]:
    """A login role with this password that owns a new database; its URL, encoded."""
    role = f"test_{{ cookiecutter.project_slug[:30] }}_{uuid.uuid4().hex[:12]}"
    server = get_settings().database_url
    run_as_admin(server, "CREATE ROLE %I LOGIN PASSWORD %L", role, password)
    try:
        with scratch_database() as url:
            address = make_url(url)
            run_as_admin(url, "ALTER DATABASE %I OWNER TO %I", str(address.database), role)
            yield (
                f"postgres://{role}:{quote(password, safe='')}@{address.host}:{address.port}"
                f"/{address.database}"
            )
    finally:
        run_as_admin(server, "DROP ROLE IF EXISTS %I", role)


@pytest.fixture(scope="module")
def alembic_runs(
    fake_postgres: FakePostgres, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, subprocess.CompletedProcess[str]]]:
    """`alembic upgrade head` with a wrong password, and with an awkward one on both servers."""
    with role_owning_a_scratch_database(AWKWARD_PASSWORD) as awkward_url:
        urls = {
            "wrong password": fake_postgres.url(SECRET),
            "awkward password, fake server": fake_postgres.url(ENCODED_PASSWORD),
            "awkward password": awkward_url,
        }
        environments = {case: alembic_environment(url) for case, url in urls.items()}
        cwd = tmp_path_factory.mktemp("no-dotenv")
        yield run_each(alembic("upgrade", "head"), environments, cwd=cwd)


def test_alembic_says_the_password_was_refused_on_one_line(
    alembic_runs: dict[str, subprocess.CompletedProcess[str]],
) -> None:
    result = alembic_runs["wrong password"]

    line = stopped_with_one_line(result)
    for fragment in REFUSED:
        assert fragment in line
    assert SECRET not in result.stderr + result.stdout


def test_alembic_sends_the_decoded_password(
    alembic_runs: dict[str, subprocess.CompletedProcess[str]], fake_postgres: FakePostgres
) -> None:
    result = alembic_runs["awkward password, fake server"]

    stopped_with_one_line(result)
    assert AWKWARD_PASSWORD not in result.stderr
    assert {SECRET, AWKWARD_PASSWORD} <= set(fake_postgres.passwords)


def test_an_encoded_awkward_password_and_postgres_scheme_work(
    alembic_runs: dict[str, subprocess.CompletedProcess[str]],
) -> None:
    result = alembic_runs["awkward password"]

    assert result.returncode == 0, result.stderr
    assert "Running upgrade" in result.stderr
    assert AWKWARD_PASSWORD not in result.stderr
    assert ENCODED_PASSWORD not in result.stderr


async def test_app_start_up_says_the_password_was_refused(fake_postgres: FakePostgres) -> None:
    app = create_app(Settings(database_url=fake_postgres.url(SECRET)))

    with pytest.raises(ConfigurationError) as refused:
        async with app.router.lifespan_context(app):
            pass

    [line] = str(refused.value).splitlines()
    for fragment in REFUSED:
        assert fragment in line
    assert SECRET not in line
