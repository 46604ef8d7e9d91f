"""Administration API: clusters, topics, groups, broker config, statistics and messages.

:class:`AsyncAdmin` is what Java's ``DefaultMQAdminExt`` is to ``mqadmin``: every sub-command
of :mod:`rocketmq_py.admin.cli` is a thin printer over one or two of its methods. Requests go
to the name servers (routes, clusters, KV config) and to brokers (one address, or every master
of a cluster, or the brokers of a topic's route). Where Java picks "a" broker of a route
(``BrokerData.selectBrokerAddr``) this picks the master, else the slave with the lowest id.
"""

from __future__ import annotations

from collections.abc import Mapping

import anyio

from rocketmq_py._async.admin_base import (
    MAX_TIMESTAMP,
    TOOLS_CONSUMER_GROUP,
    response_body,
    select_addr,
    sorted_brokers,
)
from rocketmq_py._async.admin_messages import MessageAdmin, MessageTrack, TrackType
from rocketmq_py.exceptions import ConfigError, RequestTimeoutError, TopicNotExistError
from rocketmq_py.protocol import fastjson
from rocketmq_py.protocol.bodies import ORDER_TOPIC_CONFIG, KVTable, TopicRouteData, TopicStatsTable
from rocketmq_py.protocol.codes import RequestCode
from rocketmq_py.protocol.command import RemotingCommand
from rocketmq_py.protocol.headers.admin import (
    CreateTopicRequestHeader,
    DeleteSubscriptionGroupRequestHeader,
    DeleteTopicRequestHeader,
    GetTopicStatsInfoRequestHeader,
)
from rocketmq_py.protocol.headers.namesrv import (
    DeleteTopicFromNamesrvRequestHeader,
)
from rocketmq_py.protocol.topics import AUTO_CREATE_TOPIC_KEY_TOPIC

__all__ = [
    "MAX_TIMESTAMP",
    "TOOLS_CONSUMER_GROUP",
    "AsyncAdmin",
    "MessageTrack",
    "TrackType",
]


class AsyncAdmin(MessageAdmin):
    """Admin operations; use as ``async with AsyncAdmin("127.0.0.1:9876") as admin:``.

    Methods that change brokers take either ``broker_addr`` (one broker) or ``cluster`` (every
    master of that cluster, as the name server lists them) and return the addresses changed.

    Args:
        namesrv_addr: ``;``-separated name server addresses (default ``$NAMESRV_ADDR``).
        timeout: per-request timeout in seconds (statistics and queries get 3 times as long,
            as in Java).
    """

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
            default_topic=AUTO_CREATE_TOPIC_KEY_TOPIC,
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

    async def wait_for_route(
        self, topic: str, *, read_queue_nums: int | None = None, timeout: float = 15.0
    ) -> TopicRouteData:
        """Wait until the name servers route ``topic`` (with ``read_queue_nums`` read queues
        on its first broker, when given) and return the route.

        A topic created on a broker reaches the name servers with the broker's next
        registration, moments later; producers cope (they fall back to ``TBW102``), but
        consumers started before then wait for their next rebalance (20 s).

        Raises:
            RequestTimeoutError: not routed that way within ``timeout`` seconds.
        """
        with anyio.move_on_after(timeout):
            while True:
                try:
                    route = await self.topic_route(topic)
                except TopicNotExistError:
                    pass
                else:
                    queues = route.queue_datas
                    if queues and read_queue_nums in (None, queues[0].read_queue_nums):
                        return route
                await anyio.sleep(0.05)
        raise RequestTimeoutError(f"topic {topic} was not routed within {timeout}s")

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
            addrs = [a for b in sorted_brokers(route.broker_datas) if (a := select_addr(b))]
        table = TopicStatsTable()
        header = GetTopicStatsInfoRequestHeader(topic=topic)
        for addr in addrs:
            response = await self._call_at(
                addr, RemotingCommand.request(RequestCode.GET_TOPIC_STATS_INFO, header)
            )
            part = TopicStatsTable.from_json(response_body(response))
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

    # -- broker config and status -----------------------------------------------------------

    async def broker_runtime_info(self, broker_addr: str) -> dict[str, str]:
        """A broker's runtime statistics (GET_BROKER_RUNTIME_INFO), as ``brokerStatus`` shows."""
        response = await self._call_at(
            broker_addr, RemotingCommand.request(RequestCode.GET_BROKER_RUNTIME_INFO)
        )
        return dict(KVTable.from_json(response_body(response)).table)

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
