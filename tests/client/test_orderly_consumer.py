"""AsyncPushConsumer(orderly=True) against the in-process namesrv + broker over real TCP."""

from __future__ import annotations

import itertools
import time
import zlib
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

from rocketmq_py._async.client import ClientInstance
from rocketmq_py._async.lite_pull import AsyncLitePullConsumer
from rocketmq_py._async.producer import AsyncProducer
from rocketmq_py._async.push import AsyncPushConsumer
from rocketmq_py._async.queue_lock import lock_queues, unlock_queues
from rocketmq_py._transport import ConnectionPool
from rocketmq_py.exceptions import ConfigError, RequestTimeoutError
from rocketmq_py.message import Message, MessageQueueRef, MessageView
from tests.client.helpers import BROKER, create_topic, send, wait_for
from tests.client.test_push_consumer import committed, text, topic_queues

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def intruder(addr: str) -> AsyncIterator[ClientInstance]:
    """Another client id of the group, that only takes and releases queue locks."""
    async with ConnectionPool(connect_timeout=3.0) as pool:
        yield ClientInstance(addr, pool, instance_name="intruder")


def no_overlap(intervals: list[tuple[float, float, str]]) -> list[str]:
    """Handler calls of one queue that overlapped another call of it (by any consumer)."""
    problems = []
    latest_end, latest_by = float("-inf"), ""
    for start, end, who in sorted(intervals):
        if start < latest_end:
            problems.append(
                f"{who} started at {start:.6f} before {latest_by} ended {latest_end:.6f}"
            )
        if end > latest_end:
            latest_end, latest_by = end, who
    return problems


# -- configuration ------------------------------------------------------------------------------


async def test_orderly_config(addr: str) -> None:
    with pytest.raises(ConfigError, match="suspend_time"):
        AsyncPushConsumer("G", addr, orderly=True, suspend_time=0)
    with pytest.raises(ConfigError, match="suspend_time"):
        AsyncPushConsumer("G", addr, orderly=True, suspend_time=31)
    assert AsyncPushConsumer("G", addr, orderly=True, suspend_time=0.5).orderly
    assert not AsyncPushConsumer("G", addr).orderly


# -- order and exclusivity under rebalancing ----------------------------------------------------


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # ~25 s: once is enough
async def test_keys_stay_in_order_while_consumers_come_and_go(addr: str, broker: Any) -> None:
    topic, group = "OrderlyKeys", "CG_ORDERLY_KEYS"
    queues = await create_topic(addr, broker, topic, 4)
    keys = [f"k{i:02d}" for i in range(16)]
    per_key = 500
    total = len(keys) * per_key
    queue_of = {key: queues[zlib.crc32(key.encode()) % 4] for key in keys}
    assert {q.queue_id for q in queue_of.values()} == {0, 1, 2, 3}

    seen: dict[str, list[int]] = defaultdict(list)
    intervals: dict[int, list[tuple[float, float, str]]] = defaultdict(list)
    handled_by: Counter[str] = Counter()

    def make(name: str) -> AsyncPushConsumer:
        consumer = AsyncPushConsumer(
            group, addr, consume_from_where="first", orderly=True, max_concurrency=4
        )
        consumer.subscribe(topic)

        @consumer.handler
        async def handle(message: MessageView) -> None:
            start = time.perf_counter()
            key, seq = text(message).split(":")
            await anyio.sleep(0.002)  # long enough for a second handler of the queue to overlap
            seen[key].append(int(seq))
            handled_by[name] += 1
            intervals[message.queue.queue_id].append((start, time.perf_counter(), name))

        return consumer

    def handled() -> int:
        return sum(len(v) for v in seen.values())

    async def produce() -> None:
        async with AsyncProducer("PG_ORDERLY_KEYS", addr) as producer:

            async def one_queue(queue: MessageQueueRef) -> None:
                mine = [k for k in keys if queue_of[k] == queue]
                for seq in range(per_key):
                    for key in mine:
                        message = Message(topic, f"{key}:{seq}", keys=key)
                        await producer.send(message, queue=queue)
                    if seq % 20 == 19:
                        await anyio.sleep(0.15)  # spread the stream over the membership changes

            async with anyio.create_task_group() as tg:
                for queue in queues:
                    tg.start_soon(one_queue, queue)

    # Each consumer runs in a task of its own: they start and stop in no nested order.
    consumers = {name: make(name) for name in "abc"}
    stops = {name: anyio.Event() for name in "abc"}

    async def run(name: str, *, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
        async with consumers[name]:
            task_status.started()
            await stops[name].wait()

    async def stop(name: str) -> None:
        stops[name].set()
        await wait_for(lambda: not consumers[name].assignment(), 30, f"{name} stopped")

    async with anyio.create_task_group() as tg:
        await tg.start(run, "a")
        tg.start_soon(produce)
        await wait_for(lambda: handled() >= 1500, 30, "1500 messages")
        await tg.start(run, "b")  # joins: a gives queues away
        await wait_for(lambda: handled() >= 3000 and handled_by["b"] > 0, 30, "b at work")
        await tg.start(run, "c")
        await wait_for(lambda: handled() >= 4500 and handled_by["c"] > 0, 30, "c at work")
        await stop("b")  # leaves mid-stream
        await wait_for(lambda: handled() >= 6000, 30, "6000 messages")
        await stop("a")  # c ends up with every queue
        c = consumers["c"]
        await wait_for(lambda: topic_queues(c, topic) == set(queues), 30, "c owns all")
        await wait_for(
            lambda: all(set(seen[k]) == set(range(per_key)) for k in keys), 30, "every message"
        )
        await stop("c")

    duplicates = handled() - total
    print(f"handled {handled()} (duplicates {duplicates}), by consumer {dict(handled_by)}")
    for key in keys:
        assert seen[key] == sorted(seen[key]), f"{key} out of order"
        assert set(seen[key]) == set(range(per_key)), f"{key} incomplete"
    for queue_id, calls in intervals.items():
        assert not no_overlap(calls), (queue_id, no_overlap(calls)[:5])
    assert handled_by["a"] and handled_by["b"] and handled_by["c"]
    for queue in queues:
        assert await committed(addr, group, queue) == 4 * per_key


async def test_a_queue_is_consumed_only_once_its_lock_is_free(addr: str, broker: Any) -> None:
    topic, group = "OrderlyLocked", "CG_ORDERLY_LOCKED"
    queues = await create_topic(addr, broker, topic, 2)
    await send(addr, topic, 10, queues=queues)  # m0, m2 ... to queue 0; m1, m3 ... to queue 1
    got: list[tuple[int, str]] = []
    consumer = AsyncPushConsumer(group, addr, consume_from_where="first", orderly=True)
    consumer.subscribe(topic)

    @consumer.handler
    def handle(message: MessageView) -> None:  # sync: runs in a worker thread
        got.append((message.queue.queue_id, text(message)))

    async with intruder(addr) as other:
        assert await lock_queues(other, group, [queues[0]], timeout=3) == {queues[0]}
        async with consumer:
            await wait_for(lambda: len(got) == 5, 15, "queue 1")
            await anyio.sleep(1.5)  # several lock retries, all refused
            assert topic_queues(consumer, topic) == {queues[1]}
            assert {q for q, _ in got} == {1}
            # The consumer holds queue 1: the other client cannot take it.
            assert await lock_queues(other, group, queues, timeout=3) == {queues[0]}
            await unlock_queues(other, group, [queues[0]], timeout=3)
            await wait_for(lambda: len(got) == 10, 15, "queue 0 after the unlock")
        assert [t for q, t in got if q == 0] == [f"m{i}" for i in range(0, 10, 2)]
        assert [t for q, t in got if q == 1] == [f"m{i}" for i in range(1, 10, 2)]
        # Shutdown released every lock.
        assert await lock_queues(other, group, queues, timeout=3) == set(queues)
    for queue in queues:
        assert await committed(addr, group, queue) == 5


# -- failures -----------------------------------------------------------------------------------


async def test_a_failing_message_suspends_only_its_queue_then_goes_to_the_dlq(
    retry_addr: str, fast_retry_broker: Any
) -> None:
    addr, topic, group = retry_addr, "OrderlyPoison", "CG_ORDERLY_POISON"
    queues = await create_topic(addr, fast_retry_broker, topic, 4)
    await send(addr, topic, 4, queues=[queues[0]], prefix="q0-")  # q0-1 always fails
    calls: list[tuple[float, str, int]] = []
    outcomes: list[str] = []

    def hook(event: str, info: dict[str, Any]) -> None:
        if event == "settle.complete":
            outcomes.append(info["outcome"])

    suspend = 1.0
    consumer = AsyncPushConsumer(
        group,
        addr,
        consume_from_where="first",
        orderly=True,
        suspend_time=suspend,
        max_reconsume_times=3,
        hooks=[hook],
    )
    consumer.subscribe(topic)

    @consumer.handler
    async def handle(message: MessageView) -> bool:
        calls.append((time.monotonic(), text(message), message.reconsume_times))
        return text(message) != "q0-1"

    def attempts() -> list[tuple[float, str, int]]:
        return [c for c in calls if c[1] == "q0-1"]

    async with consumer:
        await wait_for(lambda: len(attempts()) >= 1, 15, "the first failure")
        await send(addr, topic, 30, queues=queues[1:], prefix="other-")
        await wait_for(lambda: sum(t.startswith("other-") for _, t, _ in calls) == 30, 15, "others")
        await wait_for(lambda: [t for _, t, _ in calls if t.startswith("q0-")][-1] == "q0-3", 15)
    order = [t for _, t, _ in calls if t.startswith("q0-")]
    assert order == ["q0-0", "q0-1", "q0-1", "q0-1", "q0-1", "q0-2", "q0-3"]
    tries = attempts()
    assert [r for _, _, r in tries] == [0, 1, 2, 3]
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(tries)]
    assert all(gap >= 0.9 * suspend for gap in gaps), gaps
    # Other queues flowed while queue 0 was suspended.
    first, last = tries[0][0], tries[-1][0]
    assert any(first < t < last for t, text_, _ in calls if text_.startswith("other-"))
    assert outcomes == ["suspend", "suspend", "suspend", "send_back"]
    assert await committed(addr, group, queues[0]) == 4

    dlq = MessageQueueRef(f"%DLQ%{group}", BROKER, 0)
    async with AsyncLitePullConsumer("CG_DLQ_READER", addr, auto_commit=False) as reader:
        reader.assign([dlq])
        dead: list[MessageView] = []
        with anyio.fail_after(10):
            while not dead:
                dead = await reader.poll(0.5)
    assert [text(m) for m in dead] == ["q0-1"]
    assert dead[0].properties["RETRY_TOPIC"] == topic


async def test_broadcasting_orderly_drops_after_retries(addr: str, broker: Any) -> None:
    topic = "OrderlyBroadcast"
    queues = await create_topic(addr, broker, topic, 1)
    await send(addr, topic, 3, queues=queues)
    calls: list[tuple[str, int]] = []
    consumer = AsyncPushConsumer(
        "CG_ORDERLY_BC",
        addr,
        message_model="broadcasting",
        consume_from_where="first",
        orderly=True,
        suspend_time=0.05,
        max_reconsume_times=2,
    )
    consumer.subscribe(topic)

    @consumer.handler
    async def handle(message: MessageView) -> None:
        calls.append((text(message), message.reconsume_times))
        if text(message) == "m1":
            raise ValueError("poison")

    async with consumer:
        await wait_for(lambda: calls and calls[-1][0] == "m2", 15, "m2")
    assert calls == [("m0", 0), ("m1", 0), ("m1", 1), ("m1", 2), ("m2", 0)]


async def test_a_queue_moves_only_after_its_running_handler_finished(
    addr: str, broker: Any
) -> None:
    topic, group = "OrderlyHandoff", "CG_ORDERLY_HANDOFF"
    queues = await create_topic(addr, broker, topic, 1)
    await send(addr, topic, 6, queues=queues)
    calls: list[tuple[float, float, str, str]] = []
    slow_started = anyio.Event()

    def make(name: str, instance: str) -> AsyncPushConsumer:
        consumer = AsyncPushConsumer(
            group, addr, consume_from_where="first", orderly=True, instance_name=instance
        )
        consumer.subscribe(topic)

        @consumer.handler
        async def handle(message: MessageView) -> None:
            start = time.perf_counter()
            if text(message) == "m1":
                slow_started.set()
                await anyio.sleep(2.5)  # longer than a rebalance waits for it (1 s)
            calls.append((start, time.perf_counter(), name, text(message)))

        return consumer

    # Client ids sort by instance name: the one queue goes to "a-new" once it joins.
    old, new = make("old", "z-old"), make("new", "a-new")
    async with old:
        with anyio.fail_after(15):
            await slow_started.wait()
        async with new:
            await wait_for(lambda: len(calls) == 6, 20, "every message")
    assert [t for _, _, _, t in calls] == [f"m{i}" for i in range(6)]  # once each, in order
    assert [w for _, _, w, _ in calls[:2]] == ["old", "old"]
    assert {w for _, _, w, _ in calls[2:]} == {"new"}
    assert not no_overlap([(start, end, who) for start, end, who, _ in calls])
    assert await committed(addr, group, queues[0]) == 6


async def test_dead_letter_falls_back_to_resending(
    retry_addr: str, fast_retry_broker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    addr, topic, group = retry_addr, "OrderlyResend", "CG_ORDERLY_RESEND"
    queues = await create_topic(addr, fast_retry_broker, topic, 1)
    await send(addr, topic, 2, queues=queues)
    outcomes: list[str] = []
    calls: list[tuple[str, int]] = []

    def hook(event: str, info: dict[str, Any]) -> None:
        if event == "settle.complete":
            outcomes.append(info["outcome"])

    consumer = AsyncPushConsumer(
        group,
        addr,
        consume_from_where="first",
        orderly=True,
        suspend_time=0.1,
        max_reconsume_times=1,
        hooks=[hook],
    )
    consumer.subscribe(topic)

    async def broken_send_back(message: MessageView, *, delay_level: int = 0) -> None:
        raise RequestTimeoutError("CONSUMER_SEND_MSG_BACK timed out (simulated)")

    monkeypatch.setattr(consumer, "_send_back_request", broken_send_back)

    @consumer.handler
    async def handle(message: MessageView) -> bool:
        calls.append((text(message), message.reconsume_times))
        return text(message) != "m0"

    async with consumer:
        await wait_for(lambda: ("m1", 0) in calls, 15, "m1 after m0 was given up")
    assert calls == [("m0", 0), ("m0", 1), ("m1", 0)]
    assert outcomes == ["suspend", "resend"]
    dlq = MessageQueueRef(f"%DLQ%{group}", BROKER, 0)
    async with AsyncLitePullConsumer("CG_DLQ_READER", addr, auto_commit=False) as reader:
        reader.assign([dlq])
        dead: list[MessageView] = []
        with anyio.fail_after(10):
            while not dead:
                dead = await reader.poll(0.5)
    assert [text(m) for m in dead] == ["m0"]
    assert dead[0].properties["RETRY_TOPIC"] == topic
    assert dead[0].reconsume_times == 2
