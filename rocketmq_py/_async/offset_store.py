"""Where consumers keep their offsets, and where a queue without one starts.

* CLUSTERING: the broker that hosts the queue keeps the group's offset
  (:class:`RemoteBrokerOffsetStore`: QUERY_CONSUMER_OFFSET / UPDATE_CONSUMER_OFFSET).
* BROADCASTING: every consumer keeps its own in a local file (:class:`LocalFileOffsetStore`,
  Java's ``LocalFileOffsetStore`` format).

:class:`BrokerOffsets` holds the offset requests of one queue's broker, also used to find
where a new queue starts (:func:`initial_offset`, Java's ``computePullFromWhere``).
"""

from __future__ import annotations

import abc
import contextlib
import logging
import os
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import anyio

from rocketmq_py._async.client import ClientInstance
from rocketmq_py.exceptions import ResponseError, RocketMQError, TopicNotExistError
from rocketmq_py.message import MessageQueueRef
from rocketmq_py.protocol import fastjson
from rocketmq_py.protocol.bodies import ConsumeFromWhere, MessageQueue
from rocketmq_py.protocol.codes import RequestCode, ResponseCode
from rocketmq_py.protocol.command import RemotingCommand
from rocketmq_py.protocol.headers.consumer import (
    GetMaxOffsetRequestHeader,
    GetMaxOffsetResponseHeader,
    GetMinOffsetRequestHeader,
    GetMinOffsetResponseHeader,
    QueryConsumerOffsetRequestHeader,
    QueryConsumerOffsetResponseHeader,
    SearchOffsetRequestHeader,
    SearchOffsetResponseHeader,
    UpdateConsumerOffsetRequestHeader,
)
from rocketmq_py.protocol.topics import RETRY_GROUP_TOPIC_PREFIX

__all__ = [
    "BrokerOffsets",
    "LocalFileOffsetStore",
    "OffsetStore",
    "RemoteBrokerOffsetStore",
    "initial_offset",
    "offset_file_path",
    "read_offset_file",
    "write_offset_file",
]

log = logging.getLogger("rocketmq_py.consumer")

#: Java's default consumeTimestamp: half an hour ago.
DEFAULT_TIMESTAMP_LOOKBACK_MS = 30 * 60 * 1000


class BrokerOffsets:
    """Offset requests to the master broker of a queue, for one consumer group."""

    def __init__(self, client: ClientInstance, group: str, request_timeout: float) -> None:
        self.client = client
        self.group = group
        self.request_timeout = request_timeout

    async def address(self, queue: MessageQueueRef) -> str:
        """The master address of ``queue``'s broker (refreshing the route once if unknown)."""
        address = self.client.master_address(queue.broker_name)
        if address is None:
            await self.client.route(queue.topic, refresh=True)
            address = self.client.master_address(queue.broker_name)
            if address is None:
                raise TopicNotExistError(17, f"no address for broker {queue.broker_name}")
        return address

    async def _call(self, queue: MessageQueueRef, request: RemotingCommand) -> RemotingCommand:
        address = await self.address(queue)
        return await self.client.pool.request(address, request, self.request_timeout)

    async def _expect_success(
        self, queue: MessageQueueRef, request: RemotingCommand
    ) -> RemotingCommand:
        response = await self._call(queue, request)
        if response.code != ResponseCode.SUCCESS:
            raise ResponseError.for_code(response.code, response.remark)
        return response

    async def committed(self, queue: MessageQueueRef, *, zero_if_not_found: bool) -> int | None:
        """The group's committed offset of ``queue``; ``None`` when the broker has none.

        With ``zero_if_not_found`` the broker's default applies: it answers 0 for a queue that
        still starts at 0 (the "young queue" rule, ``protocol.md`` 3.7).
        """
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

    async def update(self, queue: MessageQueueRef, offset: int, *, oneway: bool = False) -> None:
        """Commit the group's offset of ``queue`` (Java sends it oneway)."""
        header = UpdateConsumerOffsetRequestHeader(
            consumer_group=self.group,
            topic=queue.topic,
            queue_id=queue.queue_id,
            commit_offset=offset,
            bname=queue.broker_name,
        )
        request = RemotingCommand.request(RequestCode.UPDATE_CONSUMER_OFFSET, header)
        if oneway:
            await self.client.pool.oneway(await self.address(queue), request)
        else:
            await self._expect_success(queue, request)

    async def max_offset(self, queue: MessageQueueRef) -> int:
        """The offset the next message of ``queue`` will get."""
        header = GetMaxOffsetRequestHeader(
            topic=queue.topic, queue_id=queue.queue_id, bname=queue.broker_name
        )
        response = await self._expect_success(
            queue, RemotingCommand.request(RequestCode.GET_MAX_OFFSET, header)
        )
        return response.read_header(GetMaxOffsetResponseHeader).offset

    async def min_offset(self, queue: MessageQueueRef) -> int:
        """The offset of the oldest message of ``queue`` still stored."""
        header = GetMinOffsetRequestHeader(
            topic=queue.topic, queue_id=queue.queue_id, bname=queue.broker_name
        )
        response = await self._expect_success(
            queue, RemotingCommand.request(RequestCode.GET_MIN_OFFSET, header)
        )
        return response.read_header(GetMinOffsetResponseHeader).offset

    async def offset_by_time(self, queue: MessageQueueRef, timestamp_ms: int) -> int:
        """The offset of the first message of ``queue`` stored at or after ``timestamp_ms``."""
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


class OffsetStore(abc.ABC):
    """The committed offsets of a consumer group's queues."""

    async def load(self) -> None:  # noqa: B027 - a no-op default, not an abstract step
        """Read what is persisted (before the first :meth:`read`)."""

    @abc.abstractmethod
    async def read(self, queue: MessageQueueRef, *, zero_if_not_found: bool = False) -> int | None:
        """The committed offset of ``queue``, ``None`` when there is none."""

    @abc.abstractmethod
    async def commit(
        self, offsets: Mapping[MessageQueueRef, int], *, oneway: bool = False
    ) -> tuple[dict[MessageQueueRef, int], Exception | None]:
        """Store ``offsets``; returns those stored (or sent, when ``oneway``) and the first error.

        Errors are returned rather than raised so one unreachable broker does not keep the
        other queues from being committed.
        """


class RemoteBrokerOffsetStore(OffsetStore):
    """CLUSTERING: offsets kept by the brokers, one UPDATE_CONSUMER_OFFSET per queue."""

    def __init__(self, broker: BrokerOffsets) -> None:
        self.broker = broker

    async def read(self, queue: MessageQueueRef, *, zero_if_not_found: bool = False) -> int | None:
        """Ask the queue's broker (see :meth:`BrokerOffsets.committed`)."""
        return await self.broker.committed(queue, zero_if_not_found=zero_if_not_found)

    async def commit(
        self, offsets: Mapping[MessageQueueRef, int], *, oneway: bool = False
    ) -> tuple[dict[MessageQueueRef, int], Exception | None]:
        """Send each offset to its queue's broker."""
        stored: dict[MessageQueueRef, int] = {}
        first_error: Exception | None = None
        for queue, offset in offsets.items():
            try:
                await self.broker.update(queue, offset, oneway=oneway)
            except RocketMQError as exc:
                log.warning("commit of %s at %d failed: %s", queue, offset, exc)
                first_error = first_error or exc
                continue
            stored[queue] = offset
        return stored, first_error


class LocalFileOffsetStore(OffsetStore):
    """BROADCASTING: offsets in ``path``, rewritten atomically when they change."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offsets: dict[MessageQueueRef, int] = {}
        self._dirty = False

    async def load(self) -> None:
        """Read the file (a missing or unreadable file means no offsets)."""
        self.offsets = await anyio.to_thread.run_sync(read_offset_file, self.path)
        self._dirty = False

    async def read(self, queue: MessageQueueRef, *, zero_if_not_found: bool = False) -> int | None:
        """The offset last committed (the file is only read by :meth:`load`)."""
        return self.offsets.get(queue)

    async def commit(
        self, offsets: Mapping[MessageQueueRef, int], *, oneway: bool = False
    ) -> tuple[dict[MessageQueueRef, int], Exception | None]:
        """Merge ``offsets`` into the table and rewrite the file if anything changed."""
        for queue, offset in offsets.items():
            if self.offsets.get(queue) != offset:
                self.offsets[queue] = offset
                self._dirty = True
        if self._dirty:
            snapshot = dict(self.offsets)
            try:
                await anyio.to_thread.run_sync(write_offset_file, self.path, snapshot)
            except OSError as exc:
                log.warning("cannot write offsets file %s: %s", self.path, exc)
                return {}, exc
            self._dirty = False
        return dict(offsets), None


async def initial_offset(
    store: OffsetStore,
    broker: BrokerOffsets,
    queue: MessageQueueRef,
    consume_from_where: ConsumeFromWhere,
    consume_timestamp_ms: int | None,
) -> tuple[int, int | None]:
    """Where a newly assigned queue starts, and its committed offset if there is one.

    Without a committed offset ``consume_from_where`` applies as in Java's
    ``RebalancePushImpl.computePullFromWhere``: the last offset (0 for retry topics), the
    first, or the first message stored at ``consume_timestamp_ms`` (default: half an hour
    ago; the last offset for retry topics).
    """
    committed = await store.read(queue, zero_if_not_found=True)
    if committed is not None and committed >= 0:
        return committed, committed
    retry = queue.topic.startswith(RETRY_GROUP_TOPIC_PREFIX)
    if consume_from_where is ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET:
        return 0, None
    if consume_from_where is ConsumeFromWhere.CONSUME_FROM_TIMESTAMP and not retry:
        timestamp = consume_timestamp_ms
        if timestamp is None:
            timestamp = time.time_ns() // 1_000_000 - DEFAULT_TIMESTAMP_LOOKBACK_MS
        return await broker.offset_by_time(queue, timestamp), None
    if consume_from_where is ConsumeFromWhere.CONSUME_FROM_LAST_OFFSET and retry:
        return 0, None
    return await broker.max_offset(queue), None


# -- the BROADCASTING offsets file (Java's LocalFileOffsetStore format) --------------------------


def read_offset_file(path: Path) -> dict[MessageQueueRef, int]:
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


def write_offset_file(path: Path, offsets: dict[MessageQueueRef, int]) -> None:
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


def offset_file_path(root: str | os.PathLike[str] | None, client_id: str, group: str) -> Path:
    """``<root>/<client id>/<group>/offsets.json`` (root defaults to ``~/.rocketmq_offsets``)."""
    base = Path(root) if root is not None else Path.home() / ".rocketmq_offsets"
    return base / client_id / group / "offsets.json"
