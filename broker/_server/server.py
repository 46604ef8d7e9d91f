"""Accept loop: a listening socket whose connections are :class:`ServerProtocol` instances."""

from __future__ import annotations

import asyncio
import logging
import socket

from broker._server.dispatch import Dispatcher
from broker._server.protocol import ServerProtocol
from rocketmq_py.protocol.connection import DEFAULT_MAX_FRAME_LENGTH

__all__ = ["RemotingServer"]

log = logging.getLogger("broker.remoting")


class RemotingServer:
    """A Remoting protocol server on one TCP port.

    Args:
        dispatcher: where requests go.
        host: address to bind (``0.0.0.0`` for every IPv4 interface, like Java).
        port: port to bind; 0 picks a free one (see :attr:`port` after :meth:`start`).
        max_frame_length: largest frame accepted (Java's default 16 MiB).
        max_in_flight: asynchronous requests processed at once per connection before the
            connection stops reading (backpressure).
    """

    def __init__(
        self,
        dispatcher: Dispatcher,
        host: str = "0.0.0.0",
        port: int = 0,
        *,
        max_frame_length: int = DEFAULT_MAX_FRAME_LENGTH,
        max_in_flight: int = 256,
    ) -> None:
        self.dispatcher = dispatcher
        self.host = host
        self.max_frame_length = max_frame_length
        self.max_in_flight = max_in_flight
        self._requested_port = port
        self._server: asyncio.base_events.Server | None = None
        self._connections: set[ServerProtocol] = set()

    @property
    def port(self) -> int:
        """The bound port (valid after :meth:`start`)."""
        if self._server is None or not self._server.sockets:
            return self._requested_port
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def connection_count(self) -> int:
        """Connections currently open."""
        return len(self._connections)

    async def start(self) -> None:
        """Bind and start accepting; raises ``OSError`` if the port is taken."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: ServerProtocol(self),
            self.host,
            self._requested_port,
            family=socket.AF_INET if ":" not in self.host else socket.AF_INET6,
            reuse_address=True,
            backlog=1024,
        )

    async def close(self) -> None:
        """Stop accepting, close every connection and wait for the listener to go away."""
        if self._server is None:
            return
        self._server.close()
        for proto in list(self._connections):
            proto.close()
        await self._server.wait_closed()
        self._server = None

    # -- called by ServerProtocol -----------------------------------------------------------

    def connection_opened(self, proto: ServerProtocol) -> None:
        """Track a new connection."""
        self._connections.add(proto)

    def connection_closed(self, proto: ServerProtocol) -> None:
        """Forget a closed connection."""
        self._connections.discard(proto)
