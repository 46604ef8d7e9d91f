"""AsyncProducer against our name server and broker over TCP."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from rocketmq_py import (
    AsyncLitePullConsumer,
    AsyncProducer,
    ConfigError,
    Message,
    ResponseError,
    SendStatus,
)
from tests.client.helpers import consume

pytestmark = pytest.mark.anyio


def _addr(namesrv: Any) -> str:
    return f"127.0.0.1:{namesrv.port}"


async def test_send_keeps_tags_keys_properties_and_body(namesrv: Any, broker: Any) -> None:
    async with AsyncProducer("PG_props", _addr(namesrv)) as producer:
        result = await producer.send(
            Message(
                "ProdProps",
                b"payload",
                tags="TagA",
                keys=["k1", "k2"],
                properties={"color": "blue"},
            )
        )
    assert result.status is SendStatus.SEND_OK
    assert len(result.msg_id) == 32 and result.offset_msg_id
    [message] = await consume(_addr(namesrv), "ProdProps", 1)
    assert (message.body, message.tags, message.keys) == (b"payload", "TagA", "k1 k2")
    assert message.properties["color"] == "blue"
    assert message.msg_id == result.msg_id


async def test_large_bodies_are_compressed_and_come_back_whole(namesrv: Any, broker: Any) -> None:
    body = bytes(range(256)) * 64  # 16 KiB, above the 4 KiB threshold
    async with AsyncProducer("PG_zip", _addr(namesrv)) as producer:
        await producer.send(Message("ProdZip", body))
    [message] = await consume(_addr(namesrv), "ProdZip", 1)
    assert message.body == body


async def test_batch_bodies_over_the_compression_threshold_come_back_whole(
    namesrv: Any, broker: Any
) -> None:
    # A batch carries no per-message sysFlag, so its bodies must travel uncompressed (Java
    # never compresses a MessageBatch's messages either).
    big = bytes(range(256)) * 64  # 16 KiB, above the 4 KiB threshold
    async with AsyncProducer("PG_zip_batch", _addr(namesrv)) as producer:
        await producer.send_batch([Message("ProdZipBatch", big), Message("ProdZipBatch", b"s")])
    got = await consume(_addr(namesrv), "ProdZipBatch", 2)
    assert sorted(m.body for m in got) == sorted([big, b"s"])


async def test_batch_and_oneway(namesrv: Any, broker: Any) -> None:
    async with AsyncProducer("PG_batch", _addr(namesrv)) as producer:
        result = await producer.send_batch([Message("ProdBatch", f"b{i}") for i in range(10)])
        assert len(result.msg_id.split(",")) == 10
        for i in range(5):
            await producer.send_oneway(Message("ProdBatch", f"o{i}"))
    got = await consume(_addr(namesrv), "ProdBatch", 15)
    assert sorted(m.body.decode() for m in got) == sorted(
        [f"b{i}" for i in range(10)] + [f"o{i}" for i in range(5)]
    )


async def test_many_sends_in_flight_on_one_producer(namesrv: Any, broker: Any) -> None:
    results = []
    async with AsyncProducer("PG_many", _addr(namesrv)) as producer:

        async def one(i: int) -> None:
            results.append(await producer.send(Message("ProdMany", f"m{i}")))

        async with anyio.create_task_group() as tg:
            for i in range(200):
                tg.start_soon(one, i)
    assert len({r.msg_id for r in results}) == 200


async def test_trace_hooks_see_sends_and_can_add_properties(namesrv: Any, broker: Any) -> None:
    events: list[tuple[str, Any]] = []

    async def hook(event: str, info: dict[str, Any]) -> None:
        events.append((event, info.get("topic")))
        if event == "send.started":
            info["properties"]["traceparent"] = "00-abc-def-01"

    async with AsyncProducer("PG_hooks", _addr(namesrv), hooks=[hook]) as producer:
        await producer.send(Message("ProdHooks", b"x"))
        with pytest.raises(ResponseError):
            await producer.send(Message("SCHEDULE_TOPIC_XXXX", b"forbidden"))
    assert events == [
        ("send.started", "ProdHooks"),
        ("send.complete", "ProdHooks"),
        ("send.started", "SCHEDULE_TOPIC_XXXX"),
        ("send.failed", "SCHEDULE_TOPIC_XXXX"),
    ]
    [message] = await consume(_addr(namesrv), "ProdHooks", 1)
    assert message.properties["traceparent"] == "00-abc-def-01"


async def test_bad_input_is_refused_client_side(namesrv: Any, broker: Any) -> None:
    async with AsyncProducer("PG_bad", _addr(namesrv)) as producer:
        with pytest.raises(ConfigError, match="delay_level"):
            await producer.send(Message("ProdBad", b"x", delay_level=99))
        with pytest.raises(ConfigError, match="UNIQ_KEY"):
            await producer.send(Message("ProdBad", b"x", properties={"UNIQ_KEY": "mine"}))
    with pytest.raises(ConfigError, match="group"):
        AsyncProducer("", _addr(namesrv))


async def test_receive_hooks_on_lite_pull(namesrv: Any, broker: Any) -> None:
    events: list[tuple[str, int]] = []

    def hook(event: str, info: dict[str, Any]) -> None:
        events.append((event, info.get("message_count", 0)))

    async with AsyncProducer("PG_recv", _addr(namesrv)) as producer:
        for i in range(3):
            await producer.send(Message("ProdRecv", f"r{i}"))
    async with AsyncLitePullConsumer(
        "CG_recv", _addr(namesrv), consume_from_where="first", hooks=[hook]
    ) as consumer:
        consumer.subscribe("ProdRecv")
        got = 0
        with anyio.fail_after(20):
            while got < 3:
                got += len(await consumer.poll(timeout=1))
    assert events[0] == ("receive.started", 0)
    assert sum(n for e, n in events if e == "receive.complete") == 3
    assert {e for e, _ in events} == {"receive.started", "receive.complete"}
