"""ClientConnection against raw loopback peers: write coalescing and outbox backpressure."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import anyio
import pytest

from rocketmq_py._transport.connection import OUTBOX_LIMIT, ClientConnection
from rocketmq_py.exceptions import ConnectionClosedError
from rocketmq_py.protocol.command import RemotingCommand
from rocketmq_py.protocol.connection import RemotingConnection

pytestmark = pytest.mark.anyio


@pytest.fixture
def silent_peer() -> Iterator[tuple[socket.socket, list[socket.socket]]]:
    """A listening socket whose accepted connections are never read (tiny receive buffer)."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    server.bind(("127.0.0.1", 0))
    server.listen()
    accepted: list[socket.socket] = []
    try:
        yield server, accepted
    finally:
        for s in accepted:
            s.close()
        server.close()


def _accept(server: socket.socket, accepted: list[socket.socket]) -> None:
    conn, _ = server.accept()
    accepted.append(conn)


async def test_frames_from_many_tasks_arrive_whole_and_in_order() -> None:
    received = bytearray()
    done = anyio.Event()

    async def serve(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            while not done.is_set():
                try:
                    received.extend(await stream.receive())
                except anyio.EndOfStream:
                    break
                if len(received) >= expected_bytes:
                    done.set()

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    frames = [RemotingCommand.request(9999, None, f"body {i}".encode() * 10) for i in range(500)]
    expected_bytes = sum(len(RemotingConnection().send(f)) for f in frames)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, serve)
        conn = await ClientConnection.connect(f"127.0.0.1:{port}", tg)
        for frame in frames:  # queued within one loop iteration: joined into few writes
            await conn.oneway(frame)
        with anyio.fail_after(10):
            await done.wait()
        await conn.aclose()
        tg.cancel_scope.cancel()
    parser = RemotingConnection()
    parser.receive_data(bytes(received))
    bodies = [c.body for c in parser.commands() if isinstance(c, RemotingCommand)]
    assert bodies == [f.body for f in frames]


async def test_a_peer_that_stops_reading_blocks_writers_then_fails_them(
    silent_peer: tuple[socket.socket, list[socket.socket]],
) -> None:
    server, accepted = silent_peer
    port = server.getsockname()[1]
    chunk = b"x" * (256 * 1024)
    sent = 0
    async with anyio.create_task_group() as tg:
        conn = await ClientConnection.connect(f"127.0.0.1:{port}", tg)
        await anyio.to_thread.run_sync(_accept, server, accepted)
        # Kernel buffers absorb a few MiB; after that the outbox fills and writers wait.
        with anyio.move_on_after(2) as scope:
            while True:
                await conn.oneway(RemotingCommand.request(9999, None, chunk))
                sent += 1
        assert scope.cancelled_caught, "writes never blocked: the outbox is unbounded"
        assert conn._outbox_bytes <= OUTBOX_LIMIT + len(chunk) + 1024
        assert sent < 400  # ~100 MB would mean no backpressure at all

        async def blocked_writer() -> None:
            with pytest.raises(ConnectionClosedError):
                await conn.oneway(RemotingCommand.request(9999, None, chunk))

        outcome: list[BaseException] = []

        async def keep_writing() -> None:
            try:
                while True:  # soon blocked again on the full outbox
                    await conn.oneway(RemotingCommand.request(9999, None, chunk))
            except ConnectionClosedError as exc:
                outcome.append(exc)

        tg.start_soon(keep_writing)
        await anyio.sleep(0.5)
        assert not outcome
        await conn.aclose()  # the waiting writer is released with an error
        with anyio.fail_after(5):
            while not outcome:
                await anyio.sleep(0.01)
        with pytest.raises(ConnectionClosedError):
            await conn.oneway(RemotingCommand.request(9999, None, b"late"))


async def test_a_oneway_sent_right_before_aclose_still_leaves() -> None:
    """Frames queued in the loop iteration of ``aclose()`` are written before the close."""
    received = bytearray()
    closed = anyio.Event()

    async def serve(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            while True:
                try:
                    received.extend(await stream.receive())
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    break
        closed.set()

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    last = RemotingCommand.request(9999, None, b"goodbye")
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, serve)
        conn = await ClientConnection.connect(f"127.0.0.1:{port}", tg)
        await conn.oneway(last)
        await conn.aclose()
        with anyio.fail_after(10):
            await closed.wait()
        tg.cancel_scope.cancel()
    parser = RemotingConnection()
    parser.receive_data(bytes(received))
    assert [c.body for c in parser.commands() if isinstance(c, RemotingCommand)] == [b"goodbye"]
    assert conn.closed
