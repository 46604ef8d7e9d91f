"""Namespaces: several applications sharing one cluster without name clashes (Java's NamespaceUtil).

With namespace ``ns`` a topic or group ``T`` is ``ns%T`` on the wire; retry and dead-letter
names keep their prefix first (``%RETRY%ns%G``); the template topic and system names are never
wrapped. Applications always see the names without the namespace.
"""

from __future__ import annotations

from dataclasses import replace

from rocketmq_py.message import MessageQueueRef
from rocketmq_py.protocol.topics import (
    AUTO_CREATE_TOPIC_KEY_TOPIC,
    DLQ_GROUP_TOPIC_PREFIX,
    RETRY_GROUP_TOPIC_PREFIX,
    RMQ_SYS_OFFSET_MOVED_EVENT,
    RMQ_SYS_SCHEDULE_TOPIC,
    RMQ_SYS_TRANS_HALF_TOPIC,
    SYSTEM_TOPIC_PREFIX,
)

__all__ = ["unwrap", "unwrap_queue", "wrap", "wrap_queue"]

_SEPARATOR = "%"
_PREFIXES = (RETRY_GROUP_TOPIC_PREFIX, DLQ_GROUP_TOPIC_PREFIX)
_SYSTEM = frozenset(
    {
        AUTO_CREATE_TOPIC_KEY_TOPIC,
        RMQ_SYS_SCHEDULE_TOPIC,
        RMQ_SYS_TRANS_HALF_TOPIC,
        RMQ_SYS_OFFSET_MOVED_EVENT,
    }
)


def wrap(namespace: str | None, resource: str) -> str:
    """``resource`` as it goes on the wire under ``namespace``."""
    if (
        not namespace
        or not resource
        or resource in _SYSTEM
        or resource.startswith(SYSTEM_TOPIC_PREFIX)
    ):
        return resource
    prefix = next((p for p in _PREFIXES if resource.startswith(p)), "")
    bare = resource[len(prefix) :]
    if bare.startswith(namespace + _SEPARATOR):
        return resource
    return f"{prefix}{namespace}{_SEPARATOR}{bare}"


def unwrap(namespace: str | None, resource: str) -> str:
    """``resource`` as the application named it (the namespace removed)."""
    if not namespace:
        return resource
    prefix = next((p for p in _PREFIXES if resource.startswith(p)), "")
    bare = resource[len(prefix) :]
    if bare.startswith(namespace + _SEPARATOR):
        return prefix + bare[len(namespace) + 1 :]
    return resource


def wrap_queue(namespace: str | None, queue: MessageQueueRef) -> MessageQueueRef:
    """The queue with its topic wrapped."""
    return replace(queue, topic=wrap(namespace, queue.topic)) if namespace else queue


def unwrap_queue(namespace: str | None, queue: MessageQueueRef) -> MessageQueueRef:
    """The queue with its topic unwrapped."""
    return replace(queue, topic=unwrap(namespace, queue.topic)) if namespace else queue
