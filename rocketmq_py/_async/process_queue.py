"""``ProcessQueue``: a push consumer's state for one assigned queue (Java's ``ProcessQueue``).

It records where to pull next, the messages pulled and not yet finished (the offset to commit
is the lowest of them), and, for orderly consumption, the queue's lock as this client last
saw it and whether a handler of the queue is running.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import anyio

from rocketmq_py._async.rebalance import Signal
from rocketmq_py.message import MessageQueueRef, MessageView

__all__ = ["REBALANCE_LOCK_MAX_LIVE_TIME", "ProcessQueue"]

#: Java's client-side ``rocketmq.client.rebalance.lockMaxLiveTime``: a lock not renewed for
#: this long is treated as lost (the broker keeps it 60 s, so the client stops well before
#: another consumer can take the queue over).
REBALANCE_LOCK_MAX_LIVE_TIME = 30.0


@dataclass(eq=False)
class ProcessQueue:
    """One assigned queue: where to pull next and the messages pulled but not finished.

    ``messages`` maps queue offsets to unfinished messages; ``heap`` holds their offsets (plus
    finished ones, dropped lazily) so the lowest unfinished offset is cheap to find whatever
    order messages finish in.

    Orderly consumption also uses ``locked``/``last_lock_time`` (the broker lock, as of the
    last lock request; times from ``anyio.current_time()``), ``consuming`` (a handler call is
    running) and the ``changed`` signal (messages arrived, the lock or ``dropped`` changed, or
    a handler call ended).
    """

    queue: MessageQueueRef
    next_offset: int | None = None
    committed: int | None = None
    messages: dict[int, MessageView] = field(default_factory=dict)
    heap: list[int] = field(default_factory=list)
    cached_bytes: int = 0
    dropped: bool = False
    # Notified whenever a message finishes: a pull loop paused by flow control waits on it.
    room: Signal = field(default_factory=Signal)
    scope: anyio.CancelScope | None = None
    flow_control_times: int = 0
    locked: bool = False
    last_lock_time: float = 0.0
    consuming: bool = False
    changed: Signal = field(default_factory=Signal)

    def add(self, messages: list[MessageView]) -> list[MessageView]:
        """Cache pulled messages; returns those not cached already."""
        added = []
        for message in messages:
            offset = message.queue_offset
            if offset in self.messages:
                continue
            self.messages[offset] = message
            heapq.heappush(self.heap, offset)
            self.cached_bytes += len(message.body)
            added.append(message)
        if added:
            self.changed.notify()
        return added

    def finish(self, message: MessageView) -> None:
        """Forget a message that is done with (consumed, sent back or dropped)."""
        cached = self.messages.pop(message.queue_offset, None)
        if cached is None:
            return
        self.cached_bytes -= len(cached.body)
        while self.heap and self.heap[0] not in self.messages:
            heapq.heappop(self.heap)
        self.room.notify()

    def first(self) -> MessageView | None:
        """The unfinished message with the lowest offset (the next one in queue order)."""
        while self.heap and self.heap[0] not in self.messages:
            heapq.heappop(self.heap)
        return self.messages[self.heap[0]] if self.heap else None

    def consumed_offset(self) -> int | None:
        """The offset to commit: the lowest unfinished message, else the next pull position."""
        first = self.first()
        return first.queue_offset if first is not None else self.next_offset

    def drop(self) -> None:
        """Stop pulling and consuming this queue (it was taken away, or the consumer stops)."""
        self.dropped = True
        if self.scope is not None:
            self.scope.cancel()
        self.changed.notify()
        self.room.notify()

    def mark_locked(self, locked: bool, now: float) -> None:
        """Record the outcome of a lock request made at ``now``."""
        if locked:
            self.last_lock_time = now
        self.locked = locked
        self.changed.notify()

    def lock_usable(self, now: float) -> bool:
        """Held, and renewed less than :data:`REBALANCE_LOCK_MAX_LIVE_TIME` ago."""
        return self.locked and now - self.last_lock_time <= REBALANCE_LOCK_MAX_LIVE_TIME
