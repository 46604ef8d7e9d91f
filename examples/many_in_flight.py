"""Many sends in flight on one producer, with ``auto_batch=True``.

Thousands of tasks each ``await producer.send(msg)``; the producer gathers the sends waiting
together into batch requests (Java 5.x's ``autoBatch``), and every task still gets the result
of its own message. ``python examples/many_in_flight.py`` starts a name server and a broker on
free ports with a temporary HOME and store, sends 5,000 messages from 500 tasks, and reads
them all back.
"""

from __future__ import annotations

import time

import anyio

from rocketmq_py import AsyncLitePullConsumer, AsyncProducer, Message, SendResult
from rocketmq_py.testing import LocalCluster

COUNT = 5_000
TASKS = 500


async def send_and_read(namesrv: str) -> None:
    results: list[SendResult] = []
    started = time.perf_counter()
    async with AsyncProducer("ManyInFlightProducer", namesrv, auto_batch=True) as producer:

        async def sender(first: int) -> None:
            for i in range(first, COUNT, TASKS):
                results.append(await producer.send(Message("ManyInFlight", f"order {i}")))

        async with anyio.create_task_group() as tg:
            for first in range(TASKS):
                tg.start_soon(sender, first)
    seconds = time.perf_counter() - started
    print(f"sent {len(results)} messages from {TASKS} tasks in {seconds:.2f} s")
    assert len({r.msg_id for r in results}) == COUNT  # one result per message

    received: set[str] = set()
    async with AsyncLitePullConsumer(
        "ManyInFlightConsumer", namesrv, consume_from_where="first", pull_batch_size=256
    ) as consumer:
        consumer.subscribe("ManyInFlight")
        with anyio.fail_after(120):
            while len(received) < COUNT:
                received.update(m.msg_id for m in await consumer.poll(timeout=2))
    assert received == {r.msg_id for r in results}
    print(f"read back all {len(received)}")


def main() -> None:
    with LocalCluster(echo=True) as cluster:
        anyio.run(send_and_read, cluster.namesrv_addr)
    print("many in flight OK")


if __name__ == "__main__":
    main()
