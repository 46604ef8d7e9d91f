"""Lite pull consumer: start a name server and a broker, send 10 messages, poll them back.

Everything runs on loopback with a temporary HOME and store, and every process started here is
stopped at the end, whatever happens. ``python examples/lite_pull.py``.
"""

from __future__ import annotations

import anyio

from rocketmq_py import AsyncLitePullConsumer, AsyncProducer, Message
from rocketmq_py.testing import LocalCluster

TOPIC = "LitePullExample"
COUNT = 10


async def produce_and_consume(namesrv_addr: str) -> None:
    """Send COUNT messages, then read them with a subscribing lite pull consumer."""
    async with AsyncProducer("LitePullExampleProducer", namesrv_addr) as producer:
        for i in range(COUNT):
            result = await producer.send(Message(TOPIC, f"hello {i}", tags="demo"))
            print(f"sent {result.msg_id} to queue {result.queue.queue_id}")

    consumer = AsyncLitePullConsumer(
        "LitePullExampleGroup", namesrv_addr, consume_from_where="first", auto_commit=False
    )
    consumer.subscribe(TOPIC, "demo")
    async with consumer:
        received = []
        with anyio.fail_after(60):
            while len(received) < COUNT:
                for message in await consumer.poll(timeout=1.0):
                    print(
                        f"polled {message.body.decode()!r} "
                        f"(queue {message.queue.queue_id}, offset {message.queue_offset})"
                    )
                    received.append(message)
        await consumer.commit()
        committed = {q.queue_id: await consumer.committed(q) for q in consumer.assignment()}
        print(f"committed offsets per queue: {dict(sorted(committed.items()))}")
    assert sorted(m.body.decode() for m in received) == sorted(f"hello {i}" for i in range(COUNT))


def main() -> None:
    with LocalCluster(echo=True) as cluster:
        anyio.run(produce_and_consume, cluster.namesrv_addr)
    print("lite pull OK")


if __name__ == "__main__":
    main()
