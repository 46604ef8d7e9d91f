"""Headers of the admin requests (mqadmin and the dashboard) and the broker-to-client admin calls.

See ``protocol.md`` 3.10-3.11 and 11. Several admin requests carry everything in the body (or
nothing at all); they still get a class, with no fields, so that every code has one.
"""

from __future__ import annotations

from dataclasses import dataclass

from rocketmq_py.protocol.codes import RequestCode
from rocketmq_py.protocol.headers._base import CommandHeader, request_header, response_header

__all__ = [
    "ConsumeMessageDirectlyResultRequestHeader",
    "CreateTopicRequestHeader",
    "DeleteSubscriptionGroupRequestHeader",
    "DeleteTopicRequestHeader",
    "GetBrokerConfigRequestHeader",
    "GetBrokerConfigResponseHeader",
    "GetBrokerRuntimeInfoRequestHeader",
    "GetConsumeStatsRequestHeader",
    "GetConsumerConnectionListRequestHeader",
    "GetConsumerRunningInfoRequestHeader",
    "GetConsumerStatusRequestHeader",
    "GetProducerConnectionListRequestHeader",
    "GetTopicStatsInfoRequestHeader",
    "QueryTopicConsumeByWhoRequestHeader",
    "RecallMessageRequestHeader",
    "RecallMessageResponseHeader",
    "ResetOffsetRequestHeader",
    "UpdateSubscriptionGroupRequestHeader",
]


@request_header(RequestCode.UPDATE_AND_CREATE_TOPIC)
@dataclass(slots=True)
class CreateTopicRequestHeader(CommandHeader):
    """UPDATE_AND_CREATE_TOPIC (17): create or replace a topic's config on one broker.

    ``topic_filter_type`` is ``"SINGLE_TAG"`` or ``"MULTI_TAG"``; ``attributes`` (5.x) is a
    ``+key=value,...`` list such as ``"+message.type=NORMAL"``.
    """

    topic: str
    default_topic: str
    read_queue_nums: int
    write_queue_nums: int
    perm: int
    topic_filter_type: str
    order: bool
    topic_sys_flag: int | None = None
    attributes: str | None = None
    force: bool | None = None


@request_header(RequestCode.GET_BROKER_CONFIG)
@dataclass(slots=True)
class GetBrokerConfigRequestHeader(CommandHeader):
    """GET_BROKER_CONFIG (26): no header fields; the answer body is the properties text."""


@response_header(RequestCode.GET_BROKER_CONFIG)
@dataclass(slots=True)
class GetBrokerConfigResponseHeader(CommandHeader):
    """Answer to GET_BROKER_CONFIG: the config DataVersion as JSON text (its ``version`` field)."""

    version: str


@request_header(RequestCode.GET_BROKER_RUNTIME_INFO)
@dataclass(slots=True)
class GetBrokerRuntimeInfoRequestHeader(CommandHeader):
    """GET_BROKER_RUNTIME_INFO (28): no header fields; the answer body is a KVTable."""


@request_header(RequestCode.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP)
@dataclass(slots=True)
class UpdateSubscriptionGroupRequestHeader(CommandHeader):
    """UPDATE_AND_CREATE_SUBSCRIPTIONGROUP (200): no header fields; the body is the config."""


@request_header(RequestCode.GET_TOPIC_STATS_INFO)
@dataclass(slots=True)
class GetTopicStatsInfoRequestHeader(CommandHeader):
    """GET_TOPIC_STATS_INFO (202): min/max offsets of every queue of a topic (TopicStatsTable)."""

    topic: str


@request_header(RequestCode.GET_CONSUMER_CONNECTION_LIST)
@dataclass(slots=True)
class GetConsumerConnectionListRequestHeader(CommandHeader):
    """GET_CONSUMER_CONNECTION_LIST (203): a group's live consumers and their subscriptions."""

    consumer_group: str


@request_header(RequestCode.GET_PRODUCER_CONNECTION_LIST)
@dataclass(slots=True)
class GetProducerConnectionListRequestHeader(CommandHeader):
    """GET_PRODUCER_CONNECTION_LIST (204): a producer group's live connections."""

    producer_group: str


@request_header(RequestCode.DELETE_SUBSCRIPTIONGROUP)
@dataclass(slots=True)
class DeleteSubscriptionGroupRequestHeader(CommandHeader):
    """DELETE_SUBSCRIPTIONGROUP (207): drop a subscription group, optionally with its offsets.

    4.x names the offset switch ``removeOffset``, 5.x ``cleanOffset``; either may arrive.
    """

    group_name: str
    remove_offset: bool | None = None
    clean_offset: bool | None = None


@request_header(RequestCode.GET_CONSUME_STATS)
@dataclass(slots=True)
class GetConsumeStatsRequestHeader(CommandHeader):
    """GET_CONSUME_STATS (208): broker, consumer and pull offsets of a group, per queue.

    Without ``topic`` (or the 5.x ``;``-separated ``topic_list``) every topic the group has
    committed offsets for is reported.
    """

    consumer_group: str
    topic: str | None = None
    topic_list: str | None = None


@request_header(RequestCode.DELETE_TOPIC_IN_BROKER)
@dataclass(slots=True)
class DeleteTopicRequestHeader(CommandHeader):
    """DELETE_TOPIC_IN_BROKER (215): remove a topic's config and queues from one broker."""

    topic: str


@request_header(RequestCode.RESET_CONSUMER_CLIENT_OFFSET, RequestCode.INVOKE_BROKER_TO_RESET_OFFSET)
@dataclass(slots=True)
class ResetOffsetRequestHeader(CommandHeader):
    """RESET_CONSUMER_CLIENT_OFFSET (220) and INVOKE_BROKER_TO_RESET_OFFSET (222): rewind a group.

    mqadmin asks the broker (222) to reset ``group``'s offsets on ``topic`` to ``timestamp``;
    the broker tells each live consumer (220) with a ResetOffsetBody. 5.x adds ``queue_id``
    (``-1`` = every queue) and an explicit ``offset``.
    """

    topic: str
    group: str
    timestamp: int
    is_force: bool
    queue_id: int | None = None
    offset: int | None = None


@request_header(
    RequestCode.GET_CONSUMER_STATUS_FROM_CLIENT, RequestCode.INVOKE_BROKER_TO_GET_CONSUMER_STATUS
)
@dataclass(slots=True)
class GetConsumerStatusRequestHeader(CommandHeader):
    """GET_CONSUMER_STATUS_FROM_CLIENT (221) and INVOKE_BROKER_TO_GET_CONSUMER_STATUS (223)."""

    topic: str
    group: str
    client_addr: str | None = None


@request_header(RequestCode.QUERY_TOPIC_CONSUME_BY_WHO)
@dataclass(slots=True)
class QueryTopicConsumeByWhoRequestHeader(CommandHeader):
    """QUERY_TOPIC_CONSUME_BY_WHO (300): the groups consuming a topic (GroupList body)."""

    topic: str


@request_header(RequestCode.GET_CONSUMER_RUNNING_INFO)
@dataclass(slots=True)
class GetConsumerRunningInfoRequestHeader(CommandHeader):
    """GET_CONSUMER_RUNNING_INFO (307): admin to broker, forwarded to one consumer client."""

    consumer_group: str
    client_id: str
    jstack_enable: bool | None = None


@request_header(RequestCode.CONSUME_MESSAGE_DIRECTLY)
@dataclass(slots=True)
class ConsumeMessageDirectlyResultRequestHeader(CommandHeader):
    """CONSUME_MESSAGE_DIRECTLY (309): make one consumer client consume one message now.

    The broker forwards the request to ``client_id`` with the encoded message as the body.
    """

    consumer_group: str
    client_id: str | None = None
    msg_id: str | None = None
    broker_name: str | None = None
    topic: str | None = None
    topic_sys_flag: int | None = None
    group_sys_flag: int | None = None


@request_header(RequestCode.RECALL_MESSAGE)
@dataclass(slots=True)
class RecallMessageRequestHeader(CommandHeader):
    """RECALL_MESSAGE (370, 5.3+): cancel a not-yet-delivered timer message by its handle."""

    topic: str
    recall_handle: str
    producer_group: str | None = None


@response_header(RequestCode.RECALL_MESSAGE)
@dataclass(slots=True)
class RecallMessageResponseHeader(CommandHeader):
    """Answer to RECALL_MESSAGE: the message id of the recalled message."""

    msg_id: str
