"""The message store: commitlog, consume queues, index, checkpoint, flushers and cleanup.

Threading model: puts, reads and cleanup run on the event-loop thread (puts and reads are
plain synchronous calls, quick because they only touch the page cache); two daemon threads
flush (commitlog; consume queues + index + checkpoint). Nothing per message is kept in Python
memory: queues and the index are files read through ``mmap``.

:class:`MessageStore` is the facade: it builds the files, runs the lifecycle (load and
recovery, start, shutdown), the periodic cleanup and the stats sampling. Its reads are
:class:`~broker.store.reads.StoreReader`'s; its puts, deferred writes and flush waits are
:class:`~broker.store.writes.StoreWriter`'s, whose docstring tells how writes are grouped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import resource
import time
from collections.abc import Callable

from broker.store.checkpoint import StoreCheckpoint
from broker.store.cleanup import delete_expired_files
from broker.store.commitlog import CommitLog
from broker.store.config import StoreConfig
from broker.store.consume_queue import ConsumeQueueTable
from broker.store.flush import FlushWaiters, LogicsFlusher
from broker.store.index import IndexService
from broker.store.lock_file import StoreLock
from broker.store.mapped_file import fsync_dir
from broker.store.recovery import RecoveryReport, recover
from broker.store.stats import StoreStats
from broker.store.writes import StoreState, StoreWriter

__all__ = ["MessageStore"]

log = logging.getLogger(__name__)


def _wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class MessageStore(StoreWriter):
    """A RocketMQ message store on local files (Java ``DefaultMessageStore``).

    Use: ``store = MessageStore(config)``, ``store.load()`` (recovers), ``store.start(loop)``,
    puts and reads from the loop thread, ``store.shutdown()``. The reads are documented on
    :class:`~broker.store.reads.StoreReader`, the puts on
    :class:`~broker.store.writes.StoreWriter`.

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
        super().__init__(config, commitlog, table, index, StoreStats(clock_ms()), clock_ms=clock_ms)
        self.checkpoint = StoreCheckpoint(config.checkpoint_path)
        self.last_recovery: RecoveryReport | None = None
        self._lock = StoreLock(config.lock_path)
        self._clean_timer: asyncio.TimerHandle | None = None
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
        if self._state is not StoreState.NEW:
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
        self._state = StoreState.LOADED
        self.readable = True
        return True

    def start(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Start the flushers and the periodic cleanup; accept puts.

        Args:
            loop: the loop puts and reads run on; by default the running loop, if any.
                Without a loop, cleanup only runs when called and ``wait_flushed`` binds to
                the loop it is first awaited on.
        """
        if self._state is not StoreState.LOADED:
            raise RuntimeError(f"start() on a store that is {self._state.value}")
        if loop is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                loop = None
        self._loop = loop
        self._cl_flusher.start()
        self._logics_flusher.start()
        self._state = StoreState.RUNNING
        if loop is not None:
            self._waiters = FlushWaiters(loop, self.config.sync_flush_timeout_ms)
            self._schedule_clean()
            self._schedule_sample()

    def shutdown(self) -> None:
        """Stop accepting puts, flush everything, write a clean checkpoint, remove the abort
        file and release the directory. Safe to call twice."""
        if self._state not in (StoreState.LOADED, StoreState.RUNNING):
            return
        self._write_pending()
        self._state = StoreState.SHUT_DOWN
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
        return self._state is StoreState.RUNNING

    # -- cleanup ----------------------------------------------------------------------------

    def _schedule_clean(self) -> None:
        if self._loop is None:
            return
        self._clean_timer = self._loop.call_later(
            self.config.clean_resource_interval_ms / 1000, self._periodic_clean
        )

    def _periodic_clean(self) -> None:
        self._clean_timer = None
        if self._state is not StoreState.RUNNING:
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
        if self._state not in (StoreState.LOADED, StoreState.RUNNING):
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
        if self._loop is not None and self._state is StoreState.RUNNING:
            self._stats.sample(self.clock_ms())
            self._sample_timer = self._loop.call_later(1.0, self._schedule_sample)


def _raise_open_files_limit() -> None:
    # Every mapped file holds two descriptors (ours and mmap's duplicate); lift the soft
    # limit to the hard one like Java deployments' ulimit advice.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
