"""``mqadmin transactionStatus`` against a real name server and broker process."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import anyio
import anyio.to_thread
import pytest

from rocketmq_py._transport.connection import ClientConnection
from rocketmq_py.protocol.bodies import KVTable
from rocketmq_py.protocol.codes import RequestCode, ResponseCode
from rocketmq_py.protocol.command import RemotingCommand
from tests.broker.txn_client import COMMIT, end_request, send_half
from tests.conftest import ServerProcess, start_broker_process, start_namesrv_process
from tests.test_cli import MQADMIN, assert_one_line_error, closed_port, run_cli

pytestmark = pytest.mark.anyio

COLUMNS = [
    "#Broker",
    "#Half Pending",
    "#Half Offset",
    "#Half Max",
    "#Op Offset",
    "#Op Max",
    "#Checks",
    "#No Producer",
    "#Discarded",
    "#Dup Commits",
]


@pytest.fixture
def servers(tmp_home: Path, tmp_path: Path) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    namesrv = start_namesrv_process(tmp_home)
    try:
        # Passes every second, but nothing is old enough to be checked during the test.
        broker = start_broker_process(
            tmp_home,
            namesrv.addr,
            tmp_path / "store",
            transactionCheckInterval="1000",
            transactionTimeOut="600000",
        )
        try:
            yield namesrv, broker
        finally:
            broker.stop()
    finally:
        namesrv.stop()


def table(proc: subprocess.CompletedProcess[str]) -> dict[str, dict[str, str]]:
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    header, *rows = proc.stdout.splitlines()
    assert [c.strip() for c in header.split("  ") if c.strip()] == COLUMNS
    out = {}
    for row in rows:
        addr, *values = row.split()
        out[addr] = dict(zip(COLUMNS[1:], values, strict=True))
    return out


async def test_transaction_status(
    servers: tuple[ServerProcess, ServerProcess], tmp_home: Path
) -> None:
    namesrv, broker = servers

    async def mqadmin(*args: str) -> subprocess.CompletedProcess[str]:
        return await anyio.to_thread.run_sync(
            lambda: run_cli(tmp_home, MQADMIN, "transactionStatus", "-n", namesrv.addr, *args)
        )

    async with anyio.create_task_group() as tg:
        conn = await ClientConnection.connect(broker.addr, tg)
        halves = [await send_half(conn, "TxnAdm", b"x", group="PG_adm") for _ in range(3)]
        resp = await conn.request(end_request(halves[0], COMMIT, oneway=False), timeout=10)
        assert resp.code == ResponseCode.SUCCESS
        with anyio.fail_after(30):  # wait for a pass that saw the commit
            while True:
                info = await conn.request(
                    RemotingCommand.request(RequestCode.GET_BROKER_RUNTIME_INFO), timeout=10
                )
                kv = KVTable.from_json(info.body or b"{}").table
                if kv["transactionHalfPending"] == "2":
                    break
                await anyio.sleep(0.2)
        by_addr = table(await mqadmin("-b", broker.addr))
        row = by_addr[broker.addr]
        assert row["#Half Pending"] == "2"
        assert row["#Half Max"] == "3"
        assert row["#Op Max"] == "1"
        assert row["#Checks"] == "0"
        assert row["#Discarded"] == "0"
        by_cluster = table(await mqadmin("-c", "DefaultCluster"))
        assert list(by_cluster) == [broker.addr]
        assert by_cluster[broker.addr]["#Half Max"] == "3"
        await conn.aclose()
        tg.cancel_scope.cancel()

    unreachable = f"127.0.0.1:{closed_port()}"
    proc = await mqadmin("-b", unreachable)
    assert proc.returncode == 1
    assert_one_line_error(proc, unreachable)
    proc = await mqadmin("-c", "NoSuchCluster")
    assert proc.returncode == 1
    assert_one_line_error(proc, "NoSuchCluster")


def test_transaction_status_help(tmp_home: Path) -> None:
    proc = run_cli(tmp_home, MQADMIN, "transactionStatus", "--help")
    assert proc.returncode == 0, proc.stderr
    for needle in ("--brokerAddr", "--clusterName", "--namesrvAddr", "half messages pending"):
        assert needle in " ".join(proc.stdout.split())
    assert "transactionStatus" in run_cli(tmp_home, MQADMIN, "--help").stdout
    both = run_cli(tmp_home, MQADMIN, "transactionStatus", "-b", "a:1", "-c", "C")
    assert both.returncode == 2
    assert_one_line_error(both, "not allowed with argument")
