"""SubscriptionGroupManager: defaults, predefined groups, auto-creation, subscriptionGroup.json."""

from __future__ import annotations

import json
from pathlib import Path

from broker.managers import SubscriptionGroupConfig, SubscriptionGroupManager
from rocketmq_py.protocol.bodies import DataVersion
from tests.conftest import FakeClock

T0 = 1_700_000_000_000

PREDEFINED = [
    "TOOLS_CONSUMER",
    "FILTERSRV_CONSUMER",
    "SELF_TEST_C_GROUP",
    "CID_ONS-HTTP-PROXY",
    "CID_ONSAPI_PULL",
    "CID_ONSAPI_PERMISSION",
    "CID_ONSAPI_OWNER",
    "CID_RMQ_SYS_TRANS",
]

DEFAULT_JSON = {
    "brokerId": 0,
    "consumeBroadcastEnable": True,
    "consumeEnable": True,
    "consumeFromMinEnable": True,
    "consumeMessageOrderly": False,
    "consumeTimeoutMinute": 15,
    "groupName": "CG",
    "groupSysFlag": 0,
    "notifyConsumerIdsChangedEnable": True,
    "retryMaxTimes": 16,
    "retryQueueNums": 1,
    "whichBrokerWhenConsumeSlowly": 1,
}


def test_config_defaults_and_json() -> None:
    config = SubscriptionGroupConfig("CG")
    assert config.to_json_value() == DEFAULT_JSON
    assert list(config.to_json_value()) == sorted(DEFAULT_JSON)
    assert SubscriptionGroupConfig.from_json_value({"groupName": "CG"}) == config
    assert SubscriptionGroupConfig.from_json(config.to_json()) == config


def test_config_keeps_unknown_fields() -> None:
    # A 5.x broker adds attributes and a retry policy; they are written back unchanged.
    raw = dict(
        DEFAULT_JSON,
        attributes={},
        groupRetryPolicy={"type": "CUSTOMIZED"},
        retryMaxTimes="3",
        consumeEnable="false",
    )
    config = SubscriptionGroupConfig.from_json_value(raw)
    assert config.retry_max_times == 3
    assert not config.consume_enable
    assert config.extra == {"attributes": {}, "groupRetryPolicy": {"type": "CUSTOMIZED"}}
    out = config.to_json_value()
    assert list(out) == sorted(out)
    assert out["groupRetryPolicy"] == {"type": "CUSTOMIZED"}
    assert out["retryMaxTimes"] == 3


def test_predefined_groups(tmp_path: Path) -> None:
    m = SubscriptionGroupManager(tmp_path, clock_ms=FakeClock(T0))
    assert list(m.all_configs()) == PREDEFINED
    assert m.data_version == DataVersion(counter=0, timestamp=T0)


def test_auto_create(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    m = SubscriptionGroupManager(tmp_path, clock_ms=clock)
    clock.advance(3)
    config = m.find_subscription_group_config("CG")
    assert config == SubscriptionGroupConfig("CG")
    assert m.find_subscription_group_config("CG") is config
    assert m.data_version == DataVersion(counter=1, timestamp=T0 + 3)
    stored = json.loads((tmp_path / "subscriptionGroup.json").read_bytes())
    assert stored["subscriptionGroupTable"]["CG"] == DEFAULT_JSON


def test_auto_create_disabled(tmp_path: Path) -> None:
    m = SubscriptionGroupManager(tmp_path, auto_create_subscription_group=False)
    assert m.find_subscription_group_config("CG") is None
    assert "CG" not in m
    # Internal CID_RMQ_SYS_* groups are always created.
    assert m.find_subscription_group_config("CID_RMQ_SYS_X") is not None
    assert m.find_subscription_group_config("TOOLS_CONSUMER") is not None


def test_illegal_names_are_not_auto_created(tmp_path: Path) -> None:
    m = SubscriptionGroupManager(tmp_path)
    assert m.find_subscription_group_config("bad group") is None
    assert m.find_subscription_group_config("") is None
    assert m.find_subscription_group_config("x" * 256) is None
    assert m.data_version.counter == 0


def test_update_disable_delete(tmp_path: Path) -> None:
    m = SubscriptionGroupManager(tmp_path)
    m.update(SubscriptionGroupConfig("CG", retry_queue_nums=2, retry_max_times=3))
    assert m.get("CG") == SubscriptionGroupConfig("CG", retry_queue_nums=2, retry_max_times=3)
    m.disable_consume("CG")
    assert not m.get("CG").consume_enable  # type: ignore[union-attr]
    m.disable_consume("CG")  # already disabled: no change
    assert m.data_version.counter == 2
    assert m.delete("CG")
    assert not m.delete("CG")
    assert m.get("CG") is None
    assert m.data_version.counter == 3


def test_file_shape_and_round_trip(tmp_path: Path) -> None:
    m = SubscriptionGroupManager(tmp_path, clock_ms=FakeClock(T0))
    m.update(SubscriptionGroupConfig("CG"))
    raw = (tmp_path / "subscriptionGroup.json").read_bytes()
    assert raw.startswith(
        b'{"dataVersion":{"counter":1,"timestamp":1700000000000},"forbiddenTable":{},'
        b'"subscriptionGroupTable":{"TOOLS_CONSUMER":{"brokerId":0,'
    )
    assert raw.endswith(
        b'"CG":{"brokerId":0,"consumeBroadcastEnable":true,"consumeEnable":true,'
        b'"consumeFromMinEnable":true,"consumeMessageOrderly":false,"consumeTimeoutMinute":15,'
        b'"groupName":"CG","groupSysFlag":0,"notifyConsumerIdsChangedEnable":true,'
        b'"retryMaxTimes":16,"retryQueueNums":1,"whichBrokerWhenConsumeSlowly":1}}}'
    )
    again = SubscriptionGroupManager(tmp_path)
    assert again.load()
    assert again.all_configs() == m.all_configs()
    assert again.data_version == m.data_version
    assert again.encode() == raw
    assert not again.dirty
    assert not again.persist()


def test_load_a_java_4x_file(tmp_path: Path) -> None:
    # 4.9.8: no forbiddenTable, fewer fields per group.
    (tmp_path / "subscriptionGroup.json").write_text(
        '{\n\t"dataVersion":{"counter":4,"timestamp":1690000000000},\n'
        '\t"subscriptionGroupTable":{\n\t\t"CG":{"brokerId":0,"consumeBroadcastEnable":true,'
        '"consumeEnable":false,"consumeFromMinEnable":true,"groupName":"CG",'
        '"notifyConsumerIdsChangedEnable":false,"retryMaxTimes":5,"retryQueueNums":1,'
        '"whichBrokerWhenConsumeSlowly":1}\n\t}\n}'
    )
    m = SubscriptionGroupManager(tmp_path)
    assert m.load()
    config = m.get("CG")
    assert config is not None
    assert not config.consume_enable
    assert not config.notify_consumer_ids_changed_enable
    assert config.retry_max_times == 5
    assert config.consume_timeout_minute == 15
    assert m.data_version == DataVersion(counter=4, timestamp=1690000000000)
    assert "TOOLS_CONSUMER" in m


def test_forbidden_table_is_kept(tmp_path: Path) -> None:
    (tmp_path / "subscriptionGroup.json").write_bytes(
        b'{"dataVersion":{"counter":1,"timestamp":1},"forbiddenTable":{"CG":{"T":1}},'
        b'"subscriptionGroupTable":{}}'
    )
    m = SubscriptionGroupManager(tmp_path)
    assert m.load()
    assert m.forbidden_table == {"CG": {"T": 1}}
    m.update(SubscriptionGroupConfig("CG2"))
    assert b'"forbiddenTable":{"CG":{"T":1}}' in (tmp_path / "subscriptionGroup.json").read_bytes()


def test_corrupt_file(tmp_path: Path) -> None:
    (tmp_path / "subscriptionGroup.json").write_bytes(b"{not json")
    m = SubscriptionGroupManager(tmp_path)
    assert not m.load()
    assert list(m.all_configs()) == PREDEFINED
