"""Decoding stored message records: pull, query and view bodies, commitlog scans.

Pull, query and view responses carry records back to back (:func:`iter_records`). A commitlog
scan hops from record to record with :func:`read_record_header` and stops at a blank filler
(:func:`is_blank`). The layout is in ``record``.

See ``protocol.md`` section 4.1.
"""

from __future__ import annotations

from collections.abc import Iterator

from rocketmq_py.exceptions import RemoteProtocolError
from rocketmq_py.protocol.message._layout import (
    BLANK_MAGIC_CODE,
    FIXED,
    INT16,
    INT32,
    MAGIC_CODE_V1,
    MAGIC_CODE_V2,
    MIN_RECORD_SIZE,
    SIZE_MAGIC,
    SYS_FLAG_POSITION,
    UINT16,
    ReadableBuffer,
)
from rocketmq_py.protocol.message.compression import decompress_body
from rocketmq_py.protocol.message.hashing import crc32
from rocketmq_py.protocol.message.msgid import ip_to_str
from rocketmq_py.protocol.message.properties import decode_properties_bytes
from rocketmq_py.protocol.message.record import MessageRecord
from rocketmq_py.protocol.message.sysflag import MessageSysFlag

__all__ = [
    "decode_record",
    "is_blank",
    "iter_records",
    "read_record_header",
]


def read_record_header(buf: ReadableBuffer, offset: int = 0) -> tuple[int, int]:
    """Read ``(TOTALSIZE, MAGICCODE)`` at ``offset``, to hop over records without decoding.

    Raises:
        RemoteProtocolError: fewer than 8 bytes remain.
    """
    if offset < 0 or len(buf) - offset < 8:
        raise RemoteProtocolError(
            f"truncated record header at offset {offset}: "
            f"{max(len(buf) - offset, 0)} of 8 bytes available"
        )
    size, magic = SIZE_MAGIC.unpack_from(buf, offset)
    return size, magic


def decode_record(
    buf: ReadableBuffer, offset: int = 0, *, check_crc: bool = False, decompress: bool = False
) -> tuple[MessageRecord, int]:
    """Decode the record at ``offset``; return it and the offset just past it.

    Args:
        buf: bytes, bytearray, memoryview or mmap.
        offset: where the record starts.
        check_crc: verify ``BODYCRC`` against the stored body.
        decompress: inflate a compressed body and clear ``COMPRESSED_FLAG`` in ``sys_flag``
            (``body_crc`` still describes the stored bytes).

    Raises:
        RemoteProtocolError: truncated input, an unknown or blank magic code, a length running
            past the record, ``TOTALSIZE`` disagreeing with the fields, invalid UTF-8, a CRC
            mismatch (``check_crc``) or an undecodable body (``decompress``). The message names
            the offset.
    """
    size, magic = read_record_header(buf, offset)
    if magic not in (MAGIC_CODE_V1, MAGIC_CODE_V2):
        if magic == BLANK_MAGIC_CODE:
            raise RemoteProtocolError(f"blank end-of-file filler at offset {offset}, not a record")
        raise RemoteProtocolError(f"bad magic code 0x{magic:08X} at offset {offset}")
    if size < MIN_RECORD_SIZE:
        raise RemoteProtocolError(
            f"record at offset {offset} declares TOTALSIZE {size}, below the minimum "
            f"{MIN_RECORD_SIZE}"
        )
    available = len(buf) - offset
    if size > available:
        raise RemoteProtocolError(
            f"truncated record at offset {offset}: TOTALSIZE {size}, {available} bytes available"
        )
    end = offset + size
    (sys_flag,) = INT32.unpack_from(buf, offset + SYS_FLAG_POSITION)
    fixed = FIXED[(sys_flag >> 4) & 3]
    if size < fixed.size:
        raise RemoteProtocolError(
            f"record at offset {offset}: TOTALSIZE {size} is shorter than its fixed fields"
        )
    (
        _size,
        _magic,
        body_crc,
        queue_id,
        flag,
        queue_offset,
        commit_log_offset,
        _sys_flag,
        born_timestamp,
        born_ip,
        born_port,
        store_timestamp,
        store_ip,
        store_port,
        reconsume_times,
        prepared_transaction_offset,
        body_len,
    ) = fixed.unpack_from(buf, offset)
    pos = offset + fixed.size
    if body_len < 0 or body_len > end - pos:
        raise RemoteProtocolError(
            f"record at offset {offset}: BODYLEN {body_len} runs past TOTALSIZE {size}"
        )
    body = bytes(buf[pos : pos + body_len])
    pos += body_len
    if magic == MAGIC_CODE_V1:
        if pos + 1 > end:
            raise RemoteProtocolError(f"record at offset {offset}: no room for TOPICLEN")
        topic_len = buf[pos]
        pos += 1
    else:
        if pos + 2 > end:
            raise RemoteProtocolError(f"record at offset {offset}: no room for TOPICLEN")
        (topic_len,) = UINT16.unpack_from(buf, pos)
        pos += 2
    if pos + topic_len + 2 > end:
        raise RemoteProtocolError(
            f"record at offset {offset}: TOPICLEN {topic_len} runs past TOTALSIZE {size}"
        )
    try:
        topic = bytes(buf[pos : pos + topic_len]).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RemoteProtocolError(f"record at offset {offset}: topic is not UTF-8: {exc}") from None
    pos += topic_len
    (props_len,) = INT16.unpack_from(buf, pos)
    pos += 2
    if props_len < 0 or pos + props_len != end:
        raise RemoteProtocolError(
            f"record at offset {offset}: PROPERTIESLEN {props_len} disagrees with TOTALSIZE "
            f"{size} ({end - pos} bytes left)"
        )
    raw_properties = bytes(buf[pos:end])
    try:
        properties = decode_properties_bytes(raw_properties)
    except RemoteProtocolError as exc:
        raise RemoteProtocolError(f"record at offset {offset}: {exc}") from None
    if check_crc:
        actual = crc32(body)
        if actual != body_crc:
            raise RemoteProtocolError(
                f"record at offset {offset}: body CRC mismatch (stored {body_crc}, "
                f"computed {actual})"
            )
    if decompress and sys_flag & MessageSysFlag.COMPRESSED_FLAG:
        try:
            body, sys_flag = decompress_body(body, sys_flag)
        except RemoteProtocolError as exc:
            raise RemoteProtocolError(f"record at offset {offset}: {exc}") from None
    record = MessageRecord(
        topic=topic,
        body=body,
        flag=flag,
        properties=properties,
        queue_id=queue_id,
        queue_offset=queue_offset,
        commit_log_offset=commit_log_offset,
        sys_flag=sys_flag,
        born_timestamp=born_timestamp,
        born_host=(ip_to_str(born_ip), born_port),
        store_timestamp=store_timestamp,
        store_host=(ip_to_str(store_ip), store_port),
        reconsume_times=reconsume_times,
        prepared_transaction_offset=prepared_transaction_offset,
        body_crc=body_crc,
        store_size=size,
        raw_properties=raw_properties,
    )
    return record, end


def iter_records(
    buf: ReadableBuffer, *, check_crc: bool = False, decompress: bool = False
) -> Iterator[MessageRecord]:
    """Decode back-to-back records filling ``buf`` (a pull, query or view response body).

    Raises:
        RemoteProtocolError: as :func:`decode_record`, for the first bad record.
    """
    offset = 0
    n = len(buf)
    while offset < n:
        record, offset = decode_record(buf, offset, check_crc=check_crc, decompress=decompress)
        yield record


def is_blank(buf: ReadableBuffer, offset: int = 0) -> bool:
    """Whether an end-of-file filler starts at ``offset`` (False when fewer than 8 bytes)."""
    if offset < 0 or len(buf) - offset < 8:
        return False
    magic: int = SIZE_MAGIC.unpack_from(buf, offset)[1]
    return magic == BLANK_MAGIC_CODE
