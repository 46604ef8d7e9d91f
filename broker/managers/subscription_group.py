"""Consumer group settings in ``subscriptionGroup.json`` (Java's ``SubscriptionGroupManager``).

The file is ``{"dataVersion":{..},"forbiddenTable":{},"subscriptionGroupTable":{"G":{..}}}``.
A group is created with default settings the first time it is looked up when
``autoCreateSubscriptionGroup`` is on (the default), and always for ``CID_RMQ_SYS_*`` groups;
names that are not valid group names are never auto-created. Every change bumps the data
version and writes the file.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from broker.managers._config_file import ConfigFile
from broker.managers.topic_config import wall_clock_ms
from broker.managers.topic_validator import is_topic_or_group_illegal
from rocketmq_py.protocol import fastjson
from rocketmq_py.protocol.bodies import DataVersion
from rocketmq_py.protocol.bodies._base import (
    Fields,
    JSONBody,
    as_bool,
    as_int,
    as_str,
    dict_of,
    sorted_object,
)

__all__ = [
    "CID_ONSAPI_OWNER_GROUP",
    "CID_ONSAPI_PERMISSION_GROUP",
    "CID_ONSAPI_PULL_GROUP",
    "CID_RMQ_SYS_PREFIX",
    "CID_SYS_RMQ_TRANS",
    "CLIENT_INNER_PRODUCER_GROUP",
    "FILTERSRV_CONSUMER_GROUP",
    "ONS_HTTP_PROXY_GROUP",
    "SCHEDULE_CONSUMER_GROUP",
    "SELF_TEST_CONSUMER_GROUP",
    "SUBSCRIPTION_GROUP_FILE",
    "TOOLS_CONSUMER_GROUP",
    "SubscriptionGroupConfig",
    "SubscriptionGroupManager",
    "is_sys_consumer_group",
]

log = logging.getLogger("broker")

#: File name under the broker's config directory.
SUBSCRIPTION_GROUP_FILE = "subscriptionGroup.json"

# Group names of Java's MixAll.
TOOLS_CONSUMER_GROUP: Final = "TOOLS_CONSUMER"
FILTERSRV_CONSUMER_GROUP: Final = "FILTERSRV_CONSUMER"
SELF_TEST_CONSUMER_GROUP: Final = "SELF_TEST_C_GROUP"
ONS_HTTP_PROXY_GROUP: Final = "CID_ONS-HTTP-PROXY"
CID_ONSAPI_PULL_GROUP: Final = "CID_ONSAPI_PULL"
CID_ONSAPI_PERMISSION_GROUP: Final = "CID_ONSAPI_PERMISSION"
CID_ONSAPI_OWNER_GROUP: Final = "CID_ONSAPI_OWNER"
CID_RMQ_SYS_PREFIX: Final = "CID_RMQ_SYS_"
CID_SYS_RMQ_TRANS: Final = "CID_RMQ_SYS_TRANS"
"""The internal group that reads the transaction half and op queues."""
SCHEDULE_CONSUMER_GROUP: Final = "SCHEDULE_CONSUMER"
CLIENT_INNER_PRODUCER_GROUP: Final = "CLIENT_INNER_PRODUCER"

# The longest group name a broker auto-creates (Java: Validators.CHARACTER_MAX_LENGTH).
_AUTO_CREATE_MAX_LENGTH = 255

_PREDEFINED_GROUPS: Final = (
    TOOLS_CONSUMER_GROUP,
    FILTERSRV_CONSUMER_GROUP,
    SELF_TEST_CONSUMER_GROUP,
    ONS_HTTP_PROXY_GROUP,
    CID_ONSAPI_PULL_GROUP,
    CID_ONSAPI_PERMISSION_GROUP,
    CID_ONSAPI_OWNER_GROUP,
    CID_SYS_RMQ_TRANS,
)

_KNOWN_FIELDS: Final = frozenset(
    {
        "groupName",
        "consumeEnable",
        "consumeFromMinEnable",
        "consumeBroadcastEnable",
        "consumeMessageOrderly",
        "retryQueueNums",
        "retryMaxTimes",
        "brokerId",
        "whichBrokerWhenConsumeSlowly",
        "notifyConsumerIdsChangedEnable",
        "groupSysFlag",
        "consumeTimeoutMinute",
    }
)


def is_sys_consumer_group(group: str) -> bool:
    """Whether ``group`` is an internal ``CID_RMQ_SYS_*`` group."""
    return group.startswith(CID_RMQ_SYS_PREFIX)


@dataclass(slots=True)
class SubscriptionGroupConfig(JSONBody):
    """One consumer group's settings (``SubscriptionGroupConfig``); defaults are Java's.

    Also the body of UPDATE_AND_CREATE_SUBSCRIPTIONGROUP.

    Attributes:
        group_name: the group.
        consume_enable: consumers may pull (else pulls get NO_PERMISSION).
        consume_from_min_enable: a new group may start from the minimum offset.
        consume_broadcast_enable: broadcasting consumers are allowed.
        consume_message_orderly: 5.x: the group consumes orderly (pop).
        retry_queue_nums: queues of the group's ``%RETRY%`` topic.
        retry_max_times: redeliveries before the DLQ.
        broker_id: the broker consumers read from (0 master).
        which_broker_when_consume_slowly: the broker to suggest when consumption lags.
        notify_consumer_ids_changed_enable: send NOTIFY_CONSUMER_IDS_CHANGED on membership changes.
        group_sys_flag: 5.x group flags.
        consume_timeout_minute: 5.x consume timeout.
        extra: other fields found in a loaded file (5.x ``attributes``, ``groupRetryPolicy`` ...),
            written back unchanged.
    """

    group_name: str
    consume_enable: bool = True
    consume_from_min_enable: bool = True
    consume_broadcast_enable: bool = True
    consume_message_orderly: bool = False
    retry_queue_nums: int = 1
    retry_max_times: int = 16
    broker_id: int = 0
    which_broker_when_consume_slowly: int = 1
    notify_consumer_ids_changed_enable: bool = True
    group_sys_flag: int = 0
    consume_timeout_minute: int = 15
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json_value(self) -> dict[str, Any]:
        """The JSON object, fields in name order."""
        known = {
            "brokerId": self.broker_id,
            "consumeBroadcastEnable": self.consume_broadcast_enable,
            "consumeEnable": self.consume_enable,
            "consumeFromMinEnable": self.consume_from_min_enable,
            "consumeMessageOrderly": self.consume_message_orderly,
            "consumeTimeoutMinute": self.consume_timeout_minute,
            "groupName": self.group_name,
            "groupSysFlag": self.group_sys_flag,
            "notifyConsumerIdsChangedEnable": self.notify_consumer_ids_changed_enable,
            "retryMaxTimes": self.retry_max_times,
            "retryQueueNums": self.retry_queue_nums,
            "whichBrokerWhenConsumeSlowly": self.which_broker_when_consume_slowly,
        }
        return sorted_object(**{**self.extra, **known})

    @classmethod
    def from_json_value(cls, value: object, where: str = "") -> SubscriptionGroupConfig:
        """Decode; fields left out take Java's defaults, unknown fields go to ``extra``."""
        f = Fields(value, where or cls.__name__)
        return cls(
            group_name=f.required("groupName", as_str),
            consume_enable=f.get("consumeEnable", as_bool, True),
            consume_from_min_enable=f.get("consumeFromMinEnable", as_bool, True),
            consume_broadcast_enable=f.get("consumeBroadcastEnable", as_bool, True),
            consume_message_orderly=f.get("consumeMessageOrderly", as_bool, False),
            retry_queue_nums=f.get("retryQueueNums", as_int, 1),
            retry_max_times=f.get("retryMaxTimes", as_int, 16),
            broker_id=f.get("brokerId", as_int, 0),
            which_broker_when_consume_slowly=f.get("whichBrokerWhenConsumeSlowly", as_int, 1),
            notify_consumer_ids_changed_enable=f.get(
                "notifyConsumerIdsChangedEnable", as_bool, True
            ),
            group_sys_flag=f.get("groupSysFlag", as_int, 0),
            consume_timeout_minute=f.get("consumeTimeoutMinute", as_int, 15),
            extra={
                str(k): v
                for k, v in f.obj.items()
                if k not in _KNOWN_FIELDS and isinstance(k, str) and v is not None
            },
        )


_group_table = dict_of(as_str, SubscriptionGroupConfig.from_json_value)
_forbidden_table = dict_of(as_str, dict_of(as_str, as_int))


@dataclass(slots=True)
class _FileContent:
    data_version: DataVersion | None
    forbidden_table: dict[str, dict[str, int]]
    groups: dict[str, SubscriptionGroupConfig]


def _decode(data: bytes) -> _FileContent:
    f = Fields(fastjson.loads(data), "SubscriptionGroupManager")
    return _FileContent(
        data_version=f.optional("dataVersion", DataVersion.from_json_value),
        forbidden_table=f.get("forbiddenTable", _forbidden_table, {}),
        groups=f.get("subscriptionGroupTable", _group_table, {}),
    )


class SubscriptionGroupManager:
    """The broker's consumer group settings, with their data version and file.

    Not thread-safe: use it from the broker's event loop.

    Attributes:
        path: ``<config_dir>/subscriptionGroup.json``.
        auto_create_subscription_group: create unknown groups on lookup.
        data_version: bumped on every change.
        dirty: the table differs from the file (true until a file is loaded or written).
        forbidden_table: 5.x per group and topic forbidden bits, kept as loaded.
    """

    def __init__(
        self,
        config_dir: Path,
        auto_create_subscription_group: bool = True,
        *,
        clock_ms: Callable[[], int] = wall_clock_ms,
    ) -> None:
        """Create the table holding Java's predefined groups; call :meth:`load` to read the file."""
        self.path = Path(config_dir) / SUBSCRIPTION_GROUP_FILE
        self.auto_create_subscription_group = auto_create_subscription_group
        self._clock = clock_ms
        self._file = ConfigFile(self.path)
        self.dirty = True
        self.data_version = DataVersion(counter=0, timestamp=clock_ms())
        self.forbidden_table: dict[str, dict[str, int]] = {}
        self._table: dict[str, SubscriptionGroupConfig] = {
            name: SubscriptionGroupConfig(name) for name in _PREDEFINED_GROUPS
        }

    # -- persistence ------------------------------------------------------------------------

    def load(self) -> bool:
        """Lay the groups of the file (or its ``.bak``) over the predefined ones.

        Returns:
            Whether a file was loaded.
        """
        content = self._file.load(_decode)
        if content is None:
            return False
        self._table.update(content.groups)
        self.forbidden_table = content.forbidden_table
        if content.data_version is not None:
            self.data_version = content.data_version
        self.dirty = False
        log.info("loaded %d subscription groups from %s", len(content.groups), self.path)
        return True

    def encode(self) -> bytes:
        """The file content (also the GET_ALL_SUBSCRIPTIONGROUP_CONFIG body)."""
        return fastjson.dumps(
            {
                "dataVersion": self.data_version.to_json_value(),
                "forbiddenTable": self.forbidden_table,
                "subscriptionGroupTable": {
                    name: config.to_json_value() for name, config in self._table.items()
                },
            }
        )

    def persist(self, *, force: bool = False) -> bool:
        """Write the file atomically if it is out of date (or ``force``).

        Changes write the file at once, so the broker's periodic and shutdown calls are cheap.
        The previous content goes to the ``.bak``.

        Returns:
            Whether the file was written.
        """
        if not (self.dirty or force):
            return False
        self._file.write(self.encode())
        self.dirty = False
        return True

    # -- lookups and changes ----------------------------------------------------------------

    def find_subscription_group_config(self, group: str) -> SubscriptionGroupConfig | None:
        """The group's settings; an unknown group is created with defaults when allowed.

        Returns:
            ``None`` for an unknown group that may not be auto-created (answer
            SUBSCRIPTION_GROUP_NOT_EXIST).
        """
        config = self._table.get(group)
        if config is not None:
            return config
        if not (self.auto_create_subscription_group or is_sys_consumer_group(group)):
            return None
        if not group or len(group) > _AUTO_CREATE_MAX_LENGTH or is_topic_or_group_illegal(group):
            return None
        config = SubscriptionGroupConfig(group)
        log.info("auto create a subscription group, %s", config)
        self._put(config)
        return config

    def get(self, group: str) -> SubscriptionGroupConfig | None:
        """The group's settings without auto-creating."""
        return self._table.get(group)

    def __contains__(self, group: object) -> bool:
        return group in self._table

    def update(self, config: SubscriptionGroupConfig) -> None:
        """Create or replace a group's settings (UPDATE_AND_CREATE_SUBSCRIPTIONGROUP)."""
        old = self._table.get(config.group_name)
        if old is not None:
            log.info("update subscription group config, old: %s new: %s", old, config)
        else:
            log.info("create new subscription group, %s", config)
        self._put(config)

    def disable_consume(self, group: str) -> None:
        """Stop the group from consuming (``consumeEnable`` = false)."""
        config = self._table.get(group)
        if config is not None and config.consume_enable:
            self._put(dataclasses.replace(config, consume_enable=False))

    def delete(self, group: str) -> bool:
        """Remove a group's settings (DELETE_SUBSCRIPTIONGROUP); returns whether it existed."""
        old = self._table.pop(group, None)
        if old is None:
            log.warning(
                "delete subscription group failed, subscription groupName: %s not exist", group
            )
            return False
        self.forbidden_table.pop(group, None)
        log.info("delete subscription group OK, subscription group:%s", old)
        self._changed()
        return True

    def all_configs(self) -> dict[str, SubscriptionGroupConfig]:
        """A copy of the table (the configs themselves are shared: do not modify them)."""
        return dict(self._table)

    def _put(self, config: SubscriptionGroupConfig) -> None:
        self._table[config.group_name] = config
        self._changed()

    def _changed(self) -> None:
        self.data_version = DataVersion(
            counter=self.data_version.counter + 1,
            timestamp=self._clock(),
            state_version=self.data_version.state_version,
        )
        self.dirty = True
        self.persist()
