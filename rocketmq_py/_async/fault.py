"""Latency-based fault avoidance for producers (Java's ``MQFaultStrategy``).

After every send the producer records how long the broker took; a slow answer (or a failure,
counted as 30 s) makes that broker "not available" for a while, and queue selection skips
unavailable brokers as long as another one is available. The steps are Java's:

===============  =====  =====  =====  ======  ======  ======  ======
latency >= (ms)  50     100    550    1000    2000    3000    15000
avoid for (ms)   0      0      30000  60000   120000  180000  600000
===============  =====  =====  =====  ======  ======  ======  ======
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from rocketmq_py.message import MessageQueueRef

__all__ = ["FaultTracker"]

_LATENCY_MAX_MS = (50, 100, 550, 1000, 2000, 3000, 15000)
_NOT_AVAILABLE_MS = (0, 0, 30000, 60000, 120000, 180000, 600000)
#: Latencies below this make no broker unavailable.
_FIRST_AVOIDED_MS = next(
    lat for lat, dur in zip(_LATENCY_MAX_MS, _NOT_AVAILABLE_MS, strict=True) if dur
)
#: A failed send counts as this latency (Java's isolation value).
FAILURE_LATENCY_MS = 30000


def _avoid_for(latency_ms: float) -> int:
    for limit, duration in zip(reversed(_LATENCY_MAX_MS), reversed(_NOT_AVAILABLE_MS), strict=True):
        if latency_ms >= limit:
            return duration
    return 0


class FaultTracker:
    """Which brokers to avoid, by broker name. Memory: one entry per broker name.

    Args:
        clock_ms: monotonic milliseconds (injectable for tests).
    """

    def __init__(self, clock_ms: Callable[[], float] | None = None) -> None:
        self._clock = clock_ms or (lambda: time.monotonic() * 1000)
        self._available_at: dict[str, float] = {}

    def record(self, broker_name: str, latency_ms: float, *, failed: bool = False) -> None:
        """Note the outcome of one send to ``broker_name``."""
        if not failed and latency_ms < _FIRST_AVOIDED_MS and not self._available_at:
            return  # the common case, once per send: nothing to note
        duration = _avoid_for(FAILURE_LATENCY_MS if failed else latency_ms)
        if duration:
            self._available_at[broker_name] = self._clock() + duration
        else:
            self._available_at.pop(broker_name, None)

    def is_available(self, broker_name: str) -> bool:
        """False while the broker is being avoided."""
        until = self._available_at.get(broker_name)
        return until is None or self._clock() >= until

    def choose(
        self, queues: Sequence[MessageQueueRef], start: int, avoid_broker: str | None = None
    ) -> MessageQueueRef:
        """Round robin from ``start``: the first queue on an available broker (and not on
        ``avoid_broker``, the one that just failed); else the queue whose broker recovers
        soonest."""
        n = len(queues)
        if not self._available_at:  # no broker is being avoided (the common case)
            first = queues[start % n]
            if first.broker_name != avoid_broker:
                return first
        ordered = [queues[(start + i) % n] for i in range(n)]
        for queue in ordered:
            if queue.broker_name != avoid_broker and self.is_available(queue.broker_name):
                return queue
        for queue in ordered:
            if self.is_available(queue.broker_name):
                return queue
        return min(ordered, key=lambda q: self._available_at.get(q.broker_name, 0.0))
