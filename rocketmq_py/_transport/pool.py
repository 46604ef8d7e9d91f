"""Connections by address, created on first use and shared by every request to that address."""

from __future__ import annotations

from types import TracebackType

import anyio
import anyio.abc

from rocketmq_py._transport.connection import ClientConnection, RequestHandler
from rocketmq_py.protocol.command import RemotingCommand

__all__ = ["ConnectionPool"]


class ConnectionPool:
    """One connection per address; use as ``async with ConnectionPool() as pool:``.

    Args:
        connect_timeout: seconds to wait for a TCP connect.
        handler: answers requests servers send to us on any pooled connection.
    """

    def __init__(self, connect_timeout: float = 3.0, handler: RequestHandler | None = None) -> None:
        self.connect_timeout = connect_timeout
        self._handler = handler
        self._connections: dict[str, ClientConnection] = {}
        self._locks: dict[str, anyio.Lock] = {}
        self._task_group: anyio.abc.TaskGroup | None = None

    async def __aenter__(self) -> ConnectionPool:
        self._task_group = anyio.create_task_group()
        await self._task_group.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        for conn in list(self._connections.values()):
            await conn.aclose()
        self._connections.clear()
        assert self._task_group is not None
        self._task_group.cancel_scope.cancel()
        # The readers never raise; passing the caller's exception into the task group would
        # only wrap it in an ExceptionGroup, so let it propagate as itself.
        await self._task_group.__aexit__(None, None, None)
        self._task_group = None
        return None

    async def get(self, address: str) -> ClientConnection:
        """The open connection to ``address``, connecting if needed."""
        conn = self._connections.get(address)
        if conn is not None and not conn.closed:
            return conn
        lock = self._locks.setdefault(address, anyio.Lock())
        async with lock:
            conn = self._connections.get(address)
            if conn is None or conn.closed:
                if self._task_group is None:
                    raise RuntimeError("ConnectionPool used outside 'async with'")
                conn = await ClientConnection.connect(
                    address, self._task_group, timeout=self.connect_timeout, handler=self._handler
                )
                self._connections[address] = conn
            return conn

    def connection(self, address: str) -> ClientConnection | None:
        """The open connection to ``address`` if there is one (no I/O, no coroutine)."""
        conn = self._connections.get(address)
        return conn if conn is not None and not conn.closed else None

    async def request(
        self, address: str, request: RemotingCommand, timeout: float = 3.0
    ) -> RemotingCommand:
        """Send a request to ``address`` and wait for the response."""
        conn = self.connection(address) or await self.get(address)
        return await conn.request(request, timeout)

    async def oneway(self, address: str, request: RemotingCommand) -> None:
        """Send a oneway request to ``address``."""
        conn = await self.get(address)
        await conn.oneway(request)
