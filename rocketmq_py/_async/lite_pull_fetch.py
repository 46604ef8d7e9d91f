"""The fetching half of ``AsyncLitePullConsumer``: one long-polling loop per assigned queue.

:class:`QueueState` is what the consumer knows about one assigned queue: its fetch, consumed
and committed offsets and how many of its messages are buffered. :class:`LitePullFetcher`
keeps one fetch loop per assigned queue running (started and cancelled as the assignment
changes). Each loop finds where its queue starts (the committed offset, or
``consume_from_where``), then pulls with the broker holding the request up to 15 s and appends
what arrives to the consumer's buffer, which :meth:`~rocketmq_py.AsyncLitePullConsumer.poll`
empties.

Room: the buffer holds at most ``max_cached_messages``. A loop reserves room before each pull
and asks for no more than it reserved: a batch at most, no more than the buffer has left
after the other loops' reservations, and no more than a fair share (``max_cached_messages``
over the number of queues) so every queue can keep a long poll open. It waits while there is
no room. A seek bumps the queue's *epoch* and cancels its pull: an answer or an offset lookup
started before the seek is dropped.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio

from rocketmq_py._async.offset_store import initial_offset
from rocketmq_py._async.pull import (
    BROKER_SUSPEND_MS,
    FETCH_BACKOFF,
    PULL_TIMEOUT_MARGIN,
    PullResult,
    PullStatus,
    pull,
)
from rocketmq_py.exceptions import RocketMQError
from rocketmq_py.message import MessageQueueRef

if TYPE_CHECKING:
    from rocketmq_py._async.lite_pull import AsyncLitePullConsumer

__all__ = ["LitePullFetcher", "QueueState"]

log = logging.getLogger("rocketmq_py.consumer")


@dataclass(eq=False)
class QueueState:
    """What the consumer knows about one assigned queue."""

    queue: MessageQueueRef
    fetch_offset: int | None = None
    consumed: int | None = None
    committed: int | None = None
    buffered: int = 0
    # Bumped by every seek: a pull or offset lookup started before it is stale.
    epoch: int = 0
    dropped: bool = False
    pull_scope: anyio.CancelScope | None = None
    task_scope: anyio.CancelScope | None = None


class LitePullFetcher:
    """The fetch loops of one :class:`~rocketmq_py.AsyncLitePullConsumer`.

    It uses the consumer's queue states, buffer (with its ``arrival`` and ``room`` signals),
    task group and offsets; the consumer calls :meth:`apply_assignment`, :meth:`run_queue`
    (at start), :meth:`seek` and :meth:`purge`.
    """

    def __init__(self, consumer: AsyncLitePullConsumer) -> None:
        self._c = consumer

    def apply_assignment(self, queues: list[MessageQueueRef]) -> list[QueueState]:
        """Make ``queues`` the assignment; returns the states dropped."""
        c = self._c
        wanted = set(queues)
        removed = [state for queue, state in c._states.items() if queue not in wanted]
        for state in removed:
            del c._states[state.queue]
            state.dropped = True
            self.purge(state)
            if state.task_scope is not None:
                state.task_scope.cancel()
        for queue in queues:
            if queue not in c._states:
                state = QueueState(queue)
                c._states[queue] = state
                if c._running and c._task_group is not None:
                    c._task_group.start_soon(self.run_queue, state)
        if removed:
            # A fetcher waiting for room may now get a larger share.
            c._room.notify()
        return removed

    def seek(self, state: QueueState, offset: int) -> None:
        """Fetch ``state``'s queue from ``offset`` next (also its consumed position)."""
        state.epoch += 1
        state.fetch_offset = state.consumed = offset
        self.purge(state)
        if state.pull_scope is not None:
            state.pull_scope.cancel()

    def purge(self, state: QueueState) -> None:
        """Drop the buffered messages of ``state``'s queue."""
        c = self._c
        if state.buffered:
            c._buffer = deque(entry for entry in c._buffer if entry[0] is not state)
            c._buffered_total -= state.buffered
            state.buffered = 0
            c._room.notify()

    async def run_queue(self, state: QueueState) -> None:
        """Fetch ``state``'s queue until it is dropped (the task's scope is kept to cancel it)."""
        with anyio.CancelScope() as scope:
            state.task_scope = scope
            if not state.dropped:
                await self._fetch_loop(state)

    def _expression(self, queue: MessageQueueRef) -> str:
        subscription = self._c._subscriptions.get(queue.topic)
        return subscription.sub_string if subscription is not None else "*"

    async def _reserve(self) -> int:
        """Room for one pull: at most a batch, a fair share and what the buffer has left."""
        c = self._c
        while True:
            room = c.max_cached_messages - c._buffered_total - c._reserved
            if room > 0:
                share = max(1, c.max_cached_messages // max(1, len(c._states)))
                count = min(c.pull_batch_size, share, room)
                c._reserved += count
                return count
            await c._room.wait()

    async def _fetch_loop(self, state: QueueState) -> None:
        c = self._c
        queue = state.queue
        while not state.dropped:
            if state.fetch_offset is None:
                epoch = state.epoch
                try:
                    offset, committed = await initial_offset(
                        c._offsets,
                        c._broker_offsets,
                        queue,
                        c.consume_from_where,
                        c.consume_timestamp_ms,
                    )
                except Exception as exc:
                    log.warning("cannot find where to start %s: %s", queue, exc)
                    await anyio.sleep(FETCH_BACKOFF)
                    continue
                if state.epoch == epoch and state.fetch_offset is None:
                    state.fetch_offset = state.consumed = offset
                    state.committed = committed
                continue
            count = await self._reserve()
            offset, epoch = state.fetch_offset, state.epoch
            result: PullResult | None = None
            error: Exception | None = None
            started = anyio.current_time()
            try:
                with anyio.CancelScope() as state.pull_scope:
                    try:
                        result = await pull(
                            c._client,
                            c.group,
                            queue,
                            offset,
                            max_nums=count,
                            expression=self._expression(queue),
                            suspend_ms=BROKER_SUSPEND_MS,
                            timeout=PULL_TIMEOUT_MARGIN,
                            namespace=c.namespace,
                        )
                    except Exception as exc:  # a fetcher must outlive any one bad pull
                        error = exc
                state.pull_scope = None
                if result is not None and state.epoch == epoch and not state.dropped:
                    self._accept(state, result)
            finally:
                c._reserved -= count
                c._room.notify()
            if error is not None:
                if isinstance(error, RocketMQError):
                    log.warning("pull from %s at %d failed: %s", queue, offset, error)
                else:
                    log.error("pull from %s at %d failed", queue, offset, exc_info=error)
                await anyio.sleep(FETCH_BACKOFF)
            elif (
                result is not None
                and result.status is PullStatus.NO_NEW_MSG
                and anyio.current_time() - started < 0.05
            ):
                # The broker did not hold the request (a slave, or long polling disabled):
                # do not spin.
                await anyio.sleep(0.1)

    def _accept(self, state: QueueState, result: PullResult) -> None:
        c = self._c
        state.fetch_offset = result.next_begin_offset
        if result.status is PullStatus.OFFSET_ILLEGAL:
            log.warning(
                "offset of %s moved by the broker, continuing at %d",
                state.queue,
                result.next_begin_offset,
            )
        if result.messages:
            for message in result.messages:
                c._buffer.append((state, message))
            state.buffered += len(result.messages)
            c._buffered_total += len(result.messages)
            c._arrival.notify()
        elif state.buffered == 0:
            state.consumed = state.fetch_offset
