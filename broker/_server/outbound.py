"""Connections the servers open themselves (the broker registering with name servers).

The client SDK has its own transport; the servers may not use client internals (layering rule
3), and they only need this: connect, send a request, await its response, on asyncio.
"""

from __future__ import annotations

import asyncio
import socket

from rocketmq_py.exceptions import (
    ConnectError,
    ConnectionClosedError,
    RemoteProtocolError,
    RequestTimeoutError,
)
from rocketmq_py.protocol.command import RemotingCommand
from rocketmq_py.protocol.connection import PendingRequests, RemotingConnection

__all__ = ["OutboundConnection"]


class _ClientProtocol(asyncio.Protocol):
    def __init__(self, owner: OutboundConnection) -> None:
        self._owner = owner

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self._owner._received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._owner._lost(ConnectionClosedError(f"connection to {self._owner.address} closed"))


class OutboundConnection:
    """A request/response connection to another Remoting server."""

    def __init__(self, address: str) -> None:
        self.address = address
        self._conn = RemotingConnection()
        self._pending: PendingRequests[asyncio.Future[RemotingCommand]] = PendingRequests()
        self._transport: asyncio.Transport | None = None

    @property
    def is_open(self) -> bool:
        """True while connected."""
        return self._transport is not None and not self._transport.is_closing()

    async def connect(self, timeout: float = 3.0) -> None:
        """Open the TCP connection."""
        host, _, port = self.address.rpartition(":")
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await asyncio.wait_for(
                loop.create_connection(lambda: _ClientProtocol(self), host, int(port)), timeout
            )
        except (OSError, asyncio.TimeoutError, ValueError) as exc:
            raise ConnectError(f"connect to {self.address} failed: {exc}") from None
        self._transport = transport

    async def request(self, request: RemotingCommand, timeout: float = 3.0) -> RemotingCommand:
        """Send a request and wait for its response (connecting first if needed)."""
        if not self.is_open:
            await self.connect(timeout)
        assert self._transport is not None
        future: asyncio.Future[RemotingCommand] = asyncio.get_running_loop().create_future()
        opaque = self._pending.add(request, future)
        self._transport.write(self._conn.send(request))
        try:
            return await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            raise RequestTimeoutError(
                f"no response to code {request.code} from {self.address} in {timeout}s"
            ) from None
        finally:
            self._pending.pop(opaque)

    async def oneway(self, request: RemotingCommand, timeout: float = 3.0) -> None:
        """Send a oneway request."""
        if not self.is_open:
            await self.connect(timeout)
        assert self._transport is not None
        request.flag |= 2
        self._transport.write(self._conn.send(request))

    def close(self) -> None:
        """Close the connection; waiting requests fail."""
        if self._transport is not None:
            self._transport.close()

    def _received(self, data: bytes) -> None:
        self._conn.receive_data(data)
        try:
            for command in self._conn.commands():
                future = self._pending.match(command)
                if future is not None and not future.done():
                    future.set_result(command)
        except RemoteProtocolError as exc:
            if self._transport is not None:
                self._transport.abort()
            self._lost(exc)

    def _lost(self, exc: Exception) -> None:
        self._conn = RemotingConnection()
        for future in self._pending.drain():
            if not future.done():
                future.set_exception(exc)
