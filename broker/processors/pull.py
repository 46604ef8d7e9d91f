"""PULL_MESSAGE (11) and LITE_PULL_MESSAGE (361): read a queue, long-polling when it is empty.

Mirrors Apache's ``PullMessageProcessor``: permission and group checks, the subscription from the
request (subscription flag) or from the consumer's heartbeat, tag-hash filtering, the store's
status mapped to PULL_NOT_FOUND / PULL_RETRY_IMMEDIATELY / PULL_OFFSET_MOVED, the piggy-backed
offset commit, and suspension of an empty pull until data arrives or the timeout passes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from broker._server import Channel, Dispatcher
from broker.processors._common import FAQ_SUFFIX, parse_host
from broker.store import GetMessageStatus
from rocketmq_py.protocol.codes import RequestCode, ResponseCode
from rocketmq_py.protocol.command import RemotingCommand
from rocketmq_py.protocol.headers.pull import PullMessageRequestHeader, PullMessageResponseHeader
from rocketmq_py.protocol.message import PermName, PullSysFlag, tags_hash

if TYPE_CHECKING:
    from broker.controller import BrokerController

__all__ = ["PullProcessor", "parse_tag_expression"]

_S = GetMessageStatus
_STATUS_CODES: dict[GetMessageStatus, int] = {
    _S.FOUND: ResponseCode.SUCCESS,
    _S.MESSAGE_WAS_REMOVING: ResponseCode.PULL_RETRY_IMMEDIATELY,
    _S.NO_MATCHED_MESSAGE: ResponseCode.PULL_RETRY_IMMEDIATELY,
    _S.OFFSET_FOUND_NULL: ResponseCode.PULL_NOT_FOUND,
    _S.OFFSET_OVERFLOW_ONE: ResponseCode.PULL_NOT_FOUND,
    _S.OFFSET_OVERFLOW_BADLY: ResponseCode.PULL_OFFSET_MOVED,
    _S.OFFSET_TOO_SMALL: ResponseCode.PULL_OFFSET_MOVED,
}


def parse_tag_expression(expression: str | None) -> frozenset[int] | None:
    """``"TagA || TagB"`` -> tag hash codes; ``None`` means every message matches."""
    if expression is None:
        return None
    text = expression.strip()
    if not text or text == "*":
        return None
    tags = [t.strip() for t in text.split("||") if t.strip()]
    return frozenset(tags_hash(t) for t in tags) if tags else None


class PullProcessor:
    """Serves consumers' pulls."""

    def __init__(self, controller: BrokerController) -> None:
        self.c = controller

    def install(self, dispatcher: Dispatcher) -> None:
        """Register the pull codes."""
        dispatcher.register((RequestCode.PULL_MESSAGE, RequestCode.LITE_PULL_MESSAGE), self.pull)

    def pull(
        self, channel: Channel, request: RemotingCommand
    ) -> RemotingCommand | Awaitable[RemotingCommand]:
        """Handle a pull (first arrival: may suspend)."""
        return self._process(channel, request, allow_suspend=True)

    def _process(
        self, channel: Channel, request: RemotingCommand, allow_suspend: bool
    ) -> RemotingCommand | Awaitable[RemotingCommand]:
        c = self.c
        h = request.read_header(PullMessageRequestHeader)
        if not PermName.is_readable(int(c.settings["brokerPermission"])):
            return request.make_response(
                ResponseCode.NO_PERMISSION,
                f"the broker[{c.broker_ip}] pulling message is forbidden",
            )
        group_config = c.groups.find_subscription_group_config(h.consumer_group)
        if group_config is None:
            return request.make_response(
                ResponseCode.SUBSCRIPTION_GROUP_NOT_EXIST,
                f"subscription group [{h.consumer_group}] does not exist, {FAQ_SUFFIX.strip()}",
            )
        if not group_config.consume_enable:
            return request.make_response(
                ResponseCode.NO_PERMISSION, f"subscription group no permission, {h.consumer_group}"
            )
        has_suspend = PullSysFlag.has_suspend_flag(h.sys_flag)
        has_commit = PullSysFlag.has_commit_offset_flag(h.sys_flag)
        has_subscription = PullSysFlag.has_subscription_flag(h.sys_flag)
        topic_config = c.topics.select(h.topic)
        if topic_config is None:
            return request.make_response(
                ResponseCode.TOPIC_NOT_EXIST,
                f"topic[{h.topic}] not exist, apply first please!{FAQ_SUFFIX}",
            )
        if not PermName.is_readable(topic_config.perm):
            return request.make_response(
                ResponseCode.NO_PERMISSION, f"the topic[{h.topic}] pulling message is forbidden"
            )
        if not 0 <= h.queue_id < topic_config.read_queue_nums:
            return request.make_response(
                ResponseCode.SYSTEM_ERROR,
                f"queueId[{h.queue_id}] is illegal, topic:[{h.topic}] topicConfig.readQueueNums:"
                f"[{topic_config.read_queue_nums}] consumer:[{channel.remote_address}]",
            )
        if has_subscription:
            expression_type = h.expression_type or "TAG"
            expression = h.subscription
        else:
            group_info = c.consumers.group_info(h.consumer_group)
            if group_info is None:
                return request.make_response(
                    ResponseCode.SUBSCRIPTION_NOT_EXIST, "the consumer's group info not exist"
                )
            sub = c.consumers.find_subscription(h.consumer_group, h.topic)
            if sub is None:
                return request.make_response(
                    ResponseCode.SUBSCRIPTION_NOT_EXIST, "the consumer's subscription not exist"
                )
            if sub.sub_version < h.sub_version:
                return request.make_response(
                    ResponseCode.SUBSCRIPTION_NOT_LATEST, "the consumer's subscription not latest"
                )
            expression_type = sub.expression_type or "TAG"
            expression = sub.sub_string
        if expression_type.upper() != "TAG":
            return request.make_response(
                ResponseCode.SYSTEM_ERROR,
                "The broker does not support consumer to filter message by " + expression_type,
            )
        codes = parse_tag_expression(expression)
        message_filter: Callable[[int], bool] | None = None if codes is None else codes.__contains__

        max_bytes = h.max_msg_bytes if h.max_msg_bytes and h.max_msg_bytes > 0 else 4 * 1024 * 1024
        result = c.store.get_message(
            h.topic, h.queue_id, h.queue_offset, max(h.max_msg_nums, 1), max_bytes, message_filter
        )
        code = _STATUS_CODES.get(result.status)
        if code is None:  # NO_MESSAGE_IN_QUEUE / NO_MATCHED_LOGIC_QUEUE
            code = (
                ResponseCode.PULL_OFFSET_MOVED
                if h.queue_offset != 0
                else ResponseCode.PULL_NOT_FOUND
            )
        header = PullMessageResponseHeader(
            suggest_which_broker_id=0,
            next_begin_offset=result.next_begin_offset,
            min_offset=result.min_offset,
            max_offset=result.max_offset,
        )
        if allow_suspend and has_commit:
            c.offsets.commit_offset(
                parse_host(channel.remote_address)[0],
                h.consumer_group,
                h.topic,
                h.queue_id,
                h.commit_offset,
            )
        if code == ResponseCode.SUCCESS:
            return request.make_response(
                code, result.status.name, header=header, body=b"".join(result.buffers)
            )
        if code == ResponseCode.PULL_NOT_FOUND and allow_suspend and has_suspend:
            if c.settings["longPollingEnable"]:
                timeout = h.suspend_timeout_millis
            else:
                timeout = int(c.settings["shortPollingTimeMills"])
            return c.pull_hold.suspend(
                h.topic,
                h.queue_id,
                h.queue_offset,
                timeout,
                lambda: self._resume(channel, request),
            )
        return request.make_response(code, result.status.name, header=header)

    def _resume(self, channel: Channel, request: RemotingCommand) -> RemotingCommand:
        response = self._process(channel, request, allow_suspend=False)
        assert isinstance(response, RemotingCommand)
        return response
