"""Timer messages across ``kill -9`` of a real broker process: every accepted message is
delivered to its topic exactly once, however the timer files were left.

Round A kills a broker that never wrote a timer checkpoint (``timerFlushIntervalMs`` far
away): the restarted broker rebuilds its timer index from the timer topic, and the messages
the dead broker had already delivered are recognised through the index and not delivered
again (``timerDedupSkipped``). Round B kills a broker that checkpoints often, mid-firing: the
timer log is rolled back to the checkpoint and replayed.
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import anyio
import anyio.to_thread
import pytest

from rocketmq_py._transport.connection import ClientConnection
from rocketmq_py.protocol.bodies import KVTable
from rocketmq_py.protocol.codes import RequestCode, ResponseCode
from rocketmq_py.protocol.command import RemotingCommand
from tests.broker.broker_client import pull_all, send_request
from tests.conftest import ServerProcess, start_broker_process, start_namesrv_process
from tests.test_cli import MQADMIN, run_cli

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

TOPIC = "TimerKill"
PER_ROUND = 240
CLUSTER = "DefaultCluster"


async def _runtime(conn: ClientConnection) -> dict[str, str]:
    resp = await conn.request(
        RemotingCommand.request(RequestCode.GET_BROKER_RUNTIME_INFO), timeout=10
    )
    assert resp.code == ResponseCode.SUCCESS
    return KVTable.from_json(resp.body or b"").table


async def _delivered(conn: ClientConnection) -> dict[str, int]:
    seen: dict[str, int] = {}
    for queue_id in range(4):
        for record in await pull_all(conn, TOPIC, queue_id):
            key = record.properties["KEYS"]
            seen[key] = seen.get(key, 0) + 1
    return seen


async def _send_and_kill(broker: ServerProcess, round_name: str) -> set[str]:
    """Send timers due over the next ~1-3 s; kill -9 once some (not all) were delivered."""
    accepted: set[str] = set()
    async with anyio.create_task_group() as tg:
        conn = await ClientConnection.connect(broker.addr, tg)
        start = time.time_ns() // 1_000_000
        for i in range(PER_ROUND):
            key = f"{round_name}-{i}"
            deliver = start + 1200 + (i * 2000) // PER_ROUND
            request = send_request(
                TOPIC,
                key.encode(),
                queue_id=i % 4,
                properties={"KEYS": key, "TIMER_DELIVER_MS": str(deliver)},
            )
            resp = await conn.request(request, timeout=10)
            assert resp.code == ResponseCode.SUCCESS, resp.remark
            accepted.add(key)
        with anyio.fail_after(30):
            while len(await _delivered(conn)) < PER_ROUND // 4:
                await anyio.sleep(0.05)
        os.kill(broker.proc.pid, signal.SIGKILL)
        broker.proc.wait()
        await conn.aclose()
        tg.cancel_scope.cancel()
    return accepted


async def _all_delivered_once(broker: ServerProcess, accepted: set[str]) -> dict[str, str]:
    async with anyio.create_task_group() as tg:
        conn = await ClientConnection.connect(broker.addr, tg)
        seen: dict[str, int] = {}
        with anyio.fail_after(40):
            while not accepted <= set(seen):
                await anyio.sleep(0.2)
                seen = await _delivered(conn)
        await anyio.sleep(1.5)  # a late duplicate would show up by now
        seen = await _delivered(conn)
        twice = sorted(k for k, n in seen.items() if n > 1)
        assert not twice, f"{len(twice)} timer messages delivered twice, e.g. {twice[:5]}"
        assert set(seen) == accepted
        info = await _runtime(conn)
        await conn.aclose()
        tg.cancel_scope.cancel()
    return info


async def test_timer_messages_survive_kill_9_exactly_once(tmp_home: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    namesrv = start_namesrv_process(tmp_home)
    broker: ServerProcess | None = None
    try:
        # Round A: no timer checkpoint before the kill.
        broker = start_broker_process(tmp_home, namesrv.addr, store, timerFlushIntervalMs="600000")
        accepted = await _send_and_kill(broker, "a")
        broker.stop()
        broker = start_broker_process(tmp_home, namesrv.addr, store, timerFlushIntervalMs="300")
        info = await _all_delivered_once(broker, accepted)
        assert int(info["timerDedupSkipped"]) > 0, "the replay should have met delivered ones"
        assert info["timerPendingTotal"] == "0"

        # Round B: frequent checkpoints, killed while firing.
        accepted |= await _send_and_kill(broker, "b")
        broker.stop()
        broker = start_broker_process(tmp_home, namesrv.addr, store, timerFlushIntervalMs="300")
        info = await _all_delivered_once(broker, accepted)
        assert info["timerPendingTotal"] == "0"

        # Pending counts per topic, as mqadmin timerStatus shows them.
        async with anyio.create_task_group() as tg:
            conn = await ClientConnection.connect(broker.addr, tg)
            for i in range(3):
                request = send_request(
                    "TimerLater", b"later", properties={"TIMER_DELAY_SEC": str(172800 + i)}
                )
                assert (await conn.request(request, timeout=10)).code == ResponseCode.SUCCESS
            await conn.aclose()
            tg.cancel_scope.cancel()
        await anyio.sleep(0.5)  # the enqueue loop links them
        out = await anyio.to_thread.run_sync(
            lambda: run_cli(tmp_home, MQADMIN, "timerStatus", "-n", namesrv.addr, "-c", CLUSTER)
        )
        assert out.returncode == 0, out.stderr
        assert f"#Broker {broker.addr}" in out.stdout
        assert re.search(r"TimerLater\s+3\b", out.stdout), out.stdout
    finally:
        if broker is not None:
            broker.stop()
        namesrv.stop()
