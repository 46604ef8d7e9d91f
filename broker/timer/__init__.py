"""5.x timer messages: arbitrary-delay delivery and recall (``rmq_sys_wheel_timer``).

* :mod:`~broker.timer.redirect` — the send path parks a message with ``TIMER_DELIVER_MS``,
  ``TIMER_DELAY_SEC`` or ``TIMER_DELAY_MS`` in the timer topic and answers a recall handle;
* :mod:`~broker.timer.files` — the on-disk index: timer log units linked into wheel slots;
* :mod:`~broker.timer.service` — enqueue, fire, checkpoint; :mod:`~broker.timer.checkpoint`
  and :mod:`~broker.timer.deliver` hold the recovery and exactly-once rules;
* :mod:`~broker.timer.recall` — RECALL_MESSAGE (370);
* :mod:`~broker.timer.metrics` — fired events for observers, due-lag statistics.
"""

from __future__ import annotations

from broker.managers.topic_validator import TIMER_TOPIC
from broker.timer.metrics import TimerFired, TimerObserver
from broker.timer.recall import RecallProcessor
from broker.timer.redirect import TIMER_PROPERTY_SET, TimerRedirect, TimerRefusal
from broker.timer.service import TimerMessageService

__all__ = [
    "TIMER_PROPERTY_SET",
    "TIMER_TOPIC",
    "RecallProcessor",
    "TimerFired",
    "TimerMessageService",
    "TimerObserver",
    "TimerRedirect",
    "TimerRefusal",
]
