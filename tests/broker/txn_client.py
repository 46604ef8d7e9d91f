"""Raw transactional-producer helpers for broker tests: half sends, END_TRANSACTION, and a
producer channel (registered by HEART_BEAT) that answers CHECK_TRANSACTION_STATE."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import anyio
import anyio.abc

from rocketmq_py._transport.connection import ClientConnection
from rocketmq_py.protocol.bodies import HeartbeatData
from rocketmq_py.protocol.bodies.consumer import ProducerData
from rocketmq_py.protocol.codes import RequestCode, ResponseCode
from rocketmq_py.protocol.command import RemotingCommand
from rocketmq_py.protocol.headers.send import SendMessageRequestHeaderV2, SendMessageResponseHeader
from rocketmq_py.protocol.headers.transaction import (
    CheckTransactionStateRequestHeader,
    EndTransactionRequestHeader,
)
from rocketmq_py.protocol.message import (
    MessageRecord,
    decode_offset_msg_id,
    decode_record,
    encode_properties,
)

COMMIT = 8
ROLLBACK = 12
UNKNOWN = 0
PREPARED = 4


@dataclass
class Half:
    """A half message as the producer knows it after the send."""

    key: str  # UNIQ_KEY = transaction id
    queue_offset: int
    commit_log_offset: int
    group: str
    topic: str


def half_request(
    topic: str,
    body: bytes,
    *,
    group: str,
    key: str | None = None,
    queue_id: int = 0,
    properties: dict[str, str] | None = None,
    born_timestamp: int | None = None,
) -> tuple[str, RemotingCommand]:
    key = key or uuid.uuid4().hex.upper()
    props = {
        "WAIT": "true",
        "TRAN_MSG": "true",
        "PGROUP": group,
        "UNIQ_KEY": key,
        "KEYS": key,
        **(properties or {}),
    }
    header = SendMessageRequestHeaderV2(
        producer_group=group,
        topic=topic,
        default_topic="TBW102",
        default_topic_queue_nums=4,
        queue_id=queue_id,
        sys_flag=PREPARED,
        born_timestamp=born_timestamp or int(time.time() * 1000),
        flag=0,
        properties=encode_properties(props),
        reconsume_times=0,
    )
    return key, RemotingCommand.request(RequestCode.SEND_MESSAGE_V2, header, body)


async def send_half(conn: ClientConnection, topic: str, body: bytes, **kw: object) -> Half:
    key, request = half_request(topic, body, **kw)  # type: ignore[arg-type]
    resp = await conn.request(request, timeout=10)
    assert resp.code == ResponseCode.SUCCESS, (resp.code, resp.remark)
    h = resp.read_header(SendMessageResponseHeader)
    _, _, offset = decode_offset_msg_id(h.msg_id)
    return Half(key, h.queue_offset, offset, str(kw["group"]), topic)


def end_request(
    half: Half,
    decision: int,
    *,
    from_check: bool = False,
    oneway: bool = True,
    group: str | None = None,
    tran_offset: int | None = None,
    commit_log_offset: int | None = None,
) -> RemotingCommand:
    header = EndTransactionRequestHeader(
        producer_group=group or half.group,
        tran_state_table_offset=half.queue_offset if tran_offset is None else tran_offset,
        commit_log_offset=half.commit_log_offset
        if commit_log_offset is None
        else commit_log_offset,
        commit_or_rollback=decision,
        msg_id=half.key,
        from_transaction_check=from_check,
        transaction_id=half.key,
        topic=half.topic,
    )
    return RemotingCommand.request(RequestCode.END_TRANSACTION, header, oneway=oneway)


@dataclass
class Check:
    """One CHECK_TRANSACTION_STATE a producer channel received."""

    header: CheckTransactionStateRequestHeader
    record: MessageRecord
    command: RemotingCommand | None = None  # the frame as received


Decide = Callable[[Check], int | None]


class CheckingProducer:
    """A producer connection of ``group`` that records checks and answers with ``decide``
    (None = no answer at all), as END_TRANSACTION oneway with fromTransactionCheck=true."""

    def __init__(self, group: str, decide: Decide) -> None:
        self.group = group
        self.decide = decide
        self.checks: list[Check] = []
        self.conn: ClientConnection | None = None

    async def connect(self, addr: str, tg: anyio.abc.TaskGroup) -> ClientConnection:
        self.conn = await ClientConnection.connect(addr, tg, handler=self._on_request)
        hb = HeartbeatData(
            client_id=f"127.0.0.1@{self.group}-{uuid.uuid4().hex[:6]}",
            producer_data_set=[ProducerData(self.group)],
        )
        resp = await self.conn.request(
            RemotingCommand.request(RequestCode.HEART_BEAT, body=hb.to_json()), timeout=10
        )
        assert resp.code == ResponseCode.SUCCESS, resp.remark
        return self.conn

    async def _on_request(
        self, conn: ClientConnection, request: RemotingCommand
    ) -> RemotingCommand | None:
        assert request.code == RequestCode.CHECK_TRANSACTION_STATE, request.code
        assert request.is_oneway
        header = request.read_header(CheckTransactionStateRequestHeader)
        record, _ = decode_record(request.body or b"")
        check = Check(header, record, request)
        self.checks.append(check)
        decision = self.decide(check)
        if decision is not None:
            half = Half(
                str(header.transaction_id),
                header.tran_state_table_offset,
                header.commit_log_offset,
                self.group,
                record.topic,
            )
            await conn.oneway(end_request(half, decision, from_check=True))
        return None

    def checked_keys(self) -> list[str]:
        return [str(c.header.transaction_id) for c in self.checks]
