"""Concurrent consumption for ``AsyncPushConsumer`` (the default; ``orderly=False``).

Java's ``ConsumeMessageConcurrentlyService``. It is the counterpart of
:mod:`rocketmq_py._async.orderly`, kept out of the consumer in the same way, so each way of
consuming is read in one place:

* **Assignment.** A queue the consumer is given gets a :class:`ProcessQueue` and a pull loop; a
  queue taken away is dropped and its offset committed at once, as Java persists a queue's
  offset when it loses it.
* **Workers.** ``max_concurrency`` workers take the pulled messages of every queue from one
  stream and hand each to the handler (:func:`~rocketmq_py._async.push_invoke.invoke_handler`).
  A message finishes (its queue's offset may pass it) when the handler succeeded or the
  failure was settled.
* **Failures.** CLUSTERING sends a failed message back (CONSUMER_SEND_MSG_BACK); if that
  request fails it is re-sent to ``%RETRY%<group>`` (Java's fallback); if that fails too it
  stays unfinished and is handed to the handler again :data:`LOCAL_RETRY_DELAY` seconds later.
  Traced as operation ``"settle"`` (``info["outcome"]``: ``"send_back"``, ``"resend"`` or
  ``"local_retry"``). BROADCASTING logs the failure and drops the message.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import TYPE_CHECKING

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream

from rocketmq_py._async.process_queue import ProcessQueue
from rocketmq_py._trace import trace
from rocketmq_py.exceptions import RocketMQError
from rocketmq_py.message import MessageQueueRef, MessageView
from rocketmq_py.protocol.bodies import MessageModel
from rocketmq_py.protocol.topics import retry_topic

if TYPE_CHECKING:
    from rocketmq_py._async.push import AsyncPushConsumer

__all__ = ["LOCAL_RETRY_DELAY", "ConcurrentService"]

log = logging.getLogger("rocketmq_py.consumer")

#: A failed message that could not be sent back is handed to the handler again after this long
#: (Java's submitConsumeRequestLater).
LOCAL_RETRY_DELAY = 5.0


class ConcurrentService:
    """The concurrent half of one :class:`~rocketmq_py.AsyncPushConsumer`.

    It uses the consumer's queues table, task groups, offsets, ready stream and handler
    invocation; the consumer calls :meth:`start` and :meth:`assign`, and closes the ready
    stream to stop the workers.
    """

    def __init__(self, consumer: AsyncPushConsumer) -> None:
        self._c = consumer

    def start(self) -> None:
        """Open the ready stream the pull loops feed and start the workers."""
        c = self._c
        assert c._consume_group is not None
        send, receive = anyio.create_memory_object_stream[tuple[ProcessQueue, MessageView]](
            math.inf
        )
        c._ready_send = send
        for _ in range(c.max_concurrency):
            c._consume_group.start_soon(self._worker, receive.clone())
        receive.close()

    async def assign(self, queues: list[MessageQueueRef]) -> None:
        """Make ``queues`` the assignment: pull the new ones, drop (and commit) the others."""
        c = self._c
        if not c._running or c._service_group is None:
            return
        wanted = set(queues)
        removed = [pq for queue, pq in c._queues.items() if queue not in wanted]
        for pq in removed:
            del c._queues[pq.queue]
            pq.drop()
        for queue in queues:
            if queue not in c._queues:
                pq = ProcessQueue(queue)
                c._queues[queue] = pq
                c._service_group.start_soon(c._fetcher.run_queue, pq)
        if removed:
            # Java persists a queue's offset when it loses it; its handlers may still be
            # running, which is fine: the offset stays below their messages.
            await c._commit(removed, oneway=False)

    # -- consuming --------------------------------------------------------------------------

    async def _worker(
        self, ready: MemoryObjectReceiveStream[tuple[ProcessQueue, MessageView]]
    ) -> None:
        async with ready:
            async for pq, message in ready:
                if pq.dropped or self._c._stopping:
                    # The queue's next owner (or this consumer's next run) reads it again.
                    continue
                await self._consume(pq, message)

    async def _consume(self, pq: ProcessQueue, message: MessageView) -> None:
        c = self._c
        ok = await c._invoker.invoke(message)
        if pq.dropped:
            # As in Java, the result of a queue that moved away is ignored: the offset
            # committed when it moved is below this message, so its new owner delivers it.
            return
        if not ok:
            if c.message_model is MessageModel.BROADCASTING:
                log.warning(
                    "message %s of %s failed; dropped (broadcasting does not retry)",
                    message.msg_id,
                    message.topic,
                )
            elif not await self._send_back(message):
                again = dataclasses.replace(message, reconsume_times=message.reconsume_times + 1)
                pq.messages[message.queue_offset] = again
                if c._service_group is not None and not c._stopping:
                    c._service_group.start_soon(self._consume_later, pq, again)
                # Otherwise it stays unfinished: the offset does not pass it.
                return
        pq.finish(message)

    async def _consume_later(self, pq: ProcessQueue, message: MessageView) -> None:
        await anyio.sleep(LOCAL_RETRY_DELAY)
        c = self._c
        if c._ready_send is not None and not pq.dropped:
            c._ready_send.send_nowait((pq, message))

    # -- failures ---------------------------------------------------------------------------

    async def _send_back(self, message: MessageView) -> bool:
        """Have ``message`` delivered again later through ``%RETRY%<group>``.

        Traced as operation ``"settle"`` (``info["outcome"]``: ``"send_back"``,
        ``"resend"`` or ``"local_retry"``).
        """
        c = self._c
        info = c._invoker.trace_info(message)
        async with trace("settle", c._hooks, info):
            info["outcome"] = outcome = await self._settle_failed(message)
        return outcome != "local_retry"

    async def _settle_failed(self, message: MessageView) -> str:
        c = self._c
        try:
            await c._send_back_request(message)
        except RocketMQError as exc:
            log.warning(
                "send back of %s failed (%s); re-sending it to %s",
                message.msg_id,
                exc,
                retry_topic(c.group),
            )
        else:
            return "send_back"
        try:
            await c._resend_to_retry_topic(message)
        except RocketMQError as exc:
            log.warning(
                "re-send of %s failed (%s); retrying it here in %.0f s",
                message.msg_id,
                exc,
                LOCAL_RETRY_DELAY,
            )
            return "local_retry"
        return "resend"
