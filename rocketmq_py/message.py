"""Messages as applications see them: :class:`Message` to send, :class:`MessageView` received.

Both map onto the wire properties of Apache RocketMQ (``TAGS``, ``KEYS``, ``DELAY``, ``WAIT``,
``UNIQ_KEY`` ...), so a message sent from Python looks the same to a Java consumer as one sent
by the Java client.
"""

from __future__ import annotations

import enum
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from rocketmq_py.exceptions import ConfigError
from rocketmq_py.protocol.message import (
    SYSTEM_PROPERTY_KEYS,
    MessageConst,
    MessageRecord,
    MessageSysFlag,
    decompress_body,
)
from rocketmq_py.protocol.topics import RETRY_GROUP_TOPIC_PREFIX

__all__ = ["Message", "MessageQueueRef", "MessageView", "SendResult", "SendStatus"]

MC = MessageConst
DEFAULT_MAX_TIMER_DELAY_MS = 259_200_000
"""A broker's default ``timerMaxDelaySec`` (3 days) in ms: the client-side bound of ``delay`` and
``deliver_at`` (the broker checks its own configured maximum)."""
MAX_DELAY_LEVEL = 18


@dataclass
class Message:
    """A message to send.

    Args:
        topic: destination topic.
        body: payload bytes (``str`` is encoded as UTF-8).
        tags: one tag, used by consumers' tag filters.
        keys: business keys (a string with space-separated keys, or a sequence) indexed by the
            broker for QUERY_MESSAGE.
        properties: user properties (names must not collide with RocketMQ's own).
        delay_level: 1..18 delay level (0 = deliver now); the broker's ``messageDelayLevel``
            says how long each level waits (1s 5s 10s 30s 1m ... 2h by default).
        wait_store_msg_ok: answer only after the broker stored (and, with SYNC_FLUSH, flushed).
        flag: the user flag stored with the message.
        deliver_at: deliver at this time (a ``datetime``, naive meaning local time, or epoch
            milliseconds): a 5.x timer message (``TIMER_DELIVER_MS``). A time in the past
            delivers at once; at most 3 days ahead (the broker's default ``timerMaxDelaySec``).
            The broker answers a recall handle (``SendResult.recall_handle``).
        delay: deliver after this long (a ``timedelta`` or seconds), measured by the broker's
            clock: ``TIMER_DELAY_SEC`` for whole seconds, else ``TIMER_DELAY_MS``. At most 3
            days.

    At most one of ``delay_level``, ``deliver_at`` and ``delay`` may be set.
    """

    topic: str
    body: bytes | str
    tags: str | None = None
    keys: str | Sequence[str] | None = None
    properties: Mapping[str, str] = field(default_factory=dict)
    delay_level: int = 0
    wait_store_msg_ok: bool = True
    flag: int = 0
    deliver_at: datetime | int | None = None
    delay: timedelta | float | None = None

    def body_bytes(self) -> bytes:
        """The body as bytes."""
        return self.body.encode() if isinstance(self.body, str) else bytes(self.body)

    def wire_properties(
        self, *, now_ms: int | None = None, max_delay_ms: int = DEFAULT_MAX_TIMER_DELAY_MS
    ) -> dict[str, str]:
        """The properties as they go on the wire (user ones plus RocketMQ's).

        Args:
            now_ms: the current time for checking ``deliver_at`` (default: this host's clock).
            max_delay_ms: how far ahead ``deliver_at`` and ``delay`` may reach.

        Raises:
            ConfigError: a reserved property name, or a bad ``delay_level``, ``deliver_at`` or
                ``delay`` (naming the field and the value).
        """
        props: dict[str, str] = {}
        for name, value in self.properties.items():
            if name in SYSTEM_PROPERTY_KEYS:
                raise ConfigError("properties", name, "is a reserved RocketMQ property name")
            props[str(name)] = str(value)
        if self.tags:
            props[MC.PROPERTY_TAGS] = self.tags
        if self.keys:
            keys = self.keys if isinstance(self.keys, str) else " ".join(self.keys)
            props[MC.PROPERTY_KEYS] = keys
        if self.delay_level or self.deliver_at is not None or self.delay is not None:
            props.update(self._schedule_properties(now_ms, max_delay_ms))
        props[MC.PROPERTY_WAIT_STORE_MSG_OK] = "true" if self.wait_store_msg_ok else "false"
        return props

    def _schedule_properties(self, now_ms: int | None, max_delay_ms: int) -> dict[str, str]:
        """``DELAY`` or ``TIMER_*`` for the one scheduling field that is set (checked)."""
        chosen = [
            name
            for name, unset in (
                ("delay_level", not self.delay_level),
                ("deliver_at", self.deliver_at is None),
                ("delay", self.delay is None),
            )
            if not unset
        ]
        if len(chosen) > 1:
            values = {name: getattr(self, name) for name in chosen}
            raise ConfigError(
                chosen[1], values[chosen[1]], f"set only one of {', '.join(chosen)}, not both"
            )
        if self.delay_level:
            level = self.delay_level
            if isinstance(level, bool) or not isinstance(level, int):
                raise ConfigError("delay_level", level, "must be an int between 1 and 18")
            if not 0 < level <= MAX_DELAY_LEVEL:
                raise ConfigError("delay_level", level, "must be between 1 and 18")
            return {MC.PROPERTY_DELAY_TIME_LEVEL: str(level)}
        if self.deliver_at is not None:
            return {MC.PROPERTY_TIMER_DELIVER_MS: str(self._deliver_ms(now_ms, max_delay_ms))}
        if self.delay is not None:
            delay_ms = self._delay_ms(max_delay_ms)
            if delay_ms == 0:
                return {}
            if delay_ms % 1000 == 0:  # whole seconds: the form every 5.x broker reads
                return {MC.PROPERTY_TIMER_DELAY_SEC: str(delay_ms // 1000)}
            return {MC.PROPERTY_TIMER_DELAY_MS: str(delay_ms)}
        return {}

    def _deliver_ms(self, now_ms: int | None, max_delay_ms: int) -> int:
        at = self.deliver_at
        if isinstance(at, datetime):
            at_ms = round(at.timestamp() * 1000)
        elif isinstance(at, int) and not isinstance(at, bool) and at > 0:
            at_ms = at
        else:
            raise ConfigError(
                "deliver_at", at, "must be a datetime or epoch milliseconds (a positive int)"
            )
        now = time.time_ns() // 1_000_000 if now_ms is None else now_ms
        if at_ms - now > max_delay_ms:
            raise ConfigError(
                "deliver_at",
                at,
                f"is {(at_ms - now) / 1000:.0f} s ahead, more than the {max_delay_ms // 1000} s "
                "a broker accepts (timerMaxDelaySec)",
            )
        return at_ms

    def _delay_ms(self, max_delay_ms: int) -> int:
        delay = self.delay
        if isinstance(delay, timedelta):
            delay_ms = round(delay.total_seconds() * 1000)
        elif isinstance(delay, (int, float)) and not isinstance(delay, bool):
            if not math.isfinite(delay):
                raise ConfigError("delay", delay, "must be a finite number of seconds")
            delay_ms = round(delay * 1000)
        else:
            raise ConfigError("delay", delay, "must be a timedelta or a number of seconds")
        if delay_ms < 0:
            raise ConfigError("delay", delay, "must not be negative")
        if delay_ms > max_delay_ms:
            raise ConfigError(
                "delay",
                delay,
                f"is more than the {max_delay_ms // 1000} s a broker accepts (timerMaxDelaySec)",
            )
        return delay_ms


class SendStatus(enum.Enum):
    """How a send ended; every value means the broker stored the message."""

    SEND_OK = "SEND_OK"
    FLUSH_DISK_TIMEOUT = "FLUSH_DISK_TIMEOUT"
    FLUSH_SLAVE_TIMEOUT = "FLUSH_SLAVE_TIMEOUT"
    SLAVE_NOT_AVAILABLE = "SLAVE_NOT_AVAILABLE"


@dataclass(frozen=True, slots=True)
class MessageQueueRef:
    """One queue of a topic on one broker."""

    topic: str
    broker_name: str
    queue_id: int


@dataclass(frozen=True, slots=True)
class SendResult:
    """What the broker answered to a send.

    Attributes:
        status: see :class:`SendStatus`.
        msg_id: the client message id (``UNIQ_KEY``; comma-joined for batches).
        offset_msg_id: the broker's id (store address + commitlog offset).
        queue: where the message went.
        queue_offset: its position in that queue (the first one for batches).
        region_id: the broker's region.
        transaction_id: the broker's transaction id (its ``UNIQ_KEY``) of a half message.
        recall_handle: for a timer message (``deliver_at``/``delay``), the handle
            ``producer.recall(topic, handle)`` cancels it with before it is due.
    """

    status: SendStatus
    msg_id: str
    offset_msg_id: str
    queue: MessageQueueRef
    queue_offset: int
    region_id: str = "DefaultRegion"
    transaction_id: str | None = None
    recall_handle: str | None = None


@dataclass(frozen=True, slots=True)
class MessageView:
    """A received message.

    Attributes:
        topic: the topic (the original one for retried messages).
        body: the payload, decompressed.
        msg_id: ``UNIQ_KEY`` when present, else the offset id (what Java shows as msgId).
        offset_msg_id: the broker's id of this stored copy.
        tags, keys, properties: as sent (``properties`` holds every property).
        queue: where it was read from.
        queue_offset: position in the queue.
        commit_log_offset: physical position in the broker's commitlog.
        born_timestamp, store_timestamp: epoch ms.
        born_host, store_host: ``"ip:port"``.
        reconsume_times: how often it was redelivered.
        flag: the user flag stored with the message.
        sys_flag: the stored ``MessageSysFlag`` bits (compression, transaction, host kinds).
        store_size: the stored record's size in bytes.
        body_crc: the CRC32 of the stored body.
        prepared_transaction_offset: for a committed transactional message, the commitlog
            offset of its half message.
    """

    topic: str
    body: bytes
    msg_id: str
    offset_msg_id: str
    tags: str | None
    keys: str | None
    properties: Mapping[str, str]
    queue: MessageQueueRef
    queue_offset: int
    commit_log_offset: int
    born_timestamp: int
    store_timestamp: int
    born_host: str
    store_host: str
    reconsume_times: int
    flag: int = 0
    sys_flag: int = 0
    store_size: int = 0
    body_crc: int = 0
    prepared_transaction_offset: int = 0

    @classmethod
    def from_record(
        cls, record: MessageRecord, broker_name: str, namespace: str = ""
    ) -> MessageView:
        """Build from a decoded record (decompressing and restoring the retry topic)."""
        body = record.body
        if MessageSysFlag.is_compressed(record.sys_flag):
            body, _ = decompress_body(body, record.sys_flag)
        props = record.properties
        topic = record.topic
        if topic.startswith(RETRY_GROUP_TOPIC_PREFIX) and MC.PROPERTY_RETRY_TOPIC in props:
            topic = props[MC.PROPERTY_RETRY_TOPIC]
        if namespace and topic.startswith(namespace + "%"):
            topic = topic[len(namespace) + 1 :]  # applications see their own names
        return cls(
            topic=topic,
            body=body,
            msg_id=record.msg_id,
            offset_msg_id=record.offset_msg_id,
            tags=props.get(MC.PROPERTY_TAGS),
            keys=props.get(MC.PROPERTY_KEYS),
            properties=dict(props),
            queue=MessageQueueRef(record.topic, broker_name, record.queue_id),
            queue_offset=record.queue_offset,
            commit_log_offset=record.commit_log_offset,
            born_timestamp=record.born_timestamp,
            store_timestamp=record.store_timestamp,
            born_host=f"{record.born_host[0]}:{record.born_host[1]}",
            store_host=f"{record.store_host[0]}:{record.store_host[1]}",
            reconsume_times=record.reconsume_times,
            flag=record.flag,
            sys_flag=record.sys_flag,
            store_size=record.store_size,
            body_crc=record.body_crc,
            prepared_transaction_offset=record.prepared_transaction_offset,
        )
