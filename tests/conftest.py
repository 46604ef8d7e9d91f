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
