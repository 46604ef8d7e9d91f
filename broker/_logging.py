"""Log files in Apache's place: ``~/logs/rocketmqlogs/{namesrv,broker}.log``.

``~`` is ``$HOME``, so tests and examples redirect logs by setting HOME. Files rotate at 128 MiB
with 10 backups (bounded disk use). Only errors are echoed to stderr: a peer sending garbage
must not be able to fill a console pipe nobody reads and stall the server.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path

__all__ = ["log_dir", "setup_logging"]

_FORMAT = "%(asctime)s %(levelname)-5s %(name)s - %(message)s"


def log_dir() -> Path:
    """``~/logs/rocketmqlogs`` for the current HOME."""
    return Path.home() / "logs" / "rocketmqlogs"


def setup_logging(name: str, level: int = logging.INFO) -> Path:
    """Send the root logger to ``<log_dir>/<name>.log`` (and ERROR+ to stderr).

    Returns:
        The log file path.
    """
    directory = log_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.log"
    root = logging.getLogger()
    root.setLevel(level)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    file_handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=128 * 1024 * 1024, backupCount=10, encoding="utf-8"
    )
    file_handler.setFormatter(logging.Formatter(_FORMAT))
    root.addHandler(file_handler)
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.ERROR)
    console.setFormatter(logging.Formatter(_FORMAT))
    root.addHandler(console)
    return path
