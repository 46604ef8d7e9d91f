"""The pieces of a transaction: its states, its handle and its send result.

The rules of one transaction (:class:`AsyncTransaction`), in the spirit of h11's state rules:

* Rule 1: it is OPEN from the moment its half message is stored.
* Rule 2: it ends exactly once: ``commit()`` -> COMMIT, ``rollback()`` -> ROLLBACK, ``end(s)``
  -> s; a second call raises :class:`~rocketmq_py.exceptions.LocalProtocolError` and sends
  nothing.
* Rule 3: one that never ends (the process died, the task was cancelled) stays UNKNOWN on the
  broker until the producer group's checker decides.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from rocketmq_py.exceptions import ConfigError, LocalProtocolError
from rocketmq_py.message import Message, MessageView, SendResult
from rocketmq_py.protocol.message import MessageSysFlag

if TYPE_CHECKING:
    from rocketmq_py._async.transaction import AsyncTransactionProducer

__all__ = [
    "WIRE_STATE",
    "AsyncTransaction",
    "LocalTransaction",
    "TransactionChecker",
    "TransactionSendResult",
    "TransactionState",
    "as_state",
    "transaction_send_result",
]


class TransactionState(enum.Enum):
    """The outcome of a local transaction (Java's ``LocalTransactionState``)."""

    COMMIT = "COMMIT"
    ROLLBACK = "ROLLBACK"
    UNKNOWN = "UNKNOWN"


#: ``commitOrRollback`` on the wire (MessageSysFlag transaction types; 4 = PREPARED never ends).
WIRE_STATE = {
    TransactionState.COMMIT: MessageSysFlag.TRANSACTION_COMMIT_TYPE,
    TransactionState.ROLLBACK: MessageSysFlag.TRANSACTION_ROLLBACK_TYPE,
    TransactionState.UNKNOWN: MessageSysFlag.TRANSACTION_NOT_TYPE,
}

#: Answers a check-back: called with the half message, returns its transaction's state. An
#: ``async def`` runs on the event loop, anything else in a worker thread.
TransactionChecker = Callable[[MessageView], TransactionState | Awaitable[TransactionState]]
#: The local transaction of :meth:`AsyncTransactionProducer.send_in_transaction`: called with
#: the message and the half message's send result; ``None`` counts as UNKNOWN (as in Java).
LocalTransaction = Callable[
    [Message, SendResult], TransactionState | Awaitable[TransactionState | None] | None
]


@dataclass(frozen=True, slots=True)
class TransactionSendResult(SendResult):
    """A :class:`~rocketmq_py.SendResult` for the half message plus how it ended.

    Attributes:
        local_transaction_state: what the local transaction decided (ROLLBACK without running
            it when the half message was stored with a FLUSH_*/SLAVE_NOT_AVAILABLE status).
    """

    local_transaction_state: TransactionState = TransactionState.UNKNOWN


def transaction_send_result(result: SendResult, state: TransactionState) -> TransactionSendResult:
    """``result`` with the local transaction's ``state`` added."""
    values = {f.name: getattr(result, f.name) for f in fields(SendResult)}
    if not values.get("transaction_id"):
        values["transaction_id"] = result.msg_id
    return TransactionSendResult(**values, local_transaction_state=state)


def as_state(value: object, what: str) -> TransactionState:
    """``value`` as returned by user code ``what``; ``None`` means UNKNOWN, as in Java."""
    if value is None:
        return TransactionState.UNKNOWN
    if isinstance(value, TransactionState):
        return value
    raise ConfigError(what, value, "must return a TransactionState (or None for UNKNOWN)")


class AsyncTransaction:
    """An open transaction: its half message is stored; end it once with commit or rollback.

    Attributes:
        message: the message as given to :meth:`AsyncTransactionProducer.begin`.
        send_result: the half message's send result.
    """

    __slots__ = ("_producer", "_state", "message", "send_result")

    def __init__(
        self, producer: AsyncTransactionProducer, message: Message, send_result: SendResult
    ) -> None:
        self._producer = producer
        self.message = message
        self.send_result = send_result
        self._state: TransactionState | None = None

    @property
    def transaction_id(self) -> str:
        """The transaction id (the half message's ``UNIQ_KEY``, as the broker sets it)."""
        return self.send_result.transaction_id or self.send_result.msg_id

    @property
    def msg_id(self) -> str:
        """The message id consumers will see for the committed message (``UNIQ_KEY``)."""
        return self.send_result.msg_id

    @property
    def state(self) -> TransactionState | None:
        """How this producer ended it, or ``None`` while it is open."""
        return self._state

    async def commit(self) -> None:
        """Commit: the broker delivers the message. Raises LocalProtocolError once ended."""
        await self.end(TransactionState.COMMIT)

    async def rollback(self) -> None:
        """Roll back: the broker drops the message. Raises LocalProtocolError once ended."""
        await self.end(TransactionState.ROLLBACK)

    async def end(self, state: TransactionState, *, remark: str | None = None) -> None:
        """Send END_TRANSACTION with ``state`` (UNKNOWN leaves the decision to the checker).

        Args:
            state: the outcome.
            remark: free text for the broker's log (Java puts the local exception there).

        Raises:
            LocalProtocolError: the transaction already ended.
        """
        if self._state is not None:
            raise LocalProtocolError(
                f"transaction {self.transaction_id} already ended with {self._state.value}; "
                "commit(), rollback() and end() may be called once"
            )
        self._state = state
        await self._producer._end_transaction(self, state, remark)
