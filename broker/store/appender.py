"""Turning caller-filled :class:`MessageRecord` objects into commitlog bytes.

Records are checked and appended in one pass at their final offsets to the commitlog's
pending bytes (which many puts share one write of); a put refused half way removes what it
appended, so it never leaves part of a record behind.
"""

from __future__ import annotations

import functools
import struct
import zlib
from collections.abc import Sequence
from typing import Final

from broker.store.results import PutStatus
from rocketmq_py.exceptions import LocalProtocolError, RemoteProtocolError
from rocketmq_py.protocol.message import (
    MAGIC_CODE_V1,
    MAGIC_CODE_V2,
    MessageRecord,
    MessageSysFlag,
    decode_properties_bytes,
    encode_properties,
    ip_to_bytes,
)
from rocketmq_py.protocol.message._layout import (
    FIXED,
    INT16,
    MAX_INT16,
    MAX_V1_TOPIC_LEN,
    UINT16,
)

__all__ = ["MAX_PROPERTIES_SIZE", "append_records"]

MAX_PROPERTIES_SIZE: Final = 32767
_CRC_MASK: Final = 0x7FFFFFFF
_STORE_V6: Final = int(MessageSysFlag.STOREHOSTADDRESS_V6_FLAG)
_HOST_BITS: Final = MessageSysFlag.BORNHOST_V6_FLAG | MessageSysFlag.STOREHOSTADDRESS_V6_FLAG


def _properties_bytes(record: MessageRecord) -> bytes | PutStatus:
    raw = record.raw_properties
    if raw is not None:
        # The caller's exact bytes are kept while they still say what ``properties`` says,
        # so a caller that edits the dict without dropping the bytes cannot store stale ones.
        try:
            if decode_properties_bytes(raw) == record.properties:
                return raw
        except RemoteProtocolError:
            pass
    try:
        return encode_properties(record.properties, trailing_separator=False).encode("utf-8")
    except (LocalProtocolError, UnicodeEncodeError):
        return PutStatus.MESSAGE_ILLEGAL


# Producers' addresses repeat on every put (a failing one raises and is not cached).
_ip_bytes = functools.lru_cache(maxsize=4096)(ip_to_bytes)


@functools.lru_cache(maxsize=4096)  # one topic per put, the same on most puts
def _topic_layout(topic: bytes) -> tuple[int, bytes]:
    """A topic's record magic (V2 for topics too long for V1's one-byte length) and its
    length-prefixed bytes."""
    if len(topic) <= MAX_V1_TOPIC_LEN:
        return MAGIC_CODE_V1, bytes((len(topic),)) + topic
    return MAGIC_CODE_V2, UINT16.pack(len(topic)) + topic


def append_records(
    buf: bytearray,
    records: list[MessageRecord],
    topic: bytes,
    *,
    commit_log_offset: int,
    queue_offset: int | None,
    store_timestamp: int,
    store_ip: bytes,
    store_port: int,
    store_host: tuple[str, int],
    max_message_size: int,
    encoded_properties: Sequence[bytes | None] | None = None,
) -> int | PutStatus:
    """Check records and append them to ``buf`` back to back, the first going to
    ``commit_log_offset``; return the bytes appended.

    Each record gets consecutive queue offsets from ``queue_offset`` (``None``: not
    dispatched, stored as 0), and the store's fields (``commit_log_offset``, ``queue_offset``,
    ``store_timestamp``, ``store_host``, ``body_crc``, ``store_size``, and ``sys_flag`` with
    the host bits of the addresses).

    ``encoded_properties``, when given, holds for each record the exact bytes encoding its
    ``properties`` (the caller vouches for them, see :meth:`MessageStore.put_messages`) or
    ``None`` (encoded here).

    One pass, without an object per record: a ``struct.pack`` of the fixed part and four
    ``+=`` per record (1.2 us for a 1 KiB message, against 2.1 us for ``pack_record_into``
    into a buffer of its own).

    Returns:
        The size of the records, or the status refusing the put (``MESSAGE_ILLEGAL``,
        ``PROPERTIES_SIZE_EXCEEDED``) when one of them cannot be stored or, for a batch, when
        they pass ``max_message_size`` together; ``buf`` is then as
        it was (and the records' store fields are not meaningful).
    """
    if len(topic) > MAX_INT16:
        return PutStatus.MESSAGE_ILLEGAL
    start = len(buf)
    magic, topic_part = _topic_layout(topic)
    fixed_len = len(topic_part) + 2  # topic and properties length fields
    store_bits = _STORE_V6 if len(store_ip) == 16 else 0
    born_host: tuple[str, int] | None = None
    born_ip = b""
    offset = commit_log_offset
    for i, r in enumerate(records):
        given = None if encoded_properties is None else encoded_properties[i]
        props = _properties_bytes(r) if given is None else given
        if isinstance(props, PutStatus):
            return _undo(buf, start, props)
        if len(props) > MAX_PROPERTIES_SIZE:
            return _undo(buf, start, PutStatus.PROPERTIES_SIZE_EXCEEDED)
        if r.born_host is not born_host:  # the records of a batch share one
            born_host = r.born_host
            try:
                born_ip = _ip_bytes(born_host[0])
            except LocalProtocolError:
                return _undo(buf, start, PutStatus.MESSAGE_ILLEGAL)
        sys_flag = (r.sys_flag & ~_HOST_BITS) | store_bits
        if len(born_ip) == 16:
            sys_flag |= MessageSysFlag.BORNHOST_V6_FLAG
        fixed = FIXED[(sys_flag >> 4) & 3]
        body = r.body
        size = fixed.size + len(body) + fixed_len + len(props)
        # Each record and, for a batch, all of them together (Java's totalMsgLen check): the
        # records appended so far take offset - commit_log_offset bytes.
        if offset - commit_log_offset + size > max_message_size:
            return _undo(buf, start, PutStatus.MESSAGE_ILLEGAL)
        crc = zlib.crc32(body) & _CRC_MASK
        qoff = 0 if queue_offset is None else queue_offset + i
        try:
            head = fixed.pack(
                size,
                magic,
                crc,
                r.queue_id,
                r.flag,
                qoff,
                offset,
                sys_flag,
                r.born_timestamp,
                born_ip,
                born_host[1],
                store_timestamp,
                store_ip,
                store_port,
                r.reconsume_times,
                r.prepared_transaction_offset,
                len(body),
            )
        except struct.error:  # a value out of its field's range
            return _undo(buf, start, PutStatus.MESSAGE_ILLEGAL)
        buf += head
        buf += body
        buf += topic_part
        buf += INT16.pack(len(props))
        buf += props
        r.commit_log_offset = offset
        r.queue_offset = qoff
        r.store_timestamp = store_timestamp
        r.store_host = store_host
        r.body_crc = crc
        r.store_size = size
        r.sys_flag = sys_flag
        offset += size
    return offset - commit_log_offset


def _undo(buf: bytearray, start: int, status: PutStatus) -> PutStatus:
    """Drop what a refused put appended; return why it was refused."""
    del buf[start:]
    return status
