"""Push consumer: start a name server and a broker, send 20 messages, have a handler consume them.

The handler fails one message the first time it sees it; the broker delivers it again through
the group's retry topic, with ``reconsume_times`` 1. The broker here uses 1 s delay levels so the
retry comes back after 1 s rather than the default 10 s.

Everything runs on loopback with a temporary HOME and store, and every process started here is
stopped at the end, whatever happens. ``python examples/push_consumer.py``.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import anyio

from rocketmq_py._async.producer import AsyncProducer
from rocketmq_py._async.push import AsyncPushConsumer
from rocketmq_py.message import Message, MessageView

ROOT = Path(__file__).resolve().parents[1]
NAMESRV_BOOT = re.compile(r"The Name Server boot success\. serializeType=JSON \(port (\d+)")
BROKER_BOOT = re.compile(r"The broker\[[^,]+, [\d.]+:\d+\] boot success")
TOPIC = "PushExample"
COUNT = 20
FAILS_ONCE = "hello 7"


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
    """Send COUNT messages, then consume them with a push consumer and an async handler."""
    async with AsyncProducer("PushExampleProducer", namesrv_addr) as producer:
        for i in range(COUNT):
            result = await producer.send(Message(TOPIC, f"hello {i}", tags="demo"))
            print(f"sent {result.msg_id} to queue {result.queue.queue_id}")

    deliveries: Counter[str] = Counter()
    done: set[str] = set()
    all_done = anyio.Event()

    consumer = AsyncPushConsumer("PushExampleGroup", namesrv_addr, consume_from_where="first")
    consumer.subscribe(TOPIC, "demo")

    @consumer.handler
    async def handle(message: MessageView) -> bool:
        body = message.body.decode()
        deliveries[body] += 1
        print(
            f"got {body!r} from {message.queue.topic} queue {message.queue.queue_id} "
            f"(reconsume_times {message.reconsume_times})"
        )
        if body == FAILS_ONCE and message.reconsume_times == 0:
            print(f"  failing {body!r} once: it will come back through the retry topic")
            return False
        done.add(body)
        if len(done) == COUNT:
            all_done.set()
        return True

    async with consumer:
        with anyio.fail_after(60):
            await all_done.wait()
    assert done == {f"hello {i}" for i in range(COUNT)}
    assert deliveries[FAILS_ONCE] == 2
    print(f"consumed {COUNT} messages; {FAILS_ONCE!r} was delivered twice")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="rocketmq-py-push-") as tmp:
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
                # Every delay level 1 s: a first retry (level 3) comes back after 1 s, not 10 s.
                "messageDelayLevel": " ".join(["1s"] * 18),
            }
            conf.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
            broker, _ = start(
                "mqbroker",
                ["broker.cli", "-n", namesrv_addr, "-c", str(conf)],
                home,
                BROKER_BOOT,
            )
            anyio.run(produce_and_consume, namesrv_addr)
            print("push consumer OK")
        finally:
            if broker is not None:
                stop(broker)
            stop(namesrv)


if __name__ == "__main__":
    main()
