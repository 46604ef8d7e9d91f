"""Turning caller-filled :class:`MessageRecord` objects into commitlog bytes.

Validation happens before anything is written (so a rejected put never leaves half a record),
then the records are packed into one bytearray at their final offsets for a single write.
"""

from __future__ import annotations

from typing import Final, NamedTuple

from broker.store.results import PutStatus
from rocketmq_py.exceptions import LocalProtocolError, RemoteProtocolError
from rocketmq_py.protocol.message import (
    MessageRecord,
    MessageSysFlag,
    decode_properties_bytes,
    encode_properties,
    ip_to_bytes,
    pack_record_into,
    record_size,
)

__all__ = ["MAX_PROPERTIES_SIZE", "PreparedRecord", "pack_records", "prepare_record"]

MAX_PROPERTIES_SIZE: Final = 32767
_HOST_BITS: Final = MessageSysFlag.BORNHOST_V6_FLAG | MessageSysFlag.STOREHOSTADDRESS_V6_FLAG


class PreparedRecord(NamedTuple):
    """A record checked and measured, ready to pack."""

    record: MessageRecord
    properties: bytes
    born_ip: bytes
    sys_flag: int
    size: int


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


def prepare_record(
    record: MessageRecord, topic: bytes, store_v6: bool, max_message_size: int
) -> PreparedRecord | PutStatus:
    """Check one record and compute its size; a :class:`PutStatus` when it must be refused."""
    properties = _properties_bytes(record)
    if isinstance(properties, PutStatus):
        return properties
    if len(properties) > MAX_PROPERTIES_SIZE:
        return PutStatus.PROPERTIES_SIZE_EXCEEDED
    try:
        born_ip = ip_to_bytes(record.born_host[0])
    except LocalProtocolError:
        return PutStatus.MESSAGE_ILLEGAL
    sys_flag = record.sys_flag & ~_HOST_BITS
    if len(born_ip) == 16:
        sys_flag |= MessageSysFlag.BORNHOST_V6_FLAG
    if store_v6:
        sys_flag |= MessageSysFlag.STOREHOSTADDRESS_V6_FLAG
    size = record_size(len(record.body), len(topic), len(properties), sys_flag)
    if size > max_message_size:
        return PutStatus.MESSAGE_ILLEGAL
    return PreparedRecord(record, properties, born_ip, sys_flag, size)


def pack_records(
    prepared: list[PreparedRecord],
    topic: bytes,
    total: int,
    *,
    commit_log_offset: int,
    queue_offset: int,
    dispatched: bool,
    store_timestamp: int,
    store_ip: bytes,
    store_port: int,
) -> bytearray | PutStatus:
    """Pack records (``total`` bytes together) back to back; consecutive queue offsets when
    ``dispatched``, else 0."""
    buf = bytearray(total)
    pos = 0
    for i, p in enumerate(prepared):
        r = p.record
        try:
            pack_record_into(
                buf,
                pos,
                topic=topic,
                body=r.body,
                properties=p.properties,
                queue_id=r.queue_id,
                flag=r.flag,
                queue_offset=queue_offset + i if dispatched else 0,
                commit_log_offset=commit_log_offset + pos,
                sys_flag=p.sys_flag,
                born_timestamp=r.born_timestamp,
                born_ip=p.born_ip,
                born_port=r.born_host[1],
                store_timestamp=store_timestamp,
                store_ip=store_ip,
                store_port=store_port,
                reconsume_times=r.reconsume_times,
                prepared_transaction_offset=r.prepared_transaction_offset,
            )
        except LocalProtocolError:
            return PutStatus.MESSAGE_ILLEGAL
        pos += p.size
    return buf
