"""Client-to-broker bodies: heartbeats, queue locks, consumer lists (``protocol.md`` 3.5, 3.7).

Clients other than Java spell some values differently, and the decoders accept them:

* the cpp client sends enums by ordinal (``"consumeType":1``) and ``subVersion`` as a string;
* old Go clients send ``consumeType`` as ``"PUSH"``/``"PULL"``;
* ali-ons and cpp leave out fields Java always writes (``expressionType``, ``consumerDataSet``).

Decoded values are normalised to Java's names, so re-encoding writes what Java would.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, TypeVar

from rocketmq_py.protocol.bodies._base import (
    Fields,
    JSONBody,
    as_bool,
    as_int,
    as_str,
    enum_of,
    list_of,
    sorted_object,
)
from rocketmq_py.protocol.fastjson import ObjectKey

__all__ = [
    "ConsumeFromWhere",
    "ConsumeType",
    "ConsumerData",
    "ConsumerListBody",
    "HeartbeatData",
    "LockBatchRequestBody",
    "LockBatchResponseBody",
    "MessageModel",
    "MessageQueue",
    "ProducerData",
    "SubscriptionData",
    "UnlockBatchRequestBody",
]


# Member order is Java's: fastjson reads an enum sent as a number by its ordinal.
class ConsumeType(str, enum.Enum):
    """How a consumer group consumes (``ConsumeType``)."""

    CONSUME_ACTIVELY = "CONSUME_ACTIVELY"
    """Pull consumer (old Go clients: ``"PULL"``)."""
    CONSUME_PASSIVELY = "CONSUME_PASSIVELY"
    """Push consumer (old Go clients: ``"PUSH"``)."""
    CONSUME_POP = "CONSUME_POP"
    """5.x pop consumer."""


class MessageModel(str, enum.Enum):
    """Whether each message goes to one consumer of the group or to all (``MessageModel``)."""

    BROADCASTING = "BROADCASTING"
    CLUSTERING = "CLUSTERING"


class ConsumeFromWhere(str, enum.Enum):
    """Where a new consumer group starts (``ConsumeFromWhere``)."""

    CONSUME_FROM_LAST_OFFSET = "CONSUME_FROM_LAST_OFFSET"
    CONSUME_FROM_LAST_OFFSET_AND_FROM_MIN_WHEN_BOOT_FIRST = (
        "CONSUME_FROM_LAST_OFFSET_AND_FROM_MIN_WHEN_BOOT_FIRST"
    )
    CONSUME_FROM_MIN_OFFSET = "CONSUME_FROM_MIN_OFFSET"
    CONSUME_FROM_MAX_OFFSET = "CONSUME_FROM_MAX_OFFSET"
    CONSUME_FROM_FIRST_OFFSET = "CONSUME_FROM_FIRST_OFFSET"
    CONSUME_FROM_TIMESTAMP = "CONSUME_FROM_TIMESTAMP"


_consume_type = enum_of(
    ConsumeType,
    {
        "PULL": ConsumeType.CONSUME_ACTIVELY,
        "PUSH": ConsumeType.CONSUME_PASSIVELY,
        "POP": ConsumeType.CONSUME_POP,
    },
)
_message_model = enum_of(MessageModel)
_consume_from_where = enum_of(ConsumeFromWhere)


@dataclass(frozen=True, order=True, slots=True)
class MessageQueue(JSONBody):
    """One queue of a topic on one broker group (``MessageQueue``).

    Hashable, and ordered like Java's ``compareTo``: by topic, broker name, then queue id.
    """

    topic: str
    broker_name: str
    queue_id: int

    def to_json_value(self) -> dict[str, Any]:
        """``{"brokerName":..,"queueId":..,"topic":..}``."""
        return {"brokerName": self.broker_name, "queueId": self.queue_id, "topic": self.topic}

    def to_object_key(self) -> ObjectKey:
        """This queue as a fastjson map key (``TopicStatsTable``, ``ConsumeStats`` ...)."""
        return ObjectKey(self.to_json_value())

    @classmethod
    def from_json_value(cls, value: object, where: str = "") -> MessageQueue:
        """Decode from a JSON object or an :class:`ObjectKey`."""
        f = Fields(value, where or cls.__name__)
        return cls(
            topic=f.required("topic", as_str),
            broker_name=f.required("brokerName", as_str),
            queue_id=f.required("queueId", as_int),
        )


@dataclass(slots=True)
class ProducerData(JSONBody):
    """A producer group in a heartbeat (``ProducerData``)."""

    group_name: str

    def to_json_value(self) -> dict[str, Any]:
        """``{"groupName":..}``."""
        return {"groupName": self.group_name}

    @classmethod
    def from_json_value(cls, value: object, where: str = "") -> ProducerData:
        """Decode."""
        f = Fields(value, where or cls.__name__)
        return cls(group_name=f.required("groupName", as_str))


@dataclass(slots=True)
class SubscriptionData(JSONBody):
    """One topic subscription of a consumer group (``SubscriptionData``).

    Attributes:
        topic: the subscribed topic.
        sub_string: the expression, ``"*"`` or ``"TagA || TagB"`` (or SQL92).
        tags_set: the tags of a TAG expression.
        code_set: Java ``String.hashCode`` of each tag.
        sub_version: version stamp (Java: creation time in ms; 0 when absent).
        expression_type: ``"TAG"`` or ``"SQL92"``.
        class_filter_mode: legacy class filter flag.
    """

    topic: str
    sub_string: str = "*"
    tags_set: list[str] = field(default_factory=list)
    code_set: list[int] = field(default_factory=list)
    sub_version: int = 0
    expression_type: str = "TAG"
    class_filter_mode: bool = False

    def to_json_value(self) -> dict[str, Any]:
        """The JSON object, fields in name order."""
        return sorted_object(
            classFilterMode=self.class_filter_mode,
            codeSet=list(self.code_set),
            expressionType=self.expression_type,
            subString=self.sub_string,
            subVersion=self.sub_version,
            tagsSet=list(self.tags_set),
            topic=self.topic,
        )

    @classmethod
    def from_json_value(cls, value: object, where: str = "") -> SubscriptionData:
        """Decode; missing fields take Java's defaults."""
        f = Fields(value, where or cls.__name__)
        return cls(
            topic=f.required("topic", as_str),
            sub_string=f.get("subString", as_str, "*"),
            tags_set=f.get("tagsSet", list_of(as_str), []),
            code_set=f.get("codeSet", list_of(as_int), []),
            sub_version=f.get("subVersion", as_int, 0),
            expression_type=f.get("expressionType", as_str, "TAG"),
            class_filter_mode=f.get("classFilterMode", as_bool, False),
        )


@dataclass(slots=True)
class ConsumerData(JSONBody):
    """A consumer group in a heartbeat (``ConsumerData``).

    Missing enum fields take the Java push consumer's defaults.
    """

    group_name: str
    consume_type: ConsumeType = ConsumeType.CONSUME_PASSIVELY
    message_model: MessageModel = MessageModel.CLUSTERING
    consume_from_where: ConsumeFromWhere = ConsumeFromWhere.CONSUME_FROM_LAST_OFFSET
    subscription_data_set: list[SubscriptionData] = field(default_factory=list)
    unit_mode: bool = False

    def to_json_value(self) -> dict[str, Any]:
        """The JSON object, fields in name order, enums by name."""
        return sorted_object(
            consumeFromWhere=self.consume_from_where.value,
            consumeType=self.consume_type.value,
            groupName=self.group_name,
            messageModel=self.message_model.value,
            subscriptionDataSet=[s.to_json_value() for s in self.subscription_data_set],
            unitMode=self.unit_mode,
        )

    @classmethod
    def from_json_value(cls, value: object, where: str = "") -> ConsumerData:
        """Decode; enums by name, by ordinal or (consumeType) as PUSH/PULL/POP."""
        f = Fields(value, where or cls.__name__)
        return cls(
            group_name=f.required("groupName", as_str),
            consume_type=f.get("consumeType", _consume_type, ConsumeType.CONSUME_PASSIVELY),
            message_model=f.get("messageModel", _message_model, MessageModel.CLUSTERING),
            consume_from_where=f.get(
                "consumeFromWhere", _consume_from_where, ConsumeFromWhere.CONSUME_FROM_LAST_OFFSET
            ),
            subscription_data_set=f.get(
                "subscriptionDataSet", list_of(SubscriptionData.from_json_value), []
            ),
            unit_mode=f.get("unitMode", as_bool, False),
        )


@dataclass(slots=True)
class HeartbeatData(JSONBody):
    """HEART_BEAT request body (``HeartbeatData``).

    Attributes:
        client_id: ``clientIP@instanceName`` (wire name ``clientID``).
        producer_data_set: the client's producer groups.
        consumer_data_set: the client's consumer groups.
        heartbeat_fingerprint: 5.x heartbeat V2 only; ``None`` when absent.
        without_sub: 5.x heartbeat V2 only; ``None`` when absent.
    """

    client_id: str
    producer_data_set: list[ProducerData] = field(default_factory=list)
    consumer_data_set: list[ConsumerData] = field(default_factory=list)
    heartbeat_fingerprint: int | None = None
    without_sub: bool | None = None

    def to_json_value(self) -> dict[str, Any]:
        """The JSON object, fields in name order."""
        return sorted_object(
            clientID=self.client_id,
            consumerDataSet=[c.to_json_value() for c in self.consumer_data_set],
            heartbeatFingerprint=self.heartbeat_fingerprint,
            producerDataSet=[p.to_json_value() for p in self.producer_data_set],
            withoutSub=self.without_sub,
        )

    @classmethod
    def from_json_value(cls, value: object, where: str = "") -> HeartbeatData:
        """Decode; absent sets are empty."""
        f = Fields(value, where or cls.__name__)
        return cls(
            client_id=f.required("clientID", as_str),
            producer_data_set=f.get("producerDataSet", list_of(ProducerData.from_json_value), []),
            consumer_data_set=f.get("consumerDataSet", list_of(ConsumerData.from_json_value), []),
            heartbeat_fingerprint=f.optional("heartbeatFingerprint", as_int),
            without_sub=f.optional("withoutSub", as_bool),
        )


_queues = list_of(MessageQueue.from_json_value)
L = TypeVar("L", bound="LockBatchRequestBody")


@dataclass(slots=True)
class LockBatchRequestBody(JSONBody):
    """LOCK_BATCH_MQ request body (``LockBatchRequestBody``).

    Attributes:
        consumer_group: the orderly consumer's group.
        client_id: the consumer's client id (wire name ``clientId``).
        mq_set: the queues to lock.
        only_this_broker: 5.x only; ``None`` when absent (4.x clients).
    """

    consumer_group: str
    client_id: str
    mq_set: list[MessageQueue] = field(default_factory=list)
    only_this_broker: bool | None = None

    def to_json_value(self) -> dict[str, Any]:
        """The JSON object, fields in name order."""
        return sorted_object(
            clientId=self.client_id,
            consumerGroup=self.consumer_group,
            mqSet=[mq.to_json_value() for mq in self.mq_set],
            onlyThisBroker=self.only_this_broker,
        )

    @classmethod
    def from_json_value(cls: type[L], value: object, where: str = "") -> L:
        """Decode."""
        f = Fields(value, where or cls.__name__)
        return cls(
            consumer_group=f.required("consumerGroup", as_str),
            client_id=f.required("clientId", as_str),
            mq_set=f.get("mqSet", _queues, []),
            only_this_broker=f.optional("onlyThisBroker", as_bool),
        )


@dataclass(slots=True)
class UnlockBatchRequestBody(LockBatchRequestBody):
    """UNLOCK_BATCH_MQ request body (``UnlockBatchRequestBody``); same fields as the lock."""


@dataclass(slots=True)
class LockBatchResponseBody(JSONBody):
    """LOCK_BATCH_MQ response body: the queues now locked by the requester."""

    lock_ok_mq_set: list[MessageQueue] = field(default_factory=list)

    def to_json_value(self) -> dict[str, Any]:
        """``{"lockOKMQSet":[...]}``."""
        return {"lockOKMQSet": [mq.to_json_value() for mq in self.lock_ok_mq_set]}

    @classmethod
    def from_json_value(cls, value: object, where: str = "") -> LockBatchResponseBody:
        """Decode."""
        f = Fields(value, where or cls.__name__)
        return cls(lock_ok_mq_set=f.get("lockOKMQSet", _queues, []))


@dataclass(slots=True)
class ConsumerListBody(JSONBody):
    """GET_CONSUMER_LIST_BY_GROUP response body: the group's online client ids."""

    consumer_id_list: list[str] = field(default_factory=list)

    def to_json_value(self) -> dict[str, Any]:
        """``{"consumerIdList":[...]}``."""
        return {"consumerIdList": list(self.consumer_id_list)}

    @classmethod
    def from_json_value(cls, value: object, where: str = "") -> ConsumerListBody:
        """Decode."""
        f = Fields(value, where or cls.__name__)
        return cls(consumer_id_list=f.get("consumerIdList", list_of(as_str), []))
