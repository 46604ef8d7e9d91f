"""The blocking producer's fast path: plain sends made from the calling thread.

Why: a blocking call through the portal hands the send to the event loop thread and waits for
it to come back, two cross-thread wake-ups and a task per send. Measured here that costs more
than the send itself (1.7k sends/s, ~360 µs of CPU per send). A plain send whose route, queue
and broker are already known needs nothing from the event loop, so it is written on a
blocking socket owned by the calling thread and answered there, as a Java producer's thread
does the work of its own synchronous send.

Oneway sends take the same path (written, nothing read). What still goes through the portal:
the first sends of a topic and to a broker (route lookup,
first heartbeat), sends that choose their queue, traced sends, and every failure: a network
error or a retriable response code hands the already prepared message (same message id) to
the event loop's send, which retries on other queues and brokers as Java does.

Memory: one socket per thread and broker address, all closed by :meth:`DirectSender.close`.
"""

from __future__ import annotations

import socket
import threading
import time

from rocketmq_py._async.producer import AsyncProducer, Outgoing
from rocketmq_py._transport import parse_address
from rocketmq_py.exceptions import ConnectionClosedError, RemoteProtocolError
from rocketmq_py.message import Message, SendResult
from rocketmq_py.protocol.command import FLAG_ONEWAY, FLAG_RESPONSE, RemotingCommand
from rocketmq_py.protocol.connection import OpaqueAllocator, RemotingConnection

__all__ = ["DirectSender", "Retry"]


class _BlockingConnection:
    """One thread's blocking socket to one broker: one request at a time."""

    def __init__(self, address: str, timeout: float) -> None:
        host, port = parse_address(address)
        self._sock = socket.create_connection((host, port), timeout)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._parser = RemotingConnection()
        self._opaques = OpaqueAllocator()

    def call(self, request: RemotingCommand, timeout: float) -> RemotingCommand:
        """Send ``request`` and read until its response (raises OSError, TimeoutError or
        a RocketMQError; the connection is unusable after any of them)."""
        deadline = time.monotonic() + timeout
        request.opaque = opaque = self._opaques()
        sock, parser = self._sock, self._parser
        sock.settimeout(timeout)
        sock.sendall(parser.send(request))
        while True:
            command = parser.next_command()
            if isinstance(command, RemotingCommand):
                if command.flag & FLAG_RESPONSE and command.opaque == opaque:
                    return command
                continue  # nothing else is expected here: this socket never heartbeats
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no response within {timeout}s")
            sock.settimeout(remaining)
            data = sock.recv(65536)
            if not data:
                raise ConnectionClosedError("the broker closed the connection")
            parser.receive_data(data)

    def write(self, request: RemotingCommand) -> None:
        """Send a oneway ``request`` (nothing comes back)."""
        request.opaque = self._opaques()
        self._sock.sendall(self._parser.send(request))

    def close(self) -> None:
        self._sock.close()


class Retry:
    """A direct send that failed retriably: send ``out`` through the event loop."""

    __slots__ = ("out",)

    def __init__(self, out: Outgoing) -> None:
        self.out = out


class DirectSender:
    """Plain sends of one blocking producer, from the calling threads."""

    def __init__(self, producer: AsyncProducer) -> None:
        self._producer = producer
        self._local = threading.local()
        self._lock = threading.Lock()
        self._open: set[_BlockingConnection] = set()
        self._closed = False

    def send(self, message: Message) -> SendResult | Retry | None:
        """Send ``message`` from this thread.

        Returns:
            the result; :class:`Retry` when it must be retried through the event loop; ``None``
            when it was not attempted (not a send this path takes).

        Raises:
            ResponseError: the broker refused it for good (no retry would help).
            ConfigError: the message is invalid.
        """
        producer = self._producer
        plan = producer.direct_send_plan(message)
        if plan is None:
            return None
        out, target, address, request = plan
        began = time.monotonic()
        response: RemotingCommand | None = None
        try:
            conn = self._connection(address)
            if conn is None:
                return None  # closed by shutdown: nothing was sent
            response = conn.call(request, producer.send_timeout)
        except (OSError, ConnectionClosedError, RemoteProtocolError):
            self._drop(address)  # unreachable broker, reset, timeout: the event loop retries
        result = producer.direct_send_done(out, target, response, (time.monotonic() - began) * 1000)
        return result if result is not None else Retry(out)

    def send_oneway(self, message: Message) -> bool:
        """Send ``message`` oneway from this thread; False when it was not sent (not a send
        this path takes, or the socket failed: send it through the event loop)."""
        plan = self._producer.direct_send_plan(message)
        if plan is None:
            return False
        _, _, address, request = plan
        request.flag |= FLAG_ONEWAY
        try:
            conn = self._connection(address)
            if conn is None:
                return False
            conn.write(request)
        except OSError:
            self._drop(address)
            return False
        return True

    def _connection(self, address: str) -> _BlockingConnection | None:
        mine: dict[str, _BlockingConnection] | None = getattr(self._local, "connections", None)
        if mine is None:
            mine = self._local.connections = {}
        conn = mine.get(address)
        if conn is None:
            conn = _BlockingConnection(address, self._producer.send_timeout)  # not under the lock
            with self._lock:
                closed = self._closed
                if not closed:
                    self._open.add(conn)
            if closed:
                conn.close()
                return None
            mine[address] = conn
        return conn

    def _drop(self, address: str) -> None:
        mine: dict[str, _BlockingConnection] = getattr(self._local, "connections", {})
        conn = mine.pop(address, None)
        if conn is not None:
            with self._lock:
                self._open.discard(conn)
            conn.close()

    def close(self) -> None:
        """Close every thread's sockets; later sends go through the portal."""
        with self._lock:
            self._closed = True
            conns, self._open = self._open, set()
        for conn in conns:
            conn.close()
