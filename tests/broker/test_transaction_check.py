"""Transactional messages on a real in-process broker over TCP: END_TRANSACTION, the
check-back service (CHECK_TRANSACTION_STATE to a live producer channel), giving up into
TRANS_CHECK_MAX_TIME_TOPIC, and exactly-once visibility on the real topic."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from broker.controller import BrokerController
from rocketmq_py._transport.connection import ClientConnection
from rocketmq_py.protocol.codes import ResponseCode
from rocketmq_py.protocol.command import RemotingCommand
from rocketmq_py.protocol.message import decode_offset_msg_id, encode_offset_msg_id
from tests.broker.broker_client import pull_all, send
from tests.broker.txn_client import (
    COMMIT,
    ROLLBACK,
    UNKNOWN,
    Check,
    CheckingProducer,
    end_request,
    half_request,
    send_half,
)
from tests.conftest import broker_settings_for
from tests.waiting import wait_for

pytestmark = pytest.mark.anyio

TOPIC = "TxnTopic"
FAST = {
    "transactionCheckInterval": "1000",
    "transactionTimeOut": "1000",
    "transactionCheckMax": "3",
}


@pytest.fixture
async def txn_broker(namesrv: Any, tmp_path: Path) -> AsyncIterator[BrokerController]:
    settings = broker_settings_for(tmp_path / "store", f"127.0.0.1:{namesrv.port}", **FAST)
    async with BrokerController(settings) as controller:  # type: ignore[arg-type]
        yield controller


def addr_of(broker: BrokerController) -> str:
    return f"127.0.0.1:{broker.port}"


async def visible(conn: ClientConnection, topic: str = TOPIC) -> Counter[str]:
    """UNIQ_KEY -> how many times it is visible on the real topic (all 4 queues)."""
    seen: Counter[str] = Counter()
    for queue_id in range(4):
        for record in await pull_all(conn, topic, queue_id):
            seen[str(record.unique_key)] += 1
    return seen


def by_body(check: Check) -> int | None:
    """Decide from the body prefix: c = commit, r = rollback, anything else = no answer."""
    return {b"c": COMMIT, b"r": ROLLBACK}.get(check.record.body[:1])


async def test_commit_and_rollback_by_the_producer_need_no_check(
    txn_broker: BrokerController,
) -> None:
    producer = CheckingProducer("PG_direct", by_body)
    async with anyio.create_task_group() as tg:
        conn = await producer.connect(addr_of(txn_broker), tg)
        committed = await send_half(conn, TOPIC, b"c-1", group="PG_direct", queue_id=1)
        rolled = await send_half(conn, TOPIC, b"r-1", group="PG_direct", queue_id=2)
        assert await visible(conn) == Counter()  # half messages are invisible
        await conn.oneway(end_request(committed, COMMIT))  # Java's oneway form
        resp = await conn.request(end_request(rolled, ROLLBACK, oneway=False), timeout=10)
        assert resp.code == ResponseCode.SUCCESS  # the cpp client's request form
        await wait_for(lambda: txn_broker.transaction_check.stats.passes >= 2, what="2 passes")
        seen = await visible(conn)
        assert seen == Counter({committed.key: 1})
        records = await pull_all(conn, TOPIC, 1)
        final = records[0]
        assert final.body == b"c-1"
        assert "TRAN_MSG" not in final.properties
        assert "REAL_TOPIC" not in final.properties
        assert final.properties["PGROUP"] == "PG_direct"
        assert final.sys_flag & 0xC == COMMIT
        assert final.prepared_transaction_offset == committed.commit_log_offset
        assert producer.checks == []  # both resolved before their timeout: never checked
        info = txn_broker.transaction_check.runtime_info()
        assert info["transactionHalfPending"] == "0"
        assert info["transactionHalfMaxOffset"] == "2"
        assert info["transactionOpMaxOffset"] == "2"
        assert info["transactionHalfOffset"] == "2"
        assert info["transactionOpOffset"] == "2"
        assert (
            txn_broker.offsets.query_offset("CID_RMQ_SYS_TRANS", "RMQ_SYS_TRANS_HALF_TOPIC", 0) == 2
        )
        await conn.aclose()
        tg.cancel_scope.cancel()


async def test_unknown_then_check_commits_or_rolls_back(txn_broker: BrokerController) -> None:
    producer = CheckingProducer("PG_check", by_body)
    async with anyio.create_task_group() as tg:
        conn = await producer.connect(addr_of(txn_broker), tg)
        halves = [
            await send_half(conn, TOPIC, f"{kind}-{i}".encode(), group="PG_check", queue_id=i % 4)
            for i, kind in enumerate("crcr")
        ]
        for half in halves:  # the local transaction's outcome is not known yet
            await conn.oneway(end_request(half, UNKNOWN))
        with pytest.raises(TimeoutError):  # UNKNOWN is never answered, even as a request
            await conn.request(end_request(halves[0], UNKNOWN, oneway=False), timeout=0.5)
        commits = {h.key for h in halves[0::2]}
        await wait_for(lambda: len(producer.checks) >= 4, what="one check per half message")
        await wait_for(lambda: txn_broker.transaction_check.stats.passes >= 3, what="passes")
        assert await visible(conn) == Counter(dict.fromkeys(commits, 1))
        assert set(producer.checked_keys()) == {h.key for h in halves}

        check = next(c for c in producer.checks if c.header.transaction_id == halves[1].key)
        h, record = check.header, check.record
        assert h.topic == "RMQ_SYS_TRANS_HALF_TOPIC"  # Java sends the half topic here
        assert h.msg_id == h.transaction_id == halves[1].key
        assert h.bname == txn_broker.broker_name
        assert h.tran_state_table_offset > halves[1].queue_offset  # the re-appended copy
        assert record.topic == TOPIC and record.queue_id == 1  # real topic and queue restored
        assert record.queue_offset == h.tran_state_table_offset
        assert record.commit_log_offset == h.commit_log_offset
        assert h.offset_msg_id == encode_offset_msg_id(
            "127.0.0.1", txn_broker.port, h.commit_log_offset
        )
        assert record.body == b"r-1"
        assert record.unique_key == halves[1].key
        assert record.properties["TRANSACTION_CHECK_TIMES"] == "1"
        assert record.properties["PGROUP"] == "PG_check"
        assert txn_broker.transaction_check.stats.checks >= 4
        await conn.aclose()
        tg.cancel_scope.cancel()


async def test_undecided_message_is_given_up_after_transaction_check_max(
    txn_broker: BrokerController,
) -> None:
    producer = CheckingProducer("PG_never", lambda check: None)
    async with anyio.create_task_group() as tg:
        conn = await producer.connect(addr_of(txn_broker), tg)
        half = await send_half(conn, TOPIC, b"undecided", group="PG_never", queue_id=3)
        stats = txn_broker.transaction_check.stats
        await wait_for(lambda: stats.discarded == 1, what="the message given up")
        times = [c.record.properties["TRANSACTION_CHECK_TIMES"] for c in producer.checks]
        assert times == ["1", "2", "3"]  # transactionCheckMax = 3 checks, then discarded
        gave_up = await pull_all(conn, "TRANS_CHECK_MAX_TIME_TOPIC", 0)
        assert [r.unique_key for r in gave_up] == [half.key]
        assert gave_up[0].properties["REAL_TOPIC"] == TOPIC
        assert await visible(conn) == Counter()
        passes = stats.passes
        await wait_for(lambda: stats.passes >= passes + 2, what="two more passes")
        assert len(producer.checks) == 3  # resolved for good: no more checks
        assert txn_broker.transaction_check.runtime_info()["transactionHalfPending"] == "0"
        await conn.aclose()
        tg.cancel_scope.cancel()


async def test_checks_without_a_producer_online_are_counted(txn_broker: BrokerController) -> None:
    async with anyio.create_task_group() as tg:
        conn = await ClientConnection.connect(addr_of(txn_broker), tg)
        await send_half(conn, TOPIC, b"orphan", group="PG_gone")
        stats = txn_broker.transaction_check.stats
        await wait_for(lambda: stats.checks_without_producer >= 1, what="a check with no channel")
        # A producer of the group coming back gets the next check and resolves it.
        producer = CheckingProducer("PG_gone", lambda check: COMMIT)
        await producer.connect(addr_of(txn_broker), tg)
        await wait_for(lambda: len(producer.checks) >= 1, what="the check after the return")
        with anyio.fail_after(20):
            while not (seen := await visible(conn)):
                await anyio.sleep(0.1)
        assert list(seen.values()) == [1]
        await conn.aclose()
        tg.cancel_scope.cancel()


async def test_a_repeated_commit_stores_no_duplicate(txn_broker: BrokerController) -> None:
    """The producer commits late with the original offsets while a check copy is pending;
    its answer to the check commits again: the message is visible once (Java: twice)."""
    answers: list[int | None] = [None]
    producer = CheckingProducer("PG_dup", lambda check: answers[0])
    async with anyio.create_task_group() as tg:
        conn = await producer.connect(addr_of(txn_broker), tg)
        half = await send_half(conn, TOPIC, b"c-late", group="PG_dup")
        await wait_for(lambda: len(producer.checks) >= 1, what="a first, unanswered check")
        resp = await conn.request(end_request(half, COMMIT, oneway=False), timeout=10)
        assert resp.code == ResponseCode.SUCCESS
        answers[0] = COMMIT  # the next check is answered: commit again through the copy
        stats = txn_broker.transaction_check.stats
        await wait_for(lambda: stats.duplicate_commits >= 1, what="the second commit")
        assert await visible(conn) == Counter({half.key: 1})
        await conn.aclose()
        tg.cancel_scope.cancel()


async def test_end_transaction_validation(txn_broker: BrokerController) -> None:
    async with anyio.create_task_group() as tg:
        conn = await ClientConnection.connect(addr_of(txn_broker), tg)
        a = await send_half(conn, TOPIC, b"a", group="PG_val")
        b = await send_half(conn, TOPIC, b"b", group="PG_val")
        normal = await send(conn, TOPIC, b"plain")
        _, _, normal_offset = decode_offset_msg_id(normal.msg_id)

        async def end(req: RemotingCommand) -> RemotingCommand:
            return await conn.request(req, timeout=10)

        cases = [
            (end_request(a, COMMIT, oneway=False, group="PG_other"), "The producer group wrong"),
            (
                end_request(a, COMMIT, oneway=False, tran_offset=b.queue_offset),
                "The transaction state table offset wrong",
            ),
            (
                end_request(a, COMMIT, oneway=False, commit_log_offset=a.commit_log_offset + 1),
                "Find prepared transaction message failed",
            ),
            (
                end_request(a, ROLLBACK, oneway=False, commit_log_offset=normal_offset),
                "Find prepared transaction message failed",
            ),
            (
                end_request(a, ROLLBACK, oneway=False, commit_log_offset=-5),
                "Find prepared transaction message failed",
            ),
        ]
        for request, remark in cases:
            resp = await end(request)
            assert (resp.code, resp.remark) == (ResponseCode.SYSTEM_ERROR, remark)
        # PREPARED (4) or any other value is not a decision: no answer, nothing changes.
        with pytest.raises(TimeoutError):
            await end(end_request(a, 4, oneway=False))
        # A required header field missing is the client's mistake, named in the remark.
        bad = end_request(a, COMMIT, oneway=False)
        del bad.ext_fields["producerGroup"]
        resp = await end(bad)
        assert resp.code != ResponseCode.SUCCESS and "producerGroup" in (resp.remark or "")
        # A slave refuses.
        txn_broker.settings.update({"brokerRole": "SLAVE"})
        try:
            resp = await end(end_request(a, COMMIT, oneway=False))
            assert resp.code == ResponseCode.SLAVE_NOT_AVAILABLE
        finally:
            txn_broker.settings.update({"brokerRole": "ASYNC_MASTER"})
        # Nothing above resolved anything; a proper commit still works, once.
        assert (await end(end_request(a, COMMIT, oneway=False))).code == ResponseCode.SUCCESS
        assert (await end(end_request(b, ROLLBACK, oneway=False))).code == ResponseCode.SUCCESS
        assert (await visible(conn))[a.key] == 1
        await conn.aclose()
        tg.cancel_scope.cancel()


async def test_check_immunity_leaves_late_decisions_to_the_check(
    txn_broker: BrokerController,
) -> None:
    """With CHECK_IMMUNITY_TIME_IN_SECONDS over, only an answer to a check may end it (604)."""
    old = int(time.time() * 1000) - 60_000
    async with anyio.create_task_group() as tg:
        conn = await ClientConnection.connect(addr_of(txn_broker), tg)
        _, request = half_request(
            TOPIC,
            b"immune",
            group="PG_imm",
            properties={"CHECK_IMMUNITY_TIME_IN_SECONDS": "10"},
            born_timestamp=old,
        )
        resp = await conn.request(request, timeout=10)
        assert resp.code == ResponseCode.SUCCESS
        half = await send_half(
            conn,
            TOPIC,
            b"immune-2",
            group="PG_imm",
            properties={"CHECK_IMMUNITY_TIME_IN_SECONDS": "10"},
            born_timestamp=old,
        )
        resp = await conn.request(end_request(half, COMMIT, oneway=False), timeout=10)
        assert resp.code == ResponseCode.ILLEGAL_OPERATION
        assert "CHECK_IMMUNITY_TIME_IN_SECONDS" in (resp.remark or "")
        resp = await conn.request(end_request(half, COMMIT, oneway=False, from_check=True), 10)
        assert resp.code == ResponseCode.SUCCESS
        assert (await visible(conn))[half.key] == 1
        await conn.aclose()
        tg.cancel_scope.cancel()


async def test_reject_transaction_message(namesrv: Any, tmp_path: Path) -> None:
    settings = broker_settings_for(
        tmp_path / "store", f"127.0.0.1:{namesrv.port}", rejectTransactionMessage="true"
    )
    async with (
        BrokerController(settings) as broker,  # type: ignore[arg-type]
        anyio.create_task_group() as tg,
    ):
        conn = await ClientConnection.connect(addr_of(broker), tg)
        _, request = half_request(TOPIC, b"x", group="PG_rej")
        resp = await conn.request(request, timeout=10)
        assert resp.code == ResponseCode.NO_PERMISSION
        assert resp.remark == "the broker[127.0.0.1] sending transaction message is forbidden"
        assert broker.store.get_max_offset_in_queue("RMQ_SYS_TRANS_HALF_TOPIC", 0) == 0
        await conn.aclose()
        tg.cancel_scope.cancel()


async def test_restart_rebuilds_the_check_state_from_the_queues(
    namesrv: Any, tmp_path: Path
) -> None:
    """Committed ones are delivered once, rolled-back ones never, undecided ones are checked
    again after an in-process restart on the same store, and then resolved once."""
    settings = broker_settings_for(tmp_path / "store", f"127.0.0.1:{namesrv.port}", **FAST)
    settings.update({"transactionCheckMax": "15"})  # type: ignore[attr-defined]
    kinds = {}
    async with BrokerController(settings) as broker:  # type: ignore[arg-type]
        silent = CheckingProducer("PG_rs", lambda check: None)
        async with anyio.create_task_group() as tg:
            conn = await silent.connect(addr_of(broker), tg)
            for i in range(90):
                kind = "cru"[i % 3]
                half = await send_half(
                    conn, TOPIC, f"{kind}-{i}".encode(), group="PG_rs", queue_id=i % 4
                )
                kinds[half.key] = kind
                if kind != "u":
                    await conn.oneway(end_request(half, COMMIT if kind == "c" else ROLLBACK))
            undecided = {k for k, v in kinds.items() if v == "u"}
            await wait_for(lambda: undecided <= set(silent.checked_keys()), what="first checks")
            await conn.aclose()
            tg.cancel_scope.cancel()
    async with BrokerController(settings) as broker:  # type: ignore[arg-type]
        answering = CheckingProducer("PG_rs", lambda check: COMMIT)
        async with anyio.create_task_group() as tg:
            conn = await answering.connect(addr_of(broker), tg)
            await wait_for(lambda: undecided <= set(answering.checked_keys()), what="re-checks")
            await wait_for(lambda: broker.transaction_check.stats.passes >= 2, what="passes")
            seen = await visible(conn)
            wanted = {k for k, v in kinds.items() if v != "r"}
            assert set(seen) == wanted
            assert set(seen.values()) == {1}
            assert not set(answering.checked_keys()) - undecided  # resolved ones stay resolved
            await conn.aclose()
            tg.cancel_scope.cancel()


async def test_a_repeated_commit_after_a_restart_stores_no_duplicate(
    namesrv: Any, tmp_path: Path
) -> None:
    """As above, but the broker restarts between the two commits: the index (not memory)
    tells that the transaction is already committed."""
    settings = broker_settings_for(tmp_path / "store", f"127.0.0.1:{namesrv.port}", **FAST)
    async with BrokerController(settings) as broker:  # type: ignore[arg-type]
        silent = CheckingProducer("PG_dup2", lambda check: None)
        async with anyio.create_task_group() as tg:
            conn = await silent.connect(addr_of(broker), tg)
            half = await send_half(conn, TOPIC, b"c-restart", group="PG_dup2")
            await wait_for(lambda: len(silent.checks) >= 1, what="a first, unanswered check")
            resp = await conn.request(end_request(half, COMMIT, oneway=False), timeout=10)
            assert resp.code == ResponseCode.SUCCESS
            await conn.aclose()
            tg.cancel_scope.cancel()
    async with BrokerController(settings) as broker:  # type: ignore[arg-type]
        answering = CheckingProducer("PG_dup2", lambda check: COMMIT)
        async with anyio.create_task_group() as tg:
            conn = await answering.connect(addr_of(broker), tg)
            stats = broker.transaction_check.stats
            await wait_for(lambda: stats.duplicate_commits >= 1, what="the commit via the copy")
            assert set(answering.checked_keys()) == {half.key}
            assert await visible(conn) == Counter({half.key: 1})
            await conn.aclose()
            tg.cancel_scope.cancel()


async def test_progress_past_the_end_of_the_queues_is_pulled_back(
    txn_broker: BrokerController,
) -> None:
    """A consumerOffset.json from another store must not stall the check-back forever."""
    for topic in ("RMQ_SYS_TRANS_HALF_TOPIC", "RMQ_SYS_TRANS_OP_HALF_TOPIC"):
        txn_broker.offsets.commit_offset("test", "CID_RMQ_SYS_TRANS", topic, 0, 5000)
    producer = CheckingProducer("PG_stale", lambda check: COMMIT)
    async with anyio.create_task_group() as tg:
        conn = await producer.connect(addr_of(txn_broker), tg)
        await send_half(conn, TOPIC, b"c-stale", group="PG_stale")  # half offset 0
        await wait_for(lambda: len(producer.checks) >= 1, what="a check despite the offsets")
        info = txn_broker.transaction_check.runtime_info()
        assert int(info["transactionHalfOffset"]) <= int(info["transactionHalfMaxOffset"])
        assert int(info["transactionOpOffset"]) <= int(info["transactionOpMaxOffset"])
        await conn.aclose()
        tg.cancel_scope.cancel()
