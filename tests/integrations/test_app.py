"""RocketMQApp against a real name server and broker (subprocesses, 1 s delay levels)."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from pydantic import BaseModel

from integrations.app import Retry, RocketMQApp
from rocketmq_py import (
    AsyncAdmin,
    AsyncLitePullConsumer,
    MessageQueueRef,
    MessageView,
)
from rocketmq_py.testing import LocalCluster
from tests.waiting import wait_for

pytestmark = pytest.mark.anyio

ONE_SECOND_LEVELS = " ".join(["1s"] * 18)


class Point(BaseModel):
    x: int
    y: int


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    home = tmp_path_factory.mktemp("app-cluster")
    with LocalCluster(home, broker_config={"messageDelayLevel": ONE_SECOND_LEVELS}) as c:
        yield c


def unique(name: str) -> str:
    return f"{name}_{uuid.uuid4().hex[:8]}"


async def create_topics(cluster: LocalCluster, *topics: str, queues: int = 2) -> None:
    """Create the topics and wait until the name server routes them (no consumer waits for a
    20 s rebalance because its topic did not exist yet)."""
    async with AsyncAdmin(cluster.namesrv_addr) as admin:
        for topic in topics:
            await admin.create_topic(
                topic,
                broker_addr=cluster.broker_addr,
                read_queue_nums=queues,
                write_queue_nums=queues,
            )
        for topic in topics:
            await admin.wait_for_route(topic, timeout=20)


def new_app(cluster: LocalCluster) -> RocketMQApp:
    return RocketMQApp(
        cluster.namesrv_addr, producer_group=unique("PG"), delay_levels=ONE_SECOND_LEVELS
    )


async def test_payload_types_tag_filter_and_sync_handler(cluster: LocalCluster) -> None:
    topic, group = unique("AppTypes"), unique("CG_types")
    await create_topics(cluster, topic)
    app = new_app(cluster)
    got: dict[str, Any] = {}

    def sub(tags: str) -> Any:
        return app.subscriber(topic, group=group, tags=tags, consume_from="first")

    @sub("bytes")
    async def as_bytes(body: bytes) -> None:
        got["bytes"] = body

    @sub("str")
    def as_str(text: str, message: MessageView) -> None:  # sync: in a worker thread
        got["str"] = (text, message.keys)

    @sub("json")
    async def as_json(data: dict[str, Any]) -> None:
        got["json"] = data

    @sub("model")
    async def as_model(point: Point) -> None:
        got["model"] = point

    @sub("raw")
    async def as_raw(message: MessageView) -> None:
        got["raw"] = message

    async with app:
        await app.publish(topic, b"filtered out", tags="other")  # no subscriber takes it
        await app.publish(topic, b"\x00\x01", tags="bytes")
        await app.publish(topic, "héllo", tags="str", keys=["k1", "k2"])
        await app.publish(topic, {"a": [1, 2]}, tags="json")
        await app.publish(topic, Point(x=3, y=4), tags="model")
        await app.publish(topic, "raw", tags="raw", properties={"p": "v"})
        await wait_for(lambda: len(got) == 5, what="five deliveries")
        await anyio.sleep(1.0)  # the filtered message would have arrived by now
    assert got["bytes"] == b"\x00\x01"
    assert got["str"] == ("héllo", "k1 k2")
    assert got["json"] == {"a": [1, 2]}
    assert got["model"] == Point(x=3, y=4)
    assert got["raw"].body == b"raw"
    assert got["raw"].properties["p"] == "v"
    assert len(got) == 5


async def test_retry_by_exception_then_success_and_explicit_delay(cluster: LocalCluster) -> None:
    topic, group = unique("AppRetry"), unique("CG_retry")
    await create_topics(cluster, topic)
    app = new_app(cluster)
    seen: list[tuple[str, int, float]] = []

    @app.subscriber(topic, group=group, consume_from="first")
    async def handle(text: str, message: MessageView) -> Retry | None:
        seen.append((text, message.reconsume_times, time.monotonic()))
        if message.reconsume_times == 0:
            if text == "raise":
                raise RuntimeError("first delivery fails")
            return Retry(delay=3)
        return None

    async with app:
        await app.publish(topic, "raise")
        await app.publish(topic, "delay")
        await wait_for(lambda: len(seen) == 4, what="both messages delivered twice")
    by_text = {t: [(r, at) for text, r, at in seen if text == t] for t in ("raise", "delay")}
    assert [r for r, _ in by_text["raise"]] == [0, 1]
    assert [r for r, _ in by_text["delay"]] == [0, 1]
    # Retry(delay=3): 2 s waited here plus the broker's 1 s level; never earlier than asked.
    (_, first), (_, second) = by_text["delay"]
    assert second - first >= 3.0


async def test_decode_error_goes_to_dlq_and_consumer_keeps_running(
    cluster: LocalCluster, caplog: pytest.LogCaptureFixture
) -> None:
    topic, group = unique("AppDecode"), unique("CG_decode")
    await create_topics(cluster, topic, queues=1)
    app = new_app(cluster)
    handled: list[dict[str, Any]] = []

    @app.subscriber(topic, group=group, max_reconsume_times=1, consume_from="first")
    async def handle(data: dict[str, Any]) -> None:
        handled.append(data)

    with caplog.at_level(logging.ERROR, logger="rocketmq_py.app"):
        async with app:
            bad = await app.publish(topic, b"not json")
            await wait_for(
                lambda: sum("goes to %DLQ%" in r.getMessage() for r in caplog.records) == 1,
                what="the decode failure of the last allowed delivery",
            )
            await app.publish(topic, {"ok": True})
            await wait_for(lambda: handled == [{"ok": True}], what="the next message")
    lines = [r.getMessage() for r in caplog.records if "cannot decode" in r.getMessage()]
    assert len(lines) == 2
    assert f"cannot decode message {bad.msg_id} of {topic!r} for handler " in lines[0]
    assert "test_app.test_decode_error_goes_to_dlq_and_consumer_keeps_running" in lines[0]
    assert "JSONDecodeError" in lines[0]
    assert lines[0].endswith("it will be redelivered (redelivery 1 of 1)")
    assert lines[1].endswith(f"retries exhausted (1): it goes to %DLQ%{group}")

    dlq = MessageQueueRef(f"%DLQ%{group}", "broker-a", 0)
    async with AsyncLitePullConsumer(unique("CG_reader"), cluster.namesrv_addr) as reader:
        reader.assign([dlq])
        dead: list[MessageView] = []
        with anyio.fail_after(20):
            while not dead:
                dead = await reader.poll(0.5)
    assert [m.body for m in dead] == [b"not json"]
    assert dead[0].msg_id == bad.msg_id


async def test_lifecycle_hooks_publisher_and_orderly(cluster: LocalCluster) -> None:
    orders, invoices = unique("AppOrders"), unique("AppInvoices")
    await create_topics(cluster, orders, invoices)
    app = new_app(cluster)
    events: list[str] = []
    app.on_startup(lambda: events.append("startup-sync"))

    @app.on_startup
    async def startup() -> None:
        events.append("startup-async")

    @app.on_shutdown
    async def shutdown() -> None:
        events.append("shutdown")

    @app.subscriber(orders, group=unique("CG_orders"), orderly=True, consume_from="first")
    @app.publisher(invoices, tags="inv")
    async def bill(order: dict[str, int]) -> dict[str, int]:
        events.append(f"bill {order['n']}")
        return {"invoice": order["n"]}

    invoiced: list[int] = []

    @app.subscriber(invoices, group=unique("CG_invoices"), tags="inv", consume_from="first")
    async def mail(invoice: dict[str, int]) -> None:
        invoiced.append(invoice["invoice"])

    @app.publisher(orders)
    def make_order(n: int) -> dict[str, int]:
        return {"n": n}

    async with app:
        assert events == ["startup-sync", "startup-async"]
        for n in range(5):
            assert await make_order(n) == {"n": n}
        await wait_for(lambda: sorted(invoiced) == [0, 1, 2, 3, 4], what="five invoices")
    assert events[-1] == "shutdown"
    bills = [e for e in events if e.startswith("bill")]
    assert sorted(bills) == [f"bill {n}" for n in range(5)]
    assert len(events) == 2 + 5 + 1
