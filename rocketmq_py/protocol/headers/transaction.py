"""Headers of END_TRANSACTION (37) and CHECK_TRANSACTION_STATE (39). See ``protocol.md`` 3.8, 7."""

from __future__ import annotations

from dataclasses import dataclass

from rocketmq_py.protocol.codes import RequestCode
from rocketmq_py.protocol.headers._base import CommandHeader, request_header

__all__ = [
    "CheckTransactionStateRequestHeader",
    "EndTransactionRequestHeader",
]


@request_header(RequestCode.END_TRANSACTION)
@dataclass(slots=True)
class EndTransactionRequestHeader(CommandHeader):
    """END_TRANSACTION (37): commit (8), roll back (12) or leave unknown (0) a half message.

    ``tran_state_table_offset`` is the half message's queue offset (the send response's
    ``queueOffset``), ``commit_log_offset`` its physical offset (from the offset msgId) and
    ``msg_id`` its UNIQ_KEY. Java sends this oneway; the cpp client sends it as a request.
    """

    producer_group: str
    tran_state_table_offset: int
    commit_log_offset: int
    commit_or_rollback: int
    msg_id: str
    from_transaction_check: bool | None = None
    transaction_id: str | None = None
    topic: str | None = None
    bname: str | None = None


@request_header(RequestCode.CHECK_TRANSACTION_STATE)
@dataclass(slots=True)
class CheckTransactionStateRequestHeader(CommandHeader):
    """CHECK_TRANSACTION_STATE (39, broker to producer, oneway): ask a half message's outcome.

    The body is the whole half message with its real topic and queue restored; the producer
    answers with END_TRANSACTION (``from_transaction_check`` true) using these offsets.
    """

    tran_state_table_offset: int
    commit_log_offset: int
    msg_id: str | None = None
    transaction_id: str | None = None
    offset_msg_id: str | None = None
    topic: str | None = None
    bname: str | None = None
