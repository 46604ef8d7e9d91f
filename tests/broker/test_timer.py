"""5.x timer messages on the in-process broker: firing, refusals, recall, restart."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from broker.controller import BrokerController
from broker.timer import TimerFired
from rocketmq_py._transport.connection import ClientConnection
from rocketmq_py.protocol.codes import RequestCode, ResponseCode
from rocketmq_py.protocol.command import RemotingCommand
from rocketmq_py.protocol.headers.admin import RecallMessageRequestHeader
from rocketmq_py.protocol.headers.send import SendMessageResponseHeader
from rocketmq_py.protocol.message import MessageRecord
from rocketmq_py.protocol.recall_handle import RecallHandle
from tests.broker.broker_client import pull_all, send_request
from tests.conftest import broker_settings_for

pytestmark = pytest.mark.anyio

TOPIC = "TimerTopic"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@pytest.fixture
async def conn(broker: BrokerController) -> AsyncIterator[ClientConnection]:
    async with anyio.create_task_group() as tg:
        c = await ClientConnection.connect(f"127.0.0.1:{broker.port}", tg)
        yield c
        await c.aclose()
        tg.cancel_scope.cancel()


async def send_timer(
    conn: ClientConnection, body: bytes, topic: str = TOPIC, queue_id: int = 0, **props: str
) -> RemotingCommand:
    return await conn.request(
        send_request(topic, body, queue_id=queue_id, properties=props), timeout=10
    )


async def wait_for(
    conn: ClientConnection, count: int, topic: str = TOPIC, timeout: float = 20
) -> list[MessageRecord]:
    records: list[MessageRecord] = []
    with anyio.fail_after(timeout):
        while True:
            records = [r for q in range(4) for r in await pull_all(conn, topic, q)]
            if len(records) >= count:
                return records
            await anyio.sleep(0.1)


async def recall(conn: ClientConnection, topic: str, handle: str) -> RemotingCommand:
    header = RecallMessageRequestHeader(topic=topic, recall_handle=handle, producer_group="PG")
    return await conn.request(
        RemotingCommand.request(RequestCode.RECALL_MESSAGE, header), timeout=10
    )


async def test_timer_messages_fire_when_due(
    broker: BrokerController, conn: ClientConnection
) -> None:
    sent = now_ms()
    deliver = sent + 2200
    cases = [
        (b"sec", {"TIMER_DELAY_SEC": "1"}, sent + 1000),
        (b"ms", {"TIMER_DELAY_MS": "1500"}, sent + 1500),
        (b"at", {"TIMER_DELIVER_MS": str(deliver)}, deliver),
    ]
    fired: list[TimerFired] = []
    broker.timer.metrics.add_observer(fired.append)
    due = {}
    for body, props, earliest in cases:
        resp = await send_timer(conn, body, queue_id=2, **props, TAGS="tagA")
        assert resp.code == ResponseCode.SUCCESS, resp.remark
        header = resp.read_header(SendMessageResponseHeader)
        handle = RecallHandle.decode(header.recall_handle)
        assert (handle.topic, handle.broker_name) == (TOPIC, broker.broker_name)
        due[body] = earliest
    assert await pull_all(conn, TOPIC, 2) == []  # parked, not in the topic yet
    records = await wait_for(conn, 3)
    assert sorted(r.body for r in records) == [b"at", b"ms", b"sec"]
    for r in records:
        assert r.queue_id == 2 and r.tags == "tagA"
        # Never before its time, and soon after (generous: a loaded 2-core box).
        assert r.store_timestamp >= due[r.body], (r.body, r.store_timestamp - due[r.body])
        assert r.store_timestamp <= due[r.body] + 5000
        assert "REAL_TOPIC" not in r.properties and "REAL_QID" not in r.properties
        assert int(r.properties["TIMER_DEQUEUE_MS"]) >= int(r.properties["TIMER_ENQUEUE_MS"])
        assert r.properties["TIMER_OUT_MS"]
    # The metrics hook saw every delivery with its due time and lag.
    assert sorted(e.msg_id for e in fired) == sorted(r.properties["UNIQ_KEY"] for r in records)
    for event in fired:
        assert event.topic == TOPIC and not event.late
        assert event.fired_ms >= event.due_ms and event.lag_ms == event.fired_ms - event.due_ms
    info = broker.timer.runtime_info()
    assert info["timerFiredTotal"] == "3"
    assert info["timerPendingTotal"] == "0"


async def test_past_due_is_delivered_at_once_and_too_far_is_refused(
    broker: BrokerController, conn: ClientConnection
) -> None:
    resp = await send_timer(conn, b"late", TIMER_DELIVER_MS=str(now_ms() - 5000))
    assert resp.code == ResponseCode.SUCCESS
    assert resp.read_header(SendMessageResponseHeader).recall_handle is None
    assert [r.body for r in await pull_all(conn, TOPIC, 0)] == [b"late"]

    resp = await send_timer(conn, b"far", TIMER_DELAY_SEC=str(259200 + 60))
    assert resp.code == ResponseCode.MESSAGE_ILLEGAL
    assert "timerMaxDelaySec=259200" in (resp.remark or "")
    resp = await send_timer(conn, b"far", TIMER_DELIVER_MS=str(now_ms() + 4 * 86_400_000))
    assert resp.code == ResponseCode.MESSAGE_ILLEGAL
    resp = await send_timer(conn, b"bad", TIMER_DELAY_SEC="soon")
    assert resp.code == ResponseCode.MESSAGE_ILLEGAL
    assert "TIMER_DELAY_SEC='soon'" in (resp.remark or "")
    # A delay level wins over the timer properties (Apache): no handle, the schedule topic.
    resp = await send_timer(conn, b"lvl", DELAY="1", TIMER_DELAY_SEC="100")
    assert resp.code == ResponseCode.SUCCESS
    assert resp.read_header(SendMessageResponseHeader).recall_handle is None


async def test_recall_before_and_after_firing(
    broker: BrokerController, conn: ClientConnection
) -> None:
    resp = await send_timer(conn, b"cancel-me", TIMER_DELAY_SEC="3")
    handle = resp.read_header(SendMessageResponseHeader).recall_handle
    assert handle
    broker.timer.catch_up()
    assert broker.timer.runtime_info()["timerPendingByTopic"] == f"{TOPIC}:1"
    answer = await recall(conn, TOPIC, handle)
    assert answer.code == ResponseCode.SUCCESS, answer.remark
    uniq = RecallHandle.decode(handle).message_id
    assert answer.ext_fields["msgId"] == uniq
    assert broker.timer.runtime_info()["timerPendingTotal"] == "0"
    again = await recall(conn, TOPIC, handle)  # a retried recall is harmless
    assert again.code == ResponseCode.SUCCESS

    fired = await send_timer(conn, b"fires", TIMER_DELAY_SEC="1")
    fired_handle = fired.read_header(SendMessageResponseHeader).recall_handle
    assert fired_handle
    sentinel = await send_timer(conn, b"sentinel", TIMER_DELIVER_MS=str(now_ms() + 4200))
    assert sentinel.code == ResponseCode.SUCCESS
    records = await wait_for(conn, 2)  # "fires" and the sentinel, due after the recalled one
    assert sorted(r.body for r in records) == [b"fires", b"sentinel"]

    late = await recall(conn, TOPIC, fired_handle)
    assert late.code == ResponseCode.ILLEGAL_OPERATION
    assert "already delivered" in (late.remark or "") or "timestamp invalid" in (late.remark or "")

    bogus = RecallHandle(TOPIC, broker.broker_name, str(now_ms() + 60_000), "NO-SUCH-ID")
    unknown = await recall(conn, TOPIC, bogus.encode())
    assert unknown.code == ResponseCode.ILLEGAL_OPERATION
    assert "no pending timer message NO-SUCH-ID" in (unknown.remark or "")
    invalid = await recall(conn, TOPIC, "not a handle")
    assert (invalid.code, invalid.remark) == (
        ResponseCode.ILLEGAL_OPERATION,
        "recall handle is invalid",
    )
    other = await recall(conn, "OtherTopic", bogus.encode())
    assert other.code == ResponseCode.TOPIC_NOT_EXIST
    assert broker.timer.metrics.recalled == 1


async def test_two_day_timers_survive_a_restart(namesrv: object, tmp_path: Path) -> None:
    settings = broker_settings_for(tmp_path / "store", f"127.0.0.1:{namesrv.port}")  # type: ignore[attr-defined]
    handles = []
    async with BrokerController(settings) as broker:  # type: ignore[arg-type]
        async with anyio.create_task_group() as tg:
            c = await ClientConnection.connect(f"127.0.0.1:{broker.port}", tg)
            for i in range(5):
                resp = await send_timer(c, b"later%d" % i, TIMER_DELAY_SEC=str(2 * 86400 + i))
                assert resp.code == ResponseCode.SUCCESS
                handles.append(
                    RecallHandle.decode(resp.read_header(SendMessageResponseHeader).recall_handle)
                )
            await c.aclose()
            tg.cancel_scope.cancel()
        broker.timer.catch_up()
        assert broker.timer.runtime_info()["timerPendingTotal"] == "5"
    async with BrokerController(settings) as broker:  # type: ignore[arg-type]
        timer = broker.timer
        assert timer.runtime_info()["timerPendingByTopic"] == f"{TOPIC}:5"
        for h in handles:
            slot = h.timestamp_ms - 1  # the handle carries TIMER_OUT_MS + 1
            assert timer.recall_state(TOPIC, h.message_id, slot) == "pending"
            assert slot > now_ms() + 2 * 86400 * 1000 - 60_000
