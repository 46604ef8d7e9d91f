"""The name server's routing tables and the rules that change them.

Pure state, no I/O: every method that depends on time takes ``now_ms``, so expiry is tested
without sleeping. Mirrors Apache's ``RouteInfoManager``:

1. A broker is identified by (cluster, address); a broker *name* groups a master (id 0) and its
   slaves (ids >= 1).
2. Topic queue data is taken only from masters, and only when the master's topic config data
   version changed or the master registers for the first time.
3. A broker that has not registered for its heartbeat timeout (120 s by default) or whose
   connection closed is removed; when the last address of a broker name goes, so does the
   name, its cluster membership and its queue data in every topic (topics left without queues
   disappear).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable

from rocketmq_py.protocol.bodies import (
    BrokerData,
    ClusterInfo,
    DataVersion,
    QueueData,
    TopicConfig,
    TopicRouteData,
)
from rocketmq_py.protocol.message import PermName

__all__ = ["BrokerLiveInfo", "RegisterResult", "RouteInfoManager"]

log = logging.getLogger("broker.namesrv")

MASTER_ID = 0
DEFAULT_BROKER_CHANNEL_EXPIRED_MS = 120_000


@dataclasses.dataclass(slots=True)
class BrokerLiveInfo:
    """When a broker address last registered, and what it registered."""

    last_update_ms: int
    timeout_ms: int
    data_version: DataVersion
    ha_server_addr: str
    channel: object | None


@dataclasses.dataclass(slots=True)
class RegisterResult:
    """What REGISTER_BROKER answers: the master's addresses, for a slave."""

    master_addr: str | None = None
    ha_server_addr: str | None = None


class RouteInfoManager:
    """Routing state of one name server."""

    def __init__(self, default_timeout_ms: int = DEFAULT_BROKER_CHANNEL_EXPIRED_MS) -> None:
        self.default_timeout_ms = default_timeout_ms
        self.topic_queue_table: dict[str, dict[str, QueueData]] = {}
        self.broker_addr_table: dict[str, BrokerData] = {}
        self.cluster_addr_table: dict[str, set[str]] = {}
        self.broker_live_table: dict[tuple[str, str], BrokerLiveInfo] = {}
        self.filter_server_table: dict[tuple[str, str], list[str]] = {}

    # -- registration -----------------------------------------------------------------------

    def register_broker(
        self,
        *,
        cluster_name: str,
        broker_addr: str,
        broker_name: str,
        broker_id: int,
        ha_server_addr: str,
        data_version: DataVersion,
        topic_configs: Iterable[TopicConfig] | None,
        filter_server_list: list[str] | None,
        channel: object | None,
        now_ms: int,
        timeout_ms: int | None = None,
        enable_acting_master: bool = False,
        zone_name: str | None = None,
    ) -> RegisterResult:
        """Add or refresh a broker and, for a master, its topics."""
        self.cluster_addr_table.setdefault(cluster_name, set()).add(broker_name)

        broker_data = self.broker_addr_table.get(broker_name)
        register_first = broker_data is None
        if broker_data is None:
            broker_data = BrokerData(cluster=cluster_name, broker_name=broker_name, broker_addrs={})
            self.broker_addr_table[broker_name] = broker_data
        broker_data.enable_acting_master = enable_acting_master
        if zone_name:
            broker_data.zone_name = zone_name
        addrs = broker_data.broker_addrs
        # The same address under another id means a slave was switched to master (or back):
        # drop the stale id first so one address never holds two roles.
        for other_id in [i for i, a in addrs.items() if a == broker_addr and i != broker_id]:
            del addrs[other_id]
        old_addr = addrs.get(broker_id)
        addrs[broker_id] = broker_addr
        register_first = register_first or old_addr is None

        key = (cluster_name, broker_addr)
        previous = self.broker_live_table.get(key)
        if topic_configs is not None and broker_id == MASTER_ID:
            changed = previous is None or previous.data_version != data_version
            if changed or register_first:
                for config in topic_configs:
                    self._update_queue_data(broker_name, config)

        self.broker_live_table[key] = BrokerLiveInfo(
            last_update_ms=now_ms,
            timeout_ms=timeout_ms or self.default_timeout_ms,
            data_version=data_version,
            ha_server_addr=ha_server_addr,
            channel=channel,
        )
        if previous is None:
            log.info("new broker registered, %s HAServer: %s", key, ha_server_addr)
        if filter_server_list:
            self.filter_server_table[key] = list(filter_server_list)
        else:
            self.filter_server_table.pop(key, None)

        result = RegisterResult()
        if broker_id != MASTER_ID:
            master_addr = addrs.get(MASTER_ID)
            if master_addr is not None:
                master_live = self.broker_live_table.get((cluster_name, master_addr))
                if master_live is not None:
                    result.master_addr = master_addr
                    result.ha_server_addr = master_live.ha_server_addr
        return result

    def _update_queue_data(self, broker_name: str, config: TopicConfig) -> None:
        queue_data = QueueData(
            broker_name=broker_name,
            read_queue_nums=config.read_queue_nums,
            write_queue_nums=config.write_queue_nums,
            perm=config.perm,
            topic_sys_flag=config.topic_sys_flag,
        )
        per_broker = self.topic_queue_table.setdefault(config.topic_name, {})
        old = per_broker.get(broker_name)
        if old != queue_data:
            if old is not None:
                log.info("topic changed, %s OLD: %s NEW: %s", config.topic_name, old, queue_data)
            per_broker[broker_name] = queue_data

    def is_data_version_changed(
        self, cluster_name: str, broker_addr: str, version: DataVersion
    ) -> bool:
        """Whether ``version`` differs from what the broker last registered (QUERY_DATA_VERSION)."""
        live = self.broker_live_table.get((cluster_name, broker_addr))
        return live is None or live.data_version != version

    def touch(self, cluster_name: str, broker_addr: str, now_ms: int) -> None:
        """Refresh a broker's liveness without a full registration."""
        live = self.broker_live_table.get((cluster_name, broker_addr))
        if live is not None:
            live.last_update_ms = now_ms

    def unregister_broker(
        self, cluster_name: str, broker_addr: str, broker_name: str, broker_id: int
    ) -> None:
        """Remove one broker address (UNREGISTER_BROKER)."""
        key = (cluster_name, broker_addr)
        self.broker_live_table.pop(key, None)
        self.filter_server_table.pop(key, None)
        broker_data = self.broker_addr_table.get(broker_name)
        if broker_data is not None and broker_data.broker_addrs.get(broker_id) == broker_addr:
            del broker_data.broker_addrs[broker_id]
            log.info(
                "unregisterBroker, remove addr from brokerAddrTable %s, %s", broker_id, broker_addr
            )
        self._remove_name_if_empty(broker_name, cluster_name)

    def _remove_name_if_empty(self, broker_name: str, cluster_name: str | None) -> None:
        broker_data = self.broker_addr_table.get(broker_name)
        if broker_data is None or broker_data.broker_addrs:
            return
        del self.broker_addr_table[broker_name]
        log.info("remove brokerName %s from brokerAddrTable", broker_name)
        clusters = [cluster_name] if cluster_name else list(self.cluster_addr_table)
        for cluster in clusters:
            names = self.cluster_addr_table.get(cluster)
            if names is not None and broker_name in names:
                names.discard(broker_name)
                if not names:
                    del self.cluster_addr_table[cluster]
        for topic in list(self.topic_queue_table):
            per_broker = self.topic_queue_table[topic]
            if per_broker.pop(broker_name, None) is not None and not per_broker:
                del self.topic_queue_table[topic]
                log.info("remove topic %s: no queue data left", topic)

    # -- expiry -----------------------------------------------------------------------------

    def scan_not_active_brokers(self, now_ms: int) -> list[tuple[str, str]]:
        """Remove brokers whose last registration is older than their timeout."""
        expired = [
            key
            for key, live in self.broker_live_table.items()
            if live.last_update_ms + live.timeout_ms < now_ms
        ]
        for key in expired:
            log.warning(
                "broker %s expired: no registration for %d ms",
                key,
                self.broker_live_table[key].timeout_ms,
            )
            self._remove_address(*key)
        return expired

    def on_channel_destroy(self, channel: object) -> list[tuple[str, str]]:
        """Remove every broker address registered over ``channel`` (its connection closed)."""
        gone = [key for key, live in self.broker_live_table.items() if live.channel is channel]
        for key in gone:
            log.info("broker channel %s closed, removing its route", key)
            self._remove_address(*key)
        return gone

    def _remove_address(self, cluster_name: str, broker_addr: str) -> None:
        self.broker_live_table.pop((cluster_name, broker_addr), None)
        self.filter_server_table.pop((cluster_name, broker_addr), None)
        for broker_name, broker_data in list(self.broker_addr_table.items()):
            if broker_data.cluster != cluster_name:
                continue
            for broker_id in [i for i, a in broker_data.broker_addrs.items() if a == broker_addr]:
                del broker_data.broker_addrs[broker_id]
            self._remove_name_if_empty(broker_name, cluster_name)

    # -- queries ----------------------------------------------------------------------------

    def pickup_topic_route_data(self, topic: str) -> TopicRouteData | None:
        """The route of ``topic``: its queues and the brokers holding them (``None`` if unknown)."""
        per_broker = self.topic_queue_table.get(topic)
        if not per_broker:
            return None
        broker_datas = []
        filter_servers: dict[str, list[str]] = {}
        for broker_name in per_broker:
            broker_data = self.broker_addr_table.get(broker_name)
            if broker_data is None:
                continue
            clone = dataclasses.replace(broker_data, broker_addrs=dict(broker_data.broker_addrs))
            broker_datas.append(clone)
            for addr in clone.broker_addrs.values():
                servers = self.filter_server_table.get((clone.cluster, addr))
                if servers:
                    filter_servers[addr] = list(servers)
        if not broker_datas:
            return None
        return TopicRouteData(
            broker_datas=broker_datas,
            queue_datas=[dataclasses.replace(q) for q in per_broker.values()],
            filter_server_table=filter_servers,
        )

    def cluster_info(self) -> ClusterInfo:
        """Every broker and cluster (GET_BROKER_CLUSTER_INFO)."""
        return ClusterInfo(
            broker_addr_table={
                name: dataclasses.replace(data, broker_addrs=dict(data.broker_addrs))
                for name, data in self.broker_addr_table.items()
            },
            cluster_addr_table={c: sorted(names) for c, names in self.cluster_addr_table.items()},
        )

    def all_topics(self) -> list[str]:
        """Every topic with queue data."""
        return list(self.topic_queue_table)

    def topics_by_cluster(self, cluster: str) -> list[str]:
        """Topics with queues on any broker of ``cluster``."""
        names = self.cluster_addr_table.get(cluster, set())
        return [t for t, per_broker in self.topic_queue_table.items() if names & per_broker.keys()]

    def system_topics(self) -> tuple[list[str], str | None]:
        """Cluster and broker names (GET_SYSTEM_TOPIC_LIST_FROM_NS) and one broker address."""
        topics: list[str] = []
        addr: str | None = None
        for cluster, names in self.cluster_addr_table.items():
            topics.append(cluster)
            topics.extend(sorted(names))
        for data in self.broker_addr_table.values():
            if data.broker_addrs:
                addr = next(iter(data.broker_addrs.values()))
        return topics, addr

    def delete_topic(self, topic: str, cluster_name: str | None = None) -> None:
        """Remove a topic everywhere, or only its queues on ``cluster_name``'s brokers."""
        if not cluster_name:
            self.topic_queue_table.pop(topic, None)
            return
        per_broker = self.topic_queue_table.get(topic)
        if per_broker is None:
            return
        for broker_name in self.cluster_addr_table.get(cluster_name, set()):
            per_broker.pop(broker_name, None)
        if not per_broker:
            del self.topic_queue_table[topic]

    def set_write_perm(self, broker_name: str, *, writable: bool) -> int:
        """Wipe (or restore) the write permission of a broker on every topic; returns the count."""
        count = 0
        for per_broker in self.topic_queue_table.values():
            queue_data = per_broker.get(broker_name)
            if queue_data is None:
                continue
            if writable:
                queue_data.perm |= PermName.PERM_WRITE
            else:
                queue_data.perm &= ~PermName.PERM_WRITE
            count += 1
        return count
