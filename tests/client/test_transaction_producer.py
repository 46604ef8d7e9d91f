"""Transactional messages: AsyncTransactionProducer / TransactionProducer against our servers.

Most tests run an in-process broker with a fast check-back (``transactionCheckInterval`` and
``transactionTimeOut`` 1 s) and two short delay levels; the crash test kills a real producer
process with SIGKILL and lets a second process of the same group answer the check.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from rocketmq_py import (
    AsyncAdmin,
    AsyncLitePullConsumer,
    AsyncTransactionProducer,
    ConfigError,
    LocalProtocolError,
    Message,
    MessageIllegalError,
    MessageView,
    SendStatus,
    TransactionProducer,
    TransactionSendResult,
    TransactionState,
)
from rocketmq_py.protocol.message import MessageConst, MessageSysFlag, decode_offset_msg_id
from tests.client.conftest import run_broker
from tests.conftest import ROOT, broker_settings_for

pytestmark = pytest.mark.anyio

MC = MessageConst
COMMIT, ROLLBACK, UNKNOWN = (
    TransactionState.COMMIT,
    TransactionState.ROLLBACK,
    TransactionState.UNKNOWN,
)


def _addr(namesrv: Any) -> str:
    return f"127.0.0.1:{namesrv.port}"


@pytest.fixture
def tx_broker(namesrv: Any, tmp_path: Path) -> Iterator[Any]:
    """An in-process broker that checks unresolved half messages every second."""
    yield from run_broker(
        broker_settings_for(
            tmp_path / "store",
            _addr(namesrv),
            transactionCheckInterval="1000",
            transactionTimeOut="1000",
            messageDelayLevel="1s 2s",
            timerMaxDelaySec="30",
        )
    )


class Decisions:
    """A checker answering from a table of message bodies (UNKNOWN for anything else)."""

    def __init__(self, **states: TransactionState) -> None:
        self.states = dict(states)
        self.checked: list[MessageView] = []

    def __call__(self, message: MessageView) -> TransactionState:
        self.checked.append(message)
        return self.states.get(message.body.decode(), UNKNOWN)


async def _consume_until(namesrv: Any, topic: str, bodies: set[str]) -> list[MessageView]:
    """Every message of ``topic`` up to the moment all of ``bodies`` arrived."""
    got: list[MessageView] = []
    async with AsyncLitePullConsumer(
        f"CG_{topic}_{uuid.uuid4().hex[:8]}", _addr(namesrv), consume_from_where="first"
    ) as consumer:
        consumer.subscribe(topic, "*")
        with anyio.fail_after(60):
            while not bodies <= {m.body.decode() for m in got}:
                got.extend(await consumer.poll(timeout=1))
    return got


async def _stored(namesrv: Any, topic: str) -> int:
    """How many messages the topic's queues hold (committed ones only)."""
    async with AsyncAdmin(_addr(namesrv)) as admin:
        return sum([await admin.max_offset(q) for q in await admin.subscribe_queues(topic)])


async def _delivered_exactly(namesrv: Any, topic: str, bodies: list[str]) -> list[MessageView]:
    """Consume ``bodies`` and check the topic holds nothing else: a rolled-back message would
    be stored on the topic before the sentinel that the caller sends last."""
    got = await _consume_until(namesrv, topic, set(bodies))
    assert sorted(m.body.decode() for m in got) == sorted(bodies)
    assert await _stored(namesrv, topic) == len(bodies)
    return got


async def test_commit_rollback_and_unknown_in_java_style(namesrv: Any, tx_broker: Any) -> None:
    topic = "TxJava"
    seen: list[tuple[str, str | None]] = []

    def local(state: TransactionState) -> Any:
        def run(message: Message, result: Any) -> TransactionState:
            seen.append((result.msg_id, result.transaction_id))
            return state

        return run

    checker = Decisions(unknown=ROLLBACK)
    async with AsyncTransactionProducer("PG_tx_java", _addr(namesrv), checker=checker) as p:
        committed = await p.send_in_transaction(Message(topic, "commit"), local(COMMIT))
        rolled = await p.send_in_transaction(Message(topic, "rollback"), local(ROLLBACK))
        unknown = await p.send_in_transaction(Message(topic, "unknown"), local(UNKNOWN))
        await p.send(Message(topic, "sentinel"))
        assert isinstance(committed, TransactionSendResult)
        assert committed.status is SendStatus.SEND_OK
        assert committed.local_transaction_state is COMMIT
        assert rolled.local_transaction_state is ROLLBACK
        assert unknown.local_transaction_state is UNKNOWN
        assert committed.transaction_id == committed.msg_id
        assert seen[0] == (committed.msg_id, committed.transaction_id)
        got = await _delivered_exactly(namesrv, topic, ["commit", "sentinel"])
        # The unknown one was asked about and rolled back by the checker.
        with anyio.fail_after(30):
            while not any(m.body == b"unknown" for m in checker.checked):
                await anyio.sleep(0.2)
    [message] = [m for m in got if m.body == b"commit"]
    assert message.msg_id == committed.msg_id
    assert MessageSysFlag.get_transaction_value(message.sys_flag) == 8
    assert MC.PROPERTY_TRANSACTION_PREPARED not in message.properties
    assert message.properties[MC.PROPERTY_PRODUCER_GROUP] == "PG_tx_java"
    half_offset = decode_offset_msg_id(committed.offset_msg_id)[2]
    assert message.prepared_transaction_offset == half_offset


async def test_local_transaction_exception_sends_unknown(namesrv: Any, tx_broker: Any) -> None:
    def broken(message: Message, result: Any) -> TransactionState:
        raise RuntimeError("database down")

    async def late_commit(message: Message, result: Any) -> None:
        return None  # None counts as UNKNOWN, as in Java

    checker = Decisions(broken=COMMIT, none=COMMIT)
    async with AsyncTransactionProducer("PG_tx_exc", _addr(namesrv), checker=checker) as p:
        result = await p.send_in_transaction(Message("TxExc", "broken"), broken)
        assert result.local_transaction_state is UNKNOWN
        result = await p.send_in_transaction(Message("TxExc", "none"), late_commit)
        assert result.local_transaction_state is UNKNOWN
        await _delivered_exactly(namesrv, "TxExc", ["broken", "none"])


async def test_context_manager_commits_rolls_back_and_decides_early(
    namesrv: Any, tx_broker: Any
) -> None:
    topic = "TxBlock"
    checker = Decisions()
    async with AsyncTransactionProducer("PG_tx_block", _addr(namesrv), checker=checker) as p:
        async with p.transaction(Message(topic, "auto-commit")) as tx:
            assert tx.state is None
            assert tx.transaction_id == tx.send_result.msg_id == tx.msg_id
        assert tx.state is COMMIT

        with pytest.raises(KeyError, match="no such order"):
            async with p.transaction(Message(topic, "failed")) as tx:
                raise KeyError("no such order")
        assert tx.state is ROLLBACK

        async with p.transaction(Message(topic, "early-commit")) as tx:
            await tx.commit()
            with pytest.raises(LocalProtocolError, match="already ended with COMMIT"):
                await tx.rollback()

        async def commit_then_fail() -> None:
            async with p.transaction(Message(topic, "early-commit-then-error")) as tx:
                opened.append(tx)
                await tx.commit()
                raise ValueError("after the decision")

        opened: list[Any] = []
        with pytest.raises(ValueError, match="after the decision"):
            await commit_then_fail()
        assert opened[0].state is COMMIT

        async with p.transaction(Message(topic, "early-rollback")) as tx:
            await tx.rollback()
        assert tx.state is ROLLBACK

        await p.send(Message(topic, "sentinel"))
        await _delivered_exactly(
            namesrv, topic, ["auto-commit", "early-commit", "early-commit-then-error", "sentinel"]
        )


async def test_trace_hooks_see_half_send_end_and_check(namesrv: Any, tx_broker: Any) -> None:
    events: list[tuple[str, dict[str, Any]]] = []

    def hook(event: str, info: dict[str, Any]) -> None:
        events.append((event, dict(info)))

    async def checker(message: MessageView) -> TransactionState:
        return COMMIT

    async with AsyncTransactionProducer(
        "PG_tx_hooks", _addr(namesrv), checker=checker, hooks=[hook]
    ) as p:
        async with p.transaction(Message("TxHooks", "hooked")) as tx:
            pass
        await p.send_in_transaction(Message("TxHooks", "checked"), lambda m, r: UNKNOWN)
        with anyio.fail_after(30):
            while not any(
                e == "end_transaction.complete" and i["from_transaction_check"] for e, i in events
            ):
                await anyio.sleep(0.2)
    names = [e for e, _ in events]
    assert names[:4] == [
        "send.started",
        "send.complete",
        "end_transaction.started",
        "end_transaction.complete",
    ]
    send_info = events[0][1]
    assert send_info["properties"][MC.PROPERTY_TRANSACTION_PREPARED] == "true"
    assert send_info["properties"][MC.PROPERTY_PRODUCER_GROUP] == "PG_tx_hooks"
    end = events[3][1]
    assert end["state"] is COMMIT and end["from_transaction_check"] is False
    assert end["transaction_id"] == tx.transaction_id and end["topic"] == "TxHooks"
    assert end["server_address"]
    check = next(i for e, i in events if e == "check.complete")
    assert check["message"].body == b"checked" and check["state"] is COMMIT
    answer = next(
        i for e, i in events if e == "end_transaction.complete" and i["from_transaction_check"]
    )
    assert answer["state"] is COMMIT and answer["msg_ids"] == check["msg_ids"]
    await _delivered_exactly(namesrv, "TxHooks", ["hooked", "checked"])


async def test_unknown_then_check_commits_or_rolls_back(namesrv: Any, tx_broker: Any) -> None:
    topic = "TxCheck"
    calls = {"flaky": 0}

    async def checker(message: MessageView) -> TransactionState:
        body = message.body.decode()
        assert message.topic == topic
        assert message.properties[MC.PROPERTY_PRODUCER_GROUP] == "PG_tx_check"
        if body == "flaky":
            calls["flaky"] += 1
            if calls["flaky"] == 1:
                raise RuntimeError("not sure yet")  # answered UNKNOWN; the broker asks again
        return ROLLBACK if body == "check-rollback" else COMMIT

    async with AsyncTransactionProducer(
        "PG_tx_check", _addr(namesrv), checker=checker, check_concurrency=2
    ) as p:
        for body in ("check-commit", "check-rollback", "flaky"):
            async with p.transaction(Message(topic, body)) as tx:
                await tx.end(UNKNOWN)
        got = await _consume_until(namesrv, topic, {"check-commit", "flaky"})
        assert calls["flaky"] >= 2
        # The rollback was decided too: a sentinel then the exact count shows it never landed.
        await p.send(Message(topic, "sentinel"))
        await _delivered_exactly(namesrv, topic, ["check-commit", "flaky", "sentinel"])
    assert sorted(m.body for m in got) == [b"check-commit", b"flaky"]


async def test_delay_level_applies_after_commit(namesrv: Any, tx_broker: Any) -> None:
    async with AsyncTransactionProducer("PG_tx_delay", _addr(namesrv), checker=Decisions()) as p:
        async with p.transaction(Message("TxDelay", "later", delay_level=2)) as tx:
            pass
        committed_ms = time.time() * 1000
    [message] = await _consume_until(namesrv, "TxDelay", {"later"})
    received_ms = time.time() * 1000
    assert message.msg_id == tx.msg_id
    # Level 2 is "2s" here: the committed message waited 2 s before it could be consumed.
    assert received_ms >= committed_ms + 2000 - 50


async def test_timer_applies_from_the_commit_and_bad_schedules_are_refused_up_front(
    namesrv: Any, tx_broker: Any
) -> None:
    async with AsyncTransactionProducer("PG_tx_timer", _addr(namesrv), checker=Decisions()) as p:
        async with p.transaction(Message("TxTimer", "at", delay=2)) as tx:
            await anyio.sleep(1.5)  # the 2 s count from the commit, not from the half send
        committed_ms = time.time() * 1000
        # The broker allows 30 s here: a longer schedule is refused when the half message is
        # sent, before any local transaction ran, not at commit.
        with pytest.raises(MessageIllegalError):
            await p.begin(Message("TxTimer", "too far", delay=120))
    [message] = await _consume_until(namesrv, "TxTimer", {"at"})
    received_ms = time.time() * 1000
    assert message.msg_id == tx.msg_id
    assert received_ms >= committed_ms + 2000 - 50


async def test_validation(namesrv: Any) -> None:
    with pytest.raises(ConfigError, match="checker"):
        AsyncTransactionProducer("PG_tx_bad", _addr(namesrv))
    with pytest.raises(ConfigError, match="check_concurrency"):
        AsyncTransactionProducer(
            "PG_tx_bad", _addr(namesrv), checker=Decisions(), check_concurrency=0
        )
    with pytest.raises(ConfigError, match="checker"):
        TransactionProducer("PG_tx_bad", _addr(namesrv))
    async with AsyncTransactionProducer("PG_tx_bad", _addr(namesrv), checker=Decisions()) as p:
        with pytest.raises(ConfigError, match="batches cannot be transactional"):
            await p.send_in_transaction([Message("T", "a")], lambda m, r: COMMIT)  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match="batches cannot be transactional"):
            async with p.transaction([Message("T", "a")]):  # type: ignore[arg-type]
                pass


async def test_blocking_transaction_producer(namesrv: Any, tx_broker: Any) -> None:
    topic = "TxSync"
    threads: list[int] = []

    def local(message: Message, result: Any) -> TransactionState:
        threads.append(threading.get_ident())
        return COMMIT

    def blocking() -> None:
        with TransactionProducer("PG_tx_sync", _addr(namesrv), checker=Decisions()) as p:
            result = p.send_in_transaction(Message(topic, "java-style"), local)
            assert result.local_transaction_state is COMMIT
            assert threads == [threading.get_ident()]  # ran in the calling thread
            with p.transaction(Message(topic, "with-block")) as tx:
                assert tx.state is None
            assert tx.state is COMMIT
            with pytest.raises(RuntimeError), p.transaction(Message(topic, "failed")) as tx:
                raise RuntimeError("local failure")
            assert tx.state is ROLLBACK
            with p.transaction(Message(topic, "early")) as tx:
                tx.rollback()
                with pytest.raises(LocalProtocolError):
                    tx.commit()

            async def not_blocking(message: Message, result: Any) -> TransactionState:
                return COMMIT

            with pytest.raises(ConfigError, match="local_transaction"):
                p.send_in_transaction(Message(topic, "x"), not_blocking)  # type: ignore[arg-type]
            p.send(Message(topic, "sentinel"))

    await anyio.to_thread.run_sync(blocking)
    await _delivered_exactly(namesrv, topic, ["java-style", "with-block", "sentinel"])


_DYING_PRODUCER = """
import sys, anyio
from rocketmq_py import AsyncTransactionProducer, Message, TransactionState

async def main():
    p = AsyncTransactionProducer("PG_tx_crash", sys.argv[1],
                                 checker=lambda m: TransactionState.UNKNOWN)
    async with p:
        tx = await p.begin(Message(sys.argv[2], "orphan"))
        print("HALF", tx.msg_id, flush=True)
        await anyio.sleep(3600)  # killed before deciding

anyio.run(main)
"""


async def test_crashed_producer_is_resolved_by_another_process_of_its_group(
    namesrv: Any, tx_broker: Any, tmp_path: Path
) -> None:
    topic = "TxCrash"
    script = tmp_path / "dying_producer.py"
    script.write_text(_DYING_PRODUCER)
    proc = subprocess.Popen(
        [sys.executable, str(script), _addr(namesrv), topic],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert proc.stdout is not None
        line = await anyio.to_thread.run_sync(proc.stdout.readline)
        assert line.startswith("HALF "), (line, proc.stderr.read() if proc.stderr else "")
        msg_id = line.split()[1]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    checker = Decisions(orphan=COMMIT)
    async with AsyncTransactionProducer(
        "PG_tx_crash", _addr(namesrv), checker=checker, topics=[topic]
    ):
        [message] = await _consume_until(namesrv, topic, {"orphan"})
    assert message.msg_id == msg_id
    assert [m.msg_id for m in checker.checked if m.body == b"orphan"][:1] == [msg_id]


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # the bound is backend-independent
async def test_checks_beyond_the_bound_are_dropped_and_asked_again(
    namesrv: Any, tx_broker: Any, caplog: pytest.LogCaptureFixture
) -> None:
    topic = "TxBound"
    release = anyio.Event()
    running = 0
    most = 0

    async def slow_checker(message: MessageView) -> TransactionState:
        nonlocal running, most
        running += 1
        most = max(most, running)
        try:
            await release.wait()
        finally:
            running -= 1
        return COMMIT

    bodies = [f"bound-{i}" for i in range(6)]
    async with AsyncTransactionProducer(
        "PG_tx_bound",
        _addr(namesrv),
        checker=slow_checker,
        check_concurrency=1,
        check_queue_size=1,
    ) as p:
        for body in bodies:
            await p.send_in_transaction(Message(topic, body), lambda m, r: UNKNOWN)
        with anyio.fail_after(30):
            while "transaction checks are waiting; dropped" not in caplog.text:
                await anyio.sleep(0.1)
        release.set()
        # Each arrives; a check answered after the broker re-asked may deliver one twice
        # (at least once, as in Apache), so only the set is exact.
        got = await _consume_until(namesrv, topic, set(bodies))
    assert {m.body.decode() for m in got} == set(bodies)
    assert most == 1
