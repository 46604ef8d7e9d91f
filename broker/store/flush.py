"""Flushing: the commitlog flusher thread, the consume-queue/index/checkpoint flusher thread,
and the loop-side waiters of synchronous puts.

``fdatasync`` releases the GIL, so a flusher thread costs the event loop almost nothing.
With SYNC_FLUSH the commitlog flusher is a group commit: it syncs whatever was written since
its last round, so every put that arrived during one ``fdatasync`` shares the next one, and it
hands the new flushed offset to the loop with one ``call_soon_threadsafe`` per round.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from broker.store.checkpoint import StoreCheckpoint
from broker.store.commitlog import CommitLog
from broker.store.config import FlushDiskType, StoreConfig
from broker.store.consume_queue import ConsumeQueue, ConsumeQueueTable
from broker.store.index import IndexService

__all__ = ["CommitLogFlusher", "FlushWaiters", "LogicsFlusher"]

log = logging.getLogger(__name__)

_PAGE: int = 4096
_GROUP_COMMIT_IDLE_S = 0.01  # Java's GroupCommitService waits 10 ms between idle rounds


class FlushWaiters:
    """Puts waiting for their bytes to be fsynced; lives on the event loop.

    Waiters sit in a heap ordered by end offset (released by :meth:`on_flushed`) and in a
    deque in arrival order, which is also deadline order (expired by one timer).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout_ms: int) -> None:
        self.loop = loop
        self._timeout_s = timeout_ms / 1000
        self._by_offset: list[tuple[int, int, asyncio.Future[bool]]] = []
        self._by_deadline: deque[tuple[float, asyncio.Future[bool]]] = deque()
        self._seq = itertools.count()
        self._timer: asyncio.TimerHandle | None = None

    @property
    def pending(self) -> int:
        """Waiters not yet released (read from the flusher thread; a stale value is fine)."""
        return len(self._by_offset)

    def add(self, end_offset: int) -> asyncio.Future[bool]:
        """A future resolving True once ``end_offset`` is flushed, False on timeout."""
        fut: asyncio.Future[bool] = self.loop.create_future()
        deadline = self.loop.time() + self._timeout_s
        heapq.heappush(self._by_offset, (end_offset, next(self._seq), fut))
        self._by_deadline.append((deadline, fut))
        if self._timer is None:
            self._timer = self.loop.call_at(deadline, self._expire)
        return fut

    def on_flushed(self, offset: int) -> None:
        """Release every waiter whose bytes end at or below ``offset``."""
        heap = self._by_offset
        while heap and heap[0][0] <= offset:
            fut = heapq.heappop(heap)[2]
            if not fut.done():
                fut.set_result(True)
        # Arrival order is nearly offset order: drop released entries from the deadline queue
        # now, so it does not hold a timeout's worth of finished futures.
        queue = self._by_deadline
        while queue and queue[0][1].done():
            queue.popleft()

    def fail_beyond(self, offset: int) -> None:
        """Resolve False every waiter whose bytes end beyond ``offset`` (they were dropped
        by a failed write; the offsets will be reused by other puts)."""
        for end, _seq, fut in self._by_offset:
            if end > offset and not fut.done():
                fut.set_result(False)
        self._by_offset = [w for w in self._by_offset if not w[2].done()]
        heapq.heapify(self._by_offset)

    def _expire(self) -> None:
        self._timer = None
        now = self.loop.time()
        queue = self._by_deadline
        expired = False
        while queue and (queue[0][1].done() or queue[0][0] <= now):
            fut = queue.popleft()[1]
            if not fut.done():
                fut.set_result(False)
                expired = True
        if expired:
            # Drop the timed-out entries from the heap too (rare path).
            self._by_offset = [w for w in self._by_offset if not w[2].done()]
            heapq.heapify(self._by_offset)
        if queue:
            self._timer = self.loop.call_at(queue[0][0], self._expire)

    def release_all(self, result: bool) -> None:
        """Resolve every waiter (shutdown)."""
        for _end, _seq, fut in self._by_offset:
            if not fut.done():
                fut.set_result(result)
        self._by_offset.clear()
        self._by_deadline.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class CommitLogFlusher:
    """The commitlog flusher thread (group commit for SYNC_FLUSH, periodic for ASYNC_FLUSH).

    Args:
        commitlog: what to flush.
        config: the flush settings.
        on_flushed: called on the flusher thread after each round with the flushed offset.
    """

    def __init__(
        self, commitlog: CommitLog, config: StoreConfig, on_flushed: Callable[[int], None]
    ) -> None:
        self.commitlog = commitlog
        self.config = config
        self.on_flushed = on_flushed
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_thorough = time.monotonic()

    def start(self) -> None:
        """Start the thread."""
        self._thread = threading.Thread(target=self._run, name="CommitLogFlusher", daemon=True)
        self._thread.start()

    def wakeup(self) -> None:
        """Ask for a round now (a sync put is waiting)."""
        self._wake.set()

    def stop(self) -> None:
        """Stop and join the thread (the caller does the final flush)."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        sync = self.config.flush_disk_type is FlushDiskType.SYNC_FLUSH
        interval = self.config.flush_interval_commit_log_ms / 1000
        while not self._stopping.is_set():
            self._wake.wait(_GROUP_COMMIT_IDLE_S if sync else interval)
            self._wake.clear()
            if self._stopping.is_set():
                break
            try:
                self._round(sync)
            except Exception:
                log.exception("commitlog flush failed")

    def _round(self, sync: bool) -> None:
        cl = self.commitlog
        if not sync:
            now = time.monotonic()
            thorough_s = self.config.flush_commit_log_thorough_interval_ms / 1000
            least = self.config.flush_commit_log_least_pages * _PAGE
            if now - self._last_thorough >= thorough_s:
                self._last_thorough = now
            elif cl.write_state[0] - cl.flushed < least:
                return
        self.on_flushed(cl.flush())


class LogicsFlusher:
    """Flushes consume queues every period; a thorough round (every
    ``flush_consume_queue_thorough_interval_ms``) also flushes the index and writes the
    checkpoint.

    Args:
        table: the consume queues.
        index: the index, or ``None`` when disabled.
        commitlog: for the flushed offset recorded in the checkpoint.
        checkpoint: the checkpoint to write.
        dispatched: returns ``(offset, store time)``: every record below the offset has its
            queue entries and index keys written.
        config: the flush settings.
    """

    def __init__(
        self,
        *,
        table: ConsumeQueueTable,
        index: IndexService | None,
        commitlog: CommitLog,
        checkpoint: StoreCheckpoint,
        dispatched: Callable[[], tuple[int, int]],
        config: StoreConfig,
    ) -> None:
        self.table = table
        self.index = index
        self.commitlog = commitlog
        self.checkpoint = checkpoint
        self.dispatched = dispatched
        self.config = config
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_thorough = time.monotonic()
        self.rounds = 0

    def start(self) -> None:
        """Start the thread."""
        self._thread = threading.Thread(target=self._run, name="LogicsFlusher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop and join the thread (the caller does the final flush)."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        interval = self.config.flush_interval_consume_queue_ms / 1000
        thorough_s = self.config.flush_consume_queue_thorough_interval_ms / 1000
        while not self._stopping.is_set():
            self._wake.wait(interval)
            if self._stopping.is_set():
                break
            now = time.monotonic()
            thorough = now - self._last_thorough >= thorough_s
            if thorough:
                self._last_thorough = now
            try:
                self.flush(thorough=thorough)
            except Exception:
                log.exception("consume queue flush failed")

    def flush(self, *, thorough: bool) -> None:
        """One round (also called at shutdown and after recovery, with no thread running)."""
        # Snapshot first: everything dispatched below this offset was written before any of
        # the syncs below start, so a checkpoint claiming it is truthful.
        offset, timestamp = self.dispatched()
        least = 0 if thorough else self.config.flush_consume_queue_least_pages * _PAGE
        still_dirty: list[ConsumeQueue] = []
        pending = self.table.dirty
        while True:
            try:
                cq = pending.popleft()
            except IndexError:
                break
            # Clear the mark before syncing: a write after this line marks the queue again.
            cq.dirty = False
            if not cq.flush(least, self.table.lock):
                still_dirty.append(cq)
        for cq in still_dirty:
            if not cq.dirty:
                cq.dirty = True
                pending.append(cq)
        self.rounds += 1
        if not thorough:
            return
        if self.index is not None:
            self.index.flush()
        cp = self.checkpoint
        cp.physic_offset = self.commitlog.flushed
        cp.physic_msg_timestamp = self.commitlog.flushed_timestamp or cp.physic_msg_timestamp
        cp.logics_offset = cp.index_offset = offset
        if timestamp:
            cp.logics_msg_timestamp = cp.index_msg_timestamp = timestamp
        cp.clean_end_offset = -1
        cp.last_record_offset = -1
        cp.flush()
