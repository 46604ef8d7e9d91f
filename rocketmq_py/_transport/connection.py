"""One client connection to a name server or broker.

A reader task feeds received bytes to the sans-IO :class:`RemotingConnection`; responses are
matched to waiting requests by opaque, and requests the server sends (CHECK_TRANSACTION_STATE,
NOTIFY_CONSUMER_IDS_CHANGED ...) go to an optional handler. Socket exceptions are translated to
:mod:`rocketmq_py.exceptions` at this one boundary.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import anyio
import anyio.abc
import anyio.lowlevel

from rocketmq_py.exceptions import (
    ConfigError,
    ConnectError,
    ConnectionClosedError,
    RemoteProtocolError,
    RequestTimeoutError,
)
from rocketmq_py.protocol.command import RemotingCommand
from rocketmq_py.protocol.connection import PendingRequests, RemotingConnection

__all__ = ["ClientConnection", "PendingResponse", "RequestHandler", "parse_address"]

#: Bytes of frames queued and not yet written beyond which writers wait (backpressure).
OUTBOX_LIMIT = 4 * 1024 * 1024

log = logging.getLogger("rocketmq_py.transport")

#: Handles a request the server sent us; returns the response (ignored for oneway requests).
RequestHandler = Callable[["ClientConnection", RemotingCommand], Awaitable[RemotingCommand | None]]


def parse_address(address: str) -> tuple[str, int]:
    """Split ``"host:port"`` (``"[v6]:port"`` for IPv6); raises ConfigError naming the value."""
    host, sep, port_text = address.strip().rpartition(":")
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ConfigError("address", address, "expected host:port")
    return host.strip("[]"), int(port_text)


@dataclass(slots=True)
class _Waiter:
    event: anyio.Event = field(default_factory=anyio.Event)
    response: RemotingCommand | None = None
    error: BaseException | None = None


class PendingResponse:
    """A sent request whose response has not been awaited yet."""

    __slots__ = ("_conn", "_opaque", "_request_code", "_waiter")

    def __init__(
        self, conn: ClientConnection, request_code: int, opaque: int, waiter: _Waiter
    ) -> None:
        self._conn = conn
        self._request_code = request_code
        self._opaque = opaque
        self._waiter = waiter

    async def wait(self, timeout: float = 3.0) -> RemotingCommand:
        """The response; raises RequestTimeoutError or ConnectionClosedError."""
        waiter = self._waiter
        try:
            with anyio.move_on_after(timeout):
                await waiter.event.wait()
        finally:
            self._conn._pending.pop(self._opaque)
        if waiter.error is not None:
            raise waiter.error
        if waiter.response is None:
            raise RequestTimeoutError(
                f"no response to request code {self._request_code} from {self._conn.address} "
                f"in {timeout}s"
            )
        return waiter.response


class ClientConnection:
    """A connected Remoting client socket.

    Create with :meth:`connect` inside a task group that runs its reader; close with
    :meth:`aclose`.
    """

    def __init__(
        self,
        address: str,
        stream: anyio.abc.SocketStream,
        handler: RequestHandler | None = None,
        *,
        max_in_flight: int = 65536,
    ) -> None:
        self.address = address
        self._stream = stream
        self._conn = RemotingConnection()
        self._pending: PendingRequests[_Waiter] = PendingRequests(max_in_flight)
        self._handler = handler
        # Frames written by any task in one loop iteration leave in one socket write (see
        # _write_loop): many requests in flight cost one syscall per batch, not one each.
        self._outbox: list[bytes] = []
        self._outbox_bytes = 0
        self._outbox_ready = anyio.Event()
        self._outbox_drained = anyio.Event()
        self._closed = False
        self._task_group: anyio.abc.TaskGroup | None = None

    @classmethod
    async def connect(
        cls,
        address: str,
        task_group: anyio.abc.TaskGroup,
        *,
        timeout: float = 3.0,
        handler: RequestHandler | None = None,
    ) -> ClientConnection:
        """Open a connection to ``address`` and start its reader in ``task_group``."""
        host, port = parse_address(address)
        try:
            with anyio.fail_after(timeout):
                stream = await anyio.connect_tcp(host, port)
        except TimeoutError:
            raise ConnectError(f"connect to {address} timed out after {timeout}s") from None
        except OSError as exc:
            raise ConnectError(f"connect to {address} failed: {exc.strerror or exc}") from None
        sock = stream.extra(anyio.abc.SocketAttribute.raw_socket)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = cls(address, stream, handler)
        conn._task_group = task_group
        task_group.start_soon(conn._read_loop)
        task_group.start_soon(conn._write_loop)
        return conn

    @property
    def closed(self) -> bool:
        """True once the connection is closed (by either side)."""
        return self._closed

    async def request(self, request: RemotingCommand, timeout: float = 3.0) -> RemotingCommand:
        """Send ``request`` and wait for its response.

        Raises:
            RequestTimeoutError: no response within ``timeout`` seconds.
            ConnectionClosedError: the connection closed first.
        """
        pending = await self.send_request(request)
        return await pending.wait(timeout)

    async def send_request(self, request: RemotingCommand) -> PendingResponse:
        """Write ``request`` now and return a handle to await its response later.

        Lets a caller pipeline: the request is on the wire (in order with later ones) when this
        returns.
        """
        if self._closed:
            raise ConnectionClosedError(f"connection to {self.address} is closed")
        waiter = _Waiter()
        opaque = self._pending.add(request, waiter)
        try:
            await self._write(request)
        except BaseException:
            self._pending.pop(opaque)
            raise
        return PendingResponse(self, request.code, opaque, waiter)

    async def oneway(self, request: RemotingCommand) -> None:
        """Send a oneway request (no response expected)."""
        request.flag |= 2
        request.opaque = 0
        await self._write(request)

    async def _write(self, command: RemotingCommand) -> None:
        """Queue ``command`` for the writer task; waits only while the outbox is full."""
        if self._closed:
            raise ConnectionClosedError(f"connection to {self.address} is closed")
        # A cancellation point that does not yield: yielding here would hand each frame to
        # the writer task on its own and undo the coalescing of a sending loop.
        await anyio.lowlevel.checkpoint_if_cancelled()
        data = self._conn.send(command)
        self._outbox.append(data)
        self._outbox_bytes += len(data)
        self._outbox_ready.set()
        # Backpressure: a peer that stops reading must not make the outbox grow without bound.
        while self._outbox_bytes > OUTBOX_LIMIT:
            if self.closed:  # the writer task is gone: this frame will never leave
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
                    await self._stream.send(frames[0] if len(frames) == 1 else b"".join(frames))
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
                    if command.is_response:
                        waiter = self._pending.match(command)
                        if waiter is None:
                            log.debug(
                                "response with unknown opaque %d from %s",
                                command.opaque,
                                self.address,
                            )
                            continue
                        waiter.response = command
                        waiter.event.set()
                    elif self._handler is not None and self._task_group is not None:
                        self._task_group.start_soon(self._serve_request, command)
        except RemoteProtocolError as exc:
            log.warning("malformed frame from %s: %s", self.address, exc)
            error = exc
        finally:
            with anyio.CancelScope(shield=True):
                await self._shutdown(error)

    async def _serve_request(self, request: RemotingCommand) -> None:
        assert self._handler is not None
        try:
            response = await self._handler(self, request)
        except Exception:
            log.exception("handler for server request code %d failed", request.code)
            return
        if response is not None and not request.is_oneway and not self._closed:
            response.opaque = request.opaque
            response.flag |= 1
            with contextlib.suppress(ConnectionClosedError):  # the peer left; nothing to answer
                await self._write(response)

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
        """Close the connection; waiting requests fail with ConnectionClosedError."""
        await self._shutdown(ConnectionClosedError(f"connection to {self.address} closed locally"))
