"""Offsets and group membership: codes 14, 15, 29, 30, 31, 32 and 38."""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker._server import Channel, Dispatcher
from broker.processors._common import parse_host
from rocketmq_py.protocol.bodies import ConsumerListBody
from rocketmq_py.protocol.codes import RequestCode, ResponseCode
from rocketmq_py.protocol.command import RemotingCommand
from rocketmq_py.protocol.headers.consumer import (
    GetConsumerListByGroupRequestHeader,
    GetEarliestMsgStoretimeRequestHeader,
    GetEarliestMsgStoretimeResponseHeader,
    GetMaxOffsetRequestHeader,
    GetMaxOffsetResponseHeader,
    GetMinOffsetRequestHeader,
    GetMinOffsetResponseHeader,
    QueryConsumerOffsetRequestHeader,
    QueryConsumerOffsetResponseHeader,
    SearchOffsetRequestHeader,
    SearchOffsetResponseHeader,
    UpdateConsumerOffsetRequestHeader,
)

if TYPE_CHECKING:
    from broker.controller import BrokerController

__all__ = ["ConsumerManageProcessor"]


class ConsumerManageProcessor:
    """Consumer offsets, queue offsets and consumer lists."""

    def __init__(self, controller: BrokerController) -> None:
        self.c = controller

    def install(self, dispatcher: Dispatcher) -> None:
        """Register the codes."""
        rc = RequestCode
        dispatcher.register(rc.QUERY_CONSUMER_OFFSET, self.query_consumer_offset)
        dispatcher.register(rc.UPDATE_CONSUMER_OFFSET, self.update_consumer_offset)
        dispatcher.register(rc.GET_CONSUMER_LIST_BY_GROUP, self.get_consumer_list)
        dispatcher.register(rc.GET_MAX_OFFSET, self.get_max_offset)
        dispatcher.register(rc.GET_MIN_OFFSET, self.get_min_offset)
        dispatcher.register(rc.SEARCH_OFFSET_BY_TIMESTAMP, self.search_offset)
        dispatcher.register(rc.GET_EARLIEST_MSG_STORETIME, self.get_earliest_msg_storetime)

    def query_consumer_offset(self, channel: Channel, request: RemotingCommand) -> RemotingCommand:
        """QUERY_CONSUMER_OFFSET.

        With no committed offset, a queue that still starts at 0 answers 0 (Java's rule, which
        lets a new group read a young topic from the beginning; the cpp client relies on it);
        otherwise QUERY_NOT_FOUND and the client applies its consume-from-where.
        """
        h = request.read_header(QueryConsumerOffsetRequestHeader)
        offset = self.c.offsets.query_offset(h.consumer_group, h.topic, h.queue_id)
        if offset >= 0:
            return request.make_response(header=QueryConsumerOffsetResponseHeader(offset=offset))
        if h.set_zero_if_not_found is not False:
            min_offset = self.c.store.get_min_offset_in_queue(h.topic, h.queue_id)
            if min_offset <= 0:
                return request.make_response(header=QueryConsumerOffsetResponseHeader(offset=0))
        return request.make_response(
            ResponseCode.QUERY_NOT_FOUND,
            "Not found, V3_0_6_SNAPSHOT maybe this group consumer boot first",
        )

    def update_consumer_offset(self, channel: Channel, request: RemotingCommand) -> RemotingCommand:
        """UPDATE_CONSUMER_OFFSET (usually oneway)."""
        h = request.read_header(UpdateConsumerOffsetRequestHeader)
        self.c.offsets.commit_offset(
            parse_host(channel.remote_address)[0],
            h.consumer_group,
            h.topic,
            h.queue_id,
            h.commit_offset,
        )
        return request.make_response()

    def get_consumer_list(self, channel: Channel, request: RemotingCommand) -> RemotingCommand:
        """GET_CONSUMER_LIST_BY_GROUP: the client ids of the group's live consumers."""
        h = request.read_header(GetConsumerListByGroupRequestHeader)
        ids = self.c.consumers.all_client_ids(h.consumer_group)
        if not ids:
            return request.make_response(
                ResponseCode.SYSTEM_ERROR, f"no consumer for this group, {h.consumer_group}"
            )
        return request.make_response(body=ConsumerListBody(consumer_id_list=list(ids)).to_json())

    def get_max_offset(self, channel: Channel, request: RemotingCommand) -> RemotingCommand:
        """GET_MAX_OFFSET: the next logical offset to be written."""
        h = request.read_header(GetMaxOffsetRequestHeader)
        offset = self.c.store.get_max_offset_in_queue(h.topic, h.queue_id)
        return request.make_response(header=GetMaxOffsetResponseHeader(offset=offset))

    def get_min_offset(self, channel: Channel, request: RemotingCommand) -> RemotingCommand:
        """GET_MIN_OFFSET."""
        h = request.read_header(GetMinOffsetRequestHeader)
        offset = self.c.store.get_min_offset_in_queue(h.topic, h.queue_id)
        return request.make_response(header=GetMinOffsetResponseHeader(offset=offset))

    def search_offset(self, channel: Channel, request: RemotingCommand) -> RemotingCommand:
        """SEARCH_OFFSET_BY_TIMESTAMP (boundaryType LOWER by default, UPPER when asked)."""
        h = request.read_header(SearchOffsetRequestHeader)
        upper = (h.boundary_type or "").strip().upper() == "UPPER"
        offset = self.c.store.get_offset_in_queue_by_time(h.topic, h.queue_id, h.timestamp, upper)
        return request.make_response(header=SearchOffsetResponseHeader(offset=offset))

    def get_earliest_msg_storetime(
        self, channel: Channel, request: RemotingCommand
    ) -> RemotingCommand:
        """GET_EARLIEST_MSG_STORETIME."""
        h = request.read_header(GetEarliestMsgStoretimeRequestHeader)
        timestamp = self.c.store.get_earliest_message_time(h.topic, h.queue_id)
        return request.make_response(
            header=GetEarliestMsgStoretimeResponseHeader(timestamp=timestamp)
        )
