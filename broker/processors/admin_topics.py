"""Admin requests on topics and subscription groups (part of Apache's ``AdminBrokerProcessor``).

Topics: UPDATE_AND_CREATE_TOPIC (17), GET_ALL_TOPIC_CONFIG (21), DELETE_TOPIC_IN_BROKER (215),
GET_SYSTEM_TOPIC_LIST_FROM_BROKER (305). Subscription groups: UPDATE_AND_CREATE_SUBSCRIPTIONGROUP
(200), GET_ALL_SUBSCRIPTIONGROUP_CONFIG (201), DELETE_SUBSCRIPTIONGROUP (207). A slave refuses
every change, as Java's does.

One deliberate difference from 4.9.8: UPDATE_AND_CREATE_TOPIC also stores the header's
``order`` flag and 5.x ``attributes`` (4.9.8 ignores them), and refuses negative queue counts
and permissions outside 0..15.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final

from broker._server import Channel, Dispatcher
from broker.managers import SubscriptionGroupConfig
from broker.managers import topic_validator as tv
from rocketmq_py.exceptions import RemoteProtocolError
from rocketmq_py.protocol.bodies import TopicConfig, TopicList
from rocketmq_py.protocol.codes import RequestCode, ResponseCode
from rocketmq_py.protocol.command import RemotingCommand
from rocketmq_py.protocol.headers.admin import (
    CreateTopicRequestHeader,
    DeleteSubscriptionGroupRequestHeader,
    DeleteTopicRequestHeader,
)

if TYPE_CHECKING:
    from broker.controller import BrokerController

__all__ = ["TopicAdminProcessor"]

log = logging.getLogger("broker.admin")

_SLAVE_REMARK: Final = (
    "Can't modify topic or subscription group from slave broker, "
    "please execute it from master broker."
)
# What a Java broker leaves in the remark of a successful UPDATE_AND_CREATE_TOPIC: it builds
# the response with createResponseCommand(null) and only sets the code (see the capture).
_TOPIC_CREATED_REMARK: Final = "not set any response code"

_TOPIC_FILTER_TYPES: Final = frozenset({"SINGLE_TAG", "MULTI_TAG"})


def _parse_attributes(text: str | None, current: dict[str, str] | None) -> dict[str, str] | None:
    """Apply a 5.x ``"+key=value,-key"`` attribute list to a topic's current attributes."""
    if not text:
        return current
    result = dict(current or {})
    for raw in text.split(","):
        item = raw.strip()
        if item.startswith("+") and "=" in item:
            key, _, value = item[1:].partition("=")
            result[key] = value
        elif item.startswith("-"):
            result.pop(item[1:].partition("=")[0], None)
        elif item:
            raise RemoteProtocolError(
                f"topic attribute {item!r} must look like +key=value or -key",
                ResponseCode.INVALID_PARAMETER,
            )
    return result


class TopicAdminProcessor:
    """Handlers of the topic and subscription group admin request codes.

    Args:
        controller: the broker; its settings, managers and store are read on every request.
    """

    def __init__(self, controller: BrokerController) -> None:
        self.c = controller

    def install(self, dispatcher: Dispatcher) -> None:
        """Register the topic and subscription group handlers."""
        rc = RequestCode
        for code, handler in (
            (rc.UPDATE_AND_CREATE_TOPIC, self.update_and_create_topic),
            (rc.DELETE_TOPIC_IN_BROKER, self.delete_topic),
            (rc.GET_ALL_TOPIC_CONFIG, self.get_all_topic_config),
            (rc.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, self.update_and_create_subscription_group),
            (rc.GET_ALL_SUBSCRIPTIONGROUP_CONFIG, self.get_all_subscription_group),
            (rc.DELETE_SUBSCRIPTIONGROUP, self.delete_subscription_group),
            (rc.GET_SYSTEM_TOPIC_LIST_FROM_BROKER, self.get_system_topic_list),
        ):
            dispatcher.register(code, handler)

    # -- helpers ----------------------------------------------------------------------------

    def _slave_refusal(self, request: RemotingCommand) -> RemotingCommand | None:
        """SYSTEM_ERROR for a change sent to a slave, else ``None``."""
        if str(self.c.settings["brokerRole"]) == "SLAVE":
            return request.make_response(ResponseCode.SYSTEM_ERROR, _SLAVE_REMARK)
        return None

    def system_topics(self) -> set[str]:
        """Java's system topic set as this broker has it: the fixed names, plus the cluster,
        broker, reply and ``rmq_sys_`` topics it created at start."""
        topics = set(tv.SYSTEM_TOPICS)
        topics.update(t for t in self.c.topics.topic_names() if self.c.topics.is_system_topic(t))
        return topics

    def _topic_refusal(self, request: RemotingCommand, topic: str) -> RemotingCommand | None:
        """The answer to creating or deleting ``topic`` when its name is invalid or a system
        topic's (Java's checks, in Java's order), else None."""
        problem = tv.validate_topic(topic)
        if problem is not None:
            return request.make_response(ResponseCode.SYSTEM_ERROR, problem)
        if self.c.topics.is_system_topic(topic):
            return request.make_response(
                ResponseCode.SYSTEM_ERROR, tv.system_topic_conflict_remark(topic)
            )
        return None

    # -- topics -----------------------------------------------------------------------------

    def update_and_create_topic(
        self, channel: Channel, request: RemotingCommand
    ) -> RemotingCommand:
        """UPDATE_AND_CREATE_TOPIC (17): create or replace a topic, then re-register."""
        refusal = self._slave_refusal(request)
        if refusal is not None:
            return refusal
        h = request.read_header(CreateTopicRequestHeader)
        log.info("updateAndCreateTopic %s called by %s", h.topic, channel.remote_address)
        refusal = self._topic_refusal(request, h.topic)
        if refusal is not None:
            return refusal
        if h.read_queue_nums < 0 or h.write_queue_nums < 0:
            return request.make_response(
                ResponseCode.SYSTEM_ERROR,
                f"The queue nums of topic[{h.topic}] must not be negative: "
                f"readQueueNums={h.read_queue_nums}, writeQueueNums={h.write_queue_nums}",
            )
        if h.topic_filter_type not in _TOPIC_FILTER_TYPES:
            # Java fails in TopicFilterType.valueOf and answers with the exception's text.
            return request.make_response(
                ResponseCode.SYSTEM_ERROR,
                "IllegalArgumentException: No enum constant "
                f"org.apache.rocketmq.common.TopicFilterType.{h.topic_filter_type}",
            )
        if not 0 <= h.perm <= 15:
            return request.make_response(
                ResponseCode.SYSTEM_ERROR, f"The perm of topic[{h.topic}] is invalid: {h.perm}"
            )
        existing = self.c.topics.select(h.topic)
        config = TopicConfig(
            topic_name=h.topic,
            read_queue_nums=h.read_queue_nums,
            write_queue_nums=h.write_queue_nums,
            perm=h.perm,
            topic_filter_type=h.topic_filter_type,
            topic_sys_flag=h.topic_sys_flag or 0,
            order=h.order,
            attributes=_parse_attributes(
                h.attributes, existing.attributes if existing is not None else None
            ),
        )
        self.c.topics.update_topic_config(config)
        self.c.request_register()
        return request.make_response(ResponseCode.SUCCESS, _TOPIC_CREATED_REMARK)

    def delete_topic(self, channel: Channel, request: RemotingCommand) -> RemotingCommand:
        """DELETE_TOPIC_IN_BROKER (215): the topic's config, offsets and stored queues."""
        refusal = self._slave_refusal(request)
        if refusal is not None:
            return refusal
        h = request.read_header(DeleteTopicRequestHeader)
        log.info("deleteTopic %s called by %s", h.topic, channel.remote_address)
        refusal = self._topic_refusal(request, h.topic)
        if refusal is not None:
            return refusal
        self.c.topics.delete_topic_config(h.topic)
        self.c.offsets.remove_topic(h.topic)
        self.c.store.delete_topics({h.topic})
        self.c.request_register()
        return request.make_response()

    def get_all_topic_config(self, channel: Channel, request: RemotingCommand) -> RemotingCommand:
        """GET_ALL_TOPIC_CONFIG (21): TopicConfigSerializeWrapper (a slave's topic sync)."""
        body = self.c.topics.build_serialize_wrapper().to_json()
        # Java answers with an empty GetAllTopicConfigResponseHeader: extFields is {}.
        return request.make_response(header={}, body=body)

    def get_system_topic_list(self, channel: Channel, request: RemotingCommand) -> RemotingCommand:
        """GET_SYSTEM_TOPIC_LIST_FROM_BROKER (305): TopicList of the system topics."""
        return request.make_response(
            body=TopicList(topic_list=sorted(self.system_topics())).to_json()
        )

    # -- subscription groups ----------------------------------------------------------------

    def update_and_create_subscription_group(
        self, channel: Channel, request: RemotingCommand
    ) -> RemotingCommand:
        """UPDATE_AND_CREATE_SUBSCRIPTIONGROUP (200): body SubscriptionGroupConfig."""
        refusal = self._slave_refusal(request)
        if refusal is not None:
            return refusal
        if not request.body:
            return request.make_response()  # Java: a null config is ignored
        config = SubscriptionGroupConfig.from_json(request.body)
        problem = tv.validate_group(config.group_name)
        if problem is not None:
            return request.make_response(ResponseCode.SYSTEM_ERROR, problem)
        log.info(
            "updateAndCreateSubscriptionGroup %s called by %s",
            config.group_name,
            channel.remote_address,
        )
        self.c.groups.update(config)
        return request.make_response()

    def get_all_subscription_group(
        self, channel: Channel, request: RemotingCommand
    ) -> RemotingCommand:
        """GET_ALL_SUBSCRIPTIONGROUP_CONFIG (201): the ``subscriptionGroup.json`` content."""
        return request.make_response(body=self.c.groups.encode())

    def delete_subscription_group(
        self, channel: Channel, request: RemotingCommand
    ) -> RemotingCommand:
        """DELETE_SUBSCRIPTIONGROUP (207): drop a group; its offsets too when asked."""
        refusal = self._slave_refusal(request)
        if refusal is not None:
            return refusal
        h = request.read_header(DeleteSubscriptionGroupRequestHeader)
        log.info("deleteSubscriptionGroup %s called by %s", h.group_name, channel.remote_address)
        self.c.groups.delete(h.group_name)
        if h.remove_offset or h.clean_offset:
            self.c.offsets.remove_offset(h.group_name)
        return request.make_response()
