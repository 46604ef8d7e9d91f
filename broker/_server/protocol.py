"""Per-connection hot path: an ``asyncio.Protocol`` around a sans-IO ``RemotingConnection``.

Why a Protocol and not streams: with pipelined requests, framing on ``data_received`` measured
4-6x faster than ``StreamReader.readexactly`` (``research/performance.md`` section 6). Every
complete frame of one ``data_received`` call is processed in one loop and all the responses that
are ready are written with a single ``transport.write``, after the dispatcher's write barrier
(the broker writes the commitlog records of the batch's sends there, once for all of them).

Backpressure: at most ``max_in_flight`` asynchronous handlers run per connection; beyond that,
and whenever the transport's write buffer is over its high-water mark, the connection stops
reading until work drains, so a fast client cannot grow the server's memory without bound.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import socket
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, cast

from broker._server.channel import Channel
from broker._server.dispatch import Dispatcher, barrier_failed_response, error_response
from rocketmq_py.exceptions import RemoteProtocolError
from rocketmq_py.protocol.codes import ResponseCode
from rocketmq_py.protocol.command import FLAG_ONEWAY, FLAG_RESPONSE, RemotingCommand
from rocketmq_py.protocol.connection import RemotingConnection

if TYPE_CHECKING:
    from broker._server.server import RemotingServer

__all__ = ["ServerProtocol"]

log = logging.getLogger("broker.remoting")

#: Responses written at once within one socket read (a pipelining client sends dozens)...
_RESPONSES_PER_WRITE = 16
#: ... or fewer, once their requests carried this many body bytes: a batch send of 32
#: messages is as much work as 32 single sends, and its answer should not wait for the next.
_BYTES_PER_WRITE = 16 * 1024


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
        # Asynchronous handlers still running: tasks for coroutines, the futures themselves
        # for handlers that return a future (cancelled when the connection goes away).
        self._pending: set[asyncio.Future[Any]] = set()
        # Their responses, written together once per loop iteration (_flush_late).
        self._late_out: list[bytes] = []
        self._late_answered: list[RemotingCommand] = []
        self._late_flush: asyncio.Handle | None = None

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
        # Responses ready now, and the requests they answer (to replace them if the write
        # barrier fails).
        out: list[bytes] = []
        answered: list[RemotingCommand] = []
        dispatch = self._dispatcher.dispatch
        encode = conn.send
        answered_bytes = 0  # request bodies answered in out: the work they stand for
        while True:
            try:
                cmd = conn.next_command()
            except RemoteProtocolError as exc:
                self._flush_batch(out, answered)
                self._protocol_error(exc)
                return
            if not isinstance(cmd, RemotingCommand):
                break
            if cmd.flag & FLAG_RESPONSE:
                # Answers to requests the server sent (none awaited yet): Java logs and drops.
                log.debug(
                    "unexpected response opaque=%d from %s", cmd.opaque, channel.remote_address
                )
                continue
            result = dispatch(channel, cmd)
            if isinstance(result, RemotingCommand):
                if not cmd.flag & FLAG_ONEWAY:
                    try:  # self._encode(cmd, result), inlined for the common case
                        out.append(encode(result))
                    except Exception:
                        out.append(self._encode(cmd, result))
                    answered.append(cmd)
                    body = cmd.body
                    if body is not None:
                        answered_bytes += len(body)
                    if len(out) >= _RESPONSES_PER_WRITE or answered_bytes >= _BYTES_PER_WRITE:
                        # Let the client start on these while the rest are processed: one
                        # write for a whole socket read would serialize the two processes.
                        self._flush_batch(out, answered)
                        out, answered = [], []
                        answered_bytes = 0
            elif result is not None:
                self._spawn(cmd, result)
        self._flush_batch(out, answered)

    def eof_received(self) -> bool | None:
        self._conn.receive_data(b"")
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        for pending in list(self._pending):
            pending.cancel()
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

    def _flush_batch(self, out: list[bytes], answered: list[RemotingCommand]) -> None:
        """Pass the write barrier, then write the responses of one batch of requests."""
        if not self._dispatcher.write_barrier():
            out = [self._encode(req, barrier_failed_response(req)) for req in answered]
        self._flush(out)

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
        """Answer ``request`` when ``awaitable`` completes: a future directly through a
        callback (cheaper: SYNC_FLUSH sends return one each), anything else in a task."""
        self._in_flight += 1
        self._update_reading()
        if isinstance(awaitable, asyncio.Future):
            pending: asyncio.Future[Any] = awaitable
        else:
            pending = asyncio.ensure_future(self._run(awaitable))
        self._pending.add(pending)
        pending.add_done_callback(functools.partial(self._settled, request))

    @staticmethod
    async def _run(awaitable: Awaitable[RemotingCommand | None]) -> RemotingCommand | None:
        return await awaitable

    def _settled(self, request: RemotingCommand, done: asyncio.Future[Any]) -> None:
        """An asynchronous handler finished: queue its response (errors become one)."""
        self._pending.discard(done)
        self._in_flight -= 1
        self._update_reading()
        if done.cancelled():
            return
        exc = done.exception()
        channel = self._channel
        assert channel is not None
        response = done.result() if exc is None else error_response(channel, request, exc)
        if response is None or request.is_oneway:
            return
        self._late_out.append(self._encode(request, response))
        self._late_answered.append(request)
        if self._late_flush is None:
            self._late_flush = asyncio.get_running_loop().call_soon(self._flush_late)

    def _flush_late(self) -> None:
        """Write the responses asynchronous handlers produced since the last call, at once."""
        self._late_flush = None
        out, answered = self._late_out, self._late_answered
        self._late_out, self._late_answered = [], []
        self._flush_batch(out, answered)

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
