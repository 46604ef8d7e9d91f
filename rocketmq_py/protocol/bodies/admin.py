"""Admin answers: topic and consume statistics, connections, group lists (``protocol.md`` 3.11).

Two of these bodies are not JSON: fastjson writes ``TopicStatsTable.offsetTable`` and
``ConsumeStats.offsetTable`` with a ``MessageQueue`` *object* as each map key::

    {"offsetTable":{{"brokerName":"b","queueId":0,"topic":"T"}:{"lastUpdateTimestamp":..,...}}}

Java mqadmin parses exactly that, so :meth:`to_json` writes it (through
:func:`~rocketmq_py.protocol.fastjson.dumps`), and :meth:`from_json` reads it back (it also accepts
the key as a quoted string holding the queue's JSON, fastjson's ``WriteNonStringKeyAsString``
form). Fields that only 5.x sends (``topicPutTps``, ``pullOffset``) are ``None`` when absent, so a
4.9 body decodes and re-encodes to the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rocketmq_py.exceptions import RemoteProtocolError
from rocketmq_py.protocol import fastjson
from rocketmq_py.protocol.bodies._base import (
    Converter,
    Fields,
    JSONBody,
    as_int,
    as_json,
    as_str,
    dict_of,
    enum_of,
    list_of,
    sorted_object,
)
from rocketmq_py.protocol.bodies.consumer import (
    ConsumeFromWhere,
    ConsumeType,
    MessageModel,
    MessageQueue,
    SubscriptionData,
)
from rocketmq_py.protocol.bodies.register import DataVersion
from rocketmq_py.protocol.codes import LanguageCode

__all__ = [
    "Connection",
    "ConsumeStats",
    "ConsumerConnection",
    "GroupList",
    "OffsetWrapper",
    "ProducerConnection",
    "SubscriptionGroupWrapper",
    "TopicOffset",
    "TopicStatsTable",
]


def as_float(value: object, where: str) -> float:
    """A Java double; integers and numeric strings are accepted."""
    if isinstance(value, bool):
        raise RemoteProtocolError(f"{where}: expected a number, got {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            pass
    raise RemoteProtocolError(f"{where}: expected a number, got {value!r:.80}")


def _queue_key(value: object, where: str) -> MessageQueue:
    """A MessageQueue map key: an object key, or a string holding the queue's JSON."""
    if isinstance(value, str):
        value = fastjson.loads(value)
    return MessageQueue.from_json_value(value, where)


def _by_queue(item: Converter[Any]) -> Converter[dict[MessageQueue, Any]]:
    """A converter for a map keyed by MessageQueue."""
    return dict_of(_queue_key, item)


def _as_language(value: object, where: str) -> LanguageCode:
    """A LanguageCode by name (or ordinal); names this version does not know become OTHER."""
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return LanguageCode.parse(value)
    raise RemoteProtocolError(f"{where}: expected a language name, got {value!r:.80}")


@dataclass(slots=True)
class TopicOffset(JSONBody):
    """One queue's offsets in a :class:`TopicStatsTable` (``TopicOffset``).

    Attributes:
        min_offset: the first logical offset still stored.
        max_offset: the next logical offset to be written.
        last_update_timestamp: store time (ms) of the last message, 0 when the queue is empty.
    """

    min_offset: int = 0
    max_offset: int = 0
    last_update_timestamp: int = 0

    def to_json_value(self) -> dict[str, Any]:
        """``{"lastUpdateTimestamp":..,"maxOffset":..,"minOffset":..}``."""
        return {
            "lastUpdateTimestamp": self.last_update_timestamp,
            "maxOffset": self.max_offset,
            "minOffset": self.min_offset,
        }

    @classmethod
    def from_json_value(cls, value: object, where: str = "") -> TopicOffset:
        """Decode; missing fields read as 0."""
        f = Fields(value, where or cls.__name__)
        return cls(
            min_offset=f.get("minOffset", as_int, 0),
            max_offset=f.get("maxOffset", as_int, 0),
            last_update_timestamp=f.get("lastUpdateTimestamp", as_int, 0),
        )


@dataclass(slots=True)
class TopicStatsTable(JSONBody):
    """GET_TOPIC_STATS_INFO answer: every queue of a topic on one broker (``TopicStatsTable``).

    Attributes:
        offset_table: queue to its offsets (written with MessageQueue object keys).
        topic_put_tps: 5.x only; ``None`` when absent (4.x writes no such field).
    """

    offset_table: dict[MessageQueue, TopicOffset] = field(default_factory=dict)
    topic_put_tps: float | None = None

    def to_json_value(self) -> dict[str, Any]:
        """The fastjson form, queues in MessageQueue order."""
        return sorted_object(
            offsetTable={
                mq.to_object_key(): offset.to_json_value()
                for mq, offset in sorted(self.offset_table.items())
            },
            topicPutTps=self.topic_put_tps,
        )

    @classmethod
    def from_json_value(cls, value: object, where: str = "") -> TopicStatsTable:
        """Decode; queue keys may be objects or JSON strings."""
        f = Fields(value, where or cls.__name__)
        return cls(
            offset_table=f.get("offsetTable", _by_queue(TopicOffset.from_json_value), {}),
            topic_put_tps=f.optional("topicPutTps", as_float),
        )


@dataclass(slots=True)
class OffsetWrapper(JSONBody):
    """One queue's progress in a :class:`ConsumeStats` (``OffsetWrapper``).

    Attributes:
        broker_offset: the queue's max offset on the broker.
        consumer_offset: the group's committed offset.
        last_timestamp: store time (ms) of the last consumed message, 0 when unknown.
        pull_offset: 5.x only (the pop/pull position); ``None`` when absent.
    """

    broker_offset: int = 0
    consumer_offset: int = 0
    last_timestamp: int = 0
    pull_offset: int | None = None

    def to_json_value(self) -> dict[str, Any]:
        """``{"brokerOffset":..,"consumerOffset":..,"lastTimestamp":..}`` (+``pullOffset``)."""
        return sorted_object(
            brokerOffset=self.broker_offset,
            consumerOffset=self.consumer_offset,
            lastTimestamp=self.last_timestamp,
            pullOffset=self.pull_offset,
        )

    @classmethod
    def from_json_value(cls, value: object, where: str = "") -> OffsetWrapper:
        """Decode; missing offsets read as 0."""
        f = Fields(value, where or cls.__name__)
        return cls(
            broker_offset=f.get("brokerOffset", as_int, 0),
            consumer_offset=f.get("consumerOffset", as_int, 0),
            last_timestamp=f.get("lastTimestamp", as_int, 0),
            pull_offset=f.optional("pullOffset", as_int),
        )

    @property
    def diff(self) -> int:
        """Messages not yet consumed (``brokerOffset - consumerOffset``), as mqadmin shows it."""
        return self.broker_offset - self.consumer_offset


@dataclass(slots=True)
class ConsumeStats(JSONBody):
    """GET_CONSUME_STATS answer: a group's progress on every queue it consumes (``ConsumeStats``).

    Attributes:
        offset_table: queue to progress (written with MessageQueue object keys).
        consume_tps: messages per second the group pulled recently.
    """

    offset_table: dict[MessageQueue, OffsetWrapper] = field(default_factory=dict)
    consume_tps: float = 0.0

    def to_json_value(self) -> dict[str, Any]:
        """The fastjson form, queues in MessageQueue order."""
        return {
            "consumeTps": float(self.consume_tps),
            "offsetTable": {
                mq.to_object_key(): wrapper.to_json_value()
                for mq, wrapper in sorted(self.offset_table.items())
            },
        }

    @classmethod
    def from_json_value(cls, value: object, where: str = "") -> ConsumeStats:
        """Decode; queue keys may be objects or JSON strings."""
        f = Fields(value, where or cls.__name__)
        return cls(
            offset_table=f.get("offsetTable", _by_queue(OffsetWrapper.from_json_value), {}),
            consume_tps=f.get("consumeTps", as_float, 0.0),
        )

    @property
    def diff_total(self) -> int:
        """Sum of every queue's :attr:`OffsetWrapper.diff` (mqadmin's "Consume Diff Total")."""
        return sum(w.diff for w in self.offset_table.values())


@dataclass(frozen=True, slots=True)
class Connection(JSONBody):
    """One client connection of a group (``Connection``).

    Attributes:
        client_id: the client's id (``ip@instance``).
        client_addr: the connection's remote ``ip:port``.
        language: the client's language, as its requests declared it.
        version: the client's ``MQVersion`` ordinal.
    """

    client_id: str
    client_addr: str
    language: LanguageCode = LanguageCode.JAVA
    version: int = 0

    def to_json_value(self) -> dict[str, Any]:
        """``{"clientAddr":..,"clientId":..,"language":"JAVA","version":..}``."""
        return {
            "clientAddr": self.client_addr,
            "clientId": self.client_id,
            "language": self.language.name,
            "version": self.version,
        }

    @classmethod
    def from_json_value(cls, value: object, where: str = "") -> Connection:
        """Decode; an unknown language name becomes ``OTHER``."""
        f = Fields(value, where or cls.__name__)
        return cls(
            client_id=f.get("clientId", as_str, ""),
            client_addr=f.get("clientAddr", as_str, ""),
            language=f.get("language", _as_language, LanguageCode.OTHER),
            version=f.get("version", as_int, 0),
        )


_connections = list_of(Connection.from_json_value)


def _connection_list(connections: list[Connection]) -> list[dict[str, Any]]:
    ordered = sorted(connections, key=lambda c: (c.client_id, c.client_addr))
    return [c.to_json_value() for c in ordered]


@dataclass(slots=True)
class ConsumerConnection(JSONBody):
    """GET_CONSUMER_CONNECTION_LIST answer: a group's live consumers (``ConsumerConnection``).

    Attributes:
        connection_set: one entry per client connection.
        subscription_table: topic to the group's subscription.
        consume_type: ``None`` when absent.
        message_model: ``None`` when absent.
        consume_from_where: ``None`` when absent.
    """

    connection_set: list[Connection] = field(default_factory=list)
    subscription_table: dict[str, SubscriptionData] = field(default_factory=dict)
    consume_type: ConsumeType | None = None
    message_model: MessageModel | None = None
    consume_from_where: ConsumeFromWhere | None = None

    def to_json_value(self) -> dict[str, Any]:
        """The JSON object, fields in name order, enums by name."""
        return sorted_object(
            connectionSet=_connection_list(self.connection_set),
            consumeFromWhere=self.consume_from_where.value if self.consume_from_where else None,
            consumeType=self.consume_type.value if self.consume_type else None,
            messageModel=self.message_model.value if self.message_model else None,
            subscriptionTable={
                topic: sub.to_json_value() for topic, sub in sorted(self.subscription_table.items())
            },
        )

    @classmethod
    def from_json_value(cls, value: object, where: str = "") -> ConsumerConnection:
        """Decode; consumeType also accepts old Go clients' ``PUSH``/``PULL``."""
        f = Fields(value, where or cls.__name__)
        return cls(
            connection_set=f.get("connectionSet", _connections, []),
            subscription_table=f.get(
                "subscriptionTable", dict_of(as_str, SubscriptionData.from_json_value), {}
            ),
            consume_type=f.optional(
                "consumeType",
                enum_of(
                    ConsumeType,
                    {"PULL": ConsumeType.CONSUME_ACTIVELY, "PUSH": ConsumeType.CONSUME_PASSIVELY},
                ),
            ),
            message_model=f.optional("messageModel", enum_of(MessageModel)),
            consume_from_where=f.optional("consumeFromWhere", enum_of(ConsumeFromWhere)),
        )


@dataclass(slots=True)
class ProducerConnection(JSONBody):
    """GET_PRODUCER_CONNECTION_LIST answer: a producer group's connections."""

    connection_set: list[Connection] = field(default_factory=list)

    def to_json_value(self) -> dict[str, Any]:
        """``{"connectionSet":[...]}``."""
        return {"connectionSet": _connection_list(self.connection_set)}

    @classmethod
    def from_json_value(cls, value: object, where: str = "") -> ProducerConnection:
        """Decode."""
        f = Fields(value, where or cls.__name__)
        return cls(connection_set=f.get("connectionSet", _connections, []))


@dataclass(slots=True)
class GroupList(JSONBody):
    """QUERY_TOPIC_CONSUME_BY_WHO answer: consumer group names (``GroupList``)."""

    group_list: list[str] = field(default_factory=list)

    def to_json_value(self) -> dict[str, Any]:
        """``{"groupList":[...]}``, names sorted (Java sends a HashSet, in no order)."""
        return {"groupList": sorted(set(self.group_list))}

    @classmethod
    def from_json_value(cls, value: object, where: str = "") -> GroupList:
        """Decode."""
        f = Fields(value, where or cls.__name__)
        return cls(group_list=f.get("groupList", list_of(as_str), []))


def _zero_version() -> DataVersion:
    return DataVersion(counter=0, timestamp=0)


@dataclass(slots=True)
class SubscriptionGroupWrapper(JSONBody):
    """GET_ALL_SUBSCRIPTIONGROUP_CONFIG answer (``SubscriptionGroupWrapper``).

    The same shape as a broker's ``subscriptionGroup.json``. Each group's settings are kept as
    the decoded JSON object (``groupName``, ``consumeEnable``, ``retryMaxTimes`` ...), so that
    fields of any broker version survive a round trip.

    Attributes:
        subscription_group_table: group name to its settings object.
        data_version: the table's version.
        forbidden_table: 5.x group -> topic -> forbidden bits; ``None`` when absent (4.x).
    """

    subscription_group_table: dict[str, dict[str, Any]] = field(default_factory=dict)
    data_version: DataVersion = field(default_factory=_zero_version)
    forbidden_table: dict[str, dict[str, int]] | None = None

    def to_json_value(self) -> dict[str, Any]:
        """The JSON object, fields in name order."""
        return sorted_object(
            dataVersion=self.data_version.to_json_value(),
            forbiddenTable=self.forbidden_table,
            subscriptionGroupTable={
                name: dict(sorted(config.items()))
                for name, config in self.subscription_group_table.items()
            },
        )

    @classmethod
    def from_json_value(cls, value: object, where: str = "") -> SubscriptionGroupWrapper:
        """Decode; each group's settings must be an object."""
        f = Fields(value, where or cls.__name__)
        return cls(
            subscription_group_table=f.get(
                "subscriptionGroupTable", dict_of(as_str, _json_object), {}
            ),
            data_version=f.get("dataVersion", DataVersion.from_json_value, _zero_version()),
            forbidden_table=f.optional("forbiddenTable", dict_of(as_str, dict_of(as_str, as_int))),
        )


def _json_object(value: object, where: str) -> dict[str, Any]:
    return Fields(as_json(value, where), where).obj
