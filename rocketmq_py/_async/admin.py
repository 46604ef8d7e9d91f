"""Administration API: clusters, topics, groups, broker config, statistics and messages.

:class:`AsyncAdmin` is what Java's ``DefaultMQAdminExt`` is to ``mqadmin``: every sub-command
of :mod:`rocketmq_py.admin.cli` is a thin printer over one or two of its methods. Requests go
to the name servers (routes, clusters, KV config) and to brokers (one address, or every master
of a cluster, or the brokers of a topic's route). Where Java picks "a" broker of a route
(``BrokerData.selectBrokerAddr``) this picks the master, else the slave with the lowest id.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType

from rocketmq_py._async.client import ClientInstance
from rocketmq_py._async.pull import PullResult, pull, subscribe_queues
from rocketmq_py._transport import ConnectionPool
from rocketmq_py.exceptions import (
    ConfigError,
    RemoteProtocolError,
    ResponseError,
    RocketMQError,
    TopicNotExistError,
    TransportError,
)
from rocketmq_py.message import MessageQueueRef, MessageView
from rocketmq_py.protocol import fastjson
from rocketmq_py.protocol.bodies import (
    BrokerData,
    ClusterInfo,
    ConsumerConnection,
    ConsumeStats,
    ConsumeType,
    GroupList,
    KVTable,
    MessageModel,
    ProducerConnection,
    TopicList,
    TopicRouteData,
    TopicStatsTable,
)
from rocketmq_py.protocol.codes import RequestCode, ResponseCode
from rocketmq_py.protocol.command import RemotingCommand
from rocketmq_py.protocol.headers.admin import (
    CreateTopicRequestHeader,
    DeleteSubscriptionGroupRequestHeader,
    DeleteTopicRequestHeader,
    GetConsumerConnectionListRequestHeader,
    GetConsumeStatsRequestHeader,
    GetProducerConnectionListRequestHeader,
    GetTopicStatsInfoRequestHeader,
    QueryTopicConsumeByWhoRequestHeader,
)
from rocketmq_py.protocol.headers.consumer import (
    GetMaxOffsetRequestHeader,
    GetMaxOffsetResponseHeader,
    GetMinOffsetRequestHeader,
    GetMinOffsetResponseHeader,
    SearchOffsetRequestHeader,
    SearchOffsetResponseHeader,
)
from rocketmq_py.protocol.headers.namesrv import (
    DeleteKVConfigRequestHeader,
    DeleteTopicFromNamesrvRequestHeader,
    GetKVConfigRequestHeader,
    GetKVConfigResponseHeader,
    GetKVListByNamespaceRequestHeader,
    GetRouteInfoRequestHeader,
    GetTopicsByClusterRequestHeader,
    PutKVConfigRequestHeader,
    WipeWritePermOfBrokerRequestHeader,
)
from rocketmq_py.protocol.headers.query import QueryMessageRequestHeader, ViewMessageRequestHeader
from rocketmq_py.protocol.message import decode_offset_msg_id, iter_records

__all__ = ["AsyncAdmin", "MessageTrack", "TrackType"]

#: Java's ``MixAll.TOOLS_CONSUMER_GROUP``: the group admin tools pull with.
TOOLS_CONSUMER_GROUP = "TOOLS_CONSUMER"
RETRY_GROUP_TOPIC_PREFIX = "%RETRY%"
DLQ_GROUP_TOPIC_PREFIX = "%DLQ%"
#: Java's ``Long.MAX_VALUE``: the open end of a QUERY_MESSAGE time range.
MAX_TIMESTAMP = 2**63 - 1
#: The name servers' KV namespace of order-topic configurations (``NamesrvUtil``).
ORDER_TOPIC_CONFIG = "ORDER_TOPIC_CONFIG"


class TrackType(str, enum.Enum):
    """What became of a message for one consumer group (Java's ``TrackType``)."""

    CONSUMED = "CONSUMED"
    CONSUMED_BUT_FILTERED = "CONSUMED_BUT_FILTERED"
    PULL = "PULL"
    NOT_CONSUME_YET = "NOT_CONSUME_YET"
    NOT_ONLINE = "NOT_ONLINE"
    UNKNOWN = "UNKNOWN"


@dataclass(frozen=True, slots=True)
class MessageTrack:
    """One consumer group's view of a message (Java's ``MessageTrack``).

    Attributes:
        consumer_group: the group subscribing the message's topic.
        track_type: whether the group consumed it.
        exception_desc: why the state could not be told, when it could not.
    """

    consumer_group: str
    track_type: TrackType
    exception_desc: str | None = None

    def __str__(self) -> str:
        """Java's ``toString``, as ``queryMsgById`` prints it."""
        desc = "null" if self.exception_desc is None else self.exception_desc
        return (
            f"MessageTrack [consumerGroup={self.consumer_group}, "
            f"trackType={self.track_type.value}, exceptionDesc={desc}]"
        )


class AsyncAdmin:
    """Admin operations; use as ``async with AsyncAdmin("127.0.0.1:9876") as admin:``.

    Methods that change brokers take either ``broker_addr`` (one broker) or ``cluster`` (every
    master of that cluster, as the name server lists them) and return the addresses changed.

    Args:
        namesrv_addr: ``;``-separated name server addresses (default ``$NAMESRV_ADDR``).
        timeout: per-request timeout in seconds (statistics and queries get 3 times as long,
            as in Java).
    """

    def __init__(self, namesrv_addr: str | None = None, *, timeout: float = 3.0) -> None:
        self._pool = ConnectionPool(connect_timeout=timeout)
        self._client = ClientInstance(namesrv_addr, self._pool, timeout=timeout)
        self._namesrv = self._client.namesrv
        self._addresses = self._namesrv.addresses
        self.timeout = timeout

    async def __aenter__(self) -> AsyncAdmin:
        await self._pool.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._pool.__aexit__(exc_type, exc, tb)

    @property
    def namesrv_addresses(self) -> list[str]:
        """The name server addresses this admin talks to."""
        return list(self._addresses)

    # -- plumbing ---------------------------------------------------------------------------

    async def _call_at(
        self, address: str, request: RemotingCommand, timeout: float | None = None
    ) -> RemotingCommand:
        """Send to one server; raise :class:`ResponseError` unless the answer is SUCCESS."""
        response = await self._pool.request(address, request, timeout or self.timeout)
        if response.code != ResponseCode.SUCCESS:
            raise ResponseError.for_code(response.code, response.remark)
        return response

    async def _targets(self, cluster: str | None, broker_addr: str | None) -> list[str]:
        if (cluster is None) == (broker_addr is None):
            raise ConfigError("cluster/broker_addr", (cluster, broker_addr), "give exactly one")
        if broker_addr is not None:
            return [broker_addr]
        return await self.cluster_broker_addrs(str(cluster))

    async def _queue_address(self, queue: MessageQueueRef) -> str:
        """The master of the queue's broker (refreshing the topic's route when unknown)."""
        address = self._client.master_address(queue.broker_name)
        if address is None:
            await self._client.route(queue.topic, refresh=True)
            address = self._client.master_address(queue.broker_name)
            if address is None:
                raise TopicNotExistError(
                    17, f"broker {queue.broker_name} serves no queue of {queue.topic}"
                )
        return address

    # -- routes and clusters ----------------------------------------------------------------

    async def cluster_info(self) -> ClusterInfo:
        """Every cluster and broker the name server knows (GET_BROKER_CLUSTER_INFO)."""
        response = await self._namesrv.call(
            RemotingCommand.request(RequestCode.GET_BROKER_CLUSTER_INFO)
        )
        return ClusterInfo.from_json(_body(response))

    async def cluster_broker_addrs(self, cluster: str, *, slaves: bool = False) -> list[str]:
        """The master address of every broker of ``cluster`` (and the slaves' with ``slaves``).

        Raises:
            ConfigError: the name server knows no such cluster.
        """
        info = await self.cluster_info()
        names = info.cluster_addr_table.get(cluster)
        if not names:
            raise ConfigError("cluster", cluster, "no such cluster in the name server")
        addrs: list[str] = []
        for name in sorted(names):
            data = info.broker_addr_table.get(name)
            if data is None:
                continue
            for broker_id, addr in sorted(data.broker_addrs.items()):
                if broker_id == 0 or slaves:
                    addrs.append(addr)
        return addrs

    async def topic_route(self, topic: str) -> TopicRouteData:
        """The route of a topic; raises TopicNotExistError when there is none."""
        response = await self._namesrv.call(
            RemotingCommand.request(
                RequestCode.GET_ROUTEINFO_BY_TOPIC,
                GetRouteInfoRequestHeader(topic=topic, accept_standard_json_only=True),
            )
        )
        return TopicRouteData.from_json(_body(response))

    async def topic_list(self, cluster: str | None = None) -> list[str]:
        """Every topic, or those with queues in ``cluster``."""
        if cluster is None:
            request = RemotingCommand.request(RequestCode.GET_ALL_TOPIC_LIST_FROM_NAMESERVER)
        else:
            request = RemotingCommand.request(
                RequestCode.GET_TOPICS_BY_CLUSTER, GetTopicsByClusterRequestHeader(cluster=cluster)
            )
        response = await self._namesrv.call(request)
        return list(TopicList.from_json(_body(response)).topic_list)

    async def delete_topic_in_namesrv(self, topic: str, cluster: str | None = None) -> None:
        """Remove a topic's route (everywhere, or only on ``cluster``) from one name server."""
        await self._namesrv.call(
            RemotingCommand.request(
                RequestCode.DELETE_TOPIC_IN_NAMESRV,
                DeleteTopicFromNamesrvRequestHeader(topic=topic, cluster_name=cluster),
            )
        )

    async def wipe_write_perm(self, broker_name: str) -> int:
        """Stop writes to a broker on every topic; returns how many topics changed."""
        response = await self._namesrv.call(
            RemotingCommand.request(
                RequestCode.WIPE_WRITE_PERM_OF_BROKER,
                WipeWritePermOfBrokerRequestHeader(broker_name=broker_name),
            )
        )
        return _int_field(response, "wipeTopicCount")

    async def add_write_perm(self, broker_name: str) -> int:
        """Restore writes to a broker on every topic; returns how many topics changed."""
        response = await self._namesrv.call(
            RemotingCommand.request(
                RequestCode.ADD_WRITE_PERM_OF_BROKER,
                WipeWritePermOfBrokerRequestHeader(broker_name=broker_name),
            )
        )
        return _int_field(response, "addTopicCount")

    # -- topics -----------------------------------------------------------------------------

    async def create_topic(
        self,
        topic: str,
        *,
        cluster: str | None = None,
        broker_addr: str | None = None,
        read_queue_nums: int = 8,
        write_queue_nums: int = 8,
        perm: int = 6,
        order: bool = False,
    ) -> list[str]:
        """Create or update a topic on one broker, or on every master of a cluster.

        With ``order`` the name servers also learn the topic's order configuration (KV
        namespace ``ORDER_TOPIC_CONFIG``, ``"brokerName:writeQueueNums;..."``), as Java's
        ``updateTopic -o true`` does: a cluster-wide update replaces it with the cluster's
        brokers, a single broker's update replaces only that broker's entry.

        Returns:
            The broker addresses that accepted it.
        """
        targets = await self._targets(cluster, broker_addr)
        header = CreateTopicRequestHeader(
            topic=topic,
            default_topic="TBW102",
            read_queue_nums=read_queue_nums,
            write_queue_nums=write_queue_nums,
            perm=perm,
            topic_filter_type="SINGLE_TAG",
            topic_sys_flag=0,
            order=order,
        )
        for addr in targets:
            await self._call_at(
                addr, RemotingCommand.request(RequestCode.UPDATE_AND_CREATE_TOPIC, header)
            )
        if order:
            await self._update_order_conf(
                topic, targets, write_queue_nums, whole=cluster is not None
            )
        return targets

    async def _update_order_conf(
        self, topic: str, addrs: list[str], write_queue_nums: int, *, whole: bool
    ) -> None:
        """Java's ``createOrUpdateOrderConf``: the topic's ``brokerName:queues`` entries."""
        info = await self.cluster_info()
        name_of = {
            addr: name
            for name, data in info.broker_addr_table.items()
            for addr in data.broker_addrs.values()
        }
        entries: dict[str, str] = {}
        if not whole:
            existing = await self.get_kv_config(ORDER_TOPIC_CONFIG, topic)
            for item in (existing or "").split(";"):
                name, sep, count = item.partition(":")
                if sep and name:
                    entries[name] = count
        for addr in addrs:
            broker_name = name_of.get(addr)
            if broker_name is None:
                raise ConfigError("broker_addr", addr, "the name server knows no such broker")
            entries[broker_name] = str(write_queue_nums)
        conf = ";".join(f"{name}:{count}" for name, count in entries.items())
        await self.put_kv_config(ORDER_TOPIC_CONFIG, topic, conf)

    async def delete_topic(self, topic: str, cluster: str) -> list[str]:
        """Delete a topic from every master of ``cluster``, then from every name server.

        As Java's ``mqadmin deleteTopic``: DELETE_TOPIC_IN_BROKER to each master, then
        DELETE_TOPIC_IN_NAMESRV to each name server of the list (not just the first that
        answers), so no name server keeps routing to the deleted queues.

        Returns:
            The broker addresses the topic was deleted from.
        """
        targets = await self.cluster_broker_addrs(cluster)
        for addr in targets:
            await self._call_at(
                addr,
                RemotingCommand.request(
                    RequestCode.DELETE_TOPIC_IN_BROKER, DeleteTopicRequestHeader(topic=topic)
                ),
            )
        header = DeleteTopicFromNamesrvRequestHeader(topic=topic, cluster_name=cluster)
        for addr in self._addresses:
            await self._call_at(
                addr, RemotingCommand.request(RequestCode.DELETE_TOPIC_IN_NAMESRV, header)
            )
        return targets

    async def topic_stats(self, topic: str, *, cluster: str | None = None) -> TopicStatsTable:
        """Min/max offset and last store time of every queue of ``topic`` (GET_TOPIC_STATS_INFO).

        Asks each broker of the topic's route, or with ``cluster`` each master of that cluster.
        ``topic_put_tps`` is the sum of what the brokers report (``None`` when none does: 4.x).

        Raises:
            TopicNotExistError: no route, or no broker knows the topic.
        """
        if cluster is not None:
            addrs = await self.cluster_broker_addrs(cluster)
        else:
            route = await self.topic_route(topic)
            addrs = [a for b in _sorted_brokers(route.broker_datas) if (a := _select_addr(b))]
        table = TopicStatsTable()
        header = GetTopicStatsInfoRequestHeader(topic=topic)
        for addr in addrs:
            response = await self._call_at(
                addr, RemotingCommand.request(RequestCode.GET_TOPIC_STATS_INFO, header)
            )
            part = TopicStatsTable.from_json(_body(response))
            table.offset_table.update(part.offset_table)
            if part.topic_put_tps is not None:
                table.topic_put_tps = (table.topic_put_tps or 0.0) + part.topic_put_tps
        if not table.offset_table:
            raise TopicNotExistError(17, f"Not found the topic stats info of {topic}")
        return table

    # -- subscription groups ----------------------------------------------------------------

    async def update_subscription_group(
        self,
        group: str,
        *,
        cluster: str | None = None,
        broker_addr: str | None = None,
        consume_enable: bool = True,
        consume_from_min_enable: bool = True,
        consume_broadcast_enable: bool = True,
        consume_message_orderly: bool = False,
        retry_queue_nums: int = 1,
        retry_max_times: int = 16,
        broker_id: int = 0,
        which_broker_when_consume_slowly: int = 1,
        notify_consumer_ids_changed_enable: bool = True,
    ) -> list[str]:
        """Create or replace a subscription group (UPDATE_AND_CREATE_SUBSCRIPTIONGROUP).

        The settings are those of Java's ``SubscriptionGroupConfig``, with its defaults.

        Returns:
            The broker addresses that accepted it.
        """
        if not group:
            raise ConfigError("group", group, "a consumer group name is required")
        targets = await self._targets(cluster, broker_addr)
        body = fastjson.dumps(
            {
                "brokerId": broker_id,
                "consumeBroadcastEnable": consume_broadcast_enable,
                "consumeEnable": consume_enable,
                "consumeFromMinEnable": consume_from_min_enable,
                "consumeMessageOrderly": consume_message_orderly,
                "groupName": group,
                "notifyConsumerIdsChangedEnable": notify_consumer_ids_changed_enable,
                "retryMaxTimes": retry_max_times,
                "retryQueueNums": retry_queue_nums,
                "whichBrokerWhenConsumeSlowly": which_broker_when_consume_slowly,
            }
        )
        for addr in targets:
            await self._call_at(
                addr,
                RemotingCommand.request(RequestCode.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, body=body),
            )
        return targets

    async def delete_subscription_group(
        self,
        group: str,
        *,
        cluster: str | None = None,
        broker_addr: str | None = None,
        remove_offset: bool = False,
    ) -> list[str]:
        """Delete a subscription group (and with ``remove_offset`` its committed offsets).

        Returns:
            The broker addresses it was deleted from.
        """
        targets = await self._targets(cluster, broker_addr)
        # 4.x reads removeOffset, 5.x cleanOffset: send both.
        header = DeleteSubscriptionGroupRequestHeader(
            group_name=group, remove_offset=remove_offset, clean_offset=remove_offset
        )
        for addr in targets:
            await self._call_at(
                addr, RemotingCommand.request(RequestCode.DELETE_SUBSCRIPTIONGROUP, header)
            )
        return targets

    # -- consumers and producers ------------------------------------------------------------

    async def _group_route(self, topics: list[str]) -> TopicRouteData:
        """The route of the first of ``topics`` that has one."""
        error: RocketMQError = TopicNotExistError(17, f"no route for {topics[0]}")
        for topic in topics:
            try:
                return await self.topic_route(topic)
            except TopicNotExistError as exc:
                error = exc
        raise error

    async def consume_stats(self, group: str, topic: str | None = None) -> ConsumeStats:
        """A group's progress on every queue it consumes (GET_CONSUME_STATS to each broker).

        As Java's ``examineConsumeStats``: the brokers are those of the route of the group's
        retry topic (else ``topic``'s); ``consume_tps`` is the sum over the brokers.

        Raises:
            ResponseError: CONSUMER_NOT_ONLINE (no offsets and no online consumer) or
                BROADCAST_CONSUMPTION (no offsets because the group broadcasts).
        """
        topics = [RETRY_GROUP_TOPIC_PREFIX + group]
        if topic is not None:
            topics += [topic, f"{RETRY_GROUP_TOPIC_PREFIX}{group}_{topic}"]
        route = await self._group_route(topics)
        stats = ConsumeStats()
        header = GetConsumeStatsRequestHeader(consumer_group=group, topic=topic)
        for broker in _sorted_brokers(route.broker_datas):
            addr = _select_addr(broker)
            if addr is None:
                continue
            response = await self._call_at(
                addr,
                RemotingCommand.request(RequestCode.GET_CONSUME_STATS, header),
                self.timeout * 3,
            )
            part = ConsumeStats.from_json(_body(response))
            stats.offset_table.update(part.offset_table)
            stats.consume_tps += part.consume_tps
        if not stats.offset_table:
            try:
                connection = await self.consumer_connection(group)
            except RocketMQError:
                raise ResponseError(
                    ResponseCode.CONSUMER_NOT_ONLINE,
                    "Not found the consumer group consume stats, because return offset table "
                    "is empty, maybe the consumer not online",
                ) from None
            if connection.message_model is MessageModel.BROADCASTING:
                raise ResponseError(
                    ResponseCode.BROADCAST_CONSUMPTION,
                    "Not found the consumer group consume stats, because return offset table "
                    "is empty, the consumer is under the broadcast mode",
                )
        return stats

    async def consumer_connection(
        self, group: str, *, broker_addr: str | None = None
    ) -> ConsumerConnection:
        """A group's online consumers and subscriptions (GET_CONSUMER_CONNECTION_LIST).

        Asks ``broker_addr``, else the brokers of the group's retry topic route in turn until
        one knows the group.

        Raises:
            ResponseError: CONSUMER_NOT_ONLINE when no broker has a consumer of the group.
        """
        request = RemotingCommand.request(
            RequestCode.GET_CONSUMER_CONNECTION_LIST,
            GetConsumerConnectionListRequestHeader(consumer_group=group),
        )
        if broker_addr is not None:
            addrs = [broker_addr]
        else:
            route = await self.topic_route(RETRY_GROUP_TOPIC_PREFIX + group)
            addrs = [a for b in _sorted_brokers(route.broker_datas) if (a := _select_addr(b))]
        error: RocketMQError = ResponseError(
            ResponseCode.CONSUMER_NOT_ONLINE, "Not found the consumer group connection"
        )
        for addr in addrs:
            try:
                response = await self._call_at(addr, request)
            except (ResponseError, TransportError) as exc:
                error = exc
                continue
            connection = ConsumerConnection.from_json(_body(response))
            if connection.connection_set:
                return connection
        raise error

    async def producer_connection(self, group: str, topic: str) -> ProducerConnection:
        """A producer group's connections (GET_PRODUCER_CONNECTION_LIST to the topic's brokers).

        Raises:
            ResponseError: no broker of the topic's route has a producer of the group.
        """
        route = await self.topic_route(topic)
        request = RemotingCommand.request(
            RequestCode.GET_PRODUCER_CONNECTION_LIST,
            GetProducerConnectionListRequestHeader(producer_group=group),
        )
        error: RocketMQError = ResponseError(
            ResponseCode.SYSTEM_ERROR, "Not found the producer group connection"
        )
        for broker in _sorted_brokers(route.broker_datas):
            addr = _select_addr(broker)
            if addr is None:
                continue
            try:
                response = await self._call_at(addr, request)
            except (ResponseError, TransportError) as exc:
                error = exc
                continue
            connection = ProducerConnection.from_json(_body(response))
            if connection.connection_set:
                return connection
        raise error

    async def query_topic_consume_by_who(self, topic: str) -> list[str]:
        """The consumer groups of ``topic`` (QUERY_TOPIC_CONSUME_BY_WHO), sorted."""
        route = await self.topic_route(topic)
        request = RemotingCommand.request(
            RequestCode.QUERY_TOPIC_CONSUME_BY_WHO, QueryTopicConsumeByWhoRequestHeader(topic=topic)
        )
        for broker in _sorted_brokers(route.broker_datas):
            addr = _select_addr(broker)
            if addr is not None:
                response = await self._call_at(addr, request)
                return sorted(GroupList.from_json(_body(response)).group_list)
        return []

    # -- broker config and status -----------------------------------------------------------

    async def broker_runtime_info(self, broker_addr: str) -> dict[str, str]:
        """A broker's runtime statistics (GET_BROKER_RUNTIME_INFO), as ``brokerStatus`` shows."""
        response = await self._call_at(
            broker_addr, RemotingCommand.request(RequestCode.GET_BROKER_RUNTIME_INFO)
        )
        return dict(KVTable.from_json(_body(response)).table)

    async def transaction_status(self, broker_addr: str) -> dict[str, int]:
        """A broker's transactional-message figures: the ``transaction*`` keys of its runtime
        info (``transactionHalfPending``, the check progress and max offsets of the half and
        OP queues, ``transactionCheckedTimes`` ...) as integers, sorted by name."""
        table = await self.broker_runtime_info(broker_addr)
        return {
            key: int(value)
            for key, value in sorted(table.items())
            if key.startswith("transaction") and value.lstrip("-").isdigit()
        }

    async def broker_config(self, broker_addr: str) -> dict[str, str]:
        """A broker's configuration (GET_BROKER_CONFIG), key to value as text."""
        response = await self._call_at(
            broker_addr, RemotingCommand.request(RequestCode.GET_BROKER_CONFIG)
        )
        return _parse_properties((response.body or b"").decode("utf-8", "replace"))

    async def update_broker_config(
        self,
        properties: Mapping[str, str],
        *,
        cluster: str | None = None,
        broker_addr: str | None = None,
        slaves: bool = False,
    ) -> list[str]:
        """Change broker settings at runtime (UPDATE_BROKER_CONFIG, not persisted by 4.x).

        Args:
            properties: setting name to new value.
            cluster: every master of this cluster (with ``slaves``, the slaves too).
            broker_addr: one broker.
            slaves: with ``cluster``, update the slaves as well.

        Returns:
            The broker addresses that accepted it.
        """
        if cluster is not None and broker_addr is None:
            targets = await self.cluster_broker_addrs(cluster, slaves=slaves)
        else:  # one broker, or the error for giving both or neither
            targets = await self._targets(cluster, broker_addr)
        body = "".join(f"{key}={value}\n" for key, value in properties.items()).encode()
        for addr in targets:
            await self._call_at(
                addr, RemotingCommand.request(RequestCode.UPDATE_BROKER_CONFIG, body=body)
            )
        return targets

    # -- offsets and pulling ----------------------------------------------------------------

    async def subscribe_queues(self, topic: str) -> list[MessageQueueRef]:
        """Every readable queue of ``topic``, sorted by broker name and queue id."""
        return await subscribe_queues(self._client, topic)

    async def min_offset(self, queue: MessageQueueRef) -> int:
        """The first offset still stored in ``queue`` (GET_MIN_OFFSET)."""
        header = GetMinOffsetRequestHeader(
            topic=queue.topic, queue_id=queue.queue_id, bname=queue.broker_name
        )
        response = await self._call_at(
            await self._queue_address(queue),
            RemotingCommand.request(RequestCode.GET_MIN_OFFSET, header),
        )
        return response.read_header(GetMinOffsetResponseHeader).offset

    async def max_offset(self, queue: MessageQueueRef) -> int:
        """The offset the next message of ``queue`` will get (GET_MAX_OFFSET)."""
        header = GetMaxOffsetRequestHeader(
            topic=queue.topic, queue_id=queue.queue_id, bname=queue.broker_name
        )
        response = await self._call_at(
            await self._queue_address(queue),
            RemotingCommand.request(RequestCode.GET_MAX_OFFSET, header),
        )
        return response.read_header(GetMaxOffsetResponseHeader).offset

    async def search_offset(self, queue: MessageQueueRef, timestamp_ms: int) -> int:
        """The offset of the first message of ``queue`` stored at or after ``timestamp_ms``."""
        header = SearchOffsetRequestHeader(
            topic=queue.topic,
            queue_id=queue.queue_id,
            timestamp=timestamp_ms,
            bname=queue.broker_name,
        )
        response = await self._call_at(
            await self._queue_address(queue),
            RemotingCommand.request(RequestCode.SEARCH_OFFSET_BY_TIMESTAMP, header),
        )
        return response.read_header(SearchOffsetResponseHeader).offset

    async def pull(
        self,
        queue: MessageQueueRef,
        offset: int,
        *,
        max_nums: int = 32,
        expression: str = "*",
        group: str = TOOLS_CONSUMER_GROUP,
    ) -> PullResult:
        """Pull up to ``max_nums`` messages of ``queue`` from ``offset``, without long polling.

        Nothing is committed: this reads as ``mqadmin queryMsgByOffset`` and ``consumeMessage``
        do, in the ``TOOLS_CONSUMER`` group by default.
        """
        await self._queue_address(queue)  # caches the route pull() reads the address from
        return await pull(
            self._client,
            group,
            queue,
            offset,
            max_nums=max_nums,
            expression=expression,
            timeout=self.timeout,
        )

    # -- messages ---------------------------------------------------------------------------

    async def view_message(self, msg_id: str, *, topic: str | None = None) -> MessageView:
        """The message with this id (VIEW_MESSAGE_BY_ID, or by UNIQ_KEY as a fallback).

        An offset message id names the storing broker and the commitlog offset, so the broker
        is asked directly. A client id (``UNIQ_KEY``) has the same shape; when the decoded
        address is no broker the name server knows, or the broker cannot answer, and ``topic``
        is given, the id is looked up as a UNIQ_KEY in ``topic`` instead (as Java does).

        Raises:
            ResponseError: NO_MESSAGE when nothing is found.
        """
        try:
            ip, port, offset = decode_offset_msg_id(msg_id)
        except RemoteProtocolError as exc:
            if topic is None:
                raise ConfigError("msg_id", msg_id, "is not a message id") from exc
            return await self._by_unique_key(topic, msg_id)
        address = f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
        names = _broker_names_by_addr(await self.cluster_info())
        if address not in names and topic is not None:
            return await self._by_unique_key(topic, msg_id)
        try:
            response = await self._call_at(
                address,
                RemotingCommand.request(
                    RequestCode.VIEW_MESSAGE_BY_ID,
                    ViewMessageRequestHeader(offset=offset, topic=topic),
                ),
            )
        except (ResponseError, TransportError):
            if topic is None:
                raise
            return await self._by_unique_key(topic, msg_id)
        for record in iter_records(_body(response)):
            return MessageView.from_record(record, names.get(address, ""))
        raise ResponseError(ResponseCode.NO_MESSAGE, f"no message at offset {offset}")

    async def _by_unique_key(self, topic: str, msg_id: str) -> MessageView:
        found = await self.query_message(topic, msg_id, unique_key=True)
        if not found:
            raise ResponseError(
                ResponseCode.NO_MESSAGE, "query message by id finished, but no message."
            )
        return found[0]

    async def query_message(
        self,
        topic: str,
        key: str,
        *,
        max_num: int = 64,
        begin_ms: int = 0,
        end_ms: int = MAX_TIMESTAMP,
        unique_key: bool = False,
    ) -> list[MessageView]:
        """Messages of ``topic`` whose keys include ``key``, stored in ``[begin_ms, end_ms]``.

        QUERY_MESSAGE goes to each broker of the topic's route; the broker's index matches
        by hash, so the answers are filtered here on the exact key (Java does the same). With
        ``unique_key`` the key is a ``UNIQ_KEY`` (client message id) and only the earliest
        stored copy is returned.

        Returns:
            The matches, possibly none, in broker order.
        """
        route = await self.topic_route(topic)
        header = QueryMessageRequestHeader(
            topic=topic,
            key=key,
            max_num=max_num,
            begin_timestamp=begin_ms,
            end_timestamp=end_ms,
            unique_key_query=True if unique_key else None,
        )
        found: list[MessageView] = []
        for broker in _sorted_brokers(route.broker_datas):
            addr = _select_addr(broker)
            if addr is None:
                continue
            response = await self._pool.request(
                addr, RemotingCommand.request(RequestCode.QUERY_MESSAGE, header), self.timeout * 3
            )
            if response.code == ResponseCode.QUERY_NOT_FOUND:
                continue
            if response.code != ResponseCode.SUCCESS:
                raise ResponseError.for_code(response.code, response.remark)
            for record in iter_records(response.body or b""):
                view = MessageView.from_record(record, broker.broker_name)
                if unique_key:
                    if view.msg_id == key:
                        found.append(view)
                elif view.topic == topic and key in (view.keys or "").split(" "):
                    found.append(view)
        if unique_key and found:
            return [min(found, key=lambda m: m.store_timestamp)]
        return found

    async def message_track(self, message: MessageView) -> list[MessageTrack]:
        """What each consumer group of the message's topic did with it (Java's
        ``messageTrackDetail``): PULL for pull consumers, CONSUMED or NOT_CONSUME_YET for push
        consumers by their committed offset, NOT_ONLINE for groups with no consumer."""
        tracks: list[MessageTrack] = []
        for group in await self.query_topic_consume_by_who(message.topic):
            try:
                connection = await self.consumer_connection(group)
            except ResponseError as exc:
                kind = (
                    TrackType.NOT_ONLINE
                    if exc.code == ResponseCode.CONSUMER_NOT_ONLINE
                    else TrackType.UNKNOWN
                )
                tracks.append(MessageTrack(group, kind, f"CODE:{exc.code} DESC:{exc.remark}"))
                continue
            except RocketMQError as exc:
                tracks.append(MessageTrack(group, TrackType.UNKNOWN, str(exc)))
                continue
            if connection.consume_type is ConsumeType.CONSUME_ACTIVELY:
                tracks.append(MessageTrack(group, TrackType.PULL))
                continue
            if connection.consume_type is not ConsumeType.CONSUME_PASSIVELY:
                tracks.append(MessageTrack(group, TrackType.UNKNOWN))
                continue
            try:
                consumed = await self._consumed(message, group)
            except ResponseError as exc:
                kind = (
                    TrackType.NOT_ONLINE
                    if exc.code == ResponseCode.CONSUMER_NOT_ONLINE
                    else TrackType.UNKNOWN
                )
                tracks.append(MessageTrack(group, kind, f"CODE:{exc.code} DESC:{exc.remark}"))
                continue
            except RocketMQError as exc:
                tracks.append(MessageTrack(group, TrackType.UNKNOWN, str(exc)))
                continue
            kind = TrackType.CONSUMED if consumed else TrackType.NOT_CONSUME_YET
            subscription = connection.subscription_table.get(message.topic)
            if consumed and subscription is not None:
                tags = set(subscription.tags_set)
                if tags and "*" not in tags and message.tags not in tags:
                    kind = TrackType.CONSUMED_BUT_FILTERED
            tracks.append(MessageTrack(group, kind))
        return tracks

    async def _consumed(self, message: MessageView, group: str) -> bool:
        stats = await self.consume_stats(group)
        for mq, wrapper in stats.offset_table.items():
            if (
                mq.topic == message.topic
                and mq.queue_id == message.queue.queue_id
                and mq.broker_name == message.queue.broker_name
            ):
                return wrapper.consumer_offset > message.queue_offset
        return False

    # -- KV config --------------------------------------------------------------------------

    async def put_kv_config(self, namespace: str, key: str, value: str) -> None:
        """Set a name server KV config entry."""
        await self._namesrv.call(
            RemotingCommand.request(
                RequestCode.PUT_KV_CONFIG,
                PutKVConfigRequestHeader(namespace=namespace, key=key, value=value),
            )
        )

    async def get_kv_config(self, namespace: str, key: str) -> str | None:
        """A KV config entry, or ``None`` when absent."""
        response = await self._namesrv.request(
            RemotingCommand.request(
                RequestCode.GET_KV_CONFIG, GetKVConfigRequestHeader(namespace=namespace, key=key)
            )
        )
        if response.code == ResponseCode.QUERY_NOT_FOUND:
            return None
        if response.code != ResponseCode.SUCCESS:
            raise ResponseError.for_code(response.code, response.remark)
        return response.read_header(GetKVConfigResponseHeader).value

    async def get_kv_list(self, namespace: str) -> dict[str, str]:
        """Every entry of a KV namespace (empty when none)."""
        response = await self._namesrv.request(
            RemotingCommand.request(
                RequestCode.GET_KVLIST_BY_NAMESPACE,
                GetKVListByNamespaceRequestHeader(namespace=namespace),
            )
        )
        if response.code == ResponseCode.QUERY_NOT_FOUND:
            return {}
        if response.code != ResponseCode.SUCCESS:
            raise ResponseError.for_code(response.code, response.remark)
        return dict(KVTable.from_json(_body(response)).table)

    async def delete_kv_config(self, namespace: str, key: str) -> None:
        """Remove a KV config entry (no error when absent)."""
        await self._namesrv.call(
            RemotingCommand.request(
                RequestCode.DELETE_KV_CONFIG,
                DeleteKVConfigRequestHeader(namespace=namespace, key=key),
            )
        )


def _body(response: RemotingCommand) -> bytes:
    if not response.body:
        raise RemoteProtocolError(f"response code {response.code} has no body")
    return response.body


def _int_field(response: RemotingCommand, key: str) -> int:
    value = (response.ext_fields or {}).get(key, "0")
    try:
        return int(value)
    except ValueError:
        raise RemoteProtocolError(f"response field {key!r} is not an integer: {value!r}") from None


def _sorted_brokers(brokers: list[BrokerData]) -> list[BrokerData]:
    return sorted(brokers, key=lambda b: b.broker_name)


def _select_addr(broker: BrokerData) -> str | None:
    """Java's ``BrokerData.selectBrokerAddr``: the master, else a slave (here the lowest id)."""
    if 0 in broker.broker_addrs:
        return broker.broker_addrs[0]
    return broker.broker_addrs[min(broker.broker_addrs)] if broker.broker_addrs else None


def _broker_names_by_addr(info: ClusterInfo) -> dict[str, str]:
    return {
        addr: name
        for name, data in info.broker_addr_table.items()
        for addr in data.broker_addrs.values()
    }


def _parse_properties(text: str) -> dict[str, str]:
    """``key=value`` lines as ``java.util.Properties`` writes them (comments and blanks skipped;
    ``\\`` escapes undone)."""
    result: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#!":
            continue
        key, sep, value = line.partition("=")
        if not sep:
            key, _, value = line.partition(":")
        result[_unescape(key.strip())] = _unescape(value.strip())
    return result


def _unescape(text: str) -> str:
    if "\\" not in text:
        return text
    out: list[str] = []
    chars = iter(text)
    for ch in chars:
        if ch == "\\":
            nxt = next(chars, "")
            out.append({"t": "\t", "n": "\n", "r": "\r", "f": "\f"}.get(nxt, nxt))
        else:
            out.append(ch)
    return "".join(out)
