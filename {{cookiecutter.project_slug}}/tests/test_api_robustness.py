"""What a client gets for an oversized, malformed or hostile request: a small 4xx, never a 500
and never its own input echoed back at length."""

import json
import logging
import traceback
from collections.abc import AsyncIterator

import pytest
from httpx import ASGITransport, AsyncClient
{%- if cookiecutter.database == "mysql" %}
from sqlalchemy.exc import IntegrityError, OperationalError
{%- endif %}
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException
from starlette.requests import Request

from {{ cookiecutter.package_name }}.api.errors import error_response, unavailable
from {{ cookiecutter.package_name }}.settings import Settings
from tests.probe import app_with_probe

pytestmark = pytest.mark.api
LIMIT = 64 * 1024
SMALL_RESPONSE = 2048
{%- if cookiecutter.database == "mysql" %}
DID_NOT_ANSWER = "the database did not answer in time"


def server_error(
    kind: type[OperationalError | IntegrityError], code: int, message: str
) -> Exception:
    """An error as the driver raises it for a server error number (`(1213, 'Deadlock...')`)."""
    return kind("UPDATE books SET pages = 1", {}, Exception(code, message))
{%- endif %}


@pytest.fixture
async def probe(migrated_database_url: str) -> AsyncIterator[AsyncClient]:
    settings = Settings(database_url=migrated_database_url, max_request_body_bytes=LIMIT)
    app = app_with_probe(settings)
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client,
    ):
        yield client


class Upload:
    """A request body sent in chunks, counting how many the server asked for."""

    def __init__(self, total: int, chunk: int = 1024) -> None:
        self.total, self.chunk, self.sent = total, chunk, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b'{"text": "'
        while self.sent < self.total:
            self.sent += self.chunk
            yield b"x" * self.chunk
        yield b'", "count": 1}'


async def test_a_body_declared_over_the_limit_is_refused_before_it_is_read(
    probe: AsyncClient,
) -> None:
    upload = Upload(total=10 * LIMIT)
    headers = {"Content-Type": "application/json", "Content-Length": str(10 * LIMIT + 24)}

    response = await probe.post("/probe/notes", content=upload, headers=headers)

    assert response.status_code == 413
    assert response.json() == {"detail": f"the request body is larger than {LIMIT} bytes"}
    assert upload.sent == 0


async def test_a_chunked_body_is_cut_off_where_it_crosses_the_limit(probe: AsyncClient) -> None:
    upload = Upload(total=10 * 1024 * 1024)

    response = await probe.post(
        "/probe/notes", content=upload, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 413
    assert upload.sent <= LIMIT + upload.chunk


async def test_a_body_within_the_limit_is_read(probe: AsyncClient) -> None:
    response = await probe.post("/probe/notes", json={"text": "hello", "count": 2})

    assert response.status_code == 200
    assert response.json() == {"text": "hello", "count": 2}


@pytest.mark.parametrize(
    "body",
    [
        json.dumps({"text": "x" * (LIMIT - 100), "count": 1}),
        json.dumps(list(range(LIMIT // 8))),
        json.dumps({"text": "x" * 1000, "count": "y" * (LIMIT - 2000)}),
    ],
    ids=["long-string", "array-for-object", "long-wrong-type"],
)
async def test_validation_errors_quote_little_of_the_input(probe: AsyncClient, body: str) -> None:
    response = await probe.post(
        "/probe/notes", content=body, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 422
    assert len(response.content) < SMALL_RESPONSE


@pytest.mark.parametrize(
    "body",
    [
        r'{"text": "\ud800", "count": 1}',
        r'{"text": "ok", "count": NaN}',
        r'{"text": "ok", "count": Infinity}',
        r'{"text": "ok", "count": 1e400}',
        r'{"text": "ok", "count": -1e400}',
        r'{"text": "ok", "count": 1' + "0" * 5000 + "}",
        r'{"text": "ok", "count": "\udfff\ud800"}',
        '{"text": ',
        "[" * (LIMIT - 1),
    ],
    ids=[
        "lone-surrogate",
        "nan",
        "infinity",
        "overflowing-float",
        "overflowing-negative-float",
        "5000-digit-integer",
        "surrogates-in-wrong-type",
        "truncated-json",
        "deeply-nested-json",
    ],
)
async def test_json_that_is_malformed_or_that_json_cannot_carry_is_a_4xx(
    probe: AsyncClient, body: str
) -> None:
    response = await probe.post(
        "/probe/notes", content=body, headers={"Content-Type": "application/json"}
    )

    assert response.status_code in (400, 422), response.text
    assert len(response.content) < SMALL_RESPONSE
    assert isinstance(response.json()["detail"], str | list)


async def test_long_error_details_are_clipped() -> None:
    request = Request({"type": "http", "method": "GET", "path": "/", "headers": []})
    tenant = "t" * 65536

    response = await error_response(request, HTTPException(404, f"tenant {tenant} does not exist"))

    assert response.status_code == 404
    assert len(response.body) < SMALL_RESPONSE


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (ConnectionRefusedError(111, "Connect call failed"), "the database cannot be reached"),
        (OSError("Multiple exceptions: ..."), "the database cannot be reached"),
        (TimeoutError(), "the database did not answer in time"),
        (PoolTimeoutError("QueuePool limit reached"), "every database connection is busy"),
        (FileNotFoundError(2, "No such file"), None),
        (ValueError("a bug"), None),
{%- if cookiecutter.database == "mysql" %}
        (
            server_error(OperationalError, 1213, "Deadlock found when trying to get lock"),
            "the request conflicted with a concurrent one; retry it",
        ),
        (
            server_error(OperationalError, 1205, "Lock wait timeout exceeded"),
            "the data is locked by another request; retry it",
        ),
        (server_error(OperationalError, 1969, "Query execution was interrupted"), DID_NOT_ANSWER),
        (server_error(OperationalError, 3024, "maximum execution time exceeded"), DID_NOT_ANSWER),
        (server_error(IntegrityError, 1062, "Duplicate entry 'a' for key 'uq'"), None),
{%- endif %}
    ],
    ids=[
        "refused",
        "unresolved",
        "timeout",
        "pool-exhausted",
        "file-not-found",
        "bug",
{%- if cookiecutter.database == "mysql" %}
        "deadlock",
        "lock-wait-timeout",
        "mariadb-statement-timeout",
        "mysql-statement-timeout",
        "duplicate",
{%- endif %}
    ],
)
def test_only_failures_to_reach_the_database_are_503s(error: Exception, reason: str | None) -> None:
    assert unavailable(error) == reason


async def test_statement_parameters_stay_out_of_errors_and_logs(
    probe: AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "ursula.secret@example.com"
    # INFO is where SQLAlchemy logs each statement, when its logger is switched on.
    caplog.set_level(logging.INFO)

    try:
        response = await probe.get("/probe/lookup", params={"email": secret})
        seen = response.text
    except Exception as error:  # a 500: what the server would log is its traceback
        seen = "".join(traceback.format_exception(error))

    assert secret not in seen
    assert secret not in caplog.text
{%- if cookiecutter.database == "mysql" %}


async def test_a_statement_past_the_statement_timeout_is_a_503(migrated_database_url: str) -> None:
    settings = Settings(database_url=migrated_database_url, database_statement_timeout="200ms")
    app = app_with_probe(settings)
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client,
    ):
        response = await client.get("/probe/endless")

    assert response.status_code == 503
    assert response.json() == {"detail": DID_NOT_ANSWER}
    assert response.headers["Retry-After"] == "5"
{%- endif %}
