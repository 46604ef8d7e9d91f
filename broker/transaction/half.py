"""How a prepared message is parked, and how its resolution is recorded.

A PREPARED send (``TRAN_MSG=true``, sysFlag 4) is stored in ``RMQ_SYS_TRANS_HALF_TOPIC`` queue 0
with its real topic and queue in ``REAL_TOPIC`` / ``REAL_QID``, its transaction bits reset and
``__transactionId__`` = its UNIQ_KEY, so consumers never see it. A commit or rollback writes an
OP record to ``RMQ_SYS_TRANS_OP_HALF_TOPIC`` (tag ``d``, body = ``"<half queue offset>,"``), the
durable fact the check-back service later reads to know which half messages are resolved.
"""

from __future__ import annotations

from broker.managers.topic_validator import RMQ_SYS_TRANS_HALF_TOPIC as HALF_TOPIC
from broker.managers.topic_validator import RMQ_SYS_TRANS_OP_HALF_TOPIC as OP_TOPIC
from rocketmq_py.protocol.message import MessageConst, MessageRecord, MessageSysFlag

__all__ = ["HALF_TOPIC", "OP_TOPIC", "REMOVE_TAG", "op_record", "to_half_message"]

REMOVE_TAG = "d"
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
