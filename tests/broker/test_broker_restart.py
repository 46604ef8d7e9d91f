"""What the broker keeps across restarts, and its command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from broker.controller import BrokerController
from rocketmq_py._transport.connection import ClientConnection
from rocketmq_py.protocol.codes import RequestCode, ResponseCode
from rocketmq_py.protocol.command import RemotingCommand
from tests.broker.broker_client import pull_all, send
from tests.conftest import ROOT, broker_settings_for, start_broker_process, start_namesrv_process

pytestmark = pytest.mark.anyio


async def _with_broker(settings: Any, work: Any) -> None:
    async with BrokerController(settings) as broker, anyio.create_task_group() as tg:
        conn = await ClientConnection.connect(f"127.0.0.1:{broker.port}", tg)
        try:
            await work(conn, broker)
        finally:
            await conn.aclose()
            tg.cancel_scope.cancel()


async def test_delayed_messages_survive_a_restart(tmp_path: Path) -> None:
    store = tmp_path / "store"
    levels = "1s 3s"

    async def before(conn: ClientConnection, broker: Any) -> None:
        await send(conn, "DelayedRestart", b"due later", queue_id=1, properties={"DELAY": "2"})
        await send(conn, "DelayedRestart", b"now", queue_id=1)
        assert [r.body for r in await pull_all(conn, "DelayedRestart", 1)] == [b"now"]

    async def after(conn: ClientConnection, broker: Any) -> None:
        with anyio.fail_after(10):
            while len(records := await pull_all(conn, "DelayedRestart", 1)) < 2:
                await anyio.sleep(0.1)
        assert [r.body for r in records] == [b"now", b"due later"]
        await anyio.sleep(1.5)  # nothing is delivered twice
        assert len(await pull_all(conn, "DelayedRestart", 1)) == 2

    await _with_broker(broker_settings_for(store, "", messageDelayLevel=levels), before)
    await _with_broker(broker_settings_for(store, "", messageDelayLevel=levels), after)
    assert (store / "config" / "delayOffset.json").read_text().startswith('{"offsetTable":{')


async def test_topics_offsets_and_messages_survive_a_restart(tmp_path: Path) -> None:
    store = tmp_path / "store"

    async def before(conn: ClientConnection, broker: Any) -> None:
        for i in range(5):
            await send(conn, "Kept", f"m{i}".encode(), queue_id=0)
        await conn.request(
            RemotingCommand.request(
                RequestCode.UPDATE_CONSUMER_OFFSET,
                {"consumerGroup": "G", "topic": "Kept", "queueId": 0, "commitOffset": 3},
            ),
            timeout=5,
        )

    async def after(conn: ClientConnection, broker: Any) -> None:
        assert [r.body for r in await pull_all(conn, "Kept", 0)] == [
            f"m{i}".encode() for i in range(5)
        ]
        resp = await conn.request(
            RemotingCommand.request(
                RequestCode.QUERY_CONSUMER_OFFSET,
                {"consumerGroup": "G", "topic": "Kept", "queueId": 0},
            ),
            timeout=5,
        )
        assert resp.ext_fields == {"offset": "3"}
        assert broker.topics.select("Kept") is not None

    await _with_broker(broker_settings_for(store, ""), before)
    await _with_broker(broker_settings_for(store, ""), after)


async def test_the_fast_port_serves_too(broker: Any) -> None:
    async with anyio.create_task_group() as tg:
        conn = await ClientConnection.connect(f"127.0.0.1:{broker.port - 2}", tg)
        header = await send(conn, "FastPort", b"via listenPort-2")
        assert header.queue_offset == 0
        resp = await conn.request(
            RemotingCommand.request(
                RequestCode.GET_MAX_OFFSET, {"topic": "FastPort", "queueId": header.queue_id}
            ),
            timeout=5,
        )
        assert (resp.code, resp.ext_fields) == (ResponseCode.SUCCESS, {"offset": "1"})
        await conn.aclose()
        tg.cancel_scope.cancel()


def _mqbroker(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "broker.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={"HOME": str(home), "PATH": "/usr/bin:/bin"},
        check=False,
    )


def test_mqbroker_cli_checks_its_config(tmp_path: Path) -> None:
    conf = tmp_path / "broker.conf"
    conf.write_text("flushDiskType=SOMETIMES\n")
    bad = _mqbroker("-c", str(conf), home=tmp_path)
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0
    assert (
        "flushDiskType" in bad.stderr
        and "SOMETIMES" in bad.stderr
        and "Traceback" not in bad.stderr
    )
    conf.write_text("listenPort=12345\nnoSuchKey=1\n")
    printed = _mqbroker("-c", str(conf), "-n", "10.0.0.1:9876", "-p", home=tmp_path)
    assert printed.returncode == 0
    assert "listenPort=12345" in printed.stdout and "namesrvAddr=10.0.0.1:9876" in printed.stdout
    assert "noSuchKey" in printed.stderr
    missing = _mqbroker("-c", str(tmp_path / "nope.conf"), home=tmp_path)
    assert missing.returncode == 2 and "nope.conf" in missing.stderr
    assert _mqbroker("--help", home=tmp_path).returncode == 0


def test_mqbroker_boots_and_stops_cleanly(tmp_path: Path, tmp_home: Path) -> None:
    home = tmp_home
    namesrv = start_namesrv_process(home)
    try:
        broker = start_broker_process(home, namesrv.addr, tmp_path / "store")
        assert broker.stop() == 0
        assert (home / "logs" / "rocketmqlogs" / "broker.log").exists()
        assert not (tmp_path / "store" / "abort").exists()  # a clean shutdown
    finally:
        namesrv.stop()
