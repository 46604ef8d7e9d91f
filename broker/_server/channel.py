"""A server-side connection as processors see it."""

from __future__ import annotations

import asyncio
from typing import Any

from rocketmq_py.protocol.command import RemotingCommand
from rocketmq_py.protocol.connection import OpaqueAllocator

__all__ = ["Channel"]


class Channel:
    """One accepted connection: its peer address and a way to talk back.

    Processors keep channels to reach clients later (the broker's CHECK_TRANSACTION_STATE and
    NOTIFY_CONSUMER_IDS_CHANGED), and the name server ties a broker's liveness to its channel.
    """

    __slots__ = ("_opaques", "_transport", "attributes", "local_address", "remote_address")

    def __init__(
        self, transport: asyncio.Transport, remote_address: str, local_address: str
    ) -> None:
        self._transport = transport
        self._opaques = OpaqueAllocator()
        self.remote_address = remote_address
        self.local_address = local_address
        #: Free slot for processors (e.g. the client id a broker learnt from a heartbeat).
        self.attributes: dict[str, Any] = {}

    @property
    def is_open(self) -> bool:
        """False once the connection is closing or closed."""
        return not self._transport.is_closing()

    def send_oneway(self, request: RemotingCommand) -> bool:
        """Send a server-initiated oneway request; returns False if the channel is closed."""
        if self._transport.is_closing():
            return False
        request.flag |= 2
        request.opaque = self._opaques()
        self._transport.write(request.encode())
        return True

    def close(self) -> None:
        """Close the connection (pending writes are flushed first)."""
        self._transport.close()

    def __repr__(self) -> str:
        return f"<Channel {self.remote_address}>"
