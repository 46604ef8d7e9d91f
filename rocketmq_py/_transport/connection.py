"""One client connection to a name server or broker: what every implementation shares.

:meth:`ClientConnection.connect` picks the implementation for the running event loop:

* on asyncio (and uvloop), :class:`~rocketmq_py._transport.asyncio_connection.AsyncioConnection`,
  an ``asyncio.Protocol`` whose requests wait on plain futures resolved from ``data_received``:
  no reader or writer task, no anyio event or cancel scope per request. anyio's own stream API
  costs ~40% of a producer's CPU per send on asyncio (its cancel scopes, checkpoints and the
  task hand-offs), and the research's section 6 asks for the transport called directly;
* on anything else (trio), :class:`~rocketmq_py._transport.stream_connection.StreamConnection`
  over anyio streams, with a reader and a writer task.

Both encode with the sans-IO :class:`RemotingConnection`, match responses by opaque, coalesce
the frames written in one loop iteration into one socket write, bound the bytes queued for
writing (``OUTBOX_LIMIT``), hand requests the server sends (CHECK_TRANSACTION_STATE,
NOTIFY_CONSUMER_IDS_CHANGED ...) to an optional handler in the pool's task group, and
translate socket exceptions to :mod:`rocketmq_py.exceptions` at this one boundary.
"""

from __future__ import annotations

import contextlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import Any

import anyio.abc
import sniffio

from rocketmq_py.exceptions import ConfigError, ConnectionClosedError, RequestTimeoutError
from rocketmq_py.protocol.command import RemotingCommand
from rocketmq_py.protocol.connection import RemotingConnection

__all__ = [
    "CLOSE_GRACE_S",
    "OUTBOX_LIMIT",
    "ClientConnection",
    "PendingResponse",
    "RequestHandler",
    "parse_address",
]

#: Bytes of frames queued and not yet written beyond which writers wait (backpressure).
OUTBOX_LIMIT = 4 * 1024 * 1024

#: Seconds aclose() lets queued frames leave before it resets the connection.
CLOSE_GRACE_S = 1.0

log = logging.getLogger("rocketmq_py.transport")

#: Handles a request the server sent us; returns the response (ignored for oneway requests).
RequestHandler = Callable[["ClientConnection", RemotingCommand], Awaitable[RemotingCommand | None]]


def parse_address(address: str) -> tuple[str, int]:
    """Split ``"host:port"`` (``"[v6]:port"`` for IPv6); raises ConfigError naming the value."""
    host, sep, port_text = address.strip().rpartition(":")
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ConfigError("address", address, "expected host:port")
    return host.strip("[]"), int(port_text)


class PendingResponse:
    """A request on the wire whose response has not been awaited yet (see ``send_request``).

    ``token`` is what the connection resumes the waiting caller with (a future, an event).
    """

    __slots__ = ("_conn", "_opaque", "_request", "_token")

    def __init__(
        self, conn: ClientConnection, request: RemotingCommand, opaque: int, token: Any
    ) -> None:
        self._conn = conn
        self._request = request
        self._opaque = opaque
        self._token = token

    async def wait(self, timeout: float = 3.0) -> RemotingCommand:
        """The response; raises RequestTimeoutError or ConnectionClosedError."""
        return await self._conn._wait(self._request, self._opaque, self._token, timeout)


class ClientConnection(ABC):
    """A connected Remoting client socket.

    Create with :meth:`connect` inside a task group (server requests are served in it); close
    with :meth:`aclose`.
    """

    def __init__(
        self,
        address: str,
        handler: RequestHandler | None,
        task_group: anyio.abc.TaskGroup | None,
    ) -> None:
        self.address = address
        self._conn = RemotingConnection()
        self._handler = handler
        self._task_group = task_group
        self._closed = False

    @classmethod
    async def connect(
        cls,
        address: str,
        task_group: anyio.abc.TaskGroup,
        *,
        timeout: float = 3.0,
        handler: RequestHandler | None = None,
    ) -> ClientConnection:
        """Open a connection to ``address`` with the implementation for this event loop.

        Raises:
            ConnectError: refused, unreachable or timed out.
            ConfigError: ``address`` is not ``host:port``.
        """
        host, port = parse_address(address)
        # Imported here: both implementations subclass this one.
        if sniffio.current_async_library() == "asyncio":
            from rocketmq_py._transport.asyncio_connection import AsyncioConnection  # noqa: PLC0415

            implementation: type[AsyncioConnection | StreamConnection] = AsyncioConnection
        else:
            from rocketmq_py._transport.stream_connection import StreamConnection  # noqa: PLC0415

            implementation = StreamConnection
        return await implementation.open(
            address, host=host, port=port, timeout=timeout, handler=handler, task_group=task_group
        )

    @property
    def closed(self) -> bool:
        """True once the connection is closed (by either side)."""
        return self._closed

    @abstractmethod
    async def request(self, request: RemotingCommand, timeout: float = 3.0) -> RemotingCommand:
        """Send ``request`` and wait for its response.

        Raises:
            RequestTimeoutError: no response within ``timeout`` seconds.
            ConnectionClosedError: the connection closed first.
        """

    @abstractmethod
    async def send_request(self, request: RemotingCommand) -> PendingResponse:
        """Queue ``request`` now and return a handle to await its response later.

        Lets a caller pipeline: the request leaves in order with later ones.
        """

    @abstractmethod
    async def _wait(
        self, request: RemotingCommand, opaque: int, token: Any, timeout: float
    ) -> RemotingCommand:
        """Wait for the response to a request ``send_request`` registered as ``token``."""

    @abstractmethod
    async def oneway(self, request: RemotingCommand) -> None:
        """Send a oneway request (no response expected)."""

    @abstractmethod
    async def aclose(self) -> None:
        """Close the connection; waiting requests fail with ConnectionClosedError."""

    @abstractmethod
    async def _write(self, command: RemotingCommand) -> None:
        """Queue ``command`` for writing; waits only while too much is queued."""

    # -- shared pieces ------------------------------------------------------------------------

    def _closed_error(self) -> ConnectionClosedError:
        return ConnectionClosedError(f"connection to {self.address} is closed")

    def _timeout_error(self, request: RemotingCommand, timeout: float) -> RequestTimeoutError:
        return RequestTimeoutError(
            f"no response to request code {request.code} from {self.address} in {timeout}s"
        )

    def _server_request(self, request: RemotingCommand) -> None:
        """A request the server sent: served by the handler in the pool's task group."""
        if self._handler is not None and self._task_group is not None:
            self._task_group.start_soon(self._serve_request, request)

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

    def _unmatched(self, response: RemotingCommand) -> None:
        log.debug("response with unknown opaque %d from %s", response.opaque, self.address)
