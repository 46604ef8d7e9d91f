"""Topic and group names: the reserved ones, and Java's validation rules (``TopicValidator``).

The remarks are the ones a Java broker answers with (4.9.x through 5.3.3 use the same texts for
topics). The client-side texts of Java's ``Validators`` (``"The specified topic[%s] contains
illegal characters ..."``) never travel from a broker, so they are not used here. Group remarks
follow Apache's development branch, the first to validate groups on the broker.
"""

from __future__ import annotations

from typing import Final

from rocketmq_py.protocol.topics import (
    AUTO_CREATE_TOPIC_KEY_TOPIC,
    DLQ_GROUP_TOPIC_PREFIX,
    RETRY_GROUP_TOPIC_PREFIX,
    RMQ_SYS_OFFSET_MOVED_EVENT,
    RMQ_SYS_SCHEDULE_TOPIC,
    RMQ_SYS_TRANS_CHECK_MAX_TIME_TOPIC,
    RMQ_SYS_TRANS_HALF_TOPIC,
    RMQ_SYS_TRANS_OP_HALF_TOPIC,
    SYSTEM_TOPIC_PREFIX,
    TIMER_TOPIC,
    dlq_topic,
    retry_topic,
)

__all__ = [
    "AUTO_CREATE_TOPIC_KEY_TOPIC",
    "DLQ_GROUP_TOPIC_PREFIX",
    "GROUP_MAX_LENGTH",
    "NOT_ALLOWED_SEND_TOPICS",
    "REPLY_TOPIC_POSTFIX",
    "RETRY_GROUP_TOPIC_PREFIX",
    "RETRY_OR_DLQ_TOPIC_MAX_LENGTH",
    "RMQ_SYS_BENCHMARK_TOPIC",
    "RMQ_SYS_OFFSET_MOVED_EVENT",
    "RMQ_SYS_ROCKSDB_OFFSET_TOPIC",
    "RMQ_SYS_SCHEDULE_TOPIC",
    "RMQ_SYS_SELF_TEST_TOPIC",
    "RMQ_SYS_TRACE_TOPIC",
    "RMQ_SYS_TRANS_CHECK_MAX_TIME_TOPIC",
    "RMQ_SYS_TRANS_HALF_TOPIC",
    "RMQ_SYS_TRANS_OP_HALF_TOPIC",
    "SYNC_BROKER_MEMBER_GROUP_PREFIX",
    "SYSTEM_TOPICS",
    "SYSTEM_TOPIC_PREFIX",
    "TIMER_TOPIC",
    "TOPIC_MAX_LENGTH",
    "dlq_topic",
    "is_dlq_topic",
    "is_not_allowed_send_topic",
    "is_retry_topic",
    "is_system_topic",
    "is_topic_or_group_illegal",
    "not_allowed_send_remark",
    "reply_topic",
    "retry_topic",
    "system_topic_conflict_remark",
    "validate_group",
    "validate_topic",
]

RMQ_SYS_BENCHMARK_TOPIC: Final = "BenchmarkTest"
RMQ_SYS_TRACE_TOPIC: Final = "RMQ_SYS_TRACE_TOPIC"
RMQ_SYS_SELF_TEST_TOPIC: Final = "SELF_TEST_TOPIC"
RMQ_SYS_ROCKSDB_OFFSET_TOPIC: Final = "CHECKPOINT_TOPIC"
SYNC_BROKER_MEMBER_GROUP_PREFIX: Final = SYSTEM_TOPIC_PREFIX + "SYNC_BROKER_MEMBER_"
REPLY_TOPIC_POSTFIX: Final = "REPLY_TOPIC"

TOPIC_MAX_LENGTH: Final = 127
RETRY_OR_DLQ_TOPIC_MAX_LENGTH: Final = 255
"""Retry and DLQ topics may be longer: a 5.x pop retry topic is ``%RETRY%<group>_<topic>``."""
GROUP_MAX_LENGTH: Final = 120

SYSTEM_TOPICS: Final = frozenset(
    {
        AUTO_CREATE_TOPIC_KEY_TOPIC,
        RMQ_SYS_SCHEDULE_TOPIC,
        RMQ_SYS_BENCHMARK_TOPIC,
        RMQ_SYS_TRANS_HALF_TOPIC,
        RMQ_SYS_TRACE_TOPIC,
        RMQ_SYS_TRANS_OP_HALF_TOPIC,
        RMQ_SYS_TRANS_CHECK_MAX_TIME_TOPIC,
        RMQ_SYS_SELF_TEST_TOPIC,
        RMQ_SYS_OFFSET_MOVED_EVENT,
        RMQ_SYS_ROCKSDB_OFFSET_TOPIC,
    }
)
"""Java's fixed system topics; a broker adds its cluster, broker and reply topics at start."""

NOT_ALLOWED_SEND_TOPICS: Final = frozenset(
    {
        RMQ_SYS_SCHEDULE_TOPIC,
        RMQ_SYS_TRANS_HALF_TOPIC,
        RMQ_SYS_TRANS_OP_HALF_TOPIC,
        RMQ_SYS_TRANS_CHECK_MAX_TIME_TOPIC,
        RMQ_SYS_SELF_TEST_TOPIC,
        RMQ_SYS_OFFSET_MOVED_EVENT,
    }
)
"""Topics only the broker itself writes (Java's ``NOT_ALLOWED_SEND_TOPIC_SET``)."""

_TOPIC_BLANK: Final = "The specified topic is blank."
_TOPIC_ILLEGAL: Final = (
    "The specified topic contains illegal characters, allowing only ^[%|a-zA-Z0-9_-]+$"
)
_TOPIC_TOO_LONG: Final = "The specified topic is longer than topic max length."

_VALID_CHARS: Final = frozenset(
    "%|_-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)
# Java's Character.isWhitespace: Unicode space separators except the no-break ones, plus
# the ASCII controls \t \n \v \f \r and the information separators \x1c-\x1f.
_NO_BREAK_SPACES: Final = frozenset("\u00a0\u2007\u202f")
_JAVA_CONTROL_WHITESPACE: Final = frozenset("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f")


def _is_java_whitespace(ch: str) -> bool:
    if ch in _JAVA_CONTROL_WHITESPACE:
        return True
    return ch.isspace() and ch not in _NO_BREAK_SPACES and ch not in "\x85"


def _is_blank(text: str) -> bool:
    """Java's ``UtilAll.isBlank``: empty or only whitespace."""
    return all(_is_java_whitespace(ch) for ch in text)


def is_topic_or_group_illegal(name: str) -> bool:
    """Whether ``name`` has a character outside ``^[%|a-zA-Z0-9_-]+$``."""
    return not _VALID_CHARS.issuperset(name)


def validate_topic(topic: str | None) -> str | None:
    """Check a topic name as a Java broker does before sending or creating.

    Returns:
        ``None`` when the name is valid, else the remark a Java broker answers with
        (response code SYSTEM_ERROR).
    """
    if topic is None or _is_blank(topic):
        return _TOPIC_BLANK
    if is_topic_or_group_illegal(topic):
        return _TOPIC_ILLEGAL
    limit = (
        RETRY_OR_DLQ_TOPIC_MAX_LENGTH
        if is_retry_topic(topic) or is_dlq_topic(topic)
        else TOPIC_MAX_LENGTH
    )
    if len(topic) > limit:
        return _TOPIC_TOO_LONG
    return None


def validate_group(group: str | None) -> str | None:
    """Check a consumer or producer group name (same characters as topics, at most 120).

    Returns:
        ``None`` when the name is valid, else the remark to answer with.
    """
    if group is None or _is_blank(group):
        return "The specified group is blank."
    if is_topic_or_group_illegal(group):
        return (
            f"The specified group: {group}, contains illegal characters, "
            "allowing only ^[%|a-zA-Z0-9_-]+$"
        )
    if len(group) > GROUP_MAX_LENGTH:
        return f"The specified group: {group}, is longer than group max length: {GROUP_MAX_LENGTH}"
    return None


def is_system_topic(topic: str) -> bool:
    """Whether ``topic`` is one of Java's fixed system topics or starts with ``rmq_sys_``.

    :meth:`~broker.managers.TopicConfigManager.is_system_topic` also knows the topics a
    broker adds at start (its cluster, broker and reply topics).
    """
    return topic in SYSTEM_TOPICS or topic.startswith(SYSTEM_TOPIC_PREFIX)


def is_not_allowed_send_topic(topic: str) -> bool:
    """Whether producers may not send to ``topic``: the broker's own internal topics.

    Java's set, plus every ``rmq_sys_`` topic (timer wheel, pop revive, broker member sync):
    Java lets a client write into those, which only corrupts broker state.
    ``RMQ_SYS_TRACE_TOPIC`` stays writable: message trace producers send there.
    """
    return topic in NOT_ALLOWED_SEND_TOPICS or topic.startswith(SYSTEM_TOPIC_PREFIX)


def not_allowed_send_remark(topic: str) -> str:
    """The remark of the NO_PERMISSION answer to a send to a forbidden topic."""
    return f"Sending message to topic[{topic}] is forbidden."


def system_topic_conflict_remark(topic: str) -> str:
    """The remark of the SYSTEM_ERROR answer to creating a topic named like a system topic."""
    return f"The topic[{topic}] is conflict with system topic."


def reply_topic(cluster_name: str) -> str:
    """``<cluster>_REPLY_TOPIC``: request-reply responses of a cluster."""
    return f"{cluster_name}_{REPLY_TOPIC_POSTFIX}"


def is_retry_topic(topic: str) -> bool:
    """Whether ``topic`` is a ``%RETRY%`` topic."""
    return topic.startswith(RETRY_GROUP_TOPIC_PREFIX)


def is_dlq_topic(topic: str) -> bool:
    """Whether ``topic`` is a ``%DLQ%`` topic."""
    return topic.startswith(DLQ_GROUP_TOPIC_PREFIX)
