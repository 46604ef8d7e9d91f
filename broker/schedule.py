"""Delay levels: messages with a DELAY property wait in ``SCHEDULE_TOPIC_XXXX`` until due.

On put, a message with ``DELAY`` = n > 0 (and not a half or rollback transaction message) is
parked in queue n-1 of ``SCHEDULE_TOPIC_XXXX`` with its real topic and queue saved in
``REAL_TOPIC`` / ``REAL_QID``; the store writes its due time (store time + level delay) as the
consume queue's tags code. This service walks each level's queue in order, and when the head is
due re-puts it to the real topic as a new record (``DELAY``/``REAL_*`` removed, tags code back to
the tag hash). Progress per level is persisted in ``delayOffset.json`` as Apache writes it
(``{"offsetTable":{1:123,...}}``), and only advanced after the re-put succeeded, so a crash may
redeliver the last few due messages but never loses one.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import anyio.abc

from broker._files import write_atomically
from broker.managers.topic_validator import RMQ_SYS_SCHEDULE_TOPIC as SCHEDULE_TOPIC
from broker.parked import unpark
from broker.store import GetMessageStatus
from rocketmq_py.protocol import fastjson
from rocketmq_py.protocol.message import (
    MessageConst,
    MessageRecord,
    MessageSysFlag,
    decode_record,
)

if TYPE_CHECKING:
    from broker.controller import BrokerController

__all__ = ["SCHEDULE_TOPIC", "ScheduleMessageService", "apply_delay_level"]

log = logging.getLogger("broker.schedule")

MC = MessageConst
_BATCH = 32


def apply_delay_level(record: MessageRecord, levels: dict[int, int]) -> None:
    """Redirect ``record`` to the schedule topic when it carries a delay level (in place)."""
    level_text = record.properties.get(MC.PROPERTY_DELAY_TIME_LEVEL)
    if not level_text:
        return
    tran = MessageSysFlag.get_transaction_value(record.sys_flag)
    if tran not in (MessageSysFlag.TRANSACTION_NOT_TYPE, MessageSysFlag.TRANSACTION_COMMIT_TYPE):
        return
    try:
        level = int(level_text)
    except ValueError:
        return
    if level <= 0:
        return
    level = min(level, max(levels))
    record.properties[MC.PROPERTY_DELAY_TIME_LEVEL] = str(level)
    record.properties[MC.PROPERTY_REAL_TOPIC] = record.topic
    record.properties[MC.PROPERTY_REAL_QUEUE_ID] = str(record.queue_id)
    record.raw_properties = None
    record.topic = SCHEDULE_TOPIC
    record.queue_id = level - 1


class ScheduleMessageService:
    """Delivers delayed messages when they are due."""

    def __init__(self, controller: BrokerController, offsets_path: Path) -> None:
        self.c = controller
        self.path = offsets_path
        self.offsets: dict[int, int] = {}
        self._dirty = False

    def load(self) -> None:
        """Read ``delayOffset.json`` (absent on a fresh store)."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return
        try:
            table = fastjson.loads(raw).get("offsetTable") or {}
            self.offsets = {int(k): int(v) for k, v in table.items()}
        except Exception as exc:  # a damaged file must not stop the broker; redelivery is safe
            log.error("cannot parse %s (%s); delay progress starts over", self.path, exc)

    def persist(self) -> None:
        """Write progress if it changed."""
        if not self._dirty:
            return
        self._dirty = False
        write_atomically(
            self.path, fastjson.dumps({"offsetTable": dict(sorted(self.offsets.items()))})
        )

    def start(self, task_group: anyio.abc.TaskGroup) -> None:
        """Run one delivery loop per level."""
        for level in sorted(self.c.delay_levels):
            task_group.start_soon(self._level_loop, level)

    async def _level_loop(self, level: int) -> None:
        while True:
            wait_ms = self.deliver_due(level)
            await anyio.sleep(min(max(wait_ms, 100), 1000) / 1000)

    def deliver_due(self, level: int) -> int:
        """Deliver every due message of ``level``; returns ms until the next check is useful."""
        store = self.c.store
        queue_id = level - 1
        while True:
            offset = self.offsets.get(level, 0)
            result = store.get_message(SCHEDULE_TOPIC, queue_id, offset, _BATCH)
            if result.status != GetMessageStatus.FOUND:
                if result.status in (
                    GetMessageStatus.OFFSET_TOO_SMALL,
                    GetMessageStatus.OFFSET_OVERFLOW_BADLY,
                ):
                    self._advance(level, result.next_begin_offset)
                    continue
                return 1000
            now = self.c.clock()
            delay_ms = self.c.delay_levels.get(level, 0)
            for raw in result.buffers:
                record, _ = decode_record(raw)
                due = record.store_timestamp + delay_ms
                if due > now:
                    return due - now
                if not self._deliver(record):
                    return 1000  # the store refused (disk full...): retry later, offset unchanged
                self._advance(level, record.queue_offset + 1)

    def _advance(self, level: int, offset: int) -> None:
        self.offsets[level] = offset
        self._dirty = True

    def _deliver(self, parked: MessageRecord) -> bool:
        record = unpark(parked, drop=(MC.PROPERTY_DELAY_TIME_LEVEL,))
        if record is None:
            log.error(
                "scheduled message at %d has no REAL_TOPIC; skipped", parked.commit_log_offset
            )
            return True
        real_topic = record.topic
        result = self.c.store.put_message(record)
        if result.status.name != "PUT_OK":
            log.warning(
                "delivering scheduled message to %s failed: %s", real_topic, result.status.name
            )
            return False
        return True
