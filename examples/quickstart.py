"""Quickstart: start a name server on a free port and talk to it with mqadmin.

Runs everything on loopback with a temporary HOME (logs and KV config land there), and stops
every process it started, whatever happens. ``python examples/quickstart.py``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BOOT = re.compile(r"The Name Server boot success\. serializeType=JSON \(port (\d+)")


def start_namesrv(home: Path) -> tuple[subprocess.Popen[str], int]:
    """Start ``mqnamesrv`` on a free port and wait for its boot line."""
    env = {**os.environ, "HOME": str(home)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "broker.namesrv.cli", "--listenPort", "0"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    for line in proc.stdout:
        print(f"[mqnamesrv] {line.rstrip()}")
        match = BOOT.search(line)
        if match:
            return proc, int(match.group(1))
        if time.monotonic() > deadline:
            break
    proc.kill()
    raise SystemExit("mqnamesrv did not start")


def mqadmin(*args: str) -> str:
    """Run ``mqadmin`` and echo what it prints."""
    cmd = [sys.executable, "-m", "rocketmq_py.admin.cli", *args]
    print(f"$ mqadmin {' '.join(args)}")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=60).stdout
    print(out, end="")
    return out


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="rocketmq-py-quickstart-") as tmp:
        home = Path(tmp)
        proc, port = start_namesrv(home)
        try:
            addr = f"127.0.0.1:{port}"
            mqadmin("clusterList", "-n", addr)
            mqadmin(
                "updateKvConfig",
                "-n",
                addr,
                "-s",
                "ORDER_TOPIC_CONFIG",
                "-k",
                "Orders",
                "-v",
                "broker-a:4",
            )
            value = mqadmin("getKvConfig", "-n", addr, "-s", "ORDER_TOPIC_CONFIG", "-k", "Orders")
            assert value.strip() == "broker-a:4", value
            kv_file = home / "namesrv" / "kvConfig.json"
            print(f"KV config persisted to {kv_file}: {kv_file.read_text()}")
            print("quickstart OK")
        finally:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
