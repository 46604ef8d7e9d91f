"""AsyncLitePullConsumer against the in-process namesrv + broker over real TCP."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from rocketmq_py._async.admin import AsyncAdmin
from rocketmq_py._async.lite_pull import AsyncLitePullConsumer, allocate_message_queue_averagely
from rocketmq_py._async.producer import AsyncProducer
from rocketmq_py.exceptions import ConfigError, RequestTimeoutError
from rocketmq_py.message import Message, MessageQueueRef, MessageView
from rocketmq_py.protocol import fastjson
from tests.client.helpers import BROKER, create_topic, send, wait_for

pytestmark = pytest.mark.anyio


async def poll_until(
    consumer: AsyncLitePullConsumer, count: int, timeout: float = 15.0, **kw: Any
) -> list[MessageView]:
    got: list[MessageView] = []
    with anyio.fail_after(timeout):
        while len(got) < count:
            got += await consumer.poll(0.5, **kw)
    return got


async def assert_nothing_more(consumer: AsyncLitePullConsumer, wait: float = 0.5) -> None:
    assert await consumer.poll(wait) == []


def bodies(messages: list[MessageView]) -> list[str]:
    return [m.body.decode() for m in messages]


# -- allocation ---------------------------------------------------------------------------------


def test_allocate_averagely_matches_java() -> None:
    queues = [MessageQueueRef("T", "b", i) for i in range(8)]
    ids = ["c0", "c1", "c2"]
    shares = [allocate_message_queue_averagely(queues, ids, c) for c in ids]
    assert [[q.queue_id for q in s] for s in shares] == [[0, 1, 2], [3, 4, 5], [6, 7]]
    ids5 = [f"c{i}" for i in range(5)]
    shares = [allocate_message_queue_averagely(queues[:3], ids5, c) for c in ids5]
    assert [[q.queue_id for q in s] for s in shares] == [[0], [1], [2], [], []]
    assert allocate_message_queue_averagely(queues, ["a", "b"], "a") == queues[:4]
    assert allocate_message_queue_averagely(queues, ["a", "b"], "zz") == []
    assert allocate_message_queue_averagely([], ["a"], "a") == []


def test_config_errors() -> None:
    with pytest.raises(ConfigError):
        AsyncLitePullConsumer("", "127.0.0.1:1")
    with pytest.raises(ConfigError):
        AsyncLitePullConsumer("G", "127.0.0.1:1", consume_from_where="middle")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        AsyncLitePullConsumer("G", "127.0.0.1:1", message_model="p2p")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        AsyncLitePullConsumer("G", "127.0.0.1:1", max_cached_messages=0)
    consumer = AsyncLitePullConsumer("G", "127.0.0.1:1")
    consumer.assign([MessageQueueRef("T", BROKER, 0)])
    with pytest.raises(ConfigError):
        consumer.subscribe("T")
    other = AsyncLitePullConsumer("G", "127.0.0.1:1")
    other.subscribe("T")
    with pytest.raises(ConfigError):
        other.assign([MessageQueueRef("T", BROKER, 0)])


# -- assign -------------------------------------------------------------------------------------


async def test_assign_polls_everything_in_order_per_queue(addr: str, broker: Any) -> None:
    queues = await create_topic(addr, broker, "LiteAssign", 4)
    await send(addr, "LiteAssign", 40, queues=queues)
    async with AsyncLitePullConsumer("CG_ASSIGN", addr, consume_from_where="first") as consumer:
        consumer.assign(queues)
        assert consumer.assignment() == set(queues)
        got = await poll_until(consumer, 40)
        await assert_nothing_more(consumer)
    assert sorted(bodies(got)) == sorted(f"m{i}" for i in range(40))
    for queue in queues:
        mine = [m for m in got if m.queue == queue]
        assert [m.queue_offset for m in mine] == list(range(10))
        assert bodies(mine) == [f"m{i}" for i in range(queue.queue_id, 40, 4)]


async def test_commit_then_a_new_consumer_resumes(addr: str, broker: Any) -> None:
    queues = await create_topic(addr, broker, "LiteCommit", 1)
    q = queues[0]
    await send(addr, "LiteCommit", 10, queues=queues)
    async with AsyncLitePullConsumer("CG_COMMIT", addr, auto_commit=False) as consumer:
        consumer.assign(queues)
        first = await poll_until(consumer, 4, max_messages=4)
        assert bodies(first) == ["m0", "m1", "m2", "m3"]
        await consumer.commit()
        assert await consumer.committed(q) == 4
    # Without auto_commit, shutdown stores nothing more.
    async with AsyncLitePullConsumer("CG_COMMIT", addr, auto_commit=False) as consumer:
        consumer.assign(queues)
        rest = await poll_until(consumer, 6)
        assert bodies(rest) == [f"m{i}" for i in range(4, 10)]
        assert await consumer.committed(q) == 4
        await consumer.commit({q: 7})
        assert await consumer.committed(q) == 7


async def test_seek(addr: str, broker: Any) -> None:
    queues = await create_topic(addr, broker, "LiteSeek", 1)
    q = queues[0]
    await send(addr, "LiteSeek", 10, queues=queues)
    async with AsyncLitePullConsumer("CG_SEEK", addr, auto_commit=False) as consumer:
        consumer.assign(queues)
        assert len(await poll_until(consumer, 10)) == 10
        await consumer.seek(q, 7)
        assert bodies(await poll_until(consumer, 3)) == ["m7", "m8", "m9"]
        await consumer.seek_to_begin(q)
        assert bodies(await poll_until(consumer, 10)) == [f"m{i}" for i in range(10)]
        await consumer.seek_to_end(q)
        await assert_nothing_more(consumer, 0.3)
        await send(addr, "LiteSeek", 2, queues=queues, prefix="new")
        assert bodies(await poll_until(consumer, 2)) == ["new0", "new1"]
        with pytest.raises(ConfigError):
            await consumer.seek(q, 999)
        with pytest.raises(ConfigError):
            await consumer.seek(MessageQueueRef("LiteSeek", BROKER, 5), 0)


async def test_seek_interrupts_a_long_poll(addr: str, broker: Any) -> None:
    queues = await create_topic(addr, broker, "LiteSeekPark", 1)
    await send(addr, "LiteSeekPark", 3, queues=queues)
    async with AsyncLitePullConsumer("CG_SEEK2", addr, auto_commit=False) as consumer:
        consumer.assign(queues)
        assert len(await poll_until(consumer, 3)) == 3
        await anyio.sleep(0.2)  # the fetcher is now parked in a long poll at offset 3
        t0 = time.monotonic()
        await consumer.seek(queues[0], 1)
        assert bodies(await poll_until(consumer, 2)) == ["m1", "m2"]
        assert time.monotonic() - t0 < 3


async def test_auto_commit(addr: str, broker: Any) -> None:
    queues = await create_topic(addr, broker, "LiteAutoCommit", 2)
    await send(addr, "LiteAutoCommit", 10, queues=queues)
    async with AsyncLitePullConsumer(
        "CG_AUTO", addr, auto_commit_interval=0.1, consume_from_where="first"
    ) as consumer:
        consumer.assign(queues)
        assert len(await poll_until(consumer, 10)) == 10
        with anyio.fail_after(5):
            while [await consumer.committed(q) for q in queues] != [5, 5]:
                await anyio.sleep(0.05)
        assert consumer._states[queues[0]].committed == 5


async def test_shutdown_commits_with_auto_commit(addr: str, broker: Any) -> None:
    queues = await create_topic(addr, broker, "LiteShutdownCommit", 1)
    await send(addr, "LiteShutdownCommit", 5, queues=queues)
    async with AsyncLitePullConsumer("CG_SHUT", addr, auto_commit_interval=3600) as consumer:
        consumer.assign(queues)
        assert len(await poll_until(consumer, 3, max_messages=3)) == 3
    async with AsyncLitePullConsumer("CG_SHUT", addr, auto_commit=False) as consumer:
        assert await consumer.committed(queues[0]) == 3


async def test_consume_from_where(addr: str, broker: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    queues = await create_topic(addr, broker, "LiteFromWhere", 1)
    await send(addr, "LiteFromWhere", 5, queues=queues, prefix="old")
    async with AsyncLitePullConsumer("CG_FIRST", addr, consume_from_where="first") as consumer:
        consumer.assign(queues)
        assert bodies(await poll_until(consumer, 5)) == [f"old{i}" for i in range(5)]
    # Java's young-queue rule: the broker answers 0 to a new group while the queue starts at 0,
    # so even "last" reads it from the beginning.
    async with AsyncLitePullConsumer("CG_YOUNG", addr, consume_from_where="last") as consumer:
        consumer.assign(queues)
        assert len(await poll_until(consumer, 5)) == 5
    # A queue whose oldest messages are gone: QUERY_NOT_FOUND, then consume_from_where applies.
    real_min = broker.store.get_min_offset_in_queue
    monkeypatch.setattr(
        broker.store,
        "get_min_offset_in_queue",
        lambda topic, qid: 1 if topic == "LiteFromWhere" else real_min(topic, qid),
    )
    async with AsyncLitePullConsumer("CG_LAST", addr, consume_from_where="last") as consumer:
        consumer.assign(queues)
        await wait_for(lambda: consumer._states[queues[0]].fetch_offset == 5)
        await send(addr, "LiteFromWhere", 2, queues=queues, prefix="new")
        assert bodies(await poll_until(consumer, 2)) == ["new0", "new1"]
        await assert_nothing_more(consumer, 0.2)
    stamp = int(time.time() * 1000) + 5
    await anyio.sleep(0.05)
    await send(addr, "LiteFromWhere", 3, queues=queues, prefix="late")
    async with AsyncLitePullConsumer(
        "CG_TIME", addr, consume_from_where="timestamp", consume_timestamp_ms=stamp
    ) as consumer:
        consumer.assign(queues)
        assert bodies(await poll_until(consumer, 3)) == ["late0", "late1", "late2"]
        await assert_nothing_more(consumer, 0.2)


async def test_offset_moved_jumps_to_next_begin(addr: str, broker: Any) -> None:
    queues = await create_topic(addr, broker, "LiteMoved", 1)
    q = queues[0]
    await send(addr, "LiteMoved", 3, queues=queues)
    async with AsyncLitePullConsumer("CG_MOVED", addr, auto_commit=False) as consumer:
        await consumer.commit({q: 100})  # beyond the queue's end
        consumer.assign(queues)
        await wait_for(lambda: consumer._states[q].fetch_offset == 3)
        await send(addr, "LiteMoved", 1, queues=queues, prefix="after")
        assert bodies(await poll_until(consumer, 1)) == ["after0"]


async def test_fetcher_survives_errors(addr: str, broker: Any) -> None:
    queues = await create_topic(addr, broker, "LiteErrors", 1)
    await send(addr, "LiteErrors", 2, queues=queues)
    bogus = MessageQueueRef("LiteErrors", "no-such-broker", 0)
    async with AsyncLitePullConsumer("CG_ERR", addr) as consumer:
        consumer.assign([bogus, *queues])
        assert len(await poll_until(consumer, 2)) == 2
        await anyio.sleep(1.5)  # the bogus fetcher backs off and retries
        await send(addr, "LiteErrors", 1, queues=queues, prefix="x")
        assert bodies(await poll_until(consumer, 1)) == ["x0"]
        consumer.assign(queues)
        assert consumer.assignment() == set(queues)


# -- subscribe ----------------------------------------------------------------------------------


async def test_two_consumers_split_the_queues_and_rebalance(addr: str, broker: Any) -> None:
    queues = await create_topic(addr, broker, "LiteGroup", 8)
    a = AsyncLitePullConsumer("CG_GROUP", addr, consume_from_where="first")
    a.subscribe("LiteGroup")
    async with a:
        await wait_for(lambda: a.assignment() == set(queues), what="a owns all")
        b = AsyncLitePullConsumer("CG_GROUP", addr, consume_from_where="first")
        b.subscribe("LiteGroup")
        async with b:

            def split() -> bool:
                mine, theirs = a.assignment(), b.assignment()
                return len(mine) == len(theirs) == 4 and not mine & theirs

            await wait_for(split, what="4 + 4")
            assert a.assignment() | b.assignment() == set(queues)
            await send(addr, "LiteGroup", 40, queues=queues)
            got_a: list[MessageView] = []
            got_b: list[MessageView] = []
            with anyio.fail_after(15):
                while len(got_a) + len(got_b) < 40:
                    got_a += await a.poll(0.1)
                    got_b += await b.poll(0.1)
            assert {m.queue for m in got_a} == a.assignment()
            assert {m.queue for m in got_b} == b.assignment()
            assert sorted(bodies(got_a + got_b)) == sorted(f"m{i}" for i in range(40))
        # b left (UNREGISTER_CLIENT): the broker notifies a, which takes everything back.
        await wait_for(lambda: a.assignment() == set(queues), what="a owns all again")
        await send(addr, "LiteGroup", 8, queues=queues, prefix="late")
        assert sorted(bodies(await poll_until(a, 8))) == sorted(f"late{i}" for i in range(8))


async def test_tag_filtering(addr: str, broker: Any) -> None:
    queues = await create_topic(addr, broker, "LiteTags", 2)
    tags = ["TagA", "TagB", "TagC", None]
    await send(addr, "LiteTags", 40, queues=queues, tags=lambda i: tags[i % 4])
    consumer = AsyncLitePullConsumer("CG_TAGS", addr, consume_from_where="first")
    consumer.subscribe("LiteTags", "TagA || TagC")
    async with consumer:
        got = await poll_until(consumer, 20)
        await assert_nothing_more(consumer)
        assert {m.tags for m in got} == {"TagA", "TagC"}
        assert sorted(bodies(got)) == sorted(f"m{i}" for i in range(40) if i % 4 in (0, 2))
        # Filtered ranges count as consumed: the positions reach the queues' ends.
        await consumer.commit()
        assert [await consumer.committed(q) for q in queues] == [20, 20]


async def test_broadcasting(addr: str, broker: Any, tmp_path: Path) -> None:
    queues = await create_topic(addr, broker, "LiteBroadcast", 4)
    store = tmp_path / "offsets"
    consumers = [
        AsyncLitePullConsumer(
            "CG_BCAST",
            addr,
            message_model="broadcasting",
            consume_from_where="first",
            instance_name=name,
            offset_store_dir=store,
        )
        for name in ("A", "B")
    ]
    for consumer in consumers:
        consumer.subscribe("LiteBroadcast")
    async with consumers[0] as a, consumers[1] as b:
        await wait_for(lambda: a.assignment() == b.assignment() == set(queues))
        await send(addr, "LiteBroadcast", 20, queues=queues)
        for consumer in (a, b):
            got = await poll_until(consumer, 20)
            assert sorted(bodies(got)) == sorted(f"m{i}" for i in range(20))
        await a.commit()
        assert [await a.committed(q) for q in queues] == [5, 5, 5, 5]
    for consumer in consumers:
        path = consumer.offset_file
        assert path.parent == store / consumer.client_id / "CG_BCAST"
        table = fastjson.loads(path.read_bytes())["offsetTable"]
        offsets = {
            (k.get("topic"), k.get("brokerName"), k.get("queueId")): v for k, v in table.items()
        }
        assert offsets == {("LiteBroadcast", BROKER, i): 5 for i in range(4)}
    # A restarted broadcasting consumer resumes from its file.
    restarted = AsyncLitePullConsumer(
        "CG_BCAST",
        addr,
        message_model="broadcasting",
        instance_name="A",
        offset_store_dir=store,
    )
    restarted.subscribe("LiteBroadcast")
    async with restarted:
        await send(addr, "LiteBroadcast", 4, queues=queues, prefix="again")
        got = await poll_until(restarted, 4)
        assert sorted(bodies(got)) == sorted(f"again{i}" for i in range(4))


async def test_backpressure_bounds_the_buffer(addr: str, broker: Any) -> None:
    queues = await create_topic(addr, broker, "LiteBackpressure", 1)
    async with AsyncProducer("PG_LITE", addr) as producer:
        for start in range(0, 500, 50):
            await producer.send_batch(
                [Message("LiteBackpressure", f"m{i}") for i in range(start, start + 50)]
            )
    consumer = AsyncLitePullConsumer(
        "CG_BP", addr, max_cached_messages=50, consume_from_where="first"
    )
    consumer.assign(queues)
    peak = 0
    got: list[MessageView] = []

    async def watch(stop: anyio.Event) -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, consumer._buffered_total, len(consumer._buffer))
            await anyio.sleep(0)

    async with consumer, anyio.create_task_group() as tg:
        stop = anyio.Event()
        tg.start_soon(watch, stop)
        await wait_for(lambda: consumer._buffered_total >= 50)
        await anyio.sleep(0.2)  # full: the fetcher must be waiting, not pulling
        assert consumer._buffered_total == 50
        with anyio.fail_after(30):
            while len(got) < 500:
                got += await consumer.poll(1, max_messages=20)
                await anyio.sleep(0.005)
        stop.set()
    assert peak <= 50 + consumer.pull_batch_size
    assert peak <= 50  # the reservation makes the bound exact
    assert bodies(got) == [f"m{i}" for i in range(500)]


async def test_poll_and_commit_need_a_running_consumer(addr: str) -> None:
    consumer = AsyncLitePullConsumer("CG_IDLE", addr)
    with pytest.raises(RuntimeError):
        await consumer.poll(0)
    async with consumer:
        assert await consumer.poll(0) == []
        assert consumer.assignment() == set()
    with pytest.raises(RuntimeError):
        await consumer.commit()


async def test_wait_for_route_times_out_for_an_unknown_topic(addr: str, broker: Any) -> None:
    async with AsyncAdmin(addr) as admin:
        with pytest.raises(RequestTimeoutError, match="NeverCreated"):
            await admin.wait_for_route("NeverCreated", timeout=0.3)
        await admin.create_topic(
            "RoutedLater", broker_addr=f"127.0.0.1:{broker.port}", read_queue_nums=3
        )
        route = await admin.wait_for_route("RoutedLater", read_queue_nums=3)
    assert route.queue_datas[0].read_queue_nums == 3
