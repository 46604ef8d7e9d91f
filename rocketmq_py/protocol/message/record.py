"""The stored message record: commitlog entries, pull/query/view bodies, check-back bodies.

One record (``MessageDecoder`` / ``CommitLog.doAppend``), big-endian::

    int32 TOTALSIZE   int32 MAGICCODE   int32 BODYCRC   int32 QUEUEID   int32 FLAG
    int64 QUEUEOFFSET int64 PHYSICALOFFSET int32 SYSFLAG int64 BORNTIMESTAMP
    BORNHOST  (4-byte IPv4, or 16-byte IPv6 when SYSFLAG has 0x10) + int32 port
    int64 STORETIMESTAMP
    STOREHOST (4-byte IPv4, or 16-byte IPv6 when SYSFLAG has 0x20) + int32 port
    int32 RECONSUMETIMES int64 PREPARED_TRANSACTION_OFFSET
    int32 BODYLEN + body
    TOPICLEN (1 byte for magic V1, 2 bytes for V2) + topic (UTF-8)
    int16 PROPERTIESLEN + properties (UTF-8)

V1 (0xDAA320A7) is written when the topic fits in 127 bytes, else V2 (0xDAA320AB). A 1 GiB
commitlog file ends with a blank filler (int32 length, int32 0xCBD43194) when the next record
does not fit. This module builds records; ``record_reader`` decodes them.

See ``protocol.md`` section 4.1.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from rocketmq_py.exceptions import LocalProtocolError
from rocketmq_py.protocol.message._layout import (
    BLANK_MAGIC_CODE,
    BORN_TIMESTAMP_POSITION,
    END_FILE_MIN_BLANK_LENGTH,
    FIXED,
    INT16,
    MAGIC_CODE_V1,
    MAGIC_CODE_V2,
    MAX_INT16,
    MAX_INT32,
    MAX_V1_TOPIC_LEN,
    PHYSICAL_OFFSET_POSITION,
    QUEUE_OFFSET_POSITION,
    SIZE_MAGIC,
    SYS_FLAG_POSITION,
    UINT16,
    WritableBuffer,
)
from rocketmq_py.protocol.message.hashing import crc32
from rocketmq_py.protocol.message.msgid import encode_offset_msg_id, ip_to_bytes
from rocketmq_py.protocol.message.properties import (
    MessageConst,
    decode_properties_bytes,
    encode_properties_bytes,
)
from rocketmq_py.protocol.message.sysflag import MessageSysFlag

__all__ = [
    "BLANK_MAGIC_CODE",
    "BORN_TIMESTAMP_POSITION",
    "END_FILE_MIN_BLANK_LENGTH",
    "MAGIC_CODE_V1",
    "MAGIC_CODE_V2",
    "PHYSICAL_OFFSET_POSITION",
    "QUEUE_OFFSET_POSITION",
    "SYS_FLAG_POSITION",
    "MessageRecord",
    "encode_blank",
    "encode_record",
    "pack_blank_into",
    "pack_record_into",
    "record_size",
]


@dataclass(slots=True)
class MessageRecord:
    """One stored message (Java ``MessageExt``).

    ``body_crc`` and ``store_size`` are what decoding read; encoding computes both.
    ``raw_properties`` keeps the exact properties bytes a decoded record carried (Java stores
    them in ``HashMap`` order, sometimes with a repeated name), so that re-encoding reproduces
    the record byte for byte; encoding uses them only while they still parse to ``properties``.

    Attributes:
        topic: the topic name.
        body: the body as stored (compressed when ``sys_flag`` has ``COMPRESSED_FLAG``).
        flag: the user's ``Message.flag``.
        properties: the message properties (:class:`MessageConst` names and user ones).
        queue_id: the queue in the topic.
        queue_offset: the consume-queue (logical) offset.
        commit_log_offset: the physical offset of the record in the commitlog.
        sys_flag: :class:`MessageSysFlag` bits; the two host bits follow the addresses.
        born_timestamp: when the producer created the message, epoch ms.
        born_host: the producer's ``(ip, port)``.
        store_timestamp: when the broker stored the message, epoch ms.
        store_host: the storing broker's ``(ip, port)``.
        reconsume_times: how often the message was redelivered.
        prepared_transaction_offset: for committed transactional messages, the half message's
            commitlog offset.
        body_crc: the stored ``BODYCRC``.
        store_size: the stored ``TOTALSIZE``.
        raw_properties: the exact stored properties bytes, or ``None``.
    """

    topic: str
    body: bytes = b""
    flag: int = 0
    properties: dict[str, str] = field(default_factory=dict)
    queue_id: int = 0
    queue_offset: int = 0
    commit_log_offset: int = 0
    sys_flag: int = 0
    born_timestamp: int = 0
    born_host: tuple[str, int] = ("0.0.0.0", 0)
    store_timestamp: int = 0
    store_host: tuple[str, int] = ("0.0.0.0", 0)
    reconsume_times: int = 0
    prepared_transaction_offset: int = 0
    body_crc: int = 0
    store_size: int = 0
    raw_properties: bytes | None = field(default=None, repr=False, compare=False)

    @property
    def tags(self) -> str | None:
        """The ``TAGS`` property."""
        return self.properties.get(MessageConst.PROPERTY_TAGS)

    @property
    def keys(self) -> str | None:
        """The ``KEYS`` property (space-separated keys)."""
        return self.properties.get(MessageConst.PROPERTY_KEYS)

    @property
    def unique_key(self) -> str | None:
        """The client's message id (``UNIQ_KEY``)."""
        return self.properties.get(MessageConst.PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX)

    @property
    def offset_msg_id(self) -> str:
        """The broker's id for this record: store host and commitlog offset."""
        ip, port = self.store_host
        return encode_offset_msg_id(ip, port, self.commit_log_offset)

    @property
    def msg_id(self) -> str:
        """What a Java consumer shows as ``msgId``: ``UNIQ_KEY``, else the offset id."""
        return self.unique_key or self.offset_msg_id


def record_size(body_len: int, topic_len: int, properties_len: int, sys_flag: int = 0) -> int:
    """``TOTALSIZE`` of a record with these byte lengths (Java ``calMsgLength``).

    The host sizes follow ``sys_flag``'s IPv6 bits; the topic length field is 2 bytes when
    ``topic_len`` exceeds 127 (magic V2).
    """
    fixed = FIXED[(sys_flag >> 4) & 3].size
    topic_field = 1 if topic_len <= MAX_V1_TOPIC_LEN else 2
    return fixed + body_len + topic_field + topic_len + 2 + properties_len


def pack_record_into(
    buf: WritableBuffer,
    pos: int,
    *,
    topic: bytes,
    body: bytes,
    properties: bytes,
    queue_id: int,
    flag: int,
    queue_offset: int,
    commit_log_offset: int,
    sys_flag: int,
    born_timestamp: int,
    born_ip: bytes,
    born_port: int,
    store_timestamp: int,
    store_ip: bytes,
    store_port: int,
    reconsume_times: int = 0,
    prepared_transaction_offset: int = 0,
    body_crc: int | None = None,
) -> int:
    """Write one record into ``buf`` at ``pos`` and return its size (the broker's fast path).

    Args:
        buf: a bytearray, memoryview or mmap with room for the record at ``pos``.
        pos: where the record starts in ``buf``.
        topic: UTF-8 topic; longer than 127 bytes selects magic V2.
        body: the body exactly as to be stored.
        properties: the encoded properties (:func:`encode_properties_bytes`).
        born_ip: 4 or 16 bytes (:func:`ip_to_bytes`); 16 sets ``BORNHOST_V6_FLAG``.
        store_ip: 4 or 16 bytes; 16 sets ``STOREHOSTADDRESS_V6_FLAG``.
        body_crc: the CRC to store; ``None`` computes :func:`crc32` of ``body``.
        queue_id, flag, queue_offset, commit_log_offset, sys_flag, born_timestamp, born_port,
        store_timestamp, store_port, reconsume_times, prepared_transaction_offset: the fields
            of the same names (the host bits of ``sys_flag`` are replaced).

    Raises:
        LocalProtocolError: a length or value does not fit its field, an address is not 4 or
            16 bytes, or the record does not fit in ``buf`` (nothing is written then).
    """
    born_v6 = len(born_ip) == 16
    store_v6 = len(store_ip) == 16
    if not born_v6 and len(born_ip) != 4:
        raise LocalProtocolError(f"born host address must be 4 or 16 bytes, got {born_ip!r}")
    if not store_v6 and len(store_ip) != 4:
        raise LocalProtocolError(f"store host address must be 4 or 16 bytes, got {store_ip!r}")
    topic_len = len(topic)
    body_len = len(body)
    props_len = len(properties)
    if topic_len > MAX_INT16:
        raise LocalProtocolError(f"topic of {topic_len} bytes exceeds {MAX_INT16}")
    if props_len > MAX_INT16:
        raise LocalProtocolError(f"properties of {props_len} bytes exceed {MAX_INT16}")
    sys_flag &= ~(MessageSysFlag.BORNHOST_V6_FLAG | MessageSysFlag.STOREHOSTADDRESS_V6_FLAG)
    if born_v6:
        sys_flag |= MessageSysFlag.BORNHOST_V6_FLAG
    if store_v6:
        sys_flag |= MessageSysFlag.STOREHOSTADDRESS_V6_FLAG
    fixed = FIXED[(sys_flag >> 4) & 3]
    v1 = topic_len <= MAX_V1_TOPIC_LEN
    size = fixed.size + body_len + (1 if v1 else 2) + topic_len + 2 + props_len
    if size > MAX_INT32:
        raise LocalProtocolError(f"record of {size} bytes exceeds the int32 size field")
    if pos < 0 or pos + size > len(buf):
        raise LocalProtocolError(
            f"record of {size} bytes does not fit at position {pos} of a {len(buf)}-byte buffer"
        )
    try:
        fixed.pack_into(
            buf,
            pos,
            size,
            MAGIC_CODE_V1 if v1 else MAGIC_CODE_V2,
            crc32(body) if body_crc is None else body_crc,
            queue_id,
            flag,
            queue_offset,
            commit_log_offset,
            sys_flag,
            born_timestamp,
            born_ip,
            born_port,
            store_timestamp,
            store_ip,
            store_port,
            reconsume_times,
            prepared_transaction_offset,
            body_len,
        )
    except struct.error as exc:
        raise LocalProtocolError(f"record field out of range: {exc}") from None
    p = pos + fixed.size
    buf[p : p + body_len] = body
    p += body_len
    if v1:
        buf[p] = topic_len
        p += 1
    else:
        UINT16.pack_into(buf, p, topic_len)
        p += 2
    buf[p : p + topic_len] = topic
    p += topic_len
    INT16.pack_into(buf, p, props_len)
    p += 2
    buf[p : p + props_len] = properties
    return size


def _record_properties(record: MessageRecord, trailing_separator: bool) -> bytes:
    raw = record.raw_properties
    if raw is not None and decode_properties_bytes(raw) == record.properties:
        return raw
    return encode_properties_bytes(record.properties, trailing_separator=trailing_separator)


def encode_record(record: MessageRecord, *, trailing_separator: bool = False) -> bytes:
    """Encode a record; ``body_crc`` and ``store_size`` are computed, the host bits follow
    the addresses' families.

    Args:
        record: the message.
        trailing_separator: end re-serialized properties with ``\\x02``; the default matches
            what the Java 4.9.8 broker stores. Unused when ``raw_properties`` is used.

    Raises:
        LocalProtocolError: an address is not an IP, or a value does not fit its field.
    """
    try:
        topic = record.topic.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise LocalProtocolError(f"topic is not encodable as UTF-8: {exc}") from None
    properties = _record_properties(record, trailing_separator)
    born_ip = ip_to_bytes(record.born_host[0])
    store_ip = ip_to_bytes(record.store_host[0])
    sys_flag = MessageSysFlag.with_hosts(
        record.sys_flag, born_v6=len(born_ip) == 16, store_v6=len(store_ip) == 16
    )
    buf = bytearray(record_size(len(record.body), len(topic), len(properties), sys_flag))
    pack_record_into(
        buf,
        0,
        topic=topic,
        body=record.body,
        properties=properties,
        queue_id=record.queue_id,
        flag=record.flag,
        queue_offset=record.queue_offset,
        commit_log_offset=record.commit_log_offset,
        sys_flag=sys_flag,
        born_timestamp=record.born_timestamp,
        born_ip=born_ip,
        born_port=record.born_host[1],
        store_timestamp=record.store_timestamp,
        store_ip=store_ip,
        store_port=record.store_host[1],
        reconsume_times=record.reconsume_times,
        prepared_transaction_offset=record.prepared_transaction_offset,
    )
    return bytes(buf)


def encode_blank(length: int) -> bytes:
    """The 8-byte end-of-file filler header for ``length`` unused bytes at the end of a file."""
    if not END_FILE_MIN_BLANK_LENGTH <= length <= MAX_INT32:
        raise LocalProtocolError(f"blank length must be 8..{MAX_INT32}, got {length}")
    return SIZE_MAGIC.pack(length, BLANK_MAGIC_CODE)


def pack_blank_into(buf: WritableBuffer, pos: int, length: int) -> int:
    """Write the filler header at ``pos`` (the rest of the file is left as is); return 8.

    Raises:
        LocalProtocolError: ``length`` below 8 or past the end of ``buf``.
    """
    if pos < 0 or pos + length > len(buf):
        raise LocalProtocolError(
            f"blank of {length} bytes does not fit at position {pos} of a {len(buf)}-byte buffer"
        )
    buf[pos : pos + END_FILE_MIN_BLANK_LENGTH] = encode_blank(length)
    return END_FILE_MIN_BLANK_LENGTH
