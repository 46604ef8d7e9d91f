"""Transactions survive ``kill -9`` of a broker process: 1,000 half messages in mixed states.

Before the kill: a third committed, a third rolled back (both by the producer, oneway), a third
left undecided and checked once without an answer. After the restart on the same store (the
check progress in ``consumerOffset.json`` may be seconds old), a producer that answers every
check truthfully sees the undecided ones checked again; in the end every committed and every
undecided-then-committed message is visible exactly once, no rolled-back one ever.
"""

from __future__ import annotations

import os
import signal
from collections import Counter
from pathlib import Path

import anyio
import pytest

from rocketmq_py._transport.connection import ClientConnection
from rocketmq_py.protocol.bodies import KVTable
from rocketmq_py.protocol.codes import RequestCode
from rocketmq_py.protocol.command import RemotingCommand
from tests.broker.broker_client import pull_all
from tests.broker.txn_client import (
    COMMIT,
    ROLLBACK,
    Check,
    CheckingProducer,
    end_request,
    send_half,
)
from tests.conftest import ServerProcess, start_broker_process, start_namesrv_process
from tests.waiting import wait_for

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

TOPIC = "TxnKill"
GROUP = "PG_kill"
COUNT = 1000
CONF = {"transactionCheckInterval": "1000", "transactionTimeOut": "1000"}


def truthful(check: Check) -> int:
    """The local transaction's real outcome, written in the body: r = rolled back."""
    return ROLLBACK if check.record.body.startswith(b"r") else COMMIT


async def visible(conn: ClientConnection) -> Counter[str]:
    seen: Counter[str] = Counter()
    for queue_id in range(4):
        for record in await pull_all(conn, TOPIC, queue_id):
            seen[str(record.unique_key)] += 1
    return seen


async def runtime(conn: ClientConnection) -> dict[str, str]:
    resp = await conn.request(RemotingCommand.request(RequestCode.GET_BROKER_RUNTIME_INFO), 10)
    return dict(KVTable.from_json(resp.body or b"{}").table)


async def test_mixed_transactions_survive_kill_9(tmp_home: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    namesrv = start_namesrv_process(tmp_home)
    broker: ServerProcess | None = None
    kinds: dict[str, str] = {}
    try:
        broker = start_broker_process(tmp_home, namesrv.addr, store, **CONF)
        silent = CheckingProducer(GROUP, lambda check: None)
        async with anyio.create_task_group() as tg:
            conn = await silent.connect(broker.addr, tg)
            for i in range(COUNT):
                kind = "cru"[i % 3]
                body = f"{kind}-{i}".encode()
                half = await send_half(conn, TOPIC, body, group=GROUP, queue_id=i % 4)
                kinds[half.key] = kind
                if kind != "u":
                    await conn.oneway(end_request(half, COMMIT if kind == "c" else ROLLBACK))
            undecided = {k for k, v in kinds.items() if v == "u"}
            await wait_for(lambda: undecided <= set(silent.checked_keys()), 60, "the first checks")
            os.kill(broker.proc.pid, signal.SIGKILL)
            broker.proc.wait()
            await conn.aclose()
            tg.cancel_scope.cancel()
        broker.stop()

        broker = start_broker_process(tmp_home, namesrv.addr, store, **CONF)
        answering = CheckingProducer(GROUP, truthful)
        wanted = {k for k, v in kinds.items() if v != "r"}
        async with anyio.create_task_group() as tg:
            conn = await answering.connect(broker.addr, tg)
            await wait_for(
                lambda: undecided <= set(answering.checked_keys()), 60, "checks after restart"
            )
            seen: Counter[str] = Counter()
            with anyio.fail_after(60):
                while not wanted <= set(seen):
                    await anyio.sleep(0.2)
                    seen = await visible(conn)
            passes = int((await runtime(conn))["transactionCheckPasses"])
            with anyio.fail_after(60):
                while int((await runtime(conn))["transactionCheckPasses"]) < passes + 2:
                    await anyio.sleep(0.2)
            seen = await visible(conn)
            assert set(seen) == wanted, "rolled-back messages visible or committed ones lost"
            dupes = [k for k, n in seen.items() if n > 1]
            assert not dupes, f"{len(dupes)} transactions visible twice, e.g. {dupes[:3]}"
            info = await runtime(conn)
            assert info["transactionHalfPending"] == "0", info
            await conn.aclose()
            tg.cancel_scope.cancel()
    finally:
        if broker is not None:
            broker.stop()
        namesrv.stop()
