"""Automatic batching of concurrent sends (Java 5.x's ``autoBatch``, ``ProduceAccumulator``).

With ``AsyncProducer(auto_batch=True)``, plain ``send`` calls for the same topic (and queue,
when named) that are made while others wait are held for a moment and go to the broker as one
SEND_BATCH_MESSAGE; each caller still gets its own :class:`~rocketmq_py.SendResult` (its
message id, its offset id, its queue offset). The broker stores them as separate messages:
consumers see no difference.

Why: a single send costs the client and the broker a request each (~30-50 µs of CPU per side
here); a batch of 32 costs them about a third of that per message. Producers that keep many
sends in flight (tasks, threads through the blocking facade) get the batch throughput without
building batches themselves.

When a batch leaves: once it holds ``batch_max_bytes``, or ``batch_max_delay`` seconds after
its first message. Java's default delay is 10 ms; the default here is 0, meaning "at the end
of the event-loop iteration": the sends made by tasks woken together (by the answers to the
previous batch, say) leave together, and a lone send waits for no timer.

What is not batched (sent on its own, as without ``auto_batch``): delayed or scheduled
messages, messages to a retry topic, sends that choose their queue through a selector or a
sharding key, messages of at least ``batch_max_bytes``, and any send while the producer
already holds ``total_batch_max_bytes`` (Java's rules). A batch that fails fails every send in
it, with the same error; retries happen per batch, with its messages' ids unchanged. A message
that cannot be encoded (a property with a separator character, say) fails its own send before
it joins a batch. Bodies in
a batch are not compressed (a batch has no per-message flag for it, as in Java), so messages
between ``compress_over`` and ``batch_max_bytes`` travel uncompressed when batched.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import anyio
import anyio.abc
import anyio.lowlevel
import sniffio

from rocketmq_py._async.batching import split_result
from rocketmq_py.exceptions import ConfigError, ConnectionClosedError
from rocketmq_py.message import Message, MessageQueueRef, SendResult
from rocketmq_py.protocol.message import encode_properties

if TYPE_CHECKING:
    from rocketmq_py._async.producer import AsyncProducer, Outgoing

__all__ = ["SendAccumulator", "check_batch_settings"]


def _on_asyncio() -> bool:
    """Whether the running loop is asyncio's (uvloop included)."""
    try:
        return sniffio.current_async_library() == "asyncio"
    except sniffio.AsyncLibraryNotFoundError:
        return False


_RETRY_PREFIX = "%RETRY%"
#: Held bytes counted per message on top of its body and properties (framing); the batch
#: itself is cut exactly at ``max_message_size`` when it leaves.
_PER_MESSAGE = 32


@dataclass(eq=False)
class _Batch:
    """Messages waiting to leave together, and what became of them.

    On asyncio each sender waits on a future of its own in ``waiters`` (one per message, set
    when the batch settles: an ``asyncio.Event`` per batch costs its waiters several times
    more); on other loops they wait on ``done``.
    """

    queue: MessageQueueRef | None
    parts: list[Outgoing] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)  # their encoded properties
    size: int = 0
    full: anyio.Event = field(default_factory=anyio.Event)
    waiters: list[asyncio.Future[SendResult]] | None = None
    done: anyio.Event | None = None
    results: list[SendResult] = field(default_factory=list)
    error: BaseException | None = None

    def settle(self) -> None:
        """Hand every sender its result, or the batch's error."""
        if self.waiters is not None:
            error = self.error
            for waiter, result in itertools.zip_longest(self.waiters, self.results):
                if waiter.done():  # its sender was cancelled
                    continue
                if error is None:
                    waiter.set_result(result)
                else:
                    waiter.set_exception(error)
        if self.done is not None:
            self.done.set()


def check_batch_settings(
    max_delay: float, max_bytes: int, total_max_bytes: int, max_message_size: int
) -> None:
    """Raise ConfigError for ``auto_batch`` settings that cannot work together."""
    if max_delay < 0:
        raise ConfigError("batch_max_delay", max_delay, "must not be negative")
    if not 0 < max_bytes <= max_message_size:
        raise ConfigError("batch_max_bytes", max_bytes, f"must be in 1..{max_message_size}")
    if total_max_bytes < max_bytes:
        raise ConfigError(
            "total_batch_max_bytes", total_max_bytes, "must be at least batch_max_bytes"
        )


class SendAccumulator:
    """Holds a producer's plain sends and sends them as batches.

    Args:
        producer: the producer whose sends are held (its ``_prepare`` and batch sending).
        max_delay: seconds a batch waits for more messages after its first (0: the rest of
            the event-loop iteration).
        max_bytes: a batch leaves once it holds this many bytes.
        total_max_bytes: beyond this many held bytes, sends go on their own.
    """

    def __init__(
        self, producer: AsyncProducer, *, max_delay: float, max_bytes: int, total_max_bytes: int
    ) -> None:
        self._producer = producer
        self._max_delay = max_delay
        self._max_bytes = max_bytes
        self._total_max_bytes = total_max_bytes
        self._open: dict[tuple[str, MessageQueueRef | None], _Batch] = {}
        self._held = 0
        self._unsettled = 0  # batches started and not yet done
        self._settled: anyio.Event | None = None  # set when _unsettled drops to 0 (drain)
        # The running loop when it is asyncio's (waiters are its futures), else None; known
        # from the first send on, since a producer lives on one event loop.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_known = False
        self._tasks: set[asyncio.Task[None]] = set()  # asyncio's flush tasks, kept referenced

    def accepts(self, message: Message) -> bool:
        """Whether ``message`` may join a batch (see the module docstring)."""
        return (
            not message.delay_level
            and message.deliver_at is None
            and message.delay is None
            and not message.topic.startswith(_RETRY_PREFIX)
        )

    async def send(
        self, message: Message, queue: MessageQueueRef | None, task_group: anyio.abc.TaskGroup
    ) -> SendResult | None:
        """Send ``message`` in a batch and return its own result; ``None`` when it should be
        sent on its own (too large, or too much is held already)."""
        # Errors raise to this caller, not to the batch: a bad message must not fail others.
        part = self._producer._prepare(message, compress=False)
        text = encode_properties(part.properties, trailing_separator=False)
        size = len(part.body) + len(text) + _PER_MESSAGE
        if size >= self._max_bytes or self._held + size > self._total_max_bytes:
            return None
        if not self._loop_known:
            self._loop = asyncio.get_running_loop() if _on_asyncio() else None
            self._loop_known = True
        loop = self._loop
        key = (part.topic, queue)
        batch = self._open.get(key)
        if batch is None:
            batch = self._open[key] = _Batch(queue)
            if loop is not None:
                batch.waiters = []
            else:
                batch.done = anyio.Event()
            self._unsettled += 1
            if loop is not None:
                # A bare asyncio task: anyio's start_soon costs ~1 µs per message of a batch
                # here. _flush never raises but for cancellation, and drain() waits for it.
                task = loop.create_task(self._flush(key, batch))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            else:
                task_group.start_soon(self._flush, key, batch)
        index = len(batch.parts)
        batch.parts.append(part)
        batch.texts.append(text)
        batch.size += size
        self._held += size
        if batch.size >= self._max_bytes:
            self._close(key, batch)
        if loop is not None and batch.waiters is not None:
            waiter: asyncio.Future[SendResult] = loop.create_future()
            batch.waiters.append(waiter)
            return await waiter
        assert batch.done is not None
        await batch.done.wait()
        if batch.error is not None:
            raise batch.error
        return batch.results[index]

    def _close(self, key: tuple[str, MessageQueueRef | None], batch: _Batch) -> None:
        """Take no more messages into ``batch``, and let it leave now."""
        if self._open.get(key) is batch:
            del self._open[key]
        batch.full.set()

    async def _flush(self, key: tuple[str, MessageQueueRef | None], batch: _Batch) -> None:
        """Wait for the batch to fill or its time to pass, then send it and settle its sends."""
        try:
            # With no delay, the sends of this loop iteration join: their tasks were ready
            # before this one, so they run during the yield.
            if self._max_delay > 0:
                with anyio.move_on_after(self._max_delay):
                    await batch.full.wait()
            elif self._loop is not None:
                await asyncio.sleep(0)
            else:
                await anyio.lowlevel.checkpoint()
            self._close(key, batch)
            results = await self._producer._send_parts(batch.parts, batch.queue, batch.texts)
            batch.results = [r for result, run in results for r in split_result(result, run)]
        except Exception as exc:  # the senders raise it; the producer's task group goes on
            batch.error = exc
        except BaseException:  # cancelled (the producer stopped): the senders must not hang
            batch.error = ConnectionClosedError("the producer shut down before the batch left")
            raise
        finally:
            self._held -= batch.size
            batch.settle()
            self._unsettled -= 1
            if self._unsettled == 0 and self._settled is not None:
                self._settled.set()

    async def drain(self) -> None:
        """Send what is held now and wait until every batch started has settled."""
        for key, batch in list(self._open.items()):
            self._close(key, batch)
        if self._unsettled:
            self._settled = anyio.Event()
            await self._settled.wait()
            self._settled = None
