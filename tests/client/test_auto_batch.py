"""``auto_batch``: concurrent plain sends leave as batches, each caller with its own result.

Against our namesrv + broker over TCP, on asyncio and trio (and the blocking facade from
threads). What leaves as one request is observed through the trace hooks (one ``send`` per
request, with its ``message_count``); what arrives is read back by a consumer.
"""

from __future__ import annotations

import concurrent.futures
from typing import Any

import anyio
import pytest

from rocketmq_py import (
    AsyncProducer,
    ConfigError,
    Message,
    NoPermissionError,
    Producer,
    SendResult,
    SendStatus,
)
from rocketmq_py.exceptions import LocalProtocolError
from rocketmq_py.message import MessageQueueRef
from tests.client.helpers import consume, wait_for

pytestmark = pytest.mark.anyio


def _addr(namesrv: Any) -> str:
    return f"127.0.0.1:{namesrv.port}"


class Requests:
    """A trace hook recording the message count of every send request that completed or
    failed."""

    def __init__(self) -> None:
        self.completed: list[int] = []
        self.failed: list[int] = []

    async def __call__(self, event: str, info: dict[str, Any]) -> None:
        if event == "send.complete":
            self.completed.append(info["message_count"])
        elif event == "send.failed":
            self.failed.append(info["message_count"])


async def _send_all(producer: AsyncProducer, messages: list[Message]) -> list[SendResult]:
    """Send every message from a task of its own, all at once; results in message order."""
    results: list[SendResult | None] = [None] * len(messages)

    async def one(position: int) -> None:
        results[position] = await producer.send(messages[position])

    async with anyio.create_task_group() as tg:
        for position in range(len(messages)):
            tg.start_soon(one, position)
    assert all(r is not None for r in results)
    return [r for r in results if r is not None]


async def test_concurrent_sends_leave_together_with_results_of_their_own(
    namesrv: Any, broker: Any
) -> None:
    requests = Requests()
    messages = [
        Message("AutoBatch", f"m{i}", tags=f"T{i % 3}", keys=[f"k{i}"], properties={"n": str(i)})
        for i in range(60)
    ]
    async with AsyncProducer(
        "PG_auto", _addr(namesrv), auto_batch=True, hooks=[requests]
    ) as producer:
        await producer.send(Message("AutoBatch", b"route"))  # route and connection first
        results = await _send_all(producer, messages)
    assert producer.auto_batch
    batched = requests.completed[1:]
    assert sum(batched) == 60
    assert max(batched) > 1  # several messages per request
    assert len(batched) < 60
    assert all(r.status is SendStatus.SEND_OK for r in results)
    assert len({r.msg_id for r in results}) == 60
    assert len({r.offset_msg_id for r in results}) == 60
    got = {m.msg_id: m for m in await consume(_addr(namesrv), "AutoBatch", 61)}
    for i, result in enumerate(results):
        message = got[result.msg_id]  # each caller's id is its own message's
        assert message.body == f"m{i}".encode()
        assert message.tags == f"T{i % 3}"
        assert message.keys == f"k{i}"
        assert message.properties["n"] == str(i)
        assert message.queue == result.queue
        assert message.queue_offset == result.queue_offset
        assert message.offset_msg_id == result.offset_msg_id


async def test_sends_to_a_named_queue_batch_per_queue(namesrv: Any, broker: Any) -> None:
    requests = Requests()
    queue = MessageQueueRef("AutoBatchQueue", "broker-a", 1)
    async with AsyncProducer(
        "PG_auto_queue", _addr(namesrv), auto_batch=True, hooks=[requests]
    ) as producer:
        await producer.send(Message("AutoBatchQueue", b"route"))
        results: list[SendResult] = []

        async def one(i: int) -> None:
            results.append(await producer.send(Message("AutoBatchQueue", f"q{i}"), queue=queue))

        async with anyio.create_task_group() as tg:
            for i in range(20):
                tg.start_soon(one, i)
    assert {r.queue for r in results} == {queue}
    offsets = sorted(r.queue_offset for r in results)
    assert offsets == list(range(offsets[0], offsets[0] + 20))
    assert max(requests.completed[1:]) > 1


async def test_what_cannot_batch_is_sent_on_its_own(namesrv: Any, broker: Any) -> None:
    requests = Requests()
    async with AsyncProducer(
        "PG_auto_alone",
        _addr(namesrv),
        auto_batch=True,
        batch_max_bytes=4096,
        hooks=[requests],
    ) as producer:
        await producer.send(Message("AutoAlone", b"route"))
        alone = [
            Message("AutoAlone", b"delayed", delay_level=1),
            Message("AutoAlone", b"x" * 5000),  # over batch_max_bytes
        ]
        for message in alone:
            requests.completed.clear()
            await _send_all(
                producer, [message, Message("AutoAlone", b"a"), Message("AutoAlone", b"b")]
            )
            # The odd one out went alone; the two plain ones together.
            assert sorted(requests.completed) == [1, 2]
        requests.completed.clear()
        await producer.send(Message("AutoAlone", b"keyed"), sharding_key="order-1")
        assert requests.completed == [1]


async def test_a_failed_batch_fails_every_send_in_it(namesrv: Any, broker: Any) -> None:
    requests = Requests()
    async with AsyncProducer(
        "PG_auto_fail", _addr(namesrv), auto_batch=True, retries=0, hooks=[requests]
    ) as producer:
        errors: list[BaseException] = []

        async def one(i: int) -> None:
            try:
                # The broker refuses sends to its schedule topic (NO_PERMISSION).
                await producer.send(Message("SCHEDULE_TOPIC_XXXX", f"f{i}"))
            except NoPermissionError as exc:
                errors.append(exc)

        async with anyio.create_task_group() as tg:
            for i in range(5):
                tg.start_soon(one, i)
        assert len(errors) == 5
        assert requests.failed == [5]
        # The producer goes on working after a failed batch.
        assert (await producer.send(Message("AutoAfterFail", b"ok"))).status is SendStatus.SEND_OK


async def test_a_bad_message_fails_alone_not_its_batch(namesrv: Any, broker: Any) -> None:
    requests = Requests()
    async with AsyncProducer(
        "PG_auto_bad", _addr(namesrv), auto_batch=True, hooks=[requests]
    ) as producer:
        await producer.send(Message("AutoBad", b"route"))
        requests.completed.clear()
        outcomes: dict[int, object] = {}

        async def one(i: int) -> None:
            # \x01 separates a property's name from its value on the wire: not sendable.
            props = {"p": "a\x01b"} if i == 2 else {"p": str(i)}
            try:
                outcomes[i] = await producer.send(Message("AutoBad", f"b{i}", properties=props))
            except LocalProtocolError as exc:
                outcomes[i] = exc

        async with anyio.create_task_group() as tg:
            for i in range(5):
                tg.start_soon(one, i)
    assert isinstance(outcomes.pop(2), LocalProtocolError)
    assert all(isinstance(r, SendResult) for r in outcomes.values())
    assert requests.completed == [4]  # the four good ones, together


async def test_a_delay_holds_a_batch_open_and_shutdown_sends_it(namesrv: Any, broker: Any) -> None:
    requests = Requests()
    results: list[SendResult] = []

    async def one(producer: AsyncProducer, i: int) -> None:
        results.append(await producer.send(Message("AutoDelay", f"d{i}")))

    with anyio.fail_after(20):  # far less than the 30 s the batch would wait
        async with (
            anyio.create_task_group() as tg,
            AsyncProducer(
                "PG_auto_delay",
                _addr(namesrv),
                auto_batch=True,
                batch_max_delay=30.0,
                hooks=[requests],
            ) as producer,
        ):
            for i in range(3):
                tg.start_soon(one, producer, i)
                await anyio.sleep(0.05)  # spread out: the delay still gathers them
            accumulator = producer._accumulator
            assert accumulator is not None
            await wait_for(
                lambda: sum(len(b.parts) for b in accumulator._open.values()) == 3,
                what="three sends held",
            )
            assert results == []
            # Leaving the producer sent what it held, without waiting out the delay.
    assert requests.completed == [3]
    assert sorted(r.queue_offset - min(x.queue_offset for x in results) for r in results) == [
        0,
        1,
        2,
    ]


async def test_config_errors_name_the_field(namesrv: Any) -> None:
    addr = _addr(namesrv)
    with pytest.raises(ConfigError, match="batch_max_bytes"):
        AsyncProducer("PG_auto_cfg", addr, auto_batch=True, batch_max_bytes=8 * 1024 * 1024)
    with pytest.raises(ConfigError, match="batch_max_delay"):
        AsyncProducer("PG_auto_cfg", addr, auto_batch=True, batch_max_delay=-1)
    with pytest.raises(ConfigError, match="total_batch_max_bytes"):
        AsyncProducer("PG_auto_cfg", addr, auto_batch=True, total_batch_max_bytes=1024)


def test_blocking_producer_batches_sends_from_threads(namesrv: Any, broker: Any) -> None:
    requests = Requests()
    with Producer("PG_auto_sync", _addr(namesrv), auto_batch=True, hooks=[requests]) as producer:
        producer.send(Message("AutoSync", b"route"))
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            results = list(
                pool.map(lambda i: producer.send(Message("AutoSync", f"s{i}")), range(200))
            )
    assert len({r.msg_id for r in results}) == 200
    assert sum(requests.completed[1:]) == 200
    assert max(requests.completed[1:]) > 1
