"""Text the way Apache's mqadmin prints it: Java dates, maps, booleans and ``MessageExt``.

Scripts written against Apache's tool parse these strings, so they follow the Java source
(``UtilAll``, ``AbstractMap.toString``, ``MessageExt.toString``) rather than Python habits.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping

from rocketmq_py.message import MessageView
from rocketmq_py.protocol.message import java_hash_map_order

__all__ = [
    "format_date",
    "front",
    "java_bool",
    "java_bytes",
    "java_map",
    "java_str",
    "message_ext_str",
    "parse_timestamp",
    "time_millis_to_human2",
]


def _local(ms: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(ms / 1000)


def time_millis_to_human2(ms: int) -> str:
    """``UtilAll.timeMillisToHumanString2``: ``2024-05-01 12:00:00,123`` (local time)."""
    t = _local(ms)
    return f"{t:%Y-%m-%d %H:%M:%S},{ms % 1000:03d}"


def format_date(ms: int) -> str:
    """``UtilAll.formatDate(date, "yyyy-MM-dd HH:mm:ss")`` (local time)."""
    return f"{_local(ms):%Y-%m-%d %H:%M:%S}"


def parse_timestamp(text: str) -> int:
    """``consumeMessage``'s ``-s``/``-e``: epoch ms, or ``yyyy-MM-dd#HH:mm:ss:SSS`` local time.

    Raises:
        ValueError: neither form.
    """
    value = text.strip()
    try:
        return int(value)
    except ValueError:
        pass
    parsed = datetime.datetime.strptime(value, "%Y-%m-%d#%H:%M:%S:%f")
    return int(parsed.timestamp() * 1000)


def front(text: str, size: int) -> str:
    """``UtilAll.frontStringAtLeast``: at most the first ``size`` characters."""
    return text[:size]


def java_bool(text: str) -> bool:
    """``Boolean.parseBoolean``: true only for ``true`` in any case."""
    return text.strip().lower() == "true"


def java_str(value: object) -> str:
    """``String.valueOf``: ``null`` for ``None``, ``true``/``false`` for booleans."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def java_map(properties: Mapping[str, str]) -> str:
    """``HashMap.toString`` of message properties: ``{KEYS=k, TAGS=t}`` in Java's order."""
    keys = java_hash_map_order(properties)
    return "{" + ", ".join(f"{k}={properties[k]}" for k in keys) + "}"


def java_bytes(data: bytes) -> str:
    """``Arrays.toString(byte[])``: signed bytes, ``[104, -61]``."""
    return "[" + ", ".join(str(b - 256 if b > 127 else b) for b in data) + "]"


def message_ext_str(message: MessageView, properties: Mapping[str, str]) -> str:
    """``MessageExt.toString`` of a pulled message (4.9 layout), with ``properties`` as the
    client holds them (a pull adds ``MIN_OFFSET`` and ``MAX_OFFSET``)."""
    return (
        f"MessageExt [brokerName={message.queue.broker_name}, queueId={message.queue.queue_id}, "
        f"storeSize={message.store_size}, queueOffset={message.queue_offset}, "
        f"sysFlag={message.sys_flag}, bornTimestamp={message.born_timestamp}, "
        f"bornHost=/{message.born_host}, storeTimestamp={message.store_timestamp}, "
        f"storeHost=/{message.store_host}, msgId={message.offset_msg_id}, "
        f"commitLogOffset={message.commit_log_offset}, bodyCRC={message.body_crc}, "
        f"reconsumeTimes={message.reconsume_times}, "
        f"preparedTransactionOffset={message.prepared_transaction_offset}, "
        f"toString()=Message{{topic='{message.queue.topic}', flag={message.flag}, "
        f"properties={java_map(properties)}, body={java_bytes(message.body)}, "
        f"transactionId='null'}}]"
    )
