"""Lite pull consumer: start a name server and a broker, send 10 messages, poll them back.

Everything runs on loopback with a temporary HOME and store, and every process started here is
stopped at the end, whatever happens. ``python examples/lite_pull.py``.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio

from rocketmq_py._async.lite_pull import AsyncLitePullConsumer
from rocketmq_py._async.producer import AsyncProducer
from rocketmq_py.message import Message

ROOT = Path(__file__).resolve().parents[1]
NAMESRV_BOOT = re.compile(r"The Name Server boot success\. serializeType=JSON \(port (\d+)")
BROKER_BOOT = re.compile(r"The broker\[[^,]+, [\d.]+:\d+\] boot success")
TOPIC = "LitePullExample"
COUNT = 10


def free_broker_port() -> int:
    """A port P such that P and P-2 (the broker's fast port) are both free right now."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("0.0.0.0", 0))
            port = int(s.getsockname()[1])
        if port < 1026:
            continue
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("0.0.0.0", port))
                b.bind(("0.0.0.0", port - 2))
        except OSError:
            continue
        return port
    raise SystemExit("no free port pair for the broker")


def start(
    name: str, args: list[str], home: Path, boot: re.Pattern[str]
) -> tuple[subprocess.Popen[bytes], re.Match[str]]:
    """Run ``python -m <args>`` with its output in ``home/<name>.out``; wait for its boot line."""
    out = home / f"{name}.out"
    with out.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", *args],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env={**os.environ, "HOME": str(home)},
            cwd=ROOT,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for line in out.read_text(errors="replace").splitlines():
            match = boot.search(line)
            if match:
                print(f"[{name}] {line}")
                return proc, match
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    stop(proc)
    raise SystemExit(f"{name} did not start:\n{out.read_text(errors='replace')}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate a server and reap it."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def produce_and_consume(namesrv_addr: str) -> None:
    """Send COUNT messages, then read them with a subscribing lite pull consumer."""
    async with AsyncProducer("LitePullExampleProducer", namesrv_addr) as producer:
        for i in range(COUNT):
            result = await producer.send(Message(TOPIC, f"hello {i}", tags="demo"))
            print(f"sent {result.msg_id} to queue {result.queue.queue_id}")

    consumer = AsyncLitePullConsumer(
        "LitePullExampleGroup", namesrv_addr, consume_from_where="first", auto_commit=False
    )
    consumer.subscribe(TOPIC, "demo")
    async with consumer:
        received = []
        with anyio.fail_after(60):
            while len(received) < COUNT:
                for message in await consumer.poll(timeout=1.0):
                    print(
                        f"polled {message.body.decode()!r} "
                        f"(queue {message.queue.queue_id}, offset {message.queue_offset})"
                    )
                    received.append(message)
        await consumer.commit()
        committed = {q.queue_id: await consumer.committed(q) for q in consumer.assignment()}
        print(f"committed offsets per queue: {dict(sorted(committed.items()))}")
    assert sorted(m.body.decode() for m in received) == sorted(f"hello {i}" for i in range(COUNT))


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="rocketmq-py-lite-pull-") as tmp:
        home = Path(tmp)
        namesrv, match = start(
            "mqnamesrv", ["broker.namesrv.cli", "--listenPort", "0"], home, NAMESRV_BOOT
        )
        broker = None
        try:
            namesrv_addr = f"127.0.0.1:{match.group(1)}"
            conf = home / "broker.conf"
            settings = {
                "brokerClusterName": "DefaultCluster",
                "brokerName": "broker-a",
                "brokerIP1": "127.0.0.1",
                "listenPort": str(free_broker_port()),
                "storePathRootDir": str(home / "store"),
                "mappedFileSizeCommitLog": str(64 * 1024 * 1024),
                "mappedFileSizeConsumeQueue": str(20 * 100_000),
                "maxHashSlotNum": "10000",
                "maxIndexNum": "40000",
            }
            conf.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
            broker, _ = start(
                "mqbroker",
                ["broker.cli", "-n", namesrv_addr, "-c", str(conf)],
                home,
                BROKER_BOOT,
            )
            anyio.run(produce_and_consume, namesrv_addr)
            print("lite pull OK")
        finally:
            if broker is not None:
                stop(broker)
            stop(namesrv)


if __name__ == "__main__":
    main()
