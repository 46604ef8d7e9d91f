"""Shared fixtures: real servers on free loopback ports with a temporary HOME."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
NAMESRV_BOOT = re.compile(r"The Name Server boot success\. serializeType=JSON \(port (\d+)")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def tmp_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own HOME, so logs, stores and KV config never touch the real one."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("NAMESRV_ADDR", raising=False)
    return home


class FakeClock:
    """Milliseconds that only move when a test says so."""

    def __init__(self, start_ms: int = 1_700_000_000_000) -> None:
        self.now = start_ms

    def __call__(self) -> int:
        return self.now

    def advance(self, ms: int) -> None:
        self.now += ms


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def namesrv(clock: FakeClock, tmp_home: Path) -> AsyncIterator[object]:
    """An in-process name server on a free loopback port with a fake clock."""
    from broker.namesrv.config import namesrv_settings
    from broker.namesrv.controller import NamesrvController

    settings = namesrv_settings()
    settings.update({"listenPort": "0", "bindAddress": "127.0.0.1"})
    async with NamesrvController(settings, clock=clock) as controller:
        yield controller


class ServerProcess:
    """A server started as a real subprocess; stopped (and reaped) by the fixture."""

    def __init__(self, proc: subprocess.Popen[str], port: int, lines: list[str]) -> None:
        self.proc = proc
        self.port = port
        self.lines = lines
        # Keep draining the pipe so a chatty server can never block on a full pipe.
        self._drainer = threading.Thread(target=_drain, args=(proc.stdout, lines), daemon=True)
        self._drainer.start()

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._drainer.join(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return self.proc.returncode


def _drain(stream: object, lines: list[str]) -> None:
    try:
        for line in stream:  # type: ignore[attr-defined]
            if len(lines) < 10_000:
                lines.append(line)
    except ValueError:  # closed by stop()
        pass


def start_namesrv_process(home: Path, *extra: str) -> ServerProcess:
    """Run ``mqnamesrv --listenPort 0`` and wait for its boot line."""
    env = {**os.environ, "HOME": str(home)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "broker.namesrv.cli", "--listenPort", "0", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        match = NAMESRV_BOOT.search(line)
        if match:
            return ServerProcess(proc, int(match.group(1)), lines)
    proc.kill()
    proc.wait()
    proc.stdout.close()
    raise AssertionError(f"mqnamesrv did not boot: {''.join(lines)}")


@pytest.fixture
def namesrv_process(tmp_home: Path) -> Iterator[ServerProcess]:
    server = start_namesrv_process(tmp_home)
    try:
        yield server
    finally:
        server.stop()


def free_broker_port() -> int:
    """A port P such that P and P-2 (the broker's fast port) are both free right now."""
    import socket

    for _ in range(100):
        with socket.socket() as s:
            s.bind(("0.0.0.0", 0))
            port = s.getsockname()[1]
        if port < 1026:
            continue
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("0.0.0.0", port))
                b.bind(("0.0.0.0", port - 2))
        except OSError:
            continue
        return int(port)
    raise AssertionError("no free port pair")


def broker_settings_for(store: Path, namesrv_addr: str, **extra: str) -> object:
    from broker.config import broker_settings

    settings = broker_settings()
    settings.update(
        {
            "brokerIP1": "127.0.0.1",
            "listenPort": str(free_broker_port()),
            "namesrvAddr": namesrv_addr,
            "storePathRootDir": str(store),
            "mappedFileSizeCommitLog": str(64 * 1024 * 1024),
            "mappedFileSizeConsumeQueue": str(20 * 100_000),
            "maxHashSlotNum": "10000",
            "maxIndexNum": "40000",
            **extra,
        }
    )
    return settings


@pytest.fixture
async def broker(namesrv: object, tmp_path: Path) -> AsyncIterator[object]:
    """An in-process broker registered with the in-process name server."""
    from broker.controller import BrokerController

    settings = broker_settings_for(tmp_path / "store", f"127.0.0.1:{namesrv.port}")  # type: ignore[attr-defined]
    async with BrokerController(settings) as controller:  # type: ignore[arg-type]
        yield controller


BROKER_BOOT = re.compile(r"The broker\[([^,]+), ([\d.]+):(\d+)\] boot success")


def start_broker_process(home: Path, namesrv_addr: str, store: Path, **conf: str) -> ServerProcess:
    """Run ``mqbroker -n ... -c broker.conf`` on a free port pair and wait for its boot line."""
    port = free_broker_port()
    settings = {
        "brokerClusterName": "DefaultCluster",
        "brokerName": "broker-a",
        "brokerIP1": "127.0.0.1",
        "listenPort": str(port),
        "storePathRootDir": str(store),
        "mappedFileSizeCommitLog": str(64 * 1024 * 1024),
        "mappedFileSizeConsumeQueue": str(20 * 100_000),
        "maxHashSlotNum": "10000",
        "maxIndexNum": "40000",
        **conf,
    }
    conf_path = store.parent / f"broker-{port}.conf"
    conf_path.parent.mkdir(parents=True, exist_ok=True)
    conf_path.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
    env = {**os.environ, "HOME": str(home)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "broker.cli", "-n", namesrv_addr, "-c", str(conf_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if BROKER_BOOT.search(line):
            return ServerProcess(proc, port, lines)
    proc.kill()
    proc.wait()
    proc.stdout.close()
    raise AssertionError(f"mqbroker did not boot: {''.join(lines)}")


@pytest.fixture
def cluster_processes(
    tmp_home: Path, tmp_path: Path
) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """A real mqnamesrv and mqbroker (subprocesses) with a temporary store."""
    namesrv_proc = start_namesrv_process(tmp_home)
    try:
        broker_proc = start_broker_process(tmp_home, namesrv_proc.addr, tmp_path / "store")
        try:
            yield namesrv_proc, broker_proc
        finally:
            broker_proc.stop()
    finally:
        namesrv_proc.stop()
