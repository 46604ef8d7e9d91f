"""Headers of SEND_MESSAGE (10), SEND_MESSAGE_V2 (310) and SEND_BATCH_MESSAGE (320).

``SendMessageRequestHeader`` uses the long field names; the V2 header carries the same values
under one-letter names (``a`` .. ``n``) to keep every frame small. A broker converts V2 to V1
with :meth:`SendMessageRequestHeaderV2.to_v1` and handles both alike. See ``protocol.md`` 3.1-3.2.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rocketmq_py.protocol.codes import RequestCode
from rocketmq_py.protocol.headers._base import CommandHeader, request_header, response_header

__all__ = [
    "SendMessageRequestHeader",
    "SendMessageRequestHeaderV2",
    "SendMessageResponseHeader",
]


@request_header(RequestCode.SEND_MESSAGE)
@dataclass(slots=True)
class SendMessageRequestHeader(CommandHeader):
    """SEND_MESSAGE (10): one message, or a batch when ``batch`` is true; long field names.

    ``bname`` is the broker name Java (4.9.x and 5.x) and Go put on the wire through
    ``RpcRequestHeader``; ``broker_name`` (``brokerName``) is read for peers that spell it out.
    The cpp client sends ``batch``/``unit_mode`` as ``"0"``/``"1"``, which parse as booleans.
    """

    producer_group: str
    topic: str
    default_topic: str
    default_topic_queue_nums: int
    queue_id: int
    sys_flag: int
    born_timestamp: int
    flag: int
    properties: str | None = None
    reconsume_times: int | None = None
    unit_mode: bool | None = None
    batch: bool | None = None
    max_reconsume_times: int | None = None
    bname: str | None = None
    broker_name: str | None = None


@request_header(RequestCode.SEND_MESSAGE_V2, RequestCode.SEND_BATCH_MESSAGE)
@dataclass(slots=True)
class SendMessageRequestHeaderV2(CommandHeader):
    """SEND_MESSAGE_V2 (310) and SEND_BATCH_MESSAGE (320): the V1 fields under names a..n."""

    WIRE_NAMES: ClassVar = {
        "producer_group": "a",
        "topic": "b",
        "default_topic": "c",
        "default_topic_queue_nums": "d",
        "queue_id": "e",
        "sys_flag": "f",
        "born_timestamp": "g",
        "flag": "h",
        "properties": "i",
        "reconsume_times": "j",
        "unit_mode": "k",
        "max_reconsume_times": "l",
        "batch": "m",
        "broker_name": "n",
    }

    producer_group: str
    topic: str
    default_topic: str
    default_topic_queue_nums: int
    queue_id: int
    sys_flag: int
    born_timestamp: int
    flag: int
    properties: str | None = None
    reconsume_times: int | None = None
    unit_mode: bool | None = None
    max_reconsume_times: int | None = None
    batch: bool | None = None
    broker_name: str | None = None

    def to_v1(self) -> SendMessageRequestHeader:
        """The equivalent long-name header; ``n`` becomes ``bname`` as in Java."""
        return SendMessageRequestHeader(
            producer_group=self.producer_group,
            topic=self.topic,
            default_topic=self.default_topic,
            default_topic_queue_nums=self.default_topic_queue_nums,
            queue_id=self.queue_id,
            sys_flag=self.sys_flag,
            born_timestamp=self.born_timestamp,
            flag=self.flag,
            properties=self.properties,
            reconsume_times=self.reconsume_times,
            unit_mode=self.unit_mode,
            batch=self.batch,
            max_reconsume_times=self.max_reconsume_times,
            bname=self.broker_name,
        )

    @classmethod
    def from_v1(cls, v1: SendMessageRequestHeader) -> SendMessageRequestHeaderV2:
        """The short-name header for ``v1``; ``n`` is ``bname``, else ``brokerName``."""
        return cls(
            producer_group=v1.producer_group,
            topic=v1.topic,
            default_topic=v1.default_topic,
            default_topic_queue_nums=v1.default_topic_queue_nums,
            queue_id=v1.queue_id,
            sys_flag=v1.sys_flag,
            born_timestamp=v1.born_timestamp,
            flag=v1.flag,
            properties=v1.properties,
            reconsume_times=v1.reconsume_times,
            unit_mode=v1.unit_mode,
            max_reconsume_times=v1.max_reconsume_times,
            batch=v1.batch,
            broker_name=v1.bname if v1.bname is not None else v1.broker_name,
        )


@response_header(
    RequestCode.SEND_MESSAGE, RequestCode.SEND_MESSAGE_V2, RequestCode.SEND_BATCH_MESSAGE
)
@dataclass(slots=True)
class SendMessageResponseHeader(CommandHeader):
    """Answer to SEND_MESSAGE/_V2/SEND_BATCH_MESSAGE: where the message was stored.

    ``msg_id`` is the offset message id (comma-separated for a batch). A Java client reads
    ``MSG_REGION`` from every successful send response, so a broker must always fill it;
    ``TRACE_ON`` is ``"true"`` unless message tracing is switched off on the broker.
    """

    WIRE_NAMES: ClassVar = {"msg_region": "MSG_REGION", "trace_on": "TRACE_ON"}

    msg_id: str
    queue_id: int
    queue_offset: int
    transaction_id: str | None = None
    batch_uniq_id: str | None = None
    recall_handle: str | None = None
    msg_region: str | None = None
    trace_on: bool | None = None

    @staticmethod
    def stored_fields(
        msg_id: str, queue_id: int, queue_offset: int, msg_region: str, trace_on: bool
    ) -> dict[str, str]:
        """The extFields of ``SendMessageResponseHeader(msg_id, queue_id, queue_offset,
        msg_region=..., trace_on=...)``, without building the header: a broker answers every
        stored message with one."""
        return {
            "msgId": msg_id,
            "queueId": str(queue_id),
            "queueOffset": str(queue_offset),
            "MSG_REGION": msg_region,
            "TRACE_ON": "true" if trace_on else "false",
        }
