"""The send-path half of timer messages: park a message in ``rmq_sys_wheel_timer``.

Apache ``HookUtils.transformTimerMessage``: a message with ``TIMER_DELIVER_MS``,
``TIMER_DELAY_SEC`` or ``TIMER_DELAY_MS`` (and no delay level, which wins and drops the timer
properties) gets its deliver time rounded to the wheel's precision, saved in ``TIMER_OUT_MS``,
its real topic and queue saved in ``REAL_TOPIC``/``REAL_QID``, and goes to queue 0 of the timer
topic. A deliver time that is not in the future leaves the message where it was: it is
delivered at once. A deliver time further ahead than ``timerMaxDelaySec`` is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

from broker.managers.topic_validator import RETRY_GROUP_TOPIC_PREFIX, TIMER_TOPIC
from rocketmq_py.protocol.codes import ResponseCode
from rocketmq_py.protocol.message import MessageConst, MessageRecord
from rocketmq_py.protocol.recall_handle import RecallHandle

__all__ = [
    "TIMER_PROPERTIES",
    "TIMER_PROPERTY_SET",
    "TimerRedirect",
    "TimerRefusal",
    "redirect_timer_message",
    "timer_slot",
]

MC = MessageConst
TIMER_PROPERTIES = (
    MC.PROPERTY_TIMER_DELIVER_MS,
    MC.PROPERTY_TIMER_DELAY_SEC,
    MC.PROPERTY_TIMER_DELAY_MS,
)
#: For ``TIMER_PROPERTY_SET.isdisjoint(properties)``: does a message ask for a timer at all?
TIMER_PROPERTY_SET = frozenset(TIMER_PROPERTIES)


@dataclass(frozen=True, slots=True)
class TimerRefusal:
    """Why a timer message is not accepted: the send's answer."""

    remark: str
    code: int = ResponseCode.MESSAGE_ILLEGAL


@dataclass(frozen=True, slots=True)
class TimerRedirect:
    """A message now parked in the timer topic; ``recall_handle`` is ``None`` for retry
    topics (Apache gives those none)."""

    slot_ms: int
    recall_handle: str | None


def timer_slot(deliver_ms: int, precision_ms: int) -> int:
    """The wheel slot of ``deliver_ms``: rounded down to the precision, and an exact multiple
    one slot earlier (Apache's rule). Slot ``s`` covers ``(s, s + precision]`` and fires at
    its end, so a message never arrives before its deliver time."""
    if deliver_ms % precision_ms == 0:
        return deliver_ms - precision_ms
    return deliver_ms // precision_ms * precision_ms


def _deliver_ms(props: dict[str, str], now_ms: int) -> int | TimerRefusal:
    for key, scale, relative in (
        (MC.PROPERTY_TIMER_DELAY_SEC, 1000, True),
        (MC.PROPERTY_TIMER_DELAY_MS, 1, True),
        (MC.PROPERTY_TIMER_DELIVER_MS, 1, False),
    ):
        text = props.get(key)
        if text is None:
            continue
        try:
            value = int(text)
        except ValueError:
            return TimerRefusal(f"timer message illegal: {key}={text!r} is not an integer")
        return now_ms + value * scale if relative else value
    raise AssertionError("no timer property")  # pragma: no cover - callers check first


def redirect_timer_message(
    record: MessageRecord,
    now_ms: int,
    *,
    precision_ms: int,
    max_delay_sec: int,
    broker_name: str,
) -> TimerRedirect | TimerRefusal | None:
    """Redirect ``record`` (in place) when it is a timer message.

    Returns:
        ``None`` when the record is not (or no longer) a timer message, a
        :class:`TimerRefusal` when it must be refused, else a :class:`TimerRedirect`.
    """
    props = record.properties
    if all(key not in props for key in TIMER_PROPERTIES):
        return None
    level = props.get(MC.PROPERTY_DELAY_TIME_LEVEL, "")
    if level.lstrip("-").isdigit() and int(level) > 0:
        for key in TIMER_PROPERTIES:  # the delay level wins, as in Apache
            props.pop(key, None)
        record.raw_properties = None
        return None
    if MC.PROPERTY_TIMER_OUT_MS in props:
        return TimerRefusal("timer message illegal: TIMER_OUT_MS is set by the broker only")
    deliver = _deliver_ms(props, now_ms)
    if isinstance(deliver, TimerRefusal):
        return deliver
    if deliver <= now_ms:
        return None  # due already: stored in its own topic, consumers see it at once
    if deliver - now_ms > max_delay_sec * 1000:
        return TimerRefusal(
            f"timer message illegal: deliver time {deliver} is {deliver - now_ms} ms ahead, "
            f"more than the max delay {max_delay_sec * 1000} ms (timerMaxDelaySec="
            f"{max_delay_sec})"
        )
    slot = timer_slot(deliver, precision_ms)
    props[MC.PROPERTY_TIMER_OUT_MS] = str(slot)
    props[MC.PROPERTY_REAL_TOPIC] = record.topic
    props[MC.PROPERTY_REAL_QUEUE_ID] = str(record.queue_id)
    record.raw_properties = None
    real_topic = record.topic
    record.topic = TIMER_TOPIC
    record.queue_id = 0
    if real_topic.startswith(RETRY_GROUP_TOPIC_PREFIX):
        return TimerRedirect(slot, None)
    handle = RecallHandle(
        real_topic,
        broker_name,
        str(slot + 1),
        props.get(MC.PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX, ""),
    )
    return TimerRedirect(slot, handle.encode())
