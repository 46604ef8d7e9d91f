"""``TimerMessageService``: the broker's timer wheel (5.x timer messages).

Three loops on the broker's event loop:

* **enqueue** reads queue 0 of ``rmq_sys_wheel_timer`` from ``queue_offset``, looks each parked
  record up in the commitlog and links a unit for it into its slot (:mod:`broker.timer.files`);
  a record whose slot already fired (it arrived late, e.g. while catching up after a restart)
  is delivered at once instead;
* **fire** waits for the end of slot ``fire_time``, walks the slot's units oldest first,
  collects the ``UNIQ_KEY`` s that recall markers in the slot cancel, delivers the others to
  their real topic as new records, and moves to the next slot; ``fire_done`` counts the units
  of the current slot already handled, so a checkpoint taken mid-slot resumes exactly;
* **checkpoint** every ``timerFlushIntervalMs`` snapshots the progress, fsyncs the timer files
  and writes :class:`~broker.timer.checkpoint.TimerCheckpoint` from a worker thread, then
  deletes timer-log segments whose units have all fired.

Memory does not grow with pending timers: the files hold them; in memory are the progress
numbers, the pending count per topic and, while a slot fires, 8 bytes per unit of that slot.
Recovery and the exactly-once rules are described in :mod:`broker.timer.checkpoint` and
:mod:`broker.timer.deliver`.
"""

from __future__ import annotations

import logging
import math
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import anyio
import anyio.abc
import anyio.to_thread

from broker.managers.topic_validator import TIMER_TOPIC
from broker.store import PutStatus
from broker.timer.checkpoint import TimerCheckpoint
from broker.timer.deliver import already_delivered, delivered_copy
from broker.timer.files import TimerLog, TimerUnit, TimerWheel
from broker.timer.metrics import TimerFired, TimerMetrics
from broker.timer.recovery import rebuild_reason, roll_back
from broker.timer.redirect import TimerRedirect, TimerRefusal, redirect_timer_message
from broker.timer.status import progress_loop, runtime_info
from rocketmq_py.protocol.codes import ResponseCode
from rocketmq_py.protocol.message import MessageConst, MessageRecord, decode_record

if TYPE_CHECKING:
    from broker.controller import BrokerController

__all__ = ["RecallState", "TimerMessageService", "key_hash"]

log = logging.getLogger("broker.timer")

MC = MessageConst
RecallState = Literal["pending", "recalled", "fired", "unknown"]
_ENQUEUE_BATCH = 1024
_FIRE_CHUNK = 256
_EMPTY_SLOTS_PER_YIELD = 4096
_MAX_SLEEP_S = 0.2
"""The fire loop re-reads the clock at least this often (a test clock may jump)."""


def key_hash(key: str) -> int:
    """The unit's hash of a ``UNIQ_KEY``."""
    return zlib.crc32(key.encode("utf-8"))


class TimerMessageService:
    """Stores timer messages on the wheel and delivers them when due.

    Args:
        controller: the broker (settings, clock, store).
        store_root: where ``timerwheel`` and ``timerlog/`` live.
        checkpoint_path: the checkpoint JSON file.
    """

    def __init__(
        self, controller: BrokerController, store_root: Path, checkpoint_path: Path
    ) -> None:
        s = controller.settings
        self.c = controller
        self.enabled = bool(s["timerWheelEnable"])
        self.precision_ms = int(s["timerPrecisionMs"])
        self.max_delay_sec = int(s["timerMaxDelaySec"])
        self.flush_interval_ms = int(s["timerFlushIntervalMs"])
        self.progress_interval_ms = int(s["timerProgressLogIntervalMs"])
        # Twice the longest delay: a slot is reused only long after its messages fired.
        self.slots = 2 * math.ceil(self.max_delay_sec * 1000 / self.precision_ms) + 2
        self.timer_log = TimerLog(str(store_root / "timerlog"))
        self.wheel = TimerWheel(str(store_root / "timerwheel"), self.slots, self.precision_ms)
        self.checkpoint_path = checkpoint_path
        self.metrics = TimerMetrics()
        self.queue_offset = 0
        self.fire_time = 0
        self.fire_done = 0
        self.pending: dict[str, int] = {}
        self.dedup_horizon = 0
        """Slots ending at or before this may have fired in the previous run (see deliver)."""
        self._firing = False
        self._rebuild_floor: tuple[int, int] | None = None
        self._arrived: anyio.Event | None = None
        self._loaded = False
        self._segment_max: dict[str, int] = {}
        self.rates = (0.0, 0.0)
        """Enqueued and fired per second over the last progress interval."""

    # -- send path --------------------------------------------------------------------------

    def redirect(self, record: MessageRecord) -> TimerRedirect | TimerRefusal | None:
        """Park ``record`` in the timer topic if it is a timer message (see ``redirect``)."""
        if not self.enabled:
            props = record.properties
            if any(
                k in props
                for k in (
                    MC.PROPERTY_TIMER_DELIVER_MS,
                    MC.PROPERTY_TIMER_DELAY_SEC,
                    MC.PROPERTY_TIMER_DELAY_MS,
                )
            ) and not props.get(MC.PROPERTY_DELAY_TIME_LEVEL):
                return TimerRefusal(
                    "accurate timer message is not enabled", ResponseCode.SYSTEM_ERROR
                )
            return None
        return redirect_timer_message(
            record,
            self.c.clock(),
            precision_ms=self.precision_ms,
            max_delay_sec=self.max_delay_sec,
            broker_name=self.c.broker_name,
        )

    # -- lifecycle --------------------------------------------------------------------------

    def load(self) -> None:
        """Open the timer files and make them agree with the checkpoint and the commitlog."""
        if not self.enabled:
            return
        store = self.c.store
        cp = TimerCheckpoint.load(self.checkpoint_path)
        self.timer_log.load()
        wheel_fits = self.wheel.load()
        self.dedup_horizon = store.commitlog.write_state[1]
        cq_min = max(store.get_min_offset_in_queue(TIMER_TOPIC, 0), 0)  # -1: no queue yet
        cq_max = store.get_max_offset_in_queue(TIMER_TOPIC, 0)
        now = self.c.clock()
        reason = rebuild_reason(cp, self.snapshot(), wheel_fits, self.timer_log, cq_max)
        if reason is not None:
            log.warning("rebuilding the timer index from %s: %s", TIMER_TOPIC, reason)
            self.timer_log.destroy()
            self.timer_log.load()
            self.wheel.destroy()
            self.wheel.load()
            self.queue_offset = cq_min
            if cp is not None:
                self.fire_time = cp.fire_time
                self._rebuild_floor = (cp.queue_offset, cp.fire_time)
        elif cp is not None:
            roll_back(self.timer_log, self.wheel, cp.log_end)
            self.queue_offset = max(cp.queue_offset, cq_min)
            self.fire_time, self.fire_done = cp.fire_time, cp.fire_done
            self.pending = dict(cp.pending)
        if self.fire_time <= 0:
            self.fire_time = now // self.precision_ms * self.precision_ms
        self._loaded = True
        log.info(
            "timer wheel loaded: %d queued entries to read, fire time %d, %d pending",
            cq_max - self.queue_offset,
            self.fire_time,
            sum(self.pending.values()),
        )

    def start(self, task_group: anyio.abc.TaskGroup) -> None:
        """Run the enqueue, fire, checkpoint and progress loops."""
        if not self.enabled:
            return
        self._arrived = anyio.Event()
        self.c.store.add_arrival_listener(self._on_arrival)
        task_group.start_soon(self._enqueue_loop)
        task_group.start_soon(self._fire_loop)
        task_group.start_soon(self._checkpoint_loop)
        task_group.start_soon(self._progress_loop)

    def shutdown(self) -> None:
        """Write a final checkpoint and close the files (after the loops stopped)."""
        if not self._loaded:
            return
        self._loaded = False
        try:
            self._write_checkpoint(self.snapshot())
        except OSError:
            log.exception("writing the final timer checkpoint failed")
        self.timer_log.close()
        self.wheel.close()

    # -- enqueue ----------------------------------------------------------------------------

    def _on_arrival(self, topic: str, queue_id: int, max_offset: int) -> None:
        if topic == TIMER_TOPIC and self._arrived is not None:
            self._arrived.set()

    async def _enqueue_loop(self) -> None:
        while True:
            done = self.enqueue_available(_ENQUEUE_BATCH)
            if done >= _ENQUEUE_BATCH:
                await anyio.sleep(0)
                continue
            with anyio.move_on_after(0.1 if done >= 0 else 1.0):
                assert self._arrived is not None
                await self._arrived.wait()
            self._arrived = anyio.Event()

    def catch_up(self) -> None:
        """Enqueue everything the timer topic holds now (before a recall looks for a unit)."""
        while self.enqueue_available(_ENQUEUE_BATCH) >= _ENQUEUE_BATCH:
            pass

    def enqueue_available(self, limit: int) -> int:
        """Enqueue up to ``limit`` parked records; how many, or -1 when blocked."""
        store = self.c.store
        entries = store.consume_queue_entries(TIMER_TOPIC, 0, self.queue_offset, limit)
        if not entries:
            low = max(store.get_min_offset_in_queue(TIMER_TOPIC, 0), 0)
            if self.queue_offset < low:  # cleaned up under us: nothing to do below it
                log.error("timer queue entries %d..%d were deleted unread", self.queue_offset, low)
                self.queue_offset = low
            return 0
        done = 0
        for offset, size, _tags in entries:
            if not self._enqueue_one(offset, size):
                return -1
            self.queue_offset += 1
            done += 1
        return done

    def _enqueue_one(self, offset: int, size: int) -> bool:
        raw = self.c.store.look_message_by_offset(offset, size)
        if raw is None:
            log.error("timer message at commitlog offset %d is unreadable; skipped", offset)
            return True
        parked, _ = decode_record(raw)
        props = parked.properties
        real_topic = props.get(MC.PROPERTY_REAL_TOPIC)
        try:
            slot = int(props[MC.PROPERTY_TIMER_OUT_MS])
        except (KeyError, ValueError):
            slot = -1
        if slot < 0 or not real_topic:
            log.error("timer message at %d lacks TIMER_OUT_MS/REAL_TOPIC; skipped", offset)
            return True
        cancels = props.get(MC.PROPERTY_TIMER_DEL_UNIQKEY)
        floor = self._rebuild_floor
        if floor is not None and self.queue_offset < floor[0] and slot < floor[1]:
            return True  # fired before the rebuild, as the old checkpoint says
        if slot < self.fire_time or (slot == self.fire_time and self._firing):
            if cancels is not None:
                return True  # a recall of a message whose slot passed: nothing left to cancel
            return self._deliver(parked, slot, late=True)
        if slot - self.fire_time >= (self.slots - 1) * self.precision_ms:
            return False  # the ring would wrap: wait until the fire loop catches up
        uniq = (
            cancels
            if cancels is not None
            else props.get(MC.PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX, "")
        )
        self.wheel.link(
            slot, self.timer_log, offset, size, marker=cancels is not None, key_hash=key_hash(uniq)
        )
        self.metrics.enqueued += 1
        if cancels is None:
            self.pending[real_topic] = self.pending.get(real_topic, 0) + 1
        else:
            self._count_gone(real_topic)
            self.metrics.recalled += 1
        return True

    def _count_gone(self, topic: str) -> None:
        left = self.pending.get(topic, 0) - 1
        if left > 0:
            self.pending[topic] = left
        else:
            self.pending.pop(topic, None)

    # -- fire -------------------------------------------------------------------------------

    async def _fire_loop(self) -> None:
        while True:
            wait_ms = await self.fire_due()
            await anyio.sleep(min(max(wait_ms, 1) / 1000, _MAX_SLEEP_S))

    async def fire_due(self) -> int:
        """Fire every slot that ended; return ms until the next slot ends."""
        visited = 0
        while True:
            now = self.c.clock()
            ends = self.fire_time + self.precision_ms
            if ends > now:
                return ends - now
            if self.wheel.get(self.fire_time) is not None:
                self._firing = True
                if not await self._fire_slot(self.fire_time):
                    self._firing = False
                    return 1000  # the store refused a put: retry the rest of the slot later
            self.fire_time += self.precision_ms
            self.fire_done = 0
            self._firing = False
            visited += 1
            if visited % _EMPTY_SLOTS_PER_YIELD == 0:
                await anyio.sleep(0)

    async def _fire_slot(self, slot: int) -> bool:
        positions = self.wheel.walk(slot, self.timer_log)
        cancelled: set[tuple[str, str]] = set()
        for pos in positions:
            unit = self.timer_log.read(pos)
            if unit is not None and unit.marker:
                marker = self._parked(unit)
                if marker is not None:
                    p = marker.properties
                    cancelled.add(
                        (
                            p.get(MC.PROPERTY_REAL_TOPIC, ""),
                            p.get(MC.PROPERTY_TIMER_DEL_UNIQKEY, ""),
                        )
                    )
        while self.fire_done < len(positions):
            stop = min(self.fire_done + _FIRE_CHUNK, len(positions))
            while self.fire_done < stop:
                unit = self.timer_log.read(positions[self.fire_done])
                if (
                    unit is not None
                    and not unit.marker
                    and not self._fire_unit(unit, slot, cancelled)
                ):
                    return False
                self.fire_done += 1
            await anyio.sleep(0)
        return True

    def _parked(self, unit: TimerUnit) -> MessageRecord | None:
        raw = self.c.store.look_message_by_offset(unit.commit_log_offset, unit.size)
        if raw is None:
            log.error(
                "timer message at commitlog offset %d is gone (deleted by retention?); skipped",
                unit.commit_log_offset,
            )
            return None
        return decode_record(raw)[0]

    def _fire_unit(self, unit: TimerUnit, slot: int, cancelled: set[tuple[str, str]]) -> bool:
        parked = self._parked(unit)
        if parked is None:
            return True
        props = parked.properties
        topic = props.get(MC.PROPERTY_REAL_TOPIC, "")
        if (topic, props.get(MC.PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX, "")) in cancelled:
            return True  # recalled: counted when its marker was enqueued
        if not self._deliver(parked, slot, late=False):
            return False
        self._count_gone(topic)
        return True

    def _deliver(self, parked: MessageRecord, slot: int, *, late: bool) -> bool:
        """Store the real-topic copy of ``parked``; False when the store asks to retry."""
        due = slot + self.precision_ms
        if due <= self.dedup_horizon and already_delivered(self.c.store, parked, slot):
            self.metrics.dedup_skipped += 1
            log.info(
                "timer message %s was delivered before the restart; not again",
                parked.properties.get(MC.PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX),
            )
            return True
        now = self.c.clock()
        record = delivered_copy(parked, now)
        if record is None:
            log.error("timer message at %d has no REAL_TOPIC; dropped", parked.commit_log_offset)
            return True
        result = self.c.store.put_message(record)
        if result.status is not PutStatus.PUT_OK:
            if result.status in (PutStatus.MESSAGE_ILLEGAL, PutStatus.PROPERTIES_SIZE_EXCEEDED):
                log.error(
                    "timer message to %s refused by the store: %s; dropped",
                    record.topic,
                    result.status.name,
                )
                return True
            log.warning(
                "delivering a timer message to %s failed: %s; retrying",
                record.topic,
                result.status.name,
            )
            return False
        self.metrics.fired_one(
            TimerFired(
                record.topic,
                record.properties.get(MC.PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX, ""),
                due,
                result.store_timestamp or now,
                late,
            )
        )
        return True

    # -- recall -----------------------------------------------------------------------------

    def recall_state(self, topic: str, uniq: str, slot: int) -> RecallState:
        """Where the timer message ``uniq`` of ``topic`` parked in ``slot`` stands."""
        self.catch_up()
        if slot < self.fire_time or (slot == self.fire_time and self._firing):
            return "fired"
        if slot + self.precision_ms <= self.c.clock():
            return "fired"  # due: the fire loop is about to deliver it
        wanted = key_hash(uniq)
        state: RecallState = "unknown"
        for pos in self.wheel.walk(slot, self.timer_log):
            unit = self.timer_log.read(pos)
            if unit is None or unit.key_hash != wanted:
                continue
            parked = self._parked(unit)
            if parked is None or parked.properties.get(MC.PROPERTY_REAL_TOPIC) != topic:
                continue
            props = parked.properties
            if unit.marker and props.get(MC.PROPERTY_TIMER_DEL_UNIQKEY) == uniq:
                return "recalled"
            if not unit.marker and props.get(MC.PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX) == uniq:
                state = "pending"
        return state

    # -- checkpoint and housekeeping --------------------------------------------------------

    def snapshot(self) -> TimerCheckpoint:
        """The progress as it stands (loop thread)."""
        return TimerCheckpoint(
            precision_ms=self.precision_ms,
            slots=self.slots,
            log_end=self.timer_log.end,
            queue_offset=self.queue_offset,
            fire_time=self.fire_time,
            fire_done=self.fire_done,
            pending=dict(self.pending),
        )

    def _write_checkpoint(self, cp: TimerCheckpoint) -> None:
        self.timer_log.sync()
        self.wheel.sync()
        cp.save(self.checkpoint_path)

    async def _checkpoint_loop(self) -> None:
        while True:
            await anyio.sleep(self.flush_interval_ms / 1000)
            cp = self.snapshot()
            try:
                await anyio.to_thread.run_sync(self._write_checkpoint, cp)
            except OSError:
                log.exception("writing the timer checkpoint failed")
                continue
            self.delete_fired_segments()

    def delete_fired_segments(self) -> int:
        """Delete timer-log segments (oldest first) whose units all fired."""
        count = 0
        for f in self.timer_log.segments_before(self.timer_log.end):
            latest = self._segment_max.get(f.path)
            if latest is None:  # full segments never change: scan each once
                latest = self._segment_max[f.path] = self.timer_log.max_slot_in(f)
            if latest >= self.fire_time:
                break
            count += 1
        if count:
            for f in self.timer_log.queue.files[:count]:
                self._segment_max.pop(f.path, None)
            self.timer_log.queue.delete_first(count)
            log.info("deleted %d fired timer log segment(s)", count)
        return count

    async def _progress_loop(self) -> None:
        await progress_loop(self)

    def runtime_info(self) -> dict[str, str]:
        """Keys for GET_BROKER_RUNTIME_INFO (Apache's ``timer*`` names plus per-topic counts)."""
        return runtime_info(self)
