"""The message key index: Java's ``IndexFile`` layout, hash slots chaining 20-byte entries.

One file (``protocol.md`` 6.4)::

    header   int64 beginTimestamp, int64 endTimestamp, int64 beginPhyOffset,
             int64 endPhyOffset, int32 hashSlotCount, int32 indexCount (starts at 1)
    slots    hashSlotNum x int32: number of the newest entry whose hash % hashSlotNum is the slot
    entries  indexNum x (int32 keyHash, int64 phyOffset, int32 timeDiff seconds, int32 prev)

Keys are ``<topic>#<UNIQ_KEY>`` and ``<topic>#<each KEYS token>``. The keys of a batch of
messages are added together (:meth:`IndexFile.put_keys`): their entries first, then the header
with the new count, then their slots, so a process killed in between leaves at worst entries
that no slot reaches (or slots some of which already point at them), which
:meth:`IndexFile.rollback` undoes before recovery indexes those messages again. Writing the
header and the slots once per batch instead of once per key halved the index's share of a put.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import mmap
import operator
import os
import struct
import threading
import time
from collections.abc import Sequence
from typing import Final

from broker.store.mapped_file import fsync_dir, preallocate
from rocketmq_py.protocol.message import MessageSysFlag, index_key_hash, java_string_hash

__all__ = ["IndexFile", "IndexService", "fast_index_key_hash", "topic_key_hash"]

IndexKey = tuple[int, int, int]
"""``(key hash, commitlog offset, store timestamp)`` of one key to index."""

log = logging.getLogger(__name__)

HEADER: Final = struct.Struct(">qqqqii")
ENTRY: Final = struct.Struct(">iqii")
_INT32: Final = struct.Struct(">i")
_HEADER_SIZE: Final = 40
_SLOT_SIZE: Final = 4
_ENTRY_SIZE: Final = 20
_INT_MAX: Final = 2**31 - 1
_MASK32: Final = 0xFFFFFFFF

# 31**k mod 2**32 for String.hashCode as one C-level dot product with the reversed bytes.
_MAX_FAST_LEN: Final = 512
_POWERS: Final = tuple(pow(31, k, 2**32) for k in range(_MAX_FAST_LEN))


def _abs_hash(h: int) -> int:
    """``index_key_hash`` of an unsigned 32-bit ``String.hashCode``: abs, MIN_VALUE -> 0."""
    if h & 0x80000000:
        h -= 0x100000000
    if h == -(2**31):
        return 0
    return -h if h < 0 else h


def fast_index_key_hash(key: str) -> int:
    """:func:`~rocketmq_py.protocol.message.index_key_hash`, without a Python loop per char."""
    if not key.isascii() or len(key) > _MAX_FAST_LEN:
        return index_key_hash(key)
    return _abs_hash(sum(map(operator.mul, key.encode("ascii")[::-1], _POWERS)) & _MASK32)


@functools.lru_cache(maxsize=4096)
def _topic_prefix_hash(topic: str) -> int:
    """Unsigned ``String.hashCode`` of ``<topic>#``, the prefix every key of a topic shares."""
    return java_string_hash(f"{topic}#") & _MASK32


_TAIL: Final = 8
"""Characters of a key hashed every time; the rest (its head) is looked up in a cache."""
_POW_TAIL: Final = _POWERS[_TAIL]


@functools.lru_cache(maxsize=4096)
def _head_hash(topic: str, head: str) -> int:
    """Unsigned ``String.hashCode`` of ``<topic>#<head>`` (ASCII ``head``)."""
    tail_sum: int = sum(map(operator.mul, head.encode("ascii")[::-1], _POWERS))
    return (_topic_prefix_hash(topic) * _POWERS[len(head)] + tail_sum) & _MASK32


def topic_key_hash(topic: str, key: str) -> int:
    """``index_key_hash(f"{topic}#{key}")``, hashing as few characters as it can.

    ``hashCode(a + b) = hashCode(a) * 31**len(b) + hashCode(b)`` (mod 2**32, lengths in UTF-16
    units), so the hash of ``<topic>#<head>`` is cached and only the key's last 8 characters
    are hashed each time. A UNIQ_KEY (32 hex digits: client address, pid, class-loader hash,
    milliseconds since the month began, counter) keeps its 24-digit head for about 65 s: 8
    multiplications instead of 53 for a 20-character topic, 1.0 us instead of 2.7 us. Keys
    with no repeating head (random ids) cost one cache miss more than hashing them whole.
    """
    n = len(key)
    if n >= _MAX_FAST_LEN or not key.isascii():
        return index_key_hash(f"{topic}#{key}")
    if n > _TAIL:
        # The 8-character tail in Horner form: cheaper than the dot product below.
        c0, c1, c2, c3, c4, c5, c6, c7 = key[-_TAIL:].encode("ascii")
        tail_sum = ((((((c0 * 31 + c1) * 31 + c2) * 31 + c3) * 31 + c4) * 31 + c5) * 31 + c6) * 31
        h = (_head_hash(topic, key[:-_TAIL]) * _POW_TAIL + tail_sum + c7) & _MASK32
    else:
        tail_sum = sum(map(operator.mul, key.encode("ascii")[::-1], _POWERS))
        h = (_topic_prefix_hash(topic) * _POWERS[n] + tail_sum) & _MASK32
    # _abs_hash(h), inlined: two per message
    if h & 0x80000000:
        return 0 if h == 0x80000000 else 0x100000000 - h
    return h


def index_file_size(slot_num: int, index_num: int) -> int:
    """Bytes of an index file."""
    return _HEADER_SIZE + slot_num * _SLOT_SIZE + index_num * _ENTRY_SIZE


class IndexFile:
    """One index file, mapped read-write."""

    def __init__(self, path: str, slot_num: int, index_num: int, *, create: bool) -> None:
        self.path = path
        self.slot_num = slot_num
        self.index_num = index_num
        size = index_file_size(slot_num, index_num)
        fd = os.open(path, os.O_RDWR | (os.O_CREAT if create else 0), 0o644)
        try:
            if os.fstat(fd).st_size != size:
                if not create:
                    raise ValueError(f"index file {path} is not {size} bytes")
                preallocate(fd, 0, size)
            self.map = mmap.mmap(fd, size, access=mmap.ACCESS_WRITE)
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd
        self.closed = False
        self.dirty = False
        self._entries_pos = _HEADER_SIZE + slot_num * _SLOT_SIZE
        header: tuple[int, int, int, int, int, int] = HEADER.unpack_from(self.map, 0)
        self.begin_timestamp: int = header[0]
        self.end_timestamp: int = header[1]
        self.begin_phy_offset: int = header[2]
        self.end_phy_offset: int = header[3]
        self.hash_slot_count: int = header[4]
        self.index_count: int = max(header[5], 1)

    @property
    def name(self) -> str:
        """The file name (creation time)."""
        return os.path.basename(self.path)

    def is_write_full(self) -> bool:
        """No entry left."""
        return self.index_count >= self.index_num

    def _write_header(self) -> None:
        HEADER.pack_into(
            self.map,
            0,
            self.begin_timestamp,
            self.end_timestamp,
            self.begin_phy_offset,
            self.end_phy_offset,
            self.hash_slot_count,
            self.index_count,
        )

    def start_after(self, end_phy_offset: int, end_timestamp: int) -> None:
        """Seed a new file's header from the previous file's end (Java does the same)."""
        if end_phy_offset > 0:
            self.begin_phy_offset = self.end_phy_offset = end_phy_offset
        if end_timestamp > 0:
            self.begin_timestamp = self.end_timestamp = end_timestamp
        self._write_header()

    def put_key(self, key_hash: int, phy_offset: int, store_timestamp: int) -> bool:
        """Add one key; False when the file is full."""
        return self.put_keys([(key_hash, phy_offset, store_timestamp)], 0) == 1

    def put_keys(self, keys: Sequence[IndexKey], start: int) -> int:
        """Add ``keys[start:]`` in order until the file is full; return the index of the first
        key not added (``len(keys)`` when all were).

        Entries, then the header, then the slots (see the module docstring). Several keys of
        the batch may share a slot: each entry chains to the one before it in that slot.
        """
        count = self.index_count
        end = min(len(keys), start + max(self.index_num - count, 0))
        if end <= start:
            return start
        m = self.map
        slot_num = self.slot_num
        entries_pos = self._entries_pos
        pack_entry = ENTRY.pack_into
        begin_ts = self.begin_timestamp
        slots: dict[int, int] = {}  # slot position -> its new value, written after the header
        diff_of = (-1, 0)  # (store timestamp, its diff): the keys of a put share one
        for i in range(start, end):
            key_hash, phy_offset, store_timestamp = keys[i]
            slot_pos = _HEADER_SIZE + (key_hash % slot_num) * _SLOT_SIZE
            prev = slots.get(slot_pos)
            if prev is None:
                (prev,) = _INT32.unpack_from(m, slot_pos)
                if prev <= 0 or prev > count:
                    prev = 0
                    self.hash_slot_count += 1
            if store_timestamp != diff_of[0]:
                diff = 0
                if begin_ts > 0:
                    diff = min(max((store_timestamp - begin_ts) // 1000, 0), _INT_MAX)
                diff_of = (store_timestamp, diff)
            pack_entry(m, entries_pos + count * _ENTRY_SIZE, key_hash, phy_offset, diff_of[1], prev)
            if count <= 1:  # the file's first entry
                self.begin_phy_offset = phy_offset
                self.begin_timestamp = begin_ts = store_timestamp
                diff_of = (-1, 0)
            slots[slot_pos] = count
            count += 1
        _, self.end_phy_offset, self.end_timestamp = keys[end - 1]
        self.index_count = count
        self._write_header()
        for slot_pos, value in slots.items():
            _INT32.pack_into(m, slot_pos, value)
        self.dirty = True
        return end

    def is_time_matched(self, begin: int, end: int) -> bool:
        """Whether the file's time range overlaps ``[begin, end]`` (Java's test)."""
        b, e = self.begin_timestamp, self.end_timestamp
        return (begin < b and end > e) or b <= begin <= e or b <= end <= e

    def select(self, key_hash: int, out: list[int], max_num: int, begin: int, end: int) -> None:
        """Append to ``out`` the offsets of entries with ``key_hash`` stored in the window,
        each offset once.

        Why once: recovery indexes the newest indexed message again (``wants`` takes
        ``phy >= end_phy_offset``, as Java does), which repairs a put cut off between the
        header and the slots by a crash, and otherwise leaves that message's keys twice.
        """
        count = self.index_count
        m = self.map
        (slot_value,) = _INT32.unpack_from(m, _HEADER_SIZE + (key_hash % self.slot_num) * 4)
        if slot_value <= 0 or slot_value > count or count <= 1:
            return
        current = slot_value
        while len(out) < max_num:
            hash_read, phy, diff, prev = ENTRY.unpack_from(
                m, self._entries_pos + current * _ENTRY_SIZE
            )
            if diff < 0:
                break
            time_read = self.begin_timestamp + diff * 1000
            if hash_read == key_hash and begin <= time_read <= end and phy not in out:
                out.append(phy)
            if prev <= 0 or prev > count or prev == current or time_read < begin:
                break
            current = prev

    def rollback(self, phy_start: int) -> int:
        """Remove the newest entries pointing at ``phy_start`` or beyond; return how many.

        Entries are removed newest first, restoring each slot to the entry's predecessor,
        which undoes the puts exactly. All-zero entries (never written) go as well.
        """
        m = self.map
        removed = 0
        k = self.index_count - 1
        while k >= 1:
            pos = self._entries_pos + k * _ENTRY_SIZE
            key_hash, phy, _diff, prev = ENTRY.unpack_from(m, pos)
            if phy < phy_start and (key_hash or phy or prev):
                break
            slot_pos = _HEADER_SIZE + (key_hash % self.slot_num) * _SLOT_SIZE
            if _INT32.unpack_from(m, slot_pos)[0] == k:
                _INT32.pack_into(m, slot_pos, prev if 0 < prev < k else 0)
                if not 0 < prev < k:
                    self.hash_slot_count = max(self.hash_slot_count - 1, 0)
            m[pos : pos + _ENTRY_SIZE] = bytes(_ENTRY_SIZE)
            removed += 1
            k -= 1
        if removed:
            self.index_count = k + 1
            if k >= 1:
                _h, phy, diff, _p = ENTRY.unpack_from(m, self._entries_pos + k * _ENTRY_SIZE)
                self.end_phy_offset = phy
                self.end_timestamp = self.begin_timestamp + diff * 1000
            else:
                self.end_phy_offset = self.begin_phy_offset
                self.end_timestamp = self.begin_timestamp
            self._write_header()
            self.dirty = True
        return removed

    def flush(self) -> None:
        """Sync the file."""
        self.dirty = False
        os.fsync(self.fd)

    def close(self) -> None:
        """Unmap and close."""
        if not self.closed:
            self.closed = True
            self.map.close()
            os.close(self.fd)

    def destroy(self) -> None:
        """Close and delete."""
        self.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


def _file_name(ms: int) -> str:
    # Java UtilAll.timeMillisToHumanString: local time yyyyMMddHHmmssSSS.
    return time.strftime("%Y%m%d%H%M%S", time.localtime(ms // 1000)) + f"{ms % 1000:03d}"


class IndexService:
    """The index files, oldest first; writes on the loop thread, syncs on the flusher's."""

    def __init__(
        self, directory: str, slot_num: int, index_num: int, max_msgs_num_batch: int
    ) -> None:
        self.directory = directory
        self.slot_num = slot_num
        self.index_num = index_num
        self.max_msgs_num_batch = max_msgs_num_batch
        self.files: list[IndexFile] = []
        self.lock = threading.Lock()

    def load(self) -> None:
        """Open the existing index files (names sort by creation time)."""
        os.makedirs(self.directory, exist_ok=True)
        for name in sorted(os.listdir(self.directory)):
            if not name.isdigit():
                continue
            path = os.path.join(self.directory, name)
            if os.path.getsize(path) == 0:
                log.warning("removing empty index file %s (a crash while creating it)", path)
                os.unlink(path)
                continue
            try:
                self.files.append(IndexFile(path, self.slot_num, self.index_num, create=False))
            except ValueError as exc:
                log.error("skipping index file: %s", exc)

    def _new_file(self, now_ms: int) -> IndexFile:
        name = _file_name(now_ms)
        if self.files and name <= self.files[-1].name:
            # Names must sort in creation order even when files fill within a millisecond.
            ms = _ms_of(self.files[-1].name, now_ms)
            while name <= self.files[-1].name:
                ms += 1
                name = _file_name(ms)
        path = os.path.join(self.directory, name)
        f = IndexFile(path, self.slot_num, self.index_num, create=True)
        if self.files:
            prev = self.files[-1]
            f.start_after(prev.end_phy_offset, prev.end_timestamp)
            prev.dirty = True
        fsync_dir(self.directory)
        self.files.append(f)
        return f

    def build_index(
        self,
        *,
        topic: str,
        phy_offset: int,
        store_timestamp: int,
        sys_flag: int,
        uniq_key: str | None,
        keys: str | None,
        now_ms: int,
    ) -> None:
        """Index a stored message's ``UNIQ_KEY`` and ``KEYS`` (rolled-back ones are skipped).

        Raises:
            OSError: a new index file cannot be created.
        """
        batch: list[IndexKey] = []
        if self.wants(phy_offset, sys_flag):
            add_message_keys(
                batch, topic, phy_offset, store_timestamp, uniq_key=uniq_key, keys=keys
            )
        self.put_keys(batch, now_ms)

    def wants(self, phy_offset: int, sys_flag: int) -> bool:
        """Whether the message at ``phy_offset`` still needs indexing: not rolled back, and
        beyond what the newest file holds (Java's guard against indexing twice)."""
        if (
            sys_flag & MessageSysFlag.TRANSACTION_TYPE_MASK
            == MessageSysFlag.TRANSACTION_ROLLBACK_TYPE
        ):
            return False
        return not self.files or phy_offset >= self.files[-1].end_phy_offset

    def put_keys(self, keys: Sequence[IndexKey], now_ms: int) -> None:
        """Add keys in order, opening new files as files fill up.

        Raises:
            OSError: a new index file cannot be created.
        """
        done = 0
        while done < len(keys):
            f = self.files[-1] if self.files else self._new_file(now_ms)
            done = f.put_keys(keys, done)
            if done < len(keys):
                self._new_file(now_ms)

    def query(
        self, topic: str, key: str, max_num: int, begin: int, end: int
    ) -> tuple[list[int], int, int]:
        """Offsets of messages indexed under ``topic#key`` stored in ``[begin, end]``.

        Returns:
            ``(offsets, last update timestamp, last update offset)``; offsets newest first
            per file, at most ``min(max_num, max_msgs_num_batch)``.
        """
        offsets: list[int] = []
        max_num = min(max_num, self.max_msgs_num_batch)
        files = self.files
        if not files:
            return offsets, 0, 0
        key_hash = topic_key_hash(topic, key)
        last = files[-1]
        for f in reversed(files):
            if f.closed:
                continue
            if f.is_time_matched(begin, end):
                f.select(key_hash, offsets, max_num, begin, end)
            if f.begin_timestamp < begin or len(offsets) >= max_num:
                break
        return offsets, last.end_timestamp, last.end_phy_offset

    def rollback(self, phy_start: int) -> int:
        """Undo indexing of every message at ``phy_start`` or beyond; return entries removed.

        Files left empty that were created after such messages are deleted.
        """
        removed = 0
        while self.files:
            f = self.files[-1]
            removed += f.rollback(phy_start)
            if f.index_count <= 1 and len(self.files) > 1 and f.begin_phy_offset >= phy_start:
                with self.lock:
                    f.destroy()
                    self.files.pop()
                continue
            break
        return removed

    def delete_expired(self, min_phy_offset: int) -> int:
        """Delete files (never the newest) whose last entry is below ``min_phy_offset``."""
        gone = [f for f in self.files[:-1] if f.end_phy_offset < min_phy_offset]
        if not gone:
            return 0
        with self.lock:
            self.files = self.files[len(gone) :]
            for f in gone:
                f.destroy()
        return len(gone)

    def flush(self) -> None:
        """Sync every file written since its last sync (flusher thread)."""
        with self.lock:
            for f in list(self.files):
                if f.dirty and not f.closed:
                    f.flush()

    def close(self) -> None:
        """Close every file."""
        with self.lock:
            for f in self.files:
                f.close()


def add_message_keys(
    out: list[IndexKey],
    topic: str,
    phy_offset: int,
    store_timestamp: int,
    *,
    uniq_key: str | None,
    keys: str | None,
) -> None:
    """Append the index keys of one message: ``topic#UNIQ_KEY`` and ``topic#`` each KEYS token."""
    if uniq_key:
        out.append((topic_key_hash(topic, uniq_key), phy_offset, store_timestamp))
    if keys:
        for key in keys.split(" "):
            if key:
                out.append((topic_key_hash(topic, key), phy_offset, store_timestamp))


def _ms_of(name: str, default: int) -> int:
    try:
        t = time.strptime(name[:14], "%Y%m%d%H%M%S")
    except ValueError:
        return default
    return int(time.mktime(t)) * 1000 + int(name[14:17] or 0)
