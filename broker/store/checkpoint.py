"""The ``checkpoint`` file: how far the commitlog, consume queues and index are on disk.

A 4096-byte page. Java's fields keep Java's positions: int64 ``physicMsgTimestamp`` at 0,
``logicsMsgTimestamp`` at 8, ``indexMsgTimestamp`` at 16, ``masterFlushedOffset`` at 24 and
``confirmPhyOffset`` at 32 (``protocol.md`` 6.5). Java reads nothing past 40, so this store
keeps exact offsets there too (timestamps only locate a file to rescan; offsets locate the
record)::

    256  8 bytes  magic b"RMQPYCK1"
    264  int64    physic offset: the commitlog is fsynced below it
    272  int64    logics offset: consume queues are synced for every record below it
    280  int64    index offset: the index is synced for every record below it
    288  int64    clean end: the commitlog end at a clean shutdown, -1 while running
    296  int64    start of the last record below the clean end (-1 if none)

The page is rewritten with one ``pwrite`` and ``fdatasync``.
"""

from __future__ import annotations

import os
import struct
from typing import Final

__all__ = ["StoreCheckpoint"]

PAGE_SIZE: Final = 4096
_JAVA: Final = struct.Struct(">qqqqq")
_EXT: Final = struct.Struct(">8sqqqqq")
_EXT_POS: Final = 256
_MAGIC: Final = b"RMQPYCK1"


class StoreCheckpoint:
    """In-memory copy of the checkpoint page; :meth:`flush` writes it.

    Attributes:
        physic_msg_timestamp: store time of the newest fsynced commitlog record.
        logics_msg_timestamp: store time of the newest record with synced queue entries.
        index_msg_timestamp: store time of the newest record with a synced index.
        master_flushed_offset: Java 5.x field, kept as read.
        confirm_phy_offset: Java 5.x field, kept as read.
        physic_offset, logics_offset, index_offset, clean_end_offset, last_record_offset:
            this store's extension fields (-1 when the file has none).
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.physic_msg_timestamp = 0
        self.logics_msg_timestamp = 0
        self.index_msg_timestamp = 0
        self.master_flushed_offset = 0
        self.confirm_phy_offset = 0
        self.physic_offset = -1
        self.logics_offset = -1
        self.index_offset = -1
        self.clean_end_offset = -1
        self.last_record_offset = -1
        self.existed = False
        self._fd = -1

    def load(self) -> None:
        """Open (creating if needed) and read the page."""
        self.existed = os.path.exists(self.path)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        page = os.pread(self._fd, PAGE_SIZE, 0)
        if len(page) < PAGE_SIZE:
            page = page.ljust(PAGE_SIZE, b"\0")
        (
            self.physic_msg_timestamp,
            self.logics_msg_timestamp,
            self.index_msg_timestamp,
            self.master_flushed_offset,
            self.confirm_phy_offset,
        ) = _JAVA.unpack_from(page, 0)
        magic, *ext = _EXT.unpack_from(page, _EXT_POS)
        if magic == _MAGIC:
            (
                self.physic_offset,
                self.logics_offset,
                self.index_offset,
                self.clean_end_offset,
                self.last_record_offset,
            ) = ext

    @property
    def has_offsets(self) -> bool:
        """Whether this store's offset fields are present."""
        return self.physic_offset >= 0 and self.logics_offset >= 0 and self.index_offset >= 0

    def min_timestamp(self) -> int:
        """Java ``getMinTimestamp``: older of the physic/logics times, minus 3 s."""
        return max(min(self.physic_msg_timestamp, self.logics_msg_timestamp) - 3000, 0)

    def flush(self) -> None:
        """Write the page and ``fdatasync`` it."""
        page = bytearray(PAGE_SIZE)
        _JAVA.pack_into(
            page,
            0,
            self.physic_msg_timestamp,
            self.logics_msg_timestamp,
            self.index_msg_timestamp,
            self.master_flushed_offset,
            self.confirm_phy_offset,
        )
        _EXT.pack_into(
            page,
            _EXT_POS,
            _MAGIC,
            self.physic_offset,
            self.logics_offset,
            self.index_offset,
            self.clean_end_offset,
            self.last_record_offset,
        )
        os.pwrite(self._fd, page, 0)
        os.fdatasync(self._fd)

    def close(self) -> None:
        """Close the file."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
