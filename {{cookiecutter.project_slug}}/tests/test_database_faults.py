"""The database goes away, stalls or answers slowly: each request gets a 503 in bounded time,
with one log line, and the service recovers by itself when the database comes back.

The faults come from tests/faults.py's proxy; waits are bounded by GIVE_UP_SECONDS, far above
what the timeouts allow, so a loaded machine slows these tests down without failing them.
"""

import asyncio
import logging
import os
import re
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from httpx import ASGITransport, AsyncClient, Response
from sqlalchemy import text
from starlette.types import Message, Receive, Scope, Send

from {{ cookiecutter.package_name }}.settings import Settings
from tests.databases import connected
from tests.faults import DatabaseProxy
from tests.probe import app_with_probe

PROJECT = Path(__file__).resolve().parent.parent
GIVE_UP_SECONDS = 120
STATEMENT_TIMEOUT = "1s"
ERRORS_LOGGER = "{{ cookiecutter.package_name }}.api.errors"
{%- if cookiecutter.database == "mysql" %}
# MySQL's SLEEP() returns 1, not an error, when the statement timeout interrupts it: the endless
# probe runs until the timeout cancels it, and is found in the process list by its text.
SLOW_REQUEST = "/probe/endless"
SLOW_STATEMENT = "%information_schema.COLLATIONS AS d%"
{%- else %}
SLOW_REQUEST = "/probe/sleep?seconds=600"
SLOW_STATEMENT = "%pg_sleep%"
{%- endif %}


@pytest.fixture
async def proxy(migrated_database_url: str) -> AsyncIterator[DatabaseProxy]:
    async with DatabaseProxy(migrated_database_url) as running:
        yield running


@asynccontextmanager
async def client_through(
    proxy: DatabaseProxy, statement_timeout: str = STATEMENT_TIMEOUT
) -> AsyncIterator[AsyncClient]:
    settings = Settings(database_url=proxy.url, database_statement_timeout=statement_timeout)
    app = app_with_probe(settings)
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client,
    ):
        yield client


async def get(client: AsyncClient, path: str) -> Response:
    async with asyncio.timeout(GIVE_UP_SECONDS):
        return await client.get(path)


def failures_logged(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == ERRORS_LOGGER]


async def test_a_database_that_went_away_is_a_503_with_one_log_line_each(
    proxy: DatabaseProxy, caplog: pytest.LogCaptureFixture
) -> None:
    async with client_through(proxy) as client:
        assert (await get(client, "/probe/database")).status_code == 200
        await proxy.drop()

        responses = [await get(client, "/probe/database") for _ in range(3)]

        assert [response.status_code for response in responses] == [503, 503, 503]
        assert responses[0].json() == {"detail": "the database cannot be reached"}
        assert responses[0].headers["Retry-After"].isdigit()
        logged = failures_logged(caplog)
        assert len(logged) == 3
        assert all(record.exc_info is None and "\n" not in record.getMessage() for record in logged)

        await proxy.restore()
        assert (await get(client, "/probe/database")).status_code == 200


async def test_a_connection_lost_mid_statement_is_a_503(
    proxy: DatabaseProxy, migrated_database_url: str
) -> None:
    async with client_through(proxy, statement_timeout="10min") as client:
        request = asyncio.create_task(get(client, SLOW_REQUEST))
        async with running_statements_like(migrated_database_url, SLOW_STATEMENT):
            await proxy.drop()

            response = await request

        assert response.status_code == 503
        assert response.json() == {"detail": "the connection to the database was lost"}


async def test_a_database_lost_once_the_response_is_sent_costs_the_client_nothing(
    proxy: DatabaseProxy,
) -> None:
    app = app_with_probe(Settings(database_url=proxy.url))

    async def drop_once_answered(scope: Scope, receive: Receive, send: Send) -> None:
        async def send_then_drop(message: Message) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                await proxy.drop()

        await app(scope, receive, send_then_drop)

    transport = ASGITransport(app=drop_once_answered)
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=transport, base_url="http://test") as client,
    ):
        # The session is closed after the response: its ROLLBACK meets the dead connection.
        assert (await get(client, "/probe/database")).status_code == 200
        assert (await get(client, "/probe/database")).status_code == 503


async def test_a_stalled_database_fails_requests_in_bounded_time(
    proxy: DatabaseProxy, caplog: pytest.LogCaptureFixture
) -> None:
    async with client_through(proxy) as client:
        assert (await get(client, "/probe/database")).status_code == 200
        proxy.stall()

        # More requests than the pool has connections: the rest wait for the pool, not forever.
        responses = await asyncio.gather(*(get(client, "/probe/database") for _ in range(20)))

        assert {response.status_code for response in responses} == {503}
        logged = [record.getMessage() for record in failures_logged(caplog)]
        assert len(logged) == 20
{%- if cookiecutter.database == "mysql" %}
        # A request holding a connection gives up on mysql_connections.py's bounded read
        # (aiomysql alone would wait forever), as on a lost connection; the others time out
        # waiting for the pool.
        timed_out = ("TimeoutError", "Lost connection to MySQL server: no answer within")
        assert all(any(word in message for word in timed_out) for message in logged), logged
{%- else %}
        assert all("TimeoutError" in message for message in logged), logged
{%- endif %}
        proxy.resume()
        assert (await get(client, "/probe/database")).status_code == 200


async def test_a_slow_statement_is_cancelled_and_its_connection_reused(
    proxy: DatabaseProxy,
) -> None:
    async with client_through(proxy) as client:
        response = await get(client, SLOW_REQUEST)

        assert response.status_code == 503
        assert response.json() == {"detail": "the database did not answer in time"}
        assert (await get(client, "/probe/database")).status_code == 200
        assert proxy.connections_accepted == 1
{%- if cookiecutter.database == "mysql" %}


# MySQL stores a NUL byte as any other character; in strict mode it refuses a string longer
# than its column (error 1406) and an integer out of its column's range (1264).
@pytest.mark.parametrize(
    "params", [{"word": "a" * 11}, {"number": 2**40}], ids=["too-long", "int32-overflow"]
)
{%- else %}


@pytest.mark.parametrize(
    "params", [{"word": "a\u0000b"}, {"number": 2**40}], ids=["nul", "int32-overflow"]
)
{%- endif %}
async def test_a_value_the_database_refuses_is_a_422_and_a_warning(
    proxy: DatabaseProxy, caplog: pytest.LogCaptureFixture, params: dict[str, object]
) -> None:
    async with client_through(proxy) as client:
        response = await client.get("/probe/unchecked", params=params)

    assert response.status_code == 422
    assert response.json() == {"detail": "a value in the request cannot be stored"}
    [logged] = failures_logged(caplog)
    assert logged.levelno == logging.WARNING
    assert all(str(value) not in logged.getMessage() for value in params.values())


async def test_uvicorn_keeps_the_connection_open_and_logs_one_line_per_failure(
    proxy: DatabaseProxy, tmp_path: Path
) -> None:
    log = tmp_path / "uvicorn.log"
    port = free_port()
    environment = {
        **os.environ,
        "DATABASE_URL": proxy.url,
        "DATABASE_STATEMENT_TIMEOUT": STATEMENT_TIMEOUT,
    }
    with log.open("wb") as output:
        server = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "uvicorn", "--factory", "tests.probe:app_with_probe"),
            *("--port", str(port), "--no-access-log"),
            cwd=PROJECT,
            env=environment,
            stdout=output,
            stderr=output,
        )
    try:
        async with asyncio.timeout(GIVE_UP_SECONDS):
            reader, writer = await connect_when_serving(port, server)
            assert await http_get(reader, writer, "/probe/database") == 200
            logged_before = log.read_text().splitlines()

            await proxy.drop()
            statuses = [await http_get(reader, writer, "/probe/database") for _ in range(3)]
            await proxy.restore()
            statuses.append(await http_get(reader, writer, "/probe/database"))
            proxy.stall()
            statuses.append(await http_get(reader, writer, "/probe/database"))
            proxy.resume()
            statuses.append(await http_get(reader, writer, "/probe/database"))

            logged = log.read_text().splitlines()[len(logged_before) :]
            writer.close()
    finally:
        server.terminate()
        try:
            async with asyncio.timeout(GIVE_UP_SECONDS):
                await server.wait()
        except TimeoutError:
            # Shutting down waits for a request the database never answered: the test failed.
            server.kill()
            await server.wait()

    # Every request went over the one keep-alive connection: none was dropped.
    assert statuses == [503, 503, 503, 200, 503, 200]
    assert len(logged) == 4, logged
    assert all(" 503, " in line for line in logged), logged


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def connect_when_serving(
    port: int, server: asyncio.subprocess.Process
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    while server.returncode is None:
        try:
            return await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.1)
    raise AssertionError(f"uvicorn exited with {server.returncode} before serving")


async def http_get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str) -> int:
    """GET over an open HTTP/1.1 connection; fails if the server closed it."""
    writer.write(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    length = re.search(rb"(?im)^content-length: *(\d+)", head)
    await reader.readexactly(int(length.group(1)) if length else 0)
    assert not re.search(rb"(?im)^connection: *close", head)
    return int(head.split(b" ", 2)[1])


@asynccontextmanager
async def running_statements_like(database_url: str, pattern: str) -> AsyncIterator[None]:
    """Wait until a statement matching pattern runs on the server; cancel it afterwards.

    The server goes on running a statement whose client went away until it ends.
    """
{%- if cookiecutter.database == "mysql" %}
    running = text(
        "SELECT ID FROM information_schema.PROCESSLIST"
        " WHERE DB = DATABASE() AND INFO LIKE :pattern AND ID <> CONNECTION_ID()"
    )
    # The server's own integer ids: nothing to quote.
    cancel = "KILL QUERY {}"
{%- else %}
    running = text(
        "SELECT pid FROM pg_stat_activity"
        " WHERE datname = current_database() AND query LIKE :pattern AND pid <> pg_backend_pid()"
    )
    cancel = "SELECT pg_cancel_backend({})"
{%- endif %}
    async with asyncio.timeout(GIVE_UP_SECONDS), connected(database_url) as connection:
        while not (await connection.scalars(running, {"pattern": pattern})).all():
            # PostgreSQL reads pg_stat_activity once per transaction: look again in a new one.
            await connection.commit()
            await asyncio.sleep(0.05)
    try:
        yield
    finally:
        async with connected(database_url) as connection:
            for process in (await connection.scalars(running, {"pattern": pattern})).all():
                await connection.execute(text(cancel.format(int(process))))
