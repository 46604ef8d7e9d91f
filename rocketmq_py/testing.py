"""Test helpers for applications: a real name server and broker on free ports.

``LocalCluster`` starts ``mqnamesrv`` and ``mqbroker`` as subprocesses (so any event loop,
asyncio or trio, can talk to them), with a temporary HOME and store unless given, and stops and
reaps both on exit::

    from rocketmq_py.testing import LocalCluster

    with LocalCluster() as cluster:
        async with AsyncProducer("PG", cluster.namesrv_addr) as producer:
            ...

The servers come from this installation (``python -m broker.namesrv.cli`` / ``broker.cli``);
nothing here imports them, so the SDK stays independent of the server packages.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from rocketmq_py.exceptions import RocketMQError

__all__ = ["LocalCluster", "free_broker_port"]

# Test-sized store files: the defaults preallocate 1 GiB commitlog segments and 420 MB index files.
_SMALL_FILES = {
    "mappedFileSizeCommitLog": str(64 * 1024 * 1024),
    "mappedFileSizeConsumeQueue": str(20 * 100_000),
    "maxHashSlotNum": "100000",
    "maxIndexNum": "400000",
}
_NAMESRV_BOOT = re.compile(r"The Name Server boot success\. serializeType=JSON \(port (\d+)")
_BROKER_BOOT = re.compile(r"The broker\[[^,]+, ([\d.]+:\d+)\] boot success")


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
    raise RocketMQError("no free port pair for a broker")


class _Server:
    """One server subprocess whose output goes to a file (never a pipe that could fill)."""

    def __init__(
        self, name: str, args: list[str], home: Path, boot: re.Pattern[str], echo: bool
    ) -> None:
        self.name = name
        self.output = home / f"{name}.out"
        with self.output.open("wb") as sink:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", *args],
                stdout=sink,
                stderr=subprocess.STDOUT,
                env={**os.environ, "HOME": str(home)},
            )
        self.match = self._wait(boot, echo)

    def _wait(self, boot: re.Pattern[str], echo: bool, timeout: float = 60) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.output.read_text(errors="replace").splitlines():
                match = boot.search(line)
                if match:
                    if echo:
                        print(f"[{self.name}] {line}", flush=True)
                    return match
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RocketMQError(
            f"{self.name} did not start:\n{self.output.read_text(errors='replace')}"
        )

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return int(self.proc.returncode)


class LocalCluster:
    """A name server and one broker, started on enter and stopped on exit.

    Args:
        home: HOME for both servers (logs, KV config; the store defaults under it). A temporary
            directory when omitted, removed on exit.
        broker_config: extra ``broker.conf`` keys (e.g. ``{"flushDiskType": "SYNC_FLUSH"}``);
            store files are test-sized (64 MiB commitlog segments) unless overridden here.
        echo: print each server's boot line.

    Attributes:
        namesrv_addr: ``127.0.0.1:<port>`` of the name server.
        broker_addr: the broker's advertised address.
    """

    def __init__(
        self,
        home: str | os.PathLike[str] | None = None,
        *,
        broker_config: Mapping[str, str] | None = None,
        echo: bool = False,
    ) -> None:
        self._home_arg = home
        self._broker_config = dict(broker_config or {})
        self._echo = echo
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._servers: list[_Server] = []
        self.namesrv_addr = ""
        self.broker_addr = ""

    def __enter__(self) -> LocalCluster:
        if self._home_arg is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="rocketmq-py-cluster-")
            home = Path(self._tmp.name)
        else:
            home = Path(self._home_arg)
            home.mkdir(parents=True, exist_ok=True)
        try:
            namesrv = _Server(
                "mqnamesrv",
                ["broker.namesrv.cli", "--listenPort", "0"],
                home,
                _NAMESRV_BOOT,
                self._echo,
            )
            self._servers.append(namesrv)
            self.namesrv_addr = f"127.0.0.1:{namesrv.match.group(1)}"
            conf = {
                "brokerName": "broker-a",
                "brokerIP1": "127.0.0.1",
                "listenPort": str(free_broker_port()),
                "storePathRootDir": str(home / "store"),
                **_SMALL_FILES,
                **self._broker_config,
            }
            conf_path = home / "broker.conf"
            conf_path.write_text("".join(f"{k}={v}\n" for k, v in conf.items()))
            broker = _Server(
                "mqbroker",
                ["broker.cli", "-n", self.namesrv_addr, "-c", str(conf_path)],
                home,
                _BROKER_BOOT,
                self._echo,
            )
            self._servers.append(broker)
            self.broker_addr = broker.match.group(1)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for server in reversed(self._servers):
            server.stop()
        self._servers.clear()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
