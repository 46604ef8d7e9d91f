"""``send_batch`` of more than one request can carry: split at ``max_message_size``, in order.

Against our namesrv + broker over TCP, on asyncio and trio. The broker refuses a batch body
over its ``maxMessageSize`` (4 MiB); the producer cuts the batch into requests under its own
``max_message_size`` (the same 4 MiB by default) and joins their results.
"""

from __future__ import annotations

from typing import Any

import pytest

from rocketmq_py import AsyncProducer, ConfigError, Message, SendStatus
from rocketmq_py.message import MessageQueueRef
from tests.client.helpers import consume

pytestmark = pytest.mark.anyio

MIB = 1024 * 1024


def _addr(namesrv: Any) -> str:
    return f"127.0.0.1:{namesrv.port}"


async def test_a_batch_over_4_mib_is_sent_as_several_requests(namesrv: Any, broker: Any) -> None:
    # 5 x 1 MiB: one request would be over the broker's 4 MiB (and was refused before).
    bodies = [bytes([i]) * MIB for i in range(5)]
    requests: list[int] = []

    async def hook(event: str, info: dict[str, Any]) -> None:
        if event == "send.complete":
            requests.append(info["message_count"])

    async with AsyncProducer("PG_split_big", _addr(namesrv), hooks=[hook]) as producer:
        result = await producer.send_batch([Message("SplitBig", b) for b in bodies])
    assert result.status is SendStatus.SEND_OK
    assert requests == [3, 2]  # three 1 MiB bodies plus framing fit under 4 MiB, not four
    assert len(result.msg_id.split(",")) == 5
    assert len(set(result.offset_msg_id.split(","))) == 5
    got = await consume(_addr(namesrv), "SplitBig", 5)
    assert sorted(m.body for m in got) == bodies
    assert sorted(m.msg_id for m in got) == sorted(result.msg_id.split(","))


async def test_split_requests_to_one_queue_keep_the_order(namesrv: Any, broker: Any) -> None:
    queue = MessageQueueRef("SplitOrder", "broker-a", 0)
    messages = [
        Message("SplitOrder", f"m{i:02d}".encode() * 100, keys=[f"k{i}"]) for i in range(20)
    ]
    requests: list[int] = []

    async def hook(event: str, info: dict[str, Any]) -> None:
        if event == "send.complete":
            requests.append(info["message_count"])

    async with AsyncProducer(
        "PG_split_order", _addr(namesrv), max_message_size=2048, hooks=[hook]
    ) as producer:
        await producer.send(Message("SplitOrder", b"create the topic"), queue=queue)
        result = await producer.send_batch(messages, queue=queue)
    # Each message is about 560 bytes as the broker stores it: three per request, seven
    # requests.
    assert requests[1:] == [3, 3, 3, 3, 3, 3, 2]  # requests[0]: the send creating the topic
    assert result.queue == queue
    assert result.queue_offset == 1
    ids = result.msg_id.split(",")
    assert len(ids) == 20
    got = await consume(_addr(namesrv), "SplitOrder", 21)
    in_queue = sorted((m for m in got if m.queue.queue_id == 0), key=lambda m: m.queue_offset)
    assert [m.body for m in in_queue[1:]] == [m.body_bytes() for m in messages]
    assert [m.msg_id for m in in_queue[1:]] == ids
    assert [m.keys for m in in_queue[1:]] == [f"k{i}" for i in range(20)]
    assert [m.queue_offset for m in in_queue] == list(range(21))


async def test_a_message_too_big_for_any_request_names_itself(namesrv: Any, broker: Any) -> None:
    async with AsyncProducer("PG_split_one", _addr(namesrv), max_message_size=4096) as producer:
        with pytest.raises(ConfigError) as caught:
            await producer.send_batch(
                [Message("SplitOne", b"small"), Message("SplitOne", b"x" * 4090)]
            )
    assert "message 1" in str(caught.value)
    assert "max_message_size 4096" in str(caught.value)
