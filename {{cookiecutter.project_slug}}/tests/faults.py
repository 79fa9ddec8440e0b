"""A TCP proxy in front of {{ "MySQL" if cookiecutter.database == "mysql" else "PostgreSQL" }} that a test can cut or stall, to see what clients get.

`async with DatabaseProxy(database_url) as proxy:` gives `proxy.url`, the same database through
the proxy. `proxy.stall()` stops the bytes both ways while the sockets stay open, as a hung
server or network does, until `proxy.resume()`; `await proxy.drop()` resets every connection and
refuses new ones, as a server that went away, until `await proxy.restore()`.
"""

import asyncio
import contextlib
from types import TracebackType
from typing import Self

from sqlalchemy.engine import make_url

CHUNK = 64 * 1024


class DatabaseProxy:
    def __init__(self, database_url: str) -> None:
        upstream = make_url(database_url)
        self.upstream = (upstream.host or "127.0.0.1", upstream.port or {{ 3306 if cookiecutter.database == "mysql" else 5432 }})
        self.port = 0
        self.url = ""
        self._upstream_url = upstream
        self._server: asyncio.Server | None = None
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._sockets: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self.connections_accepted = 0

    async def __aenter__(self) -> Self:
        await self.restore()
        self.url = self._upstream_url.set(host="127.0.0.1", port=self.port).render_as_string(
            hide_password=False
        )
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.resume()
        await self.drop()

    @property
    def open_connections(self) -> int:
        return len(self._handlers)

    def stall(self) -> None:
        self._flowing.clear()

    def resume(self) -> None:
        self._flowing.set()

    async def drop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in self._sockets:
            writer.transport.abort()
        for handler in self._handlers:
            handler.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)

    async def restore(self) -> None:
        # The same port again, so URLs handed out before the drop stay valid.
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _accept(
        self, client_reader: asyncio.StreamReader, client: asyncio.StreamWriter
    ) -> None:
        self.connections_accepted += 1
        handler = asyncio.current_task()
        assert handler is not None
        self._handlers.add(handler)
        self._sockets.add(client)
        try:
            # A stalled server does not answer new connections either.
            await self._flowing.wait()
            server_reader, server = await asyncio.open_connection(*self.upstream)
            self._sockets.add(server)
            try:
                await asyncio.gather(
                    self._pipe(client_reader, server), self._pipe(server_reader, client)
                )
            finally:
                server.transport.abort()
                self._sockets.discard(server)
        except (OSError, asyncio.CancelledError):
            # Ended by drop(); a cancelled handler would be logged as an error by asyncio.
            pass
        finally:
            client.transport.abort()
            self._sockets.discard(client)
            self._handlers.discard(handler)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(CHUNK):
                await self._flowing.wait()
                writer.write(data)
                await writer.drain()
        # One side hung up: hang up the other, as the server would.
        writer.transport.abort()
