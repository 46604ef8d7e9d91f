"""Messages parked in a system topic and brought back to their real topic.

Delay levels (``SCHEDULE_TOPIC_XXXX``), timers (``rmq_sys_wheel_timer``) and transactions
(``RMQ_SYS_TRANS_HALF_TOPIC``) all park a message the same way: its topic and queue are saved in
``REAL_TOPIC`` / ``REAL_QID`` and it is stored in the system topic. When it is due (or
committed) a new record with the same body, flags, born time and hosts is stored in the real
topic; :func:`unpark` builds that record.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from rocketmq_py.protocol.message import MessageConst, MessageRecord

__all__ = ["unpark"]

MC = MessageConst


def unpark(
    parked: MessageRecord,
    *,
    drop: Iterable[str] = (),
    set_properties: Mapping[str, str] | None = None,
    sys_flag: int | None = None,
    prepared_transaction_offset: int = 0,
    default_topic: str | None = None,
) -> MessageRecord | None:
    """The record for ``parked``'s real topic and queue, or ``None`` when it names no topic.

    Args:
        parked: the message as read back from the system topic.
        drop: properties to remove besides ``REAL_TOPIC`` / ``REAL_QID``.
        set_properties: properties to set on the copy.
        sys_flag: the copy's sysFlag (default: the parked one's).
        prepared_transaction_offset: the copy's prepared-transaction offset.
        default_topic: the topic to use when ``REAL_TOPIC`` is missing.
    """
    props = dict(parked.properties)
    topic = props.pop(MC.PROPERTY_REAL_TOPIC, None) or default_topic
    queue_id = props.pop(MC.PROPERTY_REAL_QUEUE_ID, "0")
    if not topic:
        return None
    for name in drop:
        props.pop(name, None)
    if set_properties:
        props.update(set_properties)
    return MessageRecord(
        topic=topic,
        body=parked.body,
        flag=parked.flag,
        properties=props,
        queue_id=int(queue_id) if queue_id.isdigit() else 0,
        sys_flag=parked.sys_flag if sys_flag is None else sys_flag,
        born_timestamp=parked.born_timestamp,
        born_host=parked.born_host,
        store_host=parked.store_host,
        reconsume_times=parked.reconsume_times,
        prepared_transaction_offset=prepared_transaction_offset,
    )
