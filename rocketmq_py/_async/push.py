"""``AsyncPushConsumer``: messages delivered to a handler, Java's ``DefaultMQPushConsumer``.

::

    consumer = AsyncPushConsumer("CG", "127.0.0.1:9876")
    consumer.subscribe("Orders", "TagA || TagB")

    @consumer.handler
    async def handle(message: MessageView) -> None:
        ...  # return None/True: done; raise or return False: deliver it again later

    async with consumer:
        await anyio.sleep_forever()

How it works (``protocol.md`` 8 and 13):

* **Group membership.** The consumer heartbeats as a push consumer (``CONSUME_PASSIVELY``)
  and rebalances at start, every 20 s and on NOTIFY_CONSUMER_IDS_CHANGED
  (:mod:`rocketmq_py._async.rebalance`). CLUSTERING also subscribes ``%RETRY%<group>``, where
  failed messages come back; BROADCASTING takes every queue.
* **Pulling.** One task per assigned queue long-polls its broker (the broker holds a pull up to
  15 s). Flow control: a queue whose cache (messages pulled and not finished) reaches
  ``pull_threshold_for_queue`` messages or ``pull_threshold_size_for_queue_mib`` MiB is not
  pulled until handlers finish some; a pull never asks for more messages than the count
  threshold leaves room for (:mod:`rocketmq_py._async.push_fetch`).
* **Consuming.** ``max_concurrency`` workers hand messages to the handler, one message per call.
  Async handlers run on the event loop; sync ones in worker threads (at most
  ``max_concurrency`` at a time). A handler that runs longer than ``consume_timeout`` counts
  as failed (an async one is cancelled; a thread cannot be stopped, so its late result is
  ignored).
* **Offsets.** Messages of a queue finish out of order; the queue's offset is that of its
  lowest unfinished message (or the next pull position when none is cached). Offsets are
  committed every ``commit_interval`` seconds (UPDATE_CONSUMER_OFFSET, oneway, as Java), with
  every pull (the commit-offset flag) and when a queue is taken away. BROADCASTING keeps them
  in a local file instead.
* **Failures.** CLUSTERING sends a failed message back (CONSUMER_SEND_MSG_BACK, delay level 0:
  the broker picks ``3 + reconsume_times``); it returns through ``%RETRY%<group>`` with
  ``reconsume_times`` one higher, presented with its original topic, and after
  ``max_reconsume_times`` failures the broker moves it to ``%DLQ%<group>``. If the send-back
  request fails the message is re-sent to ``%RETRY%<group>`` like an ordinary message (Java's
  fallback); if that fails too it is handed to the handler again 5 s later. BROADCASTING
  logs failures and drops the messages.
* **Orderly** (``orderly=True``): each queue's messages go to the handler one at a time in
  queue order, different queues in parallel; CLUSTERING locks queues on their brokers so a
  rebalance never lets two consumers handle one queue at once, and a failure suspends only its
  queue and retries the message there (:mod:`rocketmq_py._async.orderly`).
* **Shutdown.** Stop pulling, let running handlers finish (up to ``shutdown_timeout``
  seconds; messages not started yet are left for the next owner of the queue), commit,
  leave the group (UNREGISTER_CLIENT).

Delivery is at least once: a message whose handler was running when its queue moved to another
consumer, or when the consumer stopped too abruptly, is delivered again.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, TypeVar

import anyio
import anyio.abc
from anyio.streams.memory import MemoryObjectSendStream

from rocketmq_py._async.consumer_setup import (
    check_pull_batch_size,
    consumer_client,
    not_supported,
    parse_consume_from_where,
    parse_message_model,
    wire_group,
)
from rocketmq_py._async.namespace import wrap
from rocketmq_py._async.orderly import SUSPEND_TIME, SUSPEND_TIME_RANGE, OrderlyService
from rocketmq_py._async.process_queue import ProcessQueue
from rocketmq_py._async.push_concurrent import ConcurrentService
from rocketmq_py._async.push_fetch import PushFetcher
from rocketmq_py._async.push_invoke import HandlerInvoker
from rocketmq_py._async.rebalance import (
    GroupMember,
    parse_subscription,
)
from rocketmq_py._async.send_back import SendBack
from rocketmq_py._async.user_code import is_async_callable
from rocketmq_py._trace import TraceHook
from rocketmq_py._transport import ClientConnection
from rocketmq_py.exceptions import ConfigError
from rocketmq_py.message import MessageQueueRef, MessageView
from rocketmq_py.protocol.bodies import (
    ConsumerData,
    ConsumeType,
    MessageModel,
    SubscriptionData,
)
from rocketmq_py.protocol.command import RemotingCommand
from rocketmq_py.protocol.topics import (
    DLQ_GROUP_TOPIC_PREFIX,
    RETRY_GROUP_TOPIC_PREFIX,
    retry_topic,
)

__all__ = ["AsyncPushConsumer", "MessageHandler"]

log = logging.getLogger("rocketmq_py.consumer")

#: A handler: called with one message; ``None``/``True`` means done, ``False`` or an exception
#: means deliver it again later. Sync handlers run in worker threads.
MessageHandler = (
    Callable[[MessageView], Awaitable[bool | None]] | Callable[[MessageView], bool | None]
)
_H = TypeVar("_H", bound=Callable[[MessageView], Any])

#: Java's persistConsumerOffsetInterval.
COMMIT_INTERVAL = 5.0
#: Java's consumeTimeout (15 minutes).
CONSUME_TIMEOUT = 15 * 60.0


class AsyncPushConsumer:
    """Delivers the messages of its subscriptions to a handler.

    Call :meth:`subscribe` and register a handler (:meth:`register` or the :meth:`handler`
    decorator), then run it as ``async with consumer:``; messages are delivered in the
    background until the block exits. See the module documentation for the details.

    Args:
        group: consumer group name.
        namesrv_addr: ``;``-separated name servers (default ``$NAMESRV_ADDR``).
        message_model: ``"clustering"`` (the group shares the queues, offsets on the broker,
            failed messages retried) or ``"broadcasting"`` (every consumer gets every message,
            offsets in a local file, failed messages dropped).
        consume_from_where: where a queue without a committed offset starts: ``"last"`` (its
            end; a queue that still starts at offset 0 is read from the beginning, as the
            broker answers 0 then), ``"first"`` or ``"timestamp"``.
        consume_timestamp_ms: epoch ms for ``"timestamp"`` (default: half an hour ago).
        max_concurrency: most handler calls running at once.
        pull_batch_size: most messages asked for by one pull.
        pull_threshold_for_queue: most messages cached (pulled, not finished) per queue.
        pull_threshold_size_for_queue_mib: pulling a queue pauses while the bodies of its
            cached messages add up to this many MiB or more.
        max_reconsume_times: deliveries after the first before a failing message goes to
            ``%DLQ%<group>`` (CLUSTERING).
        consume_timeout: seconds a handler call may take before it counts as failed.
        instance_name: part of the client id (default: ``"DEFAULT"`` when broadcasting, as in
            Java, so the offsets file survives restarts; otherwise pid and a timestamp).
        commit_interval: seconds between offset commits.
        shutdown_timeout: seconds running handlers get to finish at shutdown before they are
            cancelled (async) or abandoned (threads).
        request_timeout: seconds per request other than the long-polling pulls.
        offset_store_dir: root of the BROADCASTING offsets files (default
            ``~/.rocketmq_offsets``); the file is ``<root>/<client id>/<group>/offsets.json``.
        namespace: wraps the group and topics as ``namespace%name`` on the wire (Java's
            namespaces); handlers see topics without it.
        hooks: trace hooks called around every handler call (operation ``"process"``, see
            ``rocketmq_py._trace``).
        orderly: consume each queue's messages one at a time in queue order (Java's
            ``MessageListenerOrderly``); see :mod:`rocketmq_py._async.orderly`. A failed
            message is then retried in place, ``max_reconsume_times`` times before it goes to
            ``%DLQ%<group>`` (Java's orderly default is unlimited).
        suspend_time: orderly only: seconds a queue pauses after a failed message before the
            message is handed to the handler again (Java's ``suspendCurrentQueueTimeMillis``).
    """

    def __init__(
        self,
        group: str,
        namesrv_addr: str | None = None,
        *,
        message_model: Literal["clustering", "broadcasting"] = "clustering",
        consume_from_where: Literal["last", "first", "timestamp"] = "last",
        consume_timestamp_ms: int | None = None,
        max_concurrency: int = 20,
        pull_batch_size: int = 32,
        pull_threshold_for_queue: int = 1000,
        pull_threshold_size_for_queue_mib: float = 100,
        max_reconsume_times: int = 16,
        consume_timeout: float = CONSUME_TIMEOUT,
        instance_name: str | None = None,
        commit_interval: float = COMMIT_INTERVAL,
        shutdown_timeout: float = 30.0,
        request_timeout: float = 3.0,
        offset_store_dir: str | os.PathLike[str] | None = None,
        hooks: Sequence[TraceHook] = (),
        namespace: str | None = None,
        orderly: bool = False,
        suspend_time: float = SUSPEND_TIME,
    ) -> None:
        group = wire_group(group, namespace)
        model = parse_message_model(message_model)
        from_where = parse_consume_from_where(consume_from_where)
        if max_concurrency < 1:
            raise ConfigError("max_concurrency", max_concurrency, "must be at least 1")
        check_pull_batch_size(pull_batch_size)
        if pull_threshold_for_queue < 1:
            raise ConfigError(
                "pull_threshold_for_queue", pull_threshold_for_queue, "must be at least 1"
            )
        if pull_threshold_size_for_queue_mib <= 0:
            raise ConfigError(
                "pull_threshold_size_for_queue_mib",
                pull_threshold_size_for_queue_mib,
                "must be positive",
            )
        if max_reconsume_times < 0:
            raise ConfigError("max_reconsume_times", max_reconsume_times, "must not be negative")
        for name, value in (
            ("consume_timeout", consume_timeout),
            ("commit_interval", commit_interval),
            ("request_timeout", request_timeout),
        ):
            if value <= 0:
                raise ConfigError(name, value, "must be positive")
        if shutdown_timeout < 0:
            raise ConfigError("shutdown_timeout", shutdown_timeout, "must not be negative")
        low, high = SUSPEND_TIME_RANGE
        if not low <= suspend_time <= high:
            raise ConfigError("suspend_time", suspend_time, f"must be between {low} and {high}")
        self.namespace = namespace or ""
        self.group = group
        self.message_model = model
        self.consume_from_where = from_where
        self.consume_timestamp_ms = consume_timestamp_ms
        self.max_concurrency = max_concurrency
        self.pull_batch_size = pull_batch_size
        self.pull_threshold_for_queue = pull_threshold_for_queue
        self.pull_threshold_size_for_queue_mib = pull_threshold_size_for_queue_mib
        self.max_reconsume_times = max_reconsume_times
        self.consume_timeout = consume_timeout
        self.commit_interval = commit_interval
        self.shutdown_timeout = shutdown_timeout
        self.request_timeout = request_timeout
        setup = consumer_client(
            group,
            namesrv_addr,
            model,
            instance_name=instance_name,
            request_timeout=request_timeout,
            offset_store_dir=offset_store_dir,
            on_request=self._on_request,
        )
        self._pool, self._client, self._offset_file = setup.pool, setup.client, setup.offset_file
        self._broker_offsets, self._offsets = setup.broker_offsets, setup.offsets
        self._send_backs = SendBack(
            self._client,
            self._broker_offsets,
            group,
            max_reconsume_times=max_reconsume_times,
            request_timeout=request_timeout,
        )
        self._hooks = tuple(hooks)
        self._handler: MessageHandler | None = None
        self._handler_is_async = False
        self._invoker = HandlerInvoker(self)
        self._subscriptions: dict[str, SubscriptionData] = {}
        self._retry_subscription = parse_subscription(retry_topic(group), "*")
        self._queues: dict[MessageQueueRef, ProcessQueue] = {}
        self._fetcher = PushFetcher(self)
        self._member = GroupMember(
            self._client,
            group,
            request_timeout=request_timeout,
            consumer_data=self._consumer_data,
            assigned=self.assignment,
            assign=self._assign,
        )
        self._running = False
        self._stopping = False
        # Handlers run in _consume_group, everything else in _service_group: shutdown stops
        # the second at once and gives the first time to finish.
        self._consume_group: anyio.abc.TaskGroup | None = None
        self._service_group: anyio.abc.TaskGroup | None = None
        self._ready_send: MemoryObjectSendStream[tuple[ProcessQueue, MessageView]] | None = None
        self._thread_limiter: anyio.CapacityLimiter | None = None
        self._orderly = OrderlyService(self, suspend_time) if orderly else None
        self._concurrent = ConcurrentService(self)  # used when not orderly

    # -- configuration ----------------------------------------------------------------------

    @property
    def client_id(self) -> str:
        """This consumer's client id (``ip@instance``), as the brokers list it."""
        return self._client.client_id

    @property
    def offset_file(self) -> Path:
        """Where BROADCASTING offsets are kept (unused when clustering)."""
        return self._offset_file

    def subscribe(self, topic: str, expression: str = "*") -> None:
        """Consume the messages of ``topic`` whose tag matches ``expression``.

        ``expression`` is ``"*"`` or tags joined by ``||`` (``"TagA || TagB"``). Calling it
        again for the same topic replaces the expression. May be called while running.

        Raises:
            ConfigError: the topic is empty, or the expression names no tag.
        """
        if topic.startswith((RETRY_GROUP_TOPIC_PREFIX, DLQ_GROUP_TOPIC_PREFIX)):
            raise ConfigError("topic", topic, "retry and dead-letter topics are not subscribed")
        topic = wrap(self.namespace, topic)
        self._subscriptions[topic] = parse_subscription(topic, expression)
        self._member.request_heartbeat()
        if self._running:
            self._member.request_rebalance()

    def register(self, handler: MessageHandler) -> None:
        """Deliver messages to ``handler`` (replacing any handler registered before).

        An ``async def`` handler runs on the event loop; any other callable runs in a worker
        thread. It gets one :class:`~rocketmq_py.message.MessageView` and returns ``None`` or
        ``True`` when done with it; returning ``False`` or raising asks for redelivery.
        """
        if not callable(handler):
            raise ConfigError("handler", handler, "must be callable")
        self._handler = handler
        self._handler_is_async = is_async_callable(handler)

    def handler(self, fn: _H) -> _H:
        """Decorator form of :meth:`register`; returns ``fn`` unchanged."""
        self.register(fn)
        return fn

    @property
    def orderly(self) -> bool:
        """Whether each queue is consumed one message at a time, in order."""
        return self._orderly is not None

    def assignment(self) -> set[MessageQueueRef]:
        """The queues this consumer pulls right now (retry topic queues included).

        An orderly consumer lists a queue from when it holds its lock until it starts to give
        it away.
        """
        return {queue for queue, pq in self._queues.items() if not pq.dropped}

    # -- lifecycle --------------------------------------------------------------------------

    async def __aenter__(self) -> AsyncPushConsumer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.shutdown()

    async def start(self) -> None:
        """Join the group, take queues and start delivering (prefer ``async with``).

        Returns after the first heartbeat and rebalance (a failed one is retried in the
        background). Call :meth:`shutdown` from the same task.

        Raises:
            ConfigError: no handler is registered.
            RuntimeError: already started.
        """
        if self._consume_group is not None:
            raise RuntimeError("AsyncPushConsumer is already started")
        if self._handler is None:
            raise ConfigError("handler", None, "register a handler before starting")
        await self._pool.__aenter__()
        try:
            await self._offsets.load()
            consume_group = anyio.create_task_group()
            await consume_group.__aenter__()
            try:
                service_group = anyio.create_task_group()
                await service_group.__aenter__()
            except BaseException:
                await consume_group.__aexit__(None, None, None)
                raise
        except BaseException:
            await self._pool.__aexit__(None, None, None)
            raise
        self._consume_group, self._service_group = consume_group, service_group
        self._running, self._stopping = True, False
        self._thread_limiter = anyio.CapacityLimiter(self.max_concurrency)
        if self._orderly is not None:
            # One consuming task per queue, started as queues are locked.
            self._orderly.start()
        else:
            self._concurrent.start()
        service_group.start_soon(self._commit_loop)
        try:
            rebalanced = await self._member.rebalance_logged()
        except BaseException:  # cancelled while joining: leave nothing running
            await self.shutdown()
            raise
        service_group.start_soon(functools.partial(self._member.run, rebalanced=rebalanced))

    async def shutdown(self) -> None:
        """Stop pulling, let running handlers finish, commit, leave the group, disconnect."""
        if self._consume_group is None:
            return
        self._running = False
        self._stopping = True
        try:
            if self._service_group is not None:
                self._service_group.cancel_scope.cancel()
                await self._service_group.__aexit__(None, None, None)
        finally:
            self._service_group = None
            try:
                if self._ready_send is not None:
                    # Workers skip what is still queued, then stop.
                    self._ready_send.close()
                if self._orderly is not None:
                    self._orderly.stop()
                self._consume_group.cancel_scope.deadline = (
                    anyio.current_time() + self.shutdown_timeout
                )
                await self._consume_group.__aexit__(None, None, None)
            finally:
                self._consume_group = None
                self._ready_send = None
                try:
                    with anyio.move_on_after(3 * self.request_timeout, shield=True):
                        await self._commit(list(self._queues.values()), oneway=False)
                        if self._orderly is not None:
                            # Only after the commit: the next owner starts where this one ended.
                            await self._orderly.unlock_all()
                        await self._member.unregister()
                finally:
                    for pq in self._queues.values():
                        pq.dropped = True
                    self._queues.clear()
                    await self._pool.__aexit__(None, None, None)

    # -- membership -------------------------------------------------------------------------

    async def _on_request(
        self, conn: ClientConnection, request: RemotingCommand
    ) -> RemotingCommand | None:
        """Requests brokers send us on pooled connections."""
        if self._member.on_notify(conn, request):
            return None
        return not_supported(request)

    def _consumer_data(self) -> ConsumerData:
        subscriptions = list(self._subscriptions.values())
        if self.message_model is MessageModel.CLUSTERING:
            # Java's push consumer subscribes its retry topic by itself.
            subscriptions.append(self._retry_subscription)
        return ConsumerData(
            group_name=self.group,
            consume_type=ConsumeType.CONSUME_PASSIVELY,
            message_model=self.message_model,
            consume_from_where=self.consume_from_where,
            subscription_data_set=subscriptions,
        )

    async def _assign(self, queues: list[MessageQueueRef]) -> None:
        """Make ``queues`` the assignment (what that takes depends on ``orderly``)."""
        if self._orderly is not None:
            await self._orderly.assign(queues)
        else:
            await self._concurrent.assign(queues)

    # -- consuming --------------------------------------------------------------------------
    # ConcurrentService and OrderlyService call this (and self._invoker); tests replace it.

    async def _send_back_request(self, message: MessageView, *, delay_level: int = 0) -> None:
        """CONSUMER_SEND_MSG_BACK (see :meth:`SendBack.request`)."""
        await self._send_backs.request(message, delay_level=delay_level)

    async def _resend_to_retry_topic(self, message: MessageView) -> None:
        """Java's fallback re-send to ``%RETRY%<group>`` (see :meth:`SendBack.resend`)."""
        await self._send_backs.resend(message)

    # -- offsets ----------------------------------------------------------------------------

    async def _commit_loop(self) -> None:
        while True:
            await anyio.sleep(self.commit_interval)
            try:
                await self._commit(list(self._queues.values()), oneway=True)
            except Exception:
                log.exception("offset commit of %s failed", self.group)

    async def _commit(self, queues: list[ProcessQueue], *, oneway: bool) -> None:
        offsets: dict[MessageQueueRef, int] = {}
        for pq in queues:
            offset = pq.consumed_offset()
            if offset is not None and offset != pq.committed:
                offsets[pq.queue] = offset
        if not offsets:
            return
        stored, _ = await self._offsets.commit(offsets, oneway=oneway)
        for pq in queues:
            if pq.queue in stored:
                pq.committed = stored[pq.queue]
