"""Validating commitlog records in place, as recovery walks the files.

:func:`check_record` checks a record the way Java's ``CommitLog.checkMessageAndReturnSize``
does (magic, sizes, lengths, optional body CRC), plus the physical offset the record stores,
a cheap guard against stale bytes that happen to parse, and extracts its
:class:`~broker.store.dispatch.DispatchRequest`.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Mapping
from typing import Final

from broker.store.dispatch import DispatchRequest, compute_tags_code, store_timestamp_position
from rocketmq_py.exceptions import RemoteProtocolError
from rocketmq_py.protocol.message import (
    BLANK_MAGIC_CODE,
    MAGIC_CODE_V1,
    MAGIC_CODE_V2,
    MessageConst,
    MessageSysFlag,
    decode_properties,
    decode_properties_bytes,
)

__all__ = ["RecordEnd", "check_record"]

# TOTALSIZE MAGIC BODYCRC QUEUEID FLAG QUEUEOFFSET PHYSICALOFFSET SYSFLAG BORNTIMESTAMP
_PREFIX: Final = struct.Struct(">iIiiiqqiq")
_INT32: Final = struct.Struct(">i")
_INT64: Final = struct.Struct(">q")
_INT16: Final = struct.Struct(">h")
_UINT16: Final = struct.Struct(">H")
_MIN_SIZE: Final = _PREFIX.size + 8 + 8 + 8 + 4 + 8 + 4 + 1 + 2
_CRC_MASK: Final = 0x7FFFFFFF


class RecordEnd:
    """Markers :func:`check_record` returns instead of a record."""

    BLANK: Final = -1
    """An end-of-file filler: continue at the next file."""
    INVALID: Final = -2
    """Zeros, a torn record or garbage: the log ends here."""


def check_record(
    mv: memoryview,
    pos: int,
    limit: int,
    file_start: int,
    *,
    check_crc: bool,
    delay_table: Mapping[int, int],
) -> DispatchRequest | int:
    """Validate the record at ``pos`` of a commitlog file and extract its dispatch facts.

    Args:
        mv: a view of the file's mapping (the caller releases it).
        pos: position in the file.
        limit: bytes of the file that may hold data (its size).
        file_start: the file's start offset (the record must store ``file_start + pos``).
        check_crc: verify the body CRC.
        delay_table: delay levels, for ``SCHEDULE_TOPIC_XXXX`` tags codes.

    Returns:
        A :class:`DispatchRequest`, or :attr:`RecordEnd.BLANK` / :attr:`RecordEnd.INVALID`.
    """
    if pos < 0 or limit - pos < 8:
        return RecordEnd.INVALID
    return _check(mv, pos, limit, file_start, check_crc=check_crc, delay_table=delay_table)


def _check(
    mv: memoryview,
    pos: int,
    limit: int,
    file_start: int,
    *,
    check_crc: bool,
    delay_table: Mapping[int, int],
) -> DispatchRequest | int:
    size, magic = struct.unpack_from(">iI", mv, pos)
    if magic == BLANK_MAGIC_CODE:
        return RecordEnd.BLANK if size == limit - pos else RecordEnd.INVALID
    if magic not in (MAGIC_CODE_V1, MAGIC_CODE_V2) or size < _MIN_SIZE or size > limit - pos:
        return RecordEnd.INVALID
    (
        _size,
        _magic,
        body_crc,
        queue_id,
        _flag,
        queue_offset,
        physical_offset,
        sys_flag,
        _born_ts,
    ) = _PREFIX.unpack_from(mv, pos)
    if physical_offset != file_start + pos:
        return RecordEnd.INVALID
    end = pos + size
    p = pos + store_timestamp_position(sys_flag)
    (store_ts,) = _INT64.unpack_from(mv, p)
    p += 8 + (20 if sys_flag & MessageSysFlag.STOREHOSTADDRESS_V6_FLAG else 8) + 4 + 8
    if p + 4 > end:
        return RecordEnd.INVALID
    (body_len,) = _INT32.unpack_from(mv, p)
    p += 4
    if body_len < 0 or p + body_len > end:
        return RecordEnd.INVALID
    if check_crc and zlib.crc32(mv[p : p + body_len]) & _CRC_MASK != body_crc:
        return RecordEnd.INVALID
    p += body_len
    if magic == MAGIC_CODE_V1:
        if p + 1 > end:
            return RecordEnd.INVALID
        topic_len = mv[p]
        p += 1
    else:
        if p + 2 > end:
            return RecordEnd.INVALID
        (topic_len,) = _UINT16.unpack_from(mv, p)
        p += 2
    if p + topic_len + 2 > end:
        return RecordEnd.INVALID
    try:
        topic = bytes(mv[p : p + topic_len]).decode("utf-8")
    except UnicodeDecodeError:
        return RecordEnd.INVALID
    p += topic_len
    (props_len,) = _INT16.unpack_from(mv, p)
    p += 2
    if props_len < 0 or p + props_len != end:
        return RecordEnd.INVALID
    try:
        properties = decode_properties_bytes(mv[p:end]) if props_len else {}
    except RemoteProtocolError:
        # Java decodes with replacement; a CRC-valid record must not end the log.
        properties = decode_properties(bytes(mv[p:end]).decode("utf-8", "replace"))
    return DispatchRequest(
        topic=topic,
        queue_id=queue_id,
        commit_log_offset=physical_offset,
        size=size,
        tags_code=compute_tags_code(topic, properties, store_ts, delay_table),
        store_timestamp=store_ts,
        queue_offset=queue_offset,
        sys_flag=sys_flag,
        keys=properties.get(MessageConst.PROPERTY_KEYS),
        uniq_key=properties.get(MessageConst.PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX),
    )
