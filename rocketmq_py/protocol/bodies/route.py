"""Name server answers: routes, cluster info, topic lists, KV tables (``protocol.md`` 3.9).

Field names on the wire are Java's; Python attributes are their snake_case. Optional fields
that only 5.x sends (``enableActingMaster``, ``zoneName`` ...) are ``None`` when absent, so a
4.9 body decodes and re-encodes to the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rocketmq_py.protocol import fastjson
from rocketmq_py.protocol.bodies._base import (
    Fields,
    JSONBody,
    as_bool,
    as_int,
    as_json,
    as_str,
    dict_of,
    list_of,
    sorted_object,
)

__all__ = [
    "ORDER_TOPIC_CONFIG",
    "BrokerData",
    "ClusterInfo",
    "KVTable",
    "QueueData",
    "TopicList",
    "TopicRouteData",
]

#: The name server KV namespace (``NamesrvUtil.NAMESPACE_ORDER_TOPIC_CONFIG``) holding
#: ``topic -> "brokerName:queueNums;..."``: what fills :attr:`TopicRouteData.order_topic_conf`.
ORDER_TOPIC_CONFIG = "ORDER_TOPIC_CONFIG"


@dataclass(slots=True)
class BrokerData(JSONBody):
    """One broker group in a route or cluster table (``BrokerData``).

    Attributes:
        cluster: cluster name.
        broker_name: the group's name.
        broker_addrs: broker id (0 = master) to ``"ip:port"``.
        enable_acting_master: 5.x only; ``None`` when absent.
        zone_name: 5.x only; ``None`` when absent.
    """

    cluster: str
    broker_name: str
    broker_addrs: dict[int, str] = field(default_factory=dict)
    enable_acting_master: bool | None = None
    zone_name: str | None = None

    def to_json_value(self) -> dict[str, Any]:
        """The JSON object; ``brokerAddrs`` has ``int`` keys, sorted as Java writes them."""
        return sorted_object(
            brokerAddrs=dict(sorted(self.broker_addrs.items())),
            brokerName=self.broker_name,
            cluster=self.cluster,
            enableActingMaster=self.enable_acting_master,
            zoneName=self.zone_name,
        )

    @classmethod
    def from_json_value(cls, value: object, where: str = "") -> BrokerData:
        """Decode; ``brokerAddrs`` keys may be bare (``{0:..}``) or quoted (``{"0":..}``)."""
        f = Fields(value, where or cls.__name__)
        return cls(
            cluster=f.get("cluster", as_str, ""),
            broker_name=f.required("brokerName", as_str),
            broker_addrs=f.get("brokerAddrs", dict_of(as_int, as_str), {}),
            enable_acting_master=f.optional("enableActingMaster", as_bool),
            zone_name=f.optional("zoneName", as_str),
        )

    def master_addr(self) -> str | None:
        """The address of broker id 0, if the master is registered."""
        return self.broker_addrs.get(0)


@dataclass(slots=True)
class QueueData(JSONBody):
    """A topic's queues on one broker group (``QueueData``)."""

    broker_name: str
    read_queue_nums: int
    write_queue_nums: int
    perm: int
    topic_sys_flag: int = 0

    def to_json_value(self) -> dict[str, Any]:
        """The JSON object, fields in name order."""
        return sorted_object(
            brokerName=self.broker_name,
            perm=self.perm,
            readQueueNums=self.read_queue_nums,
            topicSysFlag=self.topic_sys_flag,
            writeQueueNums=self.write_queue_nums,
        )

    @classmethod
    def from_json_value(cls, value: object, where: str = "") -> QueueData:
        """Decode; the pre-4.9 spelling ``topicSynFlag`` is accepted too."""
        f = Fields(value, where or cls.__name__)
        sys_flag = f.optional("topicSysFlag", as_int)
        if sys_flag is None:
            sys_flag = f.get("topicSynFlag", as_int, 0)
        return cls(
            broker_name=f.required("brokerName", as_str),
            read_queue_nums=f.get("readQueueNums", as_int, 0),
            write_queue_nums=f.get("writeQueueNums", as_int, 0),
            perm=f.get("perm", as_int, 0),
            topic_sys_flag=sys_flag,
        )


@dataclass(slots=True)
class TopicRouteData(JSONBody):
    """GET_ROUTEINFO_BY_TOPIC response body (``TopicRouteData``).

    Attributes:
        broker_datas: the broker groups holding the topic.
        queue_datas: the topic's queues per broker group.
        filter_server_table: broker address to filter server addresses.
        order_topic_conf: ``"brokerName:queueNums;..."`` for ordered topics, else ``None``.
        topic_queue_mapping_by_broker: 5.x static-topic data, as decoded JSON; ``None`` if absent.
    """

    broker_datas: list[BrokerData] = field(default_factory=list)
    queue_datas: list[QueueData] = field(default_factory=list)
    filter_server_table: dict[str, list[str]] = field(default_factory=dict)
    order_topic_conf: str | None = None
    topic_queue_mapping_by_broker: dict[str, Any] | None = None

    def to_json_value(self) -> dict[str, Any]:
        """The JSON object (``brokerAddrs`` with ``int`` keys)."""
        return sorted_object(
            brokerDatas=[b.to_json_value() for b in self.broker_datas],
            filterServerTable={k: list(v) for k, v in self.filter_server_table.items()},
            orderTopicConf=self.order_topic_conf,
            queueDatas=[q.to_json_value() for q in self.queue_datas],
            topicQueueMappingByBroker=self.topic_queue_mapping_by_broker,
        )

    def to_json(self, standard: bool = False) -> bytes:
        """Encode as the Java name server answers.

        Args:
            standard: strict JSON with quoted broker ids (``{"0":"ip:port"}``), for clients of
                version >= V4_9_4 or that sent ``acceptStandardJsonOnly``. Otherwise fastjson's
                default form with bare ids (``{0:"ip:port"}``), which older clients (the Go
                client in particular) need.
        """
        return fastjson.dumps(self.to_json_value(), standard=standard)

    @classmethod
    def from_json_value(cls, value: object, where: str = "") -> TopicRouteData:
        """Decode either form."""
        f = Fields(value, where or cls.__name__)
        return cls(
            broker_datas=f.get("brokerDatas", list_of(BrokerData.from_json_value), []),
            queue_datas=f.get("queueDatas", list_of(QueueData.from_json_value), []),
            filter_server_table=f.get("filterServerTable", dict_of(as_str, list_of(as_str)), {}),
            order_topic_conf=f.optional("orderTopicConf", as_str),
            topic_queue_mapping_by_broker=f.optional(
                "topicQueueMappingByBroker", dict_of(as_str, as_json)
            ),
        )


@dataclass(slots=True)
class ClusterInfo(JSONBody):
    """GET_BROKER_CLUSTER_INFO response body (``ClusterInfo``).

    Java always writes it in fastjson's default form (bare broker ids), and so does
    :meth:`to_json`.

    Attributes:
        broker_addr_table: broker name to its :class:`BrokerData`.
        cluster_addr_table: cluster name to the broker names in it.
    """

    broker_addr_table: dict[str, BrokerData] = field(default_factory=dict)
    cluster_addr_table: dict[str, list[str]] = field(default_factory=dict)

    def to_json_value(self) -> dict[str, Any]:
        """The JSON object."""
        return sorted_object(
            brokerAddrTable={k: v.to_json_value() for k, v in self.broker_addr_table.items()},
            clusterAddrTable={k: list(v) for k, v in self.cluster_addr_table.items()},
        )

    @classmethod
    def from_json_value(cls, value: object, where: str = "") -> ClusterInfo:
        """Decode either form."""
        f = Fields(value, where or cls.__name__)
        return cls(
            broker_addr_table=f.get(
                "brokerAddrTable", dict_of(as_str, BrokerData.from_json_value), {}
            ),
            cluster_addr_table=f.get("clusterAddrTable", dict_of(as_str, list_of(as_str)), {}),
        )


@dataclass(slots=True)
class TopicList(JSONBody):
    """A list of topic names (``TopicList``), e.g. GET_ALL_TOPIC_LIST_FROM_NAMESERVER's body.

    Attributes:
        topic_list: the topics.
        broker_addr: a broker address (GET_SYSTEM_TOPIC_LIST_FROM_NS only), else ``None``.
    """

    topic_list: list[str] = field(default_factory=list)
    broker_addr: str | None = None

    def to_json_value(self) -> dict[str, Any]:
        """The JSON object."""
        return sorted_object(brokerAddr=self.broker_addr, topicList=list(self.topic_list))

    @classmethod
    def from_json_value(cls, value: object, where: str = "") -> TopicList:
        """Decode."""
        f = Fields(value, where or cls.__name__)
        return cls(
            topic_list=f.get("topicList", list_of(as_str), []),
            broker_addr=f.optional("brokerAddr", as_str),
        )


@dataclass(slots=True)
class KVTable(JSONBody):
    """A string-to-string table (``KVTable``): KV config namespaces, broker runtime info."""

    table: dict[str, str] = field(default_factory=dict)

    def to_json_value(self) -> dict[str, Any]:
        """``{"table":{...}}``."""
        return {"table": dict(self.table)}

    @classmethod
    def from_json_value(cls, value: object, where: str = "") -> KVTable:
        """Decode; non-string values (numbers, booleans) become their Java text."""
        f = Fields(value, where or cls.__name__)
        return cls(table=f.get("table", dict_of(as_str, as_str), {}))
