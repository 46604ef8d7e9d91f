"""AsyncPushConsumer against the in-process namesrv + broker over real TCP."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import pytest

from rocketmq_py._async.lite_pull import AsyncLitePullConsumer
from rocketmq_py._async.producer import AsyncProducer
from rocketmq_py._async.push import AsyncPushConsumer
from rocketmq_py.exceptions import ConfigError, RequestTimeoutError
from rocketmq_py.message import Message, MessageQueueRef, MessageView
from rocketmq_py.protocol import fastjson
from tests.client.helpers import BROKER, create_topic, send, wait_for

pytestmark = pytest.mark.anyio


def text(message: MessageView) -> str:
    return message.body.decode().rstrip(".")


def topic_queues(consumer: AsyncPushConsumer, topic: str) -> set[MessageQueueRef]:
    return {q for q in consumer.assignment() if q.topic == topic}


async def committed(addr: str, group: str, queue: MessageQueueRef) -> int | None:
    async with AsyncLitePullConsumer(group, addr, auto_commit=False) as reader:
        return await reader.committed(queue)


# -- configuration ------------------------------------------------------------------------------


async def test_config_errors(addr: str) -> None:
    with pytest.raises(ConfigError):
        AsyncPushConsumer("")
    with pytest.raises(ConfigError):
        AsyncPushConsumer("G", addr, message_model="p2p")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        AsyncPushConsumer("G", addr, consume_from_where="middle")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        AsyncPushConsumer("G", addr, max_concurrency=0)
    with pytest.raises(ConfigError):
        AsyncPushConsumer("G", addr, pull_threshold_for_queue=0)
    with pytest.raises(ConfigError):
        AsyncPushConsumer("G", addr, pull_threshold_size_for_queue_mib=0)
    consumer = AsyncPushConsumer("G", addr)
    with pytest.raises(ConfigError):
        consumer.subscribe("T", "||")
    with pytest.raises(ConfigError):
        consumer.subscribe("%RETRY%G")
    with pytest.raises(ConfigError):
        consumer.register("not callable")  # type: ignore[arg-type]
    consumer.subscribe("T")
    with pytest.raises(ConfigError):  # no handler
        await consumer.start()


# -- delivery -----------------------------------------------------------------------------------


async def test_every_message_consumed_once_with_tag_filter(addr: str, broker: Any) -> None:
    queues = await create_topic(addr, broker, "PushTags", 4)
    tags = ["TagA", "TagB", "TagC", None]
    await send(addr, "PushTags", 40, queues=queues, tags=lambda i: tags[i % 4])
    got: list[MessageView] = []
    consumer = AsyncPushConsumer("CG_PUSH_TAGS", addr, consume_from_where="first")
    consumer.subscribe("PushTags", "TagA || TagC")

    @consumer.handler
    async def handle(message: MessageView) -> None:
        got.append(message)

    async with consumer:
        assert topic_queues(consumer, "PushTags") == set(queues)
        # Clustering subscribes the group's retry topic by itself.
        assert {q.topic for q in consumer.assignment()} == {"PushTags", "%RETRY%CG_PUSH_TAGS"}
        await wait_for(lambda: len(got) >= 20, what="20 messages")
        await anyio.sleep(0.5)  # nothing more, nothing twice
    assert sorted(text(m) for m in got) == sorted(f"m{i}" for i in range(40) if i % 4 in (0, 2))
    assert {m.tags for m in got} == {"TagA", "TagC"}
    assert all(m.reconsume_times == 0 and m.topic == "PushTags" for m in got)
    # Shutdown committed the ends of the queues (filtered ranges count as consumed).
    assert [await committed(addr, "CG_PUSH_TAGS", q) for q in queues] == [10, 10, 10, 10]


async def test_concurrency_bound_is_respected(addr: str, broker: Any) -> None:
    queues = await create_topic(addr, broker, "PushConcurrency", 4)
    await send(addr, "PushConcurrency", 40, queues=queues)
    running = peak = 0
    done: list[str] = []
    consumer = AsyncPushConsumer(
        "CG_PUSH_CONC", addr, consume_from_where="first", max_concurrency=3
    )
    consumer.subscribe("PushConcurrency")

    async def handle(message: MessageView) -> bool:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await anyio.sleep(0.02)
        running -= 1
        done.append(text(message))
        return True

    consumer.register(handle)
    async with consumer:
        await wait_for(lambda: len(done) >= 40, what="40 messages")
    assert peak == 3
    assert sorted(done) == sorted(f"m{i}" for i in range(40))


async def test_sync_handler_runs_in_bounded_threads(addr: str, broker: Any) -> None:
    queues = await create_topic(addr, broker, "PushSync", 2)
    await send(addr, "PushSync", 20, queues=queues)
    lock = threading.Lock()
    running = peak = 0
    threads: set[int] = set()
    done: list[str] = []
    consumer = AsyncPushConsumer(
        "CG_PUSH_SYNC", addr, consume_from_where="first", max_concurrency=2
    )
    consumer.subscribe("PushSync")

    @consumer.handler
    def handle(message: MessageView) -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
            threads.add(threading.get_ident())
        time.sleep(0.01)
        with lock:
            running -= 1
            done.append(text(message))

    async with consumer:
        await wait_for(lambda: len(done) >= 20, what="20 messages")
    assert threading.get_ident() not in threads
    assert peak <= 2
    assert sorted(done) == sorted(f"m{i}" for i in range(20))


async def test_two_consumers_split_the_queues_then_one_takes_over(addr: str, broker: Any) -> None:
    queues = await create_topic(addr, broker, "PushGroup", 8)
    retry = "%RETRY%CG_PUSH_GROUP"
    got: Counter[str] = Counter()
    by: dict[str, set[MessageQueueRef]] = {"a": set(), "b": set()}

    def make(name: str) -> AsyncPushConsumer:
        consumer = AsyncPushConsumer(
            "CG_PUSH_GROUP", addr, consume_from_where="first", max_concurrency=2
        )
        consumer.subscribe("PushGroup")

        @consumer.handler
        async def handle(message: MessageView) -> None:
            await anyio.sleep(0.02)  # slow enough for b to leave with messages left over
            got[text(message)] += 1
            by[name].add(message.queue)

        return consumer

    a, b = make("a"), make("b")
    async with a:
        await wait_for(lambda: topic_queues(a, "PushGroup") == set(queues), what="a owns all")
        async with b:

            def split() -> bool:
                mine, theirs = topic_queues(a, "PushGroup"), topic_queues(b, "PushGroup")
                retries = len(topic_queues(a, retry)) + len(topic_queues(b, retry))
                return len(mine) == len(theirs) == 4 and not mine & theirs and retries == 1

            await wait_for(split, what="4 + 4, and the one retry queue to one of them")
            await send(addr, "PushGroup", 80, queues=queues)
            await wait_for(lambda: len(got) >= 40, what="half of the messages")
        # b left mid-stream (UNREGISTER_CLIENT): the broker notifies a, which takes over from
        # the offsets b committed.
        assert len(got) < 80
        await wait_for(lambda: topic_queues(a, "PushGroup") == set(queues), what="a owns all")
        await send(addr, "PushGroup", 8, queues=queues, prefix="late")
        expected = {f"m{i}" for i in range(80)} | {f"late{i}" for i in range(8)}
        await wait_for(lambda: set(got) >= expected, timeout=15, what="every message")
    assert set(got) == expected  # none lost (a few may have been consumed twice)
    assert by["a"] and by["b"]


async def test_broadcasting_gives_everything_to_everyone(
    addr: str, broker: Any, tmp_path: Path
) -> None:
    queues = await create_topic(addr, broker, "PushBroadcast", 4)
    store = tmp_path / "offsets"
    got: dict[str, Counter[str]] = {"A": Counter(), "B": Counter()}
    consumers = []
    for name in ("A", "B"):
        consumer = AsyncPushConsumer(
            "CG_PUSH_BCAST",
            addr,
            message_model="broadcasting",
            consume_from_where="first",
            instance_name=name,
            offset_store_dir=store,
        )
        consumer.subscribe("PushBroadcast")

        def handle(message: MessageView, name: str = name) -> bool:
            got[name][text(message)] += 1
            return text(message) != "m3"  # failures are dropped, not retried

        consumer.register(handle)
        consumers.append(consumer)
    async with consumers[0] as a, consumers[1] as b:
        assert a.assignment() == b.assignment() == set(queues)  # no retry topic
        await send(addr, "PushBroadcast", 20, queues=queues)
        await wait_for(lambda: len(got["A"]) == len(got["B"]) == 20, what="both got all")
        await anyio.sleep(0.5)
    for name in ("A", "B"):
        assert got[name] == Counter(f"m{i}" for i in range(20))
    for consumer in consumers:
        assert consumer.offset_file.parent == store / consumer.client_id / "CG_PUSH_BCAST"
        table = fastjson.loads(consumer.offset_file.read_bytes())["offsetTable"]
        offsets = {k.get("queueId"): v for k, v in table.items()}
        assert offsets == {0: 5, 1: 5, 2: 5, 3: 5}


# -- offsets and shutdown -----------------------------------------------------------------------


async def test_graceful_shutdown_finishes_handlers_and_commits(addr: str, broker: Any) -> None:
    queues = await create_topic(addr, broker, "PushShutdown", 1)
    await send(addr, "PushShutdown", 10, queues=queues)
    got: list[str] = []
    slow_started = anyio.Event()
    consumer = AsyncPushConsumer(
        "CG_PUSH_SHUT", addr, consume_from_where="first", commit_interval=3600
    )
    consumer.subscribe("PushShutdown")

    @consumer.handler
    async def handle(message: MessageView) -> None:
        if text(message) == "m9":
            slow_started.set()
            await anyio.sleep(0.5)
        got.append(text(message))

    async with consumer:
        await slow_started.wait()
        # Leaving the block while m9 is being handled: shutdown waits for it.
    assert sorted(got) == sorted(f"m{i}" for i in range(10))
    assert await committed(addr, "CG_PUSH_SHUT", queues[0]) == 10

    # A new consumer of the group starts after them ("first" would otherwise re-read them).
    again: list[str] = []
    consumer = AsyncPushConsumer("CG_PUSH_SHUT", addr, consume_from_where="first")
    consumer.subscribe("PushShutdown")
    consumer.register(lambda message: again.append(text(message)))
    async with consumer:
        await send(addr, "PushShutdown", 3, queues=queues, prefix="new")
        await wait_for(lambda: len(again) >= 3, what="the new messages")
        await anyio.sleep(0.3)
    assert sorted(again) == ["new0", "new1", "new2"]  # sync handlers run in parallel threads


async def test_shutdown_deadline_cancels_stuck_handlers(addr: str, broker: Any) -> None:
    queues = await create_topic(addr, broker, "PushStuck", 1)
    await send(addr, "PushStuck", 3, queues=queues)
    got: list[str] = []
    cancelled = anyio.Event()
    consumer = AsyncPushConsumer(
        "CG_PUSH_STUCK", addr, consume_from_where="first", max_concurrency=1, shutdown_timeout=0.2
    )
    consumer.subscribe("PushStuck")

    @consumer.handler
    async def handle(message: MessageView) -> None:
        if text(message) == "m1":
            try:
                await anyio.sleep_forever()
            finally:
                cancelled.set()
        got.append(text(message))

    async with consumer:
        await wait_for(lambda: got == ["m0"], what="m0")
    assert cancelled.is_set()
    # m1 never finished: the offset stays on it, so the group gets m1 and m2 again.
    assert await committed(addr, "CG_PUSH_STUCK", queues[0]) == 1


async def test_offsets_committed_while_running(addr: str, broker: Any) -> None:
    queues = await create_topic(addr, broker, "PushAutoCommit", 2)
    await send(addr, "PushAutoCommit", 10, queues=queues)
    got: list[str] = []
    consumer = AsyncPushConsumer(
        "CG_PUSH_AUTO", addr, consume_from_where="first", commit_interval=0.1
    )
    consumer.subscribe("PushAutoCommit")
    consumer.register(lambda message: got.append(text(message)))
    async with consumer:
        await wait_for(lambda: len(got) >= 10)
        with anyio.fail_after(5):
            while [await committed(addr, "CG_PUSH_AUTO", q) for q in queues] != [5, 5]:
                await anyio.sleep(0.05)


# -- flow control -------------------------------------------------------------------------------


async def test_flow_control_pauses_a_queue_with_too_many_cached(addr: str, broker: Any) -> None:
    queues = await create_topic(addr, broker, "PushFlowCount", 1)
    async with AsyncProducer("PG_PUSH", addr) as producer:
        await producer.send_batch([Message("PushFlowCount", f"m{i}") for i in range(50)])
    release = anyio.Event()
    started: list[str] = []
    cached_seen: list[int] = []
    consumer = AsyncPushConsumer(
        "CG_PUSH_FLOW", addr, consume_from_where="first", pull_threshold_for_queue=5
    )
    consumer.subscribe("PushFlowCount")

    @consumer.handler
    async def handle(message: MessageView) -> None:
        started.append(text(message))
        cached_seen.append(len(consumer._queues[queues[0]].messages))
        await release.wait()

    async with consumer:
        await wait_for(lambda: len(started) == 5, what="5 handlers")
        await anyio.sleep(0.3)
        pq = consumer._queues[queues[0]]
        assert len(started) == 5  # 20 workers, but the queue holds no more than 5
        assert len(pq.messages) == 5
        assert pq.flow_control_times >= 1
        release.set()
        await wait_for(lambda: len(started) == 50, what="all 50")
    assert max(cached_seen) <= 5
    # Concurrent consumption promises no start order (trio wakes workers in its own order).
    assert sorted(started) == sorted(f"m{i}" for i in range(50))


async def test_flow_control_by_cached_size(addr: str, broker: Any) -> None:
    queues = await create_topic(addr, broker, "PushFlowSize", 1)
    await send(addr, "PushFlowSize", 60, queues=queues, size=300)
    release = anyio.Event()
    done: list[str] = []
    consumer = AsyncPushConsumer(
        "CG_PUSH_FLOW_SIZE",
        addr,
        consume_from_where="first",
        max_concurrency=2,
        pull_batch_size=8,
        pull_threshold_size_for_queue_mib=2000 / (1024 * 1024),  # 2000 bytes
    )
    consumer.subscribe("PushFlowSize")

    @consumer.handler
    async def handle(message: MessageView) -> None:
        await release.wait()
        done.append(text(message))

    async with consumer:
        await wait_for(lambda: queues[0] in consumer._queues)
        pq = consumer._queues[queues[0]]
        await wait_for(lambda: pq.flow_control_times >= 1, what="flow control")
        await anyio.sleep(0.3)
        # Paused once 2000 bytes were reached: at most one pull (8 x 300 bytes) beyond.
        assert 2000 <= pq.cached_bytes < 2000 + 8 * 300
        assert len(pq.messages) == 8
        release.set()
        await wait_for(lambda: len(done) == 60, what="all 60")
    assert sorted(done) == sorted(f"m{i}" for i in range(60))


# -- failures -----------------------------------------------------------------------------------


async def test_failed_message_comes_back_from_retry_topic(
    retry_addr: str, fast_retry_broker: Any
) -> None:
    queues = await create_topic(retry_addr, fast_retry_broker, "PushRetry", 2)
    await send(retry_addr, "PushRetry", 6, queues=queues)
    deliveries: list[MessageView] = []
    consumer = AsyncPushConsumer("CG_PUSH_RETRY", retry_addr, consume_from_where="first")
    consumer.subscribe("PushRetry")

    @consumer.handler
    async def handle(message: MessageView) -> bool:
        deliveries.append(message)
        # m2 fails the first time (by returning False), m4 by raising.
        if text(message) == "m4" and message.reconsume_times == 0:
            raise RuntimeError("boom")
        return not (text(message) == "m2" and message.reconsume_times == 0)

    async with consumer:
        await wait_for(lambda: len(deliveries) >= 8, timeout=15, what="2 redeliveries")
        await anyio.sleep(0.5)
    assert sorted(text(m) for m in deliveries) == sorted([f"m{i}" for i in range(6)] + ["m2", "m4"])
    for name in ("m2", "m4"):
        first, second = [m for m in deliveries if text(m) == name]
        assert (first.reconsume_times, second.reconsume_times) == (0, 1)
        assert second.topic == "PushRetry"  # the original topic, restored
        assert second.queue.topic == "%RETRY%CG_PUSH_RETRY"
        assert second.msg_id == first.msg_id
        assert second.properties["ORIGIN_MESSAGE_ID"] == first.msg_id


async def test_send_back_falls_back_to_resending(
    retry_addr: str, fast_retry_broker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    queues = await create_topic(retry_addr, fast_retry_broker, "PushResend", 1)
    await send(retry_addr, "PushResend", 1, queues=queues)
    deliveries: list[MessageView] = []
    consumer = AsyncPushConsumer("CG_PUSH_RESEND", retry_addr, consume_from_where="first")
    consumer.subscribe("PushResend")

    async def broken_send_back(message: MessageView) -> None:
        raise RequestTimeoutError("CONSUMER_SEND_MSG_BACK timed out (simulated)")

    monkeypatch.setattr(consumer, "_send_back_request", broken_send_back)

    @consumer.handler
    async def handle(message: MessageView) -> bool:
        deliveries.append(message)
        return message.reconsume_times > 0

    async with consumer:
        await wait_for(lambda: len(deliveries) >= 2, timeout=15, what="the re-sent message")
    first, second = deliveries
    assert text(second) == "m0"
    assert second.topic == "PushResend"
    assert second.queue.topic == "%RETRY%CG_PUSH_RESEND"
    assert second.reconsume_times == 1
    assert second.properties["ORIGIN_MESSAGE_ID"] == first.msg_id
    assert second.properties["RETRY_TOPIC"] == "PushResend"
    assert second.properties["MAX_RECONSUME_TIMES"] == "16"


async def test_dead_letter_after_max_reconsume_times(
    retry_addr: str, fast_retry_broker: Any
) -> None:
    queues = await create_topic(retry_addr, fast_retry_broker, "PushDLQ", 1)
    await send(retry_addr, "PushDLQ", 2, queues=queues)
    deliveries: list[MessageView] = []
    consumer = AsyncPushConsumer(
        "CG_PUSH_DLQ", retry_addr, consume_from_where="first", max_reconsume_times=2
    )
    consumer.subscribe("PushDLQ")

    @consumer.handler
    async def handle(message: MessageView) -> None:
        deliveries.append(message)
        if text(message) == "m1":
            raise ValueError("always fails")

    async with consumer:
        await wait_for(
            lambda: [m.reconsume_times for m in deliveries if text(m) == "m1"] == [0, 1, 2],
            timeout=20,
            what="three deliveries of m1",
        )
        await anyio.sleep(2.5)  # a fourth delivery would be back by now
    assert [m.reconsume_times for m in deliveries if text(m) == "m1"] == [0, 1, 2]
    assert [text(m) for m in deliveries].count("m0") == 1
    dlq = MessageQueueRef("%DLQ%CG_PUSH_DLQ", BROKER, 0)
    async with AsyncLitePullConsumer("CG_DLQ_READER", retry_addr, auto_commit=False) as reader:
        reader.assign([dlq])
        dead: list[MessageView] = []
        with anyio.fail_after(10):
            while not dead:
                dead = await reader.poll(0.5)
    assert [text(m) for m in dead] == ["m1"]
    assert dead[0].properties["RETRY_TOPIC"] == "PushDLQ"


async def test_handler_timeout_counts_as_failure(retry_addr: str, fast_retry_broker: Any) -> None:
    queues = await create_topic(retry_addr, fast_retry_broker, "PushTimeout", 1)
    await send(retry_addr, "PushTimeout", 1, queues=queues)
    deliveries: list[int] = []
    consumer = AsyncPushConsumer(
        "CG_PUSH_TIMEOUT", retry_addr, consume_from_where="first", consume_timeout=0.2
    )
    consumer.subscribe("PushTimeout")

    @consumer.handler
    async def handle(message: MessageView) -> None:
        deliveries.append(message.reconsume_times)
        if message.reconsume_times == 0:
            await anyio.sleep(5)

    async with consumer:
        await wait_for(lambda: deliveries == [0, 1], timeout=15, what="the redelivery")


async def test_process_and_settle_hooks(retry_addr: str, fast_retry_broker: Any) -> None:
    events: list[tuple[str, str | None]] = []

    def hook(event: str, info: dict[str, Any]) -> None:
        events.append((event, info.get("outcome")))

    await send(retry_addr, "PushHooks", 1)
    attempts: list[int] = []
    consumer = AsyncPushConsumer("CG_HOOKS", retry_addr, consume_from_where="first", hooks=[hook])
    consumer.subscribe("PushHooks")

    @consumer.handler
    async def handle(message: MessageView) -> bool:
        attempts.append(message.reconsume_times)
        return message.reconsume_times > 0  # fail the first delivery

    async with consumer:
        await wait_for(lambda: len(attempts) >= 2, 20, "the redelivery")
    assert ("settle.started", None) in events
    assert ("settle.complete", "send_back") in events
    assert events.count(("process.started", None)) >= 2
