"""How a prepared message is parked, and how its resolution is recorded.

A PREPARED send (``TRAN_MSG=true``, sysFlag 4) is stored in ``RMQ_SYS_TRANS_HALF_TOPIC`` queue 0
with its real topic and queue in ``REAL_TOPIC`` / ``REAL_QID``, its transaction bits reset and
``__transactionId__`` = its UNIQ_KEY, so consumers never see it. A commit or rollback writes an
OP record to ``RMQ_SYS_TRANS_OP_HALF_TOPIC`` (tag ``d``, body = ``"<half queue offset>,"``), the
durable fact the check-back service later reads to know which half messages are resolved.

The check-back service re-appends an unresolved half message before each check (a *copy*: same
born time and properties, ``TRANSACTION_CHECK_TIMES`` counted up) and, after too many checks,
stores it in ``TRANS_CHECK_MAX_TIME_TOPIC``; the record builders for both live here too.
"""

from __future__ import annotations

import logging

from broker.managers.topic_validator import RMQ_SYS_TRANS_CHECK_MAX_TIME_TOPIC as CHECK_MAX_TOPIC
from broker.managers.topic_validator import RMQ_SYS_TRANS_HALF_TOPIC as HALF_TOPIC
from broker.managers.topic_validator import RMQ_SYS_TRANS_OP_HALF_TOPIC as OP_TOPIC
from rocketmq_py.protocol.message import MessageConst, MessageRecord, MessageSysFlag

__all__ = [
    "CHECK_GROUP",
    "CHECK_MAX_TOPIC",
    "HALF_TOPIC",
    "OP_TOPIC",
    "REMOVE_TAG",
    "check_times",
    "discard_record",
    "immunity_ms",
    "op_record",
    "parse_op_offsets",
    "renew_half",
    "to_half_message",
]

log = logging.getLogger("broker.transaction")

REMOVE_TAG = "d"
#: The system consumer group whose offsets on the half and OP queues are the check progress
#: (Java's ``MixAll.CID_SYS_RMQ_TRANS``; the value really is spelt this way).
CHECK_GROUP = "CID_RMQ_SYS_TRANS"
MC = MessageConst


def to_half_message(record: MessageRecord) -> None:
    """Park ``record`` (a PREPARED message) in the half topic, in place."""
    props = record.properties
    props[MC.PROPERTY_REAL_TOPIC] = record.topic
    props[MC.PROPERTY_REAL_QUEUE_ID] = str(record.queue_id)
    unique = props.get(MC.PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX)
    if unique:
        props[MC.PROPERTY_TRANSACTION_ID] = unique
    record.raw_properties = None
    record.sys_flag = MessageSysFlag.reset_transaction_value(
        record.sys_flag, MessageSysFlag.TRANSACTION_NOT_TYPE
    )
    record.topic = HALF_TOPIC
    record.queue_id = 0


def op_record(half: MessageRecord, store_host: tuple[str, int], now_ms: int) -> MessageRecord:
    """The OP record that marks ``half`` (as read back from the store) resolved."""
    return MessageRecord(
        topic=OP_TOPIC,
        body=f"{half.queue_offset},".encode(),
        properties={MC.PROPERTY_TAGS: REMOVE_TAG, MC.PROPERTY_WAIT_STORE_MSG_OK: "false"},
        queue_id=half.queue_id,
        born_timestamp=now_ms,
        born_host=store_host,
        store_host=store_host,
    )


def parse_op_offsets(body: bytes) -> list[int]:
    """The half queue offsets an OP body lists (``"17,18,"``; Apache 5.x batches several).

    A part that is not a number is logged and skipped: one bad OP record must not stop the
    check-back service.
    """
    offsets = []
    for raw in body.decode("ascii", "replace").split(","):
        part = raw.strip()
        if not part:
            continue
        if part.isdigit():
            offsets.append(int(part))
        else:
            log.error("OP record body part %r is not a half queue offset; ignored", part)
    return offsets


def check_times(half: MessageRecord) -> int | None:
    """``TRANSACTION_CHECK_TIMES`` of a half message: ``None`` if never checked, -1 if bad
    (Java's ``getInt`` answers -1 for text that is not a number)."""
    text = half.properties.get(MC.PROPERTY_TRANSACTION_CHECK_TIMES)
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        return -1


def immunity_ms(text: str | None, transaction_timeout_ms: int) -> int:
    """How long after its birth a half message is left alone (Java
    ``TransactionalMessageUtil.getImmunityTime``): ``CHECK_IMMUNITY_TIME_IN_SECONDS`` in ms,
    never less than ``transactionTimeOut``; bad or missing text means the timeout."""
    try:
        value = int(text or "") * 1000
    except ValueError:
        value = 0
    return max(value, transaction_timeout_ms)


def renew_half(half: MessageRecord) -> MessageRecord:
    """A copy of ``half`` to append again to the half queue (Java ``renewHalfMessageInner``).

    Born time and host, properties (with whatever the caller changed, e.g. the check count),
    flag and sysFlag are kept; the store gives it a new queue and commitlog offset.
    """
    props = dict(half.properties)
    props[MC.PROPERTY_WAIT_STORE_MSG_OK] = "false"
    return MessageRecord(
        topic=half.topic,
        body=half.body,
        flag=half.flag,
        properties=props,
        queue_id=half.queue_id,
        sys_flag=half.sys_flag,
        born_timestamp=half.born_timestamp,
        born_host=half.born_host,
        store_host=half.store_host,
        reconsume_times=half.reconsume_times,
    )


def discard_record(half: MessageRecord) -> MessageRecord:
    """``half`` as a normal message of ``TRANS_CHECK_MAX_TIME_TOPIC`` queue 0 (Java
    ``DefaultTransactionalMessageCheckListener.toMessageExtBrokerInner``): properties, and so
    ``REAL_TOPIC`` and the producer group, are kept for whoever inspects it."""
    record = renew_half(half)
    record.topic = CHECK_MAX_TOPIC
    record.queue_id = 0
    return record
