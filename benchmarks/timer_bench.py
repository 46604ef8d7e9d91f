"""Timer-message benchmark: fire lag, scheduling throughput and the cost of pending timers.

An in-process broker (``BrokerController``, no name server) on a temporary store, driven over
loopback TCP by ``--senders`` concurrent SEND_MESSAGE_V2 requests on one connection.

* **fire lag**: ``--messages`` timer messages (``TIMER_DELIVER_MS``) spread uniformly over the
  next ``--spread`` seconds, plus ``--far`` messages two days ahead (they stay pending). Every
  delivered copy is pulled back; the lag is its store time minus the requested deliver time
  (never negative: a slot fires at its end). Also the broker's own due-lag histogram (lag
  after the end of the slot, in log-scale buckets).
* **scheduling throughput**: sends accepted per second while sending the messages above and
  while filling the wheel below; ``wheel link`` is how fast the enqueue loop linked them.
* **pending cost**: ``--pending`` messages 1-2 days ahead on a fresh store. Memory is the
  broker process's RSS (anonymous pages: the Python heap; file pages are the page cache of
  the mapped store files and count too) after the sends and a ``gc.collect()``, minus before;
  disk is the timer log and wheel blocks plus the commitlog bytes of the parked messages.
  Per million = measured / pending * 1e6 (linear extrapolation: the timer files grow by a
  fixed 32-byte unit per timer and the wheel is fixed-size; the client's own memory is part
  of the RSS delta, so the figure is an upper bound).

Run ``python benchmarks/timer_bench.py --help``; ``--quick`` for a short run. Not a test:
nothing here asserts speed; numbers move with the box's load.
"""

from __future__ import annotations

import argparse
import gc
import random
import shutil
import tempfile
import time
from pathlib import Path

import anyio
from _args import OneLineErrorParser

from broker.config import broker_settings
from broker.controller import BrokerController
from rocketmq_py._transport.connection import ClientConnection
from rocketmq_py.protocol.codes import RequestCode, ResponseCode
from rocketmq_py.protocol.command import RemotingCommand
from rocketmq_py.protocol.headers.pull import PullMessageRequestHeader, PullMessageResponseHeader
from rocketmq_py.protocol.headers.send import SendMessageRequestHeaderV2
from rocketmq_py.protocol.message import encode_properties, iter_records

TOPIC = "TimerBench"
QUEUES = 4


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _rss() -> tuple[int, int]:
    """(RssAnon, RssFile) of this process in bytes."""
    fields = {}
    with open("/proc/self/status") as f:
        for line in f:
            name, _, value = line.partition(":")
            if name in ("RssAnon", "RssFile"):
                fields[name] = int(value.split()[0]) * 1024
    return fields.get("RssAnon", 0), fields.get("RssFile", 0)


def _disk(path: Path) -> int:
    if path.is_file():
        return path.stat().st_blocks * 512
    return sum(p.stat().st_blocks * 512 for p in path.rglob("*") if p.is_file())


def _send_request(topic: str, body: bytes, queue_id: int, deliver_ms: int) -> RemotingCommand:
    header = SendMessageRequestHeaderV2(
        producer_group="PG_TIMER_BENCH",
        topic=topic,
        default_topic="TBW102",
        default_topic_queue_nums=QUEUES,
        queue_id=queue_id,
        sys_flag=0,
        born_timestamp=_now_ms(),
        flag=0,
        properties=encode_properties({"WAIT": "true", "TIMER_DELIVER_MS": str(deliver_ms)}),
    )
    return RemotingCommand.request(RequestCode.SEND_MESSAGE_V2, header, body)


async def _send_all(
    conn: ClientConnection, deliveries: list[int], body: bytes, senders: int
) -> float:
    """Send one timer message per deliver time; return the seconds it took."""
    next_index = iter(range(len(deliveries)))
    began = time.perf_counter()

    async def sender() -> None:
        for i in next_index:
            request = _send_request(TOPIC, body, i % QUEUES, deliveries[i])
            response = await conn.request(request, timeout=30)
            if response.code != ResponseCode.SUCCESS:
                raise SystemExit(f"send refused: {response.code} {response.remark}")

    async with anyio.create_task_group() as tg:
        for _ in range(senders):
            tg.start_soon(sender)
    return time.perf_counter() - began


async def _pull_all(conn: ClientConnection, queue_id: int, offset: int) -> tuple[list[int], int]:
    """Lags (store time - TIMER_DELIVER_MS) of the records from ``offset``; the next offset."""
    lags: list[int] = []
    while True:
        header = PullMessageRequestHeader(
            consumer_group="CG_TIMER_BENCH",
            topic=TOPIC,
            queue_id=queue_id,
            queue_offset=offset,
            max_msg_nums=32,
            sys_flag=4,
            commit_offset=0,
            suspend_timeout_millis=0,
            sub_version=0,
            subscription="*",
            expression_type="TAG",
        )
        resp = await conn.request(RemotingCommand.request(RequestCode.PULL_MESSAGE, header), 30)
        if resp.code != ResponseCode.SUCCESS:
            if resp.code == ResponseCode.PULL_RETRY_IMMEDIATELY:
                offset = resp.read_header(PullMessageResponseHeader).next_begin_offset
                continue
            return lags, offset
        for record in iter_records(resp.body or b""):
            lags.append(record.store_timestamp - int(record.properties["TIMER_DELIVER_MS"]))
        offset = resp.read_header(PullMessageResponseHeader).next_begin_offset


def _settings(store: Path) -> object:
    settings = broker_settings()
    settings.update(
        {
            "storePathRootDir": str(store),
            "listenPort": "0",
            "namesrvAddr": "",
            "brokerIP1": "127.0.0.1",
            "mappedFileSizeCommitLog": str(256 * 1024 * 1024),
            "maxHashSlotNum": "500000",
            "maxIndexNum": "2000000",
            "timerProgressLogIntervalMs": "600000",
        }
    )
    return settings


def _pct(values: list[int], q: float) -> int:
    return values[min(len(values) - 1, int(q * len(values)))] if values else 0


async def _fire_lag(args: argparse.Namespace, home: Path) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    body = b"x" * args.body_size
    rng = random.Random(7)
    async with (
        BrokerController(_settings(home / "lag")) as broker,  # type: ignore[arg-type]
        anyio.create_task_group() as tg,
    ):
        conn = await ClientConnection.connect(f"127.0.0.1:{broker.port}", tg)
        start = _now_ms() + 2000
        deliveries = sorted(start + rng.randrange(args.spread * 1000) for _ in range(args.messages))
        seconds = await _send_all(conn, deliveries, body, args.senders)
        far = [_now_ms() + 2 * 86_400_000 + i for i in range(args.far)]
        await _send_all(conn, far, body, args.senders)
        rows.append(
            (
                "accepted (lag run)",
                f"{args.messages:,} in {seconds:.2f} s = {args.messages / seconds:,.0f} msg/s",
            )
        )
        offsets = [0] * QUEUES
        lags: list[int] = []
        deadline = time.monotonic() + args.spread + 60
        while len(lags) < args.messages and time.monotonic() < deadline:
            await anyio.sleep(0.5)
            for q in range(QUEUES):
                got, offsets[q] = await _pull_all(conn, q, offsets[q])
                lags.extend(got)
        lags.sort()
        info = broker.timer.runtime_info()
        hist = broker.timer.metrics.lag
        rows.append(("delivered", f"{len(lags):,} of {args.messages:,}"))
        rows.append(
            (
                "fire lag vs deliver time",
                f"p50 {_pct(lags, 0.5)} ms, p99 {_pct(lags, 0.99)} ms, "
                f"max {lags[-1] if lags else 0} ms, min {lags[0] if lags else 0} ms",
            )
        )
        rows.append(
            (
                "due lag after slot end",
                f"p50 <= {hist.percentile(0.5)} ms, p99 <= {hist.percentile(0.99)} ms, "
                f"max {hist.max_ms} ms (broker histogram)",
            )
        )
        rows.append(("still pending (2 days)", info["timerPendingTotal"]))
        await conn.aclose()
        tg.cancel_scope.cancel()
    return rows


async def _pending_cost(args: argparse.Namespace, home: Path) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    body = b"x" * args.body_size
    store = home / "pending"
    rng = random.Random(11)
    async with (
        BrokerController(_settings(store)) as broker,  # type: ignore[arg-type]
        anyio.create_task_group() as tg,
    ):
        conn = await ClientConnection.connect(f"127.0.0.1:{broker.port}", tg)
        await _send_all(conn, [_now_ms() + 86_400_000], body, 1)  # files exist now
        broker.timer.catch_up()
        gc.collect()
        anon0, file0 = _rss()
        cl0 = broker.store.max_phy_offset
        base = _now_ms() + 86_400_000
        deliveries = [base + rng.randrange(86_400_000) for _ in range(args.pending)]
        seconds = await _send_all(conn, deliveries, body, args.senders)
        sent_at = time.perf_counter()
        with anyio.fail_after(600):
            while broker.timer.runtime_info()["timerOffsetBehind"] != "0":
                await anyio.sleep(0.05)
        link_seconds = time.perf_counter() - sent_at
        del deliveries
        gc.collect()
        anon1, file1 = _rss()
        timer_log = broker.timer.timer_log
        log_used = timer_log.end - timer_log.min_position
        log_disk = _disk(store / "timerlog")
        wheel_disk = _disk(store / "timerwheel")
        parked = broker.store.max_phy_offset - cl0
        pending = int(broker.timer.runtime_info()["timerPendingTotal"])
        scale = 1_000_000 / args.pending
        rows.append(
            (
                "accepted (pending run)",
                f"{args.pending:,} in {seconds:.2f} s = {args.pending / seconds:,.0f} msg/s",
            )
        )
        rows.append(("wheel link after last send", f"{link_seconds:.2f} s more"))
        rows.append(("pending now", f"{pending:,}"))
        rows.append(
            (
                "RSS delta (anon / file)",
                f"{(anon1 - anon0) / 2**20:,.1f} MiB / {(file1 - file0) / 2**20:,.1f} MiB "
                f"-> per 1M: {(anon1 - anon0) * scale / 2**20:,.0f} MiB anon, "
                f"{(file1 - file0) * scale / 2**20:,.0f} MiB file",
            )
        )
        rows.append(
            (
                "timer log",
                f"{log_used / 2**20:,.1f} MiB used of {log_disk / 2**20:,.1f} MiB allocated "
                f"(32 MiB segments) -> per 1M: {log_used * scale / 2**20:,.1f} MiB",
            )
        )
        rows.append(
            (
                "timer wheel",
                f"{wheel_disk / 2**20:,.1f} MiB touched, fixed at most "
                f"{broker.timer.slots * 32 / 2**20:,.1f} MiB whatever the pending count",
            )
        )
        rows.append(
            (
                "parked messages in commitlog",
                f"{parked / 2**20:,.1f} MiB -> per 1M: {parked * scale / 2**20:,.0f} MiB "
                f"({args.body_size} B bodies)",
            )
        )
        await conn.aclose()
        tg.cancel_scope.cancel()
    return rows


async def _run(args: argparse.Namespace) -> None:
    home = Path(tempfile.mkdtemp(prefix="timer_bench_"))
    try:
        rows = await _fire_lag(args, home)
        rows += await _pending_cost(args, home)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    print(
        f"timer messages, in-process broker, {args.senders} concurrent senders, "
        f"{args.body_size} B bodies"
    )
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")


def main() -> None:
    parser = OneLineErrorParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--messages", type=int, default=10_000, help="timer messages to fire")
    parser.add_argument("--spread", type=int, default=60, help="seconds they are spread over")
    parser.add_argument("--far", type=int, default=100, help="messages two days ahead")
    parser.add_argument("--pending", type=int, default=200_000, help="pending timers to hold")
    parser.add_argument("--senders", type=int, default=64, help="requests in flight")
    parser.add_argument("--body-size", type=int, default=100)
    parser.add_argument(
        "--quick", action="store_true", help="2,000 messages over 10 s, 20,000 pending"
    )
    args = parser.parse_args()
    if args.quick:
        args.messages, args.spread, args.pending = 2000, 10, 20_000
    anyio.run(_run, args)


if __name__ == "__main__":
    main()
