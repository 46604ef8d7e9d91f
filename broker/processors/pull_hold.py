"""Long polling: pulls that found nothing wait here until a message arrives or time runs out.

Apache's ``PullRequestHoldService``. Held pulls are kept per (topic, queue); the store's arrival
listener wakes the ones whose offset is now below the queue's max offset, on the same loop
iteration that wrote the message. Each held pull has one timer (``loop.call_later``), no task.
When woken or timed out, the pull is processed again without permission to suspend, and its
response is delivered through the future the connection is awaiting.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rocketmq_py.protocol.command import RemotingCommand

if TYPE_CHECKING:
    from broker.controller import BrokerController

__all__ = ["HeldPull", "PullHoldService"]


@dataclass(eq=False, slots=True)
class HeldPull:
    """One suspended pull."""

    topic: str
    queue_id: int
    offset: int
    retry: Callable[[], RemotingCommand]
    future: asyncio.Future[RemotingCommand]
    timer: asyncio.TimerHandle | None = field(default=None)


class PullHoldService:
    """Suspended pulls by queue."""

    def __init__(self, controller: BrokerController) -> None:
        self.c = controller
        self._held: dict[tuple[str, int], list[HeldPull]] = {}

    @property
    def held_count(self) -> int:
        """Pulls waiting right now."""
        return sum(len(v) for v in self._held.values())

    def suspend(
        self,
        topic: str,
        queue_id: int,
        offset: int,
        timeout_ms: int,
        retry: Callable[[], RemotingCommand],
    ) -> asyncio.Future[RemotingCommand]:
        """Hold a pull; the returned future resolves with its eventual response."""
        loop = asyncio.get_running_loop()
        held = HeldPull(topic, queue_id, offset, retry, loop.create_future())
        held.timer = loop.call_later(max(timeout_ms, 0) / 1000, self._expire, held)
        self._held.setdefault((topic, queue_id), []).append(held)
        # A message may have landed between the store read and now (the same loop iteration
        # cannot interleave, but keep the rule explicit): check once.
        if self.c.store.get_max_offset_in_queue(topic, queue_id) > offset:
            self._wake(held)
        return held.future

    def notify_message_arriving(self, topic: str, queue_id: int, max_offset: int) -> None:
        """Store arrival listener: wake pulls waiting for this queue below ``max_offset``."""
        waiting = self._held.get((topic, queue_id))
        if not waiting:
            return
        for held in [h for h in waiting if h.offset < max_offset]:
            self._wake(held)

    def _expire(self, held: HeldPull) -> None:
        held.timer = None
        self._wake(held)

    def _wake(self, held: HeldPull) -> None:
        key = (held.topic, held.queue_id)
        waiting = self._held.get(key)
        if waiting is None or held not in waiting:
            return
        waiting.remove(held)
        if not waiting:
            del self._held[key]
        if held.timer is not None:
            held.timer.cancel()
            held.timer = None
        if held.future.done():  # the connection went away and cancelled its wait
            return
        try:
            response = held.retry()
        except Exception as exc:
            held.future.set_exception(exc)
        else:
            held.future.set_result(response)
