"""Committed consumer offsets in ``consumerOffset.json`` (Java's ``ConsumerOffsetManager``).

The table maps ``"<topic>@<group>"`` to ``{queueId: offset}``; the file is exactly
``{"offsetTable":{"T@G":{0:15,1:7}}}`` with bare integer keys, as fastjson writes it, so an
Apache broker's file loads unchanged and the reverse holds. Offsets are the next logical offset
to consume. Commits only mark the table dirty; the broker calls
:meth:`ConsumerOffsetManager.persist` periodically (Java: every ``flushConsumerOffsetInterval``
= 5 s) and at shutdown, and only a dirty table is written.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from broker.managers._config_file import ConfigFile
from rocketmq_py.protocol import fastjson
from rocketmq_py.protocol.bodies._base import Fields, as_int, as_str, dict_of

__all__ = ["CONSUMER_OFFSET_FILE", "TOPIC_GROUP_SEPARATOR", "ConsumerOffsetManager"]

log = logging.getLogger("broker")

#: File name under the broker's config directory.
CONSUMER_OFFSET_FILE = "consumerOffset.json"
#: Joins topic and group into a table key: ``"<topic>@<group>"``.
TOPIC_GROUP_SEPARATOR = "@"

_offset_table = dict_of(as_str, dict_of(as_int, as_int))


def _split(key: str) -> tuple[str, str] | None:
    """``(topic, group)`` of a table key, or ``None`` for a malformed key (Java skips those)."""
    parts = key.split(TOPIC_GROUP_SEPARATOR)
    if len(parts) != 2:
        return None
    return parts[0], parts[1]


def _key(topic: str, group: str) -> str:
    return f"{topic}{TOPIC_GROUP_SEPARATOR}{group}"


class ConsumerOffsetManager:
    """Per group, topic and queue: the offset the group consumes next.

    Not thread-safe: use it from the broker's event loop.

    Attributes:
        path: ``<config_dir>/consumerOffset.json``.
        dirty: the table changed since it was last loaded or written.
    """

    def __init__(self, config_dir: Path) -> None:
        """Start with an empty table; call :meth:`load` to read the file."""
        self.path = Path(config_dir) / CONSUMER_OFFSET_FILE
        self._file = ConfigFile(self.path)
        self._table: dict[str, dict[int, int]] = {}
        self.dirty = False

    # -- persistence ------------------------------------------------------------------------

    def load(self) -> bool:
        """Read ``consumerOffset.json`` (or its ``.bak``); returns whether one was read."""
        table = self._file.load(self._decode_table)
        if table is None:
            return False
        self._table = table
        self.dirty = False
        log.info("loaded offsets of %d topic@group pairs from %s", len(table), self.path)
        return True

    def encode(self) -> bytes:
        """The file content (also the GET_ALL_CONSUMER_OFFSET body a slave syncs from)."""
        return fastjson.dumps({"offsetTable": self._table})

    def decode(self, data: bytes) -> None:
        """Replace the whole table with ``data`` in the file's form (a slave syncing).

        Raises:
            RemoteProtocolError: ``data`` is not an offset table.
        """
        self._table = self._decode_table(data)
        self.dirty = True

    def persist(self, *, force: bool = False) -> bool:
        """Write the file atomically if the table changed (or ``force``); True if written."""
        if not (self.dirty or force):
            return False
        self._file.write(self.encode())
        self.dirty = False
        return True

    @staticmethod
    def _decode_table(data: bytes) -> dict[str, dict[int, int]]:
        value: Any = fastjson.loads(data)
        fields = Fields(value, "ConsumerOffsetManager")
        return fields.get("offsetTable", _offset_table, {})

    # -- commits and queries ----------------------------------------------------------------

    def commit_offset(
        self, client_host: str, group: str, topic: str, queue_id: int, offset: int
    ) -> None:
        """Record the group's next offset for one queue (UPDATE_CONSUMER_OFFSET, pull commits).

        An offset lower than the stored one is accepted (a reset moves it back) but logged.
        """
        key = _key(topic, group)
        queues = self._table.setdefault(key, {})
        stored = queues.get(queue_id)
        queues[queue_id] = offset
        self.dirty = True
        if stored is not None and offset < stored:
            log.warning(
                "[NOTIFYME]update consumer offset less than store. clientHost=%s, key=%s, "
                "queueId=%d, requestOffset=%d, storeOffset=%d",
                client_host,
                key,
                queue_id,
                offset,
                stored,
            )

    def query_offset(self, group: str, topic: str, queue_id: int) -> int:
        """The committed offset, or -1 when the group never committed one for the queue."""
        return self._table.get(_key(topic, group), {}).get(queue_id, -1)

    def query_offsets(self, group: str, topic: str) -> dict[int, int]:
        """A copy of ``{queueId: offset}`` for the group and topic (empty if none)."""
        return dict(self._table.get(_key(topic, group), {}))

    def which_groups_consume_topic(self, topic: str) -> set[str]:
        """Groups with a committed offset on ``topic``."""
        return {pair[1] for pair in self._pairs() if pair[0] == topic}

    def which_topics_by_consumer(self, group: str) -> set[str]:
        """Topics on which ``group`` has a committed offset (its ``%RETRY%`` topic included)."""
        return {pair[0] for pair in self._pairs() if pair[1] == group}

    def items(self) -> Iterator[tuple[str, str, dict[int, int]]]:
        """Every ``(topic, group, {queueId: offset})``; the inner dicts are live, do not modify."""
        for key, queues in self._table.items():
            pair = _split(key)
            if pair is not None:
                yield pair[0], pair[1], queues

    # -- removal and copies -----------------------------------------------------------------

    def remove_offset(self, group: str) -> None:
        """Forget every offset of ``group`` (DELETE_SUBSCRIPTIONGROUP with cleanOffset)."""
        for key in [k for k in self._table if (p := _split(k)) is not None and p[1] == group]:
            del self._table[key]
            self.dirty = True
            log.warning("clean group offset %s", key)

    def remove_topic(self, topic: str) -> None:
        """Forget every group's offsets on ``topic`` (the topic was deleted)."""
        for key in [k for k in self._table if (p := _split(k)) is not None and p[0] == topic]:
            del self._table[key]
            self.dirty = True
            log.warning("clean topic offset %s", key)

    def remove_topic_group(self, topic: str, group: str) -> bool:
        """Forget ``group``'s offsets on ``topic``; returns whether there were any."""
        if self._table.pop(_key(topic, group), None) is None:
            return False
        self.dirty = True
        return True

    def clone_offset(self, src_group: str, dst_group: str, topic: str) -> None:
        """Give ``dst_group`` a copy of ``src_group``'s offsets on ``topic``."""
        offsets = self._table.get(_key(topic, src_group))
        if offsets is not None:
            self._table[_key(topic, dst_group)] = dict(offsets)
            self.dirty = True

    def _pairs(self) -> Iterator[tuple[str, str]]:
        for key in self._table:
            pair = _split(key)
            if pair is not None:
                yield pair
