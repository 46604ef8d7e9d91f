"""Observing the timer: fired events for callbacks (the OpenTelemetry hook) and lag stats.

Every delivery of a timer message produces a :class:`TimerFired` event; observers registered
with :meth:`TimerMetrics.add_observer` get each one on the broker's loop thread (an observer
that raises is logged and kept). The due lag is ``fired_ms - due_ms`` where ``due_ms`` is the
end of the message's slot (the earliest time it may be delivered). A fixed log-scale histogram
keeps p50/p99/max of the lag per progress interval without keeping samples.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["LagHistogram", "TimerFired", "TimerMetrics", "TimerObserver"]

log = logging.getLogger("broker.timer")


@dataclass(frozen=True, slots=True)
class TimerFired:
    """One timer message delivered to its real topic.

    Attributes:
        topic: the real topic.
        msg_id: the message's ``UNIQ_KEY``.
        due_ms: the end of its slot: the earliest time it may be delivered.
        fired_ms: when the broker stored the delivered copy.
        late: fired on arrival because its slot had already passed (e.g. after a restart).
    """

    topic: str
    msg_id: str
    due_ms: int
    fired_ms: int
    late: bool = False

    @property
    def lag_ms(self) -> int:
        """``fired_ms - due_ms`` (never negative)."""
        return max(self.fired_ms - self.due_ms, 0)


TimerObserver = Callable[[TimerFired], None]

# Bucket upper bounds in ms: 0, 1, 2, 5, 10, 20, 50 ... 1e7 (about 3 hours).
_BOUNDS = [0] + [m * 10**e for e in range(7) for m in (1, 2, 5)] + [10**7]


class LagHistogram:
    """Counts of lags in log-scale buckets; percentiles are bucket upper bounds."""

    def __init__(self) -> None:
        self.counts = [0] * (len(_BOUNDS) + 1)
        self.total = 0
        self.max_ms = 0

    def add(self, lag_ms: int) -> None:
        """Count one lag."""
        self.counts[bisect.bisect_left(_BOUNDS, lag_ms)] += 1
        self.total += 1
        self.max_ms = max(self.max_ms, lag_ms)

    def percentile(self, q: float) -> int:
        """The upper bound of the bucket holding the ``q`` quantile (0 < q <= 1)."""
        if not self.total:
            return 0
        want = q * self.total
        seen = 0
        for i, count in enumerate(self.counts):
            seen += count
            if seen >= want:
                return _BOUNDS[i] if i < len(_BOUNDS) else self.max_ms
        return self.max_ms


class TimerMetrics:
    """Counters, the lag histogram of the current interval, and the observers."""

    def __init__(self) -> None:
        self.enqueued = 0
        self.fired = 0
        self.recalled = 0
        self.dedup_skipped = 0
        self.lag = LagHistogram()
        self.last_lag = LagHistogram()
        """The histogram of the previous complete interval (shown by runtime info)."""
        self._observers: list[TimerObserver] = []

    def add_observer(self, observer: TimerObserver) -> None:
        """Call ``observer(event)`` for every delivered timer message."""
        self._observers.append(observer)

    def remove_observer(self, observer: TimerObserver) -> None:
        """Stop calling ``observer``."""
        self._observers.remove(observer)

    def fired_one(self, event: TimerFired) -> None:
        """Count a delivery and tell the observers."""
        self.fired += 1
        self.lag.add(event.lag_ms)
        for observer in self._observers:
            try:
                observer(event)
            except Exception:
                log.exception("timer observer %r failed", observer)

    def roll(self) -> LagHistogram:
        """End the interval: return its histogram and start a new one."""
        done, self.lag = self.lag, LagHistogram()
        self.last_lag = done
        return done
