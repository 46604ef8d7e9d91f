"""HEART_BEAT (34), UNREGISTER_CLIENT (35), CHECK_CLIENT_CONFIG (46): who is connected, and how.

A heartbeat registers the channel's producer groups and consumer groups (with their
subscriptions). For each consumer group the broker makes sure the subscription group and its
retry topic ``%RETRY%<group>`` exist, as Apache's ``ClientManageProcessor`` does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker._server import Channel, Dispatcher
from broker.managers import ClientChannelInfo
from broker.managers.topic_validator import retry_topic
from rocketmq_py.exceptions import RemoteProtocolError
from rocketmq_py.protocol import fastjson
from rocketmq_py.protocol.bodies import HeartbeatData, SubscriptionData
from rocketmq_py.protocol.codes import RequestCode, ResponseCode
from rocketmq_py.protocol.command import RemotingCommand
from rocketmq_py.protocol.headers.consumer import UnregisterClientRequestHeader
from rocketmq_py.protocol.message import PermName

if TYPE_CHECKING:
    from broker.controller import BrokerController

__all__ = ["ClientProcessor"]


class ClientProcessor:
    """Registers producers and consumers from their heartbeats."""

    def __init__(self, controller: BrokerController) -> None:
        self.c = controller

    def install(self, dispatcher: Dispatcher) -> None:
        """Register the client-management codes."""
        dispatcher.register(RequestCode.HEART_BEAT, self.heartbeat)
        dispatcher.register(RequestCode.UNREGISTER_CLIENT, self.unregister_client)
        dispatcher.register(RequestCode.CHECK_CLIENT_CONFIG, self.check_client_config)

    def heartbeat(self, channel: Channel, request: RemotingCommand) -> RemotingCommand:
        """HEART_BEAT: body HeartbeatData."""
        c = self.c
        if not request.body:
            raise RemoteProtocolError("HEART_BEAT without a HeartbeatData body")
        data = HeartbeatData.from_json(request.body)
        now = c.clock()
        info = ClientChannelInfo(
            client_id=data.client_id,
            language=request.language.name,
            version=request.version,
            last_update_ms=now,
        )
        channel.attributes["client_id"] = data.client_id
        for consumer in data.consumer_data_set:
            config = c.groups.find_subscription_group_config(consumer.group_name)
            if config is not None and config.retry_queue_nums > 0:
                c.topics.create_topic_in_send_back(
                    retry_topic(consumer.group_name),
                    config.retry_queue_nums,
                    PermName.PERM_WRITE | PermName.PERM_READ,
                    0,
                )
            c.consumers.register_consumer(
                consumer.group_name,
                channel,
                info,
                consumer.consume_type,
                consumer.message_model,
                consumer.consume_from_where,
                list(consumer.subscription_data_set),
                now,
            )
        for producer in data.producer_data_set:
            c.producers.register(producer.group_name, channel, info)
        return request.make_response()

    def unregister_client(self, channel: Channel, request: RemotingCommand) -> RemotingCommand:
        """UNREGISTER_CLIENT: the client is shutting down a producer and/or consumer group."""
        h = request.read_header(UnregisterClientRequestHeader)
        if h.producer_group:
            self.c.producers.unregister(h.producer_group, channel)
        if h.consumer_group:
            self.c.consumers.unregister_consumer(h.consumer_group, channel)
        return request.make_response()

    def check_client_config(self, channel: Channel, request: RemotingCommand) -> RemotingCommand:
        """CHECK_CLIENT_CONFIG: only TAG expressions are supported here."""
        if request.body:
            body = SubscriptionData.from_json_value(_subscription_of(request.body))
            if body.expression_type.upper() != "TAG":
                return request.make_response(
                    ResponseCode.SYSTEM_ERROR,
                    "The broker does not support consumer to filter message by "
                    + body.expression_type,
                )
        return request.make_response()


def _subscription_of(body: bytes) -> object:
    value = fastjson.loads(body)
    if isinstance(value, dict) and "subscriptionData" in value:
        return value["subscriptionData"]
    return value
