"""Producers and consumers connected to the broker, known from heartbeats (``protocol.md`` 3.5).

Java's ``ProducerManager``, ``ConsumerManager`` and ``ConsumerGroupInfo``, as pure state: time
comes in as ``now_ms``, and nothing is sent or closed here. The broker

* registers clients on HEART_BEAT and drops them on UNREGISTER_CLIENT or when their channel
  closes (:meth:`ConsumerManager.on_channel_closed`, :meth:`ProducerManager.on_channel_closed`);
* every 10 s calls ``scan_not_active(now_ms)`` and closes the channels it returns (clients that
  sent no heartbeat for 120 s);
* sends NOTIFY_CONSUMER_IDS_CHANGED to the channels :class:`ConsumerManager` hands to its
  ``notify_ids_changed`` hook.

Consumer notification rules (Java's, with the 5.x broadcast exception):

1. The hook is called when a group gains a channel (a new client, or a client on a new
   connection), when its subscribed topics change, and when it loses a channel (unregister,
   channel closed, heartbeat expired). A heartbeat that changes nothing, or only a
   subscription's expression (a newer ``subVersion``), does not call it.
2. It is not called for BROADCASTING groups (their consumers do not rebalance), nor when the
   group's subscription group config disables ``notifyConsumerIdsChangedEnable``, nor when no
   channel is left to tell.
3. It receives every remaining channel of the group, the new one included.

Channels are compared by identity; anything with ``remote_address`` and ``is_open`` works in
tests.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from broker._server.channel import Channel
from rocketmq_py.protocol.bodies import (
    ConsumeFromWhere,
    ConsumeType,
    MessageModel,
    SubscriptionData,
)

__all__ = [
    "CHANNEL_EXPIRED_TIMEOUT_MS",
    "ClientChannelInfo",
    "ConsumerGroupInfo",
    "ConsumerManager",
    "NotifyIdsChanged",
    "ProducerManager",
]

log = logging.getLogger("broker")

#: A client without heartbeat for this long is dropped (Java ``channelExpiredTimeout``).
CHANNEL_EXPIRED_TIMEOUT_MS = 120_000

#: ``(group, channels)``: tell these channels that the group's consumer ids changed.
NotifyIdsChanged = Callable[[str, list[Channel]], None]


@dataclass(slots=True, eq=False)
class ClientChannelInfo:
    """One client connection as a heartbeat described it (``ClientChannelInfo``).

    Attributes:
        client_id: the heartbeat's ``clientID`` (``ip@instance``).
        language: the request's language by name (``"JAVA"``), as connection lists show it.
        version: the request's ``version`` (MQVersion ordinal).
        last_update_ms: when its last heartbeat arrived.
        channel: the connection; set by the managers when the client registers.
    """

    client_id: str
    language: str = "JAVA"
    version: int = 0
    last_update_ms: int = 0
    channel: Channel | None = field(default=None, repr=False)


def _remote(channel: Channel) -> str:
    return str(getattr(channel, "remote_address", channel))


# --------------------------------------------------------------------------------------------
# Producers


class ProducerManager:
    """Producer groups and their channels; used for transaction check-back and admin queries.

    Not thread-safe: use it from the broker's event loop.
    """

    def __init__(self) -> None:
        self._groups: dict[str, dict[Channel, ClientChannelInfo]] = {}
        self._next = 0  # round-robin position of available_channel

    def register(self, group: str, channel: Channel, info: ClientChannelInfo) -> bool:
        """Record a producer heartbeat; ``info.last_update_ms`` is taken as the time.

        Args:
            group: the producer group.
            channel: the connection the heartbeat came on.
            info: the client; its ``channel`` is set here.

        Returns:
            Whether this channel is new in the group.
        """
        info.channel = channel
        table = self._groups.setdefault(group, {})
        found = table.get(channel)
        if found is None or found.client_id != info.client_id:
            table[channel] = info
            if found is None:
                log.info("new producer connected, group: %s channel: %s", group, info)
            return found is None
        found.last_update_ms = info.last_update_ms
        return False

    def unregister(self, group: str, channel: Channel) -> bool:
        """Drop the channel from the group (UNREGISTER_CLIENT); returns whether it was there."""
        table = self._groups.get(group)
        if table is None:
            return False
        old = table.pop(channel, None)
        if old is not None:
            log.info("unregister a producer[%s] from groupChannelTable %s", group, old)
        if not table:
            del self._groups[group]
            log.info("unregister a producer group[%s] from groupChannelTable", group)
        return old is not None

    def on_channel_closed(self, channel: Channel) -> list[str]:
        """Drop a closed channel from every group; returns the groups it was in."""
        removed = []
        for group, table in list(self._groups.items()):
            info = table.pop(channel, None)
            if info is not None:
                removed.append(group)
                log.info(
                    "NETTY EVENT: remove channel[%s][%s] from ProducerManager groupChannelTable, "
                    "producer group: %s",
                    info,
                    _remote(channel),
                    group,
                )
                if not table:
                    del self._groups[group]
        return removed

    def scan_not_active(
        self, now_ms: int, timeout_ms: int = CHANNEL_EXPIRED_TIMEOUT_MS
    ) -> list[Channel]:
        """Drop registrations without a heartbeat for more than ``timeout_ms``.

        Returns:
            The channels dropped (each once); the caller closes them.
        """
        expired: dict[Channel, None] = {}
        for group, table in list(self._groups.items()):
            for channel, info in list(table.items()):
                if now_ms - info.last_update_ms > timeout_ms:
                    del table[channel]
                    expired[channel] = None
                    log.warning(
                        "SCAN: remove expired channel[%s] from ProducerManager groupChannelTable, "
                        "producer group name: %s",
                        _remote(channel),
                        group,
                    )
            if not table:
                del self._groups[group]
        return list(expired)

    def available_channel(self, group: str) -> Channel | None:
        """An open channel of the group, taken in turn (transaction check-back), or ``None``."""
        table = self._groups.get(group)
        if not table:
            log.warning("Check transaction failed, channel table is empty. groupId=%s", group)
            return None
        channels = list(table)
        start = self._next % len(channels)
        self._next += 1
        for i in range(len(channels)):
            channel = channels[(start + i) % len(channels)]
            if channel.is_open:
                return channel
        return None

    def find_channel(self, client_id: str) -> Channel | None:
        """A channel a producer with this client id registered on, or ``None``."""
        for table in self._groups.values():
            for channel, info in table.items():
                if info.client_id == client_id:
                    return channel
        return None

    def group_channels(self, group: str) -> dict[Channel, ClientChannelInfo]:
        """A copy of the group's channels (GET_PRODUCER_CONNECTION_LIST); empty if unknown."""
        return dict(self._groups.get(group, {}))

    def groups(self) -> list[str]:
        """Producer groups with at least one channel."""
        return list(self._groups)


# --------------------------------------------------------------------------------------------
# Consumers


@dataclass(slots=True, eq=False)
class ConsumerGroupInfo:
    """One consumer group's online clients and subscriptions (``ConsumerGroupInfo``).

    Attributes:
        group_name: the group.
        consume_type: as in the latest heartbeat.
        message_model: as in the latest heartbeat.
        consume_from_where: as in the latest heartbeat.
        channels: channel -> client, in registration order.
        subscriptions: topic -> subscription.
        last_update_ms: time of the latest heartbeat.
        notify_enabled: the group's ``notifyConsumerIdsChangedEnable``, as last registered.
    """

    group_name: str
    consume_type: ConsumeType
    message_model: MessageModel
    consume_from_where: ConsumeFromWhere
    channels: dict[Channel, ClientChannelInfo] = field(default_factory=dict)
    subscriptions: dict[str, SubscriptionData] = field(default_factory=dict)
    last_update_ms: int = 0
    notify_enabled: bool = True

    def all_channels(self) -> list[Channel]:
        """Every channel of the group."""
        return list(self.channels)

    def all_client_ids(self) -> list[str]:
        """Client ids in registration order, each once."""
        return list(dict.fromkeys(info.client_id for info in self.channels.values()))

    def find_channel(self, client_id: str) -> ClientChannelInfo | None:
        """The client with this id (its ``channel`` set), or ``None``."""
        for info in self.channels.values():
            if info.client_id == client_id:
                return info
        return None

    def find_subscription(self, topic: str) -> SubscriptionData | None:
        """The group's subscription to ``topic``, or ``None``."""
        return self.subscriptions.get(topic)

    def subscribe_topics(self) -> set[str]:
        """The topics the group subscribes."""
        return set(self.subscriptions)

    def update_channel(
        self,
        info: ClientChannelInfo,
        channel: Channel,
        *,
        consume_type: ConsumeType,
        message_model: MessageModel,
        consume_from_where: ConsumeFromWhere,
        now_ms: int,
    ) -> bool:
        """Record a heartbeat on ``channel``; returns whether the group's client set changed."""
        self.consume_type = consume_type
        self.message_model = message_model
        self.consume_from_where = consume_from_where
        self.last_update_ms = now_ms
        old = self.channels.get(channel)
        if old is not None and old.client_id == info.client_id:
            old.last_update_ms = now_ms
            return False
        if old is None:
            log.info(
                "new consumer connected, group: %s %s %s channel: %s",
                self.group_name,
                consume_type.value,
                message_model.value,
                info,
            )
        else:
            log.error(
                "[BUG] consumer channel exist in broker, but clientId not equal. "
                "GROUP: %s OLD: %s NEW: %s",
                self.group_name,
                old,
                info,
            )
        info.channel = channel
        info.last_update_ms = now_ms
        self.channels[channel] = info
        return True

    def update_subscriptions(self, subscriptions: Iterable[SubscriptionData], now_ms: int) -> bool:
        """Replace the subscription table; returns whether a topic was added or removed.

        A known topic's subscription is replaced only by one with a higher ``subVersion``
        (a changed expression), which does not count as a change.
        """
        changed = False
        topics = set()
        for sub in subscriptions:
            topics.add(sub.topic)
            old = self.subscriptions.get(sub.topic)
            if old is None:
                self.subscriptions[sub.topic] = sub
                changed = True
                log.info("subscription changed, add new topic, group: %s %s", self.group_name, sub)
            elif sub.sub_version > old.sub_version:
                if self.consume_type is ConsumeType.CONSUME_PASSIVELY:
                    log.info(
                        "subscription changed, group: %s OLD: %s NEW: %s", self.group_name, old, sub
                    )
                self.subscriptions[sub.topic] = sub
        for topic in [t for t in self.subscriptions if t not in topics]:
            old = self.subscriptions.pop(topic)
            changed = True
            log.warning(
                "subscription changed, group: %s remove topic %s %s", self.group_name, topic, old
            )
        self.last_update_ms = now_ms
        return changed

    def remove_channel(self, channel: Channel) -> ClientChannelInfo | None:
        """Drop a channel; returns its client, or ``None`` if it was not in the group."""
        return self.channels.pop(channel, None)


class ConsumerManager:
    """Consumer groups online at this broker (``ConsumerManager``).

    Not thread-safe: use it from the broker's event loop.

    Attributes:
        notify_ids_changed: called as ``(group, channels)`` when the group's membership changes
            (see the module docstring); errors are logged.
    """

    def __init__(self, notify_ids_changed: NotifyIdsChanged | None = None) -> None:
        self.notify_ids_changed = notify_ids_changed
        self._groups: dict[str, ConsumerGroupInfo] = {}

    # -- registration -----------------------------------------------------------------------

    def register_consumer(  # noqa: PLR0917 - the processors call it positionally
        self,
        group: str,
        channel: Channel,
        channel_info: ClientChannelInfo,
        consume_type: ConsumeType,
        message_model: MessageModel,
        consume_from_where: ConsumeFromWhere,
        subscriptions: list[SubscriptionData],
        now_ms: int,
        *,
        notify_enabled: bool = True,
    ) -> bool:
        """Record a consumer heartbeat for one group.

        Args:
            group: the consumer group.
            channel: the connection the heartbeat came on.
            channel_info: the client; stored (with ``channel`` and ``last_update_ms`` set) when
                the channel is new to the group, else only the stored client's time is updated.
            consume_type: from the heartbeat.
            message_model: from the heartbeat.
            consume_from_where: from the heartbeat.
            subscriptions: the group's full subscription list from the heartbeat.
            now_ms: the time of the heartbeat.
            notify_enabled: the group's ``notifyConsumerIdsChangedEnable``.

        Returns:
            Whether the group's clients or subscribed topics changed.
        """
        info = self._groups.get(group)
        if info is None:
            info = ConsumerGroupInfo(group, consume_type, message_model, consume_from_where)
            self._groups[group] = info
        info.notify_enabled = notify_enabled
        clients_changed = info.update_channel(
            channel_info,
            channel,
            consume_type=consume_type,
            message_model=message_model,
            consume_from_where=consume_from_where,
            now_ms=now_ms,
        )
        topics_changed = info.update_subscriptions(subscriptions, now_ms)
        if clients_changed or topics_changed:
            self._notify(info)
        return clients_changed or topics_changed

    def unregister_consumer(self, group: str, channel: Channel) -> bool:
        """Drop the channel from the group (UNREGISTER_CLIENT); returns whether it was there."""
        info = self._groups.get(group)
        if info is None:
            return False
        old = info.remove_channel(channel)
        if old is None:
            return False
        log.info("unregister a consumer[%s] from consumerGroupInfo %s", group, old)
        self._after_removal(info)
        return True

    def on_channel_closed(self, channel: Channel) -> list[str]:
        """Drop a closed channel from every group; returns the groups it was in."""
        removed = []
        for info in list(self._groups.values()):
            old = info.remove_channel(channel)
            if old is not None:
                removed.append(info.group_name)
                log.warning(
                    "NETTY EVENT: remove not active channel[%s] from ConsumerGroupInfo "
                    "groupChannelTable, consumer group: %s",
                    old,
                    info.group_name,
                )
                self._after_removal(info)
        return removed

    def scan_not_active(
        self, now_ms: int, timeout_ms: int = CHANNEL_EXPIRED_TIMEOUT_MS
    ) -> list[Channel]:
        """Drop clients without a heartbeat for more than ``timeout_ms``.

        Returns:
            The channels dropped (each once); the caller closes them.
        """
        expired: dict[Channel, None] = {}
        for info in list(self._groups.values()):
            dropped = [
                channel
                for channel, client in info.channels.items()
                if now_ms - client.last_update_ms > timeout_ms
            ]
            for channel in dropped:
                del info.channels[channel]
                expired[channel] = None
                log.warning(
                    "SCAN: remove expired channel from ConsumerManager consumerTable. "
                    "channel=%s, consumerGroup=%s",
                    _remote(channel),
                    info.group_name,
                )
            if dropped:
                self._after_removal(info)
        return list(expired)

    def _after_removal(self, info: ConsumerGroupInfo) -> None:
        if info.channels:
            self._notify(info)
        elif self._groups.pop(info.group_name, None) is not None:
            log.info(
                "unregister consumer ok, no any connection, and remove consumer group, %s",
                info.group_name,
            )

    def _notify(self, info: ConsumerGroupInfo) -> None:
        if (
            self.notify_ids_changed is None
            or not info.notify_enabled
            or info.message_model is MessageModel.BROADCASTING
            or not info.channels
        ):
            return
        try:
            self.notify_ids_changed(info.group_name, info.all_channels())
        except Exception:
            log.exception("consumer ids changed hook failed for group %s", info.group_name)

    # -- queries ----------------------------------------------------------------------------

    def group_info(self, group: str) -> ConsumerGroupInfo | None:
        """The group's online state, or ``None`` when no client of it is connected."""
        return self._groups.get(group)

    def groups(self) -> list[str]:
        """Groups with at least one online client."""
        return list(self._groups)

    def find_subscription(self, group: str, topic: str) -> SubscriptionData | None:
        """The group's subscription to ``topic`` as its clients reported it, or ``None``."""
        info = self._groups.get(group)
        return info.find_subscription(topic) if info is not None else None

    def find_channel(self, group: str, client_id: str) -> ClientChannelInfo | None:
        """The group's client with this id (``.channel`` is its connection), or ``None``."""
        info = self._groups.get(group)
        return info.find_channel(client_id) if info is not None else None

    def all_client_ids(self, group: str) -> list[str]:
        """The group's client ids in registration order (GET_CONSUMER_LIST_BY_GROUP); sort them
        yourself if needed. Empty when the group is not online."""
        info = self._groups.get(group)
        return info.all_client_ids() if info is not None else []

    def query_topic_consume_by_who(self, topic: str) -> set[str]:
        """Online groups subscribing ``topic`` (QUERY_TOPIC_CONSUME_BY_WHO adds offset owners)."""
        return {name for name, info in self._groups.items() if topic in info.subscriptions}
