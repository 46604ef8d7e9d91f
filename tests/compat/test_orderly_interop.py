"""Our orderly push consumer reading what the cpp peer's orderly producer sent.

The cpp peer (``../shared/peers/run_peer.sh cpp --features orderly --consume none``) sends N
messages through rocketmq-client-cpp's orderly producer with three sharding keys
(``order-<i % 3>``; bodies ``<run>|orderly-k<i % 3>|<i>``): each key's messages land on one
queue in send order. Our consumer must hand every key's messages to its handler in that order.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections import defaultdict

import anyio
import pytest

from rocketmq_py import AsyncPushConsumer, MessageView
from tests.compat.test_peers import PEERS, PEERS_DIR, _require
from tests.compat.test_sdk_interop import create_topic, wait_until
from tests.conftest import ServerProcess

pytestmark = [pytest.mark.anyio, pytest.mark.peers]

COUNT = 90


async def test_cpp_orderly_producer_to_our_orderly_consumer(
    cluster_processes: tuple[ServerProcess, ServerProcess],
) -> None:
    namesrv, broker = cluster_processes
    _require("cpp")
    topic = f"PeerOrderly{uuid.uuid4().hex[:8]}"
    await create_topic(namesrv.addr, broker.addr, topic, 4)
    env = {**os.environ, "NAMESRV": namesrv.addr, "TOPIC": topic, "PEERS_DIR": str(PEERS_DIR)}
    argv = ["bash", str(PEERS / "run_peer.sh"), "cpp", "-n", str(COUNT)]
    argv += ["--features", "orderly", "--consume", "none", "--timeout", "60"]
    proc = await anyio.to_thread.run_sync(
        lambda: subprocess.run(
            argv, env=env, capture_output=True, text=True, timeout=120, check=False
        )
    )
    assert proc.returncode == 0, f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"

    by_key: dict[int, list[int]] = defaultdict(list)
    queues_of_key: dict[int, set[int]] = defaultdict(set)
    consumer = AsyncPushConsumer(
        f"GID_orderly_{uuid.uuid4().hex[:8]}",
        namesrv.addr,
        consume_from_where="first",
        orderly=True,
    )
    consumer.subscribe(topic)

    @consumer.handler
    async def handle(message: MessageView) -> None:
        _, kind, index = message.body.decode().split("|")  # kind: orderly-k<i % 3>
        key, i = int(kind.removeprefix("orderly-k")), int(index)
        by_key[key].append(i)
        queues_of_key[key].add(message.queue.queue_id)

    async with consumer:
        await wait_until(
            lambda: sum(len(v) for v in by_key.values()) >= COUNT, 30, f"{COUNT} messages"
        )
    for key in range(3):
        assert by_key[key] == list(range(key, COUNT, 3)), (key, by_key[key])
        assert len(queues_of_key[key]) == 1, queues_of_key[key]
