"""The cpp client's transactional producer against our broker's half messages and check-back.

rocketmq-client-cpp sends three transactions: COMMIT (must arrive), ROLLBACK (must never
arrive) and UNKNOWN, which our broker must check back (CHECK_TRANSACTION_STATE to the cpp
producer, which answers END_TRANSACTION as a normal request) and then deliver. The broker
checks every second so the run stays short.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.compat.test_peers import _run
from tests.conftest import ServerProcess, start_broker_process, start_namesrv_process

pytestmark = pytest.mark.peers


@pytest.fixture
def checking_cluster(tmp_home: Path, tmp_path: Path) -> Iterator[ServerProcess]:
    """A real mqnamesrv and an mqbroker that checks unresolved transactions every second."""
    namesrv = start_namesrv_process(tmp_home)
    try:
        broker = start_broker_process(
            tmp_home,
            namesrv.addr,
            tmp_path / "store",
            transactionCheckInterval="1000",
            transactionTimeOut="1000",
        )
        try:
            yield namesrv
        finally:
            broker.stop()
    finally:
        namesrv.stop()


def test_cpp_transaction_peer(checking_cluster: ServerProcess) -> None:
    _run("cpp", checking_cluster, "-n", "3", "--features", "transaction", "--consume", "push")
