"""The broker's topic table, persisted as ``topics.json`` (Java's ``TopicConfigManager``).

Rules (``protocol.md`` 3.10, 6.9, 10):

1. At start the broker holds its system topics (:meth:`TopicConfigManager.system_topic_configs`);
   :meth:`~TopicConfigManager.load` then lays the file over them, so a topic saved in the file
   wins, and the file's data version is taken.
2. Every change bumps :attr:`~TopicConfigManager.data_version` (counter + 1, timestamp = now),
   writes the file and calls :attr:`~TopicConfigManager.on_change`, on which the broker
   registers with the name servers again.
3. A send to an unknown topic creates it from the template topic the producer names (``TBW102``)
   when the template has the INHERIT permission: ``min(client queue count, template write queues)``
   read and write queues, the template's permission minus INHERIT, its filter type. Without
   ``autoCreateTopicEnable`` a ``TBW102`` left in the file is downgraded to read/write so that it
   stops serving as a template, as Java does.

The file is ``{"dataVersion":{...},"topicConfigTable":{"T":{TopicConfig}}}``, compact, so a
``topics.json`` from an Apache broker loads unchanged and the reverse also holds.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import types
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from broker.managers import topic_validator as tv
from broker.managers._config_file import ConfigFile
from rocketmq_py.protocol.bodies import DataVersion, TopicConfig, TopicConfigSerializeWrapper
from rocketmq_py.protocol.message import PermName

__all__ = ["SCHEDULE_TOPIC_QUEUE_NUM", "TOPICS_FILE", "TopicConfigManager", "wall_clock_ms"]

log = logging.getLogger("broker")

#: File name under the broker's config directory.
TOPICS_FILE = "topics.json"
#: Queues of ``SCHEDULE_TOPIC_XXXX``: one per delay level.
SCHEDULE_TOPIC_QUEUE_NUM = 18
_PERM_RW = PermName.PERM_READ | PermName.PERM_WRITE
_PERM_RWX = _PERM_RW | PermName.PERM_INHERIT


def wall_clock_ms() -> int:
    """Milliseconds since the epoch (the default clock of the managers)."""
    return time.time_ns() // 1_000_000


class TopicConfigManager:
    """Topic configurations of one broker, with their data version and file.

    Not thread-safe: use it from the broker's event loop.

    Attributes:
        path: ``<config_dir>/topics.json``.
        data_version: bumped on every change; registered with the name servers.
        dirty: the table differs from the file (true until a file is loaded or written).
        on_change: called after every change (the broker re-registers); errors are logged.
    """

    def __init__(
        self,
        config_dir: Path,
        *,
        cluster_name: str,
        broker_name: str,
        auto_create_topic_enable: bool = True,
        default_topic_queue_nums: int = 8,
        cluster_topic_enable: bool = True,
        broker_topic_enable: bool = True,
        trace_topic_name: str | None = None,
        timer_wheel_enable: bool = True,
        clock_ms: Callable[[], int] = wall_clock_ms,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        """Create the table holding the system topics; call :meth:`load` to add the file's.

        Args:
            config_dir: the broker's config directory (``<storePathRootDir>/config``).
            cluster_name: ``brokerClusterName``; becomes a topic, as does ``<cluster>_REPLY_TOPIC``.
            broker_name: ``brokerName``; becomes a topic.
            auto_create_topic_enable: create ``TBW102`` (perm 7) so that sends may create topics.
            default_topic_queue_nums: queues of ``TBW102`` (``defaultTopicQueueNums``).
            cluster_topic_enable: the cluster topic is readable and writable (else INHERIT only).
            broker_topic_enable: the broker topic is readable and writable (else INHERIT only).
            trace_topic_name: ``msgTraceTopicName`` when ``traceTopicEnable``; created with 1 queue.
            timer_wheel_enable: create ``rmq_sys_wheel_timer`` (5.x timer messages).
            clock_ms: milliseconds since the epoch, for data version timestamps.
            on_change: see :attr:`on_change`.
        """
        self.path = Path(config_dir) / TOPICS_FILE
        self.cluster_name = cluster_name
        self.broker_name = broker_name
        self.auto_create_topic_enable = auto_create_topic_enable
        self.on_change = on_change
        self._clock = clock_ms
        self._file = ConfigFile(self.path)
        self._table: dict[str, TopicConfig] = {}
        self.dirty = True
        self.data_version = DataVersion(counter=0, timestamp=clock_ms())
        self._system_topics: set[str] = set(tv.SYSTEM_TOPICS)
        for config in self.system_topic_configs(
            cluster_name=cluster_name,
            broker_name=broker_name,
            auto_create_topic_enable=auto_create_topic_enable,
            default_topic_queue_nums=default_topic_queue_nums,
            cluster_topic_enable=cluster_topic_enable,
            broker_topic_enable=broker_topic_enable,
            trace_topic_name=trace_topic_name,
            timer_wheel_enable=timer_wheel_enable,
        ):
            self._system_topics.add(config.topic_name)
            self._table[config.topic_name] = config

    @staticmethod
    def system_topic_configs(
        *,
        cluster_name: str,
        broker_name: str,
        auto_create_topic_enable: bool = True,
        default_topic_queue_nums: int = 8,
        cluster_topic_enable: bool = True,
        broker_topic_enable: bool = True,
        trace_topic_name: str | None = None,
        timer_wheel_enable: bool = True,
    ) -> list[TopicConfig]:
        """The topics a broker creates at start, in Java's order (``TopicConfigManager.init``).

        Pop revive and broker-member-sync topics are left out: nothing here uses them.
        """

        def queues(name: str, nums: int, perm: int = 6) -> TopicConfig:
            return TopicConfig(name, read_queue_nums=nums, write_queue_nums=nums, perm=perm)

        def switched(enabled: bool) -> int:
            return _PERM_RWX if enabled else PermName.PERM_INHERIT

        configs = [queues(tv.RMQ_SYS_SELF_TEST_TOPIC, 1)]
        if auto_create_topic_enable:
            configs.append(
                queues(tv.AUTO_CREATE_TOPIC_KEY_TOPIC, default_topic_queue_nums, _PERM_RWX)
            )
        configs += [
            queues(tv.RMQ_SYS_BENCHMARK_TOPIC, 1024),
            # TopicConfig's own default of 16 queues, as in Java.
            TopicConfig(cluster_name, perm=switched(cluster_topic_enable)),
            queues(broker_name, 1, switched(broker_topic_enable)),
            queues(tv.RMQ_SYS_OFFSET_MOVED_EVENT, 1),
            queues(tv.RMQ_SYS_SCHEDULE_TOPIC, SCHEDULE_TOPIC_QUEUE_NUM),
        ]
        if trace_topic_name:
            configs.append(queues(trace_topic_name, 1))
        configs += [
            queues(tv.reply_topic(cluster_name), 1),
            queues(tv.RMQ_SYS_TRANS_HALF_TOPIC, 1),
            queues(tv.RMQ_SYS_TRANS_OP_HALF_TOPIC, 1),
        ]
        if timer_wheel_enable:
            configs.append(queues(tv.TIMER_TOPIC, 1))
        return configs

    # -- persistence ------------------------------------------------------------------------

    def load(self) -> bool:
        """Lay the topics of ``topics.json`` (or its ``.bak``) over the system topics.

        Returns:
            Whether a file was loaded; a missing or unusable file leaves the system topics only.
        """
        wrapper = self._file.load(TopicConfigSerializeWrapper.from_json)
        if wrapper is None:
            return False
        self._table.update(wrapper.topic_config_table)
        self.data_version = dataclasses.replace(wrapper.data_version)
        self.dirty = False
        log.info("loaded %d topics from %s", len(wrapper.topic_config_table), self.path)
        return True

    def encode(self) -> bytes:
        """The content of ``topics.json``."""
        wrapper = TopicConfigSerializeWrapper(
            data_version=self.data_version, topic_config_table=self._table
        )
        return wrapper.to_json()

    def persist(self, *, force: bool = False) -> bool:
        """Write ``topics.json`` atomically if it is out of date (or ``force``).

        Changes write the file at once, so the broker's periodic and shutdown calls are cheap.
        The previous content goes to ``topics.json.bak``.

        Returns:
            Whether the file was written.
        """
        if not (self.dirty or force):
            return False
        self._file.write(self.encode())
        self.dirty = False
        return True

    # -- queries ----------------------------------------------------------------------------

    def select(self, topic: str) -> TopicConfig | None:
        """The topic's configuration, or ``None``.

        The stored object is returned: change it through :meth:`update_topic_config` only.
        """
        return self._table.get(topic)

    def __contains__(self, topic: object) -> bool:
        return topic in self._table

    def __len__(self) -> int:
        return len(self._table)

    @property
    def table(self) -> Mapping[str, TopicConfig]:
        """A read-only live view of the topic table."""
        return types.MappingProxyType(self._table)

    def topic_names(self) -> list[str]:
        """Every topic of the broker."""
        return list(self._table)

    def is_order_topic(self, topic: str) -> bool:
        """Whether the topic exists and is ordered."""
        config = self._table.get(topic)
        return config is not None and config.order

    def is_system_topic(self, topic: str) -> bool:
        """Whether ``topic`` is a system topic, including this broker's cluster/broker topics."""
        return topic in self._system_topics or topic.startswith(tv.SYSTEM_TOPIC_PREFIX)

    def is_not_allowed_send_topic(self, topic: str) -> bool:
        """Whether producers may not send to ``topic``.

        See :func:`broker.managers.topic_validator.is_not_allowed_send_topic`.
        """
        return tv.is_not_allowed_send_topic(topic)

    def build_serialize_wrapper(self) -> TopicConfigSerializeWrapper:
        """A snapshot of the table and its version, for REGISTER_BROKER and GET_ALL_TOPIC_CONFIG."""
        return TopicConfigSerializeWrapper(
            data_version=dataclasses.replace(self.data_version),
            topic_config_table={
                name: dataclasses.replace(config) for name, config in self._table.items()
            },
        )

    # -- changes ----------------------------------------------------------------------------

    def create_topic_in_send_message_method(
        self,
        topic: str,
        default_topic: str,
        remote_address: str,
        client_default_topic_queue_nums: int,
        topic_sys_flag: int,
    ) -> TopicConfig | None:
        """The topic a producer sends to, created from the template ``default_topic`` if needed.

        Returns:
            The existing or new configuration; ``None`` when the template is missing or lacks
            the INHERIT permission (answer TOPIC_NOT_EXIST).
        """
        existing = self._table.get(topic)
        if existing is not None:
            return existing
        template = self._table.get(default_topic)
        if template is None:
            log.warning(
                "Create new topic failed, because the default topic[%s] not exist. producer:[%s]",
                default_topic,
                remote_address,
            )
            return None
        if default_topic == tv.AUTO_CREATE_TOPIC_KEY_TOPIC and not self.auto_create_topic_enable:
            template.perm = _PERM_RW
        if not PermName.is_inherited(template.perm):
            log.warning(
                "Create new topic failed, because the default topic[%s] has no perm [%d] "
                "producer:[%s]",
                default_topic,
                template.perm,
                remote_address,
            )
            return None
        queue_nums = max(0, min(client_default_topic_queue_nums, template.write_queue_nums))
        config = TopicConfig(
            topic,
            read_queue_nums=queue_nums,
            write_queue_nums=queue_nums,
            perm=template.perm & ~PermName.PERM_INHERIT,
            topic_filter_type=template.topic_filter_type,
            topic_sys_flag=topic_sys_flag,
        )
        log.info(
            "Create new topic by default topic:[%s] config:[%s] producer:[%s]",
            default_topic,
            config,
            remote_address,
        )
        self._put(config)
        return config

    def create_topic_in_send_back(
        self,
        topic: str,
        queue_nums: int,
        perm: int,
        topic_sys_flag: int,
        *,
        order: bool | None = None,
    ) -> TopicConfig:
        """The ``%RETRY%``/``%DLQ%`` topic, created with these settings if missing.

        Args:
            topic: the retry or DLQ topic.
            queue_nums: read and write queues of a new topic (the group's ``retryQueueNums``).
            perm: permission of a new topic.
            topic_sys_flag: TopicSysFlag of a new topic.
            order: when given, an existing topic's ``order`` flag is set to it.
        """
        existing = self._table.get(topic)
        if existing is not None:
            if order is not None and existing.order != order:
                self._put(dataclasses.replace(existing, order=order))
                return self._table[topic]
            return existing
        config = TopicConfig(
            topic,
            read_queue_nums=queue_nums,
            write_queue_nums=queue_nums,
            perm=perm,
            topic_sys_flag=topic_sys_flag,
            order=bool(order),
        )
        log.info("create new topic %s", config)
        self._put(config)
        return config

    def create_topic_of_tran_check_max_time(self, queue_nums: int, perm: int) -> TopicConfig:
        """``TRANS_CHECK_MAX_TIME_TOPIC``, created if missing (half messages checked too often)."""
        return self.create_topic_if_absent(
            TopicConfig(
                tv.RMQ_SYS_TRANS_CHECK_MAX_TIME_TOPIC,
                read_queue_nums=queue_nums,
                write_queue_nums=queue_nums,
                perm=perm,
            )
        )

    def create_topic_if_absent(self, config: TopicConfig) -> TopicConfig:
        """The existing configuration of ``config.topic_name``, or ``config`` stored as new."""
        existing = self._table.get(config.topic_name)
        if existing is not None:
            return existing
        log.info("Create new topic [%s] config:[%s]", config.topic_name, config)
        self._put(config)
        return config

    def update_topic_config(self, config: TopicConfig) -> None:
        """Create or replace a topic (UPDATE_AND_CREATE_TOPIC)."""
        old = self._table.get(config.topic_name)
        if old is not None:
            log.info("update topic config, old:[%s] new:[%s]", old, config)
        else:
            log.info("create new topic [%s]", config)
        self._put(config)

    def update_order_topic_config(self, order_topics: Iterable[str]) -> None:
        """Mark existing topics ordered (the name server's ``ORDER_TOPIC_CONFIG`` namespace).

        As in Java, topics missing from ``order_topics`` keep their flag.
        """
        changed = False
        for topic in order_topics:
            config = self._table.get(topic)
            if config is not None and not config.order:
                config.order = True
                changed = True
                log.info("update order topic config, topic=%s, order=true", topic)
        if changed:
            self._changed()

    def delete_topic_config(self, topic: str) -> bool:
        """Remove a topic (DELETE_TOPIC_IN_BROKER); returns whether it existed."""
        old = self._table.pop(topic, None)
        if old is None:
            log.warning("delete topic config failed, topic: %s not exists", topic)
            return False
        log.info("delete topic config OK, topic: %s", old)
        self._changed()
        return True

    def _put(self, config: TopicConfig) -> None:
        self._table[config.topic_name] = config
        self._changed()

    def _changed(self) -> None:
        self.data_version = DataVersion(
            counter=self.data_version.counter + 1,
            timestamp=self._clock(),
            state_version=self.data_version.state_version,
        )
        self.dirty = True
        self.persist()
        if self.on_change is not None:
            try:
                self.on_change()
            except Exception:
                log.exception("topic config on_change hook failed")
