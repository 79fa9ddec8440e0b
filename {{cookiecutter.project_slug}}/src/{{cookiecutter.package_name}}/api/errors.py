"""What a client gets when a request fails, decided here and nowhere else.

Endpoints raise; `error_response` turns the exception into a JSON body and a status. Anything a
client can send is a 4xx, a database that is down or too slow is a 503 with one log line, and
only a bug here is a 500 (which keeps its traceback). See docs/api.md.
"""

import logging
import math
import socket
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException
from starlette.responses import Response
{%- if cookiecutter.database == "mysql" %}

from {{ cookiecutter.package_name }}.db import mysql_error_code
{%- endif %}

logger = logging.getLogger(__name__)

# Error bodies repeat only this much of what the client sent.
ECHOED_CHARACTERS = 100
DETAIL_CHARACTERS = 300
PROBLEMS_LISTED = 20
RETRY_AFTER_SECONDS = 5
{%- if cookiecutter.database == "postgresql" %}
# SQLSTATEs (classes and codes) that say "not now" rather than "not this request".
RETRYABLE_SQLSTATES = {
    "57014": "the database did not answer in time",
    "40001": "the request conflicted with a concurrent one; retry it",
    "40P01": "the request conflicted with a concurrent one; retry it",
    "55P03": "the data is locked by another request; retry it",
    "08": "the database cannot be reached",
    "53": "the database is out of resources",
    "57": "the database is shutting down or starting",
    "58": "the database is unavailable",
}
{%- elif cookiecutter.database == "mysql" %}
# Server error numbers that say "not now" rather than "not this request".
RETRYABLE_ERRORS = {
    1969: "the database did not answer in time",  # MariaDB max_statement_time
    3024: "the database did not answer in time",  # MySQL max_execution_time
    1213: "the request conflicted with a concurrent one; retry it",
    1205: "the data is locked by another request; retry it",
    1040: "the database is out of resources",
    1053: "the database is shutting down or starting",
    # The client's own errors (CR_*): aiomysql raises them for a socket that failed.
    2002: "the database cannot be reached",
    2003: "the database cannot be reached",
    2005: "the database cannot be reached",
    2006: "the connection to the database was lost",
    2013: "the connection to the database was lost",
}
{%- endif %}


def install_error_handlers(app: FastAPI) -> None:
    for handled in (
        RequestValidationError,
        HTTPException,
        StaleDataError,
        DBAPIError,
        PoolTimeoutError,
        # Connecting fails with OSError (refused, reset, DNS) and TimeoutError, unwrapped.
        OSError,
    ):
        app.add_exception_handler(handled, error_response)


async def error_response(request: Request, error: Exception) -> Response:
    if isinstance(error, RequestValidationError):
        problems = [summarise(problem) for problem in error.errors()[:PROBLEMS_LISTED]]
        return JSONResponse({"detail": problems}, 422)
    if isinstance(error, HTTPException):
        # Details often quote the request (a name, a header): keep them short.
        if isinstance(error.detail, str):
            error.detail = clip(error.detail, DETAIL_CHARACTERS)
        return await http_exception_handler(request, error)
    if isinstance(error, IntegrityError):
        return json_error(409, "the request conflicts with the data as it is now")
    if isinstance(error, StaleDataError):
        detail = "a concurrent request changed or deleted this data; fetch it and try again"
        return json_error(409, detail)
    reason = unavailable(error)
    if reason is not None:
        logger.error("%s %s: 503, %s (%s)", request.method, path(request), reason, cause(error))
        return json_error(503, reason, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    if rejected_value(error):
        # Validation should have caught it; say so where a developer will look.
        logger.warning(
            "%s %s: 422 from the database, %s", request.method, path(request), kind(error)
        )
        return json_error(422, "a value in the request cannot be stored")
    raise error


def unavailable(error: Exception) -> str | None:
    """Why the database cannot serve this request now, or None for any other failure."""
    if isinstance(error, PoolTimeoutError):
        return "every database connection is busy"
    if isinstance(error, TimeoutError):
        return "the database did not answer in time"
    if isinstance(error, ConnectionError | socket.gaierror) or type(error) is OSError:
        return "the database cannot be reached"
    if not isinstance(error, DBAPIError):
        return None
    if error.connection_invalidated:
        return "the connection to the database was lost"
{%- if cookiecutter.database == "postgresql" %}
    code = sqlstate(error)
    for prefix, reason in RETRYABLE_SQLSTATES.items():
        if code.startswith(prefix):
            return reason
{%- elif cookiecutter.database == "mysql" %}
    if (reason := RETRYABLE_ERRORS.get(mysql_error_code(error) or 0)) is not None:
        return reason
{%- endif %}
    if isinstance(error, OperationalError) or (
        isinstance(error, InterfaceError) and not rejected_value(error)
    ):
        return "the database is unavailable"
    return None


def rejected_value(error: Exception) -> bool:
    """The database (or its driver) refused a value: out of range, NUL byte, bad encoding."""
    if isinstance(error, DataError):
        return True
    if not isinstance(error, DBAPIError):
        return False
{%- if cookiecutter.database == "postgresql" %}
    # asyncpg checks values before sending them and raises a ValueError of its own.
    return sqlstate(error).startswith("22") or isinstance(driver_error(error), ValueError)
{%- else %}
    return isinstance(driver_error(error), ValueError)
{%- endif %}
{%- if cookiecutter.database == "postgresql" %}


def sqlstate(error: DBAPIError) -> str:
    return getattr(error.orig, "sqlstate", None) or ""
{%- endif %}


def json_error(code: int, detail: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, code, headers=headers)


def summarise(problem: Mapping[str, Any]) -> dict[str, Any]:
    """A validation problem a JSON encoder cannot choke on, quoting little of the input.

    Pydantic's own problems carry the whole offending input (a 10 MB array, a lone surrogate
    that is not UTF-8, a NaN that is not JSON) and exception objects in `ctx`.
    """
    summary = {
        "type": problem["type"],
        "loc": [scalar(part) for part in problem["loc"]],
        "msg": clip(str(problem["msg"]), DETAIL_CHARACTERS),
    }
    if (value := scalar(problem.get("input"))) is not None:
        summary["input"] = value
    context = {key: scalar(value) for key, value in problem.get("ctx", {}).items()}
    if context := {key: value for key, value in context.items() if value is not None}:
        summary["ctx"] = context
    return summary


def scalar(value: object) -> str | int | float | bool | None:
    """value if it is small and JSON can carry it, a short stand-in if not, None for containers."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if value.bit_length() <= 64 else "(a larger integer)"
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return clip(value, ECHOED_CHARACTERS)
    return None


def clip(text: str, limit: int) -> str:
    # Lone surrogates cannot be encoded as UTF-8: show them as escapes.
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def path(request: Request) -> str:
    return clip(request.url.path, DETAIL_CHARACTERS)


def cause(error: Exception) -> str:
    """The driver's own error on one line: its class and first line, never the statement."""
    original = driver_error(error)
    message = " ".join(str(original).split("\n", 1)[0].split())
    return clip(": ".join(filter(None, [type(original).__name__, message])), DETAIL_CHARACTERS)


def kind(error: Exception) -> str:
    """The error's class and code only: data errors quote the rejected value."""
    original = driver_error(error)
{%- if cookiecutter.database == "mysql" %}
    code = mysql_error_code(error)
    return type(original).__name__ + (f" (MySQL error {code})" if code else "")
{%- else %}
    code = getattr(original, "sqlstate", None)
    return type(original).__name__ + (f" (SQLSTATE {code})" if code else "")
{%- endif %}


def driver_error(error: Exception) -> BaseException:
    """The exception the driver raised, under SQLAlchemy's and its adapter's wrappers."""
    if isinstance(error, DBAPIError) and error.orig is not None:
        return error.orig.__cause__ or error.orig
    return error
