"""Retention: when commitlog segments expire, and how full the disk is.

Java's ``CleanCommitLogService``: segments (never the newest) whose last write is older than
``fileReservedTime`` are deleted at the ``deleteWhen`` hours, or at any hour when the disk is
fuller than ``diskMaxUsedSpaceRatio``; above ``diskSpaceCleanForciblyRatio`` they go even if
not expired. Consume-queue and index files pointing only below the new commitlog start follow.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from typing import Final

from broker.store.commitlog import CommitLog
from broker.store.config import StoreConfig
from broker.store.consume_queue import ConsumeQueueTable
from broker.store.index import IndexService
from broker.store.mapped_file import MappedFile

__all__ = [
    "DiskUsage",
    "delete_expired_files",
    "disk_used_ratio",
    "expired_segments",
    "is_time_to_delete",
]

log = logging.getLogger(__name__)

DELETE_FILES_BATCH_MAX: Final = 10
"""Segments deleted per run at most (Java's ``DELETE_FILES_BATCH_MAX``)."""


def is_time_to_delete(delete_when: str, now_ms: int) -> bool:
    """Whether the local hour of ``now_ms`` is one of ``delete_when``'s (``"04"``,
    ``"03;04"``)."""
    hour = time.localtime(now_ms / 1000).tm_hour
    for item in delete_when.split(";"):
        text = item.strip()
        if text.isdigit() and int(text) == hour:
            return True
    return False


def disk_used_ratio(path: str) -> float:
    """Used fraction of the file system holding ``path`` (Java counts root-reserved blocks as
    free: ``(total - free) / total``); -1.0 if it cannot be read."""
    try:
        st = os.statvfs(path)
    except OSError:
        return -1.0
    if st.f_blocks <= 0:
        return -1.0
    return (st.f_blocks - st.f_bfree) / st.f_blocks


class DiskUsage:
    """A disk usage sample reused for ``refresh_ms`` (``statvfs`` per put would cost)."""

    def __init__(
        self,
        path: str,
        refresh_ms: int,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self.refresh_s = refresh_ms / 1000
        self._monotonic = monotonic
        self._ratio = 0.0
        self._at = float("-inf")

    def ratio(self, *, refresh: bool = False) -> float:
        """The used fraction, sampled again when stale or when asked."""
        now = self._monotonic()
        if refresh or now - self._at >= self.refresh_s:
            self._ratio = disk_used_ratio(self.path)
            self._at = now
        return self._ratio


def expired_segments(
    files: Sequence[MappedFile], now_ms: int, reserved_ms: int, *, clean_immediately: bool
) -> list[MappedFile]:
    """The oldest segments (never the newest) due for deletion, at most 10."""
    due: list[MappedFile] = []
    for f in files[:-1]:
        if len(due) >= DELETE_FILES_BATCH_MAX:
            break
        if clean_immediately or now_ms >= f.mtime_ms() + reserved_ms:
            due.append(f)
        else:
            break
    return due


def delete_expired_files(
    commitlog: CommitLog,
    table: ConsumeQueueTable,
    index: IndexService | None,
    config: StoreConfig,
    *,
    now_ms: int,
    disk_ratio: float,
    force: bool,
) -> int:
    """One cleanup run (see the module docstring); return how many segments were deleted."""
    percent = disk_ratio * 100
    time_up = is_time_to_delete(config.delete_when, now_ms)
    space_full = percent > config.disk_max_used_space_ratio
    if not (time_up or space_full or force):
        return 0
    due = expired_segments(
        commitlog.queue.files,
        now_ms,
        config.file_reserved_time_hours * 3_600_000,
        clean_immediately=percent > config.disk_space_clean_forcibly_ratio,
    )
    if not due:
        return 0
    log.info("deleting %d expired commitlog segments", len(due))
    commitlog.delete_files(due)
    min_phy = commitlog.min_offset
    for cq in table.all():
        cq.delete_expired(min_phy, table.lock)
    if index is not None:
        index.delete_expired(min_phy)
    return len(due)
