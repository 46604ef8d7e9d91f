"""CONSUMER_SEND_MSG_BACK (36): a consumer failed a message; retry it later or dead-letter it.

Apache's ``SendMessageProcessor.asyncConsumerSendMsgBack``: the message is copied from the
commitlog to the group's ``%RETRY%`` topic with a delay level (3 + reconsume times unless the
consumer asked for one), or to its ``%DLQ%`` topic once it used up its retries.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from broker._server import Channel, Dispatcher
from broker.managers.topic_validator import dlq_topic, retry_topic
from broker.processors._common import DLQ_NUMS_PER_GROUP, FAQ_SUFFIX, put_status_response
from broker.schedule import apply_delay_level
from rocketmq_py.protocol.codes import MQVersion, RequestCode, ResponseCode
from rocketmq_py.protocol.command import RemotingCommand
from rocketmq_py.protocol.headers.consumer import ConsumerSendMsgBackRequestHeader
from rocketmq_py.protocol.message import MessageConst, MessageRecord, PermName, decode_record

if TYPE_CHECKING:
    from broker.controller import BrokerController

__all__ = ["SendBackProcessor"]

MC = MessageConst


class SendBackProcessor:
    """Takes back the messages consumers failed."""

    def __init__(self, controller: BrokerController) -> None:
        self.c = controller
        self._store_host = (controller.broker_ip, controller.listen_port)

    def install(self, dispatcher: Dispatcher) -> None:
        """Register CONSUMER_SEND_MSG_BACK."""
        dispatcher.register(RequestCode.CONSUMER_SEND_MSG_BACK, self.send_back)

    def send_back(self, channel: Channel, request: RemotingCommand) -> RemotingCommand:
        """CONSUMER_SEND_MSG_BACK: a consumer failed a message; retry it later or dead-letter it."""
        c = self.c
        h = request.read_header(ConsumerSendMsgBackRequestHeader)
        config = c.groups.find_subscription_group_config(h.group)
        if config is None:
            return request.make_response(
                ResponseCode.SUBSCRIPTION_GROUP_NOT_EXIST,
                f"subscription group not exist, {h.group}{FAQ_SUFFIX}",
            )
        if not PermName.is_writeable(int(c.settings["brokerPermission"])):
            return request.make_response(
                ResponseCode.NO_PERMISSION,
                f"the broker[{c.broker_ip}] sending message is forbidden",
            )
        if config.retry_queue_nums <= 0:
            return request.make_response()
        raw = c.store.look_message_by_offset(h.offset)
        if raw is None:
            return request.make_response(
                ResponseCode.SYSTEM_ERROR, f"look message by offset failed, {h.offset}"
            )
        original, _ = decode_record(raw)
        props = dict(original.properties)
        props.setdefault(MC.PROPERTY_RETRY_TOPIC, original.topic)
        props[MC.PROPERTY_WAIT_STORE_MSG_OK] = "false"
        max_times = config.retry_max_times
        if request.version >= MQVersion.V3_4_9 and h.max_reconsume_times is not None:
            max_times = h.max_reconsume_times
        delay_level = h.delay_level
        if original.reconsume_times >= max_times or delay_level < 0:
            topic = dlq_topic(h.group)
            queue_nums = DLQ_NUMS_PER_GROUP
            props.pop(MC.PROPERTY_DELAY_TIME_LEVEL, None)
        else:
            topic = retry_topic(h.group)
            queue_nums = config.retry_queue_nums
            if delay_level == 0:
                delay_level = 3 + original.reconsume_times
            props[MC.PROPERTY_DELAY_TIME_LEVEL] = str(delay_level)
        topic_config = c.topics.create_topic_in_send_back(
            topic, queue_nums, PermName.PERM_WRITE | PermName.PERM_READ, 0
        )
        if not PermName.is_writeable(topic_config.perm):
            return request.make_response(
                ResponseCode.NO_PERMISSION, f"the topic[{topic}] sending message is forbidden"
            )
        props.setdefault(MC.PROPERTY_ORIGIN_MESSAGE_ID, h.origin_msg_id or original.offset_msg_id)
        record = MessageRecord(
            topic=topic,
            body=original.body,
            flag=original.flag,
            properties=props,
            queue_id=random.randrange(max(queue_nums, 1)),
            sys_flag=original.sys_flag,
            born_timestamp=original.born_timestamp,
            born_host=original.born_host,
            store_host=self._store_host,
            reconsume_times=original.reconsume_times + 1,
        )
        apply_delay_level(record, c.delay_levels)
        result = c.store.put_message(record, defer=True)
        error = put_status_response(request, result.status.name, int(c.settings["maxMessageSize"]))
        return error if error is not None else request.make_response()
