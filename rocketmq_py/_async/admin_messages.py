"""Admin operations on messages: offsets, pulls, queries by id and key, message tracks."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from rocketmq_py._async.admin_base import (
    MAX_TIMESTAMP,
    TOOLS_CONSUMER_GROUP,
    AdminBase,
    broker_names_by_addr,
    response_body,
    select_addr,
    sorted_brokers,
)
from rocketmq_py._async.pull import PullResult, pull, subscribe_queues
from rocketmq_py.exceptions import (
    ConfigError,
    RemoteProtocolError,
    ResponseError,
    RocketMQError,
    TransportError,
)
from rocketmq_py.message import MessageQueueRef, MessageView
from rocketmq_py.protocol.bodies import ConsumeType, MessageModel
from rocketmq_py.protocol.codes import RequestCode, ResponseCode
from rocketmq_py.protocol.command import RemotingCommand
from rocketmq_py.protocol.headers.consumer import (
    GetMaxOffsetRequestHeader,
    GetMaxOffsetResponseHeader,
    GetMinOffsetRequestHeader,
    GetMinOffsetResponseHeader,
    SearchOffsetRequestHeader,
    SearchOffsetResponseHeader,
)
from rocketmq_py.protocol.headers.query import QueryMessageRequestHeader, ViewMessageRequestHeader
from rocketmq_py.protocol.message import decode_offset_msg_id, iter_records

__all__ = ["MessageAdmin", "MessageTrack", "TrackType"]


class TrackType(str, enum.Enum):
    """What became of a message for one consumer group (Java's ``TrackType``)."""

    CONSUMED = "CONSUMED"
    CONSUMED_BUT_FILTERED = "CONSUMED_BUT_FILTERED"
    PULL = "PULL"
    NOT_CONSUME_YET = "NOT_CONSUME_YET"
    NOT_ONLINE = "NOT_ONLINE"
    CONSUME_BROADCASTING = "CONSUME_BROADCASTING"
    UNKNOWN = "UNKNOWN"


@dataclass(frozen=True, slots=True)
class MessageTrack:
    """One consumer group's view of a message (Java's ``MessageTrack``).

    Attributes:
        consumer_group: the group subscribing the message's topic.
        track_type: whether the group consumed it.
        exception_desc: why the state could not be told, when it could not.
    """

    consumer_group: str
    track_type: TrackType
    exception_desc: str | None = None

    def __str__(self) -> str:
        """Java's ``toString``, as ``queryMsgById`` prints it."""
        desc = "null" if self.exception_desc is None else self.exception_desc
        return (
            f"MessageTrack [consumerGroup={self.consumer_group}, "
            f"trackType={self.track_type.value}, exceptionDesc={desc}]"
        )


class MessageAdmin(AdminBase):
    """Offsets, pulls and message queries of :class:`~rocketmq_py.AsyncAdmin`."""

    # -- offsets and pulling ----------------------------------------------------------------

    async def subscribe_queues(self, topic: str) -> list[MessageQueueRef]:
        """Every readable queue of ``topic``, sorted by broker name and queue id."""
        return await subscribe_queues(self._client, topic)

    async def min_offset(self, queue: MessageQueueRef) -> int:
        """The first offset still stored in ``queue`` (GET_MIN_OFFSET)."""
        header = GetMinOffsetRequestHeader(
            topic=queue.topic, queue_id=queue.queue_id, bname=queue.broker_name
        )
        response = await self._call_at(
            await self._queue_address(queue),
            RemotingCommand.request(RequestCode.GET_MIN_OFFSET, header),
        )
        return response.read_header(GetMinOffsetResponseHeader).offset

    async def max_offset(self, queue: MessageQueueRef) -> int:
        """The offset the next message of ``queue`` will get (GET_MAX_OFFSET)."""
        header = GetMaxOffsetRequestHeader(
            topic=queue.topic, queue_id=queue.queue_id, bname=queue.broker_name
        )
        response = await self._call_at(
            await self._queue_address(queue),
            RemotingCommand.request(RequestCode.GET_MAX_OFFSET, header),
        )
        return response.read_header(GetMaxOffsetResponseHeader).offset

    async def search_offset(self, queue: MessageQueueRef, timestamp_ms: int) -> int:
        """The offset of the first message of ``queue`` stored at or after ``timestamp_ms``."""
        header = SearchOffsetRequestHeader(
            topic=queue.topic,
            queue_id=queue.queue_id,
            timestamp=timestamp_ms,
            bname=queue.broker_name,
        )
        response = await self._call_at(
            await self._queue_address(queue),
            RemotingCommand.request(RequestCode.SEARCH_OFFSET_BY_TIMESTAMP, header),
        )
        return response.read_header(SearchOffsetResponseHeader).offset

    async def pull(
        self,
        queue: MessageQueueRef,
        offset: int,
        *,
        max_nums: int = 32,
        expression: str = "*",
        group: str = TOOLS_CONSUMER_GROUP,
    ) -> PullResult:
        """Pull up to ``max_nums`` messages of ``queue`` from ``offset``, without long polling.

        Nothing is committed: this reads as ``mqadmin queryMsgByOffset`` and ``consumeMessage``
        do, in the ``TOOLS_CONSUMER`` group by default.
        """
        await self._queue_address(queue)  # caches the route pull() reads the address from
        return await pull(
            self._client,
            group,
            queue,
            offset,
            max_nums=max_nums,
            expression=expression,
            timeout=self.timeout,
        )

    # -- messages ---------------------------------------------------------------------------

    async def view_message(self, msg_id: str, *, topic: str | None = None) -> MessageView:
        """The message with this id (VIEW_MESSAGE_BY_ID, or by UNIQ_KEY as a fallback).

        An offset message id names the storing broker and the commitlog offset, so the broker
        is asked directly. A client id (``UNIQ_KEY``) has the same shape; when the decoded
        address is no broker the name server knows, or the broker cannot answer, and ``topic``
        is given, the id is looked up as a UNIQ_KEY in ``topic`` instead (as Java does).

        Raises:
            ResponseError: NO_MESSAGE when nothing is found.
        """
        try:
            ip, port, offset = decode_offset_msg_id(msg_id)
        except RemoteProtocolError as exc:
            if topic is None:
                raise ConfigError("msg_id", msg_id, "is not a message id") from exc
            return await self._by_unique_key(topic, msg_id)
        address = f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
        names = broker_names_by_addr(await self.cluster_info())
        if address not in names and topic is not None:
            return await self._by_unique_key(topic, msg_id)
        try:
            response = await self._call_at(
                address,
                RemotingCommand.request(
                    RequestCode.VIEW_MESSAGE_BY_ID,
                    ViewMessageRequestHeader(offset=offset, topic=topic),
                ),
            )
        except (ResponseError, TransportError):
            if topic is None:
                raise
            return await self._by_unique_key(topic, msg_id)
        for record in iter_records(response_body(response)):
            return MessageView.from_record(record, names.get(address, ""))
        raise ResponseError(ResponseCode.NO_MESSAGE, f"no message at offset {offset}")

    async def _by_unique_key(self, topic: str, msg_id: str) -> MessageView:
        found = await self.query_message(topic, msg_id, unique_key=True)
        if not found:
            raise ResponseError(
                ResponseCode.NO_MESSAGE, "query message by id finished, but no message."
            )
        return found[0]

    async def query_message(
        self,
        topic: str,
        key: str,
        *,
        max_num: int = 64,
        begin_ms: int = 0,
        end_ms: int = MAX_TIMESTAMP,
        unique_key: bool = False,
    ) -> list[MessageView]:
        """Messages of ``topic`` whose keys include ``key``, stored in ``[begin_ms, end_ms]``.

        QUERY_MESSAGE goes to each broker of the topic's route; the broker's index matches
        by hash, so the answers are filtered here on the exact key (Java does the same). With
        ``unique_key`` the key is a ``UNIQ_KEY`` (client message id) and only the earliest
        stored copy is returned.

        Returns:
            The matches, possibly none, in broker order.
        """
        route = await self.topic_route(topic)
        header = QueryMessageRequestHeader(
            topic=topic,
            key=key,
            max_num=max_num,
            begin_timestamp=begin_ms,
            end_timestamp=end_ms,
            unique_key_query=True if unique_key else None,
        )
        found: list[MessageView] = []
        for broker in sorted_brokers(route.broker_datas):
            addr = select_addr(broker)
            if addr is None:
                continue
            response = await self._pool.request(
                addr, RemotingCommand.request(RequestCode.QUERY_MESSAGE, header), self.timeout * 3
            )
            if response.code == ResponseCode.QUERY_NOT_FOUND:
                continue
            if response.code != ResponseCode.SUCCESS:
                raise ResponseError.for_code(response.code, response.remark)
            for record in iter_records(response.body or b""):
                view = MessageView.from_record(record, broker.broker_name)
                if unique_key:
                    if view.msg_id == key:
                        found.append(view)
                elif view.topic == topic and key in (view.keys or "").split(" "):
                    found.append(view)
        if unique_key and found:
            return [min(found, key=lambda m: m.store_timestamp)]
        return found

    async def message_track(self, message: MessageView) -> list[MessageTrack]:
        """What each consumer group of the message's topic did with it (Java's
        ``messageTrackDetail``): PULL for pull consumers, CONSUMED or NOT_CONSUME_YET for push
        consumers by their committed offset, CONSUME_BROADCASTING for broadcasting push
        consumers (their offsets are in each consumer's own file, so the broker cannot tell;
        Java 5.x), NOT_ONLINE for groups with no consumer."""
        tracks: list[MessageTrack] = []
        for group in await self.query_topic_consume_by_who(message.topic):
            try:
                connection = await self.consumer_connection(group)
            except RocketMQError as exc:
                tracks.append(_failed_track(group, exc))
                continue
            if connection.consume_type is ConsumeType.CONSUME_ACTIVELY:
                tracks.append(MessageTrack(group, TrackType.PULL))
                continue
            if connection.consume_type is not ConsumeType.CONSUME_PASSIVELY:
                tracks.append(MessageTrack(group, TrackType.UNKNOWN))
                continue
            if connection.message_model is MessageModel.BROADCASTING:
                tracks.append(MessageTrack(group, TrackType.CONSUME_BROADCASTING))
                continue
            try:
                consumed = await self._consumed(message, group)
            except RocketMQError as exc:
                tracks.append(_failed_track(group, exc))
                continue
            kind = TrackType.CONSUMED if consumed else TrackType.NOT_CONSUME_YET
            subscription = connection.subscription_table.get(message.topic)
            if consumed and subscription is not None:
                tags = set(subscription.tags_set)
                if tags and "*" not in tags and message.tags not in tags:
                    kind = TrackType.CONSUMED_BUT_FILTERED
            tracks.append(MessageTrack(group, kind))
        return tracks

    async def _consumed(self, message: MessageView, group: str) -> bool:
        stats = await self.consume_stats(group)
        for mq, wrapper in stats.offset_table.items():
            if (
                mq.topic == message.topic
                and mq.queue_id == message.queue.queue_id
                and mq.broker_name == message.queue.broker_name
            ):
                return wrapper.consumer_offset > message.queue_offset
        return False


def _failed_track(group: str, exc: RocketMQError) -> MessageTrack:
    """The track of a group whose connection or offset could not be read (Java's wording)."""
    if isinstance(exc, ResponseError):
        kind = (
            TrackType.NOT_ONLINE
            if exc.code == ResponseCode.CONSUMER_NOT_ONLINE
            else TrackType.UNKNOWN
        )
        return MessageTrack(group, kind, f"CODE:{exc.code} DESC:{exc.remark}")
    return MessageTrack(group, TrackType.UNKNOWN, str(exc))
