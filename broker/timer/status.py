"""What the timer shows: runtime-info keys (``mqadmin brokerStatus`` / ``timerStatus``) and the
periodic progress log line."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import anyio

from broker.managers.topic_validator import TIMER_TOPIC

if TYPE_CHECKING:
    from broker.timer.service import TimerMessageService

__all__ = ["progress_loop", "runtime_info"]

log = logging.getLogger("broker.timer")


async def progress_loop(timer: TimerMessageService) -> None:
    """Every ``timerProgressLogIntervalMs``: rates, the lag histogram, a log line."""
    interval = timer.progress_interval_ms / 1000
    m = timer.metrics
    last = (m.enqueued, m.fired, time.monotonic())
    while True:
        await anyio.sleep(interval)
        now = time.monotonic()
        elapsed = max(now - last[2], 1e-3)
        timer.rates = ((m.enqueued - last[0]) / elapsed, (m.fired - last[1]) / elapsed)
        last = (m.enqueued, m.fired, now)
        lag = m.roll()
        if lag.total or timer.pending:
            log.info(
                "timer: %d pending, enqueue %.1f/s, fire %.1f/s, due lag p50 %d ms "
                "p99 %d ms max %d ms, %d recalled, %d dedupe-skipped",
                sum(timer.pending.values()),
                timer.rates[0],
                timer.rates[1],
                lag.percentile(0.5),
                lag.percentile(0.99),
                lag.max_ms,
                m.recalled,
                m.dedup_skipped,
            )


def runtime_info(timer: TimerMessageService) -> dict[str, str]:
    """Apache's ``timer*`` keys with real values, plus pending counts per topic
    (``timerPendingByTopic`` = ``topic:n;topic:n``), totals and the last interval's due lag."""
    if not timer.enabled:
        return {"timerWheelEnable": "false"}
    now = timer.c.clock()
    queue_max = timer.c.store.get_max_offset_in_queue(TIMER_TOPIC, 0)
    m = timer.metrics
    lag = m.last_lag
    return {
        "timerWheelEnable": "true",
        "timerReadBehind": str(max(0, now - timer.fire_time - timer.precision_ms)),
        "timerOffsetBehind": str(max(0, queue_max - timer.queue_offset)),
        "timerEnqueueTps": f"{timer.rates[0]:.1f}",
        "timerDequeueTps": f"{timer.rates[1]:.1f}",
        "timerPendingTotal": str(sum(timer.pending.values())),
        "timerPendingByTopic": ";".join(f"{t}:{n}" for t, n in sorted(timer.pending.items())),
        "timerFiredTotal": str(m.fired),
        "timerRecalledTotal": str(m.recalled),
        "timerDedupSkipped": str(m.dedup_skipped),
        "timerDueLagP50Ms": str(lag.percentile(0.5)),
        "timerDueLagP99Ms": str(lag.percentile(0.99)),
        "timerDueLagMaxMs": str(lag.max_ms),
        "timerDiskBytes": str(timer.timer_log.disk_bytes() + timer.wheel.disk_bytes()),
    }
