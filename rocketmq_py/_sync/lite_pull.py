"""``LitePullConsumer``: the blocking twin of :class:`~rocketmq_py.AsyncLitePullConsumer`."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from rocketmq_py._async.lite_pull import AsyncLitePullConsumer
from rocketmq_py._sync._portal import SyncClient
from rocketmq_py.message import MessageQueueRef, MessageView

__all__ = ["LitePullConsumer"]


class LitePullConsumer(SyncClient[AsyncLitePullConsumer]):
    """Pulls messages in the background; read them with :meth:`poll`, blocking.

    Use as ``with LitePullConsumer("CG", "127.0.0.1:9876") as consumer:`` after calling
    :meth:`assign` or :meth:`subscribe` (either may also be called while running). Fetching
    runs on the event loop thread shared by every blocking client; each method runs its
    :class:`~rocketmq_py.AsyncLitePullConsumer` twin there, so the consumer may be used from
    several threads (messages of one queue still come in order from :meth:`poll`). Calling it
    from a thread that runs an event loop raises
    :class:`~rocketmq_py.exceptions.SyncInAsyncContextError`.

    The arguments are those of :class:`~rocketmq_py.AsyncLitePullConsumer`.

    Args:
        group: consumer group name.
        namesrv_addr: ``;``-separated name servers (default ``$NAMESRV_ADDR``).
        auto_commit: commit consumed positions periodically, on rebalance and at shutdown.
        auto_commit_interval: seconds between automatic commits.
        pull_batch_size: most messages asked for by one pull.
        poll_timeout: seconds :meth:`poll` waits by default.
        consume_from_where: where a queue without a committed offset starts: ``"last"``,
            ``"first"`` or ``"timestamp"``.
        consume_timestamp_ms: epoch ms for ``"timestamp"`` (default: half an hour ago).
        message_model: ``"clustering"`` or ``"broadcasting"``.
        max_cached_messages: most messages fetched but not yet polled.
        request_timeout: seconds per request other than the long-polling pulls.
        instance_name: part of the client id.
        offset_store_dir: root of the BROADCASTING offsets files.
    """

    _async_twin = "AsyncLitePullConsumer"

    def __init__(
        self,
        group: str,
        namesrv_addr: str | None = None,
        *,
        auto_commit: bool = True,
        auto_commit_interval: float = 5.0,
        pull_batch_size: int = 32,
        poll_timeout: float = 5.0,
        consume_from_where: Literal["last", "first", "timestamp"] = "last",
        consume_timestamp_ms: int | None = None,
        message_model: Literal["clustering", "broadcasting"] = "clustering",
        max_cached_messages: int = 1000,
        request_timeout: float = 3.0,
        instance_name: str | None = None,
        offset_store_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        super().__init__(
            AsyncLitePullConsumer(
                group,
                namesrv_addr,
                auto_commit=auto_commit,
                auto_commit_interval=auto_commit_interval,
                pull_batch_size=pull_batch_size,
                poll_timeout=poll_timeout,
                consume_from_where=consume_from_where,
                consume_timestamp_ms=consume_timestamp_ms,
                message_model=message_model,
                max_cached_messages=max_cached_messages,
                request_timeout=request_timeout,
                instance_name=instance_name,
                offset_store_dir=offset_store_dir,
            )
        )

    @property
    def group(self) -> str:
        """The consumer group."""
        return self._async.group

    @property
    def client_id(self) -> str:
        """This consumer's client id (``ip@instance``), as the brokers list it."""
        return self._async.client_id

    @property
    def offset_file(self) -> Path:
        """Where BROADCASTING offsets are kept (unused when clustering)."""
        return self._async.offset_file

    def assign(self, queues: Iterable[MessageQueueRef]) -> None:
        """Read exactly these queues, replacing any previous assignment (no rebalancing)."""
        return self._apply(self._async.assign, list(queues))

    def subscribe(self, topic: str, expression: str = "*") -> None:
        """Join the group on ``topic``, reading messages whose tag matches ``expression``."""
        return self._apply(self._async.subscribe, topic, expression)

    def assignment(self) -> set[MessageQueueRef]:
        """The queues this consumer reads right now."""
        return self._apply(self._async.assignment)

    def poll(
        self, timeout: float | None = None, *, max_messages: int | None = None
    ) -> list[MessageView]:
        """The buffered messages, waiting up to ``timeout`` seconds for at least one."""
        return self._call(self._async.poll, timeout, max_messages=max_messages)

    def seek(self, queue: MessageQueueRef, offset: int) -> None:
        """Read ``queue`` from ``offset`` next (also its consumed position)."""
        return self._call(self._async.seek, queue, offset)

    def seek_to_begin(self, queue: MessageQueueRef) -> None:
        """Read ``queue`` from its first message still stored."""
        return self._call(self._async.seek_to_begin, queue)

    def seek_to_end(self, queue: MessageQueueRef) -> None:
        """Read only messages of ``queue`` stored from now on."""
        return self._call(self._async.seek_to_end, queue)

    def committed(self, queue: MessageQueueRef) -> int | None:
        """The group's committed offset of ``queue``, ``None`` when there is none."""
        return self._call(self._async.committed, queue)

    def commit(self, offsets: dict[MessageQueueRef, int] | None = None) -> None:
        """Store offsets for the group (default: the consumed positions) and wait for it."""
        return self._call(self._async.commit, offsets)
