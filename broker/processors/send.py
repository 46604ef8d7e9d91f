"""SEND_MESSAGE (10), SEND_MESSAGE_V2 (310) and SEND_BATCH_MESSAGE (320).

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
from typing import TYPE_CHECKING, Final

from broker._server import Channel, Dispatcher
from broker.managers.topic_validator import (
    RETRY_GROUP_TOPIC_PREFIX,
    dlq_topic,
    is_not_allowed_send_topic,
    not_allowed_send_remark,
    validate_topic,
)
from broker.processors._common import (
    DLQ_NUMS_PER_GROUP,
    FAQ_SUFFIX,
    UniqueKeys,
    parse_host,
    put_status_response,
)
from broker.processors._stored_props import canonical_bytes, canonical_text, encoded_pairs
from broker.schedule import apply_delay_level
from broker.store import PutResult, PutStatus
from broker.timer import TIMER_PROPERTY_SET, TimerRefusal
from broker.transaction import to_half_message
from rocketmq_py.exceptions import ProtocolError
from rocketmq_py.protocol.bodies import TopicConfig
from rocketmq_py.protocol.codes import MQVersion, RequestCode, ResponseCode
from rocketmq_py.protocol.command import RemotingCommand
from rocketmq_py.protocol.headers.send import (
    SendMessageRequestHeader,
    SendMessageRequestHeaderV2,
)
from rocketmq_py.protocol.message import (
    MessageConst,
    MessageRecord,
    MessageSysFlag,
    PermName,
    decode_batch,
    decode_properties,
)

if TYPE_CHECKING:
    from broker.controller import BrokerController

__all__ = ["SendProcessor"]

log = logging.getLogger("broker.send")

MC = MessageConst

SendResult = RemotingCommand | Awaitable[RemotingCommand]
# V2 carries the V1 fields under one-letter wire names but the same attribute names, so the
# processor reads either without converting (only bname/broker_name differ; neither is used).
SendHeader = SendMessageRequestHeader | SendMessageRequestHeaderV2
# Properties whose presence sends a message down a path that rewrites its properties
# (delay levels, timers, transactions) or changes one in place (CLUSTER): the store then
# encodes the dict instead of taking the producer's text.
_PLAIN_KEYS: Final = frozenset(
    (
        MC.PROPERTY_CLUSTER,
        MC.PROPERTY_DELAY_TIME_LEVEL,
        MC.PROPERTY_TRANSACTION_PREPARED,
        *TIMER_PROPERTY_SET,
    )
)
_UNIQ_KEY: Final = MC.PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX
# Enum members read on every send, as plain module constants.
_SEND_MESSAGE: Final = int(RequestCode.SEND_MESSAGE)
_PUT_OK: Final = PutStatus.PUT_OK


@functools.lru_cache(maxsize=4096)  # topic names repeat on every send; these never change
def _topic_refusal(topic: str) -> tuple[int, str] | None:
    """The answer to a send to a topic that is invalid or closed to producers, else None."""
    problem = validate_topic(topic)
    if problem:
        return ResponseCode.SYSTEM_ERROR, problem
    if is_not_allowed_send_topic(topic):
        return ResponseCode.NO_PERMISSION, not_allowed_send_remark(topic)
    return None


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
        self._settings = controller.settings.values
        # "\x02CLUSTER\x01<name>", appended to every stored message's properties.
        self._cluster_pair = encoded_pairs({MC.PROPERTY_CLUSTER: controller.cluster_name})

    def install(self, dispatcher: Dispatcher) -> None:
        """Register the send codes."""
        dispatcher.register(
            (RequestCode.SEND_MESSAGE, RequestCode.SEND_MESSAGE_V2, RequestCode.SEND_BATCH_MESSAGE),
            self.send,
        )

    # -- send -------------------------------------------------------------------------------

    def send(self, channel: Channel, request: RemotingCommand) -> SendResult:
        """Handle a single or batch send."""
        header: SendHeader
        if request.code == _SEND_MESSAGE:
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
        if not int(self._settings["brokerPermission"]) & PermName.PERM_WRITE:
            return request.make_response(
                ResponseCode.NO_PERMISSION,
                f"the broker[{c.broker_ip}] sending message is forbidden",
            )
        refusal = _topic_refusal(header.topic)
        if refusal is not None:
            return request.make_response(*refusal)
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
        read_nums, write_nums = topic_config.read_queue_nums, topic_config.write_queue_nums
        queue_nums = read_nums if read_nums > write_nums else write_nums
        if queue_id >= queue_nums:
            return request.make_response(
                ResponseCode.SYSTEM_ERROR,
                f"request queueId[{queue_id}] is illegal, {topic_config} Producer: "
                f"{channel.remote_address}",
            )
        if queue_id < 0:
            queue_id = random.randrange(max(topic_config.write_queue_nums, 1))
        return topic_config, queue_id

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
        # A plain message (no delay level, timer, transaction or CLUSTER property) skips the
        # paths that rewrite properties, and its stored properties are the producer's text
        # plus what is appended below (else the store encodes the dict: the same bytes).
        cluster = self._cluster_pair
        text = (
            canonical_text(header.properties, props)
            if cluster is not None and _PLAIN_KEYS.isdisjoint(props)
            else None
        )
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
        if _UNIQ_KEY not in props:
            uniq = props[_UNIQ_KEY] = self.unique_keys.next_id(c.clock())
            if text is not None:
                text = f"{text}\x02{_UNIQ_KEY}\x01{uniq}" if text else f"{_UNIQ_KEY}\x01{uniq}"
        props[MC.PROPERTY_CLUSTER] = c.cluster_name
        wait = props.get(MC.PROPERTY_WAIT_STORE_MSG_OK, "true") != "false"
        sys_flag = header.sys_flag
        if filter_type == "MULTI_TAG":
            sys_flag |= MessageSysFlag.MULTI_TAGS_FLAG
        # Positional (the fields in order, zeros for what the store fills): one per send.
        record = MessageRecord(
            topic,
            request.body or b"",
            header.flag,
            props,
            queue_id,
            0,  # queue_offset
            0,  # commit_log_offset
            sys_flag,
            header.born_timestamp,
            parse_host(channel.remote_address),
            0,  # store_timestamp
            self._store_host,
            reconsume_times,
        )
        if text is not None and cluster is not None:  # plain: no timer, half message, delay
            try:
                encoded = (text + cluster if text else cluster[1:]).encode()
            except UnicodeEncodeError:
                encoded = None  # the store refuses it, as it always did
            result = c.store.put_message(record, defer=True, encoded_properties=encoded)
            return self._respond(request, result, wait, queue_id)
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
        sys_flag = header.sys_flag
        if filter_type == "MULTI_TAG":
            sys_flag |= MessageSysFlag.MULTI_TAGS_FLAG
        if MessageSysFlag.get_transaction_value(sys_flag) != MessageSysFlag.TRANSACTION_NOT_TYPE:
            return request.make_response(
                ResponseCode.MESSAGE_ILLEGAL, "batch message does not support transaction"
            )
        wait = batch_props.get(MC.PROPERTY_WAIT_STORE_MSG_OK, "true") != "false"
        now = c.clock()
        records = []
        # What the batch-level properties add to an item that has none of them, as a dict
        # and as stored text (None: each item's dict is encoded by the store).
        joined, suffix = self._batch_suffix(batch_props)
        joined_keys = joined.keys()
        encoded: list[bytes | None] = []
        topic, born_timestamp, store_host = header.topic, header.born_timestamp, self._store_host
        for item in items:
            props = item.properties  # decoded for this request alone: ours to change
            if props.get(MC.PROPERTY_DELAY_TIME_LEVEL, "0") not in ("", "0"):
                return request.make_response(
                    ResponseCode.MESSAGE_ILLEGAL, "batch message does not support delay level"
                )
            raw = None
            if suffix is not None and joined_keys.isdisjoint(props):
                raw = canonical_bytes(item.raw_properties, props)
            if _UNIQ_KEY not in props:
                uniq = props[_UNIQ_KEY] = self.unique_keys.next_id(now)
                if raw is not None:
                    pair = f"{_UNIQ_KEY}\x01{uniq}".encode()
                    raw = raw + b"\x02" + pair if raw else pair
            if raw is not None and suffix is not None:
                props.update(joined)  # the same as the loop below when no key is shared
                encoded.append(raw + suffix if raw else suffix[1:])
            else:
                # Like a 4.x broker, the batch-level properties (CLUSTER, WAIT) join each
                # message's.
                for key, value in batch_props.items():
                    props.setdefault(key, value)
                props[MC.PROPERTY_CLUSTER] = c.cluster_name
                encoded.append(None)
            records.append(  # positional, zeros for what the store fills (as in _send_one)
                MessageRecord(
                    topic,
                    item.body,
                    item.flag,
                    props,
                    queue_id,
                    0,
                    0,
                    sys_flag,
                    born_timestamp,
                    born_host,
                    0,
                    store_host,
                )
            )
        result = c.store.put_messages(records, defer=True, encoded_properties=encoded)
        return self._respond(request, result, wait, queue_id)

    def _batch_suffix(self, batch_props: dict[str, str]) -> tuple[dict[str, str], bytes | None]:
        """The properties a batch request's header adds to each of its messages (its own
        ones, CLUSTER set to ours), and their stored text ``\x02name\x01value...`` (None
        when they cannot simply be appended)."""
        joined = dict(batch_props)
        joined[MC.PROPERTY_CLUSTER] = self.c.cluster_name
        if _UNIQ_KEY in joined:  # a generated UNIQ_KEY would precede it
            return joined, None
        text = encoded_pairs(joined)
        return joined, None if not text else text.encode()

    def _respond(
        self,
        request: RemotingCommand,
        result: PutResult,
        wait: bool,
        queue_id: int,
        recall_handle: str | None = None,
    ) -> SendResult:
        c = self.c
        if result.status is not _PUT_OK:
            max_size = int(c.settings["maxMessageSize"])
            error = put_status_response(request, result.status.name, max_size)
            if error is not None:
                return error
        settings = self._settings  # the live values (brokers change some at run time)
        fields = {  # SendMessageResponseHeader.stored_fields, inlined: one per send
            "msgId": result.msg_id,
            "queueId": str(queue_id),
            "queueOffset": str(result.queue_offset),
            "MSG_REGION": str(settings["regionId"]),
            "TRACE_ON": "true" if settings["traceOn"] else "false",
        }
        if recall_handle:
            fields["recallHandle"] = recall_handle
        if wait and c.store.sync_flush:
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
