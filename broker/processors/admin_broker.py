"""Admin requests on the broker itself (part of Apache's ``AdminBrokerProcessor``).

UPDATE_BROKER_CONFIG (25) and GET_BROKER_CONFIG (26) change and read the broker's settings in
memory; GET_BROKER_RUNTIME_INFO (28) answers the statistics table of mqadmin's clusterList and
brokerStatus, every value a string formatted as Java formats it.
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
from broker.schedule import SCHEDULE_TOPIC
from broker.store.stats import java_double
from rocketmq_py.exceptions import ConfigError
from rocketmq_py.protocol.bodies import DataVersion, KVTable
from rocketmq_py.protocol.codes import MQVersion, RequestCode, ResponseCode
from rocketmq_py.protocol.command import RemotingCommand
from rocketmq_py.protocol.headers.admin import GetBrokerConfigResponseHeader

if TYPE_CHECKING:
    from broker.controller import BrokerController

__all__ = ["CONFIG_BLACK_LIST", "BrokerAdminProcessor", "human_readable_bytes"]

log = logging.getLogger("broker.admin")

#: Keys UPDATE_BROKER_CONFIG refuses (Java: the fixed three plus ``configBlackList``'s default).
CONFIG_BLACK_LIST: Final = frozenset({"brokerConfigPath", "rocketmqHome", "configBlackList"})

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
# 5.x timer figures read by 5.x mqadmin clusterList: defaults, overwritten by what the timer
# service reports (it keeps no congestion count, so timerCongestNum stays 0).
_TIMER_ZEROES: Final = {
    "timerReadBehind": "0",
    "timerOffsetBehind": "0",
    "timerCongestNum": "0",
    "timerEnqueueTps": "0.0",
    "timerDequeueTps": "0.0",
}
_INT_MAX: Final = 2**31 - 1
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


class BrokerAdminProcessor:
    """Handlers of the broker config and runtime info admin request codes.

    Args:
        controller: the broker; its settings, store and services are read on every request.
    """

    def __init__(self, controller: BrokerController) -> None:
        self.c = controller
        #: Version of the broker config: GET_BROKER_CONFIG's header, bumped by each update.
        self.config_data_version = DataVersion(counter=0, timestamp=controller.clock())
        self._puts = _DailyTotals()
        self._gets = _DailyTotals()

    def install(self, dispatcher: Dispatcher) -> None:
        """Register the broker config and runtime info handlers."""
        rc = RequestCode
        for code, handler in (
            (rc.UPDATE_BROKER_CONFIG, self.update_broker_config),
            (rc.GET_BROKER_CONFIG, self.get_broker_config),
            (rc.GET_BROKER_RUNTIME_INFO, self.get_broker_runtime_info),
        ):
            dispatcher.register(code, handler)

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
