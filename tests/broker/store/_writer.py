"""Subprocess for the kill -9 test: puts with SYNC_FLUSH and prints what is durable.

Usage: ``python -m tests.broker.store._writer ROOT SEED``. Prints ``READY``, then one
``ACK <offset> <uniq> <topic> <queueId>`` line per message, only after ``wait_flushed``
returned True for it. Runs until killed.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import sys

from broker.store import FlushDiskType, MessageStore, StoreConfig
from rocketmq_py.protocol.message import MessageConst, MessageRecord

TOPICS = ("KillA", "KillB")
QUEUES = 3


def writer_config(root: str) -> StoreConfig:
    """Small files so the run crosses segment, queue-file and index-file boundaries."""
    return StoreConfig(
        store_path_root_dir=root,
        flush_disk_type=FlushDiskType.SYNC_FLUSH,
        mapped_file_size_commit_log=64 * 1024,
        mapped_file_size_consume_queue=20 * 64,
        max_hash_slot_num=64,
        max_index_num=256,
        flush_interval_consume_queue_ms=5,
        flush_consume_queue_least_pages=0,
        flush_consume_queue_thorough_interval_ms=20,
    )


def body_for(uniq: str, length: int) -> bytes:
    """The body a message with this id and length must have."""
    digest = hashlib.sha256(uniq.encode()).digest()
    return (digest * (length // len(digest) + 1))[:length]


def _record(rnd: random.Random, uniq: str, topic: str, queue_id: int) -> MessageRecord:
    length = rnd.choice((0, 1, 100, 700, 1500, 3000))
    return MessageRecord(
        topic=topic,
        body=body_for(uniq, length),
        properties={
            MessageConst.PROPERTY_TAGS: rnd.choice(("TagA", "TagB")),
            MessageConst.PROPERTY_KEYS: f"key-{uniq} shared",
            MessageConst.PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX: uniq,
            "BLEN": str(length),
        },
        queue_id=queue_id,
        born_timestamp=1,
        born_host=("127.0.0.1", 1234),
    )


async def main(root: str, seed: int) -> None:
    store = MessageStore(writer_config(root))
    if not store.load():
        raise SystemExit("load failed")
    store.start(asyncio.get_running_loop())
    print("READY", flush=True)
    rnd = random.Random(seed)
    n = 0
    while True:
        pending: list[tuple[object, list[MessageRecord]]] = []
        for _ in range(rnd.randint(1, 16)):
            topic = rnd.choice(TOPICS)
            queue_id = rnd.randrange(QUEUES)
            count = rnd.randint(2, 6) if rnd.random() < 0.25 else 1
            records = []
            for _ in range(count):
                n += 1
                records.append(_record(rnd, f"S{seed:05d}N{n:08d}", topic, queue_id))
            result = store.put_messages(records) if count > 1 else store.put_message(records[0])
            if result.ok:
                pending.append((result, records))
        flushed = await asyncio.gather(*(store.wait_flushed(r) for r, _ in pending))  # type: ignore[arg-type]
        lines = [
            f"ACK {rec.commit_log_offset} {rec.unique_key} {rec.topic} {rec.queue_id}\n"
            for ok, (_r, records) in zip(flushed, pending, strict=True)
            if ok
            for rec in records
        ]
        sys.stdout.write("".join(lines))
        sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
