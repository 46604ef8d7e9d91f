"""The blocking API: produce and consume from plain Python code, no async anywhere.

``Producer``, ``PushConsumer`` and ``LitePullConsumer`` run the async clients on one background
event loop; push handlers run in worker threads.
``python examples/sync_client.py``.
"""

from __future__ import annotations

import time

from rocketmq_py import LitePullConsumer, Message, MessageView, Producer, PushConsumer
from rocketmq_py.testing import LocalCluster

TOPIC = "SyncExample"


def main() -> None:
    with LocalCluster(echo=True) as cluster:
        with Producer("SyncExampleProducer", cluster.namesrv_addr) as producer:
            for i in range(5):
                result = producer.send(Message(TOPIC, f"order {i}", keys=f"order-{i}"))
                print(f"sent {result.msg_id} ({result.status.value})")
        received: list[str] = []
        with LitePullConsumer(
            "SyncExampleGroup", cluster.namesrv_addr, consume_from_where="first"
        ) as consumer:
            consumer.subscribe(TOPIC)
            deadline = time.monotonic() + 60
            while len(received) < 5 and time.monotonic() < deadline:
                for message in consumer.poll(timeout=1):
                    print(f"received {message.body.decode()} (keys {message.keys})")
                    received.append(message.body.decode())
        assert sorted(received) == [f"order {i}" for i in range(5)], received

        # A push consumer in another group gets every message too, handed to a blocking handler.
        pushed: list[str] = []
        push = PushConsumer(
            "SyncExamplePushGroup", cluster.namesrv_addr, consume_from_where="first"
        )
        push.subscribe(TOPIC)

        @push.handler
        def handle(message: MessageView) -> None:
            print(f"pushed {message.body.decode()} to a worker thread")
            pushed.append(message.body.decode())
            if len(pushed) == 5:
                push.stop()

        with push:
            push.run_forever(timeout=60)
        assert sorted(pushed) == [f"order {i}" for i in range(5)], pushed
    print("sync client OK")


if __name__ == "__main__":
    main()
