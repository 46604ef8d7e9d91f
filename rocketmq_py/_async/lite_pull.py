"""``AsyncLitePullConsumer``: background fetching into a bounded buffer, ``poll()`` to read it.

The Python twin of Java's ``DefaultLitePullConsumer``. Two ways to get queues:

* :meth:`~AsyncLitePullConsumer.assign`: the caller names the queues; no group membership.
* :meth:`~AsyncLitePullConsumer.subscribe`: the consumer joins its group. It heartbeats to the
  brokers of the topic (at once, then every 30 s) and rebalances at start, every 20 s and
  whenever a broker sends NOTIFY_CONSUMER_IDS_CHANGED. CLUSTERING splits the sorted queues
  over the sorted consumer ids with :func:`allocate_message_queue_averagely` (Java's
  ``AllocateMessageQueueAveragely``); BROADCASTING takes every queue.

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

import contextlib
import logging
import os
import tempfile
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal

import anyio
import anyio.abc

from rocketmq_py._async.client import ClientInstance, default_instance_name
from rocketmq_py._async.pull import PullResult, PullStatus, pull, subscribe_queues
from rocketmq_py._transport import ClientConnection, ConnectionPool
from rocketmq_py.exceptions import ConfigError, ResponseError, RocketMQError, TopicNotExistError
from rocketmq_py.message import MessageQueueRef, MessageView
from rocketmq_py.protocol import fastjson
from rocketmq_py.protocol.bodies import (
    ConsumeFromWhere,
    ConsumerData,
    ConsumerListBody,
    ConsumeType,
    HeartbeatData,
    MessageModel,
    MessageQueue,
    SubscriptionData,
)
from rocketmq_py.protocol.codes import RequestCode, ResponseCode
from rocketmq_py.protocol.command import RemotingCommand
from rocketmq_py.protocol.headers.consumer import (
    GetConsumerListByGroupRequestHeader,
    GetMaxOffsetRequestHeader,
    GetMaxOffsetResponseHeader,
    GetMinOffsetRequestHeader,
    GetMinOffsetResponseHeader,
    QueryConsumerOffsetRequestHeader,
    QueryConsumerOffsetResponseHeader,
    SearchOffsetRequestHeader,
    SearchOffsetResponseHeader,
    UnregisterClientRequestHeader,
    UpdateConsumerOffsetRequestHeader,
)
from rocketmq_py.protocol.message import java_string_hash

__all__ = ["AsyncLitePullConsumer", "allocate_message_queue_averagely"]

log = logging.getLogger("rocketmq_py.consumer")

#: Java's heartbeatBrokerInterval and rocketmq.client.rebalance.waitInterval.
HEARTBEAT_INTERVAL = 30.0
REBALANCE_INTERVAL = 20.0
#: How soon a rebalance that failed (no route yet, broker down ...) is tried again.
REBALANCE_RETRY_INTERVAL = 2.0
#: Pause before a fetcher retries after an error (Java's PULL_TIME_DELAY_MILLS_ON_EXCEPTION).
FETCH_BACKOFF = 1.0
#: Long-poll hold time asked of the broker (Java push and ali-ons: 15 s).
BROKER_SUSPEND_MS = 15_000
#: Extra time on top of the hold before a held pull is given up (Java: 30 s in all).
PULL_TIMEOUT_MARGIN = 15.0
#: Java's default consumeTimestamp: half an hour ago.
DEFAULT_TIMESTAMP_LOOKBACK_MS = 30 * 60 * 1000
RETRY_GROUP_TOPIC_PREFIX = "%RETRY%"

_FROM_WHERE = {
    "last": ConsumeFromWhere.CONSUME_FROM_LAST_OFFSET,
    "first": ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET,
    "timestamp": ConsumeFromWhere.CONSUME_FROM_TIMESTAMP,
}
_MODELS = {"clustering": MessageModel.CLUSTERING, "broadcasting": MessageModel.BROADCASTING}


def allocate_message_queue_averagely(
    queues: Sequence[MessageQueueRef], consumer_ids: Sequence[str], current_id: str
) -> list[MessageQueueRef]:
    """Java's ``AllocateMessageQueueAveragely``: this consumer's share of the queues.

    Both lists must already be sorted (queues by topic, broker name, queue id; ids as
    strings) and be the same on every consumer of the group. Consumers get consecutive runs;
    the first ``len(queues) % len(consumer_ids)`` consumers get one queue more. An id that is
    not in ``consumer_ids`` gets nothing.
    """
    if current_id not in consumer_ids or not queues:
        return []
    index = consumer_ids.index(current_id)
    n, c = len(queues), len(consumer_ids)
    mod = n % c
    if n <= c:
        size = 1
    elif mod > 0 and index < mod:
        size = n // c + 1
    else:
        size = n // c
    start = index * size if mod > 0 and index < mod else index * size + mod
    return [queues[(start + i) % n] for i in range(min(size, n - start))]


class _Signal:
    """Wakes every task waiting right now (an event replaced on each notify).

    The event is created lazily so the owner can be built outside an event loop.
    """

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event: anyio.Event | None = None

    async def wait(self) -> None:
        if self._event is None:
            self._event = anyio.Event()
        await self._event.wait()

    def notify(self) -> None:
        if self._event is not None:
            self._event.set()
            self._event = None


@dataclass(eq=False)
class _QueueState:
    """What the consumer knows about one assigned queue."""

    queue: MessageQueueRef
    fetch_offset: int | None = None
    consumed: int | None = None
    committed: int | None = None
    buffered: int = 0
    # Bumped by every seek: a pull or offset lookup started before it is stale.
    epoch: int = 0
    dropped: bool = False
    pull_scope: anyio.CancelScope | None = None
    task_scope: anyio.CancelScope | None = None


class AsyncLitePullConsumer:
    """Pulls messages in the background; read them with :meth:`poll`.

    Use as ``async with AsyncLitePullConsumer("CG", "127.0.0.1:9876") as consumer:`` after
    calling :meth:`assign` or :meth:`subscribe` (either may also be called while running).

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
    ) -> None:
        if not group:
            raise ConfigError("group", group, "a consumer group name is required")
        if consume_from_where not in _FROM_WHERE:
            raise ConfigError(
                "consume_from_where", consume_from_where, "expected 'last', 'first' or 'timestamp'"
            )
        if message_model not in _MODELS:
            raise ConfigError(
                "message_model", message_model, "expected 'clustering' or 'broadcasting'"
            )
        if not 1 <= pull_batch_size <= 1024:
            raise ConfigError("pull_batch_size", pull_batch_size, "must be between 1 and 1024")
        if max_cached_messages < 1:
            raise ConfigError("max_cached_messages", max_cached_messages, "must be at least 1")
        if auto_commit_interval <= 0:
            raise ConfigError("auto_commit_interval", auto_commit_interval, "must be positive")
        if poll_timeout < 0:
            raise ConfigError("poll_timeout", poll_timeout, "must not be negative")
        self.group = group
        self.auto_commit = auto_commit
        self.auto_commit_interval = auto_commit_interval
        self.pull_batch_size = pull_batch_size
        self.poll_timeout = poll_timeout
        self.consume_from_where = _FROM_WHERE[consume_from_where]
        self.consume_timestamp_ms = consume_timestamp_ms
        self.message_model = _MODELS[message_model]
        self.max_cached_messages = max_cached_messages
        self.request_timeout = request_timeout
        broadcasting = self.message_model is MessageModel.BROADCASTING
        if instance_name is None:
            instance_name = "DEFAULT" if broadcasting else default_instance_name()
        self._pool = ConnectionPool(connect_timeout=request_timeout, handler=self._on_request)
        self._client = ClientInstance(
            namesrv_addr, self._pool, instance_name=instance_name, timeout=request_timeout
        )
        root = Path(offset_store_dir) if offset_store_dir is not None else None
        self._offset_file = (
            (root or Path.home() / ".rocketmq_offsets")
            / self._client.client_id
            / group
            / "offsets.json"
        )
        self._mode: Literal["assign", "subscribe"] | None = None
        self._subscriptions: dict[str, SubscriptionData] = {}
        self._states: dict[MessageQueueRef, _QueueState] = {}
        self._buffer: deque[tuple[_QueueState, MessageView]] = deque()
        self._buffered_total = 0
        self._reserved = 0
        self._arrival = _Signal()
        self._room = _Signal()
        self._local_offsets: dict[MessageQueueRef, int] = {}
        self._local_dirty = False
        self._task_group: anyio.abc.TaskGroup | None = None
        self._running = False
        self._membership_started = False
        self._rebalance_wanted = False
        self._rebalance_signal = _Signal()
        self._heartbeat_wanted = True
        self._heartbeat_addresses: set[str] = set()

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
        removed = self._apply_assignment(list(dict.fromkeys(queues)))
        if removed and self._running and self.auto_commit and self._task_group is not None:
            self._task_group.start_soon(self._commit_dropped, removed)

    def subscribe(self, topic: str, expression: str = "*") -> None:
        """Join the group on ``topic``, reading the messages whose tag matches ``expression``.

        ``expression`` is ``"*"`` or tags joined by ``||`` (``"TagA || TagB"``). Calling it
        again for the same topic replaces the expression; other topics add subscriptions.

        Raises:
            ConfigError: :meth:`assign` was called before, or the arguments are empty.
        """
        if self._mode == "assign":
            raise ConfigError("subscribe", topic, "a consumer either subscribes or assigns")
        if not topic:
            raise ConfigError("topic", topic, "a topic is required")
        text = expression.strip() or "*"
        tags = [] if text == "*" else [t.strip() for t in text.split("||") if t.strip()]
        if text != "*" and not tags:
            raise ConfigError("expression", expression, "expected '*' or 'TagA || TagB'")
        self._mode = "subscribe"
        self._subscriptions[topic] = SubscriptionData(
            topic=topic,
            sub_string=text,
            tags_set=tags,
            code_set=[java_string_hash(t) for t in tags],
            sub_version=time.time_ns() // 1_000_000,
        )
        self._heartbeat_wanted = True
        if self._running:
            self._start_membership()
            self._request_rebalance()

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
            if self.message_model is MessageModel.BROADCASTING:
                self._local_offsets = await anyio.to_thread.run_sync(
                    _read_offset_file, self._offset_file
                )
            task_group = anyio.create_task_group()
            await task_group.__aenter__()
        except BaseException:
            await self._pool.__aexit__(None, None, None)
            raise
        self._task_group = task_group
        self._running = True
        for state in self._states.values():
            task_group.start_soon(self._run_fetcher, state)
        if self._mode == "subscribe":
            self._start_membership()
        if self.auto_commit:
            task_group.start_soon(self._auto_commit_loop)

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
                        await self._commit_positions(raise_errors=False)
                    await self._unregister()
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
        state = self._assigned(queue)
        low = await self._min_offset(queue)
        high = await self._max_offset(queue)
        if not low <= offset <= high:
            raise ConfigError("offset", offset, f"outside [{low}, {high}] of {queue}")
        self._reset_position(state, offset)

    async def seek_to_begin(self, queue: MessageQueueRef) -> None:
        """Read ``queue`` from its first message still stored."""
        self._check_running()
        state = self._assigned(queue)
        self._reset_position(state, await self._min_offset(queue))

    async def seek_to_end(self, queue: MessageQueueRef) -> None:
        """Read only messages of ``queue`` stored from now on."""
        self._check_running()
        state = self._assigned(queue)
        self._reset_position(state, await self._max_offset(queue))

    def _assigned(self, queue: MessageQueueRef) -> _QueueState:
        state = self._states.get(queue)
        if state is None:
            raise ConfigError("queue", queue, "is not assigned to this consumer")
        return state

    def _reset_position(self, state: _QueueState, offset: int) -> None:
        state.epoch += 1
        state.fetch_offset = state.consumed = offset
        self._purge(state)
        if state.pull_scope is not None:
            state.pull_scope.cancel()

    def _purge(self, state: _QueueState) -> None:
        if state.buffered:
            self._buffer = deque(entry for entry in self._buffer if entry[0] is not state)
            self._buffered_total -= state.buffered
            state.buffered = 0
            self._room.notify()

    # -- offsets ----------------------------------------------------------------------------

    async def committed(self, queue: MessageQueueRef) -> int | None:
        """The group's committed offset of ``queue``, ``None`` when there is none.

        CLUSTERING asks the broker (4.x brokers answer 0 for a queue that still starts at 0);
        BROADCASTING reads the local offsets.
        """
        self._check_running()
        if self.message_model is MessageModel.BROADCASTING:
            return self._local_offsets.get(queue)
        return await self._query_committed(queue, zero_if_not_found=False)

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
            await self._commit_positions(raise_errors=True)
            return
        for queue, offset in offsets.items():
            if offset < 0:
                raise ConfigError("offsets", {queue: offset}, "offsets must not be negative")
        await self._commit_offsets(dict(offsets), raise_errors=True)

    async def _commit_positions(self, *, raise_errors: bool) -> None:
        await self._commit_offsets(self._changed_positions(self._states.values()), raise_errors)

    @staticmethod
    def _changed_positions(states: Iterable[_QueueState]) -> dict[MessageQueueRef, int]:
        return {
            s.queue: s.consumed
            for s in states
            if s.consumed is not None and s.consumed != s.committed
        }

    async def _commit_offsets(
        self, offsets: dict[MessageQueueRef, int], raise_errors: bool
    ) -> None:
        first_error: RocketMQError | None = None
        if self.message_model is MessageModel.BROADCASTING:
            for queue, offset in offsets.items():
                if self._local_offsets.get(queue) != offset:
                    self._local_offsets[queue] = offset
                    self._local_dirty = True
            if self._local_dirty:
                snapshot = dict(self._local_offsets)
                try:
                    await anyio.to_thread.run_sync(_write_offset_file, self._offset_file, snapshot)
                except OSError as exc:
                    if raise_errors:
                        raise
                    log.warning("cannot write offsets file %s: %s", self._offset_file, exc)
                    return
                self._local_dirty = False
            self._mark_committed(offsets)
            return
        for queue, offset in offsets.items():
            try:
                await self._update_consumer_offset(queue, offset)
            except RocketMQError as exc:
                log.warning("commit of %s at %d failed: %s", queue, offset, exc)
                first_error = first_error or exc
                continue
            self._mark_committed({queue: offset})
        if first_error is not None and raise_errors:
            raise first_error

    def _mark_committed(self, offsets: dict[MessageQueueRef, int]) -> None:
        for queue, offset in offsets.items():
            state = self._states.get(queue)
            if state is not None:
                state.committed = offset

    async def _commit_dropped(self, states: list[_QueueState]) -> None:
        await self._commit_offsets(self._changed_positions(states), raise_errors=False)

    async def _auto_commit_loop(self) -> None:
        while True:
            await anyio.sleep(self.auto_commit_interval)
            try:
                await self._commit_positions(raise_errors=False)
            except Exception:
                log.exception("auto-commit of %s failed", self.group)

    # -- broker requests --------------------------------------------------------------------

    async def _broker_address(self, queue: MessageQueueRef) -> str:
        address = self._client.master_address(queue.broker_name)
        if address is None:
            await self._client.route(queue.topic, refresh=True)
            address = self._client.master_address(queue.broker_name)
            if address is None:
                raise TopicNotExistError(17, f"no address for broker {queue.broker_name}")
        return address

    async def _call(self, queue: MessageQueueRef, request: RemotingCommand) -> RemotingCommand:
        address = await self._broker_address(queue)
        return await self._pool.request(address, request, self.request_timeout)

    async def _expect_success(
        self, queue: MessageQueueRef, request: RemotingCommand
    ) -> RemotingCommand:
        response = await self._call(queue, request)
        if response.code != ResponseCode.SUCCESS:
            raise ResponseError.for_code(response.code, response.remark)
        return response

    async def _update_consumer_offset(self, queue: MessageQueueRef, offset: int) -> None:
        header = UpdateConsumerOffsetRequestHeader(
            consumer_group=self.group,
            topic=queue.topic,
            queue_id=queue.queue_id,
            commit_offset=offset,
            bname=queue.broker_name,
        )
        await self._expect_success(
            queue, RemotingCommand.request(RequestCode.UPDATE_CONSUMER_OFFSET, header)
        )

    async def _query_committed(self, queue: MessageQueueRef, zero_if_not_found: bool) -> int | None:
        header = QueryConsumerOffsetRequestHeader(
            consumer_group=self.group,
            topic=queue.topic,
            queue_id=queue.queue_id,
            # Unset (not True) by default: that is what Java sends, and 4.x brokers know no other.
            set_zero_if_not_found=None if zero_if_not_found else False,
            bname=queue.broker_name,
        )
        response = await self._call(
            queue, RemotingCommand.request(RequestCode.QUERY_CONSUMER_OFFSET, header)
        )
        if response.code == ResponseCode.QUERY_NOT_FOUND:
            return None
        if response.code != ResponseCode.SUCCESS:
            raise ResponseError.for_code(response.code, response.remark)
        return response.read_header(QueryConsumerOffsetResponseHeader).offset

    async def _max_offset(self, queue: MessageQueueRef) -> int:
        header = GetMaxOffsetRequestHeader(
            topic=queue.topic, queue_id=queue.queue_id, bname=queue.broker_name
        )
        response = await self._expect_success(
            queue, RemotingCommand.request(RequestCode.GET_MAX_OFFSET, header)
        )
        return response.read_header(GetMaxOffsetResponseHeader).offset

    async def _min_offset(self, queue: MessageQueueRef) -> int:
        header = GetMinOffsetRequestHeader(
            topic=queue.topic, queue_id=queue.queue_id, bname=queue.broker_name
        )
        response = await self._expect_success(
            queue, RemotingCommand.request(RequestCode.GET_MIN_OFFSET, header)
        )
        return response.read_header(GetMinOffsetResponseHeader).offset

    async def _offset_by_time(self, queue: MessageQueueRef, timestamp_ms: int) -> int:
        header = SearchOffsetRequestHeader(
            topic=queue.topic,
            queue_id=queue.queue_id,
            timestamp=timestamp_ms,
            bname=queue.broker_name,
        )
        response = await self._expect_success(
            queue, RemotingCommand.request(RequestCode.SEARCH_OFFSET_BY_TIMESTAMP, header)
        )
        return response.read_header(SearchOffsetResponseHeader).offset

    async def _initial_offset(self, queue: MessageQueueRef) -> tuple[int, int | None]:
        """Where a newly assigned queue starts, and its committed offset if there is one."""
        if self.message_model is MessageModel.BROADCASTING:
            committed = self._local_offsets.get(queue)
        else:
            committed = await self._query_committed(queue, zero_if_not_found=True)
        if committed is not None and committed >= 0:
            return committed, committed
        retry = queue.topic.startswith(RETRY_GROUP_TOPIC_PREFIX)
        where = self.consume_from_where
        if where is ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET:
            return 0, None
        if where is ConsumeFromWhere.CONSUME_FROM_TIMESTAMP and not retry:
            timestamp = self.consume_timestamp_ms
            if timestamp is None:
                timestamp = time.time_ns() // 1_000_000 - DEFAULT_TIMESTAMP_LOOKBACK_MS
            return await self._offset_by_time(queue, timestamp), None
        if where is ConsumeFromWhere.CONSUME_FROM_LAST_OFFSET and retry:
            return 0, None
        return await self._max_offset(queue), None

    # -- fetching ---------------------------------------------------------------------------

    def _apply_assignment(self, queues: list[MessageQueueRef]) -> list[_QueueState]:
        """Make ``queues`` the assignment; returns the states dropped."""
        wanted = set(queues)
        removed = [state for queue, state in self._states.items() if queue not in wanted]
        for state in removed:
            del self._states[state.queue]
            state.dropped = True
            self._purge(state)
            if state.task_scope is not None:
                state.task_scope.cancel()
        for queue in queues:
            if queue not in self._states:
                state = _QueueState(queue)
                self._states[queue] = state
                if self._running and self._task_group is not None:
                    self._task_group.start_soon(self._run_fetcher, state)
        if removed:
            # A fetcher waiting for room may now get a larger share.
            self._room.notify()
        return removed

    def _expression(self, queue: MessageQueueRef) -> str:
        subscription = self._subscriptions.get(queue.topic)
        return subscription.sub_string if subscription is not None else "*"

    async def _run_fetcher(self, state: _QueueState) -> None:
        with anyio.CancelScope() as scope:
            state.task_scope = scope
            if not state.dropped:
                await self._fetch_loop(state)

    async def _reserve(self) -> int:
        """Room for one pull: at most a batch, a fair share and what the buffer has left."""
        while True:
            room = self.max_cached_messages - self._buffered_total - self._reserved
            if room > 0:
                share = max(1, self.max_cached_messages // max(1, len(self._states)))
                count = min(self.pull_batch_size, share, room)
                self._reserved += count
                return count
            await self._room.wait()

    async def _fetch_loop(self, state: _QueueState) -> None:
        queue = state.queue
        while not state.dropped:
            if state.fetch_offset is None:
                epoch = state.epoch
                try:
                    offset, committed = await self._initial_offset(queue)
                except Exception as exc:
                    log.warning("cannot find where to start %s: %s", queue, exc)
                    await anyio.sleep(FETCH_BACKOFF)
                    continue
                if state.epoch == epoch and state.fetch_offset is None:
                    state.fetch_offset = state.consumed = offset
                    state.committed = committed
                continue
            count = await self._reserve()
            offset, epoch = state.fetch_offset, state.epoch
            result: PullResult | None = None
            error: Exception | None = None
            started = anyio.current_time()
            try:
                with anyio.CancelScope() as state.pull_scope:
                    try:
                        result = await pull(
                            self._client,
                            self.group,
                            queue,
                            offset,
                            max_nums=count,
                            expression=self._expression(queue),
                            suspend_ms=BROKER_SUSPEND_MS,
                            timeout=PULL_TIMEOUT_MARGIN,
                        )
                    except Exception as exc:  # a fetcher must outlive any one bad pull
                        error = exc
                state.pull_scope = None
                if result is not None and state.epoch == epoch and not state.dropped:
                    self._accept(state, result)
            finally:
                self._reserved -= count
                self._room.notify()
            if error is not None:
                if isinstance(error, RocketMQError):
                    log.warning("pull from %s at %d failed: %s", queue, offset, error)
                else:
                    log.error("pull from %s at %d failed", queue, offset, exc_info=error)
                await anyio.sleep(FETCH_BACKOFF)
            elif (
                result is not None
                and result.status is PullStatus.NO_NEW_MSG
                and anyio.current_time() - started < 0.05
            ):
                # The broker did not hold the request (a slave, or long polling disabled):
                # do not spin.
                await anyio.sleep(0.1)

    def _accept(self, state: _QueueState, result: PullResult) -> None:
        state.fetch_offset = result.next_begin_offset
        if result.status is PullStatus.OFFSET_ILLEGAL:
            log.warning(
                "offset of %s moved by the broker, continuing at %d",
                state.queue,
                result.next_begin_offset,
            )
        if result.messages:
            for message in result.messages:
                self._buffer.append((state, message))
            state.buffered += len(result.messages)
            self._buffered_total += len(result.messages)
            self._arrival.notify()
        elif state.buffered == 0:
            state.consumed = state.fetch_offset

    # -- group membership -------------------------------------------------------------------

    def _start_membership(self) -> None:
        if self._membership_started or self._task_group is None:
            return
        self._membership_started = True
        self._task_group.start_soon(self._rebalance_loop)
        self._task_group.start_soon(self._heartbeat_loop)

    def _request_rebalance(self) -> None:
        self._rebalance_wanted = True
        self._rebalance_signal.notify()

    async def _on_request(
        self, conn: ClientConnection, request: RemotingCommand
    ) -> RemotingCommand | None:
        """Requests brokers send us on pooled connections."""
        if request.code == RequestCode.NOTIFY_CONSUMER_IDS_CHANGED:
            group = (request.ext_fields or {}).get("consumerGroup")
            if group == self.group and self._mode == "subscribe":
                log.info("consumer ids of %s changed (from %s): rebalancing", group, conn.address)
                self._request_rebalance()
            return None
        if request.is_oneway:
            return None
        return request.make_response(
            ResponseCode.REQUEST_CODE_NOT_SUPPORTED,
            f"request code {request.code} is not supported by this consumer",
        )

    async def _rebalance_loop(self) -> None:
        while True:
            self._rebalance_wanted = False
            try:
                ok = await self._rebalance()
            except Exception:
                log.exception("rebalance of %s failed", self.group)
                ok = False
            if not self._rebalance_wanted:
                with anyio.move_on_after(REBALANCE_INTERVAL if ok else REBALANCE_RETRY_INTERVAL):
                    await self._rebalance_signal.wait()

    async def _heartbeat_loop(self) -> None:
        while True:
            await anyio.sleep(HEARTBEAT_INTERVAL)
            try:
                await self._heartbeat()
            except Exception:
                log.exception("heartbeat of %s failed", self.group)

    async def _rebalance(self) -> bool:
        """One rebalance of every subscription; False when some topic has to be retried."""
        if self._heartbeat_wanted:
            await self._heartbeat()
        ok = True
        queues: list[MessageQueueRef] = []
        for topic in list(self._subscriptions):
            try:
                mine, complete = await self._allocate(topic)
            except RocketMQError as exc:
                log.warning("rebalance of %s on %s failed: %s", self.group, topic, exc)
                ok = False
                mine = [q for q in self._states if q.topic == topic]
                complete = True
            ok = ok and complete
            queues.extend(mine)
        added = [q for q in queues if q not in self._states]
        removed = self._apply_assignment(queues)
        if added or removed:
            log.info(
                "rebalance of %s: +%s -%s",
                self.group,
                _describe(added),
                _describe(state.queue for state in removed),
            )
        if removed and self.auto_commit:
            await self._commit_dropped(removed)
        return ok

    async def _allocate(self, topic: str) -> tuple[list[MessageQueueRef], bool]:
        queues = sorted(
            await subscribe_queues(self._client, topic),
            key=lambda q: (q.topic, q.broker_name, q.queue_id),
        )
        if self.message_model is MessageModel.BROADCASTING:
            return queues, True
        ids = sorted(await self._consumer_ids(topic))
        if self.client_id not in ids:
            # Java allocates nothing then; heartbeat again and retry soon.
            log.warning("%s is not yet listed in group %s", self.client_id, self.group)
            self._heartbeat_wanted = True
            return [], False
        return allocate_message_queue_averagely(queues, ids, self.client_id), True

    async def _consumer_ids(self, topic: str) -> list[str]:
        route = await self._client.route(topic)
        error: RocketMQError = TopicNotExistError(17, f"no broker serves {topic}")
        header = GetConsumerListByGroupRequestHeader(consumer_group=self.group)
        for broker in sorted(route.broker_datas, key=lambda b: b.broker_name):
            address = broker.broker_addrs.get(0) or next(iter(broker.broker_addrs.values()), None)
            if address is None:
                continue
            try:
                response = await self._pool.request(
                    address,
                    RemotingCommand.request(RequestCode.GET_CONSUMER_LIST_BY_GROUP, header),
                    self.request_timeout,
                )
            except RocketMQError as exc:
                error = exc
                continue
            if response.code != ResponseCode.SUCCESS:
                error = ResponseError.for_code(response.code, response.remark)
                continue
            return ConsumerListBody.from_json(response.body or b"{}").consumer_id_list
        raise error

    def _heartbeat_request(self) -> RemotingCommand:
        data = HeartbeatData(
            client_id=self.client_id,
            consumer_data_set=[
                ConsumerData(
                    group_name=self.group,
                    consume_type=ConsumeType.CONSUME_ACTIVELY,
                    message_model=self.message_model,
                    consume_from_where=self.consume_from_where,
                    subscription_data_set=list(self._subscriptions.values()),
                )
            ],
        )
        return RemotingCommand.request(RequestCode.HEART_BEAT, body=data.to_json())

    async def _heartbeat(self) -> None:
        """Heartbeat every broker (masters and slaves) of the subscribed topics."""
        addresses: set[str] = set()
        for topic in list(self._subscriptions):
            try:
                route = await self._client.route(topic)
            except RocketMQError as exc:
                log.warning("no route for %s to heartbeat: %s", topic, exc)
                continue
            for broker in route.broker_datas:
                addresses.update(broker.broker_addrs.values())
        sent = False
        for address in sorted(addresses):
            try:
                response = await self._pool.request(
                    address, self._heartbeat_request(), self.request_timeout
                )
            except RocketMQError as exc:
                log.warning("heartbeat to %s failed: %s", address, exc)
                continue
            if response.code != ResponseCode.SUCCESS:
                log.warning(
                    "heartbeat to %s refused: %d %s", address, response.code, response.remark
                )
                continue
            self._heartbeat_addresses.add(address)
            sent = True
        if sent:
            self._heartbeat_wanted = False

    async def _unregister(self) -> None:
        header = UnregisterClientRequestHeader(client_id=self.client_id, consumer_group=self.group)
        for address in sorted(self._heartbeat_addresses):
            with contextlib.suppress(RocketMQError):
                await self._pool.request(
                    address,
                    RemotingCommand.request(RequestCode.UNREGISTER_CLIENT, header),
                    self.request_timeout,
                )
        self._heartbeat_addresses.clear()


def _describe(queues: Iterable[MessageQueueRef]) -> str:
    return "[" + ", ".join(f"{q.topic}@{q.broker_name}#{q.queue_id}" for q in queues) + "]"


# -- the BROADCASTING offsets file (Java's LocalFileOffsetStore format) --------------------------


def _read_offset_file(path: Path) -> dict[MessageQueueRef, int]:
    """``{"offsetTable":{{"brokerName":..,"queueId":..,"topic":..}:offset,...}}``."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}
    try:
        table = fastjson.loads(data).get("offsetTable") or {}
        offsets: dict[MessageQueueRef, int] = {}
        for key, value in table.items():
            mq = MessageQueue.from_json_value(key)
            offsets[MessageQueueRef(mq.topic, mq.broker_name, mq.queue_id)] = int(value)
    except (RocketMQError, AttributeError, TypeError, ValueError) as exc:
        log.warning("ignoring unreadable offsets file %s: %s", path, exc)
        return {}
    return offsets


def _write_offset_file(path: Path, offsets: dict[MessageQueueRef, int]) -> None:
    """Write the offsets atomically: a temporary file renamed over the old one."""
    table = {
        MessageQueue(q.topic, q.broker_name, q.queue_id).to_object_key(): offset
        for q, offset in sorted(
            offsets.items(), key=lambda item: (item[0].topic, item[0].broker_name, item[0].queue_id)
        )
    }
    data = fastjson.dumps({"offsetTable": table})
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".offsets-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
