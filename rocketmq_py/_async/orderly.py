"""Orderly consumption for ``AsyncPushConsumer(orderly=True)``.

Java's ``ConsumeMessageOrderlyService`` plus the lock handling of ``RebalanceImpl`` /
``RebalancePushImpl`` (``protocol.md`` 8.4, 8.5 and 13):

* **One message at a time per queue.** Every queue has one consuming task that hands its
  messages to the handler one by one in queue-offset order; different queues run at the same
  time, at most ``max_concurrency`` handler calls in all.
* **Locks (CLUSTERING).** A newly allocated queue is taken only once LOCK_BATCH_MQ succeeds on
  its broker; one whose lock fails (another consumer still holds it) is asked for again by a
  rebalance 0.5 s later (Java 5's ``rebalanceLater``), then 1 s, 2 s ... (at most 8 s) later
  while that keeps failing. Every 20 s the consumer renews the locks of all its queues, one
  request per broker. A queue is consumed only while its lock is held, was renewed less than
  30 s ago (the broker keeps it 60 s) and the queue is not dropped; a queue that lost its
  lock asks for it again, every 3 s while that fails.
* **Giving a queue away.** When a rebalance takes a queue away, its consumption stops, the
  message being handled (if any) is waited for up to 1 s, the queue's offset is committed
  (synchronously, so it includes that message), and only then is the lock released; if the
  handler is still running after 1 s the queue keeps its lock until the handler returns, and
  is released then. The next owner can lock the queue only after the release (or after the
  lock expired) and reads the committed offset then, so no message is handled by two
  consumers at once. At shutdown every queue is committed, then unlocked.
* **Failures.** A handler that raises, returns ``False`` or times out suspends its queue for
  ``suspend_time`` seconds, then gets the same message again with ``reconsume_times`` one
  higher. After ``max_reconsume_times`` such retries the message is sent back with delay level
  -1 (CONSUMER_SEND_MSG_BACK), which makes the broker store it in ``%DLQ%<group>``; if that
  fails it is re-sent to ``%RETRY%<group>`` with a reconsume count past the maximum, which the
  broker also routes to the DLQ; if both fail the queue stays suspended and retries. The queue
  then moves on. BROADCASTING has no locks and no DLQ: the message is logged and dropped.
  Other queues keep flowing while one is suspended.
* **Offsets.** A queue's offset is that of its first message not yet handled successfully, so
  what is committed never passes a message that was not consumed.

Trace hooks fire as for concurrent consumption: ``process`` around every handler call and
``settle`` after every failure (``info["outcome"]``: ``"suspend"``, ``"send_back"``,
``"resend"`` or ``"drop"``).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING

import anyio

from rocketmq_py._async.process_queue import ProcessQueue
from rocketmq_py._async.queue_lock import by_broker, lock_queues, unlock_queues
from rocketmq_py._async.rebalance import describe_queues
from rocketmq_py._trace import trace
from rocketmq_py.exceptions import RocketMQError
from rocketmq_py.message import MessageQueueRef, MessageView
from rocketmq_py.protocol.bodies import MessageModel

if TYPE_CHECKING:
    from rocketmq_py._async.push import AsyncPushConsumer

__all__ = ["SUSPEND_TIME", "OrderlyService"]

log = logging.getLogger("rocketmq_py.consumer")

#: Java's ``suspendCurrentQueueTimeMillis`` (and the bounds it is clamped to).
SUSPEND_TIME = 1.0
SUSPEND_TIME_RANGE = (0.01, 30.0)
#: Java's ``rocketmq.client.rebalance.lockInterval``, and the delay of the first renewal.
LOCK_INTERVAL = 20.0
FIRST_LOCK_DELAY = 1.0
#: A queue that lost its lock asks again this often (Java's ``tryLockLaterAndReconsume``).
RELOCK_DELAY = 3.0
#: How soon a rebalance that could not lock (or release) every queue is repeated; the delay
#: doubles while that goes on, up to the maximum.
REBALANCE_LATER = 0.5
REBALANCE_LATER_MAX = 8.0
#: How long giving a queue away waits for its running handler (Java's consume-lock wait).
REMOVE_WAIT = 1.0


class OrderlyService:
    """The orderly half of one :class:`~rocketmq_py.AsyncPushConsumer`.

    It uses the consumer's queues table, task groups, offsets and handler invocation; the
    consumer calls :meth:`start`, :meth:`assign`, :meth:`stop` and :meth:`unlock_all`.
    """

    def __init__(self, consumer: AsyncPushConsumer, suspend_time: float) -> None:
        self._c = consumer
        self.suspend_time = suspend_time
        self.clustering = consumer.message_model is MessageModel.CLUSTERING
        # Serializes every lock and unlock request with the rebalances that drop queues, so a
        # renewal can never re-take a queue just released.
        self._lock_ops: anyio.Lock | None = None
        self._limiter: anyio.CapacityLimiter | None = None
        self._rebalance_later_pending = False
        self._rebalance_later_delay = REBALANCE_LATER

    def start(self) -> None:
        """Prepare for a run (before the first rebalance) and start renewing locks."""
        c = self._c
        assert c._service_group is not None
        self._lock_ops = anyio.Lock()
        self._limiter = anyio.CapacityLimiter(c.max_concurrency)
        self._rebalance_later_pending = False
        self._rebalance_later_delay = REBALANCE_LATER
        if self.clustering:
            c._service_group.start_soon(self._lock_loop)

    def stop(self) -> None:
        """Wake every consuming task so it sees the consumer stopping (after the current call)."""
        for pq in self._c._queues.values():
            pq.changed.notify()

    # -- rebalance ----------------------------------------------------------------------------

    async def assign(self, queues: list[MessageQueueRef]) -> None:
        """Make ``queues`` the assignment: release the others, then lock and start new ones."""
        c = self._c
        if not c._running or c._service_group is None or c._consume_group is None:
            return
        assert self._lock_ops is not None
        async with self._lock_ops:
            wanted = set(queues)
            leaving = [pq for q, pq in c._queues.items() if q not in wanted or pq.dropped]
            if leaving:
                await self._release(leaving, wanted)
            new = [q for q in queues if q not in c._queues]
            started = anyio.current_time()
            held = await self._lock(new) if self.clustering else set(new)
            if len(held) < len(new):
                log.info(
                    "%s waits for the locks of %s",
                    c.group,
                    describe_queues(q for q in new if q not in held),
                )
            for queue in new:
                if queue not in held:
                    continue
                pq = ProcessQueue(queue)
                pq.mark_locked(True, started)
                c._queues[queue] = pq
                c._service_group.start_soon(c._fetcher.run_queue, pq)
                c._consume_group.start_soon(self._consume_queue, pq)
            pending = len(held) < len(new) or any(pq.dropped for pq in c._queues.values())
        if pending:
            self._rebalance_later()
        else:
            self._rebalance_later_delay = REBALANCE_LATER

    async def _release(self, leaving: list[ProcessQueue], wanted: set[MessageQueueRef]) -> None:
        """Stop ``leaving``; commit and unlock those whose handler is not (or no more) running."""
        c = self._c
        for pq in leaving:
            pq.drop()
        with anyio.move_on_after(REMOVE_WAIT):
            for pq in leaving:
                while pq.consuming:
                    await pq.changed.wait()
        idle = [pq for pq in leaving if not pq.consuming]
        busy = [pq.queue for pq in leaving if pq.consuming]
        if busy:
            log.info(
                "%s keeps %s locked until their running handlers finish",
                c.group,
                describe_queues(busy),
            )
        if not idle:
            return
        # Synchronously, before the unlock: the next owner starts from this offset.
        await c._commit(idle, oneway=False)
        for pq in idle:
            if c._queues.get(pq.queue) is pq:
                del c._queues[pq.queue]
        if self.clustering:
            await self._unlock([pq.queue for pq in idle if pq.queue not in wanted])

    def _rebalance_later(self) -> None:
        c = self._c
        if self._rebalance_later_pending or c._service_group is None:
            return
        self._rebalance_later_pending = True
        delay = self._rebalance_later_delay
        self._rebalance_later_delay = min(2 * delay, REBALANCE_LATER_MAX)
        c._service_group.start_soon(self._rebalance_after, delay)

    async def _rebalance_after(self, delay: float) -> None:
        try:
            await anyio.sleep(delay)
        finally:
            self._rebalance_later_pending = False
        self._c._member.request_rebalance()

    # -- locks --------------------------------------------------------------------------------

    async def _lock(self, queues: list[MessageQueueRef]) -> set[MessageQueueRef]:
        """Lock ``queues`` (any brokers); returns those held. Errors count as not locked."""
        c = self._c
        held: set[MessageQueueRef] = set()
        for broker_name, some in by_broker(queues).items():
            try:
                held |= await lock_queues(c._client, c.group, some, timeout=c.request_timeout)
            except RocketMQError as exc:
                log.warning("lock of %s on %s failed: %s", describe_queues(some), broker_name, exc)
        return held

    async def _unlock(self, queues: list[MessageQueueRef]) -> None:
        c = self._c
        for broker_name, some in by_broker(queues).items():
            try:
                await unlock_queues(c._client, c.group, some, timeout=c.request_timeout)
            except RocketMQError as exc:
                # The broker lets the lock expire (60 s) instead.
                log.warning(
                    "unlock of %s on %s failed: %s", describe_queues(some), broker_name, exc
                )

    async def _lock_loop(self) -> None:
        await anyio.sleep(FIRST_LOCK_DELAY)
        while True:
            try:
                await self.lock_all()
            except Exception:
                log.exception("lock renewal of %s failed", self._c.group)
            await anyio.sleep(LOCK_INTERVAL)

    async def lock_all(self) -> None:
        """Renew the locks of every held queue (one LOCK_BATCH_MQ per broker)."""
        c = self._c
        assert self._lock_ops is not None
        async with self._lock_ops:
            snapshot = dict(c._queues)
            for broker_name, queues in by_broker(snapshot).items():
                started = anyio.current_time()
                try:
                    held = await lock_queues(c._client, c.group, queues, timeout=c.request_timeout)
                except RocketMQError as exc:
                    # Keep the state: a lock not renewed for 30 s stops its queue by itself.
                    log.warning("lock renewal on %s failed: %s", broker_name, exc)
                    continue
                for queue in queues:
                    pq = c._queues.get(queue)
                    if pq is None or pq is not snapshot[queue]:
                        continue
                    if queue not in held and pq.locked:
                        log.warning("%s lost the lock of %s", c.group, describe_queues([queue]))
                    pq.mark_locked(queue in held, started)

    async def _relock(self, pq: ProcessQueue) -> None:
        """Ask again for a lock lost or expired; wait a while when that fails."""
        c = self._c
        assert self._lock_ops is not None
        async with self._lock_ops:
            if pq.dropped or c._stopping:
                return
            started = anyio.current_time()
            pq.mark_locked(pq.queue in await self._lock([pq.queue]), started)
        with anyio.move_on_after(RELOCK_DELAY):
            while not (pq.dropped or c._stopping or pq.lock_usable(anyio.current_time())):
                await pq.changed.wait()

    async def unlock_all(self) -> None:
        """Release every queue's lock (at shutdown, after the offsets were committed)."""
        if self.clustering:
            await self._unlock(list(self._c._queues))

    # -- consuming ----------------------------------------------------------------------------

    def _halted(self, pq: ProcessQueue) -> bool:
        """Whether ``pq`` must not start another handler call (given away, or stopping)."""
        return pq.dropped or self._c._stopping

    async def _consume_queue(self, pq: ProcessQueue) -> None:
        """Hand the messages of one queue to the handler, one at a time, in offset order."""
        c = self._c
        assert self._limiter is not None
        while not self._halted(pq):
            if self.clustering and not pq.lock_usable(anyio.current_time()):
                await self._relock(pq)
                continue
            if pq.first() is None:
                await pq.changed.wait()
                continue
            async with self._limiter:
                if self._halted(pq):
                    return
                message = pq.first()
                if message is None or (
                    self.clustering and not pq.lock_usable(anyio.current_time())
                ):
                    continue  # the lock expired while this task waited for its turn
                pq.consuming = True
                try:
                    ok = await c._invoker.invoke(message)
                    if ok:
                        pq.finish(message)
                finally:
                    pq.consuming = False
                    pq.changed.notify()
            if pq.dropped and c._queues.get(pq.queue) is pq:
                # A rebalance gave up waiting for this call: release the queue now.
                c._member.request_rebalance()
            elif not ok and not self._halted(pq):
                # (A queue given away keeps the message: its next owner delivers it again.)
                await self._settle(pq, message)

    async def _settle(self, pq: ProcessQueue, message: MessageView) -> None:
        """After a failure: suspend the queue and retry, or give the message up."""
        c = self._c
        info = c._invoker.trace_info(message)
        async with trace("settle", c._hooks, info):
            if message.reconsume_times >= c.max_reconsume_times:
                outcome = await self._give_up(message)
            else:
                outcome = "suspend"
            info["outcome"] = outcome
        if outcome != "suspend":
            pq.finish(message)
            return
        if message.queue_offset in pq.messages:
            again = dataclasses.replace(message, reconsume_times=message.reconsume_times + 1)
            pq.messages[message.queue_offset] = again
        with anyio.move_on_after(self.suspend_time):
            while not (pq.dropped or c._stopping):
                await pq.changed.wait()

    async def _give_up(self, message: MessageView) -> str:
        """Move a message out of the way after its last retry; ``"suspend"`` if that failed."""
        c = self._c
        if not self.clustering:
            log.warning(
                "message %s of %s failed %d times; dropped (broadcasting has no DLQ)",
                message.msg_id,
                message.topic,
                message.reconsume_times + 1,
            )
            return "drop"
        try:
            # Delay level -1: the broker stores it in %DLQ%<group> at once.
            await c._send_back_request(message, delay_level=-1)
        except RocketMQError as exc:
            log.warning(
                "send back of %s to the DLQ failed (%s); re-sending it", message.msg_id, exc
            )
        else:
            return "send_back"
        try:
            # reconsume_times + 1 > max_reconsume_times: the broker's send path dead-letters it.
            await c._resend_to_retry_topic(message)
        except RocketMQError as exc:
            log.warning("re-send of %s failed (%s); its queue stays suspended", message.msg_id, exc)
            return "suspend"
        return "resend"
