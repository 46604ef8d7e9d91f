"""The commitlog: every message of every topic, back to back in fixed-size segments.

Appends happen on the event-loop thread: the caller packs records onto
:attr:`CommitLog.pending` at their final offsets from the head (:meth:`CommitLog.head`; when
they do not fit, plus the 8 bytes of an end-of-file filler, :meth:`CommitLog.roll` ends the
segment and opens the next), and later everything pending is written with one ``os.pwrite``
(:meth:`CommitLog.write_pending`). Many puts share that write: a syscall per put cost more
than the rest of the put together (and far more while a flusher thread syncs). Pending bytes
are invisible: reads, the flusher and the checkpoint only ever see :attr:`CommitLog.wrote`,
the end of the bytes really written. Reads go through each segment's read-only mapping. A
flusher thread calls :meth:`CommitLog.flush`.
"""

from __future__ import annotations

import logging
import struct
import threading
from typing import Final

from broker.store.dispatch import store_timestamp_position
from broker.store.mapped_file import MappedFile, MappedFileQueue, fsync_dir
from rocketmq_py.protocol.message import (
    BLANK_MAGIC_CODE,
    END_FILE_MIN_BLANK_LENGTH,
    MAGIC_CODE_V1,
    MAGIC_CODE_V2,
    PHYSICAL_OFFSET_POSITION,
    SYS_FLAG_POSITION,
)

__all__ = ["CommitLog"]

log = logging.getLogger(__name__)

_SIZE_MAGIC: Final = struct.Struct(">iI")
_INT32: Final = struct.Struct(">i")
_INT64: Final = struct.Struct(">q")
_MIN_RECORD: Final = 91


class CommitLog:
    """Segments of one commitlog plus its write and flush positions.

    Attributes:
        queue: the segment files.
        wrote: offset just past the bytes written to the file (``max_offset``).
        pending: packed records not written yet; they start at :attr:`wrote`, in the newest
            segment (a put that would roll the segment writes them first).
        last_record_offset: start of the newest written record (-1 when none).
        write_state: ``(wrote, store timestamp of the newest record)``, replaced as one tuple
            so the flusher thread reads a consistent pair.
        flushed: offset up to which the data is fsynced.
        flushed_timestamp: store timestamp of the newest fsynced record.
        flush_count: how many flushes ran (each one ``fdatasync`` per touched segment).
        lock: held while a flusher syncs a segment and while segments are deleted, so that a
            descriptor is never closed under an ``fdatasync``.
    """

    def __init__(self, directory: str, file_size: int) -> None:
        self.queue = MappedFileQueue(directory, file_size, writable_map=False)
        self.file_size = file_size
        self.wrote = 0
        self.pending = bytearray()
        self._pending_last_record = -1
        self._pending_timestamp = 0
        self.last_record_offset = -1
        self.write_state: tuple[int, int] = (0, 0)
        self.flushed = 0
        self.flushed_timestamp = 0
        self.flush_count = 0
        self.lock = threading.Lock()

    # -- positions -------------------------------------------------------------------------

    @property
    def max_offset(self) -> int:
        """Offset just past the last written byte."""
        return self.wrote

    @property
    def min_offset(self) -> int:
        """Start of the oldest segment (0 when there is none)."""
        return self.queue.min_offset

    def roll_next_file(self, offset: int) -> int:
        """Start of the segment after the one holding ``offset``."""
        return offset + self.file_size - offset % self.file_size

    def set_end(self, end: int, last_record_offset: int, timestamp: int, durable: int) -> None:
        """Set the write position after recovery; bytes below ``durable`` are known to be
        on disk (the next :meth:`flush` syncs the rest, which a crash may have left only in
        the page cache)."""
        self.wrote = end
        self.last_record_offset = last_record_offset
        self.write_state = (end, timestamp)
        self.flushed = min(durable, end)
        self.flushed_timestamp = timestamp

    # -- writing (event-loop thread) ----------------------------------------------------------

    def head(self) -> tuple[MappedFile, int]:
        """The segment where the next record goes and the position in it: after the written
        and the pending bytes (creating the first segment, or the next when the newest is
        exactly full).

        Raises:
            OSError: a new segment cannot be created.
        """
        f = self.queue.last
        head = self.wrote + len(self.pending)
        if f is None or head >= f.end:  # nothing can be pending then
            f = self.queue.create(self.wrote - self.wrote % self.file_size)
        return f, head - f.start

    def roll(self) -> tuple[MappedFile, int]:
        """End the newest segment with the blank filler and start the next one (nothing may
        be pending); return the new head.

        Raises:
            OSError: writing the filler or creating the segment failed.
        """
        if self.pending:
            raise RuntimeError("write the pending records before rolling the segment")
        f, pos = self.head()
        remaining = self.file_size - pos
        if remaining >= END_FILE_MIN_BLANK_LENGTH:
            f.write(_SIZE_MAGIC.pack(remaining, BLANK_MAGIC_CODE), pos)
        self.wrote = f.end
        self.write_state = (self.wrote, self.write_state[1])
        return self.queue.create(f.end), 0

    def fits(self, pos: int, size: int) -> bool:
        """Whether ``size`` bytes at ``pos`` leave the 8 bytes a segment's filler needs."""
        return pos + size + END_FILE_MIN_BLANK_LENGTH <= self.file_size

    def reserve(self, size: int) -> tuple[MappedFile, int] | None:
        """Room for ``size`` bytes at the head, rolling the segment when they do not fit;
        ``None`` when that roll must wait for the pending bytes to be written.

        Raises:
            OSError: a new segment cannot be created.
        """
        f, pos = self.head()
        if self.fits(pos, size):
            return f, pos
        return None if self.pending else self.roll()

    def appended(self, last_record: int, timestamp: int) -> None:
        """Note that records were packed onto :attr:`pending`, the newest starting at
        ``last_record`` and stored at ``timestamp``."""
        self._pending_last_record = last_record
        self._pending_timestamp = timestamp

    def write_pending(self) -> int:
        """Write every pending byte with one ``pwrite``; return how many were written.

        Raises:
            OSError: the write failed. The pending bytes are dropped and the write position
                is unchanged, so the next put overwrites whatever part reached the file; the
                caller must report the dropped puts as failed.
        """
        data = self.pending
        if not data:
            return 0
        self.pending = bytearray()
        f = self.queue.last
        assert f is not None
        assert f.start <= self.wrote < f.end
        f.write(data, self.wrote - f.start)
        self.wrote += len(data)
        self.last_record_offset = self._pending_last_record
        self.write_state = (self.wrote, self._pending_timestamp)
        return len(data)

    # -- flushing (flusher thread) -------------------------------------------------------------

    def flush(self) -> int:
        """``fdatasync`` every segment written since the last flush; return the new flushed
        offset."""
        target, timestamp = self.write_state
        if target <= self.flushed:
            return self.flushed
        with self.lock:
            for f in self.queue.files_between(self.flushed, target):
                if not f.closed:
                    f.sync()
        self.flushed = target
        self.flushed_timestamp = timestamp
        self.flush_count += 1
        return target

    # -- reading -------------------------------------------------------------------------------

    def read(self, offset: int, size: int) -> bytes | None:
        """``size`` bytes at ``offset`` if they lie in one live segment below the write head."""
        if offset < 0 or size <= 0 or offset + size > self.wrote:
            return None
        f = self.queue.find(offset)
        if f is None or offset + size > f.end or f.closed:
            return None
        pos = offset - f.start
        try:
            return f.map[pos : pos + size]
        except ValueError:  # unmapped by a concurrent delete
            return None

    def read_record(self, offset: int, size: int | None = None) -> bytes | None:
        """The raw record starting at ``offset``, or ``None`` if no valid record starts there.

        A record is accepted when its magic is a message magic, its size fits, and it stores
        ``offset`` as its own physical offset.
        """
        head = self.read(offset, PHYSICAL_OFFSET_POSITION + 8)
        if head is None:
            return None
        total, magic = _SIZE_MAGIC.unpack_from(head, 0)
        if magic not in (MAGIC_CODE_V1, MAGIC_CODE_V2) or total < _MIN_RECORD:
            return None
        if size is not None and size != total:
            return None
        if _INT64.unpack_from(head, PHYSICAL_OFFSET_POSITION)[0] != offset:
            return None
        return self.read(offset, total)

    def pickup_store_timestamp(self, offset: int, size: int) -> int:
        """The store timestamp of the record at ``offset`` (-1 if unreadable)."""
        head = self.read(offset, SYS_FLAG_POSITION + 4)
        if head is None:
            return -1
        (sys_flag,) = _INT32.unpack_from(head, SYS_FLAG_POSITION)
        p = store_timestamp_position(sys_flag)
        if p + 8 > size:
            return -1
        data = self.read(offset + p, 8)
        return -1 if data is None else int(_INT64.unpack(data)[0])

    # -- recovery and cleanup ---------------------------------------------------------------

    def truncate(self, end: int) -> None:
        """Drop everything from ``end`` on: zero the tail of its segment, delete later ones."""
        with self.lock:
            later = [f for f in self.queue.files if f.start >= end]
            keep = [f for f in self.queue.files if f.start < end]
            for f in later:
                log.warning("deleting commitlog segment %s beyond the end %d", f.path, end)
                f.destroy()
            if later:
                fsync_dir(self.queue.directory)
            self.queue.files = keep
            if keep and end < keep[-1].end:
                keep[-1].zero_from(end - keep[-1].start)
                keep[-1].sync()

    def delete_files(self, files: list[MappedFile]) -> None:
        """Delete the given oldest segments."""
        with self.lock:
            gone = {id(f) for f in files}
            self.queue.files = [f for f in self.queue.files if id(f) not in gone]
            for f in files:
                f.destroy()

    def close(self) -> None:
        """Close every segment."""
        with self.lock:
            self.queue.close()
