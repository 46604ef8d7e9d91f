"""The SDK on trio: the same client code (anyio) against real server processes.

The in-process server fixtures need asyncio (the servers are asyncio Protocols), so these tests
talk to ``mqnamesrv``/``mqbroker`` subprocesses.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from rocketmq_py import AsyncLitePullConsumer, AsyncProducer, Message
from tests.conftest import ServerProcess, start_broker_process, start_namesrv_process

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "trio"


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home: Path = tmp_path_factory.mktemp("trio-home")
    namesrv: ServerProcess = start_namesrv_process(home)
    try:
        broker = start_broker_process(home, namesrv.addr, home / "store")
        try:
            yield namesrv.addr
        finally:
            broker.stop()
    finally:
        namesrv.stop()


async def test_produce_and_consume_on_trio(servers: str) -> None:
    import sniffio

    assert sniffio.current_async_library() == "trio"
    async with AsyncProducer("PG_trio", servers) as producer:
        results = []

        async def one(i: int) -> None:
            results.append(await producer.send(Message("TrioTopic", f"t{i}", tags="T")))

        async with anyio.create_task_group() as tg:
            for i in range(50):
                tg.start_soon(one, i)
        await producer.send_batch([Message("TrioTopic", f"b{i}", tags="T") for i in range(10)])
        await producer.send_oneway(Message("TrioTopic", "o", tags="T"))
    got: list[str] = []
    async with AsyncLitePullConsumer("CG_trio", servers, consume_from_where="first") as consumer:
        consumer.subscribe("TrioTopic", "T")
        with anyio.fail_after(30):
            while len(got) < 61:
                got.extend(m.body.decode() for m in await consumer.poll(timeout=1))
        await consumer.commit()
    assert sorted(got) == sorted(
        [f"t{i}" for i in range(50)] + [f"b{i}" for i in range(10)] + ["o"]
    )


async def test_assign_seek_and_commit_on_trio(servers: str) -> None:
    async with AsyncProducer("PG_trio2", servers) as producer:
        first = await producer.send(Message("TrioSeek", "a"))
        await producer.send(Message("TrioSeek", "b"), queue=first.queue)
    async with AsyncLitePullConsumer("CG_trio2", servers, auto_commit=False) as consumer:
        consumer.assign([first.queue])
        await consumer.seek(first.queue, first.queue_offset + 1)
        with anyio.fail_after(20):
            while not (messages := await consumer.poll(timeout=1)):
                pass
        assert [m.body for m in messages] == [b"b"]
        await consumer.commit()
        assert await consumer.committed(first.queue) == first.queue_offset + 2
