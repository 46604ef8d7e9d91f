"""SYNC_FLUSH durability: every acknowledged message survives ``kill -9`` of the broker."""

from __future__ import annotations

import os
import random
import signal
from pathlib import Path

import anyio
import pytest

from rocketmq_py._transport.connection import ClientConnection
from rocketmq_py.exceptions import TransportError
from rocketmq_py.protocol.codes import RequestCode, ResponseCode
from rocketmq_py.protocol.command import RemotingCommand
from tests.broker.broker_client import pull_all, send_request
from tests.conftest import ServerProcess, start_broker_process, start_namesrv_process

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

TOPIC = "KillNine"
ROUNDS = 3
SENDERS = 16


async def _produce_until_killed(
    broker: ServerProcess, acked: dict[str, bytes], rng: random.Random, round_no: int
) -> None:
    kill_after = rng.uniform(0.3, 1.2)
    async with anyio.create_task_group() as tg:
        conn = await ClientConnection.connect(f"127.0.0.1:{broker.port}", tg)
        stop = anyio.Event()

        async def sender(worker: int) -> None:
            n = 0
            while not stop.is_set():
                key = f"r{round_no}-w{worker}-{n}"
                body = os.urandom(rng.randrange(1, 3000)) + key.encode()
                request = send_request(
                    TOPIC, body, queue_id=n % 4, properties={"KEYS": key, "UNIQ_KEY": key.upper()}
                )
                n += 1
                try:
                    resp = await conn.request(request, timeout=10)
                except TransportError:
                    return
                if resp.code == ResponseCode.SUCCESS:
                    acked[key] = body
                else:
                    assert resp.code in (
                        ResponseCode.FLUSH_DISK_TIMEOUT,
                        ResponseCode.SERVICE_NOT_AVAILABLE,
                    )

        for worker in range(SENDERS):
            tg.start_soon(sender, worker)
        await anyio.sleep(kill_after)
        os.kill(broker.proc.pid, signal.SIGKILL)
        broker.proc.wait()
        stop.set()
        await anyio.sleep(0.2)
        await conn.aclose()


async def test_acknowledged_messages_survive_kill_9(tmp_home: Path, tmp_path: Path) -> None:
    rng = random.Random(9)
    store = tmp_path / "store"
    namesrv = start_namesrv_process(tmp_home)
    acked: dict[str, bytes] = {}
    broker: ServerProcess | None = None
    try:
        conf = {"flushDiskType": "SYNC_FLUSH", "mappedFileSizeCommitLog": str(1024 * 1024)}
        for round_no in range(ROUNDS):
            broker = start_broker_process(tmp_home, namesrv.addr, store, **conf)
            await _produce_until_killed(broker, acked, rng, round_no)
            broker.stop()
        assert len(acked) > 200, "the kill came too early to prove anything"
        broker = start_broker_process(tmp_home, namesrv.addr, store, **conf)
        async with anyio.create_task_group() as tg:
            conn = await ClientConnection.connect(f"127.0.0.1:{broker.port}", tg)
            seen: dict[str, int] = {}
            for queue_id in range(4):
                for record in await pull_all(conn, TOPIC, queue_id):
                    key = record.properties["KEYS"]
                    seen[key] = seen.get(key, 0) + 1
                    if key in acked:
                        assert record.body == acked[key], f"body of {key} corrupted"
                        assert record.properties["UNIQ_KEY"] == key.upper()
            missing = set(acked) - set(seen)
            assert not missing, (
                f"{len(missing)} acknowledged messages lost, e.g. {sorted(missing)[:5]}"
            )
            dupes = [k for k, n in seen.items() if n > 1]
            assert not dupes, f"messages stored twice: {dupes[:5]}"
            # The index agrees: a sample of keys is found by QUERY_MESSAGE.
            for key in rng.sample(sorted(acked), 20):
                resp = await conn.request(
                    RemotingCommand.request(
                        RequestCode.QUERY_MESSAGE,
                        {
                            "topic": TOPIC,
                            "key": key,
                            "maxNum": 4,
                            "beginTimestamp": 0,
                            "endTimestamp": 2**62,
                        },
                    ),
                    timeout=10,
                )
                assert resp.code == ResponseCode.SUCCESS, (key, resp.remark)
            await conn.aclose()
            tg.cancel_scope.cancel()
    finally:
        if broker is not None:
            broker.stop()
        namesrv.stop()
