"""Push consumer throughput: concurrent beside orderly consumption of one topic, one run.

Starts its own ``mqnamesrv`` + ``mqbroker`` (:class:`rocketmq_py.testing.LocalCluster`:
temporary HOME and store, free ports), creates a topic with ``--queues`` (4) queues, stores
``--messages`` (20,000) 100-byte messages with ``--keys`` (16) keys, each key pinned to one
queue (key index modulo the queue count), then reads them all back with a fresh consumer
group per row:

* ``concurrent``: ``AsyncPushConsumer`` with ``max_concurrency`` handler calls at once, any
  queue, any order.
* ``orderly``: ``AsyncPushConsumer(orderly=True)``: one call at a time per queue, queues in
  parallel (queue locks, offsets committed after in-order success).

The handler is async; it only records the message, after sleeping a random 0 to 2 x
``--work-ms`` milliseconds when given, to model a handler that waits on I/O. ``msgs/s``
counts from the first message handled to the last (the group's start-up, rebalance and
locking excluded); ``CPU µs/msg`` is this process's CPU time per message over the same span
(the broker runs in another process).
``keys out of order`` counts keys whose messages reached the handler in another order than
they were sent. With ``--rounds N`` each row shows the round with the median msgs/s.

    .venv/bin/python benchmarks/consume_bench.py
    .venv/bin/python benchmarks/consume_bench.py --work-ms 1 --rounds 3 --json

Not a test: nothing here asserts speed.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _args import OneLineErrorParser

from rocketmq_py import AsyncAdmin, AsyncProducer, AsyncPushConsumer, Message, MessageView
from rocketmq_py.exceptions import TopicNotExistError
from rocketmq_py.message import MessageQueueRef
from rocketmq_py.testing import LocalCluster

TOPIC = "ConsumeBench"
BROKER_NAME = "broker-a"


@dataclass
class Row:
    """One measured consumption mode."""

    mode: str
    messages: int
    seconds: float
    cpu_seconds: float
    out_of_order_keys: int
    rounds: list[float] = field(default_factory=list)

    @property
    def msgs_per_s(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_us_per_msg(self) -> float:
        return self.cpu_seconds / self.messages * 1e6 if self.messages else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "messages": self.messages,
            "seconds": round(self.seconds, 4),
            "msgs_per_s": round(self.msgs_per_s, 1),
            "client_cpu_us_per_msg": round(self.cpu_us_per_msg, 1),
            "out_of_order_keys": self.out_of_order_keys,
            "rounds_msgs_per_s": [round(r, 1) for r in self.rounds],
        }


async def prepare(namesrv: str, broker: str, args: argparse.Namespace) -> None:
    """Create the topic, wait for its route, and store the messages."""
    async with AsyncAdmin(namesrv) as admin:
        await admin.create_topic(
            TOPIC, broker_addr=broker, read_queue_nums=args.queues, write_queue_nums=args.queues
        )
        with anyio.fail_after(30):
            while True:
                try:
                    route = await admin.topic_route(TOPIC)
                except TopicNotExistError:
                    route = None
                if (
                    route
                    and route.queue_datas
                    and route.queue_datas[0].read_queue_nums == args.queues
                ):
                    break
                await anyio.sleep(0.05)
    per_key = args.messages // args.keys
    async with AsyncProducer("PG_CONSUME_BENCH", namesrv) as producer:

        async def one_key(key: int) -> None:
            queue = MessageQueueRef(TOPIC, BROKER_NAME, key % args.queues)
            batch: list[Message] = []
            for seq in range(per_key):
                body = f"{key}:{seq}:".ljust(100, ".")
                batch.append(Message(TOPIC, body, keys=f"key{key}"))
                if len(batch) == 32 or seq == per_key - 1:
                    # One key's batches go one after another: the queue keeps their order.
                    await producer.send_batch(batch, queue=queue)
                    batch = []

        async with anyio.create_task_group() as tg:
            for key in range(args.keys):
                tg.start_soon(one_key, key)


async def consume(namesrv: str, mode: str, group: str, args: argparse.Namespace) -> Row:
    """Read every message with a fresh group; time the span from first to last handled."""
    total = (args.messages // args.keys) * args.keys
    work = args.work_ms / 1000
    seen: dict[int, list[int]] = defaultdict(list)
    count = 0
    first_at = last_at = 0.0
    cpu_first = cpu_last = 0.0
    done = anyio.Event()
    consumer = AsyncPushConsumer(
        group,
        namesrv,
        consume_from_where="first",
        orderly=mode == "orderly",
        max_concurrency=args.concurrency,
    )
    consumer.subscribe(TOPIC)

    @consumer.handler
    async def handle(message: MessageView) -> None:
        nonlocal count, first_at, last_at, cpu_first, cpu_last
        if work:
            await anyio.sleep(random.uniform(0, 2 * work))
        key, seq, _ = message.body.decode().split(":", 2)
        seen[int(key)].append(int(seq))
        count += 1
        if count == 1:
            first_at, cpu_first = time.perf_counter(), time.process_time()
        if count >= total and not done.is_set():
            last_at, cpu_last = time.perf_counter(), time.process_time()
            done.set()

    async with consumer:
        with anyio.fail_after(args.timeout):
            await done.wait()
    disorder = sum(1 for seqs in seen.values() if seqs != sorted(seqs))
    return Row(mode, total - 1, last_at - first_at, cpu_last - cpu_first, disorder)


def median_row(rows: list[Row]) -> Row:
    rates = [r.msgs_per_s for r in rows]
    middle = sorted(rows, key=lambda r: r.msgs_per_s)[len(rows) // 2]
    middle.rounds = rates
    return middle


def print_table(rows: list[Row], args: argparse.Namespace) -> None:
    print(
        f"\n{args.messages} messages, {args.keys} keys over {args.queues} queues, "
        f"max_concurrency {args.concurrency}, handler work {args.work_ms} ms; "
        f"Python {platform.python_version()} on {platform.machine()}\n"
    )
    header = f"{'mode':<11} {'msgs':>7} {'seconds':>8} {'msgs/s':>9} {'CPU µs/msg':>11}"
    header += f" {'keys out of order':>18}  rounds (msgs/s)"
    print(header)
    print("-" * len(header))
    for row in rows:
        rounds = ", ".join(f"{r:.0f}" for r in row.rounds)
        print(
            f"{row.mode:<11} {row.messages:>7} {row.seconds:>8.2f} {row.msgs_per_s:>9.0f} "
            f"{row.cpu_us_per_msg:>11.1f} {row.out_of_order_keys:>18}  {rounds}"
        )
    if len(rows) == 2 and rows[0].msgs_per_s:
        ratio = rows[1].msgs_per_s / rows[0].msgs_per_s
        print(f"\norderly / concurrent throughput: {ratio:.2f}")


async def run(args: argparse.Namespace) -> list[Row]:
    with LocalCluster() as cluster:
        await prepare(cluster.namesrv_addr, cluster.broker_addr, args)
        results: dict[str, list[Row]] = {"concurrent": [], "orderly": []}
        for round_no in range(args.rounds):
            for mode, rows in results.items():
                group = f"CG_BENCH_{mode}_{round_no}"
                rows.append(await consume(cluster.namesrv_addr, mode, group, args))
    return [median_row(rows) for rows in results.values()]


def main(argv: list[str] | None = None) -> int:
    parser = OneLineErrorParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        epilog="Starts its own namesrv and broker; prints a table (or JSON with --json).",
    )
    parser.add_argument("--messages", type=int, default=20_000, help="messages stored")
    parser.add_argument("--queues", type=int, default=4, help="queues of the topic")
    parser.add_argument("--keys", type=int, default=16, help="keys, each pinned to a queue")
    parser.add_argument("--concurrency", type=int, default=20, help="max_concurrency")
    parser.add_argument("--work-ms", type=float, default=0.0, help="mean handler sleep per message")
    parser.add_argument("--rounds", type=int, default=1, help="rounds; the median is shown")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per row")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    for name in ("messages", "queues", "keys", "concurrency", "rounds"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.messages < args.keys:
        parser.error("--messages must be at least --keys")
    rows = anyio.run(run, args)
    if args.json:
        print(json.dumps([row.to_json() for row in rows], indent=2))
    else:
        print_table(rows, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
