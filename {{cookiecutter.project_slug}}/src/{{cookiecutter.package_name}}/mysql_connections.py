"""aiomysql connections that stop waiting for a server that stopped answering.

aiomysql's connect_timeout covers the TCP connect only, and it has no read timeout: a stalled
server (or network, or anything that accepts a connection and never answers) would hold the
handshake, and every later read, forever; the server's own statement limit cannot help when
the server is the one that stalled. Each read here is bounded; one that times out closes the
connection and raises the driver's "Lost connection" error, so SQLAlchemy discards it. asyncpg
does the same for the PostgreSQL bake with its command_timeout.
"""

import asyncio
from collections.abc import Awaitable
from typing import Any

import aiomysql  # type: ignore[import-untyped]
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

# The client's own "Lost connection to MySQL server": SQLAlchemy discards such a connection.
SERVER_LOST = 2013


class BoundedConnection(aiomysql.Connection):  # type: ignore[misc]
    """A connection whose every read waits `read_timeout` seconds at most (None: no limit)."""

    read_timeout: float | None = None

    async def _read_bytes(self, num_bytes: int) -> bytes:
        try:
            async with asyncio.timeout(self.read_timeout):
                data: bytes = await super()._read_bytes(num_bytes)
                return data
        except TimeoutError:
            self.close()
            raise aiomysql.OperationalError(
                SERVER_LOST,
                f"Lost connection to MySQL server: no answer within {self.read_timeout:g}s",
            ) from None


def bound_each_read(engine: AsyncEngine, connect_seconds: float, seconds: float | None) -> None:
    """Connect (handshake included) within `connect_seconds`, then wait at most `seconds` for
    each answer (None: as long as a statement runs, for migrations)."""

    def connect(**params: Any) -> Awaitable[BoundedConnection]:
        async def connected() -> BoundedConnection:
            connection = BoundedConnection(**params)
            connection.read_timeout = connect_seconds
            await connection._connect()
            connection.read_timeout = seconds
            return connection

        return connected()

    @event.listens_for(engine.sync_engine, "do_connect")
    def use_bounded_connections(
        dialect: Any, record: Any, cargs: Any, cparams: dict[str, Any]
    ) -> None:
        cparams["async_creator_fn"] = connect
