"""END_TRANSACTION (37): commit or roll back a half message.

Apache's ``EndTransactionProcessor``: the half message is found by its commitlog offset and
checked against the request (producer group, half queue offset, physical offset); a commit
stores the final message on its real topic (delay level honoured) and both outcomes write an OP
record so the check-back service knows the transaction is resolved. UNKNOWN (0) does nothing and,
like Apache, gets no answer even when sent as a normal request.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from broker._server import Channel, Dispatcher
from broker.processors._common import put_status_response
from broker.schedule import apply_delay_level
from broker.transaction import HALF_TOPIC, op_record
from rocketmq_py.protocol.codes import RequestCode, ResponseCode
from rocketmq_py.protocol.command import RemotingCommand
from rocketmq_py.protocol.headers.transaction import EndTransactionRequestHeader
from rocketmq_py.protocol.message import MessageConst, MessageRecord, MessageSysFlag, decode_record

if TYPE_CHECKING:
    from broker.controller import BrokerController

__all__ = ["EndTransactionProcessor"]

log = logging.getLogger("broker.transaction")
MC = MessageConst
_COMMIT = MessageSysFlag.TRANSACTION_COMMIT_TYPE
_ROLLBACK = MessageSysFlag.TRANSACTION_ROLLBACK_TYPE


class EndTransactionProcessor:
    """Resolves half messages."""

    def __init__(self, controller: BrokerController) -> None:
        self.c = controller

    def install(self, dispatcher: Dispatcher) -> None:
        """Register END_TRANSACTION."""
        dispatcher.register(RequestCode.END_TRANSACTION, self.end_transaction)

    def end_transaction(self, channel: Channel, request: RemotingCommand) -> RemotingCommand | None:
        """Commit (8), roll back (12) or ignore (0) a half message."""
        c = self.c
        h = request.read_header(EndTransactionRequestHeader)
        if c.broker_id != 0:
            return request.make_response(
                ResponseCode.SLAVE_NOT_AVAILABLE,
                "Can't commit or rollback a transaction on a slave.",
            )
        if h.commit_or_rollback not in (_COMMIT, _ROLLBACK):
            return None
        raw = c.store.look_message_by_offset(h.commit_log_offset)
        if raw is None:
            return request.make_response(
                ResponseCode.SYSTEM_ERROR, "Find prepared transaction message failed"
            )
        half, _ = decode_record(raw)
        problem = self._check(half, h)
        if problem:
            return request.make_response(ResponseCode.SYSTEM_ERROR, problem)
        if h.commit_or_rollback == _COMMIT:
            final = self._final_message(half, h)
            apply_delay_level(final, c.delay_levels)
            result = c.store.put_message(final)
            error = put_status_response(
                request, result.status.name, int(c.settings["maxMessageSize"])
            )
            if error is not None:
                return error
        op = c.store.put_message(op_record(half, (c.broker_ip, c.listen_port), c.clock()))
        if op.status.name != "PUT_OK":
            log.error(
                "writing the OP record of half message %d failed: %s",
                half.queue_offset,
                op.status.name,
            )
        return request.make_response()

    @staticmethod
    def _check(half: MessageRecord, h: EndTransactionRequestHeader) -> str | None:
        if half.topic != HALF_TOPIC:
            return "Find prepared transaction message failed"
        if half.properties.get(MC.PROPERTY_PRODUCER_GROUP) != h.producer_group:
            return "The producer group wrong"
        if half.queue_offset != h.tran_state_table_offset:
            return "The transaction state table offset wrong"
        if half.commit_log_offset != h.commit_log_offset:
            return "The commit log offset wrong"
        return None

    def _final_message(self, half: MessageRecord, h: EndTransactionRequestHeader) -> MessageRecord:
        props = dict(half.properties)
        topic = props.pop(MC.PROPERTY_REAL_TOPIC, half.topic)
        queue_id = props.pop(MC.PROPERTY_REAL_QUEUE_ID, "0")
        props.pop(MC.PROPERTY_TRANSACTION_PREPARED, None)
        props[MC.PROPERTY_WAIT_STORE_MSG_OK] = "false"
        return MessageRecord(
            topic=topic,
            body=half.body,
            flag=half.flag,
            properties=props,
            queue_id=int(queue_id) if queue_id.isdigit() else 0,
            sys_flag=MessageSysFlag.reset_transaction_value(half.sys_flag, _COMMIT),
            born_timestamp=half.born_timestamp,
            born_host=half.born_host,
            store_host=half.store_host,
            reconsume_times=half.reconsume_times,
            prepared_transaction_offset=h.commit_log_offset,
        )
