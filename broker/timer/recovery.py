"""Making the timer files agree with their checkpoint and the commitlog at start.

Two outcomes (see :mod:`broker.timer.checkpoint` for the checkpoint's fields):

* **roll back** — the usual case, after a clean stop or ``kill -9``: units past the
  checkpoint's ``logEnd`` (written after the last checkpoint, or half-written when the process
  died) are unlinked from their slots and erased; the enqueue loop re-reads the timer topic from
  ``queueOffset`` and links them again.
* **rebuild** — the timer files cannot be trusted (no checkpoint while the timer topic has
  entries, another precision or max delay, a checkpoint ahead of the commitlog or of the timer
  log): both files are wiped and the whole timer topic is read again. Entries the old
  checkpoint says already fired are skipped; the rest fire when due, and any whose slot passed
  are delivered at once unless the dedupe check finds them delivered already
  (:mod:`broker.timer.deliver`).
"""

from __future__ import annotations

import logging

from broker.timer.checkpoint import TimerCheckpoint
from broker.timer.files import UNIT_SIZE, TimerLog, TimerWheel

__all__ = ["rebuild_reason", "roll_back"]

log = logging.getLogger("broker.timer")


def rebuild_reason(
    cp: TimerCheckpoint | None,
    wanted: TimerCheckpoint,
    wheel_fits: bool,
    timer_log: TimerLog,
    queue_max: int,
) -> str | None:
    """Why the timer index must be rebuilt from the timer topic, or ``None`` when the files
    can be rolled back to ``cp``.

    Args:
        cp: the checkpoint on disk, if any.
        wanted: the configuration now (its ``precision_ms`` and ``slots``).
        wheel_fits: whether the wheel file has the size ``wanted`` needs.
        timer_log: the loaded timer log.
        queue_max: the timer topic's queue max offset.
    """
    start = timer_log.min_position
    if cp is None:
        if timer_log.physical_end(start) > start or queue_max > 0:
            return "no timer checkpoint"
        return None
    if cp.precision_ms != wanted.precision_ms or cp.slots != wanted.slots or not wheel_fits:
        return "timerPrecisionMs or timerMaxDelaySec changed"
    if cp.queue_offset > queue_max:
        return "the timer checkpoint is ahead of the commitlog"
    if cp.log_end > start:
        last = timer_log.read(cp.log_end - UNIT_SIZE)
        if last is None or last.size == 0:
            return "the timer log is shorter than its checkpoint"
    elif cp.log_end < start:
        return "the timer log lost the units the checkpoint names"
    return None


def roll_back(timer_log: TimerLog, wheel: TimerWheel, position: int) -> int:
    """Unlink and erase the units from ``position`` on; return how many there were."""
    end = timer_log.physical_end(position)
    if end > position:
        seen: set[int] = set()
        for pos in range(position, end, UNIT_SIZE):
            unit = timer_log.read(pos)
            if unit is not None and unit.slot_ms not in seen:
                seen.add(unit.slot_ms)
                wheel.unlink_from(unit.slot_ms, timer_log, position)
        timer_log.zero(position, end)
        log.info(
            "timer log rolled back %d unit(s) past the checkpoint", (end - position) // UNIT_SIZE
        )
    timer_log.end = position
    return (end - position) // UNIT_SIZE
