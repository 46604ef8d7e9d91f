"""Offset commits of ``AsyncLitePullConsumer``: which positions to store, and when.

:meth:`~rocketmq_py.AsyncLitePullConsumer.commit` stores the offsets the caller names, or
the consumed positions that changed since their last commit. With ``auto_commit`` those
changed positions are also stored every ``auto_commit_interval`` seconds and at shutdown,
and a queue taken away (by a rebalance or :meth:`~rocketmq_py.AsyncLitePullConsumer.assign`)
has its position stored at once. :class:`LitePullCommitter` does that bookkeeping (the offset
store does the storing); it is kept apart from the consumer, which only decides when.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

import anyio

from rocketmq_py._async.lite_pull_fetch import QueueState
from rocketmq_py.message import MessageQueueRef

if TYPE_CHECKING:
    from rocketmq_py._async.lite_pull import AsyncLitePullConsumer

__all__ = ["LitePullCommitter"]

log = logging.getLogger("rocketmq_py.consumer")


def _changed_positions(states: Iterable[QueueState]) -> dict[MessageQueueRef, int]:
    return {
        s.queue: s.consumed for s in states if s.consumed is not None and s.consumed != s.committed
    }


class LitePullCommitter:
    """The commits of one :class:`~rocketmq_py.AsyncLitePullConsumer`.

    It uses the consumer's offset store and queue states, and marks what was stored as
    committed there.
    """

    def __init__(self, consumer: AsyncLitePullConsumer) -> None:
        self._c = consumer

    async def commit_positions(self, *, raise_errors: bool) -> None:
        """Store the consumed positions of the assigned queues that changed."""
        await self.commit_offsets(_changed_positions(self._c._states.values()), raise_errors)

    async def commit_dropped(self, states: list[QueueState]) -> None:
        """Store the consumed positions of queues just taken away (errors are not raised)."""
        await self.commit_offsets(_changed_positions(states), raise_errors=False)

    async def commit_offsets(self, offsets: dict[MessageQueueRef, int], raise_errors: bool) -> None:
        """Store ``offsets``; what was stored counts as committed even if others failed."""
        stored, error = await self._c._offsets.commit(offsets)
        for queue, offset in stored.items():
            state = self._c._states.get(queue)
            if state is not None:
                state.committed = offset
        if error is not None and raise_errors:
            raise error

    async def auto_commit_loop(self) -> None:
        """Commit the changed positions every ``auto_commit_interval`` seconds."""
        c = self._c
        while True:
            await anyio.sleep(c.auto_commit_interval)
            try:
                await self.commit_positions(raise_errors=False)
            except Exception:
                log.exception("auto-commit of %s failed", c.group)
