"""What the store answers: put statuses and results, get/query results.

Java names: ``PutMessageStatus``, ``PutMessageResult`` (with its ``AppendMessageResult``
folded in), ``GetMessageStatus``, ``GetMessageResult``, ``QueryMessageResult``.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field

__all__ = [
    "GetMessageResult",
    "GetMessageStatus",
    "PendingWrite",
    "PutResult",
    "PutStatus",
    "QueryMessageResult",
]


class PutStatus(enum.Enum):
    """Outcome of a put (Java ``PutMessageStatus``; names as Java spells them)."""

    PUT_OK = "PUT_OK"
    FLUSH_DISK_TIMEOUT = "FLUSH_DISK_TIMEOUT"
    """Stored, but not fsynced within ``sync_flush_timeout_ms`` (set by the caller)."""
    CREATE_MAPPED_FILE_FAILED = "CREATE_MAPPED_FILE_FAILED"
    MESSAGE_ILLEGAL = "MESSAGE_ILLEGAL"
    PROPERTIES_SIZE_EXCEEDED = "PROPERTIES_SIZE_EXCEEDED"
    SERVICE_NOT_AVAILABLE = "SERVICE_NOT_AVAILABLE"
    UNKNOWN_ERROR = "UNKNOWN_ERROR"


class PendingWrite:
    """The fate of the puts that share one deferred commitlog write.

    ``ok`` is ``None`` while their bytes wait in memory, ``True`` once they are in the page
    cache, ``False`` when the write failed and the puts were dropped: whoever answers for such
    a put must answer with an error, never success.
    """

    __slots__ = ("ok",)

    def __init__(self) -> None:
        self.ok: bool | None = None


@dataclass(slots=True)
class PutResult:
    """One put's outcome.

    Attributes:
        status: see :class:`PutStatus`.
        wrote_offset: commitlog offset of the (first) record written.
        wrote_bytes: bytes of the record(s), without any end-of-file filler.
        msg_id: the offset message id, comma-joined for a batch.
        queue_offset: consume-queue offset of the (first) message; 0 for prepared or
            rolled-back transactional messages.
        msg_num: how many messages were written.
        store_timestamp: the store time given to the message(s), epoch ms.
        write: for a deferred put, its pending write (see :class:`PendingWrite`); ``None``
            when the bytes were written before the put returned.
    """

    status: PutStatus
    wrote_offset: int = 0
    wrote_bytes: int = 0
    msg_id: str = ""
    queue_offset: int = 0
    msg_num: int = 0
    store_timestamp: int = 0
    write: PendingWrite | None = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        """Whether the put stored the message(s)."""
        return self.status is PutStatus.PUT_OK

    @property
    def lost(self) -> bool:
        """Whether the put was deferred and its write failed: the message is not stored."""
        return self.write is not None and self.write.ok is False

    @property
    def end_offset(self) -> int:
        """Commitlog offset just past the written bytes (what a sync flush must reach)."""
        return self.wrote_offset + self.wrote_bytes

    def with_status(self, status: PutStatus) -> PutResult:
        """A copy with another status (e.g. ``FLUSH_DISK_TIMEOUT`` after a failed wait)."""
        return dataclasses.replace(self, status=status)


class GetMessageStatus(enum.Enum):
    """Outcome of a read from a consume queue (``protocol.md`` section 3.3)."""

    FOUND = "FOUND"
    NO_MATCHED_MESSAGE = "NO_MATCHED_MESSAGE"
    MESSAGE_WAS_REMOVING = "MESSAGE_WAS_REMOVING"
    OFFSET_FOUND_NULL = "OFFSET_FOUND_NULL"
    OFFSET_OVERFLOW_BADLY = "OFFSET_OVERFLOW_BADLY"
    OFFSET_OVERFLOW_ONE = "OFFSET_OVERFLOW_ONE"
    OFFSET_TOO_SMALL = "OFFSET_TOO_SMALL"
    NO_MATCHED_LOGIC_QUEUE = "NO_MATCHED_LOGIC_QUEUE"
    NO_MESSAGE_IN_QUEUE = "NO_MESSAGE_IN_QUEUE"


@dataclass(slots=True)
class GetMessageResult:
    """Records read for one pull.

    Attributes:
        status: see :class:`GetMessageStatus`.
        next_begin_offset: where the consumer should read next.
        min_offset: the queue's smallest readable offset.
        max_offset: the queue's next offset to be written.
        buffers: the raw commitlog records, in queue order (a pull body is their concatenation).
        queue_offsets: the consume-queue offset of each buffer.
        buffer_total_size: bytes in ``buffers``.
        suggest_pulling_from_slave: the data read lies far behind the commitlog head.
    """

    status: GetMessageStatus
    next_begin_offset: int = 0
    min_offset: int = 0
    max_offset: int = 0
    buffers: list[bytes] = field(default_factory=list)
    queue_offsets: list[int] = field(default_factory=list)
    buffer_total_size: int = 0
    suggest_pulling_from_slave: bool = False

    @property
    def message_count(self) -> int:
        """How many records were read."""
        return len(self.buffers)


@dataclass(slots=True)
class QueryMessageResult:
    """Records found through the index for one key.

    The index holds key hashes only: records whose key merely collides are included, and the
    client checks the key (as Java clients do).

    Attributes:
        buffers: raw commitlog records, in commitlog order.
        index_last_update_timestamp: store time of the newest indexed message.
        index_last_update_phyoffset: commitlog offset of the newest indexed message.
    """

    buffers: list[bytes] = field(default_factory=list)
    index_last_update_timestamp: int = 0
    index_last_update_phyoffset: int = 0

    @property
    def buffer_total_size(self) -> int:
        """Bytes in ``buffers``."""
        return sum(len(b) for b in self.buffers)
