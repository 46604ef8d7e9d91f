"""The half and OP queues as the check-back service reads them (Java's
``TransactionalMessageBridge``).

Both are queue 0 of their system topic. How far the service got in each is stored as the
consumer offset of the system group ``CID_RMQ_SYS_TRANS`` in the broker's
:class:`~broker.managers.ConsumerOffsetManager`, so it is written to ``consumerOffset.json``
with every other offset and a restarted broker resumes from there; everything else the service
knows is read again from the two queues.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from broker.store import GetMessageStatus
from broker.transaction.half import CHECK_GROUP, HALF_TOPIC, OP_TOPIC, REMOVE_TAG, parse_op_offsets
from rocketmq_py.protocol.message import MessageRecord, decode_record

if TYPE_CHECKING:
    from broker.managers import ConsumerOffsetManager
    from broker.store import MessageStore

__all__ = ["HalfRead", "OpEntry", "TransactionQueues"]

log = logging.getLogger("broker.transaction")

QUEUE_ID = 0
_STALE = (
    GetMessageStatus.OFFSET_TOO_SMALL,
    GetMessageStatus.OFFSET_OVERFLOW_BADLY,
    GetMessageStatus.NO_MATCHED_MESSAGE,
    GetMessageStatus.OFFSET_FOUND_NULL,
    GetMessageStatus.MESSAGE_WAS_REMOVING,
)


@dataclass(slots=True)
class HalfRead:
    """One read of the half queue.

    Attributes:
        record: the half message at the offset asked for, or ``None``.
        next_offset: where to read next when ``record`` is ``None`` and ``moved`` is true
            (the offset was cleaned away, or lies past the end of the queue).
        moved: ``record`` is ``None`` because the offset is unreadable, not because the queue
            has nothing more.
    """

    record: MessageRecord | None
    next_offset: int
    moved: bool = False


@dataclass(slots=True)
class OpEntry:
    """One OP record: its own queue offset and the half queue offsets it resolves."""

    op_offset: int
    half_offsets: list[int]


class TransactionQueues:
    """Reads of the half and OP queues and the check progress in both."""

    def __init__(self, store: MessageStore, offsets: ConsumerOffsetManager, host: str) -> None:
        self.store = store
        self.offsets = offsets
        self.host = host

    # -- progress ---------------------------------------------------------------------------

    def progress(self, topic: str) -> int:
        """The next offset to examine in ``topic``'s queue (Java ``fetchConsumeOffset``:
        the queue's minimum when the service never stored one).

        A stored offset past the end of the queue (a ``consumerOffset.json`` that outlived its
        store) also means the minimum: everything is read again rather than skipped.
        """
        offset = self.offsets.query_offset(CHECK_GROUP, topic, QUEUE_ID)
        if offset > self.store.get_max_offset_in_queue(topic, QUEUE_ID):
            log.warning("check progress %d in %s lies past its end; starting over", offset, topic)
            offset = -1
        if offset < 0:
            offset = self.store.get_min_offset_in_queue(topic, QUEUE_ID)
        return offset

    def set_progress(self, topic: str, offset: int) -> None:
        """Store the progress in ``topic`` (Java ``updateConsumeOffset``)."""
        self.offsets.commit_offset(self.host, CHECK_GROUP, topic, QUEUE_ID, offset)

    def max_offset(self, topic: str) -> int:
        """The offset the next record of ``topic``'s queue will get."""
        return self.store.get_max_offset_in_queue(topic, QUEUE_ID)

    # -- reads ------------------------------------------------------------------------------

    def half(self, offset: int) -> HalfRead:
        """The half message at ``offset``."""
        result = self.store.get_message(HALF_TOPIC, QUEUE_ID, offset, 1)
        if result.status == GetMessageStatus.FOUND and result.buffers:
            record, _ = decode_record(result.buffers[0])
            return HalfRead(record, offset + 1)
        if result.status in _STALE and result.next_begin_offset != offset:
            # cleaned away (forward to the minimum) or past the end (back to the maximum:
            # the store was replaced under an old consumerOffset.json)
            return HalfRead(None, result.next_begin_offset, moved=True)
        return HalfRead(None, offset)

    def ops(self, offset: int, max_nums: int) -> tuple[list[OpEntry], int]:
        """Up to ``max_nums`` OP records from ``offset``, and the offset to read next.

        A record with another tag than ``d`` resolves nothing (Java logs it and skips it).
        """
        result = self.store.get_message(OP_TOPIC, QUEUE_ID, offset, max_nums)
        if result.status != GetMessageStatus.FOUND:
            if result.status in _STALE and result.next_begin_offset != offset:
                return [], result.next_begin_offset
            return [], offset
        entries = []
        for raw, op_offset in zip(result.buffers, result.queue_offsets, strict=True):
            record, _ = decode_record(raw)
            halves = parse_op_offsets(record.body) if record.tags == REMOVE_TAG else []
            entries.append(OpEntry(op_offset, halves))
        return entries, result.next_begin_offset
