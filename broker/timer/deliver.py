"""Turning a parked timer message back into a message of its real topic, and spotting one that
was already delivered before a crash.

The delivered copy is a new commitlog record in ``REAL_TOPIC``/``REAL_QID`` (those two
properties removed, as Apache's ``TimerMessageStore.convertMessage``) carrying
``TIMER_ENQUEUE_MS`` (the store time of the parked record: the same on every replay, so it
identifies the parked copy) and ``TIMER_DEQUEUE_MS`` (when it was delivered).

Exactly once across a crash: the timer checkpoint lags the deliveries by up to
``timerFlushIntervalMs``, so after ``kill -9`` the slots since the checkpoint fire again. Any
message whose slot ended before the newest record of the commitlog at start (the *dedupe
horizon*) may have been delivered by the dead process; before delivering such a message the
service asks the store's index for a record of ``REAL_TOPIC`` keyed by its ``UNIQ_KEY`` with
the same ``TIMER_ENQUEUE_MS`` and skips it when there is one. With ``messageIndexEnable=false``
there is no index and delivery is at least once within that window.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.parked import unpark
from rocketmq_py.protocol.message import MessageConst, MessageRecord, decode_record

if TYPE_CHECKING:
    from broker.store import MessageStore

__all__ = ["already_delivered", "delivered_copy"]

MC = MessageConst
_QUERY_MAX = 64


def delivered_copy(parked: MessageRecord, now_ms: int) -> MessageRecord | None:
    """The record to store in the real topic for ``parked``; ``None`` without ``REAL_TOPIC``."""
    return unpark(
        parked,
        set_properties={
            MC.PROPERTY_TIMER_ENQUEUE_MS: str(parked.store_timestamp),
            MC.PROPERTY_TIMER_DEQUEUE_MS: str(now_ms),
            MC.PROPERTY_WAIT_STORE_MSG_OK: "false",
        },
    )


def already_delivered(store: MessageStore, parked: MessageRecord, slot_ms: int) -> bool:
    """Whether the real topic already holds the delivered copy of ``parked`` (index lookup)."""
    props = parked.properties
    topic = props.get(MC.PROPERTY_REAL_TOPIC)
    uniq = props.get(MC.PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX)
    if store.index is None or not topic or not uniq:
        return False
    enqueue_ms = str(parked.store_timestamp)
    # A copy is stored after its slot ended, so nothing stored before the slot can match.
    found = store.query_message(topic, uniq, _QUERY_MAX, slot_ms, 2**62)
    for raw in found.buffers:
        record, _ = decode_record(raw)
        p = record.properties
        if (
            record.topic == topic
            and p.get(MC.PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX) == uniq
            and p.get(MC.PROPERTY_TIMER_ENQUEUE_MS) == enqueue_ms
        ):
            return True
    return False
