"""One RocketMQApp with a subscriber of every kind: normal, orderly, broadcasting and delayed.

``test_app_kinds.py`` runs this very ``app`` object twice with the same publishes: against a
real name server and broker, and in memory under ``TestBroker``, and compares what the
handlers were called with. The handlers record their calls in :data:`calls` (and the wall
time of each reminder in :data:`arrivals`) so the real run can be observed from outside.
"""

from __future__ import annotations

import time
from typing import Any

from integrations.app import RocketMQApp

ORDERS = "KindsOrders"
STEPS = "KindsSteps"
NEWS = "KindsNews"
REMINDERS = "KindsReminders"

BILLING = "kinds-billing"
#: Billing's retries before a failing order goes to %DLQ%kinds-billing.
BILLING_RETRIES = 1

app = RocketMQApp(producer_group="kinds-producer")

#: ``(handler, payload)`` per call, retries included, in call order.
calls: list[tuple[str, Any]] = []
#: ``time.time()`` when each reminder arrived, by its text.
arrivals: dict[str, float] = {}


@app.subscriber(ORDERS, group=BILLING, max_reconsume_times=BILLING_RETRIES, consume_from="first")
async def bill(order: dict[str, Any]) -> None:
    """Normal (clustering, concurrent) subscriber; a ``poison`` order always fails."""
    calls.append(("bill", order))
    if order.get("poison"):
        raise ValueError(f"cannot bill order {order['id']}")


@app.subscriber(STEPS, group="kinds-steps", orderly=True, consume_from="first")
async def step(item: dict[str, Any]) -> None:
    """Orderly subscriber: the steps of one key arrive in the order they were published."""
    calls.append(("step", item))


@app.subscriber(NEWS, group="kinds-news", broadcasting=True, consume_from="first")
def news(text: str) -> None:
    """Broadcasting subscriber (sync, so it runs in a worker thread)."""
    calls.append(("news", text))


@app.subscriber(REMINDERS, group="kinds-reminders", consume_from="first")
async def remind(text: str) -> None:
    """Subscriber of a topic that gets timer and delay-level messages."""
    arrivals[text] = time.time()
    calls.append(("remind", text))
