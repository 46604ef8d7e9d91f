"""Quickstart: a name server, a broker, and a produce/consume round trip.

Everything runs on loopback with a temporary HOME and store (logs land there too), on free
ports, and every process started here is stopped at the end, whatever happens.
``python examples/quickstart.py``.
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

from rocketmq_py import AsyncLitePullConsumer, AsyncProducer, Message

NAMESRV_BOOT = re.compile(r"The Name Server boot success\. serializeType=JSON \(port (\d+)")
BROKER_BOOT = re.compile(r"The broker\[.*\] boot success")


def free_port_pair() -> int:
    """A port P with P and P-2 free (the broker also listens on listenPort-2)."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("0.0.0.0", 0))
            port = int(s.getsockname()[1])
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("0.0.0.0", port))
                b.bind(("0.0.0.0", port - 2))
        except OSError:
            continue
        return port
    raise SystemExit("no free port pair")


def start(
    cmd: list[str], env: dict[str, str], boot: re.Pattern[str], name: str
) -> tuple[subprocess.Popen[str], str]:
    """Start a server and wait for its boot line."""
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        print(f"[{name}] {line.rstrip()}")
        if boot.search(line):
            return proc, line
    proc.kill()
    raise SystemExit(f"{name} did not start")


async def round_trip(namesrv: str) -> None:
    """Send ten messages and read them back."""
    async with AsyncProducer("QuickstartProducer", namesrv) as producer:
        for i in range(10):
            result = await producer.send(
                Message("QuickstartTopic", f"hello {i}", tags="demo", keys=f"order-{i}")
            )
            queue = result.queue
            print(f"sent {result.msg_id} to queue {queue.queue_id} offset {result.queue_offset}")
    received: list[str] = []
    async with AsyncLitePullConsumer(
        "QuickstartConsumer", namesrv, consume_from_where="first"
    ) as consumer:
        consumer.subscribe("QuickstartTopic", "demo")
        with anyio.fail_after(60):
            while len(received) < 10:
                for message in await consumer.poll(timeout=2):
                    print(
                        f"received {message.msg_id}: {message.body.decode()} (keys {message.keys})"
                    )
                    received.append(message.body.decode())
    assert sorted(received) == sorted(f"hello {i}" for i in range(10)), received


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="rocketmq-py-quickstart-") as tmp:
        home = Path(tmp)
        env = {**os.environ, "HOME": str(home)}
        procs: list[subprocess.Popen[str]] = []
        try:
            namesrv_cmd = [sys.executable, "-m", "broker.namesrv.cli", "--listenPort", "0"]
            namesrv_proc, line = start(namesrv_cmd, env, NAMESRV_BOOT, "mqnamesrv")
            procs.append(namesrv_proc)
            match = NAMESRV_BOOT.search(line)
            assert match is not None
            namesrv = f"127.0.0.1:{match.group(1)}"
            conf = home / "broker.conf"
            conf.write_text(
                f"brokerName=broker-a\nbrokerIP1=127.0.0.1\nlistenPort={free_port_pair()}\n"
                f"storePathRootDir={home / 'store'}\n"
            )
            broker_cmd = [sys.executable, "-m", "broker.cli", "-n", namesrv, "-c", str(conf)]
            broker_proc, _ = start(broker_cmd, env, BROKER_BOOT, "mqbroker")
            procs.append(broker_proc)
            anyio.run(round_trip, namesrv)
            print("quickstart OK")
        finally:
            for proc in reversed(procs):
                proc.terminate()
                proc.wait(timeout=30)
                if proc.stdout is not None:
                    proc.stdout.close()


if __name__ == "__main__":
    main()
