"""Group membership shared by the subscribing consumers: heartbeats, allocation, rebalancing.

A consumer that *subscribes* (rather than naming its queues) joins its group. It heartbeats to
every broker of its topics (at once, then every 30 s) and rebalances at start, every 20 s and
whenever a broker sends NOTIFY_CONSUMER_IDS_CHANGED. CLUSTERING splits the sorted queues of each
topic over the group's sorted consumer ids with :func:`allocate_message_queue_averagely` (Java's
``AllocateMessageQueueAveragely``); BROADCASTING takes every queue. :class:`GroupMember` runs
all of that for a consumer, which supplies its heartbeat data and applies the queues it gets.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence

import anyio

from rocketmq_py._async.client import ClientInstance
from rocketmq_py._async.pull import subscribe_queues
from rocketmq_py._transport import ClientConnection
from rocketmq_py.exceptions import ConfigError, ResponseError, RocketMQError, TopicNotExistError
from rocketmq_py.message import MessageQueueRef
from rocketmq_py.protocol.bodies import (
    ConsumerData,
    ConsumerListBody,
    HeartbeatData,
    MessageModel,
    SubscriptionData,
)
from rocketmq_py.protocol.codes import RequestCode, ResponseCode
from rocketmq_py.protocol.command import RemotingCommand
from rocketmq_py.protocol.headers.consumer import (
    GetConsumerListByGroupRequestHeader,
    UnregisterClientRequestHeader,
)
from rocketmq_py.protocol.message import java_string_hash
from rocketmq_py.protocol.topics import RETRY_GROUP_TOPIC_PREFIX

__all__ = [
    "GroupMember",
    "Signal",
    "allocate_message_queue_averagely",
    "describe_queues",
    "parse_subscription",
]

log = logging.getLogger("rocketmq_py.consumer")

#: Java's heartbeatBrokerInterval and rocketmq.client.rebalance.waitInterval.
HEARTBEAT_INTERVAL = 30.0
REBALANCE_INTERVAL = 20.0
#: How soon a rebalance that failed (no route yet, broker down ...) is tried again.
REBALANCE_RETRY_INTERVAL = 2.0


def allocate_message_queue_averagely(
    queues: Sequence[MessageQueueRef], consumer_ids: Sequence[str], current_id: str
) -> list[MessageQueueRef]:
    """Java's ``AllocateMessageQueueAveragely``: this consumer's share of the queues.

    Both lists must already be sorted (queues by topic, broker name, queue id; ids as
    strings) and be the same on every consumer of the group. Consumers get consecutive runs;
    the first ``len(queues) % len(consumer_ids)`` consumers get one queue more. An id that is
    not in ``consumer_ids`` gets nothing.
    """
    if current_id not in consumer_ids or not queues:
        return []
    index = consumer_ids.index(current_id)
    n, c = len(queues), len(consumer_ids)
    mod = n % c
    if n <= c:
        size = 1
    elif mod > 0 and index < mod:
        size = n // c + 1
    else:
        size = n // c
    start = index * size if mod > 0 and index < mod else index * size + mod
    return [queues[(start + i) % n] for i in range(min(size, n - start))]


def parse_subscription(topic: str, expression: str) -> SubscriptionData:
    """The subscription of ``topic`` to a TAG expression (``"*"`` or ``"TagA || TagB"``).

    Raises:
        ConfigError: the topic is empty or the expression names no tag.
    """
    if not topic:
        raise ConfigError("topic", topic, "a topic is required")
    text = expression.strip() or "*"
    tags = [] if text == "*" else [t.strip() for t in text.split("||") if t.strip()]
    if text != "*" and not tags:
        raise ConfigError("expression", expression, "expected '*' or 'TagA || TagB'")
    return SubscriptionData(
        topic=topic,
        sub_string=text,
        tags_set=tags,
        code_set=[java_string_hash(t) for t in tags],
        sub_version=time.time_ns() // 1_000_000,
    )


def describe_queues(queues: Iterable[MessageQueueRef]) -> str:
    """``[topic@broker#id, ...]`` for logs."""
    return "[" + ", ".join(f"{q.topic}@{q.broker_name}#{q.queue_id}" for q in queues) + "]"


def _log_missing_route(topic: str, text: str, *args: object) -> None:
    # A group's retry topic has no route until the first heartbeat has made the broker create
    # it and register it with the name servers: expected at start, so not a warning.
    retry = topic.startswith(RETRY_GROUP_TOPIC_PREFIX)
    log.log(logging.DEBUG if retry else logging.WARNING, text, *args)


class Signal:
    """Wakes every task waiting right now (an event replaced on each notify).

    The event is created lazily so the owner can be built outside an event loop.
    """

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event: anyio.Event | None = None

    async def wait(self) -> None:
        """Wait for the next :meth:`notify`."""
        if self._event is None:
            self._event = anyio.Event()
        await self._event.wait()

    def notify(self) -> None:
        """Wake the tasks waiting now (later waiters wait for the next notify)."""
        if self._event is not None:
            self._event.set()
            self._event = None


class GroupMember:
    """One consumer's membership of its group.

    Args:
        client: routes and connections of the consumer.
        group: the consumer group.
        request_timeout: seconds per request.
        consumer_data: builds the group's entry of a heartbeat (its subscriptions included);
            called for every heartbeat and rebalance, so it reflects new subscriptions.
        assigned: the queues the consumer holds now.
        assign: makes a list of queues the consumer's assignment (called by every rebalance,
            also when nothing changed).
    """

    def __init__(
        self,
        client: ClientInstance,
        group: str,
        *,
        request_timeout: float,
        consumer_data: Callable[[], ConsumerData],
        assigned: Callable[[], Iterable[MessageQueueRef]],
        assign: Callable[[list[MessageQueueRef]], Awaitable[None]],
    ) -> None:
        self.client = client
        self.group = group
        self.request_timeout = request_timeout
        self._consumer_data = consumer_data
        self._assigned = assigned
        self._assign = assign
        self._rebalance_wanted = False
        self._rebalance_signal = Signal()
        self._heartbeat_wanted = True
        self._heartbeat_addresses: set[str] = set()

    def request_rebalance(self) -> None:
        """Rebalance as soon as possible (the running loop wakes up)."""
        self._rebalance_wanted = True
        self._rebalance_signal.notify()

    def request_heartbeat(self) -> None:
        """Heartbeat before the next rebalance (after a subscription changed)."""
        self._heartbeat_wanted = True

    def on_notify(self, conn: ClientConnection, request: RemotingCommand) -> bool:
        """Handle NOTIFY_CONSUMER_IDS_CHANGED; False when ``request`` is something else."""
        if request.code != RequestCode.NOTIFY_CONSUMER_IDS_CHANGED:
            return False
        group = (request.ext_fields or {}).get("consumerGroup")
        if group == self.group:
            log.info("consumer ids of %s changed (from %s): rebalancing", group, conn.address)
            self.request_rebalance()
        return True

    async def run(self, *, rebalanced: bool | None = None) -> None:
        """Rebalance now and then on every trigger, and heartbeat every 30 s, until cancelled.

        Args:
            rebalanced: the outcome of a rebalance the caller has just made; the loop then
                starts by waiting (2 s after a failure, 20 s after a success).
        """
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._rebalance_loop, rebalanced)
            tg.start_soon(self._heartbeat_loop)

    async def _rebalance_loop(self, ok: bool | None) -> None:
        while True:
            if ok is None:
                self._rebalance_wanted = False
                ok = await self.rebalance_logged()
            if not self._rebalance_wanted:
                with anyio.move_on_after(REBALANCE_INTERVAL if ok else REBALANCE_RETRY_INTERVAL):
                    await self._rebalance_signal.wait()
            ok = None

    async def rebalance_logged(self) -> bool:
        """:meth:`rebalance`, logging any unexpected error (as a failed rebalance)."""
        try:
            return await self.rebalance()
        except Exception:
            log.exception("rebalance of %s failed", self.group)
            return False

    async def _heartbeat_loop(self) -> None:
        while True:
            await anyio.sleep(HEARTBEAT_INTERVAL)
            try:
                await self.heartbeat()
            except Exception:
                log.exception("heartbeat of %s failed", self.group)

    async def rebalance(self) -> bool:
        """One rebalance of every subscription; False when some topic has to be retried.

        A topic whose allocation fails keeps the queues the consumer holds on it.
        """
        if self._heartbeat_wanted:
            await self.heartbeat()
        data = self._consumer_data()
        current = list(self._assigned())
        ok = True
        queues: list[MessageQueueRef] = []
        for subscription in data.subscription_data_set:
            topic = subscription.topic
            try:
                mine, complete = await self._allocate(topic, data.message_model)
            except RocketMQError as exc:
                _log_missing_route(
                    topic, "rebalance of %s on %s failed: %s", self.group, topic, exc
                )
                ok = False
                mine = [q for q in current if q.topic == topic]
                complete = True
            ok = ok and complete
            queues.extend(mine)
        held, kept = set(current), set(queues)
        added = [q for q in queues if q not in held]
        removed = [q for q in current if q not in kept]
        if added or removed:
            log.info(
                "rebalance of %s: +%s -%s",
                self.group,
                describe_queues(added),
                describe_queues(removed),
            )
        await self._assign(queues)
        return ok

    async def _allocate(
        self, topic: str, model: MessageModel
    ) -> tuple[list[MessageQueueRef], bool]:
        queues = sorted(
            await subscribe_queues(self.client, topic),
            key=lambda q: (q.topic, q.broker_name, q.queue_id),
        )
        if model is MessageModel.BROADCASTING:
            return queues, True
        ids = sorted(await self.consumer_ids(topic))
        client_id = self.client.client_id
        if client_id not in ids:
            # Java allocates nothing then; heartbeat again and retry soon.
            log.warning("%s is not yet listed in group %s", client_id, self.group)
            self._heartbeat_wanted = True
            return [], False
        return allocate_message_queue_averagely(queues, ids, client_id), True

    async def consumer_ids(self, topic: str) -> list[str]:
        """The group's consumer ids, from the first broker of ``topic`` that answers."""
        route = await self.client.route(topic)
        error: RocketMQError = TopicNotExistError(17, f"no broker serves {topic}")
        header = GetConsumerListByGroupRequestHeader(consumer_group=self.group)
        for broker in sorted(route.broker_datas, key=lambda b: b.broker_name):
            address = broker.broker_addrs.get(0) or next(iter(broker.broker_addrs.values()), None)
            if address is None:
                continue
            try:
                response = await self.client.pool.request(
                    address,
                    RemotingCommand.request(RequestCode.GET_CONSUMER_LIST_BY_GROUP, header),
                    self.request_timeout,
                )
            except RocketMQError as exc:
                error = exc
                continue
            if response.code != ResponseCode.SUCCESS:
                error = ResponseError.for_code(response.code, response.remark)
                continue
            return ConsumerListBody.from_json(response.body or b"{}").consumer_id_list
        raise error

    def _heartbeat_request(self, data: ConsumerData) -> RemotingCommand:
        body = HeartbeatData(client_id=self.client.client_id, consumer_data_set=[data])
        return RemotingCommand.request(RequestCode.HEART_BEAT, body=body.to_json())

    async def heartbeat(self) -> None:
        """Heartbeat every broker (masters and slaves) of the subscribed topics."""
        data = self._consumer_data()
        addresses: set[str] = set()
        for subscription in data.subscription_data_set:
            try:
                route = await self.client.route(subscription.topic)
            except RocketMQError as exc:
                _log_missing_route(
                    subscription.topic, "no route for %s to heartbeat: %s", subscription.topic, exc
                )
                continue
            for broker in route.broker_datas:
                addresses.update(broker.broker_addrs.values())
        sent = False
        for address in sorted(addresses):
            try:
                response = await self.client.pool.request(
                    address, self._heartbeat_request(data), self.request_timeout
                )
            except RocketMQError as exc:
                log.warning("heartbeat to %s failed: %s", address, exc)
                continue
            if response.code != ResponseCode.SUCCESS:
                log.warning(
                    "heartbeat to %s refused: %d %s", address, response.code, response.remark
                )
                continue
            self._heartbeat_addresses.add(address)
            sent = True
        if sent:
            self._heartbeat_wanted = False

    async def unregister(self) -> None:
        """Leave the group on every broker heartbeated (UNREGISTER_CLIENT); errors ignored."""
        header = UnregisterClientRequestHeader(
            client_id=self.client.client_id, consumer_group=self.group
        )
        for address in sorted(self._heartbeat_addresses):
            with contextlib.suppress(RocketMQError):
                await self.client.pool.request(
                    address,
                    RemotingCommand.request(RequestCode.UNREGISTER_CLIENT, header),
                    self.request_timeout,
                )
        self._heartbeat_addresses.clear()
        # A later start joins again.
        self._heartbeat_wanted = True
