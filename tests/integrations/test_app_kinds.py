"""Subscribers of every kind on a real broker, and the very same app under TestBroker.

Normal, orderly, broadcasting and delayed (timer and delay-level) subscribers run against a
real name server and broker (subprocesses); a handler that raises is retried, then
dead-lettered; and :mod:`tests.integrations.kinds_app`'s ``app`` is driven twice with the same
publishes, once by the broker and once in memory by ``TestBroker``, with the same calls.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import anyio
import pytest

from integrations.app import RocketMQApp
from integrations.app.testing import TestBroker
from rocketmq_py import (
    AsyncAdmin,
    AsyncLitePullConsumer,
    MessageQueueRef,
    MessageView,
    TopicNotExistError,
)
from rocketmq_py.testing import LocalCluster
from tests.integrations import kinds_app
from tests.integrations.test_app import create_topics, unique
from tests.waiting import wait_for

pytestmark = pytest.mark.anyio

#: Level 2 waits 2 s (the delay-level message below); every retry level (3 and up) 1 s.
DELAY_LEVELS = "1s 2s " + " ".join(["1s"] * 16)
TIMER_DELAY = 2.0
LEVEL, LEVEL_DELAY = 2, 2.0
#: The broker stamps due times in whole milliseconds of the same wall clock.
CLOCK_SLACK = 0.01


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    home = tmp_path_factory.mktemp("kinds-cluster")
    with LocalCluster(home, broker_config={"messageDelayLevel": DELAY_LEVELS}) as c:
        yield c


def new_app(cluster: LocalCluster) -> RocketMQApp:
    return RocketMQApp(cluster.namesrv_addr, producer_group=unique("PG"), delay_levels=DELAY_LEVELS)


async def read_queue(cluster: LocalCluster, topic: str, count: int) -> list[MessageView]:
    """The first ``count`` messages of ``topic``'s queue 0 (a DLQ has one queue)."""
    found: list[MessageView] = []
    queue = MessageQueueRef(topic, "broker-a", 0)
    async with AsyncLitePullConsumer(unique("CG_reader"), cluster.namesrv_addr) as reader:
        reader.assign([queue])
        with anyio.fail_after(30):
            while len(found) < count:
                found += await reader.poll(0.5)
    return found


# -- one app, run by the broker and by TestBroker -------------------------------------------


async def publish_scenario() -> dict[str, float]:
    """What both runs publish through ``kinds_app.app``; the wall time of each delayed send."""
    app = kinds_app.app
    await app.publish(kinds_app.ORDERS, {"id": 1})
    await app.publish(kinds_app.ORDERS, {"id": 2, "poison": True})
    for n in range(3):
        for key in ("a", "b"):
            await app.publish(kinds_app.STEPS, {"key": key, "n": n}, sharding_key=key)
    await app.publish(kinds_app.NEWS, "hello")
    sent = {"timer": time.time()}
    await app.publish(kinds_app.REMINDERS, "timer", delay=TIMER_DELAY)
    sent["level"] = time.time()
    await app.publish(kinds_app.REMINDERS, "level", delay_level=LEVEL)
    return sent


POISON = {"id": 2, "poison": True}
EXPECTED: dict[str, Any] = {
    # The poison order: first delivery plus BILLING_RETRIES redeliveries.
    "bill": sorted([{"id": 1}, POISON, POISON], key=json.dumps),
    "news": ["hello"],
    "remind": ["level", "timer"],
    "step": {"a": [0, 1, 2], "b": [0, 1, 2]},  # per key, in publish order
}
EXPECTED_CALLS = 3 + 1 + 2 + 6


def summary(calls: list[tuple[str, Any]]) -> dict[str, Any]:
    """Each handler's payloads: steps per key in call order; the rest sorted (concurrent)."""
    by_handler: dict[str, list[Any]] = {}
    for name, payload in calls:
        by_handler.setdefault(name, []).append(payload)
    steps: dict[str, list[int]] = {}
    for item in by_handler.pop("step", []):
        steps.setdefault(item["key"], []).append(item["n"])
    out: dict[str, Any] = {
        name: sorted(payloads, key=json.dumps) for name, payloads in by_handler.items()
    }
    out["step"] = steps
    return out


@pytest.fixture
def kinds() -> Iterator[None]:
    kinds_app.calls.clear()
    kinds_app.arrivals.clear()
    yield
    kinds_app.calls.clear()
    kinds_app.arrivals.clear()


@pytest.mark.usefixtures("kinds")
async def test_kinds_app_on_the_broker(
    cluster: LocalCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    await create_topics(
        cluster, kinds_app.ORDERS, kinds_app.STEPS, kinds_app.NEWS, kinds_app.REMINDERS
    )
    monkeypatch.setattr(kinds_app.app, "namesrv_addr", cluster.namesrv_addr)
    calls = kinds_app.calls
    async with kinds_app.app:
        sent = await publish_scenario()
        await wait_for(lambda: len(calls) >= EXPECTED_CALLS, what="every handler call")
        [dead] = await read_queue(cluster, f"%DLQ%{kinds_app.BILLING}", 1)
    assert summary(calls) == EXPECTED
    assert json.loads(dead.body) == POISON
    # Never before the due time (the broker's clock is this host's wall clock).
    assert kinds_app.arrivals["timer"] - sent["timer"] >= TIMER_DELAY - CLOCK_SLACK
    assert kinds_app.arrivals["level"] - sent["level"] >= LEVEL_DELAY - CLOCK_SLACK


@pytest.mark.usefixtures("kinds")
async def test_kinds_app_under_test_broker() -> None:
    async with TestBroker(kinds_app.app, raise_errors=False) as br:
        await publish_scenario()
    assert summary(kinds_app.calls) == EXPECTED
    # TestBroker's own record holds the same calls.
    recorded = [(d.subscriber.name.rsplit(".", 1)[-1], d.payload) for d in br.deliveries]
    assert summary(recorded) == EXPECTED
    [dead] = br.dead_letters
    assert dead.topic == f"%DLQ%{kinds_app.BILLING}"
    assert json.loads(dead.message.body) == POISON
    assert isinstance(dead.last.error, ValueError)
    assert br.calls(kinds_app.remind).payloads == ["timer", "level"]  # delays are not waited


# -- broadcasting, delays and failures on the broker -----------------------------------------


def news_app(cluster: LocalCluster, topic: str, group: str, seen: list[str]) -> RocketMQApp:
    app = new_app(cluster)

    @app.subscriber(topic, group=group, broadcasting=True, consume_from="first")
    async def news(text: str) -> None:
        seen.append(text)

    return app


async def test_broadcasting_every_instance_gets_every_message(cluster: LocalCluster) -> None:
    topic, group = unique("AppNews"), unique("CG_news")
    await create_topics(cluster, topic)
    first: list[str] = []
    second: list[str] = []
    texts = [f"news {n}" for n in range(6)]  # over both queues
    async with (
        news_app(cluster, topic, group, first) as app,
        news_app(cluster, topic, group, second),
    ):
        for text in texts:
            await app.publish(topic, text)
        await wait_for(lambda: len(first) >= 6 and len(second) >= 6, what="both instances")
    assert sorted(first) == texts
    assert sorted(second) == texts


async def test_delayed_messages_wait_for_their_time(cluster: LocalCluster) -> None:
    topic, group = unique("AppLater"), unique("CG_later")
    await create_topics(cluster, topic)
    app = new_app(cluster)
    arrived: dict[str, float] = {}

    @app.subscriber(topic, group=group, consume_from="first")
    async def later(text: str) -> None:
        arrived.setdefault(text, time.time())

    async with app:
        sent = {"timer": time.time()}
        await app.publish(topic, "timer", delay=TIMER_DELAY)
        sent["level"] = time.time()
        await app.publish(topic, "level", delay_level=LEVEL)
        sent["at"] = time.time()
        await app.publish(topic, "at", deliver_at=int((sent["at"] + TIMER_DELAY) * 1000))
        await app.publish(topic, "now")
        await wait_for(lambda: len(arrived) == 4, what="every message")
    assert arrived["timer"] - sent["timer"] >= TIMER_DELAY - CLOCK_SLACK
    assert arrived["level"] - sent["level"] >= LEVEL_DELAY - CLOCK_SLACK
    assert arrived["at"] - sent["at"] >= TIMER_DELAY - CLOCK_SLACK


async def test_raising_handler_is_retried_then_dead_lettered(
    cluster: LocalCluster, caplog: pytest.LogCaptureFixture
) -> None:
    topic = unique("AppFail")
    concurrent, orderly, broadcast = unique("CG_fail"), unique("CG_ord"), unique("CG_bcast")
    await create_topics(cluster, topic, queues=1)
    app = new_app(cluster)
    seen: dict[str, list[tuple[str, int]]] = {concurrent: [], orderly: [], broadcast: []}

    def failing(group: str, **settings: Any) -> None:
        @app.subscriber(topic, group=group, consume_from="first", **settings)
        async def handle(text: str, message: MessageView) -> None:
            seen[group].append((text, message.reconsume_times))
            if text == "poison":
                raise RuntimeError(f"{group} cannot take it")

    failing(concurrent, max_reconsume_times=2)
    failing(orderly, orderly=True, max_reconsume_times=2)
    failing(broadcast, orderly=True, broadcasting=True, max_reconsume_times=1)

    with caplog.at_level(logging.ERROR, logger="rocketmq_py.app"):
        async with app:
            poison = await app.publish(topic, "poison")
            await app.publish(topic, "fine")
            await wait_for(
                lambda: (
                    all(("fine", 0) in calls for calls in seen.values())
                    and len(seen[concurrent]) == 4
                ),
                what="every group past the poison message",
            )
            dead = {
                group: await read_queue(cluster, f"%DLQ%{group}", 1)
                for group in (concurrent, orderly)
            }
    poison_calls = [("poison", n) for n in range(3)]
    assert sorted(seen[concurrent]) == [("fine", 0), *poison_calls]
    # Orderly: retried in place, and the next message waits until the poison is out of the way.
    assert seen[orderly] == [*poison_calls, ("fine", 0)]
    for group in (concurrent, orderly):
        [message] = dead[group]
        assert (message.body, message.msg_id) == (b"poison", poison.msg_id)
    # Orderly broadcasting retries in place too, then drops: no group offset, so no DLQ.
    assert seen[broadcast] == [("poison", 0), ("poison", 1), ("fine", 0)]
    async with AsyncAdmin(cluster.namesrv_addr) as admin:
        with pytest.raises(TopicNotExistError):
            await admin.topic_route(f"%DLQ%{broadcast}")
    ends = {r.getMessage().rsplit("; ", 1)[-1] for r in caplog.records}
    assert "retries exhausted (1): it is dropped (broadcasting has no DLQ)" in ends
    assert f"retries exhausted (2): it goes to %DLQ%{concurrent}" in ends
