"""Queue locks of orderly consumers (``protocol.md`` 8.5): Java's ``RebalanceLockManager``.

An orderly consumer locks the queues it was allocated (LOCK_BATCH_MQ) before consuming them and
renews the locks every 20 s; the broker keeps one owner per ``(group, queue)``. Pure state: time
comes in as ``now_ms``, nothing is sent here.

Rules (Java's, ``RebalanceLockManager.tryLockBatch`` / ``unlockBatch``):

1. A lock belongs to a client id and lasts ``max_live_time_ms`` (60 s) after it was last taken
   or renewed; it is expired once *more* than that has passed.
2. Locking a queue succeeds when nobody holds it, when the holder is the requester (which
   renews it: the lock is re-entrant) or when the holder's lock expired (the requester takes
   it over). A queue held by another client with a live lock is refused.
3. Unlocking removes only the requester's own locks, expired or not; anyone else's stay.
4. ``is_lock_all_expired(group)``: whether no queue of the group is locked (the send path uses
   it to route an orderly group's retry messages straight to the dead-letter queue).

Added to Java's rules, which only rely on expiry: when a consumer's connection closes, its locks
in the groups it was registered in are dropped at once, unless the same client id is still
connected to the group on another channel (a client that reconnected keeps its locks).

Memory holds only live locks: expired entries are purged on every call for their group, and the
whole table by :meth:`RebalanceLockManager.purge_expired`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rocketmq_py.protocol.bodies import MessageQueue

if TYPE_CHECKING:
    from broker._server.channel import Channel
    from broker.managers.clients import ConsumerManager

__all__ = ["REBALANCE_LOCK_MAX_LIVE_TIME_MS", "LockEntry", "RebalanceLockManager"]

log = logging.getLogger("broker.rebalance_lock")

#: Java's ``rocketmq.broker.rebalance.lockMaxLiveTime`` default (a system property there, not a
#: broker config key, hence a constructor argument here).
REBALANCE_LOCK_MAX_LIVE_TIME_MS = 60_000


@dataclass(slots=True)
class LockEntry:
    """The owner of one queue's lock and when it last locked it (``LockEntry``)."""

    client_id: str
    last_update_ms: int


class RebalanceLockManager:
    """``(consumer group, queue) -> owner`` with expiry.

    Not thread-safe: use it from the broker's event loop.

    Args:
        max_live_time_ms: how long a lock lives without renewal.
    """

    def __init__(self, max_live_time_ms: int = REBALANCE_LOCK_MAX_LIVE_TIME_MS) -> None:
        if max_live_time_ms <= 0:
            raise ValueError(f"max_live_time_ms={max_live_time_ms!r}: must be positive")
        self.max_live_time_ms = max_live_time_ms
        self._table: dict[str, dict[MessageQueue, LockEntry]] = {}

    def _expired(self, entry: LockEntry, now_ms: int) -> bool:
        return now_ms - entry.last_update_ms > self.max_live_time_ms

    # -- locking ----------------------------------------------------------------------------

    def try_lock_batch(
        self, group: str, queues: Iterable[MessageQueue], client_id: str, now_ms: int
    ) -> list[MessageQueue]:
        """Lock (or renew) ``queues`` for ``client_id``.

        Returns:
            The queues now locked by ``client_id``, in request order, each once.
        """
        table = self._purge_group(group, now_ms)
        locked: dict[MessageQueue, None] = {}
        for mq in queues:
            entry = table.get(mq)
            if entry is None:
                table[mq] = LockEntry(client_id, now_ms)
                log.info(
                    "tryLockBatch: lock a message queue which has not been locked yet, "
                    "group=%s, clientId=%s, mq=%s",
                    group,
                    client_id,
                    mq,
                )
            elif entry.client_id != client_id:
                # Expired entries were purged above, so this one is live and someone else's.
                log.warning(
                    "tryLockBatch: message queue has been locked by other client, group=%s, "
                    "mq=%s, locked client id=%s, current client id=%s",
                    group,
                    mq,
                    entry.client_id,
                    client_id,
                )
                continue
            else:
                entry.last_update_ms = now_ms
            locked[mq] = None
        if not table:
            self._table.pop(group, None)
        return list(locked)

    def unlock_batch(
        self, group: str, queues: Iterable[MessageQueue], client_id: str, now_ms: int
    ) -> list[MessageQueue]:
        """Release the requester's locks among ``queues``; others' locks stay.

        Returns:
            The queues that were unlocked.
        """
        table = self._purge_group(group, now_ms)
        released = []
        for mq in queues:
            entry = table.get(mq)
            if entry is None:
                log.warning(
                    "unlockBatch: mq not locked, group=%s, clientId=%s, mq=%s", group, client_id, mq
                )
            elif entry.client_id == client_id:
                del table[mq]
                released.append(mq)
                log.info(
                    "unlockBatch: unlock mq, group=%s, clientId=%s, mq=%s", group, client_id, mq
                )
            else:
                log.warning(
                    "unlockBatch: mq locked by other client, group=%s, locked clientId=%s, "
                    "current clientId=%s, mq=%s",
                    group,
                    entry.client_id,
                    client_id,
                    mq,
                )
        if not table:
            self._table.pop(group, None)
        return released

    def unlock_client(self, group: str, client_id: str) -> list[MessageQueue]:
        """Drop every lock ``client_id`` holds in ``group``; returns the queues released."""
        table = self._table.get(group)
        if not table:
            return []
        released = [mq for mq, entry in table.items() if entry.client_id == client_id]
        for mq in released:
            del table[mq]
        if not table:
            del self._table[group]
        if released:
            log.info(
                "dropped %d queue lock(s) of client %s in group %s", len(released), client_id, group
            )
        return released

    def on_channel_closed(self, channel: Channel, consumers: ConsumerManager) -> list[str]:
        """Drop the locks of the consumer that was connected on ``channel``.

        Call it before ``consumers`` forgets the channel: the client id of a channel is known
        only from its heartbeats. A client id still connected to the group on another channel
        keeps its locks.

        Returns:
            The groups in which locks were dropped.
        """
        dropped = []
        for group in list(self._table):
            info = consumers.group_info(group)
            client = info.channels.get(channel) if info is not None else None
            if info is None or client is None:
                continue
            elsewhere = any(
                other.client_id == client.client_id
                for ch, other in info.channels.items()
                if ch is not channel
            )
            if not elsewhere and self.unlock_client(group, client.client_id):
                dropped.append(group)
        return dropped

    # -- queries and upkeep -----------------------------------------------------------------

    def is_lock_all_expired(self, group: str, now_ms: int) -> bool:
        """Whether no queue of ``group`` holds a live lock."""
        table = self._table.get(group)
        return not table or all(self._expired(e, now_ms) for e in table.values())

    def owner(self, group: str, mq: MessageQueue, now_ms: int) -> str | None:
        """The client id holding a live lock on ``mq`` in ``group``, or ``None``."""
        entry = self._table.get(group, {}).get(mq)
        if entry is None or self._expired(entry, now_ms):
            return None
        return entry.client_id

    def purge_expired(self, now_ms: int) -> int:
        """Forget every expired lock; returns how many were dropped."""
        before = self.size()
        for group in list(self._table):
            if not self._purge_group(group, now_ms):
                self._table.pop(group, None)
        return before - self.size()

    def size(self) -> int:
        """Lock entries held (expired ones not yet purged included)."""
        return sum(len(table) for table in self._table.values())

    def _purge_group(self, group: str, now_ms: int) -> dict[MessageQueue, LockEntry]:
        """The group's table (created if absent) with its expired entries removed."""
        table = self._table.setdefault(group, {})
        for mq in [mq for mq, e in table.items() if self._expired(e, now_ms)]:
            entry = table.pop(mq)
            log.info("lock of mq %s in group %s by client %s expired", mq, group, entry.client_id)
        return table
