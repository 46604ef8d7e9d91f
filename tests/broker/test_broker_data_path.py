"""The broker's data path over real TCP: send, pull, long polling, query, offsets, retries."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from broker.store.mapped_file import MappedFile
from rocketmq_py._transport.connection import ClientConnection
from rocketmq_py.protocol.bodies import ConsumerData, HeartbeatData, SubscriptionData
from rocketmq_py.protocol.codes import RequestCode, ResponseCode
from rocketmq_py.protocol.command import RemotingCommand
from rocketmq_py.protocol.headers.pull import PullMessageResponseHeader
from rocketmq_py.protocol.message import decode_offset_msg_id, encode_batch, iter_records
from tests.broker.broker_client import pull_all, pull_request, send, send_request

pytestmark = pytest.mark.anyio


@pytest.fixture
async def conn(broker: Any) -> AsyncIterator[ClientConnection]:
    async with anyio.create_task_group() as tg:
        c = await ClientConnection.connect(f"127.0.0.1:{broker.port}", tg)
        yield c
        await c.aclose()
        tg.cancel_scope.cancel()


async def test_send_then_pull_round_trip(conn: ClientConnection) -> None:
    sent = []
    for i in range(20):
        header = await send(
            conn,
            "RoundTrip",
            f"body-{i}".encode(),
            queue_id=i % 4,
            properties={"TAGS": "A" if i % 2 else "B", "KEYS": f"k{i}"},
        )
        sent.append(header)
        assert decode_offset_msg_id(header.msg_id)[0] == "127.0.0.1"
    assert [h.queue_offset for h in sent if h.queue_id == 0] == [0, 1, 2, 3, 4]
    bodies = []
    for q in range(4):
        bodies += [r.body for r in await pull_all(conn, "RoundTrip", q)]
    assert sorted(bodies) == sorted(f"body-{i}".encode() for i in range(20))
    only_a = []
    for q in range(4):
        only_a += [
            r.properties["TAGS"] for r in await pull_all(conn, "RoundTrip", q, expression="A")
        ]
    assert only_a == ["A"] * 10


async def test_pull_status_codes(conn: ClientConnection) -> None:
    await send(conn, "Statuses", b"x", queue_id=0)
    resp = await conn.request(pull_request("Statuses", 0, 1), timeout=5)
    assert resp.code == ResponseCode.PULL_NOT_FOUND and resp.remark == "OFFSET_OVERFLOW_ONE"
    resp = await conn.request(pull_request("Statuses", 0, 50), timeout=5)
    assert resp.code == ResponseCode.PULL_OFFSET_MOVED
    assert resp.read_header(PullMessageResponseHeader).next_begin_offset == 1
    resp = await conn.request(pull_request("Statuses", 1, 0), timeout=5)
    assert resp.code == ResponseCode.PULL_NOT_FOUND
    resp = await conn.request(pull_request("Statuses", 1, 3), timeout=5)
    assert resp.code == ResponseCode.PULL_OFFSET_MOVED
    resp = await conn.request(pull_request("NoSuchTopicHere", 0, 0), timeout=5)
    assert resp.code == ResponseCode.TOPIC_NOT_EXIST


async def test_long_polling_wakes_on_arrival(conn: ClientConnection, broker: Any) -> None:
    await send(conn, "LongPoll", b"first", queue_id=0)
    result: dict[str, Any] = {}

    async def waiter() -> None:
        t0 = time.monotonic()
        resp = await conn.request(pull_request("LongPoll", 0, 1, suspend_ms=10_000), timeout=15)
        result["elapsed"] = time.monotonic() - t0
        result["resp"] = resp

    async with anyio.create_task_group() as tg:
        tg.start_soon(waiter)
        await anyio.sleep(0.3)
        assert "resp" not in result
        await send(conn, "LongPoll", b"second", queue_id=0)
    resp = result["resp"]
    assert resp.code == ResponseCode.SUCCESS
    assert [r.body for r in iter_records(resp.body)] == [b"second"]
    assert 0.25 < result["elapsed"] < 5


async def test_long_poll_times_out_with_not_found(conn: ClientConnection) -> None:
    await send(conn, "LongPollTimeout", b"x", queue_id=0)
    t0 = time.monotonic()
    resp = await conn.request(pull_request("LongPollTimeout", 0, 1, suspend_ms=400), timeout=5)
    assert resp.code == ResponseCode.PULL_NOT_FOUND
    assert time.monotonic() - t0 >= 0.35


async def test_batch_send(conn: ClientConnection) -> None:
    body = encode_batch(
        [(f"m{i}".encode(), 0, {"KEYS": f"bk{i}", "UNIQ_KEY": f"U{i:031d}"}) for i in range(5)]
    )
    request = send_request("Batched", body, queue_id=1)
    request.code = RequestCode.SEND_BATCH_MESSAGE
    assert request.ext_fields is not None
    request.ext_fields["m"] = "true"
    resp = await conn.request(request, timeout=5)
    assert resp.code == ResponseCode.SUCCESS, resp.remark
    assert len((resp.ext_fields or {})["msgId"].split(",")) == 5
    records = await pull_all(conn, "Batched", 1)
    assert [r.body for r in records] == [f"m{i}".encode() for i in range(5)]
    assert records[0].properties["CLUSTER"] == "DefaultCluster"


async def test_query_by_key_and_view_by_offset(conn: ClientConnection) -> None:
    header = await send(
        conn, "Queried", b"find me", properties={"KEYS": "order-1 order-2", "UNIQ_KEY": "AB" * 16}
    )
    for key in ("order-1", "order-2"):
        resp = await conn.request(
            RemotingCommand.request(
                RequestCode.QUERY_MESSAGE,
                {
                    "topic": "Queried",
                    "key": key,
                    "maxNum": 32,
                    "beginTimestamp": 0,
                    "endTimestamp": 2**62,
                },
            ),
            timeout=5,
        )
        assert resp.code == ResponseCode.SUCCESS
        assert [r.body for r in iter_records(resp.body or b"")] == [b"find me"]
    resp = await conn.request(
        RemotingCommand.request(
            RequestCode.QUERY_MESSAGE,
            {
                "topic": "Queried",
                "key": "AB" * 16,
                "maxNum": 1,
                "beginTimestamp": 0,
                "endTimestamp": 2**62,
                "_UNIQUE_KEY_QUERY": "true",
            },
        ),
        timeout=5,
    )
    assert resp.code == ResponseCode.SUCCESS
    missing = await conn.request(
        RemotingCommand.request(
            RequestCode.QUERY_MESSAGE,
            {
                "topic": "Queried",
                "key": "nope",
                "maxNum": 32,
                "beginTimestamp": 0,
                "endTimestamp": 2**62,
            },
        ),
        timeout=5,
    )
    assert missing.code == ResponseCode.QUERY_NOT_FOUND
    _, _, offset = decode_offset_msg_id(header.msg_id)
    view = await conn.request(
        RemotingCommand.request(RequestCode.VIEW_MESSAGE_BY_ID, {"offset": offset}), timeout=5
    )
    assert view.code == ResponseCode.SUCCESS
    assert next(iter_records(view.body or b"")).body == b"find me"
    bad = await conn.request(
        RemotingCommand.request(RequestCode.VIEW_MESSAGE_BY_ID, {"offset": offset + 3}), timeout=5
    )
    assert bad.code == ResponseCode.SYSTEM_ERROR


async def test_consumer_offsets_and_group_membership(conn: ClientConnection) -> None:
    await send(conn, "Offsets", b"x", queue_id=0)
    query = RemotingCommand.request(
        RequestCode.QUERY_CONSUMER_OFFSET,
        {"consumerGroup": "CG1", "topic": "Offsets", "queueId": 0},
    )
    resp = await conn.request(query, timeout=5)
    assert (resp.code, resp.ext_fields) == (
        ResponseCode.SUCCESS,
        {"offset": "0"},
    )  # young queue quirk
    await conn.oneway(
        RemotingCommand.request(
            RequestCode.UPDATE_CONSUMER_OFFSET,
            {"consumerGroup": "CG1", "topic": "Offsets", "queueId": 0, "commitOffset": 1},
        )
    )
    resp = await conn.request(
        RemotingCommand.request(
            RequestCode.QUERY_CONSUMER_OFFSET,
            {"consumerGroup": "CG1", "topic": "Offsets", "queueId": 0},
        ),
        timeout=5,
    )
    assert resp.ext_fields == {"offset": "1"}
    max_off = await conn.request(
        RemotingCommand.request(RequestCode.GET_MAX_OFFSET, {"topic": "Offsets", "queueId": 0}),
        timeout=5,
    )
    assert max_off.ext_fields == {"offset": "1"}
    none = await conn.request(
        RemotingCommand.request(RequestCode.GET_CONSUMER_LIST_BY_GROUP, {"consumerGroup": "CG1"}),
        timeout=5,
    )
    assert none.code == ResponseCode.SYSTEM_ERROR
    hb = HeartbeatData(
        client_id="127.0.0.1@test",
        consumer_data_set=[
            ConsumerData(
                group_name="CG1", subscription_data_set=[SubscriptionData(topic="Offsets")]
            )
        ],
    )
    assert (
        await conn.request(
            RemotingCommand.request(RequestCode.HEART_BEAT, body=hb.to_json()), timeout=5
        )
    ).code == 0
    ids = await conn.request(
        RemotingCommand.request(RequestCode.GET_CONSUMER_LIST_BY_GROUP, {"consumerGroup": "CG1"}),
        timeout=5,
    )
    assert b"127.0.0.1@test" in (ids.body or b"")


async def test_send_back_goes_to_retry_then_dlq(conn: ClientConnection, broker: Any) -> None:
    header = await send(conn, "Failing", b"poison", queue_id=0)
    _, _, offset = decode_offset_msg_id(header.msg_id)
    back = RemotingCommand.request(
        RequestCode.CONSUMER_SEND_MSG_BACK,
        {"offset": offset, "group": "CGF", "delayLevel": -1, "maxReconsumeTimes": 16},
    )
    resp = await conn.request(back, timeout=5)
    assert resp.code == ResponseCode.SUCCESS, resp.remark
    dlq = await pull_all(conn, "%DLQ%CGF", 0)
    assert [r.body for r in dlq] == [b"poison"]
    assert dlq[0].properties["RETRY_TOPIC"] == "Failing" and dlq[0].reconsume_times == 1
    # A normal failure goes to the retry topic through delay level 3 (10 s): parked first.
    back.ext_fields = {**(back.ext_fields or {}), "delayLevel": "0"}
    resp = await conn.request(back, timeout=5)
    assert resp.code == ResponseCode.SUCCESS
    parked = await pull_all(conn, "SCHEDULE_TOPIC_XXXX", 2)
    assert parked and parked[-1].properties["REAL_TOPIC"] == "%RETRY%CGF"


async def test_delay_level_delivers_after_its_delay(conn: ClientConnection) -> None:
    t0 = time.time()
    await send(conn, "Delayed", b"later", queue_id=2, properties={"DELAY": "1"})
    assert await pull_all(conn, "Delayed", 2) == []
    with anyio.fail_after(10):
        while not (records := await pull_all(conn, "Delayed", 2)):
            await anyio.sleep(0.1)
    assert records[0].body == b"later" and "DELAY" not in records[0].properties
    assert records[0].store_timestamp - t0 * 1000 >= 900


@pytest.mark.parametrize(
    ("topic", "queue_id", "code"),
    [
        ("bad topic!", 0, ResponseCode.SYSTEM_ERROR),
        ("T" * 200, 0, ResponseCode.SYSTEM_ERROR),
        ("QueueCheck", 99, ResponseCode.SYSTEM_ERROR),
        ("SCHEDULE_TOPIC_XXXX", 0, ResponseCode.NO_PERMISSION),
    ],
)
async def test_bad_sends_get_codes_with_remarks(
    conn: ClientConnection, topic: str, queue_id: int, code: int
) -> None:
    if topic == "QueueCheck":
        await send(conn, topic, b"x")
    resp = await conn.request(send_request(topic, b"x", queue_id=queue_id), timeout=5)
    assert resp.code == code and resp.remark


async def test_oversized_and_malformed_bodies(conn: ClientConnection) -> None:
    resp = await conn.request(send_request("Big", b"x" * (4 * 1024 * 1024 + 10)), timeout=10)
    assert resp.code == ResponseCode.MESSAGE_ILLEGAL and resp.remark
    bad_batch = send_request("BadBatch", b"\x00\x00\x00\x30garbage")
    bad_batch.code = RequestCode.SEND_BATCH_MESSAGE
    assert bad_batch.ext_fields is not None
    bad_batch.ext_fields["m"] = "true"
    resp = await conn.request(bad_batch, timeout=5)
    assert resp.code == ResponseCode.MESSAGE_ILLEGAL and resp.remark
    # Still serving.
    await send(conn, "AfterErrors", b"ok")


async def test_a_send_whose_commitlog_write_fails_is_not_acknowledged(
    conn: ClientConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The store writes a batch of sends after handling them and before their responses go
    # out; when that write fails, the send must get an error, and the message must not exist.
    real_write = MappedFile.write
    failures = [1]

    def flaky_write(self: MappedFile, data: bytes | bytearray | memoryview, pos: int) -> None:
        if failures[0] and "commitlog" in self.path:
            failures[0] -= 1
            raise OSError(5, "Input/output error (test)")
        real_write(self, data, pos)

    monkeypatch.setattr(MappedFile, "write", flaky_write)
    resp = await conn.request(send_request("LostWrite", b"lost", queue_id=0), timeout=5)
    assert resp.code == ResponseCode.SYSTEM_ERROR
    assert failures == [0]
    header = await send(conn, "LostWrite", b"kept", queue_id=0)
    assert header.queue_offset == 0
    assert [r.body for r in await pull_all(conn, "LostWrite", 0)] == [b"kept"]
