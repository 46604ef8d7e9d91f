"""Name server request processors: RemotingCommand in, RemotingCommand out.

All handlers are synchronous: the routing tables are in memory, so answering inline on the
connection's hot path is cheapest. Answers follow Apache's ``DefaultRequestProcessor`` /
``ClientRequestProcessor`` (remarks included, since some clients show them to users).
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable

from broker._server import Channel, Dispatcher
from broker.namesrv.kvconfig import ORDER_TOPIC_CONFIG, KVConfigManager
from broker.namesrv.routeinfo import RouteInfoManager
from rocketmq_py.exceptions import RemoteProtocolError
from rocketmq_py.protocol.bodies import (
    DataVersion,
    KVTable,
    RegisterBrokerBody,
    TopicList,
)
from rocketmq_py.protocol.codes import MQVersion, RequestCode, ResponseCode
from rocketmq_py.protocol.command import RemotingCommand
from rocketmq_py.protocol.headers.namesrv import (
    DeleteKVConfigRequestHeader,
    DeleteTopicFromNamesrvRequestHeader,
    GetKVConfigRequestHeader,
    GetKVConfigResponseHeader,
    GetKVListByNamespaceRequestHeader,
    GetRouteInfoRequestHeader,
    GetTopicsByClusterRequestHeader,
    PutKVConfigRequestHeader,
    QueryDataVersionRequestHeader,
    QueryDataVersionResponseHeader,
    RegisterBrokerRequestHeader,
    RegisterBrokerResponseHeader,
    UnRegisterBrokerRequestHeader,
    WipeWritePermOfBrokerRequestHeader,
)

__all__ = ["NamesrvProcessor"]

log = logging.getLogger("broker.namesrv")

FAQ_SUFFIX = "\nSee http://rocketmq.apache.org/docs/faq/ for further details."


class NamesrvProcessor:
    """Handlers for every name server request code.

    Args:
        routes: the routing tables.
        kv: the KV config store.
        clock: current time in ms (injectable for tests).
        order_message_enable: add ``orderTopicConf`` to routes (Apache's ``orderMessageEnable``).
    """

    def __init__(
        self,
        routes: RouteInfoManager,
        kv: KVConfigManager,
        clock: Callable[[], int],
        *,
        order_message_enable: bool = False,
    ) -> None:
        self.routes = routes
        self.kv = kv
        self.clock = clock
        self.order_message_enable = order_message_enable

    def install(self, dispatcher: Dispatcher) -> None:
        """Register every handler and the channel-close hook."""
        rc = RequestCode
        dispatcher.register(rc.PUT_KV_CONFIG, self.put_kv_config)
        dispatcher.register(rc.GET_KV_CONFIG, self.get_kv_config)
        dispatcher.register(rc.DELETE_KV_CONFIG, self.delete_kv_config)
        dispatcher.register(rc.GET_KVLIST_BY_NAMESPACE, self.get_kv_list_by_namespace)
        dispatcher.register(rc.REGISTER_BROKER, self.register_broker)
        dispatcher.register(rc.UNREGISTER_BROKER, self.unregister_broker)
        dispatcher.register(rc.QUERY_DATA_VERSION, self.query_data_version)
        dispatcher.register(rc.GET_ROUTEINFO_BY_TOPIC, self.get_route_info)
        dispatcher.register(rc.GET_BROKER_CLUSTER_INFO, self.get_broker_cluster_info)
        dispatcher.register(rc.WIPE_WRITE_PERM_OF_BROKER, self.wipe_write_perm)
        dispatcher.register(rc.ADD_WRITE_PERM_OF_BROKER, self.add_write_perm)
        dispatcher.register(rc.GET_ALL_TOPIC_LIST_FROM_NAMESERVER, self.get_all_topic_list)
        dispatcher.register(rc.DELETE_TOPIC_IN_NAMESRV, self.delete_topic)
        dispatcher.register(rc.GET_TOPICS_BY_CLUSTER, self.get_topics_by_cluster)
        dispatcher.register(rc.GET_SYSTEM_TOPIC_LIST_FROM_NS, self.get_system_topic_list)
        dispatcher.on_channel_closed(self.channel_closed)

    # -- KV config --------------------------------------------------------------------------

    def put_kv_config(self, channel: Channel, request: RemotingCommand) -> RemotingCommand:
        """PUT_KV_CONFIG (100)."""
        h = request.read_header(PutKVConfigRequestHeader)
        self.kv.put(h.namespace, h.key, h.value)
        log.info(
            "putKVConfig %s %s=%s from %s", h.namespace, h.key, h.value, channel.remote_address
        )
        return request.make_response()

    def get_kv_config(self, channel: Channel, request: RemotingCommand) -> RemotingCommand:
        """GET_KV_CONFIG (101): QUERY_NOT_FOUND when absent."""
        h = request.read_header(GetKVConfigRequestHeader)
        value = self.kv.get(h.namespace, h.key)
        if value is None:
            return request.make_response(
                ResponseCode.QUERY_NOT_FOUND,
                f"No config item, Namespace: {h.namespace} Key: {h.key}",
            )
        return request.make_response(header=GetKVConfigResponseHeader(value=value))

    def delete_kv_config(self, channel: Channel, request: RemotingCommand) -> RemotingCommand:
        """DELETE_KV_CONFIG (102)."""
        h = request.read_header(DeleteKVConfigRequestHeader)
        self.kv.delete(h.namespace, h.key)
        return request.make_response()

    def get_kv_list_by_namespace(
        self, channel: Channel, request: RemotingCommand
    ) -> RemotingCommand:
        """GET_KVLIST_BY_NAMESPACE (219): body KVTable."""
        h = request.read_header(GetKVListByNamespaceRequestHeader)
        table = self.kv.namespace(h.namespace)
        if table is None:
            return request.make_response(
                ResponseCode.QUERY_NOT_FOUND, f"No config item, Namespace: {h.namespace}"
            )
        return request.make_response(body=KVTable(table=table).to_json())

    # -- brokers ----------------------------------------------------------------------------

    def register_broker(self, channel: Channel, request: RemotingCommand) -> RemotingCommand:
        """REGISTER_BROKER (103): add or refresh a broker and its topics."""
        h = request.read_header(RegisterBrokerRequestHeader)
        body = request.body or b""
        if h.body_crc32 and body:
            actual = zlib.crc32(body) & 0x7FFFFFFF
            if actual != h.body_crc32:
                log.warning(
                    "receive registerBroker request, crc32 not match (%d != %d) from %s",
                    actual,
                    h.body_crc32,
                    channel.remote_address,
                )
                return request.make_response(ResponseCode.SYSTEM_ERROR, "crc32 not match")
        if body and request.version >= MQVersion.V3_0_11:
            reg = RegisterBrokerBody.decode(body, request.version)
            data_version = reg.topic_config_serialize_wrapper.data_version
            topic_configs = list(reg.topic_config_serialize_wrapper.topic_config_table.values())
            filter_servers = reg.filter_server_list
        else:
            data_version = DataVersion(counter=0, timestamp=0)
            topic_configs = None
            filter_servers = None
        result = self.routes.register_broker(
            cluster_name=h.cluster_name,
            broker_addr=h.broker_addr,
            broker_name=h.broker_name,
            broker_id=h.broker_id,
            ha_server_addr=h.ha_server_addr,
            data_version=data_version,
            topic_configs=topic_configs,
            filter_server_list=filter_servers,
            channel=channel,
            now_ms=self.clock(),
            timeout_ms=h.heartbeat_timeout_millis,
            enable_acting_master=bool(h.enable_acting_master),
            zone_name=h.zone_name,
        )
        order_conf = self.kv.namespace(ORDER_TOPIC_CONFIG)
        return request.make_response(
            header=RegisterBrokerResponseHeader(
                ha_server_addr=result.ha_server_addr, master_addr=result.master_addr
            ),
            body=KVTable(table=order_conf).to_json() if order_conf else None,
        )

    def unregister_broker(self, channel: Channel, request: RemotingCommand) -> RemotingCommand:
        """UNREGISTER_BROKER (104)."""
        h = request.read_header(UnRegisterBrokerRequestHeader)
        self.routes.unregister_broker(h.cluster_name, h.broker_addr, h.broker_name, h.broker_id)
        return request.make_response()

    def query_data_version(self, channel: Channel, request: RemotingCommand) -> RemotingCommand:
        """QUERY_DATA_VERSION (322): has the broker's topic config changed since it registered?"""
        h = request.read_header(QueryDataVersionRequestHeader)
        if not request.body:
            raise RemoteProtocolError("QUERY_DATA_VERSION needs a DataVersion body")
        version = DataVersion.from_json(request.body)
        changed = self.routes.is_data_version_changed(h.cluster_name, h.broker_addr, version)
        live = self.routes.broker_live_table.get((h.cluster_name, h.broker_addr))
        if not changed:
            self.routes.touch(h.cluster_name, h.broker_addr, self.clock())
        return request.make_response(
            header=QueryDataVersionResponseHeader(changed=changed),
            body=live.data_version.to_json() if live is not None else None,
        )

    def channel_closed(self, channel: Channel) -> None:
        """A connection closed: brokers registered over it are gone."""
        self.routes.on_channel_destroy(channel)

    def wipe_write_perm(self, channel: Channel, request: RemotingCommand) -> RemotingCommand:
        """WIPE_WRITE_PERM_OF_BROKER (205): header wipeTopicCount."""
        h = request.read_header(WipeWritePermOfBrokerRequestHeader)
        count = self.routes.set_write_perm(h.broker_name, writable=False)
        log.info("wipe write perm of broker %s, %d topics", h.broker_name, count)
        return request.make_response(header={"wipeTopicCount": count})

    def add_write_perm(self, channel: Channel, request: RemotingCommand) -> RemotingCommand:
        """ADD_WRITE_PERM_OF_BROKER (327): header addTopicCount."""
        h = request.read_header(WipeWritePermOfBrokerRequestHeader)
        count = self.routes.set_write_perm(h.broker_name, writable=True)
        log.info("add write perm of broker %s, %d topics", h.broker_name, count)
        return request.make_response(header={"addTopicCount": count})

    # -- topics -----------------------------------------------------------------------------

    def get_route_info(self, channel: Channel, request: RemotingCommand) -> RemotingCommand:
        """GET_ROUTEINFO_BY_TOPIC (105).

        Clients older than V4_9_4 get fastjson's default form with bare integer broker ids
        (``{0:"ip:port"}``): rocketmq-client-go parses ids textually and would turn ``"0"`` into
        id 0 for every address. Newer clients, or any asking ``acceptStandardJsonOnly``, get
        standard JSON.
        """
        h = request.read_header(GetRouteInfoRequestHeader)
        route = self.routes.pickup_topic_route_data(h.topic)
        if route is None:
            return request.make_response(
                ResponseCode.TOPIC_NOT_EXIST,
                f"No topic route info in name server for the topic: {h.topic}{FAQ_SUFFIX}",
            )
        if self.order_message_enable:
            route.order_topic_conf = self.kv.get(ORDER_TOPIC_CONFIG, h.topic)
        standard = bool(h.accept_standard_json_only) or request.version >= MQVersion.V4_9_4
        return request.make_response(body=route.to_json(standard=standard))

    def get_broker_cluster_info(
        self, channel: Channel, request: RemotingCommand
    ) -> RemotingCommand:
        """GET_BROKER_CLUSTER_INFO (106): always fastjson's form, as Java answers."""
        return request.make_response(body=self.routes.cluster_info().to_json())

    def get_all_topic_list(self, channel: Channel, request: RemotingCommand) -> RemotingCommand:
        """GET_ALL_TOPIC_LIST_FROM_NAMESERVER (206)."""
        return request.make_response(body=TopicList(topic_list=self.routes.all_topics()).to_json())

    def get_topics_by_cluster(self, channel: Channel, request: RemotingCommand) -> RemotingCommand:
        """GET_TOPICS_BY_CLUSTER (224)."""
        h = request.read_header(GetTopicsByClusterRequestHeader)
        topics = self.routes.topics_by_cluster(h.cluster)
        return request.make_response(body=TopicList(topic_list=topics).to_json())

    def get_system_topic_list(self, channel: Channel, request: RemotingCommand) -> RemotingCommand:
        """GET_SYSTEM_TOPIC_LIST_FROM_NS (304): cluster and broker names."""
        topics, addr = self.routes.system_topics()
        return request.make_response(body=TopicList(topic_list=topics, broker_addr=addr).to_json())

    def delete_topic(self, channel: Channel, request: RemotingCommand) -> RemotingCommand:
        """DELETE_TOPIC_IN_NAMESRV (216)."""
        h = request.read_header(DeleteTopicFromNamesrvRequestHeader)
        self.routes.delete_topic(h.topic, h.cluster_name)
        log.info(
            "delete topic %s (cluster %s) from %s", h.topic, h.cluster_name, channel.remote_address
        )
        return request.make_response()
