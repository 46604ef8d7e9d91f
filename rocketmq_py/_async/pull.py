"""Pulling from one queue: the primitive under every consumer (PULL_MESSAGE, code 11)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from rocketmq_py._async.client import ClientInstance
from rocketmq_py.exceptions import ResponseError, TopicNotExistError
from rocketmq_py.message import MessageQueueRef, MessageView
from rocketmq_py.protocol.codes import RequestCode, ResponseCode
from rocketmq_py.protocol.command import RemotingCommand
from rocketmq_py.protocol.headers.pull import PullMessageRequestHeader, PullMessageResponseHeader
from rocketmq_py.protocol.message import PermName, PullSysFlag, iter_records

__all__ = [
    "BROKER_SUSPEND_MS",
    "FETCH_BACKOFF",
    "PULL_TIMEOUT_MARGIN",
    "PullResult",
    "PullStatus",
    "pull",
    "subscribe_queues",
]

#: Long-poll hold time consumers ask of the broker (Java push and ali-ons: 15 s).
BROKER_SUSPEND_MS = 15_000
#: Extra time on top of the hold before a held pull is given up (Java: 30 s in all).
PULL_TIMEOUT_MARGIN = 15.0
#: Pause before a consumer pulls a queue again after an error (Java's
#: PULL_TIME_DELAY_MILLS_ON_EXCEPTION).
FETCH_BACKOFF = 1.0


class PullStatus(enum.Enum):
    """What a pull found."""

    FOUND = "FOUND"
    NO_NEW_MSG = "NO_NEW_MSG"
    NO_MATCHED_MSG = "NO_MATCHED_MSG"
    OFFSET_ILLEGAL = "OFFSET_ILLEGAL"


_STATUS = {
    ResponseCode.SUCCESS: PullStatus.FOUND,
    ResponseCode.PULL_NOT_FOUND: PullStatus.NO_NEW_MSG,
    ResponseCode.PULL_RETRY_IMMEDIATELY: PullStatus.NO_MATCHED_MSG,
    ResponseCode.PULL_OFFSET_MOVED: PullStatus.OFFSET_ILLEGAL,
}


@dataclass(frozen=True, slots=True)
class PullResult:
    """One pull's outcome: messages (already tag-filtered client-side) and where to go next."""

    status: PullStatus
    next_begin_offset: int
    min_offset: int
    max_offset: int
    messages: list[MessageView]


async def subscribe_queues(client: ClientInstance, topic: str) -> list[MessageQueueRef]:
    """Every readable queue of ``topic``, sorted like Java (broker name, queue id)."""
    route = await client.route(topic)
    queues = [
        MessageQueueRef(topic, data.broker_name, i)
        for data in sorted(route.queue_datas, key=lambda q: q.broker_name)
        if PermName.is_readable(data.perm)
        for i in range(data.read_queue_nums)
    ]
    if not queues:
        raise TopicNotExistError(17, f"no readable queue for topic {topic}")
    return queues


async def pull(
    client: ClientInstance,
    group: str,
    queue: MessageQueueRef,
    offset: int,
    *,
    max_nums: int = 32,
    expression: str = "*",
    suspend_ms: int = 0,
    commit_offset: int | None = None,
    timeout: float = 10.0,
    namespace: str = "",
) -> PullResult:
    """Pull up to ``max_nums`` messages of ``queue`` from ``offset``.

    With ``suspend_ms`` > 0 the broker holds the request until a message arrives (long
    polling); the timeout then covers the hold too.
    """
    address = client.master_address(queue.broker_name)
    if address is None:
        await client.route(queue.topic, refresh=True)
        address = client.master_address(queue.broker_name)
        if address is None:
            raise TopicNotExistError(17, f"no address for broker {queue.broker_name}")
    sys_flag = PullSysFlag.build_sys_flag(
        commit_offset is not None and commit_offset >= 0, suspend_ms > 0, True
    )
    header = PullMessageRequestHeader(
        consumer_group=group,
        topic=queue.topic,
        queue_id=queue.queue_id,
        queue_offset=offset,
        max_msg_nums=max_nums,
        sys_flag=sys_flag,
        commit_offset=commit_offset if commit_offset is not None and commit_offset >= 0 else 0,
        suspend_timeout_millis=suspend_ms,
        sub_version=0,
        subscription=expression,
        expression_type="TAG",
    )
    response = await client.pool.request(
        address,
        RemotingCommand.request(RequestCode.PULL_MESSAGE, header),
        timeout + suspend_ms / 1000,
    )
    status = _STATUS.get(ResponseCode(response.code)) if response.code in _STATUS else None
    if status is None:
        raise ResponseError.for_code(response.code, response.remark)
    h = response.read_header(PullMessageResponseHeader)
    messages: list[MessageView] = []
    if status is PullStatus.FOUND and response.body:
        wanted = _tag_filter(expression)
        for record in iter_records(response.body):
            tags = record.properties.get("TAGS")
            if wanted is None or (tags is not None and tags in wanted):
                messages.append(MessageView.from_record(record, queue.broker_name, namespace))
    return PullResult(status, h.next_begin_offset, h.min_offset, h.max_offset, messages)


def _tag_filter(expression: str) -> frozenset[str] | None:
    text = expression.strip()
    if not text or text == "*":
        return None
    return frozenset(t.strip() for t in text.split("||") if t.strip())
