"""Push consumer: start a name server and a broker, send 20 messages, have a handler consume them.

The handler fails one message the first time it sees it; the broker delivers it again through
the group's retry topic, with ``reconsume_times`` 1. The broker here uses 1 s delay levels so the
retry comes back after 1 s rather than the default 10 s.

Everything runs on loopback with a temporary HOME and store, and every process started here is
stopped at the end, whatever happens. ``python examples/push_consumer.py``.
"""

from __future__ import annotations

from collections import Counter

import anyio

from rocketmq_py import AsyncProducer, AsyncPushConsumer, Message, MessageView
from rocketmq_py.testing import LocalCluster

TOPIC = "PushExample"
COUNT = 20
FAILS_ONCE = "hello 7"


async def produce_and_consume(namesrv_addr: str) -> None:
    """Send COUNT messages, then consume them with a push consumer and an async handler."""
    async with AsyncProducer("PushExampleProducer", namesrv_addr) as producer:
        for i in range(COUNT):
            result = await producer.send(Message(TOPIC, f"hello {i}", tags="demo"))
            print(f"sent {result.msg_id} to queue {result.queue.queue_id}")

    deliveries: Counter[str] = Counter()
    done: set[str] = set()
    all_done = anyio.Event()

    consumer = AsyncPushConsumer("PushExampleGroup", namesrv_addr, consume_from_where="first")
    consumer.subscribe(TOPIC, "demo")

    @consumer.handler
    async def handle(message: MessageView) -> bool:
        body = message.body.decode()
        deliveries[body] += 1
        print(
            f"got {body!r} from {message.queue.topic} queue {message.queue.queue_id} "
            f"(reconsume_times {message.reconsume_times})"
        )
        if body == FAILS_ONCE and message.reconsume_times == 0:
            print(f"  failing {body!r} once: it will come back through the retry topic")
            return False
        done.add(body)
        if len(done) == COUNT:
            all_done.set()
        return True

    async with consumer:
        with anyio.fail_after(60):
            await all_done.wait()
    assert done == {f"hello {i}" for i in range(COUNT)}
    assert deliveries[FAILS_ONCE] == 2
    print(f"consumed {COUNT} messages; {FAILS_ONCE!r} was delivered twice")


def main() -> None:
    # Every delay level 1 s: a first retry (level 3) comes back after 1 s, not 10 s.
    with LocalCluster(
        broker_config={"messageDelayLevel": " ".join(["1s"] * 18)}, echo=True
    ) as cluster:
        anyio.run(produce_and_consume, cluster.namesrv_addr)
    print("push consumer OK")


if __name__ == "__main__":
    main()
