"""The write half of the store: puts, deferred writes, dispatch and waiting for a flush.

:class:`StoreWriter` sits between :class:`~broker.store.reads.StoreReader` and
:class:`~broker.store.MessageStore`: it owns everything a put touches, and the facade's
lifecycle (load, start, shutdown) moves its :class:`StoreState`, sets its loop and runs its
commitlog flusher.

Writes are grouped. A put packs its records onto the commitlog's pending bytes; the pending
bytes are written with one ``os.pwrite`` and only then dispatched (queue entries, index keys,
long-polling wake-ups), so readers and the flushers never see a record that is not in the page
cache. A plain put writes before it returns. A *deferred* put (``defer=True``, the send path)
returns at once and its bytes are written by :meth:`StoreWriter.commit_deferred`, which the
server calls after a batch of requests and before it writes their responses: all the sends
that arrived in one socket read share one write. A deferred put whose write fails is never
acknowledged: ``commit_deferred`` returns False (the server answers the batch with errors) and
its :class:`~broker.store.results.PendingWrite` says so to whoever waits for a flush.

The put path (:meth:`StoreWriter._put` and what it calls per message) is the broker's hottest
code: it is written for the fewest calls and attribute lookups per message.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable, Sequence
from enum import Enum

from broker.store.appender import append_records
from broker.store.cleanup import DiskUsage
from broker.store.commitlog import CommitLog
from broker.store.config import FlushDiskType, StoreConfig
from broker.store.consume_queue import ConsumeQueue, ConsumeQueueTable, is_valid_topic_dir
from broker.store.dispatch import Dispatcher
from broker.store.flush import CommitLogFlusher, FlushWaiters
from broker.store.index import IndexService
from broker.store.reads import StoreReader
from broker.store.results import PendingWrite, PutResult, PutStatus
from broker.store.stats import StoreStats
from rocketmq_py.protocol.message import (
    MessageConst,
    MessageRecord,
    MessageSysFlag,
    encode_offset_msg_id,
    ip_to_bytes,
)

__all__ = ["ArrivalListener", "StoreState", "StoreWriter"]

# The facade's logger: the put path logged under this name before it had a module of its own.
log = logging.getLogger("broker.store.message_store")

ArrivalListener = Callable[[str, int, int], None]
"""``listener(topic, queue_id, new_max_offset)``, called after each dispatched put."""

_TRANSACTION_TYPE_MASK = int(MessageSysFlag.TRANSACTION_TYPE_MASK)
_DISPATCHED_TYPES = frozenset((0, int(MessageSysFlag.TRANSACTION_COMMIT_TYPE)))
_PUT_OK = PutStatus.PUT_OK
_MAX_PENDING_BYTES = 4 * 1024 * 1024
"""Deferred puts past this many pending bytes are written at once (bounds the memory)."""


_PendingPut = tuple[list[MessageRecord], ConsumeQueue | None, int]
"""A put whose records wait in the commitlog's pending bytes, to dispatch once written:
``(records, their consume queue or None, store time)``."""


class StoreState(Enum):
    """Where a store is in its lifecycle; puts are accepted only while ``RUNNING``."""

    NEW = "new"
    LOADED = "loaded"
    RUNNING = "running"
    SHUT_DOWN = "shut down"


class StoreWriter(StoreReader):
    """Puts over the store's files (see the module docstring).

    Not used on its own: :class:`~broker.store.MessageStore` builds the files and runs the
    lifecycle.

    Args:
        config: the settings.
        commitlog: the commitlog.
        consume_queues: the consume queues.
        index: the key index, or ``None`` when disabled.
        stats: the counters puts and reads update.
        clock_ms: epoch milliseconds for store timestamps.
    """

    def __init__(
        self,
        config: StoreConfig,
        commitlog: CommitLog,
        consume_queues: ConsumeQueueTable,
        index: IndexService | None,
        stats: StoreStats,
        *,
        clock_ms: Callable[[], int],
    ) -> None:
        super().__init__(config, commitlog, consume_queues, index, stats)
        self.clock_ms = clock_ms
        self._disk = DiskUsage(config.commit_log_dir, config.disk_ratio_refresh_ms)
        self._state = StoreState.NEW
        self._dispatcher = Dispatcher(consume_queues, index, config.delay_level_table_ms, clock_ms)
        self._dispatch_failed = False
        self._disk_full = False
        self._listeners: list[ArrivalListener] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiters: FlushWaiters | None = None
        self._sync = config.flush_disk_type is FlushDiskType.SYNC_FLUSH
        self.sync_flush: bool = self._sync
        """Whether puts are acknowledged only once fsynced (``SYNC_FLUSH``); fixed."""
        self._store_ip = ip_to_bytes(config.store_host[0])
        self._store_port = config.store_host[1]
        # An offset message id is this prefix (store address) plus the offset in 16 hex digits.
        self._msg_id_prefix = encode_offset_msg_id(self._store_ip, self._store_port, 0)[:-16]
        self._msg_id_format = self._msg_id_prefix.replace("%", "%%") + "%016X"
        self._cl_flusher = CommitLogFlusher(commitlog, config, self._on_commitlog_flushed)
        # Deferred writes: the puts whose records are pending, the next queue offset of each
        # queue they append to, the token they share, and whether a write of deferred puts
        # failed since the last commit_deferred().
        self._pending_puts: list[_PendingPut] = []
        self._next_queue_offset: dict[ConsumeQueue, int] = {}
        self._pending_write: PendingWrite | None = None
        self._pending_deferred = False
        self._write_soon: asyncio.Handle | None = None
        self._deferred_failed = False

    # -- puts -----------------------------------------------------------------------------------

    def put_message(
        self,
        record: MessageRecord,
        *,
        defer: bool = False,
        encoded_properties: bytes | None = None,
    ) -> PutResult:
        """Store one message (see :meth:`put_messages`)."""
        encoded = None if encoded_properties is None else (encoded_properties,)
        return self._put([record], batch=False, defer=defer, encoded=encoded)

    def put_messages(
        self,
        records: list[MessageRecord],
        *,
        defer: bool = False,
        encoded_properties: Sequence[bytes | None] | None = None,
    ) -> PutResult:
        """Store a batch of one topic and queue contiguously in one write.

        Without ``defer`` the records are in the page cache and dispatched when this returns.
        With ``defer`` (and a running loop) they are written and dispatched by the next
        :meth:`commit_deferred` (or at the latest on the next loop iteration): the caller
        must not acknowledge them before ``commit_deferred`` returned True, and the result's
        ``write`` tells whether they made it.

        The caller fills topic, body, flag, properties (and ``raw_properties`` when it has
        the exact bytes), queue_id, sys_flag, born_timestamp, born_host, reconsume_times and
        prepared_transaction_offset. ``encoded_properties`` may give, per record, the exact
        bytes ``encode_properties(record.properties, trailing_separator=False)`` would give
        (or ``None``): they are stored as they are, unchecked, which spares encoding the
        dict; the send path builds them from the producer's own text. The store sets
        commit_log_offset, queue_offset, store_timestamp, store_host, body_crc and
        store_size on each record. Prepared (4) and rolled-back (12) transactional messages
        get queue offset 0 and no queue entry.

        Returns:
            One :class:`PutResult`; ``msg_id`` joins the offset ids with commas and
            ``queue_offset`` is the first message's.
        """
        return self._put(records, batch=True, defer=defer, encoded=encoded_properties)

    def _put(
        self,
        records: list[MessageRecord],
        *,
        batch: bool,
        defer: bool,
        encoded: Sequence[bytes | None] | None = None,
    ) -> PutResult:
        began = time.perf_counter()
        # _accepting_puts() and the common case of _disk_accepts_puts(), inlined.
        if self._state is not StoreState.RUNNING or self._dispatch_failed:
            return self._refuse(PutStatus.SERVICE_NOT_AVAILABLE)
        if not records:
            return self._refuse(PutStatus.MESSAGE_ILLEGAL)
        if (
            self._disk_full or self._disk.ratio() * 100 > self.config.disk_max_used_space_ratio
        ) and not self._disk_accepts_puts():
            return self._refuse(PutStatus.SERVICE_NOT_AVAILABLE)
        first = records[0]
        topic, queue_id = first.topic, first.queue_id
        tran = first.sys_flag & _TRANSACTION_TYPE_MASK
        if batch and len(records) > 1:
            if tran != MessageSysFlag.TRANSACTION_NOT_TYPE:
                return self._refuse(PutStatus.MESSAGE_ILLEGAL)
            for r in records:
                if r.topic != topic or r.queue_id != queue_id or r.sys_flag != first.sys_flag:
                    return self._refuse(PutStatus.MESSAGE_ILLEGAL)
        dispatched = tran in _DISPATCHED_TYPES  # is_dispatched(tran), inlined
        cq = self.consume_queues.find(topic, queue_id) if dispatched else None
        if dispatched and cq is None:
            if not is_valid_topic_dir(topic):
                return self._refuse(PutStatus.MESSAGE_ILLEGAL)
            cq = self.consume_queues.find_or_create(topic, queue_id)
        try:
            topic_bytes = topic.encode("utf-8")
        except UnicodeEncodeError:
            return self._refuse(PutStatus.MESSAGE_ILLEGAL)
        cl = self.commitlog
        try:
            f, pos = cl.head()
        except OSError:
            log.exception("creating a commitlog segment failed")
            return self._refuse(PutStatus.CREATE_MAPPED_FILE_FAILED)
        store_ts = self.clock_ms()
        # Queue offsets are handed out now; the entries are written once the records are.
        queue_offset = None if cq is None else self._next_queue_offset.get(cq, cq.max_offset)
        start = len(cl.pending)
        config = self.config
        # cl.pending is passed at each call: writing the pending bytes (a roll) replaces it.
        append = functools.partial(
            append_records,
            records=records,
            topic=topic_bytes,
            queue_offset=queue_offset,
            store_timestamp=store_ts,
            store_ip=self._store_ip,
            store_port=self._store_port,
            store_host=config.store_host,
            max_message_size=config.max_message_size,
            encoded_properties=encoded,
        )
        total = append(cl.pending, commit_log_offset=f.start + pos)
        if isinstance(total, PutStatus):
            return self._refuse(total)
        if not cl.fits(pos, total):
            # The segment's end: these records go to the next one, once the pending bytes
            # (which belong to this one) are written.
            del cl.pending[start:]
            if not cl.fits(0, total):
                return self._refuse(PutStatus.MESSAGE_ILLEGAL)
            if not self._write_pending():
                return self._refuse(PutStatus.UNKNOWN_ERROR)
            if not self._accepting_puts():  # the write's dispatch failed
                return self._refuse(PutStatus.SERVICE_NOT_AVAILABLE)
            try:
                f, pos = cl.roll()
            except OSError:
                log.exception("creating a commitlog segment failed")
                return self._refuse(PutStatus.CREATE_MAPPED_FILE_FAILED)
            total = append(cl.pending, commit_log_offset=f.start)
            if isinstance(total, PutStatus):  # pragma: no cover - the same records passed
                return self._refuse(total)
        phy = f.start + pos
        if cq is not None and queue_offset is not None:
            self._next_queue_offset[cq] = queue_offset + len(records)
        cl.appended(records[-1].commit_log_offset, store_ts)
        self._pending_puts.append((records, cq, store_ts))
        write = self._pending_write
        if write is None:
            write = self._pending_write = PendingWrite()
        if defer and self._loop is not None:
            self._defer(write)
        elif not self._write_pending():
            return self._refuse(PutStatus.UNKNOWN_ERROR)
        else:
            write = None
        self._stats.record_put(len(records), total, (time.perf_counter() - began) * 1000)
        # Positional (the fields in order): this runs for every message.
        return PutResult(
            _PUT_OK,
            phy,  # wrote_offset
            total,  # wrote_bytes
            self._msg_ids(records),  # msg_id
            queue_offset or 0,  # queue_offset
            len(records),  # msg_num
            store_ts,  # store_timestamp
            write,
        )

    def _accepting_puts(self) -> bool:
        """Running, and no dispatch failed (queue offsets would go wrong until a restart)."""
        return self._state is StoreState.RUNNING and not self._dispatch_failed

    def _disk_accepts_puts(self) -> bool:
        """False while the disk is fuller than ``disk_max_used_space_ratio`` (logged once)."""
        ratio = self._disk.ratio()
        if ratio * 100 > self.config.disk_max_used_space_ratio:
            if not self._disk_full:
                self._disk_full = True
                log.error("disk is %.1f%% full: refusing puts", ratio * 100)
            return False
        if self._disk_full:
            self._disk_full = False
            log.warning("disk is %.1f%% full: accepting puts again", ratio * 100)
        return True

    def _msg_ids(self, records: list[MessageRecord]) -> str:
        """The offset message ids of stored records, comma-joined."""
        fmt = self._msg_id_format
        if len(records) == 1:
            return fmt % records[0].commit_log_offset
        return ",".join([fmt % r.commit_log_offset for r in records])

    def _defer(self, write: PendingWrite) -> None:
        """Leave a deferred put's bytes pending, bounded in size and in time."""
        self._pending_deferred = True
        if len(self.commitlog.pending) >= _MAX_PENDING_BYTES:
            self._write_pending()
        elif self._write_soon is None and self._loop is not None:
            # Normally commit_deferred() writes first; this bounds the delay for any caller.
            self._write_soon = self._loop.call_soon(self._write_pending)

    def _write_pending(self) -> bool:
        """Write the pending records, then dispatch them; False if the write failed.

        On failure the pending puts are dropped (nothing of them was dispatched, the write
        position is unchanged), their :class:`PendingWrite` says ``ok=False``, and if any of
        them was deferred the next :meth:`commit_deferred` returns False.
        """
        if self._write_soon is not None:
            self._write_soon.cancel()
            self._write_soon = None
        puts = self._pending_puts
        if not puts:
            return True
        write = self._pending_write
        deferred = self._pending_deferred
        self._pending_puts = []
        self._next_queue_offset.clear()
        self._pending_write = None
        self._pending_deferred = False
        cl = self.commitlog
        start = cl.wrote
        try:
            cl.write_pending()
        except OSError:
            log.exception("writing to the commitlog failed; %d put(s) dropped", len(puts))
            if write is not None:
                write.ok = False
            if deferred:
                self._deferred_failed = True
            if self._waiters is not None:  # flush waits for the dropped puts end now
                self._waiters.fail_beyond(start)
            return False
        if write is not None:
            write.ok = True
        if self._waiters is not None and self._waiters.pending:
            self._cl_flusher.wakeup()
        self._dispatch(puts)
        return True

    def _dispatch(self, puts: list[_PendingPut]) -> None:
        """Queue entries and index keys of written puts, then wake long-polling pulls."""
        if self._dispatch_failed:
            return  # recovery dispatches them at the next start
        try:
            self._dispatcher.put(puts)
        except OSError:
            # Stored but not (fully) dispatched: further puts would get wrong queue offsets,
            # so refuse them until a restart's recovery dispatches these records.
            log.exception("dispatching to consume queue or index failed; refusing puts")
            self._dispatch_failed = True
            return
        if self._listeners:
            notified: set[ConsumeQueue] = set()
            for _records, cq, _store_ts in reversed(puts):
                if cq is not None and cq not in notified:
                    notified.add(cq)
                    self._notify(cq.topic, cq.queue_id, cq.max_offset)

    def commit_deferred(self) -> bool:
        """Write the deferred puts' records now; False if any deferred put since the last call
        was lost to a failed write (its request must be answered with an error).

        The server calls this after handling a batch of requests and before writing their
        responses (see :meth:`broker._server.Dispatcher.set_write_barrier`).
        """
        if self._pending_puts:
            self._write_pending()
        if self._deferred_failed:
            self._deferred_failed = False
            return False
        return True

    def _refuse(self, status: PutStatus) -> PutResult:
        self._stats.put_message_failed_times += 1
        return PutResult(status)

    def add_arrival_listener(self, listener: ArrivalListener) -> None:
        """Call ``listener(topic, queue_id, new_max_offset)`` on the loop thread after each
        dispatched put (to wake long-polling pulls)."""
        self._listeners.append(listener)

    def _notify(self, topic: str, queue_id: int, max_offset: int) -> None:
        for listener in self._listeners:
            try:
                listener(topic, queue_id, max_offset)
            except Exception:
                log.exception("message arrival listener failed")

    # -- flushing ---------------------------------------------------------------------------

    async def wait_flushed(self, result: PutResult) -> bool:
        """Wait until the put's bytes are fsynced (SYNC_FLUSH); True at once with ASYNC_FLUSH.

        Many waiting puts share one ``fdatasync`` (group commit). Returns False after
        ``sync_flush_timeout_ms``: the message is stored, the caller answers
        ``FLUSH_DISK_TIMEOUT`` (:meth:`PutResult.with_status`). Also False at once for a
        deferred put whose write failed (``result.lost``: not stored at all).
        """
        done = self.flushed(result)
        return done if isinstance(done, bool) else await done

    def flushed(self, result: PutResult) -> bool | asyncio.Future[bool]:
        """:meth:`wait_flushed` without a coroutine: the answer now, or a future of it.

        The send path answers thousands of SYNC_FLUSH sends a second with a callback on this
        future, cheaper than a task each.
        """
        write = result.write
        if result.lost:
            return False
        if not self._sync:
            if write is not None and write.ok is None:
                self._write_pending()
            return not result.lost
        end = result.end_offset
        if self.commitlog.flushed >= end:
            return True
        if self._state is not StoreState.RUNNING:
            self._write_pending()
            return not result.lost and self.commitlog.flushed >= end
        waiters = self._waiters
        if waiters is None:
            loop = asyncio.get_running_loop()
            self._loop = loop
            waiters = self._waiters = FlushWaiters(loop, self.config.sync_flush_timeout_ms)
        fut = waiters.add(end)
        if write is not None and write.ok is None:
            # Still pending: the flusher is woken once the batch is written (_write_pending),
            # not once per send, so that one fsync covers the whole batch.
            return fut
        self._cl_flusher.wakeup()
        # The flusher may have finished a round between the check above and add().
        if self.commitlog.flushed >= end:
            waiters.on_flushed(self.commitlog.flushed)
        return fut

    async def put_message_and_wait(self, record: MessageRecord) -> PutResult:
        """:meth:`put_message`, then with SYNC_FLUSH wait for the fsync (unless the message
        says ``WAIT=false``); a timed-out wait gives ``FLUSH_DISK_TIMEOUT``."""
        result = self.put_message(record)
        wait = record.properties.get(MessageConst.PROPERTY_WAIT_STORE_MSG_OK) != "false"
        if result.ok and wait and not await self.wait_flushed(result):
            return result.with_status(PutStatus.FLUSH_DISK_TIMEOUT)
        return result

    def _on_commitlog_flushed(self, offset: int) -> None:
        # Flusher thread: hand the offset to the loop only if someone waits.
        waiters = self._waiters
        if waiters is not None and waiters.pending:
            with contextlib.suppress(RuntimeError):  # the loop is closed
                waiters.loop.call_soon_threadsafe(waiters.on_flushed, offset)

    def _release_waiters(self) -> None:
        waiters = self._waiters
        if waiters is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is waiters.loop:
            waiters.release_all(True)
        else:
            with contextlib.suppress(RuntimeError):
                waiters.loop.call_soon_threadsafe(waiters.release_all, True)

    @property
    def flush_count(self) -> int:
        """How many commitlog flush rounds ran (each syncs every segment it touched)."""
        return self.commitlog.flush_count
