"""Typed JSON bodies of the Remoting protocol, encoded and decoded the way Java's fastjson does.

Every body class has ``to_json() -> bytes`` and ``from_json(bytes) -> instance``, plus
``to_json_value()``/``from_json_value()`` on plain Python values for bodies nested in others.
Decoding accepts what Java (and the cpp, Go and Node clients) actually send: bare integer map
keys, enums by ordinal, numbers as strings. A field of the wrong kind raises
:class:`~rocketmq_py.exceptions.RemoteProtocolError` naming the field's path and the value.
"""

from rocketmq_py.protocol.bodies._base import JSONBody
from rocketmq_py.protocol.bodies.admin import (
    Connection,
    ConsumerConnection,
    ConsumeStats,
    GroupList,
    OffsetWrapper,
    ProducerConnection,
    SubscriptionGroupWrapper,
    TopicOffset,
    TopicStatsTable,
)
from rocketmq_py.protocol.bodies.consumer import (
    ConsumeFromWhere,
    ConsumerData,
    ConsumerListBody,
    ConsumeType,
    HeartbeatData,
    LockBatchRequestBody,
    LockBatchResponseBody,
    MessageModel,
    MessageQueue,
    ProducerData,
    SubscriptionData,
    UnlockBatchRequestBody,
)
from rocketmq_py.protocol.bodies.register import (
    DataVersion,
    RegisterBrokerBody,
    TopicConfig,
    TopicConfigSerializeWrapper,
)
from rocketmq_py.protocol.bodies.route import (
    ORDER_TOPIC_CONFIG,
    BrokerData,
    ClusterInfo,
    KVTable,
    QueueData,
    TopicList,
    TopicRouteData,
)

__all__ = [
    "ORDER_TOPIC_CONFIG",
    "BrokerData",
    "ClusterInfo",
    "Connection",
    "ConsumeFromWhere",
    "ConsumeStats",
    "ConsumeType",
    "ConsumerConnection",
    "ConsumerData",
    "ConsumerListBody",
    "DataVersion",
    "GroupList",
    "HeartbeatData",
    "JSONBody",
    "KVTable",
    "LockBatchRequestBody",
    "LockBatchResponseBody",
    "MessageModel",
    "MessageQueue",
    "OffsetWrapper",
    "ProducerConnection",
    "ProducerData",
    "QueueData",
    "RegisterBrokerBody",
    "SubscriptionData",
    "SubscriptionGroupWrapper",
    "TopicConfig",
    "TopicConfigSerializeWrapper",
    "TopicList",
    "TopicOffset",
    "TopicRouteData",
    "TopicStatsTable",
    "UnlockBatchRequestBody",
]
