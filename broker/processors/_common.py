"""Small pieces shared by the broker's processors."""

from __future__ import annotations

import functools
import os

from rocketmq_py.exceptions import LocalProtocolError
from rocketmq_py.protocol.codes import ResponseCode
from rocketmq_py.protocol.command import RemotingCommand
from rocketmq_py.protocol.message import UniqueIdGenerator

__all__ = ["DLQ_NUMS_PER_GROUP", "FAQ_SUFFIX", "UniqueKeys", "parse_host", "put_status_response"]

DLQ_NUMS_PER_GROUP = 1
"""Queues of a ``%DLQ%`` topic (Apache's ``DLQ_NUMS_PER_GROUP``)."""

FAQ_SUFFIX = "\nSee http://rocketmq.apache.org/docs/faq/ for further details."


class UniqueKeys:
    """UNIQ_KEY ids for messages that arrive without one (Java's MessageClientIDSetter layout)."""

    def __init__(self, ip: str) -> None:
        try:
            self._gen = UniqueIdGenerator(ip, os.getpid(), id(self) & 0x7FFFFFFF)
        except LocalProtocolError:  # an unparsable advertised address: fall back to loopback
            self._gen = UniqueIdGenerator("127.0.0.1", os.getpid(), id(self) & 0x7FFFFFFF)

    def next_id(self, now_ms: int) -> str:
        """A fresh id for ``now_ms``."""
        return self._gen.next_id_local(now_ms)


@functools.lru_cache(maxsize=4096)  # a connection's address is parsed on every send
def parse_host(address: str) -> tuple[str, int]:
    """``"ip:port"`` (as Channel.remote_address gives it) -> (ip, port)."""
    host, _, port = address.rpartition(":")
    try:
        return host.strip("[]") or "0.0.0.0", int(port)
    except ValueError:
        return "0.0.0.0", 0


_PUT_ERRORS: dict[str, tuple[int, str]] = {
    "MESSAGE_ILLEGAL": (
        ResponseCode.MESSAGE_ILLEGAL,
        "the message is illegal, maybe msg body or properties length not matched. "
        "msg body length limit {max_body}, msg properties length limit 32k.",
    ),
    "PROPERTIES_SIZE_EXCEEDED": (
        ResponseCode.MESSAGE_ILLEGAL,
        "the message is illegal, maybe msg properties length limit 32k.",
    ),
    "SERVICE_NOT_AVAILABLE": (
        ResponseCode.SERVICE_NOT_AVAILABLE,
        "service not available now. It may be caused by one of the following reasons: the "
        "broker's disk is full, messages are put to the slave, message store has been shut "
        "down, etc.",
    ),
    "CREATE_MAPPED_FILE_FAILED": (
        ResponseCode.SYSTEM_ERROR,
        "create mapped file failed, server is busy or broken.",
    ),
    "UNKNOWN_ERROR": (ResponseCode.SYSTEM_ERROR, "UNKNOWN_ERROR"),
}


def put_status_response(
    request: RemotingCommand, status_name: str, max_message_size: int
) -> RemotingCommand | None:
    """The error response for a failed put, or ``None`` when the put succeeded."""
    if status_name in (
        "PUT_OK",
        "FLUSH_DISK_TIMEOUT",
        "FLUSH_SLAVE_TIMEOUT",
        "SLAVE_NOT_AVAILABLE",
    ):
        return None
    code, remark = _PUT_ERRORS.get(status_name, _PUT_ERRORS["UNKNOWN_ERROR"])
    return request.make_response(code, remark.format(max_body=max_message_size))
