"""Quickstart: a name server, a broker, and a produce/consume round trip.

Everything runs on loopback with a temporary HOME and store (logs land there too), on free
ports, and every process started here is stopped at the end, whatever happens.
``python examples/quickstart.py``.
"""

from __future__ import annotations

import anyio

from rocketmq_py import AsyncLitePullConsumer, AsyncProducer, Message
from rocketmq_py.testing import LocalCluster


async def round_trip(namesrv: str) -> None:
    """Send ten messages and read them back."""
    async with AsyncProducer("QuickstartProducer", namesrv) as producer:
        for i in range(10):
            result = await producer.send(
                Message("QuickstartTopic", f"hello {i}", tags="demo", keys=f"order-{i}")
            )
            queue = result.queue
            print(f"sent {result.msg_id} to queue {queue.queue_id} offset {result.queue_offset}")
    received: list[str] = []
    async with AsyncLitePullConsumer(
        "QuickstartConsumer", namesrv, consume_from_where="first"
    ) as consumer:
        consumer.subscribe("QuickstartTopic", "demo")
        with anyio.fail_after(60):
            while len(received) < 10:
                for message in await consumer.poll(timeout=2):
                    print(
                        f"received {message.msg_id}: {message.body.decode()} (keys {message.keys})"
                    )
                    received.append(message.body.decode())
    assert sorted(received) == sorted(f"hello {i}" for i in range(10)), received


def main() -> None:
    with LocalCluster(echo=True) as cluster:
        print(f"name server {cluster.namesrv_addr}, broker {cluster.broker_addr}")
        anyio.run(round_trip, cluster.namesrv_addr)
    print("quickstart OK")


if __name__ == "__main__":
    main()
