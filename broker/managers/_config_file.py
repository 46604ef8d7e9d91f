"""One broker config JSON file (``topics.json`` ...) with Apache's ``.bak`` copy beside it.

Java's ``ConfigManager`` keeps the previous content of each file in ``<file>.bak`` and falls back
to it when the file is missing or empty. Here the fallback also covers a file that does not parse
(Java refuses to start instead): the bad file is logged, copied to ``<file>.corrupt`` so that
nothing is lost when the next write replaces it, and the broker starts from the ``.bak``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from broker._files import write_atomically
from rocketmq_py.exceptions import RemoteProtocolError

__all__ = ["ConfigFile"]

log = logging.getLogger("broker")

T = TypeVar("T")

# What a decoder may raise on content it cannot use.
_DECODE_ERRORS = (RemoteProtocolError, ValueError, TypeError, AttributeError, KeyError)


class ConfigFile:
    """Reads and writes one JSON config file, keeping the previous version in ``.bak``.

    Attributes:
        path: the file.
        backup_path: ``<file>.bak``, the content the file had before the last write.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.backup_path = path.with_name(path.name + ".bak")
        # The bytes the file holds now, as far as we know them good; what the next write backs up.
        self._current: bytes | None = None

    def load(self, decode: Callable[[bytes], T]) -> T | None:
        """Decode the file, or its ``.bak`` when the file is missing, empty or corrupt.

        Args:
            decode: turns the bytes into the caller's state; raises on bad content.

        Returns:
            The decoded value, or ``None`` when neither file exists or both are unusable
            (the caller keeps its initial state).
        """
        main = _read(self.path)
        if main:
            try:
                value = decode(main)
            except _DECODE_ERRORS as exc:
                log.error("cannot parse %s (%s); trying %s", self.path, exc, self.backup_path)
                self._keep_corrupt(main)
            else:
                self._current = main
                return value
        backup = _read(self.backup_path)
        if not backup:
            return None
        try:
            value = decode(backup)
        except _DECODE_ERRORS as exc:
            log.error("cannot parse %s either (%s); starting empty", self.backup_path, exc)
            return None
        log.warning("loaded %s from its backup %s", self.path.name, self.backup_path)
        self._current = backup
        return value

    def write(self, data: bytes) -> None:
        """Replace the file with ``data`` atomically; its last good content goes to ``.bak``."""
        if self._current is not None and self._current != data:
            write_atomically(self.backup_path, self._current)
        write_atomically(self.path, data)
        self._current = data

    def _keep_corrupt(self, data: bytes) -> None:
        corrupt = self.path.with_name(self.path.name + ".corrupt")
        try:
            write_atomically(corrupt, data)
        except OSError as exc:
            log.error("cannot save a copy of the corrupt %s to %s: %s", self.path, corrupt, exc)
        else:
            log.error("kept a copy of the corrupt %s as %s", self.path, corrupt)


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
