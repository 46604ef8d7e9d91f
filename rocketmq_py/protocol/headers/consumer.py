"""Headers of the consumer requests: offsets, group membership, heartbeats, retries, locks.

See ``protocol.md`` 3.5-3.7. ``bname`` is the broker name that Java (4.9.x and 5.x) and Go clients
add, through ``RpcRequestHeader``, to the requests that address one broker's queue.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rocketmq_py.protocol.codes import RequestCode
from rocketmq_py.protocol.headers._base import CommandHeader, request_header, response_header

__all__ = [
    "ConsumerSendMsgBackRequestHeader",
    "GetConsumerListByGroupRequestHeader",
    "GetEarliestMsgStoretimeRequestHeader",
    "GetEarliestMsgStoretimeResponseHeader",
    "GetMaxOffsetRequestHeader",
    "GetMaxOffsetResponseHeader",
    "GetMinOffsetRequestHeader",
    "GetMinOffsetResponseHeader",
    "HeartbeatRequestHeader",
    "LockBatchMqRequestHeader",
    "NotifyConsumerIdsChangedRequestHeader",
    "QueryConsumerOffsetRequestHeader",
    "QueryConsumerOffsetResponseHeader",
    "SearchOffsetRequestHeader",
    "SearchOffsetResponseHeader",
    "UnlockBatchMqRequestHeader",
    "UnregisterClientRequestHeader",
    "UpdateConsumerOffsetRequestHeader",
]


@request_header(RequestCode.QUERY_CONSUMER_OFFSET)
@dataclass(slots=True)
class QueryConsumerOffsetRequestHeader(CommandHeader):
    """QUERY_CONSUMER_OFFSET (14): the group's committed offset of one queue."""

    consumer_group: str
    topic: str
    queue_id: int
    set_zero_if_not_found: bool | None = None
    bname: str | None = None


@response_header(RequestCode.QUERY_CONSUMER_OFFSET)
@dataclass(slots=True)
class QueryConsumerOffsetResponseHeader(CommandHeader):
    """Answer to QUERY_CONSUMER_OFFSET: the committed offset (QUERY_NOT_FOUND when none)."""

    offset: int


@request_header(RequestCode.UPDATE_CONSUMER_OFFSET)
@dataclass(slots=True)
class UpdateConsumerOffsetRequestHeader(CommandHeader):
    """UPDATE_CONSUMER_OFFSET (15): commit the group's offset of one queue (Java: oneway)."""

    consumer_group: str
    topic: str
    queue_id: int
    commit_offset: int
    bname: str | None = None


@request_header(RequestCode.SEARCH_OFFSET_BY_TIMESTAMP)
@dataclass(slots=True)
class SearchOffsetRequestHeader(CommandHeader):
    """SEARCH_OFFSET_BY_TIMESTAMP (29): the queue offset of the first message stored at a time.

    ``boundary_type`` is ``"LOWER"`` (default) or ``"UPPER"`` (5.x), matched case-insensitively.
    """

    topic: str
    queue_id: int
    timestamp: int
    boundary_type: str | None = None
    bname: str | None = None


@response_header(RequestCode.SEARCH_OFFSET_BY_TIMESTAMP)
@dataclass(slots=True)
class SearchOffsetResponseHeader(CommandHeader):
    """Answer to SEARCH_OFFSET_BY_TIMESTAMP: the offset found."""

    offset: int


@request_header(RequestCode.GET_MAX_OFFSET)
@dataclass(slots=True)
class GetMaxOffsetRequestHeader(CommandHeader):
    """GET_MAX_OFFSET (30): the next logical offset to be written in a queue.

    ``committed`` (5.x, default true): false also counts messages already in the commitlog
    but not yet dispatched to the consume queue.
    """

    topic: str
    queue_id: int
    committed: bool | None = None
    bname: str | None = None


@response_header(RequestCode.GET_MAX_OFFSET)
@dataclass(slots=True)
class GetMaxOffsetResponseHeader(CommandHeader):
    """Answer to GET_MAX_OFFSET: the queue's max offset."""

    offset: int


@request_header(RequestCode.GET_MIN_OFFSET)
@dataclass(slots=True)
class GetMinOffsetRequestHeader(CommandHeader):
    """GET_MIN_OFFSET (31): the smallest logical offset still readable in a queue."""

    topic: str
    queue_id: int
    bname: str | None = None


@response_header(RequestCode.GET_MIN_OFFSET)
@dataclass(slots=True)
class GetMinOffsetResponseHeader(CommandHeader):
    """Answer to GET_MIN_OFFSET: the queue's min offset."""

    offset: int


@request_header(RequestCode.GET_EARLIEST_MSG_STORETIME)
@dataclass(slots=True)
class GetEarliestMsgStoretimeRequestHeader(CommandHeader):
    """GET_EARLIEST_MSG_STORETIME (32): store time of the oldest message left in a queue."""

    topic: str
    queue_id: int
    bname: str | None = None


@response_header(RequestCode.GET_EARLIEST_MSG_STORETIME)
@dataclass(slots=True)
class GetEarliestMsgStoretimeResponseHeader(CommandHeader):
    """Answer to GET_EARLIEST_MSG_STORETIME: the store timestamp in milliseconds."""

    timestamp: int


@request_header(RequestCode.HEART_BEAT)
@dataclass(slots=True)
class HeartbeatRequestHeader(CommandHeader):
    """HEART_BEAT (34): the HeartbeatData body does the work; the header is empty or 5.x RPC fields.

    Java 5.x sends ``HeartbeatRequestHeader``, which holds only ``RpcRequestHeader``'s optional
    fields: namespace (``ns``), whether names are already namespaced (``nsd``), broker name
    (``bname``) and oneway (``oway``). Go and ali-ons send no extFields at all.
    """

    WIRE_NAMES: ClassVar = {"namespace": "ns", "namespaced": "nsd", "oneway": "oway"}

    namespace: str | None = None
    namespaced: bool | None = None
    bname: str | None = None
    oneway: bool | None = None


@request_header(RequestCode.UNREGISTER_CLIENT)
@dataclass(slots=True)
class UnregisterClientRequestHeader(CommandHeader):
    """UNREGISTER_CLIENT (35): a client leaves a producer and/or consumer group."""

    WIRE_NAMES: ClassVar = {"client_id": "clientID"}

    client_id: str
    producer_group: str | None = None
    consumer_group: str | None = None


@request_header(RequestCode.CONSUMER_SEND_MSG_BACK)
@dataclass(slots=True)
class ConsumerSendMsgBackRequestHeader(CommandHeader):
    """CONSUMER_SEND_MSG_BACK (36): hand a failed message back for retry (or the DLQ).

    ``offset`` is the consumed message's commitlog offset; ``delay_level`` 0 lets the broker pick
    ``3 + reconsumeTimes``, a negative level sends the message straight to the DLQ.
    """

    offset: int
    group: str
    delay_level: int
    origin_msg_id: str | None = None
    origin_topic: str | None = None
    unit_mode: bool | None = None
    max_reconsume_times: int | None = None
    bname: str | None = None


@request_header(RequestCode.GET_CONSUMER_LIST_BY_GROUP)
@dataclass(slots=True)
class GetConsumerListByGroupRequestHeader(CommandHeader):
    """GET_CONSUMER_LIST_BY_GROUP (38): the client ids of a group's live consumers (the body)."""

    consumer_group: str


@request_header(RequestCode.NOTIFY_CONSUMER_IDS_CHANGED)
@dataclass(slots=True)
class NotifyConsumerIdsChangedRequestHeader(CommandHeader):
    """NOTIFY_CONSUMER_IDS_CHANGED (40, broker to client, oneway): rebalance the group now."""

    consumer_group: str


@request_header(RequestCode.LOCK_BATCH_MQ)
@dataclass(slots=True)
class LockBatchMqRequestHeader(CommandHeader):
    """LOCK_BATCH_MQ (41): no header fields; the LockBatchRequestBody names group and queues."""


@request_header(RequestCode.UNLOCK_BATCH_MQ)
@dataclass(slots=True)
class UnlockBatchMqRequestHeader(CommandHeader):
    """UNLOCK_BATCH_MQ (42): no header fields; the UnlockBatchRequestBody names the queues."""
