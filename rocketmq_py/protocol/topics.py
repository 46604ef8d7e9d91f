"""Topic names with a meaning on the wire: templates, system topics, retry and DLQ prefixes.

Apache's ``TopicValidator`` and ``MixAll`` constants, shared by the SDK and the servers; the
broker's validation rules built on them live in ``broker.managers.topic_validator``.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "AUTO_CREATE_TOPIC_KEY_TOPIC",
    "DLQ_GROUP_TOPIC_PREFIX",
    "RETRY_GROUP_TOPIC_PREFIX",
    "RMQ_SYS_OFFSET_MOVED_EVENT",
    "RMQ_SYS_SCHEDULE_TOPIC",
    "RMQ_SYS_TRANS_CHECK_MAX_TIME_TOPIC",
    "RMQ_SYS_TRANS_HALF_TOPIC",
    "RMQ_SYS_TRANS_OP_HALF_TOPIC",
    "SYSTEM_TOPIC_PREFIX",
    "TIMER_TOPIC",
    "dlq_topic",
    "retry_topic",
]

AUTO_CREATE_TOPIC_KEY_TOPIC: Final = "TBW102"
"""The template topic of auto-creation on send (exists when ``autoCreateTopicEnable``)."""
RMQ_SYS_SCHEDULE_TOPIC: Final = "SCHEDULE_TOPIC_XXXX"
"""Delay-level messages wait here, one queue per level."""
RMQ_SYS_TRANS_HALF_TOPIC: Final = "RMQ_SYS_TRANS_HALF_TOPIC"
RMQ_SYS_TRANS_OP_HALF_TOPIC: Final = "RMQ_SYS_TRANS_OP_HALF_TOPIC"
RMQ_SYS_TRANS_CHECK_MAX_TIME_TOPIC: Final = "TRANS_CHECK_MAX_TIME_TOPIC"
RMQ_SYS_OFFSET_MOVED_EVENT: Final = "OFFSET_MOVED_EVENT"
SYSTEM_TOPIC_PREFIX: Final = "rmq_sys_"
TIMER_TOPIC: Final = SYSTEM_TOPIC_PREFIX + "wheel_timer"
"""5.x timer messages wait in this topic (``TimerMessageStore.TIMER_TOPIC``)."""
RETRY_GROUP_TOPIC_PREFIX: Final = "%RETRY%"
DLQ_GROUP_TOPIC_PREFIX: Final = "%DLQ%"


def retry_topic(group: str) -> str:
    """``%RETRY%<group>``: where a group's failed messages wait for redelivery."""
    return RETRY_GROUP_TOPIC_PREFIX + group


def dlq_topic(group: str) -> str:
    """``%DLQ%<group>``: where a group's messages go after the last retry."""
    return DLQ_GROUP_TOPIC_PREFIX + group
