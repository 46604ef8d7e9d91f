"""``Producer``: the blocking twin of :class:`~rocketmq_py.AsyncProducer`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rocketmq_py._async.producer import AsyncProducer
from rocketmq_py._async.selectors import MessageQueueSelector
from rocketmq_py._sync._portal import SyncClient
from rocketmq_py._sync.direct import DirectSender, Retry
from rocketmq_py._trace import TraceHook
from rocketmq_py.message import Message, MessageQueueRef, SendResult

__all__ = ["Producer"]


class Producer(SyncClient[AsyncProducer]):
    """Sends messages, blocking; use as ``with Producer("PG", "127.0.0.1:9876") as p:``.

    Each method runs its :class:`~rocketmq_py.AsyncProducer` twin on the event loop thread
    shared by every blocking client, so one producer may be used from several threads at once;
    plain :meth:`send` calls to a topic and broker already used skip that hand-off and are
    made from the calling thread (see ``rocketmq_py._sync.direct``).
    Calling it from a thread that runs an event loop raises
    :class:`~rocketmq_py.exceptions.SyncInAsyncContextError`: use ``AsyncProducer`` there.

    Args:
        group: producer group name.
        namesrv_addr: ``;``-separated name servers (default ``$NAMESRV_ADDR``).
        send_timeout: seconds per send attempt (Java's 3 s).
        retries: extra attempts for a failed send (Java's 2).
        compress_over: bodies of at least this many bytes are zlib-compressed (Java's 4 KiB).
        max_message_size: largest body accepted client-side (4 MiB).
        default_topic_queue_nums: queues per broker for auto-created topics (Java's 4).
        hooks: trace hooks around every send (run on the shared loop thread; see
            ``rocketmq_py._trace`` and ``integrations.opentelemetry``).
        namespace: wraps the group and topics as ``namespace%name`` on the wire.
        auto_batch, batch_max_delay, batch_max_bytes, total_batch_max_bytes: concurrent
            plain sends (from several threads) leave as batches, each caller still getting
            its own result; such sends go through the event loop thread, where they meet. See
            :class:`~rocketmq_py.AsyncProducer`.
    """

    _async_twin = "AsyncProducer"
    # A class default: TransactionProducer builds its async twin without Producer.__init__.
    _direct: DirectSender | None = None

    def __init__(
        self,
        group: str,
        namesrv_addr: str | None = None,
        *,
        send_timeout: float = 3.0,
        retries: int = 2,
        compress_over: int = 4096,
        max_message_size: int = 4 * 1024 * 1024,
        default_topic_queue_nums: int = 4,
        hooks: Sequence[TraceHook] = (),
        namespace: str | None = None,
        auto_batch: bool = False,
        batch_max_delay: float = 0.0,
        batch_max_bytes: int = 32 * 1024,
        total_batch_max_bytes: int = 32 * 1024 * 1024,
    ) -> None:
        super().__init__(
            AsyncProducer(
                group,
                namesrv_addr,
                send_timeout=send_timeout,
                retries=retries,
                compress_over=compress_over,
                max_message_size=max_message_size,
                default_topic_queue_nums=default_topic_queue_nums,
                hooks=hooks,
                namespace=namespace,
                auto_batch=auto_batch,
                batch_max_delay=batch_max_delay,
                batch_max_bytes=batch_max_bytes,
                total_batch_max_bytes=total_batch_max_bytes,
            )
        )

    def start(self) -> None:
        super().start()
        self._direct = DirectSender(self._async)

    def shutdown(self) -> None:
        direct, self._direct = self._direct, None
        if direct is not None:
            direct.close()
        super().shutdown()

    @property
    def group(self) -> str:
        """The producer group."""
        return self._async.group

    @property
    def client_id(self) -> str:
        """This producer's client id (``ip@instance``)."""
        return self._async.client_id

    def send(
        self,
        message: Message,
        *,
        queue: MessageQueueRef | None = None,
        selector: MessageQueueSelector | None = None,
        arg: Any = None,
        sharding_key: str | None = None,
    ) -> SendResult:
        """Send and wait for the broker to store it; retried on retriable failures unless
        ``queue``, ``selector`` (with ``arg``) or ``sharding_key`` chose the queue (one attempt,
        see :meth:`AsyncProducer.send <rocketmq_py.AsyncProducer.send>`).

        A plain send to a topic and broker this producer already used is made from the calling
        thread on its own socket (see ``rocketmq_py._sync.direct``); a failure is retried on
        the event loop thread with the same message id.
        """
        direct = self._direct_for("send", queue, selector, arg, sharding_key)
        if direct is not None:
            outcome = direct.send(message)
            if isinstance(outcome, SendResult):
                return outcome
            if isinstance(outcome, Retry):
                return self._call(self._async.send_prepared, outcome.out)
        return self._call(
            self._async.send,
            message,
            queue=queue,
            selector=selector,
            arg=arg,
            sharding_key=sharding_key,
        )

    def _direct_for(
        self,
        method: str,
        queue: MessageQueueRef | None,
        selector: MessageQueueSelector | None,
        arg: Any,
        sharding_key: str | None,
    ) -> DirectSender | None:
        """The direct sender when this is a plain send of a started producer (checked to come
        from a thread without an event loop), else ``None``."""
        direct = self._direct
        plain = queue is None and selector is None and arg is None and sharding_key is None
        if direct is None or not plain:
            return None
        if method == "send" and self._async.auto_batch:
            return None  # held on the event loop, where other threads' sends join it
        self._check(method)
        return direct

    def send_batch(
        self, messages: Sequence[Message], *, queue: MessageQueueRef | None = None
    ) -> SendResult:
        """Send several messages of one topic as one request (SEND_BATCH_MESSAGE), to
        ``queue`` in one attempt when given; split into several requests in order when one
        would pass ``max_message_size`` (see :meth:`AsyncProducer.send_batch`)."""
        return self._call(self._async.send_batch, messages, queue=queue)

    def send_oneway(
        self,
        message: Message,
        *,
        queue: MessageQueueRef | None = None,
        selector: MessageQueueSelector | None = None,
        arg: Any = None,
        sharding_key: str | None = None,
    ) -> None:
        """Send without waiting for any answer (no retry, no result); the queue is chosen as
        for :meth:`send`, and a plain one leaves from the calling thread like :meth:`send`."""
        direct = self._direct_for("send_oneway", queue, selector, arg, sharding_key)
        if direct is not None and direct.send_oneway(message):
            return None
        return self._call(
            self._async.send_oneway,
            message,
            queue=queue,
            selector=selector,
            arg=arg,
            sharding_key=sharding_key,
        )

    def recall(self, topic: str, handle: str) -> str:
        """Cancel a timer message before it is due (see ``AsyncProducer.recall``); returns
        its message id."""
        return self._call(self._async.recall, topic, handle)
