"""Headers of QUERY_MESSAGE (12) and VIEW_MESSAGE_BY_ID (33). See ``protocol.md`` 3.4."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rocketmq_py.protocol.codes import RequestCode
from rocketmq_py.protocol.headers._base import CommandHeader, request_header, response_header

__all__ = [
    "QueryMessageRequestHeader",
    "QueryMessageResponseHeader",
    "ViewMessageRequestHeader",
]


@request_header(RequestCode.QUERY_MESSAGE)
@dataclass(slots=True)
class QueryMessageRequestHeader(CommandHeader):
    """QUERY_MESSAGE (12): find messages by key (or by UNIQ_KEY) within a store-time window.

    ``unique_key_query`` is the extra extFields entry ``_UNIQUE_KEY_QUERY`` a Java client adds
    when ``key`` is a message's UNIQ_KEY; the broker then ignores ``max_num`` and uses its own
    limit (32).
    """

    WIRE_NAMES: ClassVar = {"unique_key_query": "_UNIQUE_KEY_QUERY"}

    topic: str
    key: str
    max_num: int
    begin_timestamp: int
    end_timestamp: int
    unique_key_query: bool | None = None


@response_header(RequestCode.QUERY_MESSAGE)
@dataclass(slots=True)
class QueryMessageResponseHeader(CommandHeader):
    """Answer to QUERY_MESSAGE: how fresh the broker's index is; the records are the body."""

    index_last_update_timestamp: int
    index_last_update_phyoffset: int


@request_header(RequestCode.VIEW_MESSAGE_BY_ID)
@dataclass(slots=True)
class ViewMessageRequestHeader(CommandHeader):
    """VIEW_MESSAGE_BY_ID (33): read the one record at a commitlog offset (from an offset msgId)."""

    offset: int
    topic: str | None = None
