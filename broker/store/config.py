"""Message store settings (Java ``MessageStoreConfig``) and the store's paths.

Names follow Java's fields in snake_case with Java's defaults (``protocol.md`` section 6); a
few extra fields make sizes that Java fixes configurable, so tests can use tiny files.
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass, field
from typing import Final

__all__ = [
    "DEFAULT_MESSAGE_DELAY_LEVEL",
    "FlushDiskType",
    "StoreConfig",
    "parse_delay_levels",
]

DEFAULT_MESSAGE_DELAY_LEVEL: Final = "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h"
"""Java's ``messageDelayLevel``: level ``n`` (1-based) waits the ``n``-th duration."""

_UNIT_MS: Final = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
CQ_UNIT_SIZE: Final = 20


class FlushDiskType(enum.Enum):
    """When a put counts as stored: after the page-cache write, or after fsync."""

    ASYNC_FLUSH = "ASYNC_FLUSH"
    SYNC_FLUSH = "SYNC_FLUSH"


def parse_delay_levels(text: str) -> dict[int, int]:
    """Parse a ``messageDelayLevel`` string into ``{level: delay_ms}`` (levels start at 1).

    Raises:
        ValueError: an item is not a number followed by one of ``s m h d``.
    """
    table: dict[int, int] = {}
    for level, item in enumerate(text.split(), start=1):
        unit = _UNIT_MS.get(item[-1:])
        if unit is None or not item[:-1].isdigit():
            raise ValueError(f"bad delay level {item!r} in {text!r}")
        table[level] = int(item[:-1]) * unit
    return table


def _default_delay_table() -> dict[int, int]:
    return parse_delay_levels(DEFAULT_MESSAGE_DELAY_LEVEL)


@dataclass
class StoreConfig:
    """Settings of one :class:`~broker.store.MessageStore`.

    Attributes:
        store_path_root_dir: the store root (Java ``storePathRootDir``).
        store_path_commit_log: commitlog directory; ``None`` means ``<root>/commitlog``.
        mapped_file_size_commit_log: bytes per commitlog segment.
        mapped_file_size_consume_queue: bytes per consume-queue file (rounded down to 20s).
        flush_disk_type: ``ASYNC_FLUSH`` or ``SYNC_FLUSH`` (group commit).
        flush_interval_commit_log_ms: async flusher period.
        flush_commit_log_least_pages: async flusher waits for this many dirty 4 KiB pages...
        flush_commit_log_thorough_interval_ms: ...unless this long passed since a full flush.
        sync_flush_timeout_ms: how long ``wait_flushed`` waits before giving up.
        flush_interval_consume_queue_ms: consume-queue/index flusher period.
        flush_consume_queue_least_pages: dirty pages before a consume-queue file is flushed...
        flush_consume_queue_thorough_interval_ms: ...unless this long passed; a thorough round
            also flushes the index and writes the checkpoint.
        delete_when: hours of the day (``"04"`` or ``"03;04"``) when expired files go.
        file_reserved_time_hours: how long a commitlog segment is kept after its last write.
        disk_max_used_space_ratio: percent of the disk above which puts are refused and
            cleanup runs whatever the hour.
        disk_space_clean_forcibly_ratio: percent above which even unexpired segments go.
        max_message_size: largest record (``TOTALSIZE``) accepted.
        max_hash_slot_num: index file hash slots.
        max_index_num: index file entries (entry 0 is unused).
        message_index_enable: build the index of ``UNIQ_KEY`` and ``KEYS``.
        check_crc_on_recover: verify body CRCs while recovering the commitlog.
        store_host: ``(ip, port)`` written into records and offset message ids.
        clean_resource_interval_ms: period of the expired-file cleanup once started.
        delay_level_table_ms: ``{level: delay_ms}``; consume-queue tags code of
            ``SCHEDULE_TOPIC_XXXX`` is the store time plus the delay of the ``DELAY`` level.
        max_transfer_bytes_on_message_in_memory: pull size limit for page-cache-hot data.
        max_transfer_count_on_message_in_memory: pull count limit for hot data.
        max_transfer_bytes_on_message_in_disk: pull size limit for data far behind the head.
        max_transfer_count_on_message_in_disk: pull count limit for data far behind the head.
        access_message_in_memory_max_ratio: percent of RAM that counts as "hot" behind the
            commitlog head.
        max_msgs_num_batch: cap on index query results.
        disk_ratio_refresh_ms: how long a disk usage sample is reused.
    """

    store_path_root_dir: str
    store_path_commit_log: str | None = None
    mapped_file_size_commit_log: int = 1_073_741_824
    mapped_file_size_consume_queue: int = 300_000 * CQ_UNIT_SIZE
    flush_disk_type: FlushDiskType = FlushDiskType.ASYNC_FLUSH
    flush_interval_commit_log_ms: int = 500
    flush_commit_log_least_pages: int = 4
    flush_commit_log_thorough_interval_ms: int = 10_000
    sync_flush_timeout_ms: int = 5000
    flush_interval_consume_queue_ms: int = 1000
    flush_consume_queue_least_pages: int = 2
    flush_consume_queue_thorough_interval_ms: int = 60_000
    delete_when: str = "04"
    file_reserved_time_hours: int = 72
    disk_max_used_space_ratio: int = 75
    disk_space_clean_forcibly_ratio: int = 85
    max_message_size: int = 4 * 1024 * 1024
    max_hash_slot_num: int = 5_000_000
    max_index_num: int = 20_000_000
    message_index_enable: bool = True
    check_crc_on_recover: bool = True
    store_host: tuple[str, int] = ("127.0.0.1", 10911)
    clean_resource_interval_ms: int = 10_000
    delay_level_table_ms: dict[int, int] = field(default_factory=_default_delay_table)
    max_transfer_bytes_on_message_in_memory: int = 256 * 1024
    max_transfer_count_on_message_in_memory: int = 32
    max_transfer_bytes_on_message_in_disk: int = 64 * 1024
    max_transfer_count_on_message_in_disk: int = 8
    access_message_in_memory_max_ratio: int = 40
    max_msgs_num_batch: int = 64
    disk_ratio_refresh_ms: int = 2000

    @property
    def commit_log_dir(self) -> str:
        """Directory of the commitlog segments."""
        return self.store_path_commit_log or os.path.join(self.store_path_root_dir, "commitlog")

    @property
    def consume_queue_dir(self) -> str:
        """``<root>/consumequeue``: one ``<topic>/<queueId>/`` directory per queue."""
        return os.path.join(self.store_path_root_dir, "consumequeue")

    @property
    def index_dir(self) -> str:
        """``<root>/index``: index files named by creation time."""
        return os.path.join(self.store_path_root_dir, "index")

    @property
    def checkpoint_path(self) -> str:
        """``<root>/checkpoint``."""
        return os.path.join(self.store_path_root_dir, "checkpoint")

    @property
    def abort_path(self) -> str:
        """``<root>/abort``: present while the store runs; left behind by a crash."""
        return os.path.join(self.store_path_root_dir, "abort")

    @property
    def lock_path(self) -> str:
        """``<root>/lock``: held with ``flock`` so two stores cannot share the directory."""
        return os.path.join(self.store_path_root_dir, "lock")

    @property
    def consume_queue_file_size(self) -> int:
        """Consume-queue file size rounded down to whole 20-byte units (as Java does)."""
        return self.mapped_file_size_consume_queue // CQ_UNIT_SIZE * CQ_UNIT_SIZE
