"""The ``lock`` file: one store directory, one running store."""

from __future__ import annotations

import fcntl
import os

__all__ = ["StoreLock"]


class StoreLock:
    """An exclusive ``flock`` on ``<root>/lock``, held from load to shutdown.

    ``flock`` conflicts between two opens even inside one process, so a second store on the
    same directory in the same process is refused too.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd = -1

    def acquire(self) -> bool:
        """Take the lock; False if another store holds it."""
        if self._fd >= 0:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        """Drop the lock (idempotent)."""
        if self._fd >= 0:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = -1
