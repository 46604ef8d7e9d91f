"""Batches larger than one request: split at ``max_message_size``, results joined.

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
from typing import TYPE_CHECKING

from rocketmq_py.exceptions import ConfigError
from rocketmq_py.message import SendResult, SendStatus
from rocketmq_py.protocol.message import encode_properties

if TYPE_CHECKING:
    from rocketmq_py._async.producer import Outgoing

__all__ = ["join_results", "split_batch", "split_result"]

#: A stored record's fixed fields with IPv6 born and store hosts (protocol.md 4.1), the topic
#: and properties length fields (3 bytes), and 64 bytes for the properties a broker appends.
_RECORD_OVERHEAD = 116 + 3 + 64


def _stored_size(part: Outgoing) -> int:
    """The bytes the broker's record of ``part`` may take (an upper bound)."""
    text = encode_properties(part.properties)
    props = len(text) if text.isascii() else len(text.encode())
    return _RECORD_OVERHEAD + len(part.topic.encode()) + len(part.body) + props


def split_batch(parts: Sequence[Outgoing], limit: int) -> list[list[Outgoing]]:
    """``parts`` in order, cut into runs whose stored records stay within ``limit`` bytes.

    Raises:
        ConfigError: one message alone is over ``limit`` (no request could carry it).
    """
    chunks: list[list[Outgoing]] = []
    current: list[Outgoing] = []
    size = 0
    for position, part in enumerate(parts):
        item = _stored_size(part)
        if item > limit:
            raise ConfigError(
                "messages",
                f"<message {position}: {item} bytes stored>",
                f"exceeds max_message_size {limit}",
            )
        if current and size + item > limit:
            chunks.append(current)
            current, size = [], 0
        current.append(part)
        size += item
    chunks.append(current)
    return chunks


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
