"""The timer checkpoint: one JSON file that says how far the timer files are true.

Written atomically (temp file, fsync, rename) right after the timer log and wheel were
fsynced, from one snapshot taken on the loop thread, so its fields agree with each other and
with the files::

    {"version": 1, "precisionMs": 1000, "slots": 518400,
     "logEnd": 3200,            every unit before this position is linked into the wheel
     "queueOffset": 100,        every timer-topic queue entry before this is in the log or fired
     "fireTime": 1700000000000, every slot before this time has fired
     "fireDone": 3,             ... and this many units (oldest first) of the slot at fireTime
     "pending": {"TopicA": 97}} units still to fire, per real topic

Anything the files hold past ``logEnd`` is erased on load and rebuilt from the timer topic's
consume queue from ``queueOffset`` (the commitlog is the truth).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from broker._files import write_atomically

__all__ = ["TimerCheckpoint"]

log = logging.getLogger("broker.timer")

_VERSION = 1


@dataclass
class TimerCheckpoint:
    """See the module docstring for the fields."""

    precision_ms: int
    slots: int
    log_end: int = 0
    queue_offset: int = 0
    fire_time: int = 0
    fire_done: int = 0
    pending: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> bytes:
        """The file's bytes."""
        return json.dumps(
            {
                "version": _VERSION,
                "precisionMs": self.precision_ms,
                "slots": self.slots,
                "logEnd": self.log_end,
                "queueOffset": self.queue_offset,
                "fireTime": self.fire_time,
                "fireDone": self.fire_done,
                "pending": {k: v for k, v in sorted(self.pending.items()) if v > 0},
            },
            indent=1,
        ).encode()

    def save(self, path: Path) -> None:
        """Replace the file atomically."""
        write_atomically(path, self.to_json())

    @classmethod
    def load(cls, path: Path) -> TimerCheckpoint | None:
        """The checkpoint at ``path``; ``None`` when absent or unreadable (logged)."""
        try:
            raw = json.loads(path.read_bytes())
            if raw.get("version") != _VERSION:
                raise ValueError(f"unknown version {raw.get('version')!r}")
            return cls(
                precision_ms=int(raw["precisionMs"]),
                slots=int(raw["slots"]),
                log_end=int(raw["logEnd"]),
                queue_offset=int(raw["queueOffset"]),
                fire_time=int(raw["fireTime"]),
                fire_done=int(raw["fireDone"]),
                pending={str(k): int(v) for k, v in dict(raw.get("pending") or {}).items()},
            )
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            log.error(
                "timer checkpoint %s is unreadable (%s): rebuilding the timer index", path, exc
            )
            return None
