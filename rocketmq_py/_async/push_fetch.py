"""The pulling half of a push consumer: one long-polling loop per assigned queue.

Each loop finds where its queue starts (the committed offset, or ``consume_from_where``),
then pulls with the broker holding the request up to 15 s, piggy-backs the consumed offset
(CLUSTERING), and hands what arrives to the consumer's workers (or, orderly, to the queue's
own task). Flow control: a queue whose cache reaches ``pull_threshold_for_queue`` messages or
``pull_threshold_size_for_queue_mib`` MiB waits until handlers finish some, and a pull never
asks for more than that leaves room for.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import anyio

from rocketmq_py._async.offset_store import initial_offset
from rocketmq_py._async.process_queue import ProcessQueue
from rocketmq_py._async.pull import (
    BROKER_SUSPEND_MS,
    FETCH_BACKOFF,
    PULL_TIMEOUT_MARGIN,
    PullResult,
    PullStatus,
    pull,
)
from rocketmq_py.exceptions import RocketMQError
from rocketmq_py.protocol.bodies import MessageModel

if TYPE_CHECKING:
    from rocketmq_py._async.push import AsyncPushConsumer

__all__ = ["PushFetcher"]

log = logging.getLogger("rocketmq_py.consumer")

_MIB = 1024 * 1024


class PushFetcher:
    """The pull loops of one :class:`~rocketmq_py.AsyncPushConsumer`."""

    def __init__(self, consumer: AsyncPushConsumer) -> None:
        self._c = consumer

    async def run_queue(self, pq: ProcessQueue) -> None:
        """Pull ``pq`` until it is dropped (the task's scope is kept to cancel it)."""
        with anyio.CancelScope() as scope:
            pq.scope = scope
            if not pq.dropped:
                await self._pull_loop(pq)

    def room(self, pq: ProcessQueue) -> int:
        """How many messages the next pull of ``pq`` may ask for (0: flow control)."""
        c = self._c
        count = len(pq.messages)
        if count >= c.pull_threshold_for_queue:
            return 0
        if pq.cached_bytes >= c.pull_threshold_size_for_queue_mib * _MIB:
            return 0
        return min(c.pull_batch_size, c.pull_threshold_for_queue - count)

    async def _pull_loop(self, pq: ProcessQueue) -> None:
        c = self._c
        queue = pq.queue
        subscription = c._subscriptions.get(queue.topic)
        while not pq.dropped:
            if pq.next_offset is None:
                try:
                    pq.next_offset, pq.committed = await initial_offset(
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
            room = self.room(pq)
            if room == 0:
                if pq.flow_control_times % 1000 == 0:
                    log.warning(
                        "flow control of %s: %d messages, %.1f MiB cached; pausing its pulls",
                        queue,
                        len(pq.messages),
                        pq.cached_bytes / _MIB,
                    )
                pq.flow_control_times += 1
                await pq.room.wait()
                continue
            offset = pq.next_offset
            commit = pq.consumed_offset() if c.message_model is MessageModel.CLUSTERING else None
            # The subscription may have changed since this queue was assigned.
            subscription = c._subscriptions.get(queue.topic, subscription)
            started = anyio.current_time()
            try:
                result = await pull(
                    c._client,
                    c.group,
                    queue,
                    offset,
                    max_nums=room,
                    expression=subscription.sub_string if subscription is not None else "*",
                    suspend_ms=BROKER_SUSPEND_MS,
                    # Java piggy-backs the commit only once there is something to commit.
                    commit_offset=commit if commit is not None and commit > 0 else None,
                    timeout=PULL_TIMEOUT_MARGIN,
                    namespace=c.namespace,
                )
            except Exception as exc:  # a pull loop must outlive any one bad pull
                if isinstance(exc, RocketMQError):
                    log.warning("pull from %s at %d failed: %s", queue, offset, exc)
                else:
                    log.error("pull from %s at %d failed", queue, offset, exc_info=exc)
                await anyio.sleep(FETCH_BACKOFF)
                continue
            self._accept(pq, result)
            if result.status is PullStatus.NO_NEW_MSG and anyio.current_time() - started < 0.05:
                # The broker did not hold the request (a slave, or long polling disabled):
                # do not spin.
                await anyio.sleep(0.1)

    def _accept(self, pq: ProcessQueue, result: PullResult) -> None:
        c = self._c
        if pq.dropped:  # while the pull was out
            return
        pq.next_offset = result.next_begin_offset
        if result.status is PullStatus.OFFSET_ILLEGAL:
            log.warning(
                "offset of %s moved by the broker, continuing at %d",
                pq.queue,
                result.next_begin_offset,
            )
        if not result.messages:
            return
        added = pq.add(result.messages)  # wakes an orderly queue's consuming task
        if c._ready_send is not None:
            for message in added:
                c._ready_send.send_nowait((pq, message))
