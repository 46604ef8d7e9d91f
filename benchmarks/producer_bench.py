"""Producer SDK throughput: our ``AsyncProducer`` beside the cpp-based client, one broker, one run.

Starts its own ``mqnamesrv`` + ``mqbroker`` (temporary HOME and store, free ports; the spawn
helpers of ``remoting_bench.py``), creates a topic, then measures with 1 KiB bodies (tag
``TagA``):

* ``rocketmq-py sync``: ``await producer.send(msg)``, one in flight; msgs/s, p50/p99 per send.
* ``rocketmq-py sync (blocking)``: the blocking ``Producer.send(msg)`` from a plain thread
  (what the cpp client's ``send_sync`` is), one in flight.
* ``floor sync``: no RocketMQ at all: a blocking socket sending frames of a send's size to an
  asyncio echo server process that answers each with a response's size. The most any
  one-in-flight send can reach between two Python processes on this machine, in this run.
* ``rocketmq-py async x64``: the same send from ``--inflight`` (64) anyio tasks on one producer.
* ``rocketmq-py async x64 auto-batch``: the same, on a producer made with ``auto_batch=True``
  (Java 5.x's ``autoBatch``): sends waiting together leave as one batch request, each task
  still getting its own result.
* ``rocketmq-py batch 32``: ``send_batch`` of ``--batch-size`` (32) messages, one in flight.
* ``cpp sync`` / ``cpp batch 32``: Apache rocketmq-client-cpp through its Python binding
  (rocketmq-client-python), ``send_sync`` and ``SendBatchMessage``, timed inside its own process
  by ``cpp_producer_driver.py`` (run with ``--cpp-python``, the cpp peer's interpreter). The
  binding wraps no asynchronous send, so there is no cpp row for it.

Every message is built inside the timed loop on both sides; latencies time the send call alone.
``CPU µs/msg`` is the client process's own CPU time per message (``time.process_time``; the
broker runs in another process), which says what a client could reach with a free broker.
Each round runs the rows in the order above (cpp in between, while our producer idles); with
``--rounds N`` the row shown is the round with the median msgs/s. Ratios are ours / cpp.

    .venv/bin/python benchmarks/producer_bench.py
    .venv/bin/python benchmarks/producer_bench.py --rounds 3 --json

Not a test: nothing here asserts speed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from _args import OneLineErrorParser

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from remoting_bench import BenchError, Spawned, spawn_broker, spawn_namesrv

from rocketmq_py import AsyncAdmin, AsyncProducer, Message, Producer

HERE = Path(__file__).resolve().parent
DEFAULT_CPP_PYTHON = Path(os.environ.get("PEERS_DIR", "/tmp/peers")) / "venv-cpp/bin/python"
TARGETS = {
    "sync": ">= 9k msgs/s, ahead of cpp",
    "async": ">= 60k msgs/s",
}


@dataclass
class Row:
    """One measured mode."""

    client: str
    mode: str
    messages: int
    seconds: float
    p50_us: float
    p99_us: float
    cpu_seconds: float
    target: str = ""
    rounds: list[float] = field(default_factory=list)

    @property
    def msgs_per_s(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_us_per_msg(self) -> float:
        """The client process's CPU time per message (the broker is another process)."""
        return self.cpu_seconds / self.messages * 1e6 if self.messages else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "client": self.client,
            "mode": self.mode,
            "messages": self.messages,
            "seconds": round(self.seconds, 4),
            "msgs_per_s": round(self.msgs_per_s, 1),
            "p50_us": round(self.p50_us, 1),
            "p99_us": round(self.p99_us, 1),
            "client_cpu_us_per_msg": round(self.cpu_us_per_msg, 1),
            "rounds_msgs_per_s": [round(r, 1) for r in self.rounds],
            "target": self.target,
        }


def percentile_us(latencies: list[float], q: float) -> float:
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1e6


def make_row(
    client: str, mode: str, messages: int, seconds: float, *, cpu: float, lat: list[float]
) -> Row:
    return Row(
        client, mode, messages, seconds, percentile_us(lat, 0.5), percentile_us(lat, 0.99), cpu
    )


# -- our producer -------------------------------------------------------------------------------


async def ours_sync(producer: AsyncProducer, topic: str, body: bytes, count: int) -> Row:
    latencies: list[float] = []
    clock = time.perf_counter
    cpu = time.process_time()
    start = clock()
    for _ in range(count):
        message = Message(topic, body, tags="TagA")
        t0 = clock()
        await producer.send(message)
        latencies.append(clock() - t0)
    seconds = clock() - start
    cpu = time.process_time() - cpu
    return make_row("rocketmq-py", "sync", count, seconds, cpu=cpu, lat=latencies)


def ours_blocking(namesrv: str, topic: str, body: bytes, count: int) -> Row:
    """The blocking ``Producer.send`` from a plain thread (run in a worker thread): what the
    cpp client's ``send_sync`` compares with. Two warm-up sends put the route, the broker
    and this thread's direct socket in place first."""
    latencies: list[float] = []
    clock = time.perf_counter
    with Producer("PG_producer_bench_blocking", namesrv) as producer:
        for _ in range(2):
            producer.send(Message(topic, body, tags="TagA"))
        cpu = time.process_time()
        start = clock()
        for _ in range(count):
            message = Message(topic, body, tags="TagA")
            t0 = clock()
            producer.send(message)
            latencies.append(clock() - t0)
        seconds = clock() - start
        cpu = time.process_time() - cpu
    return make_row("rocketmq-py", "sync (blocking)", count, seconds, cpu=cpu, lat=latencies)


_ECHO_SERVER = """
import asyncio, socket, sys
try:
    import uvloop
except ImportError:
    uvloop = None
RESPONSE = b"r" * int(sys.argv[1])
class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    def data_received(self, data):
        self.transport.write(RESPONSE)
async def main():
    server = await asyncio.get_running_loop().create_server(Echo, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.sleep(3600)
(uvloop.run if uvloop else asyncio.run)(main())
"""


def floor_row(body_size: int, count: int) -> Row:
    """The machine's floor for one-in-flight request/response between two Python processes:
    a blocking socket sends frames of a send's size to an asyncio echo server that answers
    each with a send response's size, no work on either side."""
    request = b"q" * (body_size + 420)  # a SEND_MESSAGE_V2 frame: ~420 B of header
    server = subprocess.Popen(
        [sys.executable, "-c", _ECHO_SERVER, "250"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        latencies: list[float] = []
        clock = time.perf_counter
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            cpu = time.process_time()
            start = clock()
            for _ in range(count):
                t0 = clock()
                sock.sendall(request)
                sock.recv(65536)
                latencies.append(clock() - t0)
            seconds = clock() - start
            cpu = time.process_time() - cpu
    finally:
        server.kill()
        server.wait()
    return make_row("floor", "sync", count, seconds, cpu=cpu, lat=latencies)


async def ours_async(
    producer: AsyncProducer, topic: str, body: bytes, count: int, inflight: int
) -> Row:
    """``count`` sends from ``inflight`` tasks (the mode says whether the producer batches)."""
    latencies: list[float] = []
    clock = time.perf_counter
    per_task = count // inflight

    async def worker() -> None:
        for _ in range(per_task):
            message = Message(topic, body, tags="TagA")
            t0 = clock()
            await producer.send(message)
            latencies.append(clock() - t0)

    cpu = time.process_time()
    start = clock()
    async with anyio.create_task_group() as tg:
        for _ in range(inflight):
            tg.start_soon(worker)
    seconds = clock() - start
    cpu = time.process_time() - cpu
    mode = f"async x{inflight}" + (" auto-batch" if producer.auto_batch else "")
    return make_row("rocketmq-py", mode, per_task * inflight, seconds, cpu=cpu, lat=latencies)


async def ours_batch(
    producer: AsyncProducer, topic: str, body: bytes, count: int, size: int
) -> Row:
    latencies: list[float] = []
    clock = time.perf_counter
    batches = max(1, count // size)
    cpu = time.process_time()
    start = clock()
    for _ in range(batches):
        messages = [Message(topic, body, tags="TagA") for _ in range(size)]
        t0 = clock()
        await producer.send_batch(messages)
        latencies.append(clock() - t0)
    seconds = clock() - start
    cpu = time.process_time() - cpu
    mode = f"batch {size}"
    return make_row("rocketmq-py", mode, batches * size, seconds, cpu=cpu, lat=latencies)


# -- the cpp client -----------------------------------------------------------------------------


def cpp_rows(args: argparse.Namespace, namesrv: str, topic: str, home: Path) -> list[Row]:
    """Run ``cpp_producer_driver.py`` once (sync then batch) and read its JSON line."""
    argv = [
        str(args.cpp_python),
        str(HERE / "cpp_producer_driver.py"),
        "--namesrv",
        namesrv,
        "--topic",
        topic,
        "--messages",
        str(args.sync_messages),
        "--batch-messages",
        str(args.batch_messages),
        "--batch-size",
        str(args.batch_size),
        "--body-size",
        str(args.body_size),
        "--warmup",
        str(args.warmup),
    ]
    env = {**os.environ, "HOME": str(home)}
    try:
        proc = subprocess.run(
            argv, capture_output=True, text=True, env=env, timeout=600, check=False
        )
    except subprocess.TimeoutExpired:
        raise BenchError("the cpp driver did not finish in 600 s") from None
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise BenchError(
            f"cpp driver exited {proc.returncode}: {proc.stdout[-500:]} {proc.stderr[-500:]}"
        )
    data = json.loads(lines[-1])
    rows = []
    for key, mode in (("sync", "sync"), ("batch", f"batch {args.batch_size}")):
        d = data[key]
        rows.append(
            Row(
                "cpp",
                mode,
                d["messages"],
                d["seconds"],
                d["p50_us"],
                d["p99_us"],
                d["cpu_seconds"],
            )
        )
    return rows


# -- the run ------------------------------------------------------------------------------------


async def create_topic(namesrv: str, broker: str, topic: str, queues: int) -> None:
    async with AsyncAdmin(namesrv) as admin:
        await admin.create_topic(
            topic, broker_addr=broker, read_queue_nums=queues, write_queue_nums=queues
        )
        await admin.wait_for_route(topic)


async def measure(
    args: argparse.Namespace, namesrv: str, broker: str, home: Path
) -> list[list[Row]]:
    """Every round's rows, in table order."""
    topic = f"ProducerBench{os.getpid()}"
    await create_topic(namesrv, broker, topic, args.queues)
    body = b"x" * args.body_size
    rounds: list[list[Row]] = []
    async with (
        AsyncProducer("PG_producer_bench", namesrv) as producer,
        AsyncProducer("PG_producer_bench_auto", namesrv, auto_batch=True) as batching,
    ):
        for _ in range(args.warmup):
            await producer.send(Message(topic, body, tags="TagA"))
            await batching.send(Message(topic, body, tags="TagA"))
        for r in range(args.rounds):
            note(args, f"round {r + 1}/{args.rounds}: rocketmq-py sync")
            rows = [await ours_sync(producer, topic, body, args.sync_messages)]
            note(args, "rocketmq-py blocking sync")
            rows.append(
                await anyio.to_thread.run_sync(
                    ours_blocking, namesrv, topic, body, args.sync_messages
                )
            )
            if not args.no_floor:
                note(args, "floor: echo round trips")
                rows.append(
                    await anyio.to_thread.run_sync(floor_row, args.body_size, args.sync_messages)
                )
            if not args.no_cpp:
                note(args, "cpp sync + batch")
                rows += await anyio.to_thread.run_sync(cpp_rows, args, namesrv, topic, home)
            note(args, "rocketmq-py async")
            rows.append(await ours_async(producer, topic, body, args.async_messages, args.inflight))
            note(args, "rocketmq-py async, auto-batch")
            rows.append(await ours_async(batching, topic, body, args.async_messages, args.inflight))
            note(args, "rocketmq-py batch")
            rows.append(
                await ours_batch(producer, topic, body, args.batch_messages, args.batch_size)
            )
            rounds.append(rows)
    return rounds


def note(args: argparse.Namespace, text: str) -> None:
    if not args.json:
        print(f"  ... {text}", file=sys.stderr, flush=True)


def median_rows(rounds: list[list[Row]]) -> list[Row]:
    """Per (client, mode), the round with the median msgs/s (all rounds' rates attached)."""
    order = [(r.client, r.mode) for r in rounds[0]]
    out = []
    for key in order:
        rows = sorted(
            (r for rows in rounds for r in rows if (r.client, r.mode) == key),
            key=lambda r: r.msgs_per_s,
        )
        chosen = rows[(len(rows) - 1) // 2]
        chosen.rounds = [r.msgs_per_s for rs in rounds for r in rs if (r.client, r.mode) == key]
        mode = chosen.mode.split()[0]
        chosen.target = TARGETS.get(mode, "") if chosen.client == "rocketmq-py" else ""
        out.append(chosen)
    return out


def ratios(rows: list[Row]) -> list[tuple[str, float, float, float]]:
    """(mode, ours/cpp msgs/s, ours/cpp p50, ours/cpp p99) for modes both clients ran."""
    ours = {r.mode: r for r in rows if r.client == "rocketmq-py"}
    out = []
    for cpp in (r for r in rows if r.client == "cpp"):
        for mode in (cpp.mode, f"{cpp.mode} (blocking)"):
            mine = ours.get(mode)
            if mine is not None and cpp.msgs_per_s > 0:
                out.append(
                    (
                        mode,
                        mine.msgs_per_s / cpp.msgs_per_s,
                        mine.p50_us / cpp.p50_us,
                        mine.p99_us / cpp.p99_us,
                    )
                )
    return out


def print_table(meta: dict[str, Any], rows: list[Row]) -> None:
    print(
        f"Producer SDK: 1 broker ({meta['flush']}, spawned), Python {meta['python']}, "
        f"loop {meta['loop']}, {meta['cpus']} CPUs, {meta['body_size']} B bodies, "
        f"{meta['queues']} queues, {meta['rounds']} round(s)"
    )
    width = max([10, *(len(r.mode) for r in rows)])  # "sync (blocking)" is the widest
    header = (
        f"{'client':<12} {'mode':<{width}} {'msgs':>8} {'msgs/s':>9} {'p50 µs':>8} {'p99 µs':>8} "
        f"{'CPU µs/msg':>10}  {'target':<28} rounds (msgs/s)"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        per_round = ", ".join(f"{x:,.0f}" for x in r.rounds) if len(r.rounds) > 1 else ""
        print(
            f"{r.client:<12} {r.mode:<{width}} {r.messages:>8,} {r.msgs_per_s:>9,.0f} "
            f"{r.p50_us:>8,.0f} {r.p99_us:>8,.0f} {r.cpu_us_per_msg:>10,.1f}  "
            f"{r.target:<28} {per_round}"
        )
    pairs = ratios(rows)
    if pairs:
        print()
        label = max([12, *(len(mode) for mode, *_ in pairs)])
        print(f"{'ours / cpp':<{label}} {'msgs/s':>8} {'p50':>8} {'p99':>8}")
        for mode, rate, p50, p99 in pairs:
            print(f"{mode:<{label}} {rate:>7.2f}x {p50:>7.2f}x {p99:>7.2f}x")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = OneLineErrorParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sync-messages", type=int, default=5000, help="sync sends per client (default 5000)"
    )
    parser.add_argument(
        "--async-messages", type=int, default=50_000, help="async sends (default 50000)"
    )
    parser.add_argument("--inflight", type=int, default=64, help="async tasks (default 64)")
    parser.add_argument(
        "--batch-messages", type=int, default=32_000, help="messages sent in batches (32000)"
    )
    parser.add_argument("--batch-size", type=int, default=32, help="per batch (default 32)")
    parser.add_argument("--body-size", type=int, default=1024, help="body bytes (default 1024)")
    parser.add_argument("--queues", type=int, default=4, help="queues of the topic (default 4)")
    parser.add_argument("--warmup", type=int, default=500, help="untimed sends (default 500)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds; median shown (default 1)")
    parser.add_argument(
        "--flush", choices=("ASYNC_FLUSH", "SYNC_FLUSH"), default="ASYNC_FLUSH", help="broker"
    )
    parser.add_argument(
        "--cpp-python",
        type=Path,
        default=DEFAULT_CPP_PYTHON,
        help=f"interpreter with rocketmq-client-python (default {DEFAULT_CPP_PYTHON})",
    )
    parser.add_argument("--no-cpp", action="store_true", help="measure our producer only")
    parser.add_argument(
        "--no-floor", action="store_true", help="skip the echo round-trip floor row"
    )
    parser.add_argument(
        "--loop", choices=("uvloop", "asyncio"), default="uvloop", help="(default uvloop)"
    )
    parser.add_argument("--verbose", action="store_true", help="echo the servers' output")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    for name in (
        "sync_messages",
        "async_messages",
        "inflight",
        "batch_messages",
        "batch_size",
        "body_size",
        "queues",
        "rounds",
    ):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    if not args.no_cpp and not args.cpp_python.exists():
        parser.error(f"--cpp-python {args.cpp_python} does not exist (or pass --no-cpp)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    loop = args.loop
    if loop == "uvloop":
        try:
            import uvloop  # noqa: F401
        except ImportError:
            loop = "asyncio"
    spawned: list[Spawned] = []
    try:
        with tempfile.TemporaryDirectory(prefix="rocketmq-producer-bench-") as tmp:
            home = Path(tmp)
            try:
                namesrv = spawn_namesrv(home, args.verbose, spawned)
                broker = spawn_broker(home, namesrv, args.flush, args.verbose, spawned)
                rounds = anyio.run(
                    measure,
                    args,
                    namesrv,
                    broker,
                    home,
                    backend="asyncio",
                    backend_options={"use_uvloop": loop == "uvloop"},
                )
            finally:
                for server in reversed(spawned):
                    server.stop()
    except BenchError as exc:
        print(f"producer_bench: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    rows = median_rows(rounds)
    meta = {
        "flush": args.flush,
        "python": platform.python_version(),
        "loop": loop,
        "cpus": os.cpu_count(),
        "body_size": args.body_size,
        "queues": args.queues,
        "rounds": args.rounds,
    }
    if args.json:
        out = {
            "meta": meta,
            "rows": [r.to_json() for r in rows],
            "ratios": [
                {"mode": m, "msgs_per_s": round(a, 3), "p50": round(b, 3), "p99": round(c, 3)}
                for m, a, b, c in ratios(rows)
            ],
        }
        print(json.dumps(out, indent=2))
    else:
        print_table(meta, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
