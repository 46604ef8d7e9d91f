"""Failed messages handed back to the broker (``protocol.md`` 8.4).

:class:`SendBack` holds the two requests a CLUSTERING push consumer uses for a message its
handler failed: CONSUMER_SEND_MSG_BACK (the broker stores a copy in ``%RETRY%<group>``, delayed,
or in ``%DLQ%<group>``), and Java's fallback when that request fails: re-sending the message to
``%RETRY%<group>`` as a new message, which the broker's send path delays or dead-letters the
same way. What to do when (and the trace hooks) is the consumers' business.
"""

from __future__ import annotations

import random

from rocketmq_py._async.client import AUTO_CREATE_TOPIC_KEY, ClientInstance
from rocketmq_py._async.offset_store import BrokerOffsets
from rocketmq_py.exceptions import ResponseError, RocketMQError, TopicNotExistError
from rocketmq_py.message import MessageQueueRef, MessageView
from rocketmq_py.protocol.codes import RequestCode, ResponseCode
from rocketmq_py.protocol.command import RemotingCommand
from rocketmq_py.protocol.headers.consumer import ConsumerSendMsgBackRequestHeader
from rocketmq_py.protocol.headers.send import SendMessageRequestHeaderV2
from rocketmq_py.protocol.message import (
    MessageConst,
    PermName,
    compress_body,
    encode_properties,
)
from rocketmq_py.protocol.topics import retry_topic

__all__ = ["CLIENT_INNER_PRODUCER", "SendBack"]

MC = MessageConst

#: Java's inner producer group, used for the fallback re-send of failed messages.
CLIENT_INNER_PRODUCER = "CLIENT_INNER_PRODUCER"
#: Bodies of at least this many bytes are compressed when re-sent (the producer's default).
_COMPRESS_OVER = 4096
#: Java's response codes that count as "stored" for a send.
_SEND_OK_CODES = frozenset(
    {
        ResponseCode.SUCCESS,
        ResponseCode.FLUSH_DISK_TIMEOUT,
        ResponseCode.FLUSH_SLAVE_TIMEOUT,
        ResponseCode.SLAVE_NOT_AVAILABLE,
    }
)


class SendBack:
    """Send-back requests of one consumer group.

    Args:
        client: routes and connections of the consumer.
        broker_offsets: finds a queue's master address.
        group: the consumer group.
        max_reconsume_times: sent with every request: past it the broker dead-letters.
        request_timeout: seconds per request.
    """

    def __init__(
        self,
        client: ClientInstance,
        broker_offsets: BrokerOffsets,
        group: str,
        *,
        max_reconsume_times: int,
        request_timeout: float,
    ) -> None:
        self.client = client
        self.broker_offsets = broker_offsets
        self.group = group
        self.max_reconsume_times = max_reconsume_times
        self.request_timeout = request_timeout

    async def request(self, message: MessageView, *, delay_level: int = 0) -> None:
        """CONSUMER_SEND_MSG_BACK to the broker the message came from.

        ``delay_level`` 0 lets the broker pick ``3 + reconsume_times`` (or the DLQ past
        ``max_reconsume_times``); -1 sends the message straight to ``%DLQ%<group>``.

        Raises:
            ResponseError: the broker refused.
            RocketMQError: the broker could not be reached.
        """
        header = ConsumerSendMsgBackRequestHeader(
            offset=message.commit_log_offset,
            group=self.group,
            delay_level=delay_level,
            origin_msg_id=message.msg_id,
            origin_topic=message.topic,
            unit_mode=False,
            max_reconsume_times=self.max_reconsume_times,
            bname=message.queue.broker_name,
        )
        address = await self.broker_offsets.address(message.queue)
        response = await self.client.pool.request(
            address,
            RemotingCommand.request(RequestCode.CONSUMER_SEND_MSG_BACK, header),
            self.request_timeout,
        )
        if response.code != ResponseCode.SUCCESS:
            raise ResponseError.for_code(response.code, response.remark)

    async def resend(self, message: MessageView) -> None:
        """Java's fallback: send the message to ``%RETRY%<group>`` as a new message.

        It goes with ``reconsume_times + 1``; the broker's send path then delays it
        (DELAY = 3 + reconsume_times) or, past ``max_reconsume_times``, moves it to
        ``%DLQ%<group>``. Each broker of the retry topic is tried, the message's own first.

        Raises:
            RocketMQError: no broker stored it (the last error).
        """
        topic = retry_topic(self.group)
        times = message.reconsume_times + 1
        props = dict(message.properties)
        props.pop(MC.PROPERTY_TRANSACTION_PREPARED, None)
        props[MC.PROPERTY_RETRY_TOPIC] = message.topic
        props[MC.PROPERTY_ORIGIN_MESSAGE_ID] = (
            props.get(MC.PROPERTY_ORIGIN_MESSAGE_ID) or message.msg_id
        )
        # Java puts both in the properties and the request header.
        props[MC.PROPERTY_RECONSUME_TIME] = str(times)
        props[MC.PROPERTY_MAX_RECONSUME_TIMES] = str(self.max_reconsume_times)
        props[MC.PROPERTY_DELAY_TIME_LEVEL] = str(3 + message.reconsume_times)
        body, sys_flag = message.body, 0
        if len(body) >= _COMPRESS_OVER:
            body, sys_flag = compress_body(body, sys_flag)
        error: RocketMQError = TopicNotExistError(17, f"no writable queue for {topic}")
        for broker_name, queue_nums in await self._targets(message):
            queue = MessageQueueRef(topic, broker_name, random.randrange(queue_nums))
            header = SendMessageRequestHeaderV2(
                producer_group=CLIENT_INNER_PRODUCER,
                topic=topic,
                default_topic=AUTO_CREATE_TOPIC_KEY,
                default_topic_queue_nums=4,
                queue_id=queue.queue_id,
                sys_flag=sys_flag,
                born_timestamp=message.born_timestamp,
                flag=message.flag,
                properties=encode_properties(props),
                reconsume_times=times,
                unit_mode=False,
                max_reconsume_times=self.max_reconsume_times,
                batch=False,
            )
            try:
                address = await self.broker_offsets.address(queue)
                response = await self.client.pool.request(
                    address,
                    RemotingCommand.request(RequestCode.SEND_MESSAGE_V2, header, body),
                    self.request_timeout,
                )
            except RocketMQError as exc:
                error = exc
                continue
            if response.code in _SEND_OK_CODES:
                return
            error = ResponseError.for_code(response.code, response.remark)
        raise error

    async def _targets(self, message: MessageView) -> list[tuple[str, int]]:
        """Brokers (and their queue counts) to re-send to: the message's own broker first."""
        targets: dict[str, int] = {}
        try:
            route = await self.client.route(retry_topic(self.group))
        except RocketMQError:
            route = None
        if route is not None:
            for data in route.queue_datas:
                if PermName.is_writeable(data.perm) and data.write_queue_nums > 0:
                    targets[data.broker_name] = data.write_queue_nums
        own = message.queue.broker_name
        ordered = [(own, targets.pop(own, 1))]
        ordered.extend(sorted(targets.items()))
        return ordered
