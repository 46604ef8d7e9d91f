"""``PushConsumer``: the blocking twin of :class:`~rocketmq_py.AsyncPushConsumer`.

Messages are pulled on the event loop thread every blocking client shares; a handler runs in a
worker thread (at most ``max_concurrency`` at once), so it may block freely: database calls,
HTTP requests, ``time.sleep``. ``with consumer:`` returns at once and consumes in the background
until the block exits; :meth:`PushConsumer.run_forever` blocks the calling thread instead,
for a worker process.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal, TypeVar

from rocketmq_py._async.push import AsyncPushConsumer
from rocketmq_py._async.user_code import is_async_callable
from rocketmq_py._sync._portal import SyncClient
from rocketmq_py._trace import TraceHook
from rocketmq_py.exceptions import ConfigError
from rocketmq_py.message import MessageQueueRef, MessageView

__all__ = ["PushConsumer", "SyncMessageHandler"]

#: A blocking handler: ``None``/``True`` means done; ``False`` or an exception asks for
#: redelivery (CLUSTERING) exactly as for :class:`~rocketmq_py.AsyncPushConsumer`.
SyncMessageHandler = Callable[[MessageView], "bool | None"]
_H = TypeVar("_H", bound=SyncMessageHandler)


class PushConsumer(SyncClient[AsyncPushConsumer]):
    """Delivers the messages of its subscriptions to a blocking handler.

    ::

        consumer = PushConsumer("CG", "127.0.0.1:9876")
        consumer.subscribe("Orders", "TagA || TagB")

        @consumer.handler
        def handle(message: MessageView) -> None:
            ...  # return/None: done; raise or return False: deliver it again later

        with consumer:
            consumer.run_forever()  # or do other work; consuming stops when the block exits

    The arguments are those of :class:`~rocketmq_py.AsyncPushConsumer`; see its documentation
    for clustering vs broadcasting, orderly consumption (``orderly=True``: each queue in order,
    under a broker lock), flow control, offsets, retries and shutdown. Coroutine
    handlers are refused here (use the async consumer for them): a blocking program has no
    event loop of its own for them to run on.
    """

    _async_twin = "AsyncPushConsumer"

    def __init__(
        self,
        group: str,
        namesrv_addr: str | None = None,
        *,
        message_model: Literal["clustering", "broadcasting"] = "clustering",
        consume_from_where: Literal["last", "first", "timestamp"] = "last",
        consume_timestamp_ms: int | None = None,
        max_concurrency: int = 20,
        pull_batch_size: int = 32,
        pull_threshold_for_queue: int = 1000,
        pull_threshold_size_for_queue_mib: float = 100,
        max_reconsume_times: int = 16,
        consume_timeout: float = 15 * 60.0,
        instance_name: str | None = None,
        commit_interval: float = 5.0,
        shutdown_timeout: float = 30.0,
        request_timeout: float = 3.0,
        offset_store_dir: str | os.PathLike[str] | None = None,
        hooks: Sequence[TraceHook] = (),
        namespace: str | None = None,
        orderly: bool = False,
        suspend_time: float = 1.0,
    ) -> None:
        super().__init__(
            AsyncPushConsumer(
                group,
                namesrv_addr,
                message_model=message_model,
                consume_from_where=consume_from_where,
                consume_timestamp_ms=consume_timestamp_ms,
                max_concurrency=max_concurrency,
                pull_batch_size=pull_batch_size,
                pull_threshold_for_queue=pull_threshold_for_queue,
                pull_threshold_size_for_queue_mib=pull_threshold_size_for_queue_mib,
                max_reconsume_times=max_reconsume_times,
                consume_timeout=consume_timeout,
                instance_name=instance_name,
                commit_interval=commit_interval,
                shutdown_timeout=shutdown_timeout,
                request_timeout=request_timeout,
                offset_store_dir=offset_store_dir,
                hooks=hooks,
                namespace=namespace,
                orderly=orderly,
                suspend_time=suspend_time,
            )
        )
        self._stop_requested = threading.Event()

    @property
    def group(self) -> str:
        """The consumer group (with its namespace, as on the wire)."""
        return self._async.group

    @property
    def client_id(self) -> str:
        """This consumer's client id (``ip@instance``), as the brokers list it."""
        return self._async.client_id

    @property
    def offset_file(self) -> Path:
        """Where BROADCASTING offsets are kept (unused when clustering)."""
        return self._async.offset_file

    def subscribe(self, topic: str, expression: str = "*") -> None:
        """Consume the messages of ``topic`` whose tag matches ``expression`` (``"A || B"``)."""
        return self._apply(self._async.subscribe, topic, expression)

    def register(self, handler: SyncMessageHandler) -> None:
        """Deliver messages to ``handler``, a blocking callable run in worker threads.

        Raises:
            ConfigError: ``handler`` is a coroutine function (use AsyncPushConsumer).
        """
        if is_async_callable(handler):
            raise ConfigError(
                "handler", handler, "PushConsumer needs a blocking handler; use AsyncPushConsumer"
            )
        return self._apply(self._async.register, handler)

    def handler(self, fn: _H) -> _H:
        """Decorator form of :meth:`register`; returns ``fn`` unchanged."""
        self.register(fn)
        return fn

    def assignment(self) -> set[MessageQueueRef]:
        """The queues this consumer pulls right now (retry topic queues included)."""
        return self._apply(self._async.assignment)

    def start(self) -> None:
        """Join the group and deliver in the background until :meth:`shutdown`."""
        self._stop_requested.clear()
        super().start()

    def shutdown(self) -> None:
        """Stop pulling, let running handlers finish, commit and leave the group."""
        self._stop_requested.set()
        super().shutdown()

    def run_forever(self, timeout: float | None = None) -> None:
        """Block the calling thread while consuming, until :meth:`stop` or ``timeout`` seconds.

        Ctrl-C (KeyboardInterrupt) ends the wait; leaving the ``with`` block then shuts the
        consumer down gracefully.
        """
        self._running_portal("run_forever")
        self._stop_requested.wait(timeout)

    def stop(self) -> None:
        """Make :meth:`run_forever` return (from a handler, another thread or a signal)."""
        self._stop_requested.set()
