"""QUERY_MESSAGE (12) by key or UNIQ_KEY, and VIEW_MESSAGE_BY_ID (33) by commitlog offset."""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker._server import Channel, Dispatcher
from rocketmq_py.protocol.codes import RequestCode, ResponseCode
from rocketmq_py.protocol.command import RemotingCommand
from rocketmq_py.protocol.headers.query import (
    QueryMessageRequestHeader,
    QueryMessageResponseHeader,
    ViewMessageRequestHeader,
)

if TYPE_CHECKING:
    from broker.controller import BrokerController

__all__ = ["QueryProcessor"]

#: Java's defaultQueryMaxNum, forced for UNIQ_KEY queries.
DEFAULT_QUERY_MAX_NUM = 32


class QueryProcessor:
    """Finds stored messages by key or by offset."""

    def __init__(self, controller: BrokerController) -> None:
        self.c = controller

    def install(self, dispatcher: Dispatcher) -> None:
        """Register the codes."""
        dispatcher.register(RequestCode.QUERY_MESSAGE, self.query_message)
        dispatcher.register(RequestCode.VIEW_MESSAGE_BY_ID, self.view_message)

    def query_message(self, channel: Channel, request: RemotingCommand) -> RemotingCommand:
        """QUERY_MESSAGE: raw records whose index key is ``topic#key`` within the time range."""
        h = request.read_header(QueryMessageRequestHeader)
        max_num = DEFAULT_QUERY_MAX_NUM if h.unique_key_query else h.max_num
        result = self.c.store.query_message(
            h.topic, h.key, max_num, h.begin_timestamp, h.end_timestamp
        )
        header = QueryMessageResponseHeader(
            index_last_update_timestamp=result.index_last_update_timestamp,
            index_last_update_phyoffset=result.index_last_update_phyoffset,
        )
        if not result.buffers:
            return request.make_response(
                ResponseCode.QUERY_NOT_FOUND, "can not find message, maybe time range not correct"
            )
        return request.make_response(header=header, body=b"".join(result.buffers))

    def view_message(self, channel: Channel, request: RemotingCommand) -> RemotingCommand:
        """VIEW_MESSAGE_BY_ID: the record at a commitlog offset (decoded from an offset msgId)."""
        h = request.read_header(ViewMessageRequestHeader)
        raw = self.c.store.look_message_by_offset(h.offset)
        if raw is None:
            return request.make_response(
                ResponseCode.SYSTEM_ERROR, f"can not find message by the offset, {h.offset}"
            )
        return request.make_response(body=raw)
