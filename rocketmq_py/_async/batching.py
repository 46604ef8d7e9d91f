"""Batch sends: ``send_batch``, and batches larger than one request split and joined.

:class:`BatchSends` holds the producer's batch sending (a base of ``AsyncProducer``): the
public ``send_batch`` and the request path it shares with automatic batching
(:mod:`rocketmq_py._async.accumulator`).

A broker refuses a batch whose stored records pass ``maxMessageSize`` together (4 MiB by
default; Java's ``MessageExtBatchEncoder`` checks each record and their total). Java leaves
splitting to the application (the ``ListSplitter`` of its batch example);
``AsyncProducer.send_batch`` splits for it, in order, against the producer's
``max_message_size`` (the same 4 MiB by default). A message is counted as the record the
broker will store: its body and properties, the topic, the record's fixed fields (IPv6 hosts
assumed) and room for the properties the broker adds (``CLUSTER``, ``WAIT``), so every
request passes the broker's check.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Protocol

from rocketmq_py._async.namespace import wrap_queue
from rocketmq_py._async.outgoing import Outgoing
from rocketmq_py._trace import TraceHook, trace, tracing_active
from rocketmq_py.exceptions import ConfigError
from rocketmq_py.message import Message, MessageQueueRef, SendResult, SendStatus
from rocketmq_py.protocol.message import encode_batch, encode_properties

__all__ = ["BatchSends", "join_results", "split_batch", "split_result"]


class _Producer(Protocol):
    """What batch sending uses of ``AsyncProducer`` (the self type of :class:`BatchSends`)."""

    namespace: str
    max_message_size: int
    _hooks: tuple[TraceHook, ...]

    def _prepare(self, message: Message, *, compress: bool = True) -> Outgoing: ...

    async def _send(self, out: Outgoing, queue: MessageQueueRef | None) -> SendResult: ...

    def _trace_info(self, out: Outgoing, properties: object, **extra: Any) -> dict[str, Any]: ...

    async def _send_parts(
        self, parts: list[Outgoing], queue: MessageQueueRef | None, texts: list[str] | None = None
    ) -> list[tuple[SendResult, list[Outgoing]]]: ...

    async def _send_batch_request(
        self, parts: list[Outgoing], queue: MessageQueueRef | None, texts: list[str] | None
    ) -> SendResult: ...


class BatchSends:
    """``AsyncProducer``'s batch sends (SEND_BATCH_MESSAGE)."""

    async def send_batch(
        self: _Producer, messages: Sequence[Message], *, queue: MessageQueueRef | None = None
    ) -> SendResult:
        """Send several messages of one topic as one request (SEND_BATCH_MESSAGE).

        With ``queue`` (of the messages' topic) the batch goes there in one attempt, as Java's
        ``send(Collection, MessageQueue)``. Trace hooks see ``info["properties"]`` as the list
        of every message's properties. Bodies are never compressed (a batch has no
        per-message flag to say so; Java's rule too).

        A batch whose stored records would pass ``max_message_size`` together (the broker's
        limit for one request) is sent as several requests, in order (see
        ``rocketmq_py._async.batching``); the result then joins their message ids and offset
        ids, and its queue and queue offset are the first request's.
        """
        if not messages:
            raise ConfigError("messages", [], "a batch needs at least one message")
        topic = messages[0].topic
        if queue is not None and queue.topic != topic:
            raise ConfigError("queue", queue, f"is not a queue of the batch's topic {topic}")
        parts: list[Outgoing] = []
        for message in messages:
            if message.topic != topic:
                raise ConfigError(
                    "messages", message.topic, f"every message of a batch must go to {topic}"
                )
            if message.delay_level:
                raise ConfigError("delay_level", message.delay_level, "batches cannot be delayed")
            for name in ("deliver_at", "delay"):
                if getattr(message, name) is not None:
                    raise ConfigError(name, getattr(message, name), "batches cannot be scheduled")
            # Uncompressed, as Java's tryToCompressMessage leaves a MessageBatch alone.
            parts.append(self._prepare(replace(message, body=message.body_bytes()), compress=False))
        sent = await self._send_parts(parts, queue)
        return sent[0][0] if len(sent) == 1 else join_results([result for result, _ in sent])

    async def _send_parts(
        self: _Producer,
        parts: list[Outgoing],
        queue: MessageQueueRef | None,
        texts: list[str] | None = None,
    ) -> list[tuple[SendResult, list[Outgoing]]]:
        """Prepared messages of one topic as batch requests, in order, each within
        ``max_message_size``: every request's result with the messages it carried.
        ``texts``: their properties already encoded (as ``encode_properties(...,
        trailing_separator=False)``), else encoded here."""
        target = wrap_queue(self.namespace, queue) if queue else None
        # Each message's properties, encoded once: to size the requests and, when no hook can
        # change them before a request is encoded, for the requests themselves.
        if texts is None:
            texts = [encode_properties(p.properties, trailing_separator=False) for p in parts]
        reuse = not tracing_active(self._hooks)
        sent = []
        for start, end in split_batch(parts, texts, self.max_message_size):
            run = parts[start:end]
            result = await self._send_batch_request(
                run, target, texts[start:end] if reuse else None
            )
            sent.append((result, run))
        return sent

    async def _send_batch_request(
        self: _Producer,
        parts: list[Outgoing],
        queue: MessageQueueRef | None,
        texts: list[str] | None = None,
    ) -> SendResult:
        """One SEND_BATCH_MESSAGE of prepared messages (to ``queue``, wire name, if given);
        ``texts``: their properties already encoded (else encoded here, after the hooks)."""
        out = Outgoing(parts[0].topic, b"", {}, 0, 0, [i for p in parts for i in p.msg_ids], True)
        async with trace(
            "send", self._hooks, self._trace_info(out, [p.properties for p in parts])
        ) as info:
            # Encoded after send.started so hooks may add properties (trace context) first.
            if texts is None:
                out.body = encode_batch([(p.body, p.flag, p.properties) for p in parts])
            else:
                out.body = encode_batch(
                    [(p.body, p.flag, t) for p, t in zip(parts, texts, strict=True)]
                )
            info["body_size"] = len(out.body)
            result = await self._send(out, queue)
            info["result"] = result
            info["queue"] = result.queue
        return result


#: A stored record's fixed fields with IPv6 born and store hosts (protocol.md 4.1), the topic
#: and properties length fields (3 bytes), and 64 bytes for the properties a broker appends.
_RECORD_OVERHEAD = 116 + 3 + 64


def split_batch(
    parts: Sequence[Outgoing], texts: Sequence[str], limit: int
) -> list[tuple[int, int]]:
    """``parts`` in order (``texts``: their encoded properties), cut into runs
    ``parts[start:end]`` whose stored records stay within ``limit`` bytes.

    Raises:
        ConfigError: one message alone is over ``limit`` (no request could carry it).
    """
    runs: list[tuple[int, int]] = []
    start = size = 0
    topic = len(parts[0].topic.encode()) if parts else 0
    for position, (part, text) in enumerate(zip(parts, texts, strict=True)):
        props = len(text) if text.isascii() else len(text.encode())
        item = _RECORD_OVERHEAD + topic + len(part.body) + props  # an upper bound
        if item > limit:
            raise ConfigError(
                "messages",
                f"<message {position}: {item} bytes stored>",
                f"exceeds max_message_size {limit}",
            )
        if position > start and size + item > limit:
            runs.append((start, position))
            start, size = position, 0
        size += item
    runs.append((start, len(parts)))
    return runs


def join_results(results: Sequence[SendResult]) -> SendResult:
    """One result for a batch sent as several requests: every request's message ids and
    offset ids in order, the first request's queue and queue offset, and the first status
    that is not SEND_OK (else SEND_OK)."""
    first = results[0]
    status = next((r.status for r in results if r.status is not SendStatus.SEND_OK), first.status)
    return SendResult(
        status,
        ",".join(r.msg_id for r in results),
        ",".join(r.offset_msg_id for r in results),
        first.queue,
        first.queue_offset,
        first.region_id,
    )


def split_result(result: SendResult, parts: Sequence[Outgoing]) -> list[SendResult]:
    """Each message's own result from the result of the batch request that carried
    ``parts``: its message id, its offset id (the broker answers them comma-joined, in order)
    and its queue offset (the batch's are consecutive from the first)."""
    offset_ids = result.offset_msg_id.split(",")
    if len(offset_ids) != len(parts):  # a broker that answers a single id: every one gets it
        offset_ids = [result.offset_msg_id] * len(parts)
    return [
        SendResult(
            result.status,
            part.msg_ids[0],
            offset_id,
            result.queue,
            result.queue_offset + position,
            result.region_id,
        )
        for position, (part, offset_id) in enumerate(zip(parts, offset_ids, strict=True))
    ]
