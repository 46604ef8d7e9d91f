"""Bringing the files back to one consistent state when the store opens.

Every record below a start offset ``S`` is on disk together with its consume-queue entries
and index keys; the checkpoint records such an ``S`` (the smallest of its physic, logics and
index offsets). Recovery then

1. drops consume-queue entries pointing at ``S`` or beyond, and undoes index keys of
   records at ``S`` or beyond, so step 2 cannot write anything twice;
2. walks the commitlog from ``S``, validating every record (magic, sizes, stored offset,
   body CRC), and dispatches each valid one again;
3. cuts the commitlog at the first invalid record (a torn or garbage tail is zeroed).

After a clean shutdown ``S`` is the commitlog end, so nothing is replayed: the last record is
checked (with its CRC), and if that fails the last three segments are rescanned as Java
does. Without usable offsets in the checkpoint (a Java-written store), the start is chosen as
Java's ``recoverAbnormally`` does: the newest segment whose first record is older than the
checkpoint's times.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from broker.store.checkpoint import StoreCheckpoint
from broker.store.commitlog import CommitLog
from broker.store.consume_queue import ConsumeQueueTable
from broker.store.dispatch import DispatchRequest
from broker.store.index import IndexService
from broker.store.mapped_file import MappedFile
from broker.store.record_check import RecordEnd, check_record

__all__ = ["RecoveryReport", "recover"]

log = logging.getLogger(__name__)

_NORMAL_RESCAN_FILES: Final = 3


@dataclass(frozen=True)
class RecoveryReport:
    """What recovery did.

    Attributes:
        abnormal: the previous run did not shut down cleanly.
        start_offset: where the commitlog walk started.
        end_offset: the commitlog end found.
        records_replayed: records dispatched again.
        consume_queue_entries_dropped: entries removed before replaying.
        index_entries_dropped: index keys removed before replaying.
        elapsed_ms: wall time spent.
    """

    abnormal: bool
    start_offset: int
    end_offset: int
    records_replayed: int
    consume_queue_entries_dropped: int
    index_entries_dropped: int
    elapsed_ms: float


class _Walker:
    """Validates records in place over the segments' mappings."""

    def __init__(self, commitlog: CommitLog, check_crc: bool, delay: Mapping[int, int]) -> None:
        self.commitlog = commitlog
        self.check_crc = check_crc
        self.delay = delay

    def check(self, f: MappedFile, pos: int, *, crc: bool | None = None) -> DispatchRequest | int:
        """:func:`check_record` at ``pos`` of ``f`` (CRC as configured unless ``crc``)."""
        mv = memoryview(f.map)
        try:
            return check_record(
                mv,
                pos,
                f.size,
                f.start,
                check_crc=self.check_crc if crc is None else crc,
                delay_table=self.delay,
            )
        finally:
            mv.release()

    def is_boundary(self, offset: int) -> bool:
        """A record, a filler, or untouched zeros start at ``offset``."""
        files = self.commitlog.queue.files
        if offset == files[-1].end:
            return True
        f = self.commitlog.queue.find(offset)
        if f is None:
            return False
        result = self.check(f, offset - f.start, crc=False)
        if result != RecordEnd.INVALID:
            return True
        pos = offset - f.start
        return f.map[pos : pos + 8] == bytes(min(8, f.size - pos))

    def clean_end_ok(self, cp: StoreCheckpoint) -> bool:
        """The record the checkpoint names as last ends exactly at its clean end."""
        end, last = cp.clean_end_offset, cp.last_record_offset
        if end < 0:
            return False
        if last < 0:
            return end == self.commitlog.queue.min_offset
        f = self.commitlog.queue.find(last)
        if f is None:
            return False
        r = self.check(f, last - f.start, crc=True)
        if not isinstance(r, DispatchRequest):
            return False
        record_end = last + r.size
        if record_end == end:
            return True
        # The segment was closed with a filler after the last record.
        return end == f.end and self.check(f, record_end - f.start) == RecordEnd.BLANK

    def first_store_timestamp(self, f: MappedFile) -> int:
        """Store time of the segment's first record (0 if it has none)."""
        r = self.check(f, 0, crc=False)
        return r.store_timestamp if isinstance(r, DispatchRequest) else 0


def _choose_start(walker: _Walker, cp: StoreCheckpoint, abnormal: bool, index_enabled: bool) -> int:
    files = walker.commitlog.queue.files
    first, last = files[0].start, files[-1].end
    if cp.has_offsets and (abnormal or walker.clean_end_ok(cp)):
        start = min(cp.physic_offset, cp.logics_offset)
        if index_enabled:
            start = min(start, cp.index_offset)
        start = max(start, first)
        if start <= last and walker.is_boundary(start):
            return start
        log.warning("checkpoint offset %d is not a record boundary, rescanning", start)
    if not abnormal:
        return files[max(0, len(files) - _NORMAL_RESCAN_FILES)].start
    min_ts = cp.min_timestamp()
    if index_enabled:
        min_ts = min(min_ts, cp.index_msg_timestamp)
    for f in reversed(files):
        ts = walker.first_store_timestamp(f)
        if 0 < ts <= min_ts:
            return f.start
    return first


def recover(
    *,
    commitlog: CommitLog,
    table: ConsumeQueueTable,
    index: IndexService | None,
    checkpoint: StoreCheckpoint,
    abnormal: bool,
    check_crc: bool,
    delay_table: Mapping[int, int],
    dispatch: Callable[[DispatchRequest], None],
) -> RecoveryReport:
    """Make the commitlog, consume queues and index agree (see the module docstring).

    Args:
        commitlog: loaded segments (positions are set here).
        table: loaded consume queues.
        index: loaded index, or ``None`` when indexing is off.
        checkpoint: the loaded checkpoint.
        abnormal: the abort file was present.
        check_crc: verify body CRCs while walking.
        delay_table: delay levels, for schedule-topic tags codes.
        dispatch: writes one record's queue entry and index keys.
    """
    began = time.monotonic()
    walker = _Walker(commitlog, check_crc, delay_table)
    files = commitlog.queue.files
    start = _choose_start(walker, checkpoint, abnormal, index is not None) if files else 0
    dropped = sum(cq.truncate_from_phy(start, table.lock) for cq in table.all())
    index_dropped = index.rollback(start) if index is not None else 0

    replayed = 0
    last_record = -1
    last_ts = checkpoint.physic_msg_timestamp
    if start == checkpoint.clean_end_offset:
        last_record = checkpoint.last_record_offset
    end = start
    f = commitlog.queue.find(start) if files else None
    while f is not None:
        pos = end - f.start
        mv = memoryview(f.map)
        try:
            while True:
                r = check_record(
                    mv, pos, f.size, f.start, check_crc=check_crc, delay_table=delay_table
                )
                if not isinstance(r, DispatchRequest):
                    break
                dispatch(r)
                replayed += 1
                last_record = r.commit_log_offset
                last_ts = r.store_timestamp
                pos += r.size
        finally:
            mv.release()
        end = f.start + pos
        if r != RecordEnd.BLANK:
            break
        end = f.end
        f = commitlog.queue.find(end)

    if files and end < files[-1].end:
        log.info("commitlog ends at %d; cutting what follows", end)
    commitlog.truncate(end)
    commitlog.set_end(end, last_record, last_ts, durable=start)
    min_phy = commitlog.min_offset
    for cq in table.all():
        cq.correct_min_offset(min_phy)
    report = RecoveryReport(
        abnormal=abnormal,
        start_offset=start,
        end_offset=end,
        records_replayed=replayed,
        consume_queue_entries_dropped=dropped,
        index_entries_dropped=index_dropped,
        elapsed_ms=(time.monotonic() - began) * 1000,
    )
    log.info("store recovered: %s", report)
    return report
