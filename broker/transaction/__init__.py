"""Transactional (half) messages: parking prepared messages, their commit/rollback records and
the check-back service that asks producers about the ones left unresolved."""

from broker.transaction.half import (
    CHECK_GROUP,
    CHECK_MAX_TOPIC,
    HALF_TOPIC,
    OP_TOPIC,
    REMOVE_TAG,
    immunity_ms,
    op_record,
    to_half_message,
)

__all__ = [
    "CHECK_GROUP",
    "CHECK_MAX_TOPIC",
    "HALF_TOPIC",
    "OP_TOPIC",
    "REMOVE_TAG",
    "immunity_ms",
    "op_record",
    "to_half_message",
]
