"""The timer's on-disk index: an append-only timer log and a time wheel of slot heads.

Timer log (``<root>/timerlog/``, 32 MiB segments named by their first byte's position): one
32-byte unit per timer message in arrival order::

    int64 slot ms | int64 commitlog offset | int64 previous unit in the slot (-1: none)
    | uint32 record size, marker flag in the top bit | uint32 crc32 of UNIQ_KEY

Time wheel (``<root>/timerwheel``): one 32-byte slot per ``precision`` of time, on a ring of
``slots`` entries (twice the longest delay, so a slot is never reused while it may still hold a
pending message)::

    int64 slot ms | int64 first unit | int64 last unit | int32 units | int32 reserved

A slot belongs to the time it names; a slot naming another time is empty for this one. A new
unit points back at the slot's last unit and becomes its last: each slot is a linked list
walked from its newest unit, like Apache's ``TimerLog``/``TimerWheel``. Both files are
written through shared mappings (so a killed process loses nothing the kernel holds) and made
durable by :meth:`TimerLog.sync` / :meth:`TimerWheel.sync` before each checkpoint.
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
from array import array
from typing import Final, NamedTuple

from broker.store.mapped_file import MappedFile, MappedFileQueue, fsync_dir

__all__ = ["MARKER_FLAG", "UNIT_SIZE", "TimerLog", "TimerUnit", "TimerWheel"]

log = logging.getLogger("broker.timer")

UNIT: Final = struct.Struct(">qqqII")
UNIT_SIZE: Final = UNIT.size
SLOT: Final = struct.Struct(">qqqii")
SLOT_SIZE: Final = SLOT.size
LOG_FILE_SIZE: Final = UNIT_SIZE * (1 << 20)
"""32 MiB: a million units per segment."""
MARKER_FLAG: Final = 1 << 31
"""Set in a unit's size word when the message is a recall marker (``TIMER_DEL_UNIQKEY``)."""
_SIZE_MASK: Final = MARKER_FLAG - 1


class TimerUnit(NamedTuple):
    """One timer log unit."""

    slot_ms: int
    commit_log_offset: int
    prev: int
    size: int
    marker: bool
    key_hash: int


class TimerLog:
    """The append-only log of timer units (loop thread only, except :meth:`sync`)."""

    def __init__(self, directory: str) -> None:
        self.queue = MappedFileQueue(directory, LOG_FILE_SIZE, writable_map=True)
        self.end = 0
        """Position of the next unit."""

    def load(self) -> None:
        """Open the segments; :meth:`recover_end` then finds where the units stop."""
        self.queue.load()
        self.end = self.queue.min_offset

    @property
    def min_position(self) -> int:
        """Position of the oldest unit still on disk."""
        return self.queue.min_offset

    def physical_end(self, start: int) -> int:
        """The position after the last non-empty unit at or after ``start`` (units are never
        all zero: a size of zero means never written)."""
        pos = start
        while True:
            f = self.queue.find(pos)
            if f is None:
                return pos
            unit = UNIT.unpack_from(f.map, pos - f.start)
            if unit[3] == 0:
                return pos
            pos += UNIT_SIZE

    def append(
        self, slot_ms: int, offset: int, size: int, prev: int, *, marker: bool, key_hash: int
    ) -> int:
        """Write a unit at the end; return its position.

        Raises:
            OSError: a segment could not be created.
        """
        pos = self.end
        f = self.queue.find(pos)
        if f is None:
            f = self.queue.create(pos)
        size_word = size | (MARKER_FLAG if marker else 0)
        UNIT.pack_into(f.map, pos - f.start, slot_ms, offset, prev, size_word, key_hash)
        self.end = pos + UNIT_SIZE
        return pos

    def read(self, pos: int) -> TimerUnit | None:
        """The unit at ``pos``; ``None`` when its segment is gone."""
        f = self.queue.find(pos)
        if f is None:
            return None
        slot_ms, offset, prev, size_word, key_hash = UNIT.unpack_from(f.map, pos - f.start)
        return TimerUnit(
            slot_ms, offset, prev, size_word & _SIZE_MASK, bool(size_word & MARKER_FLAG), key_hash
        )

    def zero(self, start: int, end: int) -> None:
        """Erase units in ``[start, end)`` (a rolled-back tail) and drop empty segments."""
        pos = start
        while pos < end:
            f = self.queue.find(pos)
            if f is None:
                break
            stop = min(end, f.end)
            f.map[pos - f.start : stop - f.start] = bytes(stop - pos)
            pos = stop
        self.queue.delete_after(start)
        self.end = start

    def delete_segments_before(self, position: int) -> int:
        """Delete whole segments ending at or before ``position``; return how many."""
        files = self.queue.files
        count = 0
        while count < len(files) - 1 and files[count].end <= position:
            count += 1
        if count:
            self.queue.delete_first(count)
        return count

    def segments_before(self, position: int) -> list[MappedFile]:
        """The segments wholly before ``position`` (never the one being written)."""
        return [f for f in self.queue.files[:-1] if f.end <= position]

    def max_slot_in(self, f: MappedFile) -> int:
        """The latest slot any unit of segment ``f`` names."""
        latest = 0
        data = f.map[:]
        for unit in UNIT.iter_unpack(data):
            if unit[3] == 0:
                break
            latest = max(latest, unit[0])
        return latest

    def sync(self) -> None:
        """fdatasync every segment (safe from a worker thread: only syncs descriptors)."""
        for f in list(self.queue.files):
            if not f.closed:
                try:
                    f.sync()
                except OSError:  # deleted or closed meanwhile: nothing left to make durable
                    if not f.closed:
                        raise

    def disk_bytes(self) -> int:
        """Bytes the segments occupy."""
        return sum(os.stat(f.path).st_blocks * 512 for f in self.queue.files if not f.closed)

    def close(self) -> None:
        """Close every segment."""
        self.queue.close()

    def destroy(self) -> None:
        """Delete every segment."""
        self.queue.destroy()
        self.end = 0


class TimerWheel:
    """The ring of slot heads over the timer log."""

    def __init__(self, path: str, slots: int, precision_ms: int) -> None:
        self.path = path
        self.slots = slots
        self.precision_ms = precision_ms
        self._file: MappedFile | None = None

    def load(self) -> bool:
        """Open (or create, sparse) the wheel file; False when an existing one has another
        size (the precision or the max delay changed: the caller rebuilds)."""
        size = self.slots * SLOT_SIZE
        exists = os.path.exists(self.path)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        actual = os.fstat(fd).st_size
        if exists and actual not in (0, size):
            os.close(fd)
            return False
        if actual != size:
            os.ftruncate(fd, size)
            fsync_dir(os.path.dirname(self.path))
        self._file = MappedFile(self.path, 0, size, fd, writable=True)
        return True

    def _index(self, slot_ms: int) -> int:
        return (slot_ms // self.precision_ms) % self.slots * SLOT_SIZE

    def get(self, slot_ms: int) -> tuple[int, int, int] | None:
        """``(first, last, units)`` of the slot for ``slot_ms``, or ``None`` when empty."""
        assert self._file is not None, "wheel not loaded"
        time_ms, first, last, num, _ = SLOT.unpack_from(self._file.map, self._index(slot_ms))
        if time_ms != slot_ms or num <= 0:
            return None
        return first, last, num

    def put(self, slot_ms: int, first: int, last: int, num: int) -> None:
        """Set the slot for ``slot_ms``."""
        assert self._file is not None, "wheel not loaded"
        SLOT.pack_into(self._file.map, self._index(slot_ms), slot_ms, first, last, num, 0)

    def clear(self, slot_ms: int) -> None:
        """Empty the slot for ``slot_ms`` (if it names that time)."""
        assert self._file is not None, "wheel not loaded"
        index = self._index(slot_ms)
        if SLOT.unpack_from(self._file.map, index)[0] == slot_ms:
            SLOT.pack_into(self._file.map, index, 0, -1, -1, 0, 0)

    def link(
        self,
        slot_ms: int,
        timer_log: TimerLog,
        offset: int,
        size: int,
        *,
        marker: bool,
        key_hash: int,
    ) -> int:
        """Append a unit for ``slot_ms`` to ``timer_log`` and make it the slot's last one.

        The unit is written before the slot points at it, so a process killed in between
        leaves an unreferenced unit past the checkpoint, which recovery erases.
        """
        head = self.get(slot_ms)
        prev = -1 if head is None else head[1]
        pos = timer_log.append(slot_ms, offset, size, prev, marker=marker, key_hash=key_hash)
        if head is None:
            self.put(slot_ms, pos, pos, 1)
        else:
            self.put(slot_ms, head[0], pos, head[2] + 1)
        return pos

    def walk(self, slot_ms: int, timer_log: TimerLog) -> array[int]:
        """Positions of the slot's units, oldest first (8 bytes per unit, bounded by the
        slot's size)."""
        out: array[int] = array("q")
        head = self.get(slot_ms)
        if head is None:
            return out
        pos = head[1]
        while pos >= 0 and len(out) < head[2]:
            out.append(pos)
            unit = timer_log.read(pos)
            if unit is None:
                log.error("timer slot %d links to a deleted unit at %d", slot_ms, pos)
                break
            pos = unit.prev
        out.reverse()
        return out

    def unlink_from(self, slot_ms: int, timer_log: TimerLog, position: int) -> None:
        """Drop the slot's units at or after ``position`` (a rolled-back log tail)."""
        head = self.get(slot_ms)
        if head is None:
            return
        first, last, num = head
        while last >= position:
            unit = timer_log.read(last)
            num -= 1
            last = -1 if unit is None else unit.prev
        if last < 0 or first >= position or num <= 0:
            self.clear(slot_ms)
        else:
            self.put(slot_ms, first, last, num)

    def sync(self) -> None:
        """fdatasync the wheel."""
        if self._file is not None and not self._file.closed:
            self._file.sync()

    def disk_bytes(self) -> int:
        """Bytes the wheel occupies (sparse: only touched pages)."""
        try:
            return os.stat(self.path).st_blocks * 512
        except FileNotFoundError:
            return 0

    def close(self) -> None:
        """Unmap and close."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def destroy(self) -> None:
        """Close and delete the wheel file."""
        self.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
