"""Headers of PULL_MESSAGE (11) and LITE_PULL_MESSAGE (361). See ``protocol.md`` 3.3 and 8.6."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rocketmq_py.protocol.codes import RequestCode
from rocketmq_py.protocol.headers._base import CommandHeader, request_header, response_header

__all__ = [
    "PullMessageRequestHeader",
    "PullMessageResponseHeader",
]


@request_header(RequestCode.PULL_MESSAGE, RequestCode.LITE_PULL_MESSAGE)
@dataclass(slots=True)
class PullMessageRequestHeader(CommandHeader):
    """PULL_MESSAGE (11) and LITE_PULL_MESSAGE (361): read a queue from an offset, long-polling.

    ``sys_flag`` holds the PullSysFlag bits (commit offset, suspend, subscription, class filter,
    lite pull); ``commit_offset`` is only meaningful with the commit bit, ``subscription`` and
    ``expression_type`` with the subscription bit. ``proxy_forward_client_id`` keeps Java's
    misspelt wire name ``proxyFrowardClientId``.
    """

    WIRE_NAMES: ClassVar = {"proxy_forward_client_id": "proxyFrowardClientId"}

    consumer_group: str
    topic: str
    queue_id: int
    queue_offset: int
    max_msg_nums: int
    sys_flag: int
    commit_offset: int
    suspend_timeout_millis: int
    sub_version: int
    subscription: str | None = None
    expression_type: str | None = None
    max_msg_bytes: int | None = None
    request_source: int | None = None
    proxy_forward_client_id: str | None = None
    bname: str | None = None


@response_header(RequestCode.PULL_MESSAGE, RequestCode.LITE_PULL_MESSAGE)
@dataclass(slots=True)
class PullMessageResponseHeader(CommandHeader):
    """Answer to PULL_MESSAGE/LITE_PULL_MESSAGE: next offset, queue bounds, broker to read from.

    Carried by SUCCESS and by PULL_NOT_FOUND (19), PULL_RETRY_IMMEDIATELY (20) and
    PULL_OFFSET_MOVED (21) alike; the remark holds the store's GetMessageStatus name.
    """

    suggest_which_broker_id: int
    next_begin_offset: int
    min_offset: int
    max_offset: int
    offset_delta: int | None = None
    topic_sys_flag: int | None = None
    group_sys_flag: int | None = None
    forbidden_type: int | None = None
