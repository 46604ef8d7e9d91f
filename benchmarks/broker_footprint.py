"""Broker memory per stored message, and restart time after ``kill -9``.

Starts its own mqnamesrv + mqbroker (temp HOME and store, free ports), stores N messages with
batched sends, reads the broker's anonymous memory (``RssAnon``: what the process holds
outside the page cache) before and after, then kills the broker with SIGKILL and times a
restart on the same store until it serves again. Prints a table.

    python benchmarks/broker_footprint.py --messages 1000000 --body-size 1024
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _args import OneLineErrorParser
from remoting_bench import Spawned, spawn_broker, spawn_namesrv

from rocketmq_py._transport import ClientConnection
from rocketmq_py.protocol.codes import RequestCode, ResponseCode
from rocketmq_py.protocol.command import RemotingCommand
from rocketmq_py.protocol.headers.send import SendMessageRequestHeaderV2
from rocketmq_py.protocol.message import encode_batch

TOPIC = "FootprintTopic"


def rss_anon_kib(pid: int) -> int:
    """Anonymous resident memory of a process (excludes file-backed pages)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1])
    raise RuntimeError("no RssAnon")


async def fill(addr: str, messages: int, body_size: int, batch: int, inflight: int) -> float:
    """Store ``messages`` messages; returns the seconds it took."""
    body = encode_batch([(b"x" * body_size, 0, {"KEYS": f"k{i}"}) for i in range(batch)])
    t0 = time.perf_counter()
    async with anyio.create_task_group() as tg:
        conn = await ClientConnection.connect(addr, tg)
        sent = 0
        limiter = anyio.Semaphore(inflight)

        async def one(queue_id: int) -> None:
            async with limiter:
                header = SendMessageRequestHeaderV2(
                    producer_group="PG",
                    topic=TOPIC,
                    default_topic="TBW102",
                    default_topic_queue_nums=4,
                    queue_id=queue_id,
                    sys_flag=0,
                    born_timestamp=int(time.time() * 1000),
                    flag=0,
                    properties="WAIT\x01true\x02",
                    batch=True,
                )
                request = RemotingCommand.request(RequestCode.SEND_BATCH_MESSAGE, header, body)
                response = await conn.request(request, timeout=60)
                if response.code != ResponseCode.SUCCESS:
                    raise RuntimeError(f"send failed: {response.code} {response.remark}")

        async with anyio.create_task_group() as senders:
            while sent < messages:
                await limiter.acquire()
                limiter.release()
                senders.start_soon(one, (sent // batch) % 4)
                sent += batch
                if sent % (batch * 400) == 0:
                    print(f"  stored {sent:,} / {messages:,}", file=sys.stderr, flush=True)
        await conn.aclose()
        tg.cancel_scope.cancel()
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    parser = OneLineErrorParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--messages", type=int, default=1_000_000, help="messages to store (default 1,000,000)"
    )
    parser.add_argument("--body-size", type=int, default=1024, help="body bytes (default 1024)")
    parser.add_argument(
        "--batch", type=int, default=256, help="messages per batch send (default 256)"
    )
    parser.add_argument(
        "--inflight", type=int, default=4, help="batch requests in flight (default 4)"
    )
    args = parser.parse_args(argv)
    if args.messages <= 0 or args.body_size <= 0 or args.batch <= 0:
        parser.error("--messages, --body-size and --batch must be positive")
    spawned: list[Spawned] = []
    with tempfile.TemporaryDirectory(prefix="rocketmq-footprint-") as tmp:
        home = Path(tmp)
        try:
            namesrv = spawn_namesrv(home, False, spawned)
            addr = spawn_broker(home, namesrv, "ASYNC_FLUSH", False, spawned)
            broker = spawned[-1]
            time.sleep(1)
            before = rss_anon_kib(broker.proc.pid)
            seconds = anyio.run(
                fill, addr, args.messages, args.body_size, args.batch, args.inflight
            )
            time.sleep(1)
            after = rss_anon_kib(broker.proc.pid)
            store_bytes = sum(p.stat().st_size for p in (home / "store").rglob("*") if p.is_file())
            os.kill(broker.proc.pid, signal.SIGKILL)
            broker.proc.wait()
            t0 = time.perf_counter()
            spawn_broker(home, namesrv, "ASYNC_FLUSH", False, spawned)
            restart = time.perf_counter() - t0
        finally:
            for server in reversed(spawned):
                server.stop()
    per_million = (after - before) / 1024 / (args.messages / 1_000_000)
    print(f"{'metric':<44} {'value':>14}")
    print(f"{'messages stored':<44} {args.messages:>14,}")
    print(f"{'body size (bytes)':<44} {args.body_size:>14,}")
    print(f"{'store on disk (MiB, preallocated files)':<44} {store_bytes / 2**20:>14,.0f}")
    fill_label = f"fill rate (msgs/s, batches of {args.batch})"
    print(f"{fill_label:<44} {args.messages / seconds:>14,.0f}")
    print(f"{'broker RssAnon before (MiB)':<44} {before / 1024:>14,.1f}")
    print(f"{'broker RssAnon after (MiB)':<44} {after / 1024:>14,.1f}")
    print(f"{'anonymous memory per million messages (MiB)':<44} {per_million:>14,.1f}")
    print(f"{'restart after kill -9 until serving (s)':<44} {restart:>14,.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
