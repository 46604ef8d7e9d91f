"""What the client tests share: topic creation, sending, reading back, waiting."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio

from rocketmq_py._async.admin import AsyncAdmin
from rocketmq_py._async.lite_pull import AsyncLitePullConsumer
from rocketmq_py._async.producer import AsyncProducer
from rocketmq_py.message import Message, MessageQueueRef, MessageView
from tests import waiting

#: The broker name of the ``broker`` fixtures.
BROKER = "broker-a"


async def wait_for(condition: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    """:func:`tests.waiting.wait_for` with the client tests' 10 s default."""
    await waiting.wait_for(condition, timeout, what)


async def create_topic(addr: str, broker: Any, topic: str, queues: int) -> list[MessageQueueRef]:
    """Create ``topic`` with ``queues`` queues and wait until the name server routes it."""
    async with AsyncAdmin(addr) as admin:
        await admin.create_topic(
            topic,
            broker_addr=f"127.0.0.1:{broker.port}",
            read_queue_nums=queues,
            write_queue_nums=queues,
        )
        await admin.wait_for_route(topic, read_queue_nums=queues)
    return [MessageQueueRef(topic, BROKER, i) for i in range(queues)]


async def send(
    addr: str,
    topic: str,
    count: int,
    *,
    queues: list[MessageQueueRef] | None = None,
    tags: Callable[[int], str | None] = lambda i: None,
    prefix: str = "m",
    size: int = 0,
    group: str = "PG_CLIENT_TESTS",
) -> None:
    """Send ``count`` messages ``<prefix><i>`` (padded with dots to ``size`` bytes), spread
    round robin over ``queues`` when given."""
    async with AsyncProducer(group, addr) as producer:
        for i in range(count):
            queue = queues[i % len(queues)] if queues else None
            body = f"{prefix}{i}".ljust(size, ".")
            await producer.send(Message(topic, body, tags=tags(i)), queue=queue)


async def consume(
    addr: str,
    topic: str,
    count: int,
    *,
    expression: str = "*",
    group: str | None = None,
    timeout: float = 30.0,
) -> list[MessageView]:
    """Read at least ``count`` messages of ``topic`` from its first offset with a lite pull
    consumer of ``group`` (default ``CG_<topic>``), within ``timeout`` seconds."""
    got: list[MessageView] = []
    async with AsyncLitePullConsumer(
        group or f"CG_{topic}", addr, consume_from_where="first"
    ) as consumer:
        consumer.subscribe(topic, expression)
        with anyio.fail_after(timeout):
            while len(got) < count:
                got.extend(await consumer.poll(timeout=0.5))
    return got
