"""``AsyncProducer``: send messages to a topic through its route, Java-style.

Queue selection is round robin over the route's writable queues; a failed send is retried (2
times by default) on another queue, preferring another broker, when the failure is retriable
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

import anyio
import anyio.abc

from rocketmq_py._async.client import AUTO_CREATE_TOPIC_KEY, ClientInstance
from rocketmq_py._transport import ConnectionPool
from rocketmq_py.exceptions import (
    ConfigError,
    ResponseError,
    RocketMQError,
    TopicNotExistError,
    TransportError,
)
from rocketmq_py.message import Message, MessageQueueRef, SendResult, SendStatus
from rocketmq_py.protocol.bodies import HeartbeatData, ProducerData, TopicRouteData
from rocketmq_py.protocol.codes import RequestCode, ResponseCode
from rocketmq_py.protocol.command import RemotingCommand
from rocketmq_py.protocol.headers.consumer import UnregisterClientRequestHeader
from rocketmq_py.protocol.headers.send import SendMessageRequestHeaderV2, SendMessageResponseHeader
from rocketmq_py.protocol.message import (
    MessageConst,
    PermName,
    compress_body,
    encode_batch,
    encode_properties,
)

__all__ = ["AsyncProducer"]

MC = MessageConst
_RETRY_CODES = frozenset({17, 14, 1, 2, 16, 204, 205, 1500})
_STATUS = {
    ResponseCode.SUCCESS: SendStatus.SEND_OK,
    ResponseCode.FLUSH_DISK_TIMEOUT: SendStatus.FLUSH_DISK_TIMEOUT,
    ResponseCode.FLUSH_SLAVE_TIMEOUT: SendStatus.FLUSH_SLAVE_TIMEOUT,
    ResponseCode.SLAVE_NOT_AVAILABLE: SendStatus.SLAVE_NOT_AVAILABLE,
}
CLIENT_INNER_PRODUCER = "CLIENT_INNER_PRODUCER"


class AsyncProducer:
    """Sends messages; use as ``async with AsyncProducer("PG", "127.0.0.1:9876") as p:``.

    Args:
        group: producer group name.
        namesrv_addr: ``;``-separated name servers (default ``$NAMESRV_ADDR``).
        send_timeout: seconds per send attempt (Java's 3 s).
        retries: extra attempts for a failed sync send (Java's 2).
        compress_over: bodies of at least this many bytes are zlib-compressed (Java's 4 KiB).
        max_message_size: largest body accepted client-side (4 MiB).
        default_topic_queue_nums: queues per broker for auto-created topics (Java's 4).
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
    ) -> None:
        if not group:
            raise ConfigError("group", group, "a producer group name is required")
        self.group = group
        self.send_timeout = send_timeout
        self.retries = retries
        self.compress_over = compress_over
        self.max_message_size = max_message_size
        self.default_topic_queue_nums = default_topic_queue_nums
        self._pool = ConnectionPool(connect_timeout=send_timeout)
        self._client = ClientInstance(namesrv_addr, self._pool, timeout=send_timeout)
        self._counter = itertools.count()
        self._task_group: anyio.abc.TaskGroup | None = None
        self._brokers_seen: set[str] = set()

    @property
    def client_id(self) -> str:
        """This producer's client id (``ip@instance``)."""
        return self._client.client_id

    async def __aenter__(self) -> AsyncProducer:
        await self._pool.__aenter__()
        self._task_group = anyio.create_task_group()
        await self._task_group.__aenter__()
        self._task_group.start_soon(self._heartbeat_loop)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self._unregister()
        finally:
            if self._task_group is not None:
                self._task_group.cancel_scope.cancel()
                await self._task_group.__aexit__(None, None, None)
                self._task_group = None
            await self._pool.__aexit__(exc_type, exc, tb)

    # -- routing ----------------------------------------------------------------------------

    async def _publish_queues(self, topic: str) -> tuple[list[MessageQueueRef], TopicRouteData]:
        try:
            route = await self._client.route(topic)
            limit = None
        except TopicNotExistError:
            route = await self._client.route(AUTO_CREATE_TOPIC_KEY)
            limit = self.default_topic_queue_nums
        queues: list[MessageQueueRef] = []
        for data in sorted(route.queue_datas, key=lambda q: q.broker_name):
            if not PermName.is_writeable(data.perm):
                continue
            count = data.write_queue_nums if limit is None else min(limit, data.write_queue_nums)
            queues.extend(MessageQueueRef(topic, data.broker_name, i) for i in range(count))
        if not queues:
            raise TopicNotExistError(17, f"no writable queue for topic {topic}")
        return queues, route

    def _broker_address(self, route: TopicRouteData, broker_name: str) -> str:
        for broker in route.broker_datas:
            if broker.broker_name == broker_name and 0 in broker.broker_addrs:
                return broker.broker_addrs[0]
        raise TopicNotExistError(17, f"broker {broker_name} has no master address in the route")

    # -- sending ----------------------------------------------------------------------------

    def _request(
        self, message: Message, queue: MessageQueueRef, *, batch_body: bytes | None = None
    ) -> tuple[RemotingCommand, str]:
        props = message.wire_properties()
        sys_flag = 0
        if batch_body is None:
            unique = props.setdefault(
                MC.PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX, self._client.next_unique_id()
            )
            body = message.body_bytes()
            if len(body) > self.max_message_size:
                raise ConfigError(
                    "body",
                    f"<{len(body)} bytes>",
                    f"exceeds max_message_size {self.max_message_size}",
                )
            if len(body) >= self.compress_over:
                body, sys_flag = compress_body(body, sys_flag)
        else:
            unique = ""
            body = batch_body
        header = SendMessageRequestHeaderV2(
            producer_group=self.group,
            topic=queue.topic,
            default_topic=AUTO_CREATE_TOPIC_KEY,
            default_topic_queue_nums=self.default_topic_queue_nums,
            queue_id=queue.queue_id,
            sys_flag=sys_flag,
            born_timestamp=time.time_ns() // 1_000_000,
            flag=message.flag,
            properties=encode_properties(props),
            reconsume_times=0,
            unit_mode=False,
            batch=batch_body is not None,
        )
        code = (
            RequestCode.SEND_BATCH_MESSAGE
            if batch_body is not None
            else RequestCode.SEND_MESSAGE_V2
        )
        return RemotingCommand.request(code, header, body), unique

    async def send(self, message: Message, *, queue: MessageQueueRef | None = None) -> SendResult:
        """Send and wait for the broker to store it; retried on retriable failures."""
        return await self._send(message, None, queue)

    async def send_batch(self, messages: Sequence[Message]) -> SendResult:
        """Send several messages of one topic as one request (SEND_BATCH_MESSAGE)."""
        if not messages:
            raise ConfigError("messages", [], "a batch needs at least one message")
        topic = messages[0].topic
        items: list[tuple[bytes, int, dict[str, str]]] = []
        ids = []
        for message in messages:
            if message.topic != topic:
                raise ConfigError(
                    "messages", message.topic, f"every message of a batch must go to {topic}"
                )
            if message.delay_level:
                raise ConfigError("delay_level", message.delay_level, "batches cannot be delayed")
            props = message.wire_properties()
            ids.append(
                props.setdefault(
                    MC.PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX, self._client.next_unique_id()
                )
            )
            items.append((message.body_bytes(), message.flag, props))
        wrapper = Message(topic=topic, body=b"")
        result = await self._send(wrapper, encode_batch(items), None)
        return SendResult(
            result.status,
            ",".join(ids),
            result.offset_msg_id,
            result.queue,
            result.queue_offset,
            result.region_id,
        )

    async def send_oneway(self, message: Message, *, queue: MessageQueueRef | None = None) -> None:
        """Send without waiting for any answer (no retry, no result)."""
        queues, route = await self._publish_queues(message.topic)
        target = queue or queues[next(self._counter) % len(queues)]
        request, _ = self._request(message, target)
        address = self._broker_address(route, target.broker_name)
        self._brokers_seen.add(address)
        await self._pool.oneway(address, request)

    async def _send(
        self, message: Message, batch_body: bytes | None, queue: MessageQueueRef | None
    ) -> SendResult:
        attempts = 1 + (0 if queue is not None else self.retries)
        last_error: RocketMQError | None = None
        last_broker: str | None = None
        for _attempt in range(attempts):
            queues, route = await self._publish_queues(message.topic)
            if queue is not None:
                target = queue
            else:
                start = next(self._counter)
                candidates = [queues[(start + i) % len(queues)] for i in range(len(queues))]
                target = next(
                    (q for q in candidates if q.broker_name != last_broker), candidates[0]
                )
            last_broker = target.broker_name
            request, unique = self._request(message, target, batch_body=batch_body)
            try:
                address = self._broker_address(route, target.broker_name)
                self._brokers_seen.add(address)
                response = await self._pool.request(address, request, self.send_timeout)
            except TransportError as exc:
                last_error = exc
                continue
            status = _STATUS.get(ResponseCode(response.code)) if response.code in _STATUS else None
            if status is None:
                last_error = ResponseError.for_code(response.code, response.remark)
                if response.code in _RETRY_CODES:
                    if response.code == ResponseCode.TOPIC_NOT_EXIST:
                        await self._refresh(message.topic)
                    continue
                raise last_error
            header = response.read_header(SendMessageResponseHeader)
            return SendResult(
                status=status,
                msg_id=unique,
                offset_msg_id=header.msg_id,
                queue=MessageQueueRef(target.topic, target.broker_name, header.queue_id),
                queue_offset=header.queue_offset,
                region_id=header.msg_region or "DefaultRegion",
                transaction_id=header.transaction_id,
            )
        assert last_error is not None
        raise last_error

    async def _refresh(self, topic: str) -> None:
        with contextlib.suppress(TopicNotExistError):  # publishing goes through TBW102 then
            await self._client.route(topic, refresh=True)

    # -- heartbeats -------------------------------------------------------------------------

    def _heartbeat_request(self) -> RemotingCommand:
        data = HeartbeatData(
            client_id=self._client.client_id,
            producer_data_set=[
                ProducerData(group_name=self.group),
                ProducerData(group_name=CLIENT_INNER_PRODUCER),
            ],
            consumer_data_set=[],
        )
        return RemotingCommand.request(RequestCode.HEART_BEAT, body=data.to_json())

    async def _heartbeat_loop(self) -> None:
        while True:
            await anyio.sleep(30)
            for address in list(self._brokers_seen):
                try:
                    await self._pool.request(address, self._heartbeat_request(), self.send_timeout)
                except RocketMQError:
                    continue

    async def _unregister(self) -> None:
        header = UnregisterClientRequestHeader(
            client_id=self._client.client_id, producer_group=self.group
        )
        for address in list(self._brokers_seen):
            try:
                with anyio.fail_after(self.send_timeout):
                    await self._pool.request(
                        address,
                        RemotingCommand.request(RequestCode.UNREGISTER_CLIENT, header),
                        self.send_timeout,
                    )
            except (RocketMQError, TimeoutError):
                continue
