"""SEND_MESSAGE (10), SEND_MESSAGE_V2 (310), SEND_BATCH_MESSAGE (320), CONSUMER_SEND_MSG_BACK (36).

The checks run in Apache's order (``AbstractSendMessageProcessor.msgCheck`` and
``SendMessageProcessor``): broker permission, topic name, reserved topics, topic lookup or
auto-creation, queue id, retry/DLQ routing, then the store. Puts are deferred: the response is
built at once but written only after the server's write barrier put the records in the page
cache (:meth:`broker.store.MessageStore.commit_deferred`). A send whose WAIT property is not
``false`` on a SYNC_FLUSH broker is answered only once its bytes are fsynced (group commit).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import random
from collections.abc import Awaitable
from typing import TYPE_CHECKING

from broker._server import Channel, Dispatcher
from broker.managers.topic_validator import (
    RETRY_GROUP_TOPIC_PREFIX,
    dlq_topic,
    retry_topic,
    validate_topic,
)
from broker.processors._common import FAQ_SUFFIX, UniqueKeys, parse_host, put_status_response
from broker.schedule import apply_delay_level
from broker.store import FlushDiskType, PutResult, PutStatus
from broker.timer import TIMER_PROPERTY_SET, TimerRefusal
from broker.transaction import to_half_message
from rocketmq_py.exceptions import ProtocolError
from rocketmq_py.protocol.bodies import TopicConfig
from rocketmq_py.protocol.codes import MQVersion, RequestCode, ResponseCode
from rocketmq_py.protocol.command import RemotingCommand
from rocketmq_py.protocol.headers.consumer import ConsumerSendMsgBackRequestHeader
from rocketmq_py.protocol.headers.send import (
    SendMessageRequestHeader,
    SendMessageRequestHeaderV2,
    SendMessageResponseHeader,
)
from rocketmq_py.protocol.message import (
    MessageConst,
    MessageRecord,
    MessageSysFlag,
    PermName,
    decode_batch,
    decode_properties,
    decode_record,
)

if TYPE_CHECKING:
    from broker.controller import BrokerController

__all__ = ["SendProcessor"]

log = logging.getLogger("broker.send")

MC = MessageConst
DLQ_NUMS_PER_GROUP = 1

SendResult = RemotingCommand | Awaitable[RemotingCommand]
# V2 carries the V1 fields under one-letter wire names but the same attribute names, so the
# processor reads either without converting (only bname/broker_name differ; neither is used).
SendHeader = SendMessageRequestHeader | SendMessageRequestHeaderV2
# Topic names repeat on every send; their validity never changes.
_validate_topic = functools.lru_cache(maxsize=4096)(validate_topic)


def _flushed_response(
    request: RemotingCommand, result: PutResult, fields: dict[str, str], flushed: bool
) -> RemotingCommand:
    """The answer to a SYNC_FLUSH send whose flush wait ended (``flushed``: in time)."""
    if result.lost:  # the deferred write failed: the message is not stored
        return request.make_response(ResponseCode.SYSTEM_ERROR, "UNKNOWN_ERROR")
    code = ResponseCode.SUCCESS if flushed else ResponseCode.FLUSH_DISK_TIMEOUT
    return request.make_response(code, ext_fields=fields)


class SendProcessor:
    """Stores what producers send."""

    def __init__(self, controller: BrokerController) -> None:
        self.c = controller
        self.unique_keys = UniqueKeys(controller.broker_ip)
        self._store_host = (controller.broker_ip, controller.listen_port)

    def install(self, dispatcher: Dispatcher) -> None:
        """Register the send codes."""
        dispatcher.register(
            (RequestCode.SEND_MESSAGE, RequestCode.SEND_MESSAGE_V2, RequestCode.SEND_BATCH_MESSAGE),
            self.send,
        )
        dispatcher.register(RequestCode.CONSUMER_SEND_MSG_BACK, self.send_back)

    # -- send -------------------------------------------------------------------------------

    def send(self, channel: Channel, request: RemotingCommand) -> SendResult:
        """Handle a single or batch send."""
        header: SendHeader
        if request.code == RequestCode.SEND_MESSAGE:
            header = request.read_header(SendMessageRequestHeader)
        else:
            header = request.read_header(SendMessageRequestHeaderV2)
        error = self._check(channel, request, header)
        if isinstance(error, RemotingCommand):
            return error
        topic_config, queue_id = error
        props = decode_properties(header.properties)
        filter_type = topic_config.topic_filter_type
        if header.batch:
            return self._send_batch(
                channel,
                request,
                header,
                batch_props=props,
                filter_type=filter_type,
                queue_id=queue_id,
            )
        return self._send_one(
            channel, request, header, props=props, filter_type=filter_type, queue_id=queue_id
        )

    def _check(
        self, channel: Channel, request: RemotingCommand, header: SendHeader
    ) -> RemotingCommand | tuple[TopicConfig, int]:
        c = self.c
        if not PermName.is_writeable(int(c.settings["brokerPermission"])):
            return request.make_response(
                ResponseCode.NO_PERMISSION,
                f"the broker[{c.broker_ip}] sending message is forbidden",
            )
        problem = _validate_topic(header.topic)
        if problem:
            return request.make_response(ResponseCode.SYSTEM_ERROR, problem)
        if c.topics.is_not_allowed_send_topic(header.topic):
            return request.make_response(
                ResponseCode.NO_PERMISSION,
                f"Sending message to topic[{header.topic}] is forbidden.",
            )
        topic_config = c.topics.select(header.topic)
        if topic_config is None:
            topic_config = c.topics.create_topic_in_send_message_method(
                header.topic,
                header.default_topic,
                channel.remote_address,
                header.default_topic_queue_nums,
                0,
            )
            if topic_config is None and header.topic.startswith(RETRY_GROUP_TOPIC_PREFIX):
                topic_config = c.topics.create_topic_in_send_back(
                    header.topic, 1, PermName.PERM_WRITE | PermName.PERM_READ, 0
                )
            if topic_config is None:
                return request.make_response(
                    ResponseCode.TOPIC_NOT_EXIST,
                    f"topic[{header.topic}] not exist, apply first please!{FAQ_SUFFIX}",
                )
        queue_id = header.queue_id
        queue_nums = max(topic_config.read_queue_nums, topic_config.write_queue_nums)
        if queue_id >= queue_nums:
            return request.make_response(
                ResponseCode.SYSTEM_ERROR,
                f"request queueId[{queue_id}] is illegal, {topic_config} Producer: "
                f"{channel.remote_address}",
            )
        if queue_id < 0:
            queue_id = random.randrange(max(topic_config.write_queue_nums, 1))
        return topic_config, queue_id

    def _base_sys_flag(self, sys_flag: int, filter_type: str) -> int:
        if filter_type == "MULTI_TAG":
            sys_flag |= MessageSysFlag.MULTI_TAGS_FLAG
        return sys_flag

    def _send_one(
        self,
        channel: Channel,
        request: RemotingCommand,
        header: SendHeader,
        *,
        props: dict[str, str],
        filter_type: str,
        queue_id: int,
    ) -> SendResult:
        c = self.c
        topic = header.topic
        reconsume_times = header.reconsume_times or 0
        if topic.startswith(RETRY_GROUP_TOPIC_PREFIX):
            routed = self._route_retry(request, header, reconsume_times)
            if isinstance(routed, RemotingCommand):
                return routed
            if routed is not None:
                topic, queue_id = routed
                props.pop(MC.PROPERTY_DELAY_TIME_LEVEL, None)
        prepared = props.get(MC.PROPERTY_TRANSACTION_PREPARED) == "true"
        if prepared and c.settings["rejectTransactionMessage"]:
            return request.make_response(
                ResponseCode.NO_PERMISSION,
                f"the broker[{c.broker_ip}] sending transaction message is forbidden",
            )
        if MC.PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX not in props:
            props[MC.PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX] = self.unique_keys.next_id(c.clock())
        props[MC.PROPERTY_CLUSTER] = c.cluster_name
        wait = props.get(MC.PROPERTY_WAIT_STORE_MSG_OK, "true") != "false"
        record = MessageRecord(
            topic=topic,
            body=request.body or b"",
            flag=header.flag,
            properties=props,
            queue_id=queue_id,
            sys_flag=self._base_sys_flag(header.sys_flag, filter_type),
            born_timestamp=header.born_timestamp,
            born_host=parse_host(channel.remote_address),
            store_host=self._store_host,
            reconsume_times=reconsume_times,
        )
        recall_handle = None
        if prepared:
            if not TIMER_PROPERTY_SET.isdisjoint(props):
                # Scheduled at commit (EndTransactionProcessor); refuse a bad schedule now,
                # while the producer can still hear about it. A trial on a copy: the half
                # message itself keeps its timer properties.
                trial = dataclasses.replace(record, properties=dict(props), raw_properties=None)
                timer = c.timer.redirect(trial)
                if isinstance(timer, TimerRefusal):
                    return request.make_response(timer.code, timer.remark)
            to_half_message(record)
        else:
            if not TIMER_PROPERTY_SET.isdisjoint(props):
                timer = c.timer.redirect(record)  # the delay level wins over TIMER_* (Apache)
                if isinstance(timer, TimerRefusal):
                    return request.make_response(timer.code, timer.remark)
                recall_handle = timer.recall_handle if timer is not None else None
            apply_delay_level(record, c.delay_levels)
        result = c.store.put_message(record, defer=True)
        return self._respond(request, result, wait, queue_id, recall_handle)

    def _route_retry(
        self, request: RemotingCommand, header: SendHeader, reconsume_times: int
    ) -> RemotingCommand | tuple[str, int] | None:
        """A send to ``%RETRY%group`` that has used up its retries goes to ``%DLQ%group``."""
        group = header.topic[len(RETRY_GROUP_TOPIC_PREFIX) :]
        config = self.c.groups.find_subscription_group_config(group)
        if config is None:
            return request.make_response(
                ResponseCode.SUBSCRIPTION_GROUP_NOT_EXIST,
                f"subscription group not exist, {group}{FAQ_SUFFIX}",
            )
        max_times = config.retry_max_times
        if request.version >= MQVersion.V3_4_9 and header.max_reconsume_times is not None:
            max_times = header.max_reconsume_times
        if reconsume_times <= max_times:
            return None
        dlq = dlq_topic(group)
        self.c.topics.create_topic_in_send_back(
            dlq, DLQ_NUMS_PER_GROUP, PermName.PERM_WRITE | PermName.PERM_READ, 0
        )
        return dlq, random.randrange(DLQ_NUMS_PER_GROUP)

    def _send_batch(
        self,
        channel: Channel,
        request: RemotingCommand,
        header: SendHeader,
        *,
        batch_props: dict[str, str],
        filter_type: str,
        queue_id: int,
    ) -> SendResult:
        c = self.c
        if header.topic.startswith(RETRY_GROUP_TOPIC_PREFIX):
            return request.make_response(
                ResponseCode.MESSAGE_ILLEGAL,
                f"batch request does not support retry group {header.topic}",
            )
        try:
            items = decode_batch(request.body or b"")
        except ProtocolError as exc:
            return request.make_response(ResponseCode.MESSAGE_ILLEGAL, f"bad batch body: {exc}")
        if not items:
            return request.make_response(
                ResponseCode.MESSAGE_ILLEGAL, "batch body holds no message"
            )
        born_host = parse_host(channel.remote_address)
        sys_flag = self._base_sys_flag(header.sys_flag, filter_type)
        if MessageSysFlag.get_transaction_value(sys_flag) != MessageSysFlag.TRANSACTION_NOT_TYPE:
            return request.make_response(
                ResponseCode.MESSAGE_ILLEGAL, "batch message does not support transaction"
            )
        wait = batch_props.get(MC.PROPERTY_WAIT_STORE_MSG_OK, "true") != "false"
        now = c.clock()
        records = []
        for item in items:
            props = item.properties  # decoded for this request alone: ours to change
            if props.get(MC.PROPERTY_DELAY_TIME_LEVEL, "0") not in ("", "0"):
                return request.make_response(
                    ResponseCode.MESSAGE_ILLEGAL, "batch message does not support delay level"
                )
            if MC.PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX not in props:
                props[MC.PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX] = self.unique_keys.next_id(now)
            # Like a 4.x broker, the batch-level properties (CLUSTER, WAIT) join each message's.
            for key, value in batch_props.items():
                props.setdefault(key, value)
            props[MC.PROPERTY_CLUSTER] = c.cluster_name
            records.append(
                MessageRecord(
                    topic=header.topic,
                    body=item.body,
                    flag=item.flag,
                    properties=props,
                    queue_id=queue_id,
                    sys_flag=sys_flag,
                    born_timestamp=header.born_timestamp,
                    born_host=born_host,
                    store_host=self._store_host,
                )
            )
        result = c.store.put_messages(records, defer=True)
        return self._respond(request, result, wait, queue_id)

    def _respond(
        self,
        request: RemotingCommand,
        result: PutResult,
        wait: bool,
        queue_id: int,
        recall_handle: str | None = None,
    ) -> SendResult:
        c = self.c
        if result.status is not PutStatus.PUT_OK:
            max_size = int(c.settings["maxMessageSize"])
            error = put_status_response(request, result.status.name, max_size)
            if error is not None:
                return error
        fields = SendMessageResponseHeader.stored_fields(
            result.msg_id,
            queue_id,
            result.queue_offset,
            str(c.settings["regionId"]),
            bool(c.settings["traceOn"]),
        )
        if recall_handle:
            fields["recallHandle"] = recall_handle
        if wait and c.store.config.flush_disk_type == FlushDiskType.SYNC_FLUSH:
            return self._respond_when_flushed(request, result, fields)
        return request.make_response(ext_fields=fields)

    def _respond_when_flushed(
        self, request: RemotingCommand, result: PutResult, fields: dict[str, str]
    ) -> SendResult:
        """The answer once the store fsynced the message (group commit): a future resolved
        by a callback on the store's flush future, not a task per send."""
        flushed = self.c.store.flushed(result)
        if isinstance(flushed, bool):
            return _flushed_response(request, result, fields, flushed)
        response: asyncio.Future[RemotingCommand] = flushed.get_loop().create_future()

        def settle(done: asyncio.Future[bool]) -> None:
            if response.done():  # the connection went away
                return
            if done.cancelled():
                response.cancel()
            else:
                response.set_result(_flushed_response(request, result, fields, done.result()))

        flushed.add_done_callback(settle)
        return response

    # -- send back --------------------------------------------------------------------------

    def send_back(self, channel: Channel, request: RemotingCommand) -> SendResult:
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
