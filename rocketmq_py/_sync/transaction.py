"""``TransactionProducer``: the blocking twin of :class:`~rocketmq_py.AsyncTransactionProducer`.

The local transaction of :meth:`TransactionProducer.send_in_transaction` and the body of a
``with producer.transaction(message)`` block run in the calling thread, so they can use that
thread's database session; only the sends go through the shared event loop thread. The
checker runs in worker threads of that loop (``check_concurrency`` at most).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from rocketmq_py._async.transaction import AsyncTransactionProducer
from rocketmq_py._async.transaction_handle import (
    AsyncTransaction,
    TransactionChecker,
    TransactionSendResult,
    TransactionState,
    as_state,
    transaction_send_result,
)
from rocketmq_py._async.user_code import is_async_callable
from rocketmq_py._sync._portal import SyncClient
from rocketmq_py._sync.producer import Producer
from rocketmq_py._trace import TraceHook
from rocketmq_py.exceptions import ConfigError
from rocketmq_py.message import Message, SendResult, SendStatus

__all__ = ["Transaction", "TransactionProducer"]

log = logging.getLogger("rocketmq_py.transaction")

#: A blocking local transaction: ``(message, half send result) -> TransactionState | None``.
_SyncLocalTransaction = Callable[[Message, SendResult], TransactionState | None]


class Transaction:
    """The blocking twin of :class:`~rocketmq_py.AsyncTransaction`: end it once.

    Attributes:
        message: the message as given to :meth:`TransactionProducer.begin`.
        send_result: the half message's send result.
    """

    __slots__ = ("_async", "_owner", "message", "send_result")

    def __init__(self, owner: TransactionProducer, tx: AsyncTransaction) -> None:
        self._owner = owner
        self._async = tx
        self.message = tx.message
        self.send_result = tx.send_result

    @property
    def transaction_id(self) -> str:
        """The transaction id (the half message's ``UNIQ_KEY``)."""
        return self._async.transaction_id

    @property
    def msg_id(self) -> str:
        """The message id consumers will see for the committed message."""
        return self._async.msg_id

    @property
    def state(self) -> TransactionState | None:
        """How this producer ended it, or ``None`` while it is open."""
        return self._async.state

    def commit(self) -> None:
        """Commit: the broker delivers the message. Raises LocalProtocolError once ended."""
        self._owner._call(self._async.commit)

    def rollback(self) -> None:
        """Roll back: the broker drops the message. Raises LocalProtocolError once ended."""
        self._owner._call(self._async.rollback)

    def end(self, state: TransactionState, *, remark: str | None = None) -> None:
        """Send END_TRANSACTION with ``state``; see :meth:`AsyncTransaction.end`."""
        self._owner._call(self._async.end, state, remark=remark)


class TransactionProducer(Producer):
    """Sends transactional (and plain) messages, blocking.

    Use as ``with TransactionProducer("PG", addr, checker=check) as p:``, then
    ``with p.transaction(message) as tx:`` or ``p.send_in_transaction(message, local_tx)``.
    Arguments are those of :class:`~rocketmq_py.AsyncTransactionProducer`; a sync ``checker``
    runs in worker threads of the shared loop thread.
    """

    _async_twin = "AsyncTransactionProducer"

    def __init__(
        self,
        group: str,
        namesrv_addr: str | None = None,
        *,
        checker: TransactionChecker | None = None,
        check_concurrency: int = 4,
        check_queue_size: int = 2000,
        topics: Sequence[str] = (),
        send_timeout: float = 3.0,
        retries: int = 2,
        compress_over: int = 4096,
        max_message_size: int = 4 * 1024 * 1024,
        default_topic_queue_nums: int = 4,
        hooks: Sequence[TraceHook] = (),
        namespace: str | None = None,
    ) -> None:
        self._tx_async = AsyncTransactionProducer(
            group,
            namesrv_addr,
            checker=checker,
            check_concurrency=check_concurrency,
            check_queue_size=check_queue_size,
            topics=topics,
            send_timeout=send_timeout,
            retries=retries,
            compress_over=compress_over,
            max_message_size=max_message_size,
            default_topic_queue_nums=default_topic_queue_nums,
            hooks=hooks,
            namespace=namespace,
        )
        SyncClient.__init__(self, self._tx_async)

    def begin(self, message: Message) -> Transaction:
        """Send the half message; return the open transaction (see the async ``begin``)."""
        return Transaction(self, self._call(self._tx_async.begin, message))

    @contextmanager
    def transaction(self, message: Message) -> Iterator[Transaction]:
        """``with producer.transaction(message) as tx:``: commit on success, rollback on an
        exception (which propagates); ``tx.commit()``/``tx.rollback()`` inside decide early.
        ``KeyboardInterrupt``/``SystemExit`` leave it UNKNOWN for the checker."""
        tx = self.begin(message)
        try:
            yield tx
        except Exception as exc:
            if tx.state is None:
                tx.end(
                    TransactionState.ROLLBACK,
                    remark=f"executeLocalTransactionBranch exception: {exc!r}",
                )
            raise
        if tx.state is None:
            tx.commit()

    def send_in_transaction(
        self, message: Message, local_transaction: _SyncLocalTransaction
    ) -> TransactionSendResult:
        """Java's ``sendMessageInTransaction``; ``local_transaction(message, send_result)``
        runs in the calling thread. See ``AsyncTransactionProducer.send_in_transaction``.

        Raises:
            ConfigError: ``local_transaction`` is an ``async def`` (use the async producer),
                or ``message`` is not one Message.
        """
        if is_async_callable(local_transaction):
            raise ConfigError(
                "local_transaction",
                local_transaction,
                "the blocking producer runs it in the calling thread; pass a plain function "
                "or use AsyncTransactionProducer",
            )
        portal = self._running_portal("send_in_transaction")
        tx = portal.call(self._tx_async._send_half, message)
        result = tx.send_result
        state, remark = TransactionState.ROLLBACK, None
        if result.status is SendStatus.SEND_OK:
            try:
                state = as_state(local_transaction(message, result), "local_transaction")
            except Exception as exc:
                log.exception("local transaction failed for message %s; sending UNKNOWN", tx.msg_id)
                state = TransactionState.UNKNOWN
                remark = f"executeLocalTransactionBranch exception: {exc!r}"
        portal.call(functools.partial(tx.end, state, remark=remark))
        return transaction_send_result(result, state)
