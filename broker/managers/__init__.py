"""The broker's metadata: topics, consumer offsets, subscription groups and connected clients.

Pure state with JSON persistence in Apache's file formats (``protocol.md`` 6.9), no sockets:
time is passed in (``now_ms``) or read from an injectable clock.

* :class:`TopicConfigManager`: ``topics.json``, system topics, auto-creation on send.
* :class:`ConsumerOffsetManager`: ``consumerOffset.json``, committed offsets.
* :class:`SubscriptionGroupManager`: ``subscriptionGroup.json``, consumer group settings.
* :class:`ProducerManager`, :class:`ConsumerManager`: clients known from heartbeats.
* :mod:`broker.managers.topic_validator`: reserved names and name validation.
"""

from broker.managers.clients import (
    CHANNEL_EXPIRED_TIMEOUT_MS,
    ClientChannelInfo,
    ConsumerGroupInfo,
    ConsumerManager,
    NotifyIdsChanged,
    ProducerManager,
)
from broker.managers.consumer_offset import ConsumerOffsetManager
from broker.managers.subscription_group import SubscriptionGroupConfig, SubscriptionGroupManager
from broker.managers.topic_config import TopicConfigManager
from broker.managers.topic_validator import (
    dlq_topic,
    retry_topic,
    validate_group,
    validate_topic,
)

__all__ = [
    "CHANNEL_EXPIRED_TIMEOUT_MS",
    "ClientChannelInfo",
    "ConsumerGroupInfo",
    "ConsumerManager",
    "ConsumerOffsetManager",
    "NotifyIdsChanged",
    "ProducerManager",
    "SubscriptionGroupConfig",
    "SubscriptionGroupManager",
    "TopicConfigManager",
    "dlq_topic",
    "retry_topic",
    "validate_group",
    "validate_topic",
]
