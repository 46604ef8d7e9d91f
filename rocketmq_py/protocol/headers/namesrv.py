"""Headers of the name server requests (``header/namesrv/*.java``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rocketmq_py.protocol.codes import RequestCode
from rocketmq_py.protocol.headers._base import CommandHeader, request_header, response_header

__all__ = [
    "DeleteKVConfigRequestHeader",
    "DeleteTopicFromNamesrvRequestHeader",
    "GetKVConfigRequestHeader",
    "GetKVConfigResponseHeader",
    "GetKVListByNamespaceRequestHeader",
    "GetRouteInfoRequestHeader",
    "GetTopicsByClusterRequestHeader",
    "PutKVConfigRequestHeader",
    "QueryDataVersionRequestHeader",
    "QueryDataVersionResponseHeader",
    "RegisterBrokerRequestHeader",
    "RegisterBrokerResponseHeader",
    "UnRegisterBrokerRequestHeader",
    "WipeWritePermOfBrokerRequestHeader",
    "WipeWritePermOfBrokerResponseHeader",
]


@request_header(RequestCode.PUT_KV_CONFIG)
@dataclass(slots=True)
class PutKVConfigRequestHeader(CommandHeader):
    """PUT_KV_CONFIG (100)."""

    namespace: str
    key: str
    value: str


@request_header(RequestCode.GET_KV_CONFIG)
@dataclass(slots=True)
class GetKVConfigRequestHeader(CommandHeader):
    """GET_KV_CONFIG (101)."""

    namespace: str
    key: str


@response_header(RequestCode.GET_KV_CONFIG)
@dataclass(slots=True)
class GetKVConfigResponseHeader(CommandHeader):
    """Answer to GET_KV_CONFIG: the value, absent when not found."""

    value: str | None = None


@request_header(RequestCode.DELETE_KV_CONFIG)
@dataclass(slots=True)
class DeleteKVConfigRequestHeader(CommandHeader):
    """DELETE_KV_CONFIG (102)."""

    namespace: str
    key: str


@request_header(RequestCode.GET_KVLIST_BY_NAMESPACE)
@dataclass(slots=True)
class GetKVListByNamespaceRequestHeader(CommandHeader):
    """GET_KVLIST_BY_NAMESPACE (219)."""

    namespace: str


@request_header(RequestCode.REGISTER_BROKER)
@dataclass(slots=True)
class RegisterBrokerRequestHeader(CommandHeader):
    """REGISTER_BROKER (103).

    ``compressed`` is unreliable (a Java broker sends ``false`` for deflated bodies too), so the
    name server detects a zlib body by its content.
    """

    WIRE_NAMES: ClassVar = {"zone_name": "__ZONE_NAME"}

    broker_name: str
    broker_addr: str
    cluster_name: str
    ha_server_addr: str
    broker_id: int
    heartbeat_timeout_millis: int | None = None
    enable_acting_master: bool | None = None
    compressed: bool | None = None
    body_crc32: int | None = None
    zone_name: str | None = None


@response_header(RequestCode.REGISTER_BROKER)
@dataclass(slots=True)
class RegisterBrokerResponseHeader(CommandHeader):
    """Answer to REGISTER_BROKER: the master's HA and broker addresses, for slaves."""

    ha_server_addr: str | None = None
    master_addr: str | None = None


@request_header(RequestCode.UNREGISTER_BROKER)
@dataclass(slots=True)
class UnRegisterBrokerRequestHeader(CommandHeader):
    """UNREGISTER_BROKER (104)."""

    broker_name: str
    broker_addr: str
    cluster_name: str
    broker_id: int


@request_header(RequestCode.GET_ROUTEINFO_BY_TOPIC)
@dataclass(slots=True)
class GetRouteInfoRequestHeader(CommandHeader):
    """GET_ROUTEINFO_BY_TOPIC (105)."""

    topic: str
    accept_standard_json_only: bool | None = None


@request_header(RequestCode.DELETE_TOPIC_IN_NAMESRV)
@dataclass(slots=True)
class DeleteTopicFromNamesrvRequestHeader(CommandHeader):
    """DELETE_TOPIC_IN_NAMESRV (216); without ``cluster_name`` the topic goes everywhere."""

    topic: str
    cluster_name: str | None = None


@request_header(RequestCode.WIPE_WRITE_PERM_OF_BROKER, RequestCode.ADD_WRITE_PERM_OF_BROKER)
@dataclass(slots=True)
class WipeWritePermOfBrokerRequestHeader(CommandHeader):
    """WIPE_WRITE_PERM_OF_BROKER (205) and ADD_WRITE_PERM_OF_BROKER (327)."""

    broker_name: str


@response_header(RequestCode.WIPE_WRITE_PERM_OF_BROKER)
@dataclass(slots=True)
class WipeWritePermOfBrokerResponseHeader(CommandHeader):
    """Answer to WIPE_WRITE_PERM_OF_BROKER: how many topics lost write permission."""

    wipe_topic_count: int


@request_header(RequestCode.GET_TOPICS_BY_CLUSTER)
@dataclass(slots=True)
class GetTopicsByClusterRequestHeader(CommandHeader):
    """GET_TOPICS_BY_CLUSTER (224)."""

    cluster: str


@request_header(RequestCode.QUERY_DATA_VERSION)
@dataclass(slots=True)
class QueryDataVersionRequestHeader(CommandHeader):
    """QUERY_DATA_VERSION (322): body is the broker's DataVersion."""

    broker_name: str
    broker_addr: str
    cluster_name: str
    broker_id: int


@response_header(RequestCode.QUERY_DATA_VERSION)
@dataclass(slots=True)
class QueryDataVersionResponseHeader(CommandHeader):
    """Answer to QUERY_DATA_VERSION: whether the name server's copy differs."""

    changed: bool
