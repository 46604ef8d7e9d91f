"""Transactional (half) messages: storage of prepared messages and their commit/rollback."""

from broker.transaction.half import (
    HALF_TOPIC,
    OP_TOPIC,
    REMOVE_TAG,
    op_record,
    to_half_message,
)

__all__ = ["HALF_TOPIC", "OP_TOPIC", "REMOVE_TAG", "op_record", "to_half_message"]
