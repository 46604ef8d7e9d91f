"""RECALL_MESSAGE (370): cancel a timer message before it is due (Apache 5.3
``RecallMessageProcessor``).

The checks and remarks follow Apache: SERVICE_NOT_AVAILABLE when the broker may not be written,
TOPIC_NOT_EXIST for an unknown topic, ILLEGAL_OPERATION for an undecodable handle, a handle of
another topic or broker, or a time that is past or beyond ``timerMaxDelaySec``. Then, where
Apache writes its marker blindly, this broker first looks the message up in its slot and says
why a recall cannot work: ILLEGAL_OPERATION ``"recall failed, the message was already
delivered"`` when its slot fired (or is firing), ``"recall failed, no pending timer message
..."`` when the slot holds no such message. A second recall of the same message succeeds again
without writing anything (a client may retry after a timeout).

The cancellation itself is Apache's: a recall marker, a timer message in the same slot with
``TIMER_DEL_UNIQKEY`` = the message's ``UNIQ_KEY``, stored in ``rmq_sys_wheel_timer`` and
linked into the wheel before the answer; when the slot fires the marker suppresses the original
and is itself never delivered. Markers live in the commitlog, so a recall survives restarts.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from broker._server import Channel, Dispatcher
from broker.managers.topic_validator import TIMER_TOPIC
from broker.processors._common import parse_host, put_status_response
from broker.timer.redirect import timer_slot
from rocketmq_py.protocol.codes import RequestCode, ResponseCode
from rocketmq_py.protocol.command import RemotingCommand
from rocketmq_py.protocol.headers.admin import RecallMessageRequestHeader
from rocketmq_py.protocol.message import MessageConst, MessageRecord, PermName
from rocketmq_py.protocol.recall_handle import RecallHandle

if TYPE_CHECKING:
    from broker.controller import BrokerController

__all__ = ["RECALL_TAG", "RecallProcessor"]

MC = MessageConst
RECALL_TAG = "_RECALL_TAG_"


class RecallProcessor:
    """Answers RECALL_MESSAGE."""

    def __init__(self, controller: BrokerController) -> None:
        self.c = controller

    def install(self, dispatcher: Dispatcher) -> None:
        """Register RECALL_MESSAGE."""
        dispatcher.register(RequestCode.RECALL_MESSAGE, self.recall)

    def _fail(self, request: RemotingCommand, code: int, remark: str) -> RemotingCommand:
        return request.make_response(code, remark, ext_fields=self._region())

    def _region(self) -> dict[str, str]:
        return {MC.PROPERTY_MSG_REGION: str(self.c.settings["regionId"])}

    def recall(self, channel: Channel, request: RemotingCommand) -> RemotingCommand:
        """Cancel the pending timer message the handle names."""
        c = self.c
        h = request.read_header(RecallMessageRequestHeader)
        timer = c.timer
        illegal = ResponseCode.ILLEGAL_OPERATION
        if not timer.enabled or not PermName.is_writeable(int(c.settings["brokerPermission"])):
            return self._fail(
                request,
                ResponseCode.SERVICE_NOT_AVAILABLE,
                "recall failed, broker service not available",
            )
        if c.topics.select(h.topic) is None:
            return self._fail(
                request,
                ResponseCode.TOPIC_NOT_EXIST,
                f"recall failed, the topic[{h.topic}] not exist",
            )
        try:
            handle = RecallHandle.decode(h.recall_handle)
        except ValueError as exc:
            return self._fail(request, ResponseCode.ILLEGAL_OPERATION, str(exc))
        if handle.topic != h.topic:
            return self._fail(
                request, ResponseCode.ILLEGAL_OPERATION, "recall failed, topic not match"
            )
        if handle.broker_name != c.broker_name:
            return self._fail(
                request,
                ResponseCode.ILLEGAL_OPERATION,
                "recall failed, broker service not available",
            )
        deliver_ms = handle.timestamp_ms
        now = c.clock()
        left = deliver_ms - now
        if deliver_ms < 0 or left >= timer.max_delay_sec * 1000 + timer.precision_ms:
            return self._fail(
                request, ResponseCode.ILLEGAL_OPERATION, "recall failed, timestamp invalid"
            )
        slot = timer_slot(deliver_ms, timer.precision_ms)
        state = timer.recall_state(h.topic, handle.message_id, slot)
        if state == "fired":
            return self._fail(
                request,
                illegal,
                f"recall failed, the message was already delivered (its deliver time "
                f"{slot + timer.precision_ms} has passed)",
            )
        if state == "unknown":
            return self._fail(
                request,
                illegal,
                f"recall failed, no pending timer message {handle.message_id} of topic "
                f"{h.topic} due at {slot + timer.precision_ms}",
            )
        if state == "pending":
            marker = self._marker(channel, h, handle, slot)
            result = c.store.put_message(marker)
            error = put_status_response(
                request, result.status.name, int(c.settings["maxMessageSize"])
            )
            if error is not None:
                return error
            timer.catch_up()  # linked before the answer: the slot cannot fire it any more
        return request.make_response(ext_fields={"msgId": handle.message_id, **self._region()})

    def _marker(
        self, channel: Channel, h: RecallMessageRequestHeader, handle: RecallHandle, slot: int
    ) -> MessageRecord:
        now = time.time_ns() // 1_000_000
        props = {
            MC.PROPERTY_TAGS: RECALL_TAG,
            MC.PROPERTY_TIMER_DEL_UNIQKEY: handle.message_id,
            MC.PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX: handle.message_id,
            MC.PROPERTY_TIMER_DELIVER_MS: handle.timestamp,
            MC.PROPERTY_TIMER_OUT_MS: str(slot),
            MC.PROPERTY_REAL_TOPIC: h.topic,
            MC.PROPERTY_REAL_QUEUE_ID: "0",
            MC.PROPERTY_WAIT_STORE_MSG_OK: "false",
        }
        if h.producer_group:
            props[MC.PROPERTY_PRODUCER_GROUP] = h.producer_group
        return MessageRecord(
            topic=TIMER_TOPIC,
            body=b"0",
            properties=props,
            queue_id=0,
            born_timestamp=now,
            born_host=parse_host(channel.remote_address),
            store_host=(self.c.broker_ip, self.c.listen_port),
        )
