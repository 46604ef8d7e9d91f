"""The message store: commitlog, consume queues, index, checkpoint, flushers and cleanup.

Threading model: puts, reads and cleanup run on the event-loop thread (puts and reads are
plain synchronous calls, quick because they only touch the page cache); two daemon threads
flush (commitlog; consume queues + index + checkpoint). A put writes its records with one
``os.pwrite``, then dispatches them (queue entries and index keys) before returning, so a
reader on the loop sees a message as soon as its put returns. Nothing per message is kept
in Python memory: queues and the index are files read through ``mmap``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import resource
import time
from collections.abc import Callable
from enum import Enum

from broker.store.appender import PreparedRecord, pack_records, prepare_record
from broker.store.checkpoint import StoreCheckpoint
from broker.store.cleanup import DiskUsage, delete_expired_files
from broker.store.commitlog import CommitLog
from broker.store.config import FlushDiskType, StoreConfig
from broker.store.consume_queue import ConsumeQueueTable, is_valid_topic_dir
from broker.store.dispatch import Dispatcher, is_dispatched
from broker.store.flush import CommitLogFlusher, FlushWaiters, LogicsFlusher
from broker.store.index import IndexService
from broker.store.lock_file import StoreLock
from broker.store.mapped_file import fsync_dir
from broker.store.reads import StoreReader
from broker.store.recovery import RecoveryReport, recover
from broker.store.results import PutResult, PutStatus
from broker.store.stats import StoreStats
from rocketmq_py.protocol.message import (
    MessageConst,
    MessageRecord,
    MessageSysFlag,
    encode_offset_msg_id,
    ip_to_bytes,
)

__all__ = ["MessageStore"]

log = logging.getLogger(__name__)

ArrivalListener = Callable[[str, int, int], None]


def _wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class _State(Enum):
    NEW = "new"
    LOADED = "loaded"
    RUNNING = "running"
    SHUT_DOWN = "shut down"


class MessageStore(StoreReader):
    """A RocketMQ message store on local files (Java ``DefaultMessageStore``).

    Use: ``store = MessageStore(config)``, ``store.load()`` (recovers), ``store.start(loop)``,
    puts and reads from the loop thread, ``store.shutdown()``. The reads are documented on
    :class:`~broker.store.reads.StoreReader`.

    Args:
        config: the settings.
        clock_ms: epoch milliseconds for store timestamps, index file names and cleanup.
    """

    def __init__(self, config: StoreConfig, clock_ms: Callable[[], int] = _wall_clock_ms) -> None:
        commitlog = CommitLog(config.commit_log_dir, config.mapped_file_size_commit_log)
        table = ConsumeQueueTable(config.consume_queue_dir, config.consume_queue_file_size)
        index = (
            IndexService(
                config.index_dir,
                config.max_hash_slot_num,
                config.max_index_num,
                config.max_msgs_num_batch,
            )
            if config.message_index_enable
            else None
        )
        super().__init__(config, commitlog, table, index, StoreStats(clock_ms()))
        self.clock_ms = clock_ms
        self.checkpoint = StoreCheckpoint(config.checkpoint_path)
        self.last_recovery: RecoveryReport | None = None
        self._lock = StoreLock(config.lock_path)
        self._disk = DiskUsage(config.commit_log_dir, config.disk_ratio_refresh_ms)
        self._state = _State.NEW
        self._dispatcher = Dispatcher(table, index, config.delay_level_table_ms, clock_ms)
        self._dispatch_failed = False
        self._disk_full = False
        self._listeners: list[ArrivalListener] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiters: FlushWaiters | None = None
        self._clean_timer: asyncio.TimerHandle | None = None
        self._sync = config.flush_disk_type is FlushDiskType.SYNC_FLUSH
        self._store_ip = ip_to_bytes(config.store_host[0])
        self._store_port = config.store_host[1]
        self._cl_flusher = CommitLogFlusher(commitlog, config, self._on_commitlog_flushed)
        self._logics_flusher = LogicsFlusher(
            table=table,
            index=index,
            commitlog=commitlog,
            checkpoint=self.checkpoint,
            dispatched=lambda: self._dispatcher.dispatched,
            config=config,
        )
        self._sample_timer: asyncio.TimerHandle | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def load(self) -> bool:
        """Lock the directory, open every file and recover; False on failure (logged).

        A leftover ``abort`` file means the last run crashed: recovery then replays the
        commitlog from the checkpoint. The abort file is created before recovery starts, so
        a crash during recovery is treated the same way next time.
        """
        if self._state is not _State.NEW:
            raise RuntimeError(f"load() on a store that is {self._state.value}")
        root = self.config.store_path_root_dir
        os.makedirs(root, exist_ok=True)
        if not self._lock.acquire():
            log.error("store %s is locked by another store", root)
            return False
        try:
            _raise_open_files_limit()
            abnormal = os.path.exists(self.config.abort_path)
            with open(self.config.abort_path, "wb"):
                pass
            fsync_dir(root)
            self.checkpoint.load()
            self.commitlog.queue.load()
            self.consume_queues.load()
            if self.index is not None:
                self.index.load()
            self.last_recovery = recover(
                commitlog=self.commitlog,
                table=self.consume_queues,
                index=self.index,
                checkpoint=self.checkpoint,
                abnormal=abnormal,
                check_crc=self.config.check_crc_on_recover,
                delay_table=self.config.delay_level_table_ms,
                dispatch=self._dispatcher.replay,
            )
            self._dispatcher.dispatched = self.commitlog.write_state
            self._flush_all(clean=False)
        except Exception:
            log.exception("loading the store at %s failed", root)
            self._close_files()
            return False
        self._state = _State.LOADED
        self.readable = True
        return True

    def start(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Start the flushers and the periodic cleanup; accept puts.

        Args:
            loop: the loop puts and reads run on; by default the running loop, if any.
                Without a loop, cleanup only runs when called and ``wait_flushed`` binds to
                the loop it is first awaited on.
        """
        if self._state is not _State.LOADED:
            raise RuntimeError(f"start() on a store that is {self._state.value}")
        if loop is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                loop = None
        self._loop = loop
        self._cl_flusher.start()
        self._logics_flusher.start()
        self._state = _State.RUNNING
        if loop is not None:
            self._waiters = FlushWaiters(loop, self.config.sync_flush_timeout_ms)
            self._schedule_clean()
            self._schedule_sample()

    def shutdown(self) -> None:
        """Stop accepting puts, flush everything, write a clean checkpoint, remove the abort
        file and release the directory. Safe to call twice."""
        if self._state not in (_State.LOADED, _State.RUNNING):
            return
        self._state = _State.SHUT_DOWN
        self.readable = False
        for timer in (self._clean_timer, self._sample_timer):
            if timer is not None:
                timer.cancel()
        self._clean_timer = self._sample_timer = None
        self._cl_flusher.stop()
        self._logics_flusher.stop()
        try:
            self._flush_all(clean=not self._dispatch_failed)
            if not self._dispatch_failed:
                os.unlink(self.config.abort_path)
                fsync_dir(self.config.store_path_root_dir)
        except OSError:
            log.exception("final flush of the store failed")
        self._release_waiters()
        self._close_files()

    def _flush_all(self, *, clean: bool) -> None:
        self.commitlog.flush()
        self._logics_flusher.flush(thorough=True)
        if clean:
            cp = self.checkpoint
            cp.clean_end_offset = self.commitlog.wrote
            cp.last_record_offset = self.commitlog.last_record_offset
            cp.flush()

    def _close_files(self) -> None:
        self.commitlog.close()
        self.consume_queues.close()
        if self.index is not None:
            self.index.close()
        self.checkpoint.close()
        self._lock.release()

    @property
    def running(self) -> bool:
        """Whether puts are accepted."""
        return self._state is _State.RUNNING

    # -- puts -----------------------------------------------------------------------------------

    def put_message(self, record: MessageRecord) -> PutResult:
        """Store one message (see :meth:`put_messages`)."""
        return self._put([record], batch=False)

    def put_messages(self, records: list[MessageRecord]) -> PutResult:
        """Store a batch of one topic and queue contiguously in one write.

        The caller fills topic, body, flag, properties (and ``raw_properties`` when it has
        the exact bytes), queue_id, sys_flag, born_timestamp, born_host, reconsume_times and
        prepared_transaction_offset. The store sets commit_log_offset, queue_offset,
        store_timestamp, store_host, body_crc and store_size on each record. Prepared (4)
        and rolled-back (12) transactional messages get queue offset 0 and no queue entry.

        Returns:
            One :class:`PutResult`; ``msg_id`` joins the offset ids with commas and
            ``queue_offset`` is the first message's.
        """
        return self._put(records, batch=True)

    def _put(self, records: list[MessageRecord], *, batch: bool) -> PutResult:
        began = time.perf_counter()
        if self._state is not _State.RUNNING or self._dispatch_failed:
            return self._refuse(PutStatus.SERVICE_NOT_AVAILABLE)
        if not records:
            return self._refuse(PutStatus.MESSAGE_ILLEGAL)
        ratio = self._disk.ratio()
        if ratio * 100 > self.config.disk_max_used_space_ratio:
            if not self._disk_full:
                self._disk_full = True
                log.error("disk is %.1f%% full: refusing puts", ratio * 100)
            return self._refuse(PutStatus.SERVICE_NOT_AVAILABLE)
        if self._disk_full:
            self._disk_full = False
            log.warning("disk is %.1f%% full: accepting puts again", ratio * 100)
        first = records[0]
        topic, queue_id = first.topic, first.queue_id
        tran = first.sys_flag & MessageSysFlag.TRANSACTION_TYPE_MASK
        if batch and len(records) > 1:
            if tran != MessageSysFlag.TRANSACTION_NOT_TYPE:
                return self._refuse(PutStatus.MESSAGE_ILLEGAL)
            for r in records:
                if r.topic != topic or r.queue_id != queue_id or r.sys_flag != first.sys_flag:
                    return self._refuse(PutStatus.MESSAGE_ILLEGAL)
        dispatched = is_dispatched(tran)
        cq = self.consume_queues.find(topic, queue_id) if dispatched else None
        if dispatched and cq is None:
            if not is_valid_topic_dir(topic):
                return self._refuse(PutStatus.MESSAGE_ILLEGAL)
            cq = self.consume_queues.find_or_create(topic, queue_id)
        try:
            topic_bytes = topic.encode("utf-8")
        except UnicodeEncodeError:
            return self._refuse(PutStatus.MESSAGE_ILLEGAL)
        store_v6 = len(self._store_ip) == 16
        max_size = self.config.max_message_size
        prepared: list[PreparedRecord] = []
        total = 0
        for r in records:
            p = prepare_record(r, topic_bytes, store_v6, max_size)
            if isinstance(p, PutStatus):
                return self._refuse(p)
            prepared.append(p)
            total += p.size
        if total + 8 > self.commitlog.file_size:
            return self._refuse(PutStatus.MESSAGE_ILLEGAL)
        try:
            f, pos = self.commitlog.reserve(total)
        except OSError:
            log.exception("creating a commitlog segment failed")
            return self._refuse(PutStatus.CREATE_MAPPED_FILE_FAILED)
        phy = f.start + pos
        store_ts = self.clock_ms()
        queue_offset = cq.max_offset if cq is not None else 0
        buf = pack_records(
            prepared,
            topic_bytes,
            total,
            commit_log_offset=phy,
            queue_offset=queue_offset,
            dispatched=dispatched,
            store_timestamp=store_ts,
            store_ip=self._store_ip,
            store_port=self._store_port,
        )
        if isinstance(buf, PutStatus):
            return self._refuse(buf)
        try:
            self.commitlog.commit(f, pos, buf, phy + total - prepared[-1].size, store_ts)
        except OSError:
            log.exception("writing to the commitlog failed")
            return self._refuse(PutStatus.UNKNOWN_ERROR)
        try:
            self._dispatcher.put(
                prepared,
                buf,
                phy=phy,
                queue_offset=queue_offset,
                store_ts=store_ts,
                store_host=self.config.store_host,
                cq=cq,
            )
        except OSError:
            # Stored but not (fully) dispatched: further puts would get wrong queue offsets,
            # so refuse them until a restart's recovery dispatches these records.
            log.exception("dispatching to consume queue or index failed; refusing puts")
            self._dispatch_failed = True
        ids = [
            encode_offset_msg_id(self._store_ip, self._store_port, offset)
            for offset in _offsets(phy, prepared)
        ]
        self._stats.record_put(len(records), total, (time.perf_counter() - began) * 1000)
        if cq is not None and self._listeners:
            self._notify(topic, queue_id, cq.max_offset)
        return PutResult(
            PutStatus.PUT_OK,
            wrote_offset=phy,
            wrote_bytes=total,
            msg_id=",".join(ids),
            queue_offset=queue_offset,
            msg_num=len(records),
            store_timestamp=store_ts,
        )

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
        ``FLUSH_DISK_TIMEOUT`` (:meth:`PutResult.with_status`).
        """
        if not self._sync:
            return True
        end = result.end_offset
        if self.commitlog.flushed >= end:
            return True
        if self._state is not _State.RUNNING:
            return self.commitlog.flushed >= end
        waiters = self._waiters
        if waiters is None:
            loop = asyncio.get_running_loop()
            self._loop = loop
            waiters = self._waiters = FlushWaiters(loop, self.config.sync_flush_timeout_ms)
        fut = waiters.add(end)
        self._cl_flusher.wakeup()
        # The flusher may have finished a round between the check above and add().
        if self.commitlog.flushed >= end:
            waiters.on_flushed(self.commitlog.flushed)
        return await fut

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

    # -- cleanup ----------------------------------------------------------------------------

    def _schedule_clean(self) -> None:
        if self._loop is None:
            return
        self._clean_timer = self._loop.call_later(
            self.config.clean_resource_interval_ms / 1000, self._periodic_clean
        )

    def _periodic_clean(self) -> None:
        self._clean_timer = None
        if self._state is not _State.RUNNING:
            return
        try:
            self.clean_expired_files()
        except Exception:
            log.exception("cleaning expired files failed")
        self._schedule_clean()

    def clean_expired_files(self, now_ms: int | None = None, force: bool = False) -> int:
        """Delete expired commitlog segments, then the queue and index files that only point
        below the new commitlog start; return how many segments went.

        Runs at the ``delete_when`` hours, when the disk is over
        ``disk_max_used_space_ratio``, or when ``force`` is set; over
        ``disk_space_clean_forcibly_ratio`` unexpired segments go too (never the newest).
        """
        if self._state not in (_State.LOADED, _State.RUNNING):
            return 0
        return delete_expired_files(
            self.commitlog,
            self.consume_queues,
            self.index,
            self.config,
            now_ms=self.clock_ms() if now_ms is None else now_ms,
            disk_ratio=self._disk.ratio(refresh=True),
            force=force,
        )

    def disk_used_ratio(self) -> float:
        """Used fraction (0..1) of the commitlog's file system (a recent sample)."""
        return self._disk.ratio()

    def delete_topics(self, topics: set[str]) -> None:
        """Delete the consume queues of ``topics`` (their records stay in the commitlog)."""
        for topic in topics:
            self.consume_queues.delete_topic(topic)

    # -- stats --------------------------------------------------------------------------------

    def stats(self) -> StoreStats:
        """The live counters: a mapping of Java's counter names (``putMessageTimesTotal``...),
        with ``runtime_info(now_ms)`` rendering Java's ``StoreStatsService`` table."""
        return self._stats

    def remain_how_many_data_to_flush(self) -> int:
        """Commitlog bytes written but not yet fsynced."""
        return max(self.commitlog.wrote - self.commitlog.flushed, 0)

    def _schedule_sample(self) -> None:
        if self._loop is not None and self._state is _State.RUNNING:
            self._stats.sample(self.clock_ms())
            self._sample_timer = self._loop.call_later(1.0, self._schedule_sample)


def _offsets(phy: int, prepared: list[PreparedRecord]) -> list[int]:
    out = []
    for p in prepared:
        out.append(phy)
        phy += p.size
    return out


def _raise_open_files_limit() -> None:
    # Every mapped file holds two descriptors (ours and mmap's duplicate); lift the soft
    # limit to the hard one like Java deployments' ulimit advice.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
