"""Per-connection hot path: an ``asyncio.Protocol`` around a sans-IO ``RemotingConnection``.

Why a Protocol and not streams: with pipelined requests, framing on ``data_received`` measured
4-6x faster than ``StreamReader.readexactly`` (``research/performance.md`` section 6). Every
complete frame of one ``data_received`` call is processed in one loop and all the responses that
are ready are written with a single ``transport.write``.

Backpressure: at most ``max_in_flight`` asynchronous handlers run per connection; beyond that,
and whenever the transport's write buffer is over its high-water mark, the connection stops
reading until work drains, so a fast client cannot grow the server's memory without bound.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable
from typing import TYPE_CHECKING, cast

from broker._server.channel import Channel
from broker._server.dispatch import Dispatcher, error_response
from rocketmq_py.exceptions import RemoteProtocolError
from rocketmq_py.protocol.codes import ResponseCode
from rocketmq_py.protocol.command import RemotingCommand
from rocketmq_py.protocol.connection import RemotingConnection

if TYPE_CHECKING:
    from broker._server.server import RemotingServer

__all__ = ["ServerProtocol"]

log = logging.getLogger("broker.remoting")


def _format_address(addr: object) -> str:
    if isinstance(addr, tuple) and len(addr) >= 2:
        return f"{addr[0]}:{addr[1]}"
    return str(addr)


class ServerProtocol(asyncio.Protocol):
    """Serves one accepted connection."""

    def __init__(self, server: RemotingServer) -> None:
        self._server = server
        self._dispatcher: Dispatcher = server.dispatcher
        self._conn = RemotingConnection(server.max_frame_length)
        self._transport: asyncio.Transport | None = None
        self._channel: Channel | None = None
        self._in_flight = 0
        self._max_in_flight = server.max_in_flight
        self._reading_paused = False
        self._writing_paused = False
        self._tasks: set[asyncio.Task[None]] = set()

    # -- asyncio callbacks ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast("asyncio.Transport", transport)
        self._transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            # Java sets TCP_NODELAY on every channel; without it pipelined requests stall on
            # delayed ACKs (241 vs ~2,900 msg/s measured).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._channel = Channel(
            transport,
            _format_address(transport.get_extra_info("peername")),
            _format_address(transport.get_extra_info("sockname")),
        )
        self._server.connection_opened(self)

    def data_received(self, data: bytes) -> None:
        conn = self._conn
        channel = self._channel
        assert channel is not None
        assert self._transport is not None
        conn.receive_data(data)
        out: list[bytes] = []
        while True:
            try:
                cmd = conn.next_command()
            except RemoteProtocolError as exc:
                self._flush(out)
                self._protocol_error(exc)
                return
            if not isinstance(cmd, RemotingCommand):
                break
            if cmd.is_response:
                # Answers to requests the server sent (none awaited yet): Java logs and drops.
                log.debug(
                    "unexpected response opaque=%d from %s", cmd.opaque, channel.remote_address
                )
                continue
            result = self._dispatcher.dispatch(channel, cmd)
            if isinstance(result, RemotingCommand):
                if not cmd.is_oneway:
                    out.append(self._encode(cmd, result))
            elif result is not None:
                self._spawn(cmd, result)
        self._flush(out)

    def eof_received(self) -> bool | None:
        self._conn.receive_data(b"")
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        for task in self._tasks:
            task.cancel()
        if self._channel is not None:
            self._dispatcher.channel_closed(self._channel)
        self._server.connection_closed(self)

    def pause_writing(self) -> None:
        self._writing_paused = True
        self._update_reading()

    def resume_writing(self) -> None:
        self._writing_paused = False
        self._update_reading()

    # -- helpers ----------------------------------------------------------------------------

    @property
    def channel(self) -> Channel | None:
        """The channel of this connection (``None`` before it is made)."""
        return self._channel

    def close(self) -> None:
        """Close the connection."""
        if self._transport is not None:
            self._transport.close()

    def _encode(self, request: RemotingCommand, response: RemotingCommand) -> bytes:
        try:
            return self._conn.send(response)
        except Exception as exc:  # a processor built a response we cannot encode: our bug
            channel = self._channel
            assert channel is not None
            return self._conn.send(error_response(channel, request, exc))

    def _flush(self, out: list[bytes]) -> None:
        if out and self._transport is not None and not self._transport.is_closing():
            self._transport.write(out[0] if len(out) == 1 else b"".join(out))

    def _protocol_error(self, exc: RemoteProtocolError) -> None:
        assert self._transport is not None
        assert self._channel is not None
        log.warning("malformed frame from %s, closing: %s", self._channel.remote_address, exc)
        self._transport.abort()

    def _spawn(
        self, request: RemotingCommand, awaitable: Awaitable[RemotingCommand | None]
    ) -> None:
        self._in_flight += 1
        self._update_reading()
        task = asyncio.ensure_future(self._run(request, awaitable))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(
        self, request: RemotingCommand, awaitable: Awaitable[RemotingCommand | None]
    ) -> None:
        channel = self._channel
        assert channel is not None
        try:
            try:
                response = await awaitable
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                response = error_response(channel, request, exc)
            if response is not None and not request.is_oneway:
                self._flush([self._encode(request, response)])
        finally:
            self._in_flight -= 1
            self._update_reading()

    def _update_reading(self) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        should_pause = self._writing_paused or self._in_flight >= self._max_in_flight
        if should_pause and not self._reading_paused:
            transport.pause_reading()
            self._reading_paused = True
        elif not should_pause and self._reading_paused:
            transport.resume_reading()
            self._reading_paused = False


def busy_response(request: RemotingCommand) -> RemotingCommand:
    """SYSTEM_BUSY in Java's words, for processors that shed load."""
    return request.make_response(
        ResponseCode.SYSTEM_BUSY, "[REJECTREQUEST]system busy, start flow control for a while"
    )
