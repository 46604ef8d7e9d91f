"""END_TRANSACTION (37): commit or roll back a half message.

Apache's ``EndTransactionProcessor``, checks in its order:

1. a slave answers SLAVE_NOT_AVAILABLE;
2. UNKNOWN (0), or any value but COMMIT (8) / ROLLBACK (12), does nothing and gets no answer,
   even when sent as a normal request (the producer will be asked again by the check-back);
3. the half message is read at ``commitLogOffset``: none there (or not a half message) answers
   SYSTEM_ERROR "Find prepared transaction message failed";
4. a message with ``CHECK_IMMUNITY_TIME_IN_SECONDS`` whose immunity (at least
   ``transactionTimeOut``) is over may only be resolved by an answer to a check
   (``fromTransactionCheck``): others get ILLEGAL_OPERATION (604) and the check-back decides;
5. the request must match the message: producer group ("The producer group wrong"), half queue
   offset ("The transaction state table offset wrong"), commitlog offset ("The commit log offset
   wrong"), all SYSTEM_ERROR.

A commit stores the final message on its real topic (delay level honoured), then both outcomes
write an OP record so the check-back service knows the half message is resolved; a commit whose
final message could not be stored writes no OP record, so the transaction stays checkable.

Duplicates. The check-back re-appends an unresolved half message before each check, so one
transaction may have several half records, and a producer may commit through more than one of
them (its own late END_TRANSACTION and a check answer). Java stores a final message each time.
Here a commit first asks whether this transaction (its UNIQ_KEY) was already committed: a
bounded memory of recent commits answers at once, and for a half message that may have copies
(checked before, immune, or older than ``transactionTimeOut``) the index is asked for a
committed message with that key on the real topic (or the schedule topic for a delayed one),
which survives restarts. If one is found, no second final message is stored; the OP record is
still written. With ``messageIndexEnable=false`` only the memory protects, so a commit repeated
across a restart can still duplicate. A rollback after a commit (or the reverse) is not
policed: the first commit is visible and stays so, a later commit after a rollback is stored.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import TYPE_CHECKING

from broker._server import Channel, Dispatcher
from broker.parked import unpark
from broker.processors._common import put_status_response
from broker.schedule import SCHEDULE_TOPIC, apply_delay_level
from broker.timer import TIMER_PROPERTY_SET, TimerRefusal
from broker.transaction import HALF_TOPIC, immunity_ms, op_record
from rocketmq_py.protocol.codes import RequestCode, ResponseCode
from rocketmq_py.protocol.command import RemotingCommand
from rocketmq_py.protocol.headers.transaction import EndTransactionRequestHeader
from rocketmq_py.protocol.message import MessageConst, MessageRecord, MessageSysFlag, decode_record

if TYPE_CHECKING:
    from broker.controller import BrokerController

__all__ = ["RECENT_COMMITS", "EndTransactionProcessor"]

log = logging.getLogger("broker.transaction")
MC = MessageConst
_COMMIT = MessageSysFlag.TRANSACTION_COMMIT_TYPE
_ROLLBACK = MessageSysFlag.TRANSACTION_ROLLBACK_TYPE
#: How many committed transaction ids are remembered for duplicate suppression.
RECENT_COMMITS = 65_536
_NOT_FOUND = "Find prepared transaction message failed"
_MAY_HAVE_COPIES = (
    MC.PROPERTY_TRANSACTION_CHECK_TIMES,
    MC.PROPERTY_TRANSACTION_PREPARED_QUEUE_OFFSET,
    MC.PROPERTY_CHECK_IMMUNITY_TIME_IN_SECONDS,
)


class EndTransactionProcessor:
    """Resolves half messages."""

    def __init__(self, controller: BrokerController) -> None:
        self.c = controller
        self._recent: OrderedDict[str, None] = OrderedDict()

    def install(self, dispatcher: Dispatcher) -> None:
        """Register END_TRANSACTION."""
        dispatcher.register(RequestCode.END_TRANSACTION, self.end_transaction)

    def end_transaction(self, channel: Channel, request: RemotingCommand) -> RemotingCommand | None:
        """Commit (8), roll back (12) or ignore (0) a half message."""
        c = self.c
        h = request.read_header(EndTransactionRequestHeader)
        if c.broker_id != 0 or str(c.settings["brokerRole"]) == "SLAVE":
            return request.make_response(
                ResponseCode.SLAVE_NOT_AVAILABLE,
                "Can't commit or rollback a transaction on a slave.",
            )
        checked = bool(h.from_transaction_check)
        if h.commit_or_rollback not in (_COMMIT, _ROLLBACK):
            log.warning(
                "producer %s leaves transaction %s pending%s (commitOrRollback %d); remark: %s",
                channel.remote_address,
                h.msg_id,
                " (answering a check)" if checked else "",
                h.commit_or_rollback,
                request.remark,
            )
            return None
        if checked or h.commit_or_rollback == _ROLLBACK:
            log.info(
                "producer %s %s transaction %s%s",
                channel.remote_address,
                "commits" if h.commit_or_rollback == _COMMIT else "rolls back",
                h.msg_id,
                " (answering a check)" if checked else "",
            )
        half = self._find_half(h.commit_log_offset)
        if half is None:
            return request.make_response(ResponseCode.SYSTEM_ERROR, _NOT_FOUND)
        if not checked and self._immunity_over(half):
            log.warning(
                "transaction %s: commit/rollback from the producer after its check immunity; "
                "left to the check-back",
                h.msg_id,
            )
            return request.make_response(
                ResponseCode.ILLEGAL_OPERATION,
                "the half message's CHECK_IMMUNITY_TIME_IN_SECONDS is over: only an answer to "
                "a transaction check may end it now",
            )
        problem = _mismatch(half, h)
        if problem:
            return request.make_response(ResponseCode.SYSTEM_ERROR, problem)
        if h.commit_or_rollback == _COMMIT:
            error = self._commit(request, half, h)
            if error is not None:
                return error
        op = c.store.put_message(op_record(half, (c.broker_ip, c.listen_port), c.clock()))
        if not op.ok:
            log.error(
                "writing the OP record of half message %d failed: %s",
                half.queue_offset,
                op.status.name,
            )
        return request.make_response()

    # -- checks -----------------------------------------------------------------------------

    def _find_half(self, commit_log_offset: int) -> MessageRecord | None:
        if commit_log_offset < 0:
            return None
        raw = self.c.store.look_message_by_offset(commit_log_offset)
        if raw is None:
            return None
        half, _ = decode_record(raw)
        return half if half.topic == HALF_TOPIC else None

    def _immunity_over(self, half: MessageRecord) -> bool:
        """Java ``rejectCommitOrRollback`` for a request that does not answer a check."""
        text = half.properties.get(MC.PROPERTY_CHECK_IMMUNITY_TIME_IN_SECONDS)
        if not text:
            return False
        timeout = int(self.c.settings["transactionTimeOut"])
        return self.c.clock() - half.born_timestamp > immunity_ms(text, timeout)

    # -- commit -----------------------------------------------------------------------------

    def _commit(
        self, request: RemotingCommand, half: MessageRecord, h: EndTransactionRequestHeader
    ) -> RemotingCommand | None:
        """Store the final message; the error response if that failed."""
        c = self.c
        unique = half.properties.get(MC.PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX)
        if unique and self._already_committed(half, unique, bool(h.from_transaction_check)):
            c.transaction_check.stats.duplicate_commits += 1
            log.info(
                "transaction %s is already committed; half record %d resolved without a "
                "second final message",
                unique,
                half.queue_offset,
            )
            return None
        final = _final_message(half, h.commit_log_offset)
        # A scheduled transactional message is scheduled now, from the commit (Apache 5.x);
        # its schedule was validated when the half message was sent.
        if not TIMER_PROPERTY_SET.isdisjoint(final.properties):
            timer = c.timer.redirect(final)
            if isinstance(timer, TimerRefusal):  # the broker's limits changed since
                return request.make_response(timer.code, timer.remark)
        apply_delay_level(final, c.delay_levels)
        result = c.store.put_message(final)
        error = put_status_response(request, result.status.name, int(c.settings["maxMessageSize"]))
        if error is not None:
            return error
        if unique:
            self._remember(unique)
        return None

    def _remember(self, unique: str) -> None:
        self._recent[unique] = None
        self._recent.move_to_end(unique)
        while len(self._recent) > RECENT_COMMITS:
            self._recent.popitem(last=False)

    def _already_committed(self, half: MessageRecord, unique: str, checked: bool) -> bool:
        if unique in self._recent:
            return True
        c = self.c
        young = c.clock() - half.born_timestamp <= int(c.settings["transactionTimeOut"])
        if young and not checked and not any(k in half.properties for k in _MAY_HAVE_COPIES):
            return False  # no check-back copy can exist yet: skip the index look-up
        topics = [half.properties.get(MC.PROPERTY_REAL_TOPIC, "")]
        if half.properties.get(MC.PROPERTY_DELAY_TIME_LEVEL, "0") not in ("", "0"):
            topics.append(SCHEDULE_TOPIC)
        for topic in topics:
            found = c.store.query_message(topic, unique, 32, 0, c.clock())
            for raw in found.buffers:
                record, _ = decode_record(raw)
                if (
                    record.unique_key == unique
                    and MessageSysFlag.get_transaction_value(record.sys_flag) == _COMMIT
                ):
                    self._remember(unique)
                    return True
        return False


def _mismatch(half: MessageRecord, h: EndTransactionRequestHeader) -> str | None:
    """Java ``checkPrepareMessage``: the remark when the request does not name ``half``."""
    if half.properties.get(MC.PROPERTY_PRODUCER_GROUP) != h.producer_group:
        return "The producer group wrong"
    if half.queue_offset != h.tran_state_table_offset:
        return "The transaction state table offset wrong"
    if half.commit_log_offset != h.commit_log_offset:
        return "The commit log offset wrong"
    return None


def _final_message(half: MessageRecord, commit_log_offset: int) -> MessageRecord:
    """The committed message (Java ``endMessageTransaction``): real topic and queue back,
    ``TRAN_MSG`` dropped, transaction bits COMMIT, the half message's offset recorded."""
    final = unpark(
        half,
        drop=(MC.PROPERTY_TRANSACTION_PREPARED,),
        set_properties={MC.PROPERTY_WAIT_STORE_MSG_OK: "false"},
        sys_flag=MessageSysFlag.reset_transaction_value(half.sys_flag, _COMMIT),
        prepared_transaction_offset=commit_log_offset,
        default_topic=half.topic,
    )
    assert final is not None  # default_topic always names one
    return final
