"""``Retry``: a handler's explicit "deliver this again", and what a delay can honestly mean.

A failed message (a handler that raised, returned ``Retry(...)``/``False``, or a payload that
did not decode) is handed back to RocketMQ exactly as :class:`~rocketmq_py.AsyncPushConsumer`
does for any failure:

* **Clustering** (the default): the consumer sends it back (CONSUMER_SEND_MSG_BACK with delay
  level 0), the broker stores it in ``%RETRY%<group>`` at delay level ``3 + reconsume_times``
  (10 s, 30 s, 1 m, 2 m ... 2 h with the default ``messageDelayLevel``), and after
  ``max_reconsume_times`` failed redeliveries moves it to ``%DLQ%<group>``. Exact: the count,
  the retry topic, the DLQ; the delay is the broker's level table, timed by the broker.
* **Orderly**: the queue pauses ``suspend_time`` (1 s by default) and the same message is
  handed to the handler again in place; ``max_reconsume_times`` failures send it to the DLQ.
* **Broadcasting**: RocketMQ does not retry; the failure is logged and the message dropped.

``Retry(delay=d)`` asks for *at least* ``d`` seconds before the next delivery. The public
consumer API cannot choose the broker's delay level per message, so the application waits in
process for the part of ``d`` that the broker's own delay will not cover
(``d - level_delay(3 + reconsume_times)``, by the level table given to
:class:`~integrations.app.RocketMQApp`, Java's default unless told), and then hands the message
back as above. So: the next delivery is no earlier than ``d`` (when the table matches the
broker's), and later by up to one delay level. The in-process wait holds one of the group's
``concurrency`` slots and is cut short (the message handed back at once) when the application
shuts down; it is capped at :data:`MAX_LOCAL_WAIT` seconds.
"""

from __future__ import annotations

import math
from datetime import timedelta

from rocketmq_py import ConfigError

__all__ = [
    "DEFAULT_DELAY_LEVELS",
    "MAX_LOCAL_WAIT",
    "Retry",
    "level_delays",
    "local_wait",
]

DEFAULT_DELAY_LEVELS = "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h"
"""Apache RocketMQ's default ``messageDelayLevel`` (level ``n`` waits the ``n``-th item)."""

MAX_LOCAL_WAIT = 600.0
"""Longest in-process wait for ``Retry(delay=...)``, in seconds (well under the consumer's
15 minute ``consume_timeout``, past which a handler call counts as failed anyway)."""

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
#: The broker's first retry level is 3; later retries add one per reconsume (Java's rule).
_FIRST_RETRY_LEVEL = 3


class Retry(Exception):  # noqa: N818 - it reads as a verb at the raise site: raise Retry()
    """Raise (or return) from a handler to have the message delivered again.

    Args:
        delay: at least this long before the next delivery (seconds or a ``timedelta``); the
            broker's retry schedule when omitted. See the module documentation for how exact
            this is.
        reason: logged with the retry.
    """

    def __init__(self, delay: float | timedelta | None = None, reason: str = "") -> None:
        if isinstance(delay, timedelta):
            delay = delay.total_seconds()
        if delay is not None and (
            isinstance(delay, bool)
            or not isinstance(delay, (int, float))
            or not math.isfinite(delay)
            or delay < 0
        ):
            raise ConfigError("delay", delay, "must be a non-negative number of seconds")
        self.delay: float | None = None if delay is None else float(delay)
        self.reason = reason
        super().__init__(reason or (f"retry after {delay} s" if delay is not None else "retry"))


def level_delays(table: str) -> tuple[float, ...]:
    """Parse a ``messageDelayLevel`` string into seconds per level (index 0 is level 1).

    Raises:
        ConfigError: an item is not digits followed by one of ``s m h d``.
    """
    delays = []
    for item in table.split():
        unit = _UNITS.get(item[-1:])
        if unit is None or not item[:-1].isdigit():
            raise ConfigError("delay_levels", table, f"bad item {item!r} (expected e.g. 10s, 2m)")
        delays.append(int(item[:-1]) * unit)
    if not delays:
        raise ConfigError("delay_levels", table, "names no delay level")
    return tuple(delays)


def local_wait(
    requested: float,
    reconsume_times: int,
    *,
    delays: tuple[float, ...],
    orderly: bool,
    suspend_time: float,
) -> float:
    """Seconds to wait in process so the next delivery comes no earlier than ``requested``.

    Clustering: the broker adds level ``3 + reconsume_times`` (capped at the last level);
    orderly: the consumer adds ``suspend_time``.
    """
    if orderly:
        covered = suspend_time
    else:
        level = min(_FIRST_RETRY_LEVEL + reconsume_times, len(delays))
        covered = delays[level - 1]
    return min(max(0.0, requested - covered), MAX_LOCAL_WAIT)
