"""The cpp side of ``producer_bench.py``: Apache rocketmq-client-cpp through its official Python
binding (rocketmq-client-python), timed in its own process. Prints one JSON object.

Run with the cpp peer's interpreter and HOME at a temporary directory (librocketmq writes logs):

    HOME=$(mktemp -d) /tmp/peers/venv-cpp/bin/python benchmarks/cpp_producer_driver.py \\
        --namesrv 127.0.0.1:9876 --topic T --messages 5000 --batch-messages 32000

* ``sync``: ``Producer.send_sync`` one message at a time (SendMessageSync).
* ``batch``: SendBatchMessage of ``--batch-size`` messages at a time (the binding wraps no batch
  call; the C function is in the same library and called through ctypes, as the peer does).

Each message is built in the timed loop (CreateMessage, tags, body), as the Python side builds
its ``Message``; the latency figures time the send call alone, ``cpu_seconds`` is this process's
CPU time (every librocketmq thread included). Exit 0, or 2 on a client error.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import sys
import tempfile
import time
from typing import TYPE_CHECKING, Any

from _args import OneLineErrorParser

if TYPE_CHECKING:
    from rocketmq.client import Message, Producer

# The binding (rocketmq-client-python), imported by main() so that --help and argument errors
# work with any interpreter; only the cpp peer's venv has it.
dll: Any = None


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(messages: int, seconds: float, cpu: float, latencies: list[float]) -> dict[str, float]:
    return {
        "messages": messages,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "msgs_per_s": messages / seconds,
        "p50_us": percentile(latencies, 0.50) * 1e6,
        "p99_us": percentile(latencies, 0.99) * 1e6,
    }


def make(topic: str, body: bytes) -> Message:
    from rocketmq.client import Message

    msg = Message(topic)
    msg.set_tags("TagA")
    msg.set_body(body)
    return msg


def run_sync(producer: Producer, topic: str, body: bytes, count: int) -> dict[str, float]:
    latencies = []
    cpu = time.process_time()
    start = time.perf_counter()
    for _ in range(count):
        msg = make(topic, body)
        t0 = time.perf_counter()
        producer.send_sync(msg)
        latencies.append(time.perf_counter() - t0)
        dll.DestroyMessage(msg._handle)
    seconds = time.perf_counter() - start
    return summary(count, seconds, time.process_time() - cpu, latencies)


def run_batch(
    producer: Producer, topic: str, body: bytes, count: int, size: int
) -> dict[str, float]:
    latencies = []
    batches = max(1, count // size)
    from rocketmq.ffi import _CSendResult

    result = _CSendResult()
    cpu = time.process_time()
    start = time.perf_counter()
    for _ in range(batches):
        batch = dll.CreateBatchMessage()
        parts = [make(topic, body) for _ in range(size)]
        for msg in parts:
            dll.AddMessage(batch, msg._handle)
        t0 = time.perf_counter()
        status = dll.SendBatchMessage(producer._handle, batch, ctypes.byref(result))
        latencies.append(time.perf_counter() - t0)
        dll.DestroyBatchMessage(batch)
        for msg in parts:
            dll.DestroyMessage(msg._handle)
        if status != 0:
            raise RuntimeError(f"SendBatchMessage failed: {dll.GetLatestErrorMessage()!r}")
    seconds = time.perf_counter() - start
    return summary(batches * size, seconds, time.process_time() - cpu, latencies)


def main() -> int:
    parser = OneLineErrorParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--namesrv", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--messages", type=int, default=5000, help="sync sends (default 5000)")
    parser.add_argument("--batch-messages", type=int, default=32_000, help="(default 32000)")
    parser.add_argument("--batch-size", type=int, default=32, help="(default 32)")
    parser.add_argument("--body-size", type=int, default=1024, help="(default 1024)")
    parser.add_argument("--warmup", type=int, default=200, help="untimed sends (default 200)")
    parser.add_argument("--modes", default="sync,batch", help="(default sync,batch)")
    args = parser.parse_args()
    global dll
    try:
        from rocketmq.client import Producer
        from rocketmq.ffi import dll
    except ImportError as exc:
        parser.error(f"{exc}: run this with the cpp peer's interpreter (/tmp/peers/venv-cpp)")
    body = b"x" * args.body_size
    logs = os.path.join(os.environ.get("HOME") or tempfile.gettempdir(), "cpp-bench-logs")
    os.makedirs(logs, exist_ok=True)
    producer = Producer(f"PG_cpp_bench_{os.getpid()}", timeout=10_000)
    dll.SetProducerLogPath(producer._handle, logs.encode())
    producer.set_name_server_address(args.namesrv)
    producer.start()
    out: dict[str, object] = {}
    code = 0
    try:
        for _ in range(args.warmup):
            producer.send_sync(make(args.topic, body))
        modes = args.modes.split(",")
        if "sync" in modes:
            out["sync"] = run_sync(producer, args.topic, body, args.messages)
        if "batch" in modes:
            out["batch"] = run_batch(
                producer, args.topic, body, args.batch_messages, args.batch_size
            )
    except Exception as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"
        code = 2
    print(json.dumps(out), flush=True)
    producer.shutdown()
    os._exit(code)  # librocketmq threads can linger at interpreter exit


if __name__ == "__main__":
    sys.exit(main())
