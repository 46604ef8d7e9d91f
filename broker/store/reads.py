"""The read half of the store: pulls, offset lookups, lookups by offset and by key.

:class:`StoreReader` is the base of :class:`~broker.store.writes.StoreWriter` (and through it
of :class:`~broker.store.MessageStore`); it only reads the commitlog, consume queues and index
that the store owns. Status and offset rules follow Java 4.9.8
``DefaultMessageStore.getMessage`` (``protocol.md`` section 3.3): one call reads from one
consume-queue file, scans at most ``max(16000, 20 * max_msg_nums)`` bytes of entries, and stops
at the count and size limits for hot or cold data.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Final

from broker.store.commitlog import CommitLog
from broker.store.config import CQ_UNIT_SIZE, StoreConfig
from broker.store.consume_queue import BLANK_ENTRY_SIZE, ENTRY, ConsumeQueueTable
from broker.store.index import IndexService
from broker.store.results import GetMessageResult, GetMessageStatus, QueryMessageResult
from broker.store.stats import StoreStats

__all__ = ["MAX_PULL_MSG_SIZE", "StoreReader"]

MAX_PULL_MSG_SIZE: Final = 128 * 1024 * 1024
"""Java ``MAX_PULL_MSG_SIZE``: the default byte budget of one get."""
_MAX_FILTER_BYTES: Final = 16000
_STORE_TIMESTAMP_SIZE: Final = 8


def _physical_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 8 * 1024**3


class StoreReader:
    """Reads over the store's files (see the module docstring).

    Attributes:
        config: the store settings.
        commitlog: the commitlog.
        consume_queues: the consume queues.
        index: the key index, or ``None`` when disabled.
        readable: whether the files are open (between load and shutdown).
    """

    def __init__(
        self,
        config: StoreConfig,
        commitlog: CommitLog,
        consume_queues: ConsumeQueueTable,
        index: IndexService | None,
        stats: StoreStats,
    ) -> None:
        self.config = config
        self.commitlog = commitlog
        self.consume_queues = consume_queues
        self.index = index
        self.readable = False
        self._hot_bytes = _physical_memory() * config.access_message_in_memory_max_ratio // 100
        self._stats = stats

    # -- positions ------------------------------------------------------------------------------

    @property
    def max_phy_offset(self) -> int:
        """Commitlog offset just past the last written byte."""
        return self.commitlog.max_offset

    @property
    def min_phy_offset(self) -> int:
        """Commitlog offset of the oldest byte still on disk."""
        return self.commitlog.min_offset

    @property
    def confirm_offset(self) -> int:
        """Offset below which data is confirmed (no replication here: the max offset)."""
        return self.commitlog.max_offset

    def topics_and_queues(self) -> dict[str, list[int]]:
        """Every topic with a consume queue, with its queue ids in order."""
        return {
            topic: sorted(by_id)
            for topic, by_id in list(self.consume_queues.queues.items())
            if by_id
        }

    # -- pulls ------------------------------------------------------------------------------------

    def get_message(  # noqa: PLR0917 - the processors call it positionally, as Java
        self,
        topic: str,
        queue_id: int,
        offset: int,
        max_msg_nums: int,
        max_total_bytes: int = MAX_PULL_MSG_SIZE,
        message_filter: Callable[[int], bool] | None = None,
    ) -> GetMessageResult:
        """Read up to ``max_msg_nums`` records of a queue from logical ``offset``.

        Args:
            topic: the topic.
            queue_id: the queue.
            offset: the first logical offset wanted.
            max_msg_nums: most records to return (the hot/cold count limits apply too).
            max_total_bytes: most bytes to return (at least one record is returned).
            message_filter: gets each entry's tags code; False skips the message.

        After shutdown the answer is ``NO_MATCHED_LOGIC_QUEUE`` (Java returns null).
        """
        began = time.perf_counter()
        stats = self._stats
        cq = self.consume_queues.find(topic, queue_id) if self.readable else None
        if cq is None:
            stats.get_message_times_total_miss += 1
            return GetMessageResult(GetMessageStatus.NO_MATCHED_LOGIC_QUEUE, 0)
        min_offset, max_offset = cq.min_offset, cq.max_offset
        result = GetMessageResult(
            GetMessageStatus.NO_MESSAGE_IN_QUEUE, offset, min_offset, max_offset
        )
        if max_offset == 0:
            result.next_begin_offset = 0
        elif offset < min_offset:
            result.status = GetMessageStatus.OFFSET_TOO_SMALL
            result.next_begin_offset = min_offset
        elif offset == max_offset:
            result.status = GetMessageStatus.OFFSET_OVERFLOW_ONE
        elif offset > max_offset:
            result.status = GetMessageStatus.OFFSET_OVERFLOW_BADLY
            result.next_begin_offset = max_offset
        else:
            entries = cq.read_from(offset, max(_MAX_FILTER_BYTES, max_msg_nums * CQ_UNIT_SIZE))
            if entries is None:
                result.status = GetMessageStatus.OFFSET_FOUND_NULL
                result.next_begin_offset = cq.roll_next_file(offset)
            else:
                self._scan(
                    result,
                    entries,
                    offset=offset,
                    max_msg_nums=max_msg_nums,
                    max_total_bytes=max_total_bytes,
                    message_filter=message_filter,
                )
        if result.status is GetMessageStatus.FOUND:
            stats.get_message_times_total_found += 1
            stats.get_message_transferred_msg_count += len(result.buffers)
        else:
            stats.get_message_times_total_miss += 1
        elapsed = int((time.perf_counter() - began) * 1000)
        stats.get_message_entire_time_max = max(stats.get_message_entire_time_max, elapsed)
        return result

    def _scan(
        self,
        result: GetMessageResult,
        entries: bytes,
        *,
        offset: int,
        max_msg_nums: int,
        max_total_bytes: int,
        message_filter: Callable[[int], bool] | None,
    ) -> None:
        cfg = self.config
        result.status = GetMessageStatus.NO_MATCHED_MESSAGE
        max_phy = self.commitlog.max_offset
        hot = self._hot_bytes
        read = self.commitlog.read
        buffers = result.buffers
        queue_offsets = result.queue_offsets
        total = 0
        next_file_start = -1
        max_phy_pulling = 0
        i = 0
        for phy, size, tags in ENTRY.iter_unpack(entries):
            max_phy_pulling = phy
            if phy < next_file_start or size <= 0 or size == BLANK_ENTRY_SIZE:
                i += 1  # in a removed segment, or a filler entry
                continue
            if total:
                # Java isTheBatchFull: limits apply once something is in the batch.
                count = len(buffers)
                if count >= max_msg_nums or total + size > max_total_bytes:
                    break
                if max_phy - phy > hot:
                    if (
                        total + size > cfg.max_transfer_bytes_on_message_in_disk
                        or count >= cfg.max_transfer_count_on_message_in_disk
                    ):
                        break
                elif (
                    total + size > cfg.max_transfer_bytes_on_message_in_memory
                    or count >= cfg.max_transfer_count_on_message_in_memory
                ):
                    break
            i += 1
            if message_filter is not None and not message_filter(tags):
                if not total:
                    result.status = GetMessageStatus.NO_MATCHED_MESSAGE
                continue
            data = read(phy, size)
            if data is None:
                if not total:
                    result.status = GetMessageStatus.MESSAGE_WAS_REMOVING
                next_file_start = self.commitlog.roll_next_file(phy)
                continue
            buffers.append(data)
            queue_offsets.append(offset + i - 1)
            total += size
            result.status = GetMessageStatus.FOUND
            next_file_start = -1
        result.buffer_total_size = total
        result.next_begin_offset = offset + i
        result.suggest_pulling_from_slave = max_phy - max_phy_pulling > hot

    # -- per-queue lookups --------------------------------------------------------------------

    def get_max_offset_in_queue(self, topic: str, queue_id: int) -> int:
        """The queue's next offset (0 if the queue does not exist)."""
        cq = self.consume_queues.find(topic, queue_id)
        return cq.max_offset if cq is not None else 0

    def get_min_offset_in_queue(self, topic: str, queue_id: int) -> int:
        """The queue's smallest readable offset (-1 if the queue does not exist, as Java)."""
        cq = self.consume_queues.find(topic, queue_id)
        return cq.min_offset if cq is not None else -1

    def get_message_total_in_queue(self, topic: str, queue_id: int) -> int:
        """Readable messages in the queue (-1 if it does not exist)."""
        cq = self.consume_queues.find(topic, queue_id)
        return cq.max_offset - cq.min_offset if cq is not None else -1

    def get_offset_in_queue_by_time(
        self, topic: str, queue_id: int, timestamp_ms: int, boundary_upper: bool = False
    ) -> int:
        """The queue offset for a store time (Java 5.x ``BoundaryType``).

        Lower boundary (default): the first message stored at or after ``timestamp_ms``
        (the max offset if none). Upper: the last message stored at or before it (the min
        offset if none). 0 if the queue does not exist.
        """
        cq = self.consume_queues.find(topic, queue_id)
        if cq is None or not self.readable:
            return 0
        return cq.offset_by_time(
            timestamp_ms, boundary_upper, self.commitlog.pickup_store_timestamp
        )

    def get_earliest_message_time(self, topic: str | None = None, queue_id: int = 0) -> int:
        """Store time of the queue's oldest readable message, -1 if none.

        Without a topic: the store time of the oldest record in the commitlog (Java's
        no-argument ``getEarliestMessageTime``).
        """
        if topic is None:
            if not self.readable or self.commitlog.max_offset <= self.commitlog.min_offset:
                return -1
            return self.commitlog.pickup_store_timestamp(
                self.commitlog.min_offset, self.config.max_message_size
            )
        cq = self.consume_queues.find(topic, queue_id)
        if cq is None:
            return -1
        return self.get_message_store_timestamp(topic, queue_id, cq.min_offset)

    def get_message_store_timestamp(self, topic: str, queue_id: int, consume_offset: int) -> int:
        """Store time of the message at ``consume_offset``, -1 if unreadable."""
        entry = self._entry(topic, queue_id, consume_offset)
        if entry is None:
            return -1
        return self.commitlog.pickup_store_timestamp(entry[0], entry[1])

    def get_commit_log_offset_in_queue(self, topic: str, queue_id: int, consume_offset: int) -> int:
        """Commitlog offset of the message at ``consume_offset`` (0 if none, as Java)."""
        entry = self._entry(topic, queue_id, consume_offset)
        return entry[0] if entry is not None else 0

    def check_in_mem_by_consume_offset(
        self, topic: str, queue_id: int, consume_offset: int
    ) -> bool:
        """Whether the message at ``consume_offset`` still exists (queue entry and record)."""
        entry = self._entry(topic, queue_id, consume_offset)
        if entry is None or entry[1] <= 0 or entry[1] == BLANK_ENTRY_SIZE:
            return False
        return self.commitlog.read(entry[0], _STORE_TIMESTAMP_SIZE) is not None

    def check_in_disk_by_consume_offset(
        self, topic: str, queue_id: int, consume_offset: int
    ) -> bool:
        """Java 4.9 ``checkInDiskByConsumeOffset``: the message exists but lies further behind
        the commitlog head than the hot-data share of memory."""
        entry = self._entry(topic, queue_id, consume_offset)
        if entry is None:
            return False
        return self.commitlog.max_offset - entry[0] > self._hot_bytes

    def consume_queue_entries(
        self, topic: str, queue_id: int, offset: int, max_entries: int
    ) -> list[tuple[int, int, int]]:
        """Raw ``(commitlog offset, size, tags code)`` entries from ``offset`` within one
        queue file (for the schedule and transaction services, which read tags codes)."""
        cq = self.consume_queues.find(topic, queue_id)
        if cq is None or not self.readable or not cq.min_offset <= offset < cq.max_offset:
            return []
        data = cq.read_from(offset, max_entries * CQ_UNIT_SIZE)
        if data is None:
            return []
        return [(p, s, t) for p, s, t in ENTRY.iter_unpack(data)]

    def _entry(self, topic: str, queue_id: int, consume_offset: int) -> tuple[int, int, int] | None:
        cq = self.consume_queues.find(topic, queue_id)
        if cq is None or not self.readable:
            return None
        return cq.entry(consume_offset)

    # -- by offset and by key -----------------------------------------------------------------

    def look_message_by_offset(
        self, commit_log_offset: int, size: int | None = None
    ) -> bytes | None:
        """The raw record at ``commit_log_offset``; ``None`` when no valid record starts there
        (or its size is not ``size``)."""
        if not self.readable:
            return None
        return self.commitlog.read_record(commit_log_offset, size)

    select_one_message_by_offset = look_message_by_offset

    def query_message(
        self, topic: str, key: str, max_num: int, begin_ts: int, end_ts: int
    ) -> QueryMessageResult:
        """Records indexed under ``topic#key`` and stored within ``[begin_ts, end_ts]``.

        As Java: at most ``min(max_num, max_msgs_num_batch)`` offsets, records in commitlog
        order, hash collisions included (clients compare the key).
        """
        result = QueryMessageResult()
        if self.index is None or not self.readable:
            return result
        end = end_ts
        for _attempt in range(3):
            offsets, last_ts, last_phy = self.index.query(topic, key, max_num, begin_ts, end)
            if not offsets:
                break
            offsets.sort()
            result.index_last_update_timestamp = last_ts
            result.index_last_update_phyoffset = last_phy
            for m, phy in enumerate(offsets):
                data = self.commitlog.read_record(phy)
                if data is None:
                    continue
                if m == 0:
                    end = self.commitlog.pickup_store_timestamp(phy, len(data))
                result.buffers.append(data)
            if result.buffers or end < begin_ts:
                break
        return result
