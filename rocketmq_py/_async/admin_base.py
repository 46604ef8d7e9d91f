"""What every admin operation stands on: connections, routes and clusters, consumers and
producers, KV config (:class:`~rocketmq_py.AsyncAdmin` builds on it)."""

from __future__ import annotations

from types import TracebackType
from typing import TypeVar

from rocketmq_py._async.client import ClientInstance
from rocketmq_py._transport import ConnectionPool
from rocketmq_py.exceptions import (
    ConfigError,
    RemoteProtocolError,
    ResponseError,
    RocketMQError,
    TopicNotExistError,
    TransportError,
)
from rocketmq_py.message import MessageQueueRef
from rocketmq_py.protocol.bodies import (
    BrokerData,
    ClusterInfo,
    ConsumerConnection,
    ConsumeStats,
    GroupList,
    KVTable,
    MessageModel,
    ProducerConnection,
    TopicList,
    TopicRouteData,
)
from rocketmq_py.protocol.codes import RequestCode, ResponseCode
from rocketmq_py.protocol.command import RemotingCommand
from rocketmq_py.protocol.headers.admin import (
    GetConsumerConnectionListRequestHeader,
    GetConsumeStatsRequestHeader,
    GetProducerConnectionListRequestHeader,
    QueryTopicConsumeByWhoRequestHeader,
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
from rocketmq_py.protocol.topics import RETRY_GROUP_TOPIC_PREFIX

__all__ = [
    "MAX_TIMESTAMP",
    "TOOLS_CONSUMER_GROUP",
    "AdminBase",
    "broker_names_by_addr",
    "int_field",
    "response_body",
    "select_addr",
    "sorted_brokers",
]

#: Java's ``MixAll.TOOLS_CONSUMER_GROUP``: the group admin tools pull with.
TOOLS_CONSUMER_GROUP = "TOOLS_CONSUMER"
#: Java's ``Long.MAX_VALUE``: the open end of a QUERY_MESSAGE time range.
MAX_TIMESTAMP = 2**63 - 1


_A = TypeVar("_A", bound="AdminBase")


class AdminBase:
    """Connections and the name-server side of :class:`~rocketmq_py.AsyncAdmin`.

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

    async def __aenter__(self: _A) -> _A:
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
        return ClusterInfo.from_json(response_body(response))

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
        return TopicRouteData.from_json(response_body(response))

    async def topic_list(self, cluster: str | None = None) -> list[str]:
        """Every topic, or those with queues in ``cluster``."""
        if cluster is None:
            request = RemotingCommand.request(RequestCode.GET_ALL_TOPIC_LIST_FROM_NAMESERVER)
        else:
            request = RemotingCommand.request(
                RequestCode.GET_TOPICS_BY_CLUSTER, GetTopicsByClusterRequestHeader(cluster=cluster)
            )
        response = await self._namesrv.call(request)
        return list(TopicList.from_json(response_body(response)).topic_list)

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
        return int_field(response, "wipeTopicCount")

    async def add_write_perm(self, broker_name: str) -> int:
        """Restore writes to a broker on every topic; returns how many topics changed."""
        response = await self._namesrv.call(
            RemotingCommand.request(
                RequestCode.ADD_WRITE_PERM_OF_BROKER,
                WipeWritePermOfBrokerRequestHeader(broker_name=broker_name),
            )
        )
        return int_field(response, "addTopicCount")

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
        for broker in sorted_brokers(route.broker_datas):
            addr = select_addr(broker)
            if addr is None:
                continue
            response = await self._call_at(
                addr,
                RemotingCommand.request(RequestCode.GET_CONSUME_STATS, header),
                self.timeout * 3,
            )
            part = ConsumeStats.from_json(response_body(response))
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
            addrs = [a for b in sorted_brokers(route.broker_datas) if (a := select_addr(b))]
        error: RocketMQError = ResponseError(
            ResponseCode.CONSUMER_NOT_ONLINE, "Not found the consumer group connection"
        )
        for addr in addrs:
            try:
                response = await self._call_at(addr, request)
            except (ResponseError, TransportError) as exc:
                error = exc
                continue
            connection = ConsumerConnection.from_json(response_body(response))
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
        for broker in sorted_brokers(route.broker_datas):
            addr = select_addr(broker)
            if addr is None:
                continue
            try:
                response = await self._call_at(addr, request)
            except (ResponseError, TransportError) as exc:
                error = exc
                continue
            connection = ProducerConnection.from_json(response_body(response))
            if connection.connection_set:
                return connection
        raise error

    async def query_topic_consume_by_who(self, topic: str) -> list[str]:
        """The consumer groups of ``topic`` (QUERY_TOPIC_CONSUME_BY_WHO), sorted."""
        route = await self.topic_route(topic)
        request = RemotingCommand.request(
            RequestCode.QUERY_TOPIC_CONSUME_BY_WHO, QueryTopicConsumeByWhoRequestHeader(topic=topic)
        )
        for broker in sorted_brokers(route.broker_datas):
            addr = select_addr(broker)
            if addr is not None:
                response = await self._call_at(addr, request)
                return sorted(GroupList.from_json(response_body(response)).group_list)
        return []

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
        return dict(KVTable.from_json(response_body(response)).table)

    async def delete_kv_config(self, namespace: str, key: str) -> None:
        """Remove a KV config entry (no error when absent)."""
        await self._namesrv.call(
            RemotingCommand.request(
                RequestCode.DELETE_KV_CONFIG,
                DeleteKVConfigRequestHeader(namespace=namespace, key=key),
            )
        )


def response_body(response: RemotingCommand) -> bytes:
    if not response.body:
        raise RemoteProtocolError(f"response code {response.code} has no body")
    return response.body


def int_field(response: RemotingCommand, key: str) -> int:
    value = (response.ext_fields or {}).get(key, "0")
    try:
        return int(value)
    except ValueError:
        raise RemoteProtocolError(f"response field {key!r} is not an integer: {value!r}") from None


def sorted_brokers(brokers: list[BrokerData]) -> list[BrokerData]:
    return sorted(brokers, key=lambda b: b.broker_name)


def select_addr(broker: BrokerData) -> str | None:
    """Java's ``BrokerData.selectBrokerAddr``: the master, else a slave (here the lowest id)."""
    if 0 in broker.broker_addrs:
        return broker.broker_addrs[0]
    return broker.broker_addrs[min(broker.broker_addrs)] if broker.broker_addrs else None


def broker_names_by_addr(info: ClusterInfo) -> dict[str, str]:
    return {
        addr: name
        for name, data in info.broker_addr_table.items()
        for addr in data.broker_addrs.values()
    }
