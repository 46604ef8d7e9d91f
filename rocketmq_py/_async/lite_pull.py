"""``AsyncLitePullConsumer``: background fetching into a bounded buffer, ``poll()`` to read it.

The Python twin of Java's ``DefaultLitePullConsumer``. Two ways to get queues:

* :meth:`~AsyncLitePullConsumer.assign`: the caller names the queues; no group membership.
* :meth:`~AsyncLitePullConsumer.subscribe`: the consumer joins its group: heartbeats and
  rebalancing as described in :mod:`rocketmq_py._async.rebalance` (CLUSTERING splits the queues
  with :func:`allocate_message_queue_averagely`, BROADCASTING takes them all).

One fetcher task per assigned queue long-polls its broker and appends what it gets to one
buffer shared by the queues. The buffer holds at most ``max_cached_messages``: a fetcher
reserves room before each pull (asking for no more than it reserved, and no more than its
fair share so every queue can keep a long poll open), and waits while there is none.

Positions, per queue:

* the *fetch* offset: where the next pull starts;
* the *consumed* offset: just after the last message :meth:`~AsyncLitePullConsumer.poll`
  returned (or the fetch offset once nothing of the queue is buffered, so ranges skipped by a
  tag filter count as consumed);
* the *committed* offset: what the broker (CLUSTERING) or the local offsets file
  (BROADCASTING) holds for the group.

A queue without a committed offset starts where ``consume_from_where`` says. As in Java, the
broker answers a new group on a queue that still starts at 0 with offset 0 ("young queue"
rule, ``protocol.md`` 3.7), so ``"last"`` reads such a queue from its beginning.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import anyio
import anyio.abc

from rocketmq_py._async.consumer_setup import (
    check_pull_batch_size,
    consumer_client,
    not_supported,
    parse_consume_from_where,
    parse_message_model,
    wire_group,
)
from rocketmq_py._async.lite_pull_commit import LitePullCommitter
from rocketmq_py._async.lite_pull_fetch import LitePullFetcher, QueueState
from rocketmq_py._async.namespace import wrap, wrap_queue
from rocketmq_py._async.rebalance import (
    GroupMember,
    Signal,
    allocate_message_queue_averagely,
    parse_subscription,
)
from rocketmq_py._trace import TraceHook, trace
from rocketmq_py._transport import ClientConnection
from rocketmq_py.exceptions import ConfigError
from rocketmq_py.message import MessageQueueRef, MessageView
from rocketmq_py.protocol.bodies import (
    ConsumerData,
    ConsumeType,
    SubscriptionData,
)
from rocketmq_py.protocol.command import RemotingCommand

__all__ = ["AsyncLitePullConsumer", "allocate_message_queue_averagely"]


class AsyncLitePullConsumer:
    """Pulls messages in the background; read them with :meth:`poll`.

    Use as ``async with AsyncLitePullConsumer("CG", "127.0.0.1:9876") as consumer:`` after
    calling :meth:`assign` or :meth:`subscribe` (either may also be called while running).

    Ordered messages: :meth:`poll` returns each queue's messages in queue-offset order (one
    fetcher per queue appends to the buffer in pull order). A consumer that names its queues
    with :meth:`assign`, handles what a poll returns one message after another and commits
    only what it handled therefore keeps the per-key order of a producer that pins each key to
    one queue, and needs no queue locks: no other member of the group is given those queues.
    A consumer that uses :meth:`subscribe` can lose a queue to a rebalance; for ordered
    consumption within a group use ``AsyncPushConsumer(..., orderly=True)``, which locks its
    queues on the broker.

    Args:
        group: consumer group name.
        namesrv_addr: ``;``-separated name servers (default ``$NAMESRV_ADDR``).
        auto_commit: commit the consumed positions every ``auto_commit_interval`` seconds, when
            queues are taken away by a rebalance and at shutdown. Without it only
            :meth:`commit` stores positions.
        auto_commit_interval: seconds between automatic commits.
        pull_batch_size: most messages asked for by one pull.
        poll_timeout: seconds :meth:`poll` waits by default.
        consume_from_where: where a queue without a committed offset starts: ``"last"`` (its
            max offset), ``"first"`` (offset 0) or ``"timestamp"`` (the first message stored
            at or after ``consume_timestamp_ms``).
        consume_timestamp_ms: epoch ms for ``"timestamp"`` (default: half an hour ago).
        message_model: ``"clustering"`` (the group shares the queues, offsets on the broker)
            or ``"broadcasting"`` (every consumer reads every queue, offsets in a local file).
        max_cached_messages: most messages fetched but not yet polled; fetching pauses while
            the buffer is full.
        request_timeout: seconds per request other than the long-polling pulls.
        instance_name: part of the client id (default: ``"DEFAULT"`` when broadcasting, as in
            Java, so the offsets file survives restarts; otherwise pid and a timestamp).
        offset_store_dir: root of the BROADCASTING offsets files (default
            ``~/.rocketmq_offsets``); the file is ``<root>/<client id>/<group>/offsets.json``.
        hooks: trace hooks around every :meth:`poll` (operation ``"receive"``, see
            ``rocketmq_py._trace``).
        namespace: wraps the group and topics as ``namespace%name`` on the wire (Java's
            namespaces); messages show their topic without it.
    """

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
        hooks: Sequence[TraceHook] = (),
        namespace: str | None = None,
    ) -> None:
        group = wire_group(group, namespace)
        from_where = parse_consume_from_where(consume_from_where)
        model = parse_message_model(message_model)
        check_pull_batch_size(pull_batch_size)
        if max_cached_messages < 1:
            raise ConfigError("max_cached_messages", max_cached_messages, "must be at least 1")
        if auto_commit_interval <= 0:
            raise ConfigError("auto_commit_interval", auto_commit_interval, "must be positive")
        if poll_timeout < 0:
            raise ConfigError("poll_timeout", poll_timeout, "must not be negative")
        self.namespace = namespace or ""
        self.group = group
        self._hooks = tuple(hooks)
        self.auto_commit = auto_commit
        self.auto_commit_interval = auto_commit_interval
        self.pull_batch_size = pull_batch_size
        self.poll_timeout = poll_timeout
        self.consume_from_where = from_where
        self.consume_timestamp_ms = consume_timestamp_ms
        self.message_model = model
        self.max_cached_messages = max_cached_messages
        self.request_timeout = request_timeout
        setup = consumer_client(
            group,
            namesrv_addr,
            model,
            instance_name=instance_name,
            request_timeout=request_timeout,
            offset_store_dir=offset_store_dir,
            on_request=self._on_request,
        )
        self._pool, self._client, self._offset_file = setup.pool, setup.client, setup.offset_file
        self._broker_offsets, self._offsets = setup.broker_offsets, setup.offsets
        self._mode: Literal["assign", "subscribe"] | None = None
        self._subscriptions: dict[str, SubscriptionData] = {}
        self._states: dict[MessageQueueRef, QueueState] = {}
        self._buffer: deque[tuple[QueueState, MessageView]] = deque()
        self._buffered_total = 0
        self._reserved = 0
        self._arrival = Signal()
        self._room = Signal()
        self._task_group: anyio.abc.TaskGroup | None = None
        self._running = False
        self._member = GroupMember(
            self._client,
            group,
            request_timeout=request_timeout,
            consumer_data=self._consumer_data,
            assigned=self.assignment,
            assign=self._assign_from_rebalance,
        )
        self._membership_started = False
        self._fetcher = LitePullFetcher(self)
        self._committer = LitePullCommitter(self)

    # -- identity and configuration ---------------------------------------------------------

    @property
    def client_id(self) -> str:
        """This consumer's client id (``ip@instance``), as the brokers list it."""
        return self._client.client_id

    @property
    def offset_file(self) -> Path:
        """Where BROADCASTING offsets are kept (unused when clustering)."""
        return self._offset_file

    def assign(self, queues: Iterable[MessageQueueRef]) -> None:
        """Read exactly these queues, replacing any previous assignment (no rebalancing).

        Raises:
            ConfigError: :meth:`subscribe` was called before.
        """
        if self._mode == "subscribe":
            raise ConfigError("assign", "subscribe", "a consumer either subscribes or assigns")
        self._mode = "assign"
        wrapped = [wrap_queue(self.namespace, q) for q in queues]
        removed = self._fetcher.apply_assignment(list(dict.fromkeys(wrapped)))
        if removed and self._running and self.auto_commit and self._task_group is not None:
            self._task_group.start_soon(self._committer.commit_dropped, removed)

    def subscribe(self, topic: str, expression: str = "*") -> None:
        """Join the group on ``topic``, reading the messages whose tag matches ``expression``.

        ``expression`` is ``"*"`` or tags joined by ``||`` (``"TagA || TagB"``). Calling it
        again for the same topic replaces the expression; other topics add subscriptions.

        Raises:
            ConfigError: :meth:`assign` was called before, or the arguments are empty.
        """
        if self._mode == "assign":
            raise ConfigError("subscribe", topic, "a consumer either subscribes or assigns")
        topic = wrap(self.namespace, topic)
        subscription = parse_subscription(topic, expression)
        self._mode = "subscribe"
        self._subscriptions[topic] = subscription
        self._member.request_heartbeat()
        if self._running:
            self._start_membership()
            self._member.request_rebalance()

    def assignment(self) -> set[MessageQueueRef]:
        """The queues this consumer reads right now."""
        return set(self._states)

    # -- lifecycle --------------------------------------------------------------------------

    async def __aenter__(self) -> AsyncLitePullConsumer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.shutdown()

    async def start(self) -> None:
        """Connect and start fetching (prefer ``async with``; call :meth:`shutdown` from the
        same task)."""
        if self._running or self._task_group is not None:
            raise RuntimeError("AsyncLitePullConsumer is already started")
        await self._pool.__aenter__()
        try:
            await self._offsets.load()
            task_group = anyio.create_task_group()
            await task_group.__aenter__()
        except BaseException:
            await self._pool.__aexit__(None, None, None)
            raise
        self._task_group = task_group
        self._running = True
        for state in self._states.values():
            task_group.start_soon(self._fetcher.run_queue, state)
        if self._mode == "subscribe":
            self._start_membership()
        if self.auto_commit:
            task_group.start_soon(self._committer.auto_commit_loop)

    async def shutdown(self) -> None:
        """Stop fetching, commit (with ``auto_commit``), leave the group and disconnect."""
        if self._task_group is None:
            return
        self._running = False
        self._arrival.notify()
        try:
            self._task_group.cancel_scope.cancel()
            await self._task_group.__aexit__(None, None, None)
        finally:
            self._task_group = None
            self._membership_started = False
            try:
                with anyio.move_on_after(3 * self.request_timeout, shield=True):
                    if self.auto_commit:
                        await self._committer.commit_positions(raise_errors=False)
                    await self._member.unregister()
            finally:
                for state in self._states.values():
                    state.fetch_offset = state.consumed = state.committed = None
                    state.task_scope = state.pull_scope = None
                self._buffer.clear()
                self._buffered_total = self._reserved = 0
                for state in self._states.values():
                    state.buffered = 0
                await self._pool.__aexit__(None, None, None)

    def _check_running(self) -> None:
        if not self._running:
            raise RuntimeError("AsyncLitePullConsumer used outside 'async with'")

    # -- reading ----------------------------------------------------------------------------

    async def poll(
        self, timeout: float | None = None, *, max_messages: int | None = None
    ) -> list[MessageView]:
        """The buffered messages, waiting up to ``timeout`` seconds for at least one.

        Messages of one queue come in queue order. The consumed position of each queue moves
        past what is returned (what :meth:`commit` and auto-commit store).

        Args:
            timeout: seconds to wait when nothing is buffered (default ``poll_timeout``).
            max_messages: return at most this many (default: everything buffered).
        """
        self._check_running()
        if max_messages is not None and max_messages < 1:
            raise ConfigError("max_messages", max_messages, "must be at least 1")
        if not self._hooks:
            return await self._poll(timeout, max_messages)
        info: dict[str, Any] = {
            "namespace": self.namespace,
            "consumption_model": self.message_model.value.lower(),
            "group": self.group,
            "client_id": self.client_id,
        }
        async with trace("receive", self._hooks, info):
            messages = await self._poll(timeout, max_messages)
            info["messages"] = messages
            info["message_count"] = len(messages)
            topics = {m.topic for m in messages}
            info["topic"] = topics.pop() if len(topics) == 1 else None
        return messages

    async def _poll(self, timeout: float | None, max_messages: int | None) -> list[MessageView]:
        if not self._buffer:
            with anyio.move_on_after(self.poll_timeout if timeout is None else timeout):
                while not self._buffer and self._running:
                    await self._arrival.wait()
        limit = len(self._buffer) if max_messages is None else max_messages
        out: list[MessageView] = []
        while self._buffer and len(out) < limit:
            state, message = self._buffer.popleft()
            state.buffered -= 1
            state.consumed = message.queue_offset + 1
            if state.buffered == 0 and state.fetch_offset is not None:
                # Everything before the fetch offset was returned or filtered out.
                state.consumed = state.fetch_offset
            out.append(message)
        if out:
            self._buffered_total -= len(out)
            self._room.notify()
        return out

    async def seek(self, queue: MessageQueueRef, offset: int) -> None:
        """Read ``queue`` from ``offset`` next (also its consumed position).

        Raises:
            ConfigError: the queue is not assigned, or ``offset`` is outside
                ``[min offset, max offset]``.
        """
        self._check_running()
        queue = wrap_queue(self.namespace, queue)
        state = self._assigned(queue)
        low = await self._broker_offsets.min_offset(queue)
        high = await self._broker_offsets.max_offset(queue)
        if not low <= offset <= high:
            raise ConfigError("offset", offset, f"outside [{low}, {high}] of {queue}")
        self._fetcher.seek(state, offset)

    async def seek_to_begin(self, queue: MessageQueueRef) -> None:
        """Read ``queue`` from its first message still stored."""
        self._check_running()
        queue = wrap_queue(self.namespace, queue)
        state = self._assigned(queue)
        self._fetcher.seek(state, await self._broker_offsets.min_offset(queue))

    async def seek_to_end(self, queue: MessageQueueRef) -> None:
        """Read only messages of ``queue`` stored from now on."""
        self._check_running()
        queue = wrap_queue(self.namespace, queue)
        state = self._assigned(queue)
        self._fetcher.seek(state, await self._broker_offsets.max_offset(queue))

    def _assigned(self, queue: MessageQueueRef) -> QueueState:
        state = self._states.get(queue)
        if state is None:
            raise ConfigError("queue", queue, "is not assigned to this consumer")
        return state

    # -- offsets ----------------------------------------------------------------------------

    async def committed(self, queue: MessageQueueRef) -> int | None:
        """The group's committed offset of ``queue``, ``None`` when there is none.

        CLUSTERING asks the broker (4.x brokers answer 0 for a queue that still starts at 0);
        BROADCASTING reads the local offsets.
        """
        self._check_running()
        return await self._offsets.read(wrap_queue(self.namespace, queue))

    async def commit(self, offsets: dict[MessageQueueRef, int] | None = None) -> None:
        """Store offsets for the group and wait until they are stored.

        Args:
            offsets: queue to offset (the offset of the next message to read); default: the
                consumed positions of the assigned queues that changed since their last commit.

        Raises:
            RocketMQError: a broker refused or did not answer (the other queues were still
                committed).
        """
        self._check_running()
        if offsets is None:
            await self._committer.commit_positions(raise_errors=True)
            return
        offsets = {wrap_queue(self.namespace, q): o for q, o in offsets.items()}
        for queue, offset in offsets.items():
            if offset < 0:
                raise ConfigError("offsets", {queue: offset}, "offsets must not be negative")
        await self._committer.commit_offsets(dict(offsets), raise_errors=True)

    # -- group membership -------------------------------------------------------------------

    def _start_membership(self) -> None:
        if self._membership_started or self._task_group is None:
            return
        self._membership_started = True
        self._task_group.start_soon(self._member.run)

    async def _on_request(
        self, conn: ClientConnection, request: RemotingCommand
    ) -> RemotingCommand | None:
        """Requests brokers send us on pooled connections."""
        if self._mode == "subscribe" and self._member.on_notify(conn, request):
            return None
        return not_supported(request)

    def _consumer_data(self) -> ConsumerData:
        return ConsumerData(
            group_name=self.group,
            consume_type=ConsumeType.CONSUME_ACTIVELY,
            message_model=self.message_model,
            consume_from_where=self.consume_from_where,
            subscription_data_set=list(self._subscriptions.values()),
        )

    async def _assign_from_rebalance(self, queues: list[MessageQueueRef]) -> None:
        removed = self._fetcher.apply_assignment(queues)
        if removed and self.auto_commit:
            await self._committer.commit_dropped(removed)
