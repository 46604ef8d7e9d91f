"""Administration API: cluster, topic and KV config operations against name servers."""

from __future__ import annotations

from types import TracebackType

from rocketmq_py._async.namesrv import NamesrvClient, resolve_namesrv_addresses
from rocketmq_py._transport import ConnectionPool
from rocketmq_py.exceptions import ConfigError, RemoteProtocolError, ResponseError
from rocketmq_py.protocol.bodies import ClusterInfo, KVTable, TopicList, TopicRouteData
from rocketmq_py.protocol.codes import RequestCode, ResponseCode
from rocketmq_py.protocol.command import RemotingCommand
from rocketmq_py.protocol.headers.admin import CreateTopicRequestHeader
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

__all__ = ["AsyncAdmin"]


class AsyncAdmin:
    """Admin operations; use as ``async with AsyncAdmin("127.0.0.1:9876") as admin:``.

    Args:
        namesrv_addr: ``;``-separated name server addresses (default ``$NAMESRV_ADDR``).
        timeout: per-request timeout in seconds.
    """

    def __init__(self, namesrv_addr: str | None = None, *, timeout: float = 3.0) -> None:
        self._addresses = resolve_namesrv_addresses(namesrv_addr)
        self._pool = ConnectionPool(connect_timeout=timeout)
        self._namesrv = NamesrvClient(self._pool, self._addresses, timeout)
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

    # -- routes and clusters ----------------------------------------------------------------

    async def cluster_info(self) -> ClusterInfo:
        """Every cluster and broker the name server knows (GET_BROKER_CLUSTER_INFO)."""
        response = await self._namesrv.call(
            RemotingCommand.request(RequestCode.GET_BROKER_CLUSTER_INFO)
        )
        return ClusterInfo.from_json(_body(response))

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
        """Remove a topic's route (everywhere, or only on ``cluster``)."""
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

        Returns:
            The broker addresses that accepted it.
        """
        if (cluster is None) == (broker_addr is None):
            raise ConfigError("cluster/broker_addr", (cluster, broker_addr), "give exactly one")
        targets: list[str]
        if broker_addr is not None:
            targets = [broker_addr]
        else:
            info = await self.cluster_info()
            names = info.cluster_addr_table.get(str(cluster))
            if not names:
                raise ConfigError("cluster", cluster, "no such cluster in the name server")
            targets = [
                addr
                for name in sorted(names)
                if (data := info.broker_addr_table.get(name)) is not None
                and (addr := data.broker_addrs.get(0)) is not None
            ]
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
            response = await self._pool.request(
                addr,
                RemotingCommand.request(RequestCode.UPDATE_AND_CREATE_TOPIC, header),
                self.timeout,
            )
            if response.code != ResponseCode.SUCCESS:
                raise ResponseError.for_code(response.code, response.remark)
        return targets

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
