"""``AsyncProducer``: send messages to a topic through its route, Java-style.

Queue selection is round robin over the route's writable queues, skipping brokers that were
recently slow or failing (``fault.FaultTracker``); a failed send is retried (2 times by default)
on another queue, preferring another broker, when the failure is retriable
(network errors and SYSTEM_BUSY, TOPIC_NOT_EXIST, SERVICE_NOT_AVAILABLE, ... as in Java's
``retryResponseCodes``). A topic without a route is published through the ``TBW102`` template
route so the broker can auto-create it.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Sequence
from types import TracebackType
from typing import Any

import anyio
import anyio.abc

from rocketmq_py._async.accumulator import SendAccumulator, check_batch_settings
from rocketmq_py._async.batching import BatchSends
from rocketmq_py._async.client import AUTO_CREATE_TOPIC_KEY, ClientInstance
from rocketmq_py._async.fault import FaultTracker
from rocketmq_py._async.namespace import unwrap, unwrap_queue, wrap, wrap_queue
from rocketmq_py._async.outgoing import Outgoing
from rocketmq_py._async.producer_brokers import ProducerBrokers
from rocketmq_py._async.selectors import (
    MessageQueueSelector,
    publish_queues,
    select_queue,
    selection_of,
)
from rocketmq_py._trace import TraceHook, trace, tracing_active
from rocketmq_py._transport import ConnectionPool, RequestHandler
from rocketmq_py.exceptions import (
    ConfigError,
    ResponseError,
    RocketMQError,
    TopicNotExistError,
    TransportError,
)
from rocketmq_py.message import Message, MessageQueueRef, SendResult, SendStatus
from rocketmq_py.protocol.bodies import TopicRouteData
from rocketmq_py.protocol.codes import RequestCode, ResponseCode
from rocketmq_py.protocol.command import RemotingCommand
from rocketmq_py.protocol.headers.send import SendMessageResponseHeader
from rocketmq_py.protocol.message import (
    MessageConst,
    compress_body,
    encode_properties,
)
from rocketmq_py.protocol.recall_handle import RecallHandle

__all__ = ["AsyncProducer", "Outgoing"]

MC = MessageConst
_RETRY_CODES = frozenset({17, 14, 1, 2, 16, 204, 205, 1500})
_STATUS: dict[int, SendStatus] = {
    ResponseCode.SUCCESS: SendStatus.SEND_OK,
    ResponseCode.FLUSH_DISK_TIMEOUT: SendStatus.FLUSH_DISK_TIMEOUT,
    ResponseCode.FLUSH_SLAVE_TIMEOUT: SendStatus.FLUSH_SLAVE_TIMEOUT,
    ResponseCode.SLAVE_NOT_AVAILABLE: SendStatus.SLAVE_NOT_AVAILABLE,
}
_SEND_V2 = int(RequestCode.SEND_MESSAGE_V2)
_SEND_BATCH = int(RequestCode.SEND_BATCH_MESSAGE)


class AsyncProducer(BatchSends):
    """Sends messages; use as ``async with AsyncProducer("PG", "127.0.0.1:9876") as p:``.

    Args:
        group: producer group name.
        namesrv_addr: ``;``-separated name servers (default ``$NAMESRV_ADDR``).
        send_timeout: seconds per send attempt (Java's 3 s).
        retries: extra attempts for a failed sync send (Java's 2).
        compress_over: bodies of at least this many bytes are zlib-compressed (Java's 4 KiB).
        max_message_size: largest body accepted client-side (4 MiB).
        default_topic_queue_nums: queues per broker for auto-created topics (Java's 4).
        hooks: trace hooks called around every send (see ``rocketmq_py._trace``).
        namespace: wraps the group and topics as ``namespace%name`` on the wire (Java's
            namespaces); results and hooks show the names without it.
        auto_batch: send concurrent plain sends of a topic as batches, each caller still
            getting its own result (Java 5.x's ``autoBatch``; see
            ``rocketmq_py._async.accumulator``).
        batch_max_delay: with ``auto_batch``, seconds a batch waits for more messages after
            its first (Java's ``batchMaxDelayMs``, 10 ms there); 0, the default, sends it at
            the end of the event-loop iteration.
        batch_max_bytes: with ``auto_batch``, a batch leaves once it holds this many bytes
            (Java's ``batchMaxBytes``, 32 KiB); larger messages are sent on their own.
        total_batch_max_bytes: with ``auto_batch``, beyond this many held bytes sends are not
            held (Java's ``totalBatchMaxBytes``, 32 MiB).
    """

    def __init__(
        self,
        group: str,
        namesrv_addr: str | None = None,
        *,
        send_timeout: float = 3.0,
        retries: int = 2,
        compress_over: int = 4096,
        max_message_size: int = 4 * 1024 * 1024,
        default_topic_queue_nums: int = 4,
        hooks: Sequence[TraceHook] = (),
        namespace: str | None = None,
        auto_batch: bool = False,
        batch_max_delay: float = 0.0,
        batch_max_bytes: int = 32 * 1024,
        total_batch_max_bytes: int = 32 * 1024 * 1024,
    ) -> None:
        if not group:
            raise ConfigError("group", group, "a producer group name is required")
        if auto_batch:
            check_batch_settings(
                batch_max_delay, batch_max_bytes, total_batch_max_bytes, max_message_size
            )
        self.namespace = namespace or ""
        self.group = wrap(self.namespace, group)
        self.send_timeout = send_timeout
        self.retries = retries
        self.compress_over = compress_over
        self.max_message_size = max_message_size
        self.default_topic_queue_nums = default_topic_queue_nums
        self._hooks = tuple(hooks)
        self._faults = FaultTracker()
        self._pool = ConnectionPool(connect_timeout=send_timeout, handler=self._server_handler())
        self._client = ClientInstance(namesrv_addr, self._pool, timeout=send_timeout)
        self._counter = itertools.count()
        self._task_group: anyio.abc.TaskGroup | None = None
        self._brokers = ProducerBrokers(self._client, self._pool, self.group, send_timeout)
        # Publish queues per topic, rebuilt only when the client fetched a new route for it.
        self._queue_cache: dict[str, tuple[TopicRouteData, int | None, list[MessageQueueRef]]] = {}
        # Master address per broker name, with the route it was read from.
        self._address_memo: dict[str, tuple[TopicRouteData, str]] = {}
        self._accumulator = (
            SendAccumulator(
                self,
                max_delay=batch_max_delay,
                max_bytes=batch_max_bytes,
                total_max_bytes=total_batch_max_bytes,
            )
            if auto_batch
            else None
        )

    @property
    def auto_batch(self) -> bool:
        """Whether concurrent plain sends go as batches (the ``auto_batch`` option)."""
        return self._accumulator is not None

    @property
    def client_id(self) -> str:
        """This producer's client id (``ip@instance``)."""
        return self._client.client_id

    def _server_handler(self) -> RequestHandler | None:
        """What answers requests brokers send on our connections; subclasses that expect some
        (the transactional producer's CHECK_TRANSACTION_STATE) return a handler."""
        return None

    async def __aenter__(self) -> AsyncProducer:
        await self._pool.__aenter__()
        self._task_group = anyio.create_task_group()
        await self._task_group.__aenter__()
        self._brokers.start(self._task_group)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self._accumulator is not None:
                await self._accumulator.drain()  # held sends leave before the connections close
            await self._brokers.unregister()
        finally:
            if self._task_group is not None:
                self._task_group.cancel_scope.cancel()
                await self._task_group.__aexit__(None, None, None)
                self._task_group = None
            await self._pool.__aexit__(exc_type, exc, tb)

    # -- routing ----------------------------------------------------------------------------

    def _cached_publish_queues(
        self, topic: str
    ) -> tuple[list[MessageQueueRef], TopicRouteData] | None:
        """``_publish_queues`` without a coroutine when the topic's own route is cached and
        fresh (every send but the first of a period comes here)."""
        route = self._client.fresh_route(topic)
        cached = self._queue_cache.get(topic)
        if route is not None and cached is not None and cached[0] is route and cached[1] is None:
            return cached[2], route
        return None

    async def _publish_queues(self, topic: str) -> tuple[list[MessageQueueRef], TopicRouteData]:
        try:
            route = await self._client.route(topic)
            limit = None
        except TopicNotExistError:
            route = await self._client.route(AUTO_CREATE_TOPIC_KEY)
            limit = self.default_topic_queue_nums
        cached = self._queue_cache.get(topic)
        if cached is not None and cached[0] is route and cached[1] == limit:
            return cached[2], route  # the same route object: the same queues
        queues = publish_queues(topic, route, limit)  # honours the route's orderTopicConf
        self._queue_cache[topic] = (route, limit, queues)
        if not queues:
            raise TopicNotExistError(17, f"no writable queue for topic {topic}")
        return queues, route

    def _broker_address(self, route: TopicRouteData, broker_name: str) -> str:
        memo = self._address_memo.get(broker_name)
        if memo is not None and memo[0] is route:  # the same route object: the same address
            return memo[1]
        for broker in route.broker_datas:
            if broker.broker_name == broker_name and 0 in broker.broker_addrs:
                address = broker.broker_addrs[0]
                self._address_memo[broker_name] = (route, address)
                return address
        raise TopicNotExistError(17, f"broker {broker_name} has no master address in the route")

    # -- sending ----------------------------------------------------------------------------

    def _prepare(self, message: Message, *, compress: bool = True) -> Outgoing:
        """Properties (with a fresh UNIQ_KEY) and the body as sent, computed once per send so
        that retries carry the same message id, as Java's do. ``compress=False`` for a batch's
        messages: a batch has no per-message sysFlag to say a body is compressed."""
        props = message.wire_properties()
        unique = props.setdefault(
            MC.PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX, self._client.next_unique_id()
        )
        body = message.body_bytes()
        if len(body) > self.max_message_size:
            raise ConfigError(
                "body", f"<{len(body)} bytes>", f"exceeds max_message_size {self.max_message_size}"
            )
        sys_flag = 0
        if compress and len(body) >= self.compress_over:
            body, sys_flag = compress_body(body, sys_flag)
        topic = wrap(self.namespace, message.topic)
        return Outgoing(topic, body, props, sys_flag, message.flag, [unique])

    def _request(self, out: Outgoing, queue: MessageQueueRef) -> RemotingCommand:
        """The SEND_MESSAGE_V2 / SEND_BATCH_MESSAGE request of one attempt.

        The extFields are written out here rather than through ``SendMessageRequestHeaderV2``:
        this runs once per send, and the header object costs ~2 µs of a send's ~30. Same keys,
        same order, same text (``tests/client/test_send_request_fields.py`` holds it to the
        header's own encoding).
        """
        ext = {
            "a": self.group,
            "b": queue.topic,
            "c": AUTO_CREATE_TOPIC_KEY,
            "d": str(self.default_topic_queue_nums),
            "e": str(queue.queue_id),
            "f": str(out.sys_flag),
            "g": str(time.time_ns() // 1_000_000),
            "h": str(out.flag),
            "i": encode_properties(out.properties),
            "j": "0",
            "k": "false",
            "m": "true" if out.batch else "false",
        }
        code = _SEND_BATCH if out.batch else _SEND_V2
        return RemotingCommand(code, ext_fields=ext, body=out.body)

    def _trace_info(self, out: Outgoing, properties: object, **extra: Any) -> dict[str, Any]:
        return {
            "namespace": self.namespace,
            "topic": unwrap(self.namespace, out.topic),
            "group": self.group,
            "client_id": self._client.client_id,
            "msg_ids": out.msg_ids,
            "message_count": len(out.msg_ids),
            "body_size": len(out.body),
            "properties": properties,
            **extra,
        }

    async def send(
        self,
        message: Message,
        *,
        queue: MessageQueueRef | None = None,
        selector: MessageQueueSelector | None = None,
        arg: Any = None,
        sharding_key: str | None = None,
    ) -> SendResult:
        """Send and wait for the broker to store it; retried on retriable failures.

        Ordered sends name their queue: ``queue`` itself, ``selector(queues, message, arg)``
        over the topic's publish queues, or ``sharding_key`` (hash selection identical to
        Java's ``SelectMessageQueueByHash``, see ``rocketmq_py._async.selectors``). Such a send
        is one attempt: a failure is raised, never retried on another queue (Java's
        ``sendSelectImpl``).

        With ``auto_batch``, a send without a selector or sharding key may leave in a batch
        with others (see ``rocketmq_py._async.accumulator``).
        """
        accumulator = self._accumulator
        if (
            accumulator is not None
            and selector is None
            and arg is None
            and sharding_key is None
            and self._task_group is not None
            and accumulator.accepts(message)
        ):
            result = await accumulator.send(message, queue, self._task_group)
            if result is not None:
                return result
        if (
            queue is None
            and selector is None
            and arg is None
            and sharding_key is None
            and not tracing_active(self._hooks)
        ):
            return await self._send(self._prepare(message), None)  # the plain send, flat
        selection = selection_of(queue, selector, arg, sharding_key)
        if selection is not None:
            queue = await self._select(message, *selection)
        extra = {"sharding_key": sharding_key} if sharding_key is not None else {}
        return await self._send_prepared(self._prepare(message), queue, **extra)

    async def _select(
        self, message: Message, selector: MessageQueueSelector, arg: Any
    ) -> MessageQueueRef:
        """The selector's choice among the topic's publish queues (shown without namespace)."""
        queues, _ = await self._publish_queues(wrap(self.namespace, message.topic))
        return select_queue(
            selector, [unwrap_queue(self.namespace, q) for q in queues], message, arg
        )

    async def _send_prepared(
        self, out: Outgoing, queue: MessageQueueRef | None, **trace_extra: Any
    ) -> SendResult:
        """Send what ``_prepare`` made (subclasses may mark it first, e.g. as a half message);
        ``trace_extra`` goes into the trace hooks' ``info``."""
        target = wrap_queue(self.namespace, queue) if queue else None
        if not tracing_active(self._hooks):
            return await self._send(out, target)
        # A send that names its queue (itself or through a selector) is an ordered one.
        info = self._trace_info(out, out.properties, ordered=queue is not None, **trace_extra)
        async with trace("send", self._hooks, info):
            result = await self._send(out, target)
            info["result"] = result
            info["queue"] = result.queue
            info["server_address"] = self._client.master_address(result.queue.broker_name)
        return result

    async def send_oneway(
        self,
        message: Message,
        *,
        queue: MessageQueueRef | None = None,
        selector: MessageQueueSelector | None = None,
        arg: Any = None,
        sharding_key: str | None = None,
    ) -> None:
        """Send without waiting for any answer (no retry, no result); ``queue``, ``selector``,
        ``arg`` and ``sharding_key`` choose the queue as for :meth:`send`."""
        selection = selection_of(queue, selector, arg, sharding_key)
        if selection is not None:
            queue = await self._select(message, *selection)
        out = self._prepare(message)
        info = self._trace_info(out, out.properties, ordered=queue is not None)
        if sharding_key is not None:
            info["sharding_key"] = sharding_key
        async with trace("send", self._hooks, info):
            queues, route = await self._publish_queues(out.topic)
            target = wrap_queue(self.namespace, queue) if queue else None
            target = target or queues[next(self._counter) % len(queues)]
            info["queue"] = unwrap_queue(self.namespace, target)
            address = self._broker_address(route, target.broker_name)
            info["server_address"] = address
            self._brokers.seen.add(address)
            await self._pool.oneway(address, self._request(out, target))

    async def _send(self, out: Outgoing, queue: MessageQueueRef | None) -> SendResult:
        attempts = 1 + (0 if queue is not None else self.retries)
        last_error: RocketMQError | None = None
        last_broker: str | None = None
        for _attempt in range(attempts):
            queues, route = self._cached_publish_queues(out.topic) or await self._publish_queues(
                out.topic
            )
            if queue is not None:
                target = queue
            else:
                target = self._faults.choose(queues, next(self._counter), last_broker)
            last_broker = target.broker_name
            request = self._request(out, target)
            try:
                address = self._broker_address(route, target.broker_name)
                self._brokers.remember(address)
                began = time.monotonic()
                conn = self._pool.connection(address) or await self._pool.get(address)
                response = await conn.request(request, self.send_timeout)
            except TransportError as exc:
                self._faults.record(target.broker_name, 0, failed=True)
                last_error = exc
                continue
            outcome = self._settle(out, target, response, (time.monotonic() - began) * 1000)
            if isinstance(outcome, SendResult):
                return outcome
            last_error = outcome
            if outcome.code == ResponseCode.TOPIC_NOT_EXIST:
                await self._refresh(out.topic)
        assert last_error is not None
        raise last_error

    def _settle(
        self, out: Outgoing, target: MessageQueueRef, response: RemotingCommand, latency_ms: float
    ) -> SendResult | ResponseError:
        """Account for one attempt's answer: the result of a stored message, the error of a
        retriable code (returned), or the error of any other code (raised)."""
        self._faults.record(target.broker_name, latency_ms)
        status = _STATUS.get(response.code)
        if status is None:
            error = ResponseError.for_code(response.code, response.remark)
            if response.code in _RETRY_CODES:
                return error
            raise error
        header = response.read_header(SendMessageResponseHeader)
        return SendResult(
            status=status,
            msg_id=",".join(out.msg_ids),
            offset_msg_id=header.msg_id,
            queue=MessageQueueRef(
                unwrap(self.namespace, target.topic), target.broker_name, header.queue_id
            ),
            queue_offset=header.queue_offset,
            region_id=header.msg_region or "DefaultRegion",
            transaction_id=header.transaction_id,
            recall_handle=header.recall_handle,
        )

    # -- the blocking producer's direct sends (rocketmq_py._sync.direct) ----------------------
    # Plain functions, safe to call from another thread: they read the caches the event loop
    # fills and touch nothing it iterates.

    def direct_send_plan(
        self, message: Message
    ) -> tuple[Outgoing, MessageQueueRef, str, RemotingCommand] | None:
        """What a plain send of ``message`` needs when no I/O has to be set up first: the
        prepared message, its queue, the broker address and the request. ``None`` when the
        route is not cached and fresh, the broker was never used (its first heartbeat is
        due) or tracing is on: such sends go through the event loop."""
        if tracing_active(self._hooks):
            return None
        found = self._cached_publish_queues(wrap(self.namespace, message.topic))
        if found is None:
            return None
        queues, route = found
        target = self._faults.choose(queues, next(self._counter))
        address = self._broker_address(route, target.broker_name)
        if address not in self._brokers.seen:
            return None
        out = self._prepare(message)
        return out, target, address, self._request(out, target)

    def direct_send_done(
        self,
        out: Outgoing,
        target: MessageQueueRef,
        response: RemotingCommand | None,
        latency_ms: float,
    ) -> SendResult | None:
        """Account for a direct send: its result, ``None`` when it should be retried through
        the event loop (no response, or a retriable code), or the error of a fatal code."""
        if response is None:
            self._faults.record(target.broker_name, 0, failed=True)
            return None
        outcome = self._settle(out, target, response, latency_ms)
        return outcome if isinstance(outcome, SendResult) else None

    async def send_prepared(self, out: Outgoing) -> SendResult:
        """Send (with retries) a message ``direct_send_plan`` prepared, keeping its id."""
        return await self._send(out, None)

    async def recall(self, topic: str, handle: str) -> str:
        """Cancel a timer message (sent with ``deliver_at`` or ``delay``) before it is due.

        Args:
            topic: the message's topic.
            handle: ``SendResult.recall_handle`` of its send.

        Returns:
            The recalled message's id (its ``UNIQ_KEY``, as ``SendResult.msg_id``).

        Raises:
            ConfigError: ``handle`` is not a recall handle, or names another topic.
            IllegalOperationError: (604) the broker refused, with the remark
                ``recall failed, the message was already delivered ...`` once it is due or
                delivered, ``recall failed, no pending timer message ...`` when the broker
                holds no such message.
        """
        try:
            decoded = RecallHandle.decode(handle)
        except ValueError:
            raise ConfigError("handle", handle, "is not a recall handle") from None
        wire_topic = wrap(self.namespace, topic)
        if decoded.topic != wire_topic:
            raise ConfigError("topic", topic, f"the handle is for topic {decoded.topic!r}")
        _, route = await self._publish_queues(wire_topic)
        address = self._broker_address(route, decoded.broker_name)
        return await self._brokers.recall(address, wire_topic, handle)

    async def _refresh(self, topic: str) -> None:
        with contextlib.suppress(TopicNotExistError):  # publishing goes through TBW102 then
            await self._client.route(topic, refresh=True)
