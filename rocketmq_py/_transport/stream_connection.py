"""The client connection over anyio streams: a reader task and a writer task (used on trio)."""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.abc
import anyio.lowlevel

from rocketmq_py._transport.connection import (
    CLOSE_GRACE_S,
    OUTBOX_LIMIT,
    ClientConnection,
    PendingResponse,
    RequestHandler,
)
from rocketmq_py.exceptions import ConnectError, ConnectionClosedError, RemoteProtocolError
from rocketmq_py.protocol.command import RemotingCommand
from rocketmq_py.protocol.connection import PendingRequests

__all__ = ["StreamConnection"]

log = logging.getLogger("rocketmq_py.transport")


@dataclass(slots=True)
class _Waiter:
    event: anyio.Event = field(default_factory=anyio.Event)
    response: RemotingCommand | None = None
    error: BaseException | None = None


class StreamConnection(ClientConnection):
    """A client connection on an anyio socket stream."""

    def __init__(
        self,
        address: str,
        stream: anyio.abc.SocketStream,
        handler: RequestHandler | None,
        task_group: anyio.abc.TaskGroup,
    ) -> None:
        super().__init__(address, handler, task_group)
        self._stream = stream
        self._pending: PendingRequests[_Waiter] = PendingRequests()
        # Frames written by any task in one loop iteration leave in one socket write (see
        # _write_loop): many requests in flight cost one syscall per batch, not one each.
        self._outbox: list[bytes] = []
        self._outbox_bytes = 0
        self._outbox_ready = anyio.Event()
        self._outbox_drained = anyio.Event()
        self._sending = False  # the writer task is in a socket write

    @classmethod
    async def open(
        cls,
        address: str,
        *,
        host: str,
        port: int,
        timeout: float,
        handler: RequestHandler | None,
        task_group: anyio.abc.TaskGroup,
    ) -> StreamConnection:
        """Connect and start the reader and writer tasks in ``task_group``."""
        try:
            with anyio.fail_after(timeout):
                stream = await anyio.connect_tcp(host, port)
        except TimeoutError:
            raise ConnectError(f"connect to {address} timed out after {timeout}s") from None
        except OSError as exc:
            raise ConnectError(f"connect to {address} failed: {exc.strerror or exc}") from None
        sock = stream.extra(anyio.abc.SocketAttribute.raw_socket)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = cls(address, stream, handler, task_group)
        task_group.start_soon(conn._read_loop)
        task_group.start_soon(conn._write_loop)
        return conn

    async def request(self, request: RemotingCommand, timeout: float = 3.0) -> RemotingCommand:
        pending = await self.send_request(request)
        return await pending.wait(timeout)

    async def send_request(self, request: RemotingCommand) -> PendingResponse:
        if self._closed:
            raise self._closed_error()
        waiter = _Waiter()
        opaque = self._pending.add(request, waiter)
        try:
            await self._write(request)
        except BaseException:
            self._pending.pop(opaque)
            raise
        return PendingResponse(self, request, opaque, waiter)

    async def _wait(
        self, request: RemotingCommand, opaque: int, token: Any, timeout: float
    ) -> RemotingCommand:
        waiter: _Waiter = token
        try:
            with anyio.move_on_after(timeout):
                await waiter.event.wait()
        finally:
            self._pending.pop(opaque)
        if waiter.error is not None:
            raise waiter.error
        if waiter.response is None:
            raise self._timeout_error(request, timeout)
        return waiter.response

    async def oneway(self, request: RemotingCommand) -> None:
        request.flag |= 2
        request.opaque = 0
        await self._write(request)

    async def _write(self, command: RemotingCommand) -> None:
        if self._closed:
            raise self._closed_error()
        # A cancellation point that does not yield: yielding here would hand each frame to
        # the writer task on its own and undo the coalescing of a sending loop.
        await anyio.lowlevel.checkpoint_if_cancelled()
        data = self._conn.send(command)
        self._outbox.append(data)
        self._outbox_bytes += len(data)
        self._outbox_ready.set()
        # Backpressure: a peer that stops reading must not make the outbox grow without bound.
        while self._outbox_bytes > OUTBOX_LIMIT:
            if self._closed:  # the writer task is gone: this frame will never leave
                raise ConnectionClosedError(f"send to {self.address} failed: connection closed")
            await self._outbox_drained.wait()

    async def _write_loop(self) -> None:
        """Send whatever the outbox holds, joined, until the connection closes."""
        try:
            while not self._closed:
                await self._outbox_ready.wait()
                self._outbox_ready = anyio.Event()
                while self._outbox:
                    frames, self._outbox = self._outbox, []
                    self._outbox_bytes = 0
                    self._sending = True
                    await self._stream.send(frames[0] if len(frames) == 1 else b"".join(frames))
                    self._sending = False
                    drained, self._outbox_drained = self._outbox_drained, anyio.Event()
                    drained.set()
        except (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
            with anyio.CancelScope(shield=True):
                await self._shutdown(ConnectionClosedError(f"send to {self.address} failed: {exc}"))

    async def _read_loop(self) -> None:
        error: BaseException = ConnectionClosedError(f"connection to {self.address} closed")
        try:
            while True:
                try:
                    data = await self._stream.receive(65536)
                except (
                    anyio.EndOfStream,
                    anyio.ClosedResourceError,
                    anyio.BrokenResourceError,
                    OSError,
                ):
                    break
                self._conn.receive_data(data)
                for command in self._conn.commands():
                    if not command.is_response:
                        self._server_request(command)
                        continue
                    waiter = self._pending.match(command)
                    if waiter is None:
                        self._unmatched(command)
                        continue
                    waiter.response = command
                    waiter.event.set()
        except RemoteProtocolError as exc:
            log.warning("malformed frame from %s: %s", self.address, exc)
            error = exc
        finally:
            with anyio.CancelScope(shield=True):
                await self._shutdown(error)

    async def _shutdown(self, error: BaseException) -> None:
        if self._closed:
            return
        self._closed = True
        self._outbox_ready.set()  # let the writer task see the close and end
        self._outbox_drained.set()
        for waiter in self._pending.drain():
            waiter.error = error
            waiter.event.set()
        await self._stream.aclose()

    async def aclose(self) -> None:
        # Frames queued before the close (a last oneway) leave first, unless the peer does not
        # take them within the grace period.
        with anyio.move_on_after(CLOSE_GRACE_S):
            while (self._outbox or self._sending) and not self._closed:
                await self._outbox_drained.wait()
        await self._shutdown(ConnectionClosedError(f"connection to {self.address} closed locally"))
