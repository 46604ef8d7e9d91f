"""A bare Remoting client for broker tests: send and pull with explicit headers."""

from __future__ import annotations

import time

from rocketmq_py._transport.connection import ClientConnection
from rocketmq_py.protocol.codes import RequestCode, ResponseCode
from rocketmq_py.protocol.command import RemotingCommand
from rocketmq_py.protocol.headers.pull import PullMessageRequestHeader, PullMessageResponseHeader
from rocketmq_py.protocol.headers.send import SendMessageRequestHeaderV2, SendMessageResponseHeader
from rocketmq_py.protocol.message import MessageRecord, encode_properties, iter_records


def send_request(
    topic: str,
    body: bytes,
    *,
    queue_id: int = 0,
    properties: dict[str, str] | None = None,
    group: str = "PG_TEST",
    oneway: bool = False,
) -> RemotingCommand:
    header = SendMessageRequestHeaderV2(
        producer_group=group,
        topic=topic,
        default_topic="TBW102",
        default_topic_queue_nums=4,
        queue_id=queue_id,
        sys_flag=0,
        born_timestamp=int(time.time() * 1000),
        flag=0,
        properties=encode_properties({"WAIT": "true", **(properties or {})}),
        reconsume_times=0,
    )
    return RemotingCommand.request(RequestCode.SEND_MESSAGE_V2, header, body, oneway=oneway)


async def send(
    conn: ClientConnection, topic: str, body: bytes, **kw: object
) -> SendMessageResponseHeader:
    resp = await conn.request(send_request(topic, body, **kw), timeout=10)  # type: ignore[arg-type]
    assert resp.code == ResponseCode.SUCCESS, (resp.code, resp.remark)
    return resp.read_header(SendMessageResponseHeader)


def pull_request(
    topic: str,
    queue_id: int,
    offset: int,
    *,
    group: str = "CG_TEST",
    max_nums: int = 32,
    expression: str = "*",
    suspend_ms: int = 0,
) -> RemotingCommand:
    sys_flag = 4 | (2 if suspend_ms else 0)  # subscription (+ suspend)
    header = PullMessageRequestHeader(
        consumer_group=group,
        topic=topic,
        queue_id=queue_id,
        queue_offset=offset,
        max_msg_nums=max_nums,
        sys_flag=sys_flag,
        commit_offset=0,
        suspend_timeout_millis=suspend_ms,
        sub_version=0,
        subscription=expression,
        expression_type="TAG",
    )
    return RemotingCommand.request(RequestCode.PULL_MESSAGE, header)


async def pull_all(
    conn: ClientConnection, topic: str, queue_id: int, *, expression: str = "*"
) -> list[MessageRecord]:
    """Every message of a queue from offset 0."""
    out: list[MessageRecord] = []
    offset = 0
    while True:
        resp = await conn.request(
            pull_request(topic, queue_id, offset, expression=expression), timeout=10
        )
        if resp.code == ResponseCode.PULL_RETRY_IMMEDIATELY:
            offset = resp.read_header(PullMessageResponseHeader).next_begin_offset
            continue
        if resp.code != ResponseCode.SUCCESS:
            assert resp.code in (ResponseCode.PULL_NOT_FOUND, ResponseCode.PULL_OFFSET_MOVED), (
                resp.code,
                resp.remark,
            )
            return out
        header = resp.read_header(PullMessageResponseHeader)
        out.extend(iter_records(resp.body or b"", check_crc=True))
        offset = header.next_begin_offset
