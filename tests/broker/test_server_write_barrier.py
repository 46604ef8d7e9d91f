"""The server's write barrier, and how it answers requests handled by futures.

The broker's store defers the commitlog write of a batch of sends to the barrier the server
runs before writing the batch's responses; when that write fails, no request of the batch may
be answered with success.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from broker._server import Dispatcher, RemotingServer
from broker._server.channel import Channel
from broker._server.protocol import ServerProtocol
from rocketmq_py.protocol.codes import ResponseCode
from rocketmq_py.protocol.command import RemotingCommand
from rocketmq_py.protocol.connection import RemotingConnection

pytestmark = pytest.mark.anyio

SYNC, LATER = 1001, 1002


class _Transport:
    """Just enough of an ``asyncio.Transport`` for a ServerProtocol."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 5555), "sockname": ("127.0.0.1", 10911)}.get(
            name, default
        )

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return False

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def responses(self) -> list[RemotingCommand]:
        conn = RemotingConnection()
        conn.receive_data(b"".join(self.writes))
        return list(conn.commands())


def _serve(dispatcher: Dispatcher) -> tuple[ServerProtocol, _Transport]:
    proto = ServerProtocol(RemotingServer(dispatcher))
    transport = _Transport()
    proto.connection_made(transport)  # type: ignore[arg-type]
    return proto, transport


def _frames(*codes: int) -> bytes:
    return b"".join(
        RemotingCommand.request(code, {"k": "v"}, opaque=i).encode() for i, code in enumerate(codes)
    )


async def test_a_failed_barrier_turns_every_response_of_the_batch_into_an_error() -> None:
    dispatcher = Dispatcher()
    dispatcher.register(SYNC, lambda channel, request: request.make_response())
    verdicts = [False, True]
    calls: list[int] = []

    def barrier() -> bool:
        calls.append(len(transport.writes))  # runs before the batch's responses are written
        return verdicts.pop(0)

    dispatcher.set_write_barrier(barrier)
    proto, transport = _serve(dispatcher)
    proto.data_received(_frames(SYNC, SYNC, SYNC))
    assert calls == [0]
    first = transport.responses()
    assert [r.code for r in first] == [ResponseCode.SYSTEM_ERROR] * 3
    assert [r.opaque for r in first] == [0, 1, 2]
    transport.writes.clear()
    proto.data_received(_frames(SYNC))
    assert [r.code for r in transport.responses()] == [ResponseCode.SUCCESS]


async def test_future_results_are_answered_together_after_the_barrier() -> None:
    loop = asyncio.get_running_loop()
    futures: list[asyncio.Future[RemotingCommand]] = []

    def later(channel: Channel, request: RemotingCommand) -> asyncio.Future[RemotingCommand]:
        fut: asyncio.Future[RemotingCommand] = loop.create_future()
        futures.append(fut)
        return fut

    dispatcher = Dispatcher()
    dispatcher.register(LATER, later)
    barriers: list[int] = []

    def barrier() -> bool:
        barriers.append(1)
        return True

    dispatcher.set_write_barrier(barrier)
    proto, transport = _serve(dispatcher)
    proto.data_received(_frames(LATER, LATER, LATER))
    assert transport.writes == []
    assert proto._in_flight == 3
    requests = [RemotingCommand.request(LATER, opaque=i) for i in range(3)]
    futures[0].set_result(requests[0].make_response())
    futures[1].set_exception(RuntimeError("boom"))
    futures[2].set_result(requests[2].make_response())
    for _ in range(3):
        await asyncio.sleep(0)
    assert len(transport.writes) == 1  # one write for the three
    codes = {r.opaque: r.code for r in transport.responses()}
    assert codes == {0: ResponseCode.SUCCESS, 1: ResponseCode.SYSTEM_ERROR, 2: ResponseCode.SUCCESS}
    assert proto._in_flight == 0
    assert len(barriers) == 2  # after the request batch, then before the late responses


async def test_pending_futures_are_cancelled_when_the_connection_goes() -> None:
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[RemotingCommand] = loop.create_future()
    dispatcher = Dispatcher()
    dispatcher.register(LATER, lambda channel, request: fut)
    proto, transport = _serve(dispatcher)
    proto.data_received(_frames(LATER))
    proto.connection_lost(None)
    assert fut.cancelled()
    await asyncio.sleep(0)
    assert transport.writes == []
    assert proto._in_flight == 0


async def test_responses_of_one_read_leave_in_chunks_of_16_or_16_kib_of_work() -> None:
    # A pipelining client sends dozens of requests per read: the first answers leave while the
    # rest are processed, every 16 requests, or sooner once their bodies reach 16 KiB (a batch
    # send is as much work as as many single sends).
    dispatcher = Dispatcher()
    dispatcher.register(SYNC, lambda channel, request: request.make_response())
    writes_before_barrier: list[int] = []

    def barrier() -> bool:
        writes_before_barrier.append(len(transport.writes))
        return True

    dispatcher.set_write_barrier(barrier)
    proto, transport = _serve(dispatcher)

    def frames(*bodies: int) -> bytes:
        return b"".join(
            RemotingCommand.request(SYNC, {"k": "v"}, opaque=i, body=b"x" * n).encode()
            for i, n in enumerate(bodies)
        )

    def answers_per_write() -> list[int]:
        counts = []
        for data in transport.writes:
            conn = RemotingConnection()
            conn.receive_data(data)
            counts.append(len(list(conn.commands())))
        return counts

    proto.data_received(frames(*[100] * 20))  # small requests: 16, then the last 4
    assert answers_per_write() == [16, 4]
    transport.writes.clear()
    writes_before_barrier.clear()
    proto.data_received(frames(30_000, 30_000, 100, 20_000))  # batch-sized bodies
    assert answers_per_write() == [1, 1, 2]
    assert {0, 1, 2} <= set(writes_before_barrier)  # each write passed the barrier first
