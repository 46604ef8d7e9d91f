"""The name server's namespaced key/value store, persisted as ``kvConfig.json``.

The file has Java's shape, ``{"configTable":{"<namespace>":{"<key>":"<value>"}}}``, so a
``kvConfig.json`` from an Apache name server loads unchanged. Every change is written atomically.
"""

from __future__ import annotations

import logging
from pathlib import Path

from broker._files import write_atomically
from rocketmq_py.protocol import _json
from rocketmq_py.protocol.bodies import ORDER_TOPIC_CONFIG

__all__ = ["ORDER_TOPIC_CONFIG", "KVConfigManager"]

log = logging.getLogger("broker.namesrv")


class KVConfigManager:
    """Namespaced string settings, loaded at start and saved on every change."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._table: dict[str, dict[str, str]] = {}

    def load(self) -> None:
        """Load the file if it exists; a corrupt file is logged and left in place, not lost."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return
        try:
            data = _json.loads(raw)
            table = data.get("configTable") or {}
            self._table = {
                str(ns): {str(k): str(v) for k, v in entries.items()}
                for ns, entries in table.items()
                if isinstance(entries, dict)
            }
        except (ValueError, AttributeError) as exc:
            log.error("cannot parse %s (%s); starting with an empty KV config", self.path, exc)
            return
        log.info("loaded %d KV namespaces from %s", len(self._table), self.path)

    def put(self, namespace: str, key: str, value: str) -> None:
        """Set a value and persist."""
        self._table.setdefault(namespace, {})[key] = value
        self._persist()

    def get(self, namespace: str, key: str) -> str | None:
        """A value, or ``None``."""
        return self._table.get(namespace, {}).get(key)

    def delete(self, namespace: str, key: str) -> bool:
        """Remove a value; returns whether it existed."""
        entries = self._table.get(namespace)
        if entries is None or key not in entries:
            return False
        del entries[key]
        if not entries:
            del self._table[namespace]
        self._persist()
        return True

    def namespace(self, namespace: str) -> dict[str, str] | None:
        """A copy of one namespace, or ``None`` when it has no entries."""
        entries = self._table.get(namespace)
        return dict(entries) if entries else None

    def _persist(self) -> None:
        write_atomically(self.path, _json.dumps({"configTable": self._table}))
