"""Consume queues: per (topic, queueId) files of 20-byte entries pointing into the commitlog.

Entry ``n`` (the logical offset) lives at byte ``n * 20`` of the queue; files are named by
the byte offset of their first entry. An entry is ``int64 commitlog offset | int32 size |
int64 tagsCode``; a blank entry (size ``0x7FFFFFFF``) fills a gap and is skipped by readers;
an all-zero entry (size 0) is past the end.

Writes go through each file's shared mapping on the event-loop thread; the consume-queue
flusher thread syncs the descriptors. Queues register themselves in the table's ``dirty``
deque on their first write after a flush (see :meth:`ConsumeQueue.put`).
"""

from __future__ import annotations

import logging
import os
import shutil
import struct
import threading
from collections import deque
from collections.abc import Callable
from typing import Final

from broker.store.config import CQ_UNIT_SIZE
from broker.store.mapped_file import MappedFile, MappedFileQueue, fsync_dir

__all__ = ["BLANK_ENTRY_SIZE", "ConsumeQueue", "ConsumeQueueTable", "is_valid_topic_dir"]

log = logging.getLogger(__name__)

ENTRY: Final = struct.Struct(">qiq")
_SIZE: Final = struct.Struct(">i")
_PHY: Final = struct.Struct(">q")
BLANK_ENTRY_SIZE: Final = 0x7FFFFFFF
"""Size field of a filler entry (Java ``fillPreBlank``)."""
UNIT: Final = CQ_UNIT_SIZE


def is_valid_topic_dir(topic: str) -> bool:
    """Whether ``topic`` can name a directory safely (no separators, not ``.``/``..``)."""
    return bool(topic) and topic not in (".", "..") and "/" not in topic and "\0" not in topic


class ConsumeQueue:
    """One queue's files and its logical min/max offsets.

    Attributes:
        topic: the topic.
        queue_id: the queue id.
        max_offset: the next logical offset to write (entries ``< max_offset`` exist).
        min_offset: the smallest logical offset still readable.
        flushed: byte position up to which the files are synced.
        dirty: registered in the table's dirty deque and not yet flushed.
    """

    def __init__(
        self, topic: str, queue_id: int, directory: str, file_size: int, dirty: deque[ConsumeQueue]
    ) -> None:
        self.topic = topic
        self.queue_id = queue_id
        self.queue = MappedFileQueue(directory, file_size, writable_map=True)
        self.file_size = file_size
        self.max_offset = 0
        self.min_offset = 0
        self.flushed = 0
        self.dirty = False
        self.closed = False
        self._dirty_deque = dirty

    # -- loading ----------------------------------------------------------------------------

    def load(self) -> None:
        """Open the files and find the end: the first all-zero entry of the last file."""
        self.queue.load()
        files = self.queue.files
        if not files:
            return
        last = files[-1]
        self.max_offset = (last.start + self._count_valid(last) * UNIT) // UNIT
        self.min_offset = files[0].start // UNIT
        self.flushed = self.max_offset * UNIT

    def _count_valid(self, f: MappedFile) -> int:
        # Entries are written in order, so valid ones (size != 0) form a prefix.
        m = f.map
        lo, hi = 0, self.file_size // UNIT
        while lo < hi:
            mid = (lo + hi) // 2
            if _SIZE.unpack_from(m, mid * UNIT + 8)[0] > 0:
                lo = mid + 1
            else:
                hi = mid
        return lo

    # -- writing (event-loop thread) ----------------------------------------------------------

    def put(self, phy: int, size: int, tags_code: int, queue_offset: int) -> bool:
        """Write the entry for ``queue_offset``; False if that offset is already written.

        A ``queue_offset`` beyond the end (a queue rebuilt after its files were deleted) is
        preceded by blank entries.

        Raises:
            OSError: a new file cannot be created.
        """
        if queue_offset != self.max_offset:
            if queue_offset < self.max_offset:
                return False
            self._fill_gap(queue_offset, phy)
        pos = queue_offset * UNIT
        f = self.queue.last
        if f is None or pos >= f.end:
            f = self.queue.create(pos - pos % self.file_size)
        ENTRY.pack_into(f.map, pos - f.start, phy, size, tags_code)
        self.max_offset = queue_offset + 1
        if not self.dirty:
            self.dirty = True
            self._dirty_deque.append(self)
        return True

    def put_many(self, queue_offset: int, entries: list[tuple[int, int, int]]) -> None:
        """Write consecutive entries ``(commitlog offset, size, tagsCode)`` from
        ``queue_offset``: with one write to the mapping when they extend the queue within its
        newest file, else one :meth:`put` each.

        Raises:
            OSError: a new file cannot be created.
        """
        n = len(entries)
        pos = queue_offset * UNIT
        f = self.queue.last
        if n == 1 or queue_offset != self.max_offset or f is None or pos + n * UNIT > f.end:
            for i, (phy, size, tags_code) in enumerate(entries):
                self.put(phy, size, tags_code, queue_offset + i)
            return
        data = b"".join([ENTRY.pack(phy, size, tags_code) for phy, size, tags_code in entries])
        begin = pos - f.start
        f.map[begin : begin + len(data)] = data
        self.max_offset = queue_offset + n
        if not self.dirty:
            self.dirty = True
            self._dirty_deque.append(self)

    def _fill_gap(self, queue_offset: int, phy: int) -> None:
        if not self.queue.files:
            # A queue whose first entry is not 0: blank the head of its first file (Java's
            # fillPreBlank) so entries keep their positions.
            start = queue_offset * UNIT
            start -= start % self.file_size
            self.max_offset = self.min_offset = start // UNIT
            blank_phy = 0
        else:
            log.warning(
                "consume queue %s/%d: offset %d written after %d, filling the gap",
                self.topic,
                self.queue_id,
                queue_offset,
                self.max_offset,
            )
            blank_phy = phy
        while self.max_offset < queue_offset:
            pos = self.max_offset * UNIT
            f = self.queue.last
            if f is None or pos >= f.end:
                f = self.queue.create(pos - pos % self.file_size)
            ENTRY.pack_into(f.map, pos - f.start, blank_phy, BLANK_ENTRY_SIZE, 0)
            self.max_offset += 1
        if blank_phy == 0:
            self.min_offset = queue_offset

    # -- reading ----------------------------------------------------------------------------

    def entry(self, queue_offset: int) -> tuple[int, int, int] | None:
        """``(commitlog offset, size, tagsCode)`` at ``queue_offset``, if readable."""
        if not self.min_offset <= queue_offset < self.max_offset:
            return None
        pos = queue_offset * UNIT
        f = self.queue.find(pos)
        if f is None or f.closed:
            return None
        phy, size, tags = ENTRY.unpack_from(f.map, pos - f.start)
        return phy, size, tags

    def read_from(self, queue_offset: int, max_bytes: int) -> bytes | None:
        """Entries from ``queue_offset`` to the end of its file (at most ``max_bytes``), or
        ``None`` when the file holding it is gone (Java ``getIndexBuffer``)."""
        pos = queue_offset * UNIT
        f = self.queue.find(pos)
        if f is None or f.closed:
            return None
        end = min(f.end, self.max_offset * UNIT)
        n = min(end - pos, max_bytes - max_bytes % UNIT)
        if n <= 0:
            return None
        return f.map[pos - f.start : pos - f.start + n]

    def roll_next_file(self, queue_offset: int) -> int:
        """First logical offset of the file after the one holding ``queue_offset``."""
        per_file = self.file_size // UNIT
        return queue_offset + per_file - queue_offset % per_file

    def _phy_at(self, queue_offset: int) -> tuple[int, int]:
        pos = queue_offset * UNIT
        f = self.queue.find(pos)
        if f is None:
            return -1, 0
        phy, size, _tags = ENTRY.unpack_from(f.map, pos - f.start)
        return phy, size

    def _first_where(self, lo: int, hi: int, pred: Callable[[int, int], bool]) -> int:
        """Smallest offset in ``[lo, hi)`` whose (phy, size) satisfies a monotone ``pred``."""
        while lo < hi:
            mid = (lo + hi) // 2
            phy, size = self._phy_at(mid)
            if pred(phy, size):
                hi = mid
            else:
                lo = mid + 1
        return lo

    def offset_by_time(
        self, timestamp: int, upper: bool, store_time: Callable[[int, int], int]
    ) -> int:
        """Lower bound: the first offset stored at or after ``timestamp`` (``max_offset`` if
        none); upper bound: the last offset stored at or before it (``min_offset`` if none).

        Store times grow along a queue, so this is a binary search over readable entries.
        """
        lo, hi = self.min_offset, self.max_offset
        if lo >= hi:
            return hi

        def later(phy: int, size: int) -> bool:
            """Stored after the bound (an unreadable entry counts as early)."""
            t = store_time(phy, size)
            return t > timestamp if upper else t >= timestamp

        first = self._first_where(lo, hi, later)
        if upper:
            return max(first - 1, lo)
        return first

    # -- recovery and cleanup ---------------------------------------------------------------

    def truncate_from_phy(self, phy_start: int, lock: threading.Lock) -> int:
        """Drop entries pointing at ``phy_start`` or beyond (and torn ones); return how many."""
        files = self.queue.files
        if not files or self.max_offset <= files[0].start // UNIT:
            return 0

        def dropped(phy: int, size: int) -> bool:
            """Points at or past the start, or was never completely written."""
            return size <= 0 or phy >= phy_start

        cut = self._first_where(files[0].start // UNIT, self.max_offset, dropped)
        removed = self.max_offset - cut
        if not removed:
            return 0
        pos = cut * UNIT
        with lock:
            for f in self.queue.files:
                if f.start > pos:
                    f.destroy()
                elif f.end > pos:
                    begin = pos - f.start
                    end = min(f.size, self.max_offset * UNIT - f.start)
                    f.map[begin:end] = bytes(end - begin)
                    f.sync()  # the zeros must reach the disk before anything claims them
            kept = [f for f in self.queue.files if f.start <= pos]
            if len(kept) < len(self.queue.files):
                fsync_dir(self.queue.directory)
            self.queue.files = kept
        self.max_offset = cut
        self.min_offset = min(self.min_offset, cut)
        self.flushed = min(self.flushed, pos)
        return removed

    def correct_min_offset(self, min_phy: int) -> None:
        """Set ``min_offset`` to the first entry of the oldest file still in the commitlog."""
        files = self.queue.files
        if not files:
            return
        first = files[0]
        lo = first.start // UNIT
        hi = min(first.end // UNIT, self.max_offset)
        q = self._first_where(lo, hi, lambda phy, size: phy >= min_phy)
        while q < hi and self._phy_at(q)[1] == BLANK_ENTRY_SIZE:
            q += 1
        # Nothing readable in the oldest file: the queue starts where that file ends.
        self.min_offset = min(q, self.max_offset)

    def delete_expired(self, min_phy: int, lock: threading.Lock) -> int:
        """Delete files (never the last) whose entries all point below ``min_phy``."""
        files = self.queue.files
        count = 0
        for f in files[:-1]:
            phy, size, _tags = ENTRY.unpack_from(f.map, f.size - UNIT)
            if size > 0 and phy < min_phy:
                count += 1
            else:
                break
        if count:
            with lock:
                self.queue.delete_first(count)
        self.correct_min_offset(min_phy)
        return count

    # -- flushing (flusher thread) -------------------------------------------------------------

    def flush(self, least_bytes: int, lock: threading.Lock) -> bool:
        """Sync the files written since the last flush if at least ``least_bytes`` are dirty;
        return whether everything written is now synced."""
        target = self.max_offset * UNIT
        begin = min(self.flushed, target)
        if target == begin:
            return True
        if least_bytes > 0 and target - begin < least_bytes:
            return False
        with lock:
            if self.closed:
                return True
            for f in self.queue.files_between(begin, target):
                if not f.closed:
                    f.sync()
        self.flushed = target
        return True

    def close(self) -> None:
        """Close the files."""
        self.closed = True
        self.queue.close()

    def destroy(self) -> None:
        """Delete the files and the queue directory."""
        self.closed = True
        self.queue.destroy()


class ConsumeQueueTable:
    """All consume queues, ``topic -> queueId -> ConsumeQueue``.

    Attributes:
        dirty: queues written since their last flush (appended on the loop thread, drained
            by the flusher thread; a deque is safe for that without a lock).
        lock: held while a flusher syncs and while files are deleted.
    """

    def __init__(self, root: str, file_size: int) -> None:
        self.root = root
        self.file_size = file_size
        self.queues: dict[str, dict[int, ConsumeQueue]] = {}
        self.dirty: deque[ConsumeQueue] = deque()
        self.lock = threading.Lock()

    def load(self) -> None:
        """Open every ``<topic>/<queueId>`` directory under the root."""
        os.makedirs(self.root, exist_ok=True)
        for topic in sorted(os.listdir(self.root)):
            topic_dir = os.path.join(self.root, topic)
            if not os.path.isdir(topic_dir):
                continue
            for name in sorted(os.listdir(topic_dir)):
                if not name.lstrip("-").isdigit():
                    continue
                cq = self._new(topic, int(name))
                cq.load()

    def _new(self, topic: str, queue_id: int) -> ConsumeQueue:
        directory = os.path.join(self.root, topic, str(queue_id))
        cq = ConsumeQueue(topic, queue_id, directory, self.file_size, self.dirty)
        self.queues.setdefault(topic, {})[queue_id] = cq
        return cq

    def find(self, topic: str, queue_id: int) -> ConsumeQueue | None:
        """The queue, if it exists."""
        by_id = self.queues.get(topic)
        return None if by_id is None else by_id.get(queue_id)

    def find_or_create(self, topic: str, queue_id: int) -> ConsumeQueue:
        """The queue, created (without files yet) if new."""
        by_id = self.queues.get(topic)
        if by_id is not None:
            cq = by_id.get(queue_id)
            if cq is not None:
                return cq
        return self._new(topic, queue_id)

    def all(self) -> list[ConsumeQueue]:
        """Every queue."""
        return [cq for by_id in list(self.queues.values()) for cq in list(by_id.values())]

    def delete_topic(self, topic: str) -> bool:
        """Delete a topic's queues and directory; False if it had none."""
        by_id = self.queues.pop(topic, None)
        if by_id is None:
            return False
        with self.lock:
            for cq in by_id.values():
                cq.destroy()
            shutil.rmtree(os.path.join(self.root, topic), ignore_errors=True)
        return True

    def close(self) -> None:
        """Close every queue's files."""
        with self.lock:
            for cq in self.all():
                cq.close()
