"""Transactional sends beside plain sync sends, one ``LocalCluster``, one run.

Starts ``mqnamesrv`` + ``mqbroker`` through :class:`rocketmq_py.testing.LocalCluster`
(temporary HOME and store) and measures, with ``--body-size`` (1 KiB) bodies, one topic per
row so that rows do not share queues:

* ``plain sync``: ``await producer.send(msg)``, one in flight (the baseline).
* ``send_in_transaction``: half message + local transaction (an ``async def`` returning
  COMMIT at once) + END_TRANSACTION oneway, one in flight.
* ``send_in_transaction (thread)``: the same with a plain-function local transaction, which
  the async producer runs in a worker thread (the cost of that hop).
* ``async with transaction()``: the same through the context manager.
* ``send_in_transaction x N``: ``--inflight`` (16) tasks on one producer.

A transactional row's clock stops only when the topic holds every committed message (polled
with QUERY max offsets), because END_TRANSACTION is oneway and the commit is stored after
the producer moved on. ``p50/p99`` time one call (half send + END write). ``CPU µs/msg`` is
this process's CPU time per message (the broker runs in another process).

    .venv/bin/python benchmarks/transaction_bench.py
    .venv/bin/python benchmarks/transaction_bench.py --messages 5000 --json

Not a test: nothing here asserts speed.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _args import OneLineErrorParser

from rocketmq_py import (
    AsyncAdmin,
    AsyncProducer,
    AsyncTransactionProducer,
    Message,
    MessageView,
    SendResult,
    TransactionState,
)
from rocketmq_py.testing import LocalCluster


@dataclass
class Row:
    """One measured mode."""

    mode: str
    messages: int
    seconds: float
    p50_us: float
    p99_us: float
    cpu_seconds: float

    @property
    def msgs_per_s(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "messages": self.messages,
            "seconds": round(self.seconds, 4),
            "msgs_per_s": round(self.msgs_per_s, 1),
            "p50_us": round(self.p50_us, 1),
            "p99_us": round(self.p99_us, 1),
            "client_cpu_us_per_msg": round(self.cpu_seconds / self.messages * 1e6, 1),
        }


def _percentile_us(latencies: list[float], q: float) -> float:
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1e6


async def _commit(message: Message, half: SendResult) -> TransactionState:
    return TransactionState.COMMIT


def _commit_in_thread(message: Message, half: SendResult) -> TransactionState:
    return TransactionState.COMMIT  # a plain function: the async producer runs it in a thread


def _never_asked(message: MessageView) -> TransactionState:
    return TransactionState.COMMIT  # every transaction commits; a check finds it committed


async def _stored(admin: AsyncAdmin, topic: str) -> int:
    return sum([await admin.max_offset(q) for q in await admin.subscribe_queues(topic)])


async def _measure(
    mode: str,
    count: int,
    inflight: int,
    call: Callable[[int], Awaitable[object]],
    *,
    admin: AsyncAdmin | None,
    topic: str,
    already: int = 0,
) -> Row:
    latencies: list[float] = []
    clock = time.perf_counter
    per_task = count // inflight

    async def worker(first: int) -> None:
        for i in range(first, first + per_task):
            t0 = clock()
            await call(i)
            latencies.append(clock() - t0)

    cpu = time.process_time()
    start = clock()
    async with anyio.create_task_group() as tg:
        for n in range(inflight):
            tg.start_soon(worker, n * per_task)
    if admin is not None:  # the commits are oneway: wait until the broker stored them all
        while await _stored(admin, topic) < already + per_task * inflight:
            await anyio.sleep(0.01)
    seconds = clock() - start
    cpu = time.process_time() - cpu
    return Row(
        mode,
        per_task * inflight,
        seconds,
        _percentile_us(latencies, 0.5),
        _percentile_us(latencies, 0.99),
        cpu,
    )


async def run(args: argparse.Namespace, namesrv: str) -> list[Row]:
    body = b"x" * args.body_size
    run_id = f"{time.time_ns() % 10**8}"
    topics = {k: f"TxBench{k}{run_id}" for k in ("Plain", "Java", "Thread", "Block", "Async")}
    rows: list[Row] = []
    async with (
        AsyncAdmin(namesrv) as admin,
        AsyncProducer("TxBenchPlain", namesrv) as plain,
        AsyncTransactionProducer("TxBenchTx", namesrv, checker=_never_asked) as tx,
    ):
        for topic in topics.values():  # create topics and routes outside the timed loops
            await plain.send(Message(topic, b"warm-up"))
            await tx.send_in_transaction(Message(topic, b"warm-up"), _commit)
        warm = {topic: await _stored(admin, topic) for topic in topics.values()}

        def tx_done(topic: str, local: Any = _commit) -> Callable[[int], Awaitable[object]]:
            return lambda i: tx.send_in_transaction(Message(topic, body), local)

        async def block(i: int) -> None:
            async with tx.transaction(Message(topics["Block"], body)):
                pass

        async def plain_send(i: int) -> object:
            return await plain.send(Message(topics["Plain"], body))

        rows.append(
            await _measure("plain sync", args.messages, 1, plain_send, admin=None, topic="")
        )
        for mode, call, topic, inflight in (
            ("send_in_transaction", tx_done(topics["Java"]), topics["Java"], 1),
            (
                "send_in_transaction (thread)",
                tx_done(topics["Thread"], _commit_in_thread),
                topics["Thread"],
                1,
            ),
            ("async with transaction()", block, topics["Block"], 1),
            (
                f"send_in_transaction x{args.inflight}",
                tx_done(topics["Async"]),
                topics["Async"],
                args.inflight,
            ),
        ):
            rows.append(
                await _measure(
                    mode,
                    args.messages,
                    inflight,
                    call,
                    admin=admin,
                    topic=topic,
                    already=warm[topic],
                )
            )
    return rows


def main() -> int:
    parser = OneLineErrorParser(
        description="Transactional sends (half + commit) next to plain sync sends, msgs/s."
    )
    parser.add_argument("--messages", type=int, default=2000, help="messages per row (2000)")
    parser.add_argument("--body-size", type=int, default=1024, help="body bytes (1024)")
    parser.add_argument("--inflight", type=int, default=16, help="tasks in the async row (16)")
    parser.add_argument("--json", action="store_true", help="print one JSON line instead")
    args = parser.parse_args()
    with LocalCluster() as cluster:
        rows = anyio.run(run, args, cluster.namesrv_addr)
    if args.json:
        print(
            json.dumps({"python": platform.python_version(), "rows": [r.to_json() for r in rows]})
        )
        return 0
    base = rows[0].msgs_per_s
    print(
        f"{'mode':<30} {'msgs':>6} {'msgs/s':>9} {'vs plain':>9} {'p50 µs':>8} {'p99 µs':>8}"
        f" {'CPU µs/msg':>11}"
    )
    for r in rows:
        print(
            f"{r.mode:<30} {r.messages:>6} {r.msgs_per_s:>9.0f} {r.msgs_per_s / base:>8.2f}x"
            f" {r.p50_us:>8.0f} {r.p99_us:>8.0f} {r.cpu_seconds / r.messages * 1e6:>11.1f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
