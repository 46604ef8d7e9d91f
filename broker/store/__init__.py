"""The broker's message store: commitlog, consume queues, index, checkpoint and recovery.

On-disk formats are Apache RocketMQ's (``protocol.md`` section 6): records of section 4.1 in
1 GiB commitlog segments, 20-byte consume-queue entries, ``IndexFile`` hash slots, the
4096-byte checkpoint, the ``abort`` marker. Modules:

* ``message_store``: :class:`MessageStore`, the facade the processors use.
* ``reads``: the read half (pulls, offsets, lookups by offset and key).
* ``writes``: the write half (puts, deferred writes, dispatch, waits for a flush).
* ``appender``: validating and packing records for a put.
* ``commitlog``, ``consume_queue``, ``index``, ``checkpoint``: the files.
* ``mapped_file``: fixed-size files named by offset.
* ``dispatch``: what a record contributes to queues and index.
* ``flush``: flusher threads and group-commit waiters.
* ``recovery``: making files agree at load.
* ``cleanup``: retention and disk usage.
* ``record_check``: validating records in place during recovery.
* ``stats``: counters for the runtime-info table.
* ``lock_file``: the directory lock.
* ``config``, ``results``: settings and answers.
"""

from __future__ import annotations

from broker.store.config import FlushDiskType, StoreConfig
from broker.store.message_store import MessageStore
from broker.store.reads import MAX_PULL_MSG_SIZE
from broker.store.recovery import RecoveryReport
from broker.store.results import (
    GetMessageResult,
    GetMessageStatus,
    PutResult,
    PutStatus,
    QueryMessageResult,
)
from broker.store.stats import StoreStats

__all__ = [
    "MAX_PULL_MSG_SIZE",
    "FlushDiskType",
    "GetMessageResult",
    "GetMessageStatus",
    "MessageStore",
    "PutResult",
    "PutStatus",
    "QueryMessageResult",
    "RecoveryReport",
    "StoreConfig",
    "StoreStats",
]
