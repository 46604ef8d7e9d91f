"""Semantic-convention names and the attributes derived from one message's properties.

The names are copied from the messaging conventions (semconv after v1.44.0, the RocketMQ page
``docs/messaging/rocketmq.md``) instead of imported from
``opentelemetry.semconv._incubating``, which is private and may change between releases.
Names outside the conventions use the ``rocketmq.`` prefix: ``messaging.rocketmq.*`` belongs
to the conventions.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Final

from rocketmq_py import ResponseError

# -- attribute names ---------------------------------------------------------------------------

SYSTEM: Final = "messaging.system"
OPERATION_NAME: Final = "messaging.operation.name"
OPERATION_TYPE: Final = "messaging.operation.type"
DESTINATION: Final = "messaging.destination.name"
PARTITION: Final = "messaging.destination.partition.id"
CONSUMER_GROUP: Final = "messaging.consumer.group.name"
CLIENT_ID: Final = "messaging.client.id"
MESSAGE_ID: Final = "messaging.message.id"
BODY_SIZE: Final = "messaging.message.body.size"
BATCH_COUNT: Final = "messaging.batch.message_count"
NAMESPACE: Final = "messaging.rocketmq.namespace"
MESSAGE_TYPE: Final = "messaging.rocketmq.message.type"
MESSAGE_TAG: Final = "messaging.rocketmq.message.tag"
MESSAGE_KEYS: Final = "messaging.rocketmq.message.keys"
MESSAGE_GROUP: Final = "messaging.rocketmq.message.group"
DELAY_LEVEL: Final = "messaging.rocketmq.message.delay_time_level"
DELIVERY_TIMESTAMP: Final = "messaging.rocketmq.message.delivery_timestamp"
CONSUMPTION_MODEL: Final = "messaging.rocketmq.consumption_model"
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
ERROR_TYPE: Final = "error.type"
# Not in the conventions: what a settle did, and how a transaction ended.
SETTLE_OUTCOME: Final = "rocketmq.settle.outcome"
TRANSACTION_STATE: Final = "rocketmq.transaction.state"
TRANSACTION_ID: Final = "rocketmq.transaction.id"
RECONSUME_TIMES: Final = "rocketmq.message.reconsume_times"

SYSTEM_VALUE: Final = "rocketmq"

#: Attributes the metrics carry (low cardinality: no message ids, keys or namespaces).
METRIC_ATTRIBUTES: Final = frozenset(
    {
        SYSTEM,
        OPERATION_NAME,
        OPERATION_TYPE,
        DESTINATION,
        PARTITION,
        CONSUMER_GROUP,
        SERVER_ADDRESS,
        SERVER_PORT,
        ERROR_TYPE,
    }
)

# -- RocketMQ message properties (Apache RocketMQ's MessageConst) ------------------------------

PROP_TAGS: Final = "TAGS"
PROP_KEYS: Final = "KEYS"
PROP_UNIQ_KEY: Final = "UNIQ_KEY"
PROP_DELAY: Final = "DELAY"
PROP_TRANSACTION: Final = "TRAN_MSG"
PROP_SHARDING_KEY: Final = "__SHARDINGKEY"
PROP_TIMER_DELIVER_MS: Final = "TIMER_DELIVER_MS"
PROP_TIMER_DELAY_SEC: Final = "TIMER_DELAY_SEC"
PROP_TIMER_DELAY_MS: Final = "TIMER_DELAY_MS"
#: The trace-context system property of RocketMQ 5 (a W3C ``traceparent`` value).
PROP_TRACE_CONTEXT: Final = "TRACE_CONTEXT"

# Response codes a client sees, by name (ResponseCode.java): error.type must stay predictable.
_CODE_NAMES: Final = {
    1: "SYSTEM_ERROR",
    2: "SYSTEM_BUSY",
    3: "REQUEST_CODE_NOT_SUPPORTED",
    4: "TRANSACTION_FAILED",
    10: "FLUSH_DISK_TIMEOUT",
    11: "SLAVE_NOT_AVAILABLE",
    12: "FLUSH_SLAVE_TIMEOUT",
    13: "MESSAGE_ILLEGAL",
    14: "SERVICE_NOT_AVAILABLE",
    15: "VERSION_NOT_SUPPORTED",
    16: "NO_PERMISSION",
    17: "TOPIC_NOT_EXIST",
    23: "SUBSCRIPTION_PARSE_FAILED",
    24: "SUBSCRIPTION_NOT_EXIST",
    26: "SUBSCRIPTION_GROUP_NOT_EXIST",
    29: "INVALID_PARAMETER",
    206: "CONSUMER_NOT_ONLINE",
    207: "CONSUME_MSG_TIMEOUT",
    209: "POLLING_FULL",
    215: "FLOW_CONTROL",
    501: "NOT_LEADER_FOR_QUEUE",
    604: "ILLEGAL_OPERATION",
    1500: "GO_AWAY",
}


def error_type(error: BaseException) -> str:
    """``error.type`` of a failure: the response code's name for a broker refusal (``_OTHER``
    for a code outside the table), else the exception's qualified class name."""
    if isinstance(error, ResponseError):
        return _CODE_NAMES.get(error.code, "_OTHER")
    cls = type(error)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def split_address(address: object) -> dict[str, Any]:
    """``server.address``/``server.port`` of a ``host:port`` string (nothing if unparsable)."""
    if not isinstance(address, str) or not address:
        return {}
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        return {SERVER_ADDRESS: address}
    return {SERVER_ADDRESS: host.strip("[]"), SERVER_PORT: int(port)}


def message_attributes(
    properties: Mapping[str, str], info: Mapping[str, Any], *, producer: bool
) -> dict[str, Any]:
    """Tag, keys, id, type, group and schedule of one message, from its wire properties.

    On the producer side the message type is always known (``normal`` unless marked);
    consumers set it only when the message carries evidence of its type, since a committed
    transactional or an expired delayed message loses its markers on the broker.
    """
    attrs: dict[str, Any] = {}
    tag = properties.get(PROP_TAGS)
    if tag:
        attrs[MESSAGE_TAG] = tag
    keys = properties.get(PROP_KEYS)
    if keys:
        attrs[MESSAGE_KEYS] = [k for k in keys.split(" ") if k]
    unique = properties.get(PROP_UNIQ_KEY)
    if unique:
        attrs[MESSAGE_ID] = unique
    group = info.get("sharding_key") or properties.get(PROP_SHARDING_KEY)
    if group:
        attrs[MESSAGE_GROUP] = str(group)
    kind = "normal" if producer else None
    if group or info.get("ordered"):
        kind = "fifo"
    delay = _schedule(properties)
    if delay:
        attrs.update(delay)
        kind = "delay"
    if properties.get(PROP_TRANSACTION) == "true":
        kind = "transaction"
    if kind is not None:
        attrs[MESSAGE_TYPE] = kind
    return attrs


def _schedule(properties: Mapping[str, str]) -> dict[str, Any]:
    level = properties.get(PROP_DELAY)
    if level and level.isdigit() and int(level) > 0:
        return {DELAY_LEVEL: int(level)}
    deliver = properties.get(PROP_TIMER_DELIVER_MS)
    if deliver and deliver.isdigit():
        return {DELIVERY_TIMESTAMP: int(deliver)}
    # A relative delay is measured by the broker's clock; this host's is the best estimate.
    for name, scale in ((PROP_TIMER_DELAY_SEC, 1000), (PROP_TIMER_DELAY_MS, 1)):
        value = properties.get(name)
        if value and value.isdigit():
            return {DELIVERY_TIMESTAMP: time.time_ns() // 1_000_000 + int(value) * scale}
    return {}
