"""Admin requests on queue offsets and the clients behind them (part of Apache's
``AdminBrokerProcessor``).

Statistics: GET_TOPIC_STATS_INFO (202) and GET_CONSUME_STATS (208). Connections:
GET_CONSUMER_CONNECTION_LIST (203) and GET_PRODUCER_CONNECTION_LIST (204). Who consumes a
topic: QUERY_TOPIC_CONSUME_BY_WHO (300). TopicStatsTable and ConsumeStats key their tables by
fastjson's MessageQueue *object* map keys, as a 4.9.8 broker does.

One deliberate difference from 4.9.8: GET_CONSUME_STATS without a topic reports the topics the
group has committed offsets for (as Java does) *and* the topics its online consumers subscribe,
so a new group shows up before its first commit.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from broker._server import Channel, Dispatcher
from broker.managers import ClientChannelInfo
from rocketmq_py.protocol.bodies import MessageQueue
from rocketmq_py.protocol.bodies.admin import (
    Connection,
    ConsumerConnection,
    ConsumeStats,
    GroupList,
    OffsetWrapper,
    ProducerConnection,
    TopicOffset,
    TopicStatsTable,
)
from rocketmq_py.protocol.codes import LanguageCode, RequestCode, ResponseCode
from rocketmq_py.protocol.command import RemotingCommand
from rocketmq_py.protocol.headers.admin import (
    GetConsumerConnectionListRequestHeader,
    GetConsumeStatsRequestHeader,
    GetProducerConnectionListRequestHeader,
    GetTopicStatsInfoRequestHeader,
    QueryTopicConsumeByWhoRequestHeader,
)

if TYPE_CHECKING:
    from broker.controller import BrokerController

__all__ = ["StatsAdminProcessor"]

log = logging.getLogger("broker.admin")


class StatsAdminProcessor:
    """Handlers of the offset statistics, connection and consumed-by admin request codes.

    Args:
        controller: the broker; its store and managers are read on every request.
    """

    def __init__(self, controller: BrokerController) -> None:
        self.c = controller

    def install(self, dispatcher: Dispatcher) -> None:
        """Register the statistics and connection handlers."""
        rc = RequestCode
        for code, handler in (
            (rc.GET_TOPIC_STATS_INFO, self.get_topic_stats_info),
            (rc.GET_CONSUMER_CONNECTION_LIST, self.get_consumer_connection_list),
            (rc.GET_PRODUCER_CONNECTION_LIST, self.get_producer_connection_list),
            (rc.GET_CONSUME_STATS, self.get_consume_stats),
            (rc.QUERY_TOPIC_CONSUME_BY_WHO, self.query_topic_consume_by_who),
        ):
            dispatcher.register(code, handler)

    # -- helpers ----------------------------------------------------------------------------

    def _queue(self, topic: str, queue_id: int) -> MessageQueue:
        return MessageQueue(topic=topic, broker_name=self.c.broker_name, queue_id=queue_id)

    @staticmethod
    def _connection(channel: Channel | None, info: ClientChannelInfo) -> Connection:
        return Connection(
            client_id=info.client_id,
            client_addr=channel.remote_address if channel is not None else "",
            language=LanguageCode.parse(info.language),
            version=info.version,
        )

    # -- topic statistics -------------------------------------------------------------------

    def get_topic_stats_info(self, channel: Channel, request: RemotingCommand) -> RemotingCommand:
        """GET_TOPIC_STATS_INFO (202): min/max offset and last store time of every write queue."""
        h = request.read_header(GetTopicStatsInfoRequestHeader)
        config = self.c.topics.select(h.topic)
        if config is None:
            return request.make_response(
                ResponseCode.TOPIC_NOT_EXIST, f"topic[{h.topic}] not exist"
            )
        store = self.c.store
        table = TopicStatsTable()
        for queue_id in range(config.write_queue_nums):
            min_offset = max(store.get_min_offset_in_queue(h.topic, queue_id), 0)
            max_offset = max(store.get_max_offset_in_queue(h.topic, queue_id), 0)
            timestamp = 0
            if max_offset > 0:
                timestamp = store.get_message_store_timestamp(h.topic, queue_id, max_offset - 1)
            table.offset_table[self._queue(h.topic, queue_id)] = TopicOffset(
                min_offset=min_offset,
                max_offset=max_offset,
                last_update_timestamp=max(timestamp, 0),
            )
        return request.make_response(body=table.to_json())

    # -- consumers and producers ------------------------------------------------------------

    def get_consumer_connection_list(
        self, channel: Channel, request: RemotingCommand
    ) -> RemotingCommand:
        """GET_CONSUMER_CONNECTION_LIST (203): ConsumerConnection, or CONSUMER_NOT_ONLINE."""
        h = request.read_header(GetConsumerConnectionListRequestHeader)
        info = self.c.consumers.group_info(h.consumer_group)
        if info is None:
            return request.make_response(
                ResponseCode.CONSUMER_NOT_ONLINE,
                f"the consumer group[{h.consumer_group}] not online",
            )
        body = ConsumerConnection(
            connection_set=[self._connection(ch, ci) for ch, ci in info.channels.items()],
            subscription_table=dict(info.subscriptions),
            consume_type=info.consume_type,
            message_model=info.message_model,
            consume_from_where=info.consume_from_where,
        )
        return request.make_response(body=body.to_json())

    def get_producer_connection_list(
        self, channel: Channel, request: RemotingCommand
    ) -> RemotingCommand:
        """GET_PRODUCER_CONNECTION_LIST (204): ProducerConnection, or SYSTEM_ERROR."""
        h = request.read_header(GetProducerConnectionListRequestHeader)
        channels = self.c.producers.group_channels(h.producer_group)
        if not channels:
            return request.make_response(
                ResponseCode.SYSTEM_ERROR, f"the producer group[{h.producer_group}] not exist"
            )
        body = ProducerConnection(
            connection_set=[self._connection(ch, ci) for ch, ci in channels.items()]
        )
        return request.make_response(body=body.to_json())

    def query_topic_consume_by_who(
        self, channel: Channel, request: RemotingCommand
    ) -> RemotingCommand:
        """QUERY_TOPIC_CONSUME_BY_WHO (300): online subscribers plus groups with offsets."""
        h = request.read_header(QueryTopicConsumeByWhoRequestHeader)
        groups = set(self.c.consumers.query_topic_consume_by_who(h.topic))
        groups |= self.c.offsets.which_groups_consume_topic(h.topic)
        return request.make_response(body=GroupList(group_list=sorted(groups)).to_json())

    def _consume_stats_topics(self, h: GetConsumeStatsRequestHeader) -> list[str]:
        if h.topic_list:
            # 5.x: an explicit list is reported without the subscription check.
            return [t for t in h.topic_list.split(";") if t]
        info = self.c.consumers.group_info(h.consumer_group)
        if h.topic:
            topics = {h.topic}
        else:
            topics = self.c.offsets.which_topics_by_consumer(h.consumer_group)
            if info is not None:
                topics |= info.subscribe_topics()
        if info is not None and info.subscriptions:
            # Java skips topics the online group no longer subscribes.
            topics = {t for t in topics if t in info.subscriptions}
        return sorted(topics)

    def get_consume_stats(self, channel: Channel, request: RemotingCommand) -> RemotingCommand:
        """GET_CONSUME_STATS (208): broker and consumer offset of every queue the group reads."""
        h = request.read_header(GetConsumeStatsRequestHeader)
        store = self.c.store
        stats = ConsumeStats()
        for topic in self._consume_stats_topics(h):
            config = self.c.topics.select(topic)
            if config is None:
                log.warning("consumeStats, topic config not exist, %s", topic)
                continue
            for queue_id in range(config.read_queue_nums):
                broker_offset = max(store.get_max_offset_in_queue(topic, queue_id), 0)
                consumer_offset = max(
                    self.c.offsets.query_offset(h.consumer_group, topic, queue_id), 0
                )
                last = 0
                if consumer_offset > 0:
                    last = max(
                        store.get_message_store_timestamp(topic, queue_id, consumer_offset - 1), 0
                    )
                stats.offset_table[self._queue(topic, queue_id)] = OffsetWrapper(
                    broker_offset=broker_offset,
                    consumer_offset=consumer_offset,
                    last_timestamp=last,
                )
        return request.make_response(body=stats.to_json())
