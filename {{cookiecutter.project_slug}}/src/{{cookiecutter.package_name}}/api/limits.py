"""A cap on the size of request bodies, enforced while they stream in."""

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def too_large(limit: int) -> str:
    return f"the request body is larger than {limit} bytes"


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, too_large(limit))


class BodySizeLimit:
    """Answer 413 to a body larger than the `max_request_body_bytes` setting.

    A declared Content-Length over the limit is answered before any of the body is read; a
    chunked body is counted as it arrives and refused at the chunk that crosses the limit. So
    neither memory nor the JSON parser, which blocks the event loop, ever sees more.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Settings are read at start-up, after the middleware stack is built.
        limit: int = scope["app"].state.settings.max_request_body_bytes
        if declared_length(scope) > limit:
            await JSONResponse({"detail": too_large(limit)}, 413)(scope, receive, send)
            return
        received = 0

        async def receive_within_limit() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # FastAPI lets an HTTPException from reading the body through unchanged.
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, receive_within_limit, send)


def declared_length(scope: Scope) -> int:
    """The Content-Length header's value; 0 when it is absent or not a plain number."""
    value = Headers(scope=scope).get("content-length", "").lstrip("0")
    if not (value.isascii() and value.isdigit()):
        return 0
    # Python refuses to convert more than 4300 digits; any 19 digits exceed every limit.
    return int(value[:19])
