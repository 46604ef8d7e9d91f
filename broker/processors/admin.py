"""Admin requests of mqadmin and the dashboard (Apache's ``AdminBrokerProcessor``).

Topics (17, 21, 215), subscription groups (200, 201, 207), broker config and runtime info
(25, 26, 28), statistics (202, 208), connections (203, 204), and who consumes what (300, 305).

Answers follow what a 4.9.8 broker sends (``protocol.md`` 3.10-3.11, and the captured frames in
``shared/captures/05_mqadmin.jsonl``): the same codes, remarks, extFields key sets and body
shapes, including fastjson's MessageQueue *object* map keys in TopicStatsTable and ConsumeStats.
Two deliberate differences:

* UPDATE_AND_CREATE_TOPIC also stores the header's ``order`` flag and 5.x ``attributes`` (4.9.8
  ignores them), and refuses negative queue counts and permissions outside 0..15.
* GET_CONSUME_STATS without a topic reports the topics the group has committed offsets for
  (as Java does) *and* the topics its online consumers subscribe, so a new group shows up
  before its first commit.

Everything here is synchronous: the tables are in memory and the store answers offset and
timestamp lookups without blocking for long.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Final

from broker._config import parse_properties
from broker._server import Channel, Dispatcher
from broker.managers import ClientChannelInfo, SubscriptionGroupConfig
from broker.managers import topic_validator as tv
from broker.schedule import SCHEDULE_TOPIC
from broker.store.stats import java_double
from rocketmq_py.exceptions import ConfigError, RemoteProtocolError
from rocketmq_py.protocol.bodies import (
    DataVersion,
    KVTable,
    MessageQueue,
    TopicConfig,
    TopicList,
)
from rocketmq_py.protocol.bodies.admin import (
    Connection,
    ConsumerConnection,
    ConsumeStats,
    GroupList,
    OffsetWrapper,
    ProducerConnection,
    TopicOffset,
    TopicStatsTable,
)
from rocketmq_py.protocol.codes import LanguageCode, MQVersion, RequestCode, ResponseCode
from rocketmq_py.protocol.command import RemotingCommand
from rocketmq_py.protocol.headers.admin import (
    CreateTopicRequestHeader,
    DeleteSubscriptionGroupRequestHeader,
    DeleteTopicRequestHeader,
    GetBrokerConfigResponseHeader,
    GetConsumerConnectionListRequestHeader,
    GetConsumeStatsRequestHeader,
    GetProducerConnectionListRequestHeader,
    GetTopicStatsInfoRequestHeader,
    QueryTopicConsumeByWhoRequestHeader,
)

if TYPE_CHECKING:
    from broker.controller import BrokerController

__all__ = ["CONFIG_BLACK_LIST", "AdminProcessor", "human_readable_bytes"]

log = logging.getLogger("broker.admin")

#: Keys UPDATE_BROKER_CONFIG refuses (Java: the fixed three plus ``configBlackList``'s default).
CONFIG_BLACK_LIST: Final = frozenset({"brokerConfigPath", "rocketmqHome", "configBlackList"})

_SLAVE_REMARK: Final = (
    "Can't modify topic or subscription group from slave broker, "
    "please execute it from master broker."
)
# What a Java broker leaves in the remark of a successful UPDATE_AND_CREATE_TOPIC: it builds
# the response with createResponseCommand(null) and only sets the code (see the capture).
_TOPIC_CREATED_REMARK: Final = "not set any response code"

# Thread pool capacities a Java broker reports (BrokerConfig defaults). Python has no such
# queues; the sizes and wait times are always 0.
_POOL_CAPACITIES: Final = {
    "sendThreadPoolQueueCapacity": "10000",
    "pullThreadPoolQueueCapacity": "100000",
    "queryThreadPoolQueueCapacity": "20000",
    "EndTransactionThreadPoolQueueCapacity": "100000",
}
_POOL_ZEROES: Final = (
    "sendThreadPoolQueueSize",
    "pullThreadPoolQueueSize",
    "queryThreadPoolQueueSize",
    "EndTransactionQueueSize",
    "sendThreadPoolQueueHeadWaitTimeMills",
    "pullThreadPoolQueueHeadWaitTimeMills",
    "queryThreadPoolQueueHeadWaitTimeMills",
    "pageCacheLockTimeMills",
    "dispatchBehindBytes",
    "dispatchMaxBuffer",
    "startAcceptSendRequestTimeStamp",
)
# 5.x timer wheel figures read by 5.x mqadmin clusterList; the timer is not implemented here.
_TIMER_ZEROES: Final = {
    "timerReadBehind": "0",
    "timerOffsetBehind": "0",
    "timerCongestNum": "0",
    "timerEnqueueTps": "0.0",
    "timerDequeueTps": "0.0",
}
_INT_MAX: Final = 2**31 - 1
_TOPIC_FILTER_TYPES: Final = frozenset({"SINGLE_TAG", "MULTI_TAG"})
_TPS_KEYS: Final = ("putTps", "getFoundTps", "getMissTps", "getTotalTps", "getTransferedTps")


def human_readable_bytes(size: int) -> str:
    """Java's ``MixAll.humanReadableByteCount(bytes, false)``: ``"0 B"``, ``"79.2 GiB"``."""
    if size < 1024:
        return f"{size} B"
    exp = 0
    value = float(size)
    while value >= 1024 and exp < 6:
        value /= 1024
        exp += 1
    return f"{value:.1f} {'KMGTPE'[exp - 1]}iB"


def _fill_tps(text: str) -> str:
    """Three rates (10 s, 60 s, 600 s windows), none empty.

    Java leaves a window empty until the broker has run that long (``"0.5  "``), and mqadmin
    then fails to parse it; a young broker reports its longest available window instead.
    """
    parts = [*text.split(" "), "", "", ""][:3]
    for i, part in enumerate(parts):
        if not part:
            parts[i] = parts[i - 1] if i > 0 else "0.0"
    return " ".join(parts)


def _disk_used_ratio(path: Path) -> float:
    """Java's ``UtilAll.getDiskPartitionSpaceUsedPercent``: used share rounded up to 0.01, -1 if
    the path does not exist."""
    try:
        usage = shutil.disk_usage(path)
    except OSError:
        return -1.0
    # Java: used = total - free blocks, entire = used + blocks usable by us (f_bavail).
    entire = usage.used + usage.free
    if entire <= 0:
        return -1.0
    percent = -(-usage.used * 100 // entire)  # ceiling, as Java rounds any remainder up
    return percent / 100.0


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


class _DailyTotals:
    """Message counts at the start of today and yesterday (Java's ``BrokerStats``).

    Java records the store's totals at midnight with a scheduled task; here the first query of a
    new day records them, so a broker nobody asks at midnight reports the count of that moment.
    """

    __slots__ = ("_day", "today_morning", "yesterday_morning")

    def __init__(self) -> None:
        self._day: int | None = None
        self.today_morning = 0
        self.yesterday_morning = 0

    def roll(self, now_ms: int, total: int) -> None:
        """Start a new day if ``now_ms`` falls on a later local date than the last call."""
        day = datetime.datetime.fromtimestamp(now_ms / 1000).date().toordinal()
        if self._day is None:
            self._day = day  # the boot day: the counters started at 0, as Java's do
            return
        if day > self._day:
            self.yesterday_morning = self.today_morning if day == self._day + 1 else total
            self.today_morning = total
            self._day = day


class AdminProcessor:
    """Handlers of the admin request codes.

    Args:
        controller: the broker; its settings, store and managers are read on every request.
    """

    def __init__(self, controller: BrokerController) -> None:
        self.c = controller
        #: Version of the broker config: GET_BROKER_CONFIG's header, bumped by each update.
        self.config_data_version = DataVersion(counter=0, timestamp=controller.clock())
        self._puts = _DailyTotals()
        self._gets = _DailyTotals()

    def install(self, dispatcher: Dispatcher) -> None:
        """Register every admin handler."""
        rc = RequestCode
        for code, handler in (
            (rc.UPDATE_AND_CREATE_TOPIC, self.update_and_create_topic),
            (rc.DELETE_TOPIC_IN_BROKER, self.delete_topic),
            (rc.GET_ALL_TOPIC_CONFIG, self.get_all_topic_config),
            (rc.UPDATE_BROKER_CONFIG, self.update_broker_config),
            (rc.GET_BROKER_CONFIG, self.get_broker_config),
            (rc.GET_BROKER_RUNTIME_INFO, self.get_broker_runtime_info),
            (rc.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, self.update_and_create_subscription_group),
            (rc.GET_ALL_SUBSCRIPTIONGROUP_CONFIG, self.get_all_subscription_group),
            (rc.DELETE_SUBSCRIPTIONGROUP, self.delete_subscription_group),
            (rc.GET_TOPIC_STATS_INFO, self.get_topic_stats_info),
            (rc.GET_CONSUMER_CONNECTION_LIST, self.get_consumer_connection_list),
            (rc.GET_PRODUCER_CONNECTION_LIST, self.get_producer_connection_list),
            (rc.GET_CONSUME_STATS, self.get_consume_stats),
            (rc.QUERY_TOPIC_CONSUME_BY_WHO, self.query_topic_consume_by_who),
            (rc.GET_SYSTEM_TOPIC_LIST_FROM_BROKER, self.get_system_topic_list),
        ):
            dispatcher.register(code, handler)

    # -- helpers ----------------------------------------------------------------------------

    def _slave_refusal(self, request: RemotingCommand) -> RemotingCommand | None:
        """SYSTEM_ERROR for a change sent to a slave, else ``None``."""
        if str(self.c.settings["brokerRole"]) == "SLAVE":
            return request.make_response(ResponseCode.SYSTEM_ERROR, _SLAVE_REMARK)
        return None

    def _queue(self, topic: str, queue_id: int) -> MessageQueue:
        return MessageQueue(topic=topic, broker_name=self.c.broker_name, queue_id=queue_id)

    @staticmethod
    def _connection(channel: Channel | None, info: ClientChannelInfo) -> Connection:
        return Connection(
            client_id=info.client_id,
            client_addr=channel.remote_address if channel is not None else "",
            language=LanguageCode.parse(info.language),
            version=info.version,
        )

    def system_topics(self) -> set[str]:
        """Java's system topic set as this broker has it: the fixed names, plus the cluster,
        broker, reply and ``rmq_sys_`` topics it created at start."""
        topics = set(tv.SYSTEM_TOPICS)
        topics.update(t for t in self.c.topics.topic_names() if self.c.topics.is_system_topic(t))
        return topics

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
        problem = tv.validate_topic(h.topic)
        if problem is not None:
            return request.make_response(ResponseCode.SYSTEM_ERROR, problem)
        if self.c.topics.is_system_topic(h.topic):
            return request.make_response(
                ResponseCode.SYSTEM_ERROR, tv.system_topic_conflict_remark(h.topic)
            )
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
        problem = tv.validate_topic(h.topic)
        if problem is not None:
            return request.make_response(ResponseCode.SYSTEM_ERROR, problem)
        if self.c.topics.is_system_topic(h.topic):
            return request.make_response(
                ResponseCode.SYSTEM_ERROR, tv.system_topic_conflict_remark(h.topic)
            )
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

    def get_topic_stats_info(self, channel: Channel, request: RemotingCommand) -> RemotingCommand:
        """GET_TOPIC_STATS_INFO (202): min/max offset and last store time of every write queue."""
        h = request.read_header(GetTopicStatsInfoRequestHeader)
        config = self.c.topics.select(h.topic)
        if config is None:
            return request.make_response(
                ResponseCode.TOPIC_NOT_EXIST, f"topic[{h.topic}] not exist"
            )
        store = self.c.store
        table = TopicStatsTable()
        for queue_id in range(config.write_queue_nums):
            min_offset = max(store.get_min_offset_in_queue(h.topic, queue_id), 0)
            max_offset = max(store.get_max_offset_in_queue(h.topic, queue_id), 0)
            timestamp = 0
            if max_offset > 0:
                timestamp = store.get_message_store_timestamp(h.topic, queue_id, max_offset - 1)
            table.offset_table[self._queue(h.topic, queue_id)] = TopicOffset(
                min_offset=min_offset,
                max_offset=max_offset,
                last_update_timestamp=max(timestamp, 0),
            )
        return request.make_response(body=table.to_json())

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

    # -- consumers and producers ------------------------------------------------------------

    def get_consumer_connection_list(
        self, channel: Channel, request: RemotingCommand
    ) -> RemotingCommand:
        """GET_CONSUMER_CONNECTION_LIST (203): ConsumerConnection, or CONSUMER_NOT_ONLINE."""
        h = request.read_header(GetConsumerConnectionListRequestHeader)
        info = self.c.consumers.group_info(h.consumer_group)
        if info is None:
            return request.make_response(
                ResponseCode.CONSUMER_NOT_ONLINE,
                f"the consumer group[{h.consumer_group}] not online",
            )
        body = ConsumerConnection(
            connection_set=[self._connection(ch, ci) for ch, ci in info.channels.items()],
            subscription_table=dict(info.subscriptions),
            consume_type=info.consume_type,
            message_model=info.message_model,
            consume_from_where=info.consume_from_where,
        )
        return request.make_response(body=body.to_json())

    def get_producer_connection_list(
        self, channel: Channel, request: RemotingCommand
    ) -> RemotingCommand:
        """GET_PRODUCER_CONNECTION_LIST (204): ProducerConnection, or SYSTEM_ERROR."""
        h = request.read_header(GetProducerConnectionListRequestHeader)
        channels = self.c.producers.group_channels(h.producer_group)
        if not channels:
            return request.make_response(
                ResponseCode.SYSTEM_ERROR, f"the producer group[{h.producer_group}] not exist"
            )
        body = ProducerConnection(
            connection_set=[self._connection(ch, ci) for ch, ci in channels.items()]
        )
        return request.make_response(body=body.to_json())

    def query_topic_consume_by_who(
        self, channel: Channel, request: RemotingCommand
    ) -> RemotingCommand:
        """QUERY_TOPIC_CONSUME_BY_WHO (300): online subscribers plus groups with offsets."""
        h = request.read_header(QueryTopicConsumeByWhoRequestHeader)
        groups = set(self.c.consumers.query_topic_consume_by_who(h.topic))
        groups |= self.c.offsets.which_groups_consume_topic(h.topic)
        return request.make_response(body=GroupList(group_list=sorted(groups)).to_json())

    def _consume_stats_topics(self, h: GetConsumeStatsRequestHeader) -> list[str]:
        if h.topic_list:
            # 5.x: an explicit list is reported without the subscription check.
            return [t for t in h.topic_list.split(";") if t]
        info = self.c.consumers.group_info(h.consumer_group)
        if h.topic:
            topics = {h.topic}
        else:
            topics = self.c.offsets.which_topics_by_consumer(h.consumer_group)
            if info is not None:
                topics |= info.subscribe_topics()
        if info is not None and info.subscriptions:
            # Java skips topics the online group no longer subscribes.
            topics = {t for t in topics if t in info.subscriptions}
        return sorted(topics)

    def get_consume_stats(self, channel: Channel, request: RemotingCommand) -> RemotingCommand:
        """GET_CONSUME_STATS (208): broker and consumer offset of every queue the group reads."""
        h = request.read_header(GetConsumeStatsRequestHeader)
        store = self.c.store
        stats = ConsumeStats()
        for topic in self._consume_stats_topics(h):
            config = self.c.topics.select(topic)
            if config is None:
                log.warning("consumeStats, topic config not exist, %s", topic)
                continue
            for queue_id in range(config.read_queue_nums):
                broker_offset = max(store.get_max_offset_in_queue(topic, queue_id), 0)
                consumer_offset = max(
                    self.c.offsets.query_offset(h.consumer_group, topic, queue_id), 0
                )
                last = 0
                if consumer_offset > 0:
                    last = max(
                        store.get_message_store_timestamp(topic, queue_id, consumer_offset - 1), 0
                    )
                stats.offset_table[self._queue(topic, queue_id)] = OffsetWrapper(
                    broker_offset=broker_offset,
                    consumer_offset=consumer_offset,
                    last_timestamp=last,
                )
        return request.make_response(body=stats.to_json())

    # -- broker config ----------------------------------------------------------------------

    def get_broker_config(self, channel: Channel, request: RemotingCommand) -> RemotingCommand:
        """GET_BROKER_CONFIG (26): ``key=value`` lines; header ``version`` = DataVersion JSON."""
        body = (self.c.settings.dump() + "\n").encode()
        header = GetBrokerConfigResponseHeader(version=self.config_data_version.to_json().decode())
        return request.make_response(header=header, body=body)

    def update_broker_config(self, channel: Channel, request: RemotingCommand) -> RemotingCommand:
        """UPDATE_BROKER_CONFIG (25): body ``key=value`` lines, applied in memory.

        Unknown keys are ignored, as Java does; black-listed keys answer NO_PERMISSION; a value
        that does not parse answers SYSTEM_ERROR naming the key and value, and nothing is applied.
        """
        log.info("updateBrokerConfig called by %s", channel.remote_address)
        if not request.body:
            return request.make_response()
        properties = parse_properties(request.body.decode("utf-8", "replace"))
        if CONFIG_BLACK_LIST.intersection(properties):
            return request.make_response(
                ResponseCode.NO_PERMISSION, "Can not update config in black list."
            )
        settings = self.c.settings
        changes: dict[str, object] = {}
        for key, raw in properties.items():
            setting = settings.declared.get(key)
            if setting is None:
                log.info("updateBrokerConfig ignores unknown key %s", key)
                continue
            try:
                changes[key] = setting.parse(raw)
            except ConfigError as exc:
                return request.make_response(
                    ResponseCode.SYSTEM_ERROR, f"update broker config failed: {exc}"
                )
        for key, value in changes.items():
            settings[key] = value
        log.info("updateBrokerConfig, new config: %s client: %s", changes, channel.remote_address)
        self._apply_live(changes)
        self.config_data_version = DataVersion(
            counter=self.config_data_version.counter + 1, timestamp=self.c.clock()
        )
        return request.make_response()

    def _apply_live(self, changes: dict[str, object]) -> None:
        """Pass changed settings to the parts that cache them."""
        c = self.c
        if "autoCreateTopicEnable" in changes:
            c.topics.auto_create_topic_enable = bool(changes["autoCreateTopicEnable"])
        if "autoCreateSubscriptionGroup" in changes:
            c.groups.auto_create_subscription_group = bool(changes["autoCreateSubscriptionGroup"])
        if "brokerPermission" in changes:
            # Java bumps the topic data version so that the name servers take the new
            # permission, and registers at once.
            version = c.topics.data_version
            c.topics.data_version = dataclasses.replace(
                version, counter=version.counter + 1, timestamp=c.clock()
            )
            c.request_register()

    # -- runtime info -----------------------------------------------------------------------

    def get_broker_runtime_info(
        self, channel: Channel, request: RemotingCommand
    ) -> RemotingCommand:
        """GET_BROKER_RUNTIME_INFO (28): KVTable of statistics (clusterList, brokerStatus)."""
        return request.make_response(body=KVTable(table=self.runtime_info()).to_json())

    def runtime_info(self) -> dict[str, str]:
        """The runtime statistics table; every value is a string, formatted as Java formats it."""
        c = self.c
        store = c.store
        now = c.clock()
        stats = store.stats()
        info: dict[str, str] = {}
        info.update(stats.runtime_info(now))
        for key in _TPS_KEYS:
            info[key] = _fill_tps(info.get(key, ""))
        # 5.x renamed Java's misspelt key; its mqadmin reads the new one.
        info["getTransferredTps"] = info["getTransferedTps"]

        root = Path(c.store_root)
        commit_log_dir = Path(store.config.commit_log_dir)
        commit_ratio = _disk_used_ratio(commit_log_dir)
        info[f"commitLogDiskRatio_{commit_log_dir}"] = java_double(commit_ratio)
        info["commitLogDiskRatio"] = java_double(commit_ratio)
        info["consumeQueueDiskRatio"] = java_double(
            _disk_used_ratio(Path(store.config.consume_queue_dir))
        )
        info["commitLogMinOffset"] = str(store.min_phy_offset)
        info["commitLogMaxOffset"] = str(store.max_phy_offset)
        for level, offset in sorted(c.schedule.offsets.items()):
            max_offset = store.get_max_offset_in_queue(SCHEDULE_TOPIC, level - 1)
            info[f"scheduleMessageOffset_{level}"] = f"{offset},{max_offset}"
        info.update(c.transaction_check.runtime_info())

        info["brokerVersionDesc"] = MQVersion.CURRENT_DESC
        info["brokerVersion"] = str(MQVersion.CURRENT)
        info["brokerActive"] = "true"

        put_total = stats.put_message_times_total
        get_total = stats.get_message_transferred_msg_count
        self._puts.roll(now, put_total)
        self._gets.roll(now, get_total)
        info["msgPutTotalYesterdayMorning"] = str(self._puts.yesterday_morning)
        info["msgPutTotalTodayMorning"] = str(self._puts.today_morning)
        info["msgPutTotalTodayNow"] = str(put_total)
        info["msgGetTotalYesterdayMorning"] = str(self._gets.yesterday_morning)
        info["msgGetTotalTodayMorning"] = str(self._gets.today_morning)
        info["msgGetTotalTodayNow"] = str(get_total)

        info.update(_POOL_CAPACITIES)
        info.update(dict.fromkeys(_POOL_ZEROES, "0"))
        info.update(_TIMER_ZEROES)
        info.update(c.timer.runtime_info())
        info["earliestMessageTimeStamp"] = str(store.get_earliest_message_time())
        info["remainTransientStoreBufferNumbs"] = str(_INT_MAX)
        info["remainHowManyDataToFlush"] = human_readable_bytes(
            store.remain_how_many_data_to_flush()
        )
        try:
            usage = shutil.disk_usage(root)
        except OSError:
            pass
        else:
            info["commitLogDirCapacity"] = (
                f"Total : {human_readable_bytes(usage.total)}, "
                f"Free : {human_readable_bytes(usage.free)}."
            )
        return info
