"""The message properties string and the standard property keys.

On the wire (send headers ``properties``/``i``, batch bodies, commitlog records) a message's
properties are one string::

    name \\x01 value \\x02 name \\x01 value \\x02 ...

Whether the last pair is followed by ``\\x02`` depends on the writer: the cpp client and
ali-ons end with it; the Java 4.9.8 client and broker do not (see ``captures/``). Every reader
accepts both. Java's reader keeps an item only when it holds ``\\x01`` with a non-empty name and
a non-empty value, so empty values vanish; a repeated name keeps the last value.

See ``protocol.md`` sections 4.3 and 5 (``MessageConst.java``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from rocketmq_py.exceptions import LocalProtocolError, RemoteProtocolError

__all__ = [
    "KEY_SEPARATOR",
    "NAME_VALUE_SEPARATOR",
    "PROPERTY_SEPARATOR",
    "SYSTEM_PROPERTY_KEYS",
    "MessageConst",
    "decode_properties",
    "decode_properties_bytes",
    "encode_properties",
    "encode_properties_bytes",
]

NAME_VALUE_SEPARATOR: Final = "\x01"
PROPERTY_SEPARATOR: Final = "\x02"
KEY_SEPARATOR: Final = " "
"""Separates several business keys inside the ``KEYS`` property."""

_MAX_PROPERTIES_LEN: Final = 32767


class MessageConst:
    """Standard property names (``MessageConst.java``), Java's constant names.

    Java reserves these names (:data:`SYSTEM_PROPERTY_KEYS`): the Java client rejects a user
    property that uses one of them.
    """

    PROPERTY_KEYS: Final = "KEYS"
    PROPERTY_TAGS: Final = "TAGS"
    PROPERTY_WAIT_STORE_MSG_OK: Final = "WAIT"
    PROPERTY_DELAY_TIME_LEVEL: Final = "DELAY"
    PROPERTY_RETRY_TOPIC: Final = "RETRY_TOPIC"
    PROPERTY_REAL_TOPIC: Final = "REAL_TOPIC"
    PROPERTY_REAL_QUEUE_ID: Final = "REAL_QID"
    PROPERTY_TRANSACTION_PREPARED: Final = "TRAN_MSG"
    PROPERTY_PRODUCER_GROUP: Final = "PGROUP"
    PROPERTY_MIN_OFFSET: Final = "MIN_OFFSET"
    PROPERTY_MAX_OFFSET: Final = "MAX_OFFSET"
    PROPERTY_BUYER_ID: Final = "BUYER_ID"
    PROPERTY_ORIGIN_MESSAGE_ID: Final = "ORIGIN_MESSAGE_ID"
    PROPERTY_TRANSFER_FLAG: Final = "TRANSFER_FLAG"
    PROPERTY_CORRECTION_FLAG: Final = "CORRECTION_FLAG"
    PROPERTY_MQ2_FLAG: Final = "MQ2_FLAG"
    PROPERTY_RECONSUME_TIME: Final = "RECONSUME_TIME"
    PROPERTY_MSG_REGION: Final = "MSG_REGION"
    PROPERTY_TRACE_SWITCH: Final = "TRACE_ON"
    PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX: Final = "UNIQ_KEY"
    PROPERTY_EXTEND_UNIQ_INFO: Final = "EXTEND_UNIQ_INFO"
    PROPERTY_MAX_RECONSUME_TIMES: Final = "MAX_RECONSUME_TIMES"
    PROPERTY_CONSUME_START_TIMESTAMP: Final = "CONSUME_START_TIME"
    PROPERTY_INNER_NUM: Final = "INNER_NUM"
    PROPERTY_INNER_BASE: Final = "INNER_BASE"
    DUP_INFO: Final = "DUP_INFO"
    PROPERTY_CHECK_IMMUNITY_TIME_IN_SECONDS: Final = "CHECK_IMMUNITY_TIME_IN_SECONDS"
    PROPERTY_TRANSACTION_PREPARED_QUEUE_OFFSET: Final = "TRAN_PREPARED_QUEUE_OFFSET"
    PROPERTY_TRANSACTION_ID: Final = "__transactionId__"
    PROPERTY_TRANSACTION_CHECK_TIMES: Final = "TRANSACTION_CHECK_TIMES"
    PROPERTY_INSTANCE_ID: Final = "INSTANCE_ID"
    PROPERTY_CORRELATION_ID: Final = "CORRELATION_ID"
    PROPERTY_MESSAGE_REPLY_TO_CLIENT: Final = "REPLY_TO_CLIENT"
    PROPERTY_MESSAGE_TTL: Final = "TTL"
    PROPERTY_REPLY_MESSAGE_ARRIVE_TIME: Final = "ARRIVE_TIME"
    PROPERTY_PUSH_REPLY_TIME: Final = "PUSH_REPLY_TIME"
    PROPERTY_CLUSTER: Final = "CLUSTER"
    PROPERTY_MESSAGE_TYPE: Final = "MSG_TYPE"
    PROPERTY_POP_CK: Final = "POP_CK"
    PROPERTY_POP_CK_OFFSET: Final = "POP_CK_OFFSET"
    PROPERTY_FIRST_POP_TIME: Final = "1ST_POP_TIME"
    PROPERTY_SHARDING_KEY: Final = "__SHARDINGKEY"
    PROPERTY_FORWARD_QUEUE_ID: Final = "PROPERTY_FORWARD_QUEUE_ID"
    PROPERTY_REDIRECT: Final = "REDIRECT"
    PROPERTY_INNER_MULTI_DISPATCH: Final = "INNER_MULTI_DISPATCH"
    PROPERTY_INNER_MULTI_QUEUE_OFFSET: Final = "INNER_MULTI_QUEUE_OFFSET"
    PROPERTY_TRACE_CONTEXT: Final = "TRACE_CONTEXT"
    PROPERTY_TIMER_DELAY_SEC: Final = "TIMER_DELAY_SEC"
    PROPERTY_TIMER_DELIVER_MS: Final = "TIMER_DELIVER_MS"
    PROPERTY_TIMER_DELAY_MS: Final = "TIMER_DELAY_MS"
    PROPERTY_TIMER_ENQUEUE_MS: Final = "TIMER_ENQUEUE_MS"
    PROPERTY_TIMER_DEQUEUE_MS: Final = "TIMER_DEQUEUE_MS"
    PROPERTY_TIMER_ROLL_TIMES: Final = "TIMER_ROLL_TIMES"
    PROPERTY_TIMER_OUT_MS: Final = "TIMER_OUT_MS"
    PROPERTY_TIMER_DEL_UNIQKEY: Final = "TIMER_DEL_UNIQKEY"
    PROPERTY_TIMER_DELAY_LEVEL: Final = "TIMER_DELAY_LEVEL"
    PROPERTY_BORN_HOST: Final = "__BORNHOST"
    PROPERTY_BORN_TIMESTAMP: Final = "BORN_TIMESTAMP"
    PROPERTY_CRC32: Final = "__CRC32#"
    PROPERTY_DLQ_ORIGIN_TOPIC: Final = "DLQ_ORIGIN_TOPIC"
    PROPERTY_DLQ_ORIGIN_MESSAGE_ID: Final = "DLQ_ORIGIN_MESSAGE_ID"
    PROPERTY_TRANSIENT_PREFIX: Final = "__RMQ.TRANSIENT."
    """Prefix of properties that live only in memory and are never stored (not a key)."""
    PROPERTY_START_DELIVER_TIME: Final = "__STARTDELIVERTIME"
    """Aliyun ONS delivery time; an Apache broker does not schedule on it."""


SYSTEM_PROPERTY_KEYS: Final[frozenset[str]] = frozenset(
    value
    for name, value in vars(MessageConst).items()
    if name.isupper() and isinstance(value, str) and name != "PROPERTY_TRANSIENT_PREFIX"
)
"""Every standard property name of :class:`MessageConst` (Java's ``STRING_HASH_SET``)."""


def encode_properties(
    properties: Mapping[str, str | None] | None, *, trailing_separator: bool = True
) -> str:
    """Encode properties as ``name\\x01value\\x02...``, in the mapping's order.

    Pairs whose value is ``None`` or empty are skipped: Java skips ``null`` values and every
    reader drops empty ones.

    Args:
        properties: the properties; ``None`` or empty gives ``""``.
        trailing_separator: end with ``\\x02`` (cpp, ali-ons, Java before 4.9.x); pass
            ``False`` to write what the Java 4.9.8 client and broker write.

    Raises:
        LocalProtocolError: a name is empty or a name or value contains ``\\x01``/``\\x02``.
    """
    if not properties:
        return ""
    parts: list[str] = []
    for name, value in properties.items():
        if not value:
            continue
        if not name or "\x01" in name or "\x02" in name:
            raise LocalProtocolError(f"invalid property name {name!r}")
        if "\x01" in value or "\x02" in value:
            raise LocalProtocolError(
                f"property {name!r} has a value with \\x01 or \\x02: {value!r}"
            )
        parts.append(f"{name}\x01{value}")
    if not parts:
        return ""
    text = "\x02".join(parts)
    return text + "\x02" if trailing_separator else text


def encode_properties_bytes(
    properties: Mapping[str, str | None] | None, *, trailing_separator: bool = True
) -> bytes:
    """:func:`encode_properties` as UTF-8, checked against the int16 length field (32767 bytes).

    Raises:
        LocalProtocolError: as :func:`encode_properties`, or the result is too long or holds
            text UTF-8 cannot carry (a lone surrogate).
    """
    text = encode_properties(properties, trailing_separator=trailing_separator)
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise LocalProtocolError(f"properties are not encodable as UTF-8: {exc}") from None
    if len(data) > _MAX_PROPERTIES_LEN:
        raise LocalProtocolError(
            f"properties of {len(data)} bytes exceed the {_MAX_PROPERTIES_LEN}-byte limit"
        )
    return data


def decode_properties(text: str | None) -> dict[str, str]:
    """Parse a properties string with Java's rules (``MessageDecoder.string2messageProperties``).

    Items without ``\\x01``, or with an empty name or value, are dropped; a later duplicate
    name overwrites the value but keeps the first position. Never raises.
    """
    result: dict[str, str] = {}
    if not text:
        return result
    for item in text.split("\x02"):
        sep = item.find("\x01")
        # sep > 0: non-empty name; sep < len - 1: non-empty value (Java: item length >= 3).
        if 0 < sep < len(item) - 1:
            result[item[:sep]] = item[sep + 1 :]
    return result


def decode_properties_bytes(data: bytes | bytearray | memoryview) -> dict[str, str]:
    """Decode UTF-8 properties bytes, then parse them as :func:`decode_properties`.

    Raises:
        RemoteProtocolError: the bytes are not valid UTF-8.
    """
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RemoteProtocolError(f"properties are not valid UTF-8: {exc}") from None
    return decode_properties(text)
