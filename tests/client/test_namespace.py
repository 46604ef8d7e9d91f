"""Namespaces: names wrapped as ``ns%name`` on the wire, plain names in the application."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from rocketmq_py import (
    AsyncLitePullConsumer,
    AsyncProducer,
    AsyncPushConsumer,
    Message,
    MessageView,
)
from rocketmq_py._async.namespace import unwrap, wrap

pytestmark = pytest.mark.anyio


def test_wrap_and_unwrap_follow_java() -> None:
    assert wrap("ns", "Orders") == "ns%Orders"
    assert wrap("ns", "ns%Orders") == "ns%Orders"
    assert wrap("ns", "%RETRY%G") == "%RETRY%ns%G"
    assert wrap("ns", "%DLQ%G") == "%DLQ%ns%G"
    assert wrap("ns", "TBW102") == "TBW102"
    assert wrap("", "Orders") == wrap(None, "Orders") == "Orders"
    assert unwrap("ns", "ns%Orders") == "Orders"
    assert unwrap("ns", "%RETRY%ns%G") == "%RETRY%G"
    assert unwrap("ns", "other%Orders") == "other%Orders"


async def test_namespaced_round_trip(namesrv: Any, broker: Any) -> None:
    addr = f"127.0.0.1:{namesrv.port}"
    async with AsyncProducer("PG", addr, namespace="app1") as producer:
        result = await producer.send(Message("Orders", b"namespaced"))
        await producer.send_oneway(Message("Orders", b"oneway"))
        await producer.send_oneway(Message("Orders", b"keyed"), sharding_key="k")
    assert result.queue.topic == "Orders"
    assert broker.topics.select("app1%Orders") is not None
    assert broker.topics.select("Orders") is None

    async with AsyncLitePullConsumer(
        "CG", addr, namespace="app1", consume_from_where="first"
    ) as consumer:
        consumer.subscribe("Orders")
        got: list[MessageView] = []
        with anyio.fail_after(20):
            while len(got) < 3:
                got += await consumer.poll(timeout=1)
        assert "app1%CG" in broker.consumers.groups()
    assert sorted((m.topic, m.body) for m in got) == [
        ("Orders", b"keyed"),
        ("Orders", b"namespaced"),
        ("Orders", b"oneway"),
    ]

    seen: list[MessageView] = []
    done = anyio.Event()
    push = AsyncPushConsumer("CG2", addr, namespace="app1", consume_from_where="first")
    push.subscribe("Orders")

    @push.handler
    async def handle(message: MessageView) -> None:
        seen.append(message)
        done.set()

    async with push:
        with anyio.fail_after(20):
            await done.wait()
    assert seen[0].topic == "Orders"
