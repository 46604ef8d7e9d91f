"""TopicConfigManager: system topics, auto-creation on send, versions and topics.json."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from broker.managers import TopicConfigManager
from rocketmq_py.protocol.bodies import DataVersion, TopicConfig
from tests.conftest import FakeClock

T0 = 1_700_000_000_000


def make(tmp_path: Path, clock: FakeClock | None = None, **kwargs: object) -> TopicConfigManager:
    options: dict[str, object] = {"cluster_name": "DefaultCluster", "broker_name": "broker-a"}
    options.update(kwargs)
    return TopicConfigManager(tmp_path, clock_ms=clock or FakeClock(T0), **options)  # type: ignore[arg-type]


def shape(config: TopicConfig) -> tuple[int, int, int]:
    return config.read_queue_nums, config.write_queue_nums, config.perm


# -- system topics ----------------------------------------------------------------------------


def test_system_topics_at_start(tmp_path: Path) -> None:
    m = make(tmp_path)
    expected = {
        "SELF_TEST_TOPIC": (1, 1, 6),
        "TBW102": (8, 8, 7),
        "BenchmarkTest": (1024, 1024, 6),
        "DefaultCluster": (16, 16, 7),
        "broker-a": (1, 1, 7),
        "OFFSET_MOVED_EVENT": (1, 1, 6),
        "SCHEDULE_TOPIC_XXXX": (18, 18, 6),
        "DefaultCluster_REPLY_TOPIC": (1, 1, 6),
        "RMQ_SYS_TRANS_HALF_TOPIC": (1, 1, 6),
        "RMQ_SYS_TRANS_OP_HALF_TOPIC": (1, 1, 6),
        "rmq_sys_wheel_timer": (1, 1, 6),
    }
    assert m.topic_names() == list(expected)
    for name, numbers in expected.items():
        config = m.select(name)
        assert config is not None
        assert shape(config) == numbers, name
        assert config.topic_filter_type == "SINGLE_TAG"
        assert config.attributes is None  # 4.9.8 form: no "attributes" in topics.json
    assert m.data_version == DataVersion(counter=0, timestamp=T0)


def test_options_change_system_topics(tmp_path: Path) -> None:
    m = make(
        tmp_path,
        auto_create_topic_enable=False,
        default_topic_queue_nums=4,
        cluster_topic_enable=False,
        broker_topic_enable=False,
        trace_topic_name="RMQ_SYS_TRACE_TOPIC",
        timer_wheel_enable=False,
    )
    assert m.select("TBW102") is None
    assert "rmq_sys_wheel_timer" not in m
    assert shape(m.select("DefaultCluster")) == (16, 16, 1)  # type: ignore[arg-type]
    assert shape(m.select("broker-a")) == (1, 1, 1)  # type: ignore[arg-type]
    assert shape(m.select("RMQ_SYS_TRACE_TOPIC")) == (1, 1, 6)  # type: ignore[arg-type]
    assert shape(make(tmp_path / "b", default_topic_queue_nums=4).select("TBW102")) == (4, 4, 7)  # type: ignore[arg-type]


def test_system_topic_protection(tmp_path: Path) -> None:
    m = make(tmp_path)
    for topic in (
        "DefaultCluster",
        "broker-a",
        "DefaultCluster_REPLY_TOPIC",
        "TBW102",
        "rmq_sys_x",
    ):
        assert m.is_system_topic(topic)
    assert not m.is_system_topic("TopicTest")
    assert m.is_not_allowed_send_topic("SCHEDULE_TOPIC_XXXX")
    assert m.is_not_allowed_send_topic("RMQ_SYS_TRANS_HALF_TOPIC")
    assert m.is_not_allowed_send_topic("rmq_sys_wheel_timer")
    assert not m.is_not_allowed_send_topic("TopicTest")
    assert not m.is_not_allowed_send_topic("%RETRY%CG")


# -- auto-creation on send ------------------------------------------------------------------


def test_auto_create_from_tbw102(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    m = make(tmp_path, clock)
    changes: list[int] = []
    m.on_change = lambda: changes.append(m.data_version.counter)
    clock.advance(5)
    config = m.create_topic_in_send_message_method("TopicA", "TBW102", "10.0.0.9:5555", 4, 0)
    assert config is not None
    assert config == TopicConfig("TopicA", read_queue_nums=4, write_queue_nums=4, perm=6)
    assert m.select("TopicA") is config
    assert m.data_version == DataVersion(counter=1, timestamp=T0 + 5)
    assert changes == [1]
    stored = json.loads((tmp_path / "topics.json").read_bytes())
    assert stored["dataVersion"] == {"counter": 1, "timestamp": T0 + 5}
    assert stored["topicConfigTable"]["TopicA"] == {
        "order": False,
        "perm": 6,
        "readQueueNums": 4,
        "topicFilterType": "SINGLE_TAG",
        "topicName": "TopicA",
        "topicSysFlag": 0,
        "writeQueueNums": 4,
    }
    # Known topic: returned as is, nothing changes.
    again = m.create_topic_in_send_message_method("TopicA", "TBW102", "10.0.0.9:5555", 16, 0)
    assert again is config
    assert m.data_version.counter == 1
    assert changes == [1]


def test_auto_create_queue_count_is_capped_by_the_template(tmp_path: Path) -> None:
    m = make(tmp_path)
    config = m.create_topic_in_send_message_method("Big", "TBW102", "h", 64, 1)
    assert config is not None
    assert shape(config) == (8, 8, 6)
    assert config.topic_sys_flag == 1
    negative = m.create_topic_in_send_message_method("Neg", "TBW102", "h", -3, 0)
    assert negative is not None
    assert shape(negative) == (0, 0, 6)


def test_auto_create_inherits_from_a_custom_template(tmp_path: Path) -> None:
    m = make(tmp_path)
    m.update_topic_config(
        TopicConfig(
            "Tpl", read_queue_nums=2, write_queue_nums=3, perm=5, topic_filter_type="MULTI_TAG"
        )
    )
    config = m.create_topic_in_send_message_method("FromTpl", "Tpl", "h", 4, 0)
    assert config is not None
    assert shape(config) == (3, 3, 4)  # perm 5 (R|X) minus INHERIT
    assert config.topic_filter_type == "MULTI_TAG"


def test_no_template_or_no_inherit_means_topic_not_exist(tmp_path: Path) -> None:
    m = make(tmp_path)
    assert m.create_topic_in_send_message_method("T", "NoSuchTemplate", "h", 4, 0) is None
    m.update_topic_config(TopicConfig("Plain", perm=6))
    version = m.data_version
    assert m.create_topic_in_send_message_method("T", "Plain", "h", 4, 0) is None
    assert "T" not in m
    assert m.data_version == version


def test_auto_create_disabled(tmp_path: Path) -> None:
    m = make(tmp_path, auto_create_topic_enable=False)
    assert m.create_topic_in_send_message_method("T", "TBW102", "h", 4, 0) is None


def test_tbw102_left_in_the_file_is_downgraded_when_auto_create_is_off(tmp_path: Path) -> None:
    make(tmp_path).persist()  # a file written while autoCreateTopicEnable was on
    m = make(tmp_path, auto_create_topic_enable=False)
    assert m.load()
    assert shape(m.select("TBW102")) == (8, 8, 7)  # type: ignore[arg-type]
    assert m.create_topic_in_send_message_method("T", "TBW102", "h", 4, 0) is None
    assert shape(m.select("TBW102")) == (8, 8, 6)  # type: ignore[arg-type]


# -- retry / DLQ and other creations ----------------------------------------------------------


def test_create_topic_in_send_back(tmp_path: Path) -> None:
    m = make(tmp_path)
    changes: list[None] = []
    m.on_change = lambda: changes.append(None)
    retry = m.create_topic_in_send_back("%RETRY%CG", 1, 6, 0)
    assert retry == TopicConfig("%RETRY%CG", read_queue_nums=1, write_queue_nums=1, perm=6)
    assert m.create_topic_in_send_back("%RETRY%CG", 3, 2, 0) is retry
    assert len(changes) == 1
    dlq = m.create_topic_in_send_back("%DLQ%CG", 1, 2, 0)
    assert shape(dlq) == (1, 1, 2)
    assert len(changes) == 2
    ordered = m.create_topic_in_send_back("%RETRY%CG", 1, 6, 0, order=True)
    assert ordered.order
    assert m.select("%RETRY%CG") is ordered
    assert len(changes) == 3
    assert m.create_topic_in_send_back("%RETRY%CG", 1, 6, 0) is ordered  # order left alone


def test_create_topic_of_tran_check_max_time(tmp_path: Path) -> None:
    m = make(tmp_path)
    config = m.create_topic_of_tran_check_max_time(1, 6)
    assert config.topic_name == "TRANS_CHECK_MAX_TIME_TOPIC"
    assert shape(config) == (1, 1, 6)
    assert m.create_topic_of_tran_check_max_time(4, 2) is config
    assert m.data_version.counter == 1


def test_update_and_delete(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    m = make(tmp_path, clock)
    changes: list[None] = []
    m.on_change = lambda: changes.append(None)
    m.update_topic_config(TopicConfig("T", read_queue_nums=8, write_queue_nums=8))
    clock.advance(10)
    m.update_topic_config(TopicConfig("T", read_queue_nums=2, write_queue_nums=2, order=True))
    assert shape(m.select("T")) == (2, 2, 6)  # type: ignore[arg-type]
    assert m.is_order_topic("T")
    assert m.data_version == DataVersion(counter=2, timestamp=T0 + 10)
    assert m.delete_topic_config("T")
    assert m.select("T") is None
    assert not m.delete_topic_config("T")
    assert m.data_version.counter == 3
    assert len(changes) == 3
    assert "T" not in json.loads((tmp_path / "topics.json").read_bytes())["topicConfigTable"]


def test_update_order_topic_config(tmp_path: Path) -> None:
    m = make(tmp_path)
    m.update_topic_config(TopicConfig("A"))
    m.update_topic_config(TopicConfig("B", order=True))
    m.update_order_topic_config(["A", "Missing"])
    assert m.is_order_topic("A") and m.is_order_topic("B")
    assert m.data_version.counter == 3
    m.update_order_topic_config(["A"])  # nothing to change
    assert m.data_version.counter == 3


def test_on_change_errors_are_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    m = make(tmp_path)

    def boom() -> None:
        raise RuntimeError("register failed")

    m.on_change = boom
    with caplog.at_level(logging.ERROR, logger="broker"):
        m.update_topic_config(TopicConfig("T"))
    assert "T" in m
    assert "on_change hook failed" in caplog.text


def test_serialize_wrapper_is_a_snapshot(tmp_path: Path) -> None:
    m = make(tmp_path)
    m.update_topic_config(TopicConfig("T"))
    wrapper = m.build_serialize_wrapper()
    assert wrapper.data_version == m.data_version
    assert wrapper.data_version is not m.data_version
    assert set(wrapper.topic_config_table) == set(m.topic_names())
    m.update_topic_config(TopicConfig("U"))
    m.update_order_topic_config(["T"])
    assert "U" not in wrapper.topic_config_table
    assert not wrapper.topic_config_table["T"].order
    assert wrapper.data_version.counter == 1


# -- persistence ------------------------------------------------------------------------------


def test_file_shape_and_round_trip(tmp_path: Path) -> None:
    m = make(tmp_path, auto_create_topic_enable=False, timer_wheel_enable=False)
    m.update_topic_config(TopicConfig("TopicA", read_queue_nums=4, write_queue_nums=4))
    raw = (tmp_path / "topics.json").read_bytes()
    assert raw.startswith(
        b'{"dataVersion":{"counter":1,"timestamp":1700000000000},"topicConfigTable":{'
        b'"SELF_TEST_TOPIC":{"order":false,"perm":6,"readQueueNums":1,'
        b'"topicFilterType":"SINGLE_TAG","topicName":"SELF_TEST_TOPIC","topicSysFlag":0,'
        b'"writeQueueNums":1},'
    )
    assert raw.endswith(
        b'"TopicA":{"order":false,"perm":6,"readQueueNums":4,"topicFilterType":"SINGLE_TAG",'
        b'"topicName":"TopicA","topicSysFlag":0,"writeQueueNums":4}}}'
    )
    assert b" " not in raw
    again = make(tmp_path, auto_create_topic_enable=False, timer_wheel_enable=False)
    assert again.load()
    assert again.table == m.table
    assert again.data_version == m.data_version
    assert again.encode() == raw


def test_load_a_java_file(tmp_path: Path) -> None:
    # What a 4.9.8 broker writes (fastjson pretty format, tabs), with a changed system topic.
    (tmp_path / "topics.json").write_text(
        '{\n\t"dataVersion":{\n\t\t"counter":7,\n\t\t"timestamp":1690000000000\n\t},\n'
        '\t"topicConfigTable":{\n'
        '\t\t"TopicTest":{\n\t\t\t"order":false,\n\t\t\t"perm":6,\n\t\t\t"readQueueNums":4,\n'
        '\t\t\t"topicFilterType":"SINGLE_TAG",\n\t\t\t"topicName":"TopicTest",\n'
        '\t\t\t"topicSysFlag":0,\n\t\t\t"writeQueueNums":4\n\t\t},\n'
        '\t\t"TBW102":{"perm":7,"readQueueNums":16,"topicName":"TBW102","writeQueueNums":16}\n'
        "\t}\n}"
    )
    m = make(tmp_path)
    assert m.load()
    assert m.data_version == DataVersion(counter=7, timestamp=1690000000000)
    assert shape(m.select("TopicTest")) == (4, 4, 6)  # type: ignore[arg-type]
    assert shape(m.select("TBW102")) == (16, 16, 7)  # type: ignore[arg-type]
    assert "SCHEDULE_TOPIC_XXXX" in m  # system topics stay
    assert not m.dirty


def test_5x_fields_survive(tmp_path: Path) -> None:
    (tmp_path / "topics.json").write_bytes(
        b'{"dataVersion":{"counter":3,"stateVersion":2,"timestamp":5},"topicConfigTable":'
        b'{"T":{"attributes":{"+message.type":"FIFO"},"order":true,"perm":6,"readQueueNums":2,'
        b'"topicFilterType":"SINGLE_TAG","topicName":"T","topicSysFlag":0,"writeQueueNums":2}}}'
    )
    m = make(tmp_path)
    assert m.load()
    m.update_topic_config(TopicConfig("U"))
    assert m.data_version.state_version == 2
    stored = json.loads((tmp_path / "topics.json").read_bytes())
    assert stored["dataVersion"]["stateVersion"] == 2
    assert stored["topicConfigTable"]["T"]["attributes"] == {"+message.type": "FIFO"}


def test_missing_file(tmp_path: Path) -> None:
    m = make(tmp_path)
    assert not m.load()
    assert m.dirty  # the first periodic persist writes the system topics
    assert m.persist()
    assert not m.persist()
    assert m.persist(force=True)
    assert (tmp_path / "topics.json").exists()


def test_backup_keeps_the_previous_version(tmp_path: Path) -> None:
    m = make(tmp_path)
    m.update_topic_config(TopicConfig("A"))
    first = (tmp_path / "topics.json").read_bytes()
    m.update_topic_config(TopicConfig("B"))
    assert (tmp_path / "topics.json.bak").read_bytes() == first
    assert not (tmp_path / "topics.json.tmp").exists()


def test_corrupt_file_falls_back_to_the_backup(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    m = make(tmp_path)
    m.update_topic_config(TopicConfig("A"))
    m.update_topic_config(TopicConfig("B"))
    (tmp_path / "topics.json").write_bytes(b'{"dataVersion":{"counter":2,')  # torn write
    again = make(tmp_path)
    with caplog.at_level(logging.WARNING, logger="broker"):
        assert again.load()
    assert "cannot parse" in caplog.text
    assert "A" in again and "B" not in again  # the .bak is one change behind
    assert again.data_version.counter == 1
    assert (tmp_path / "topics.json.corrupt").read_bytes() == b'{"dataVersion":{"counter":2,'
    # The corrupt file is not rotated into the .bak.
    good_backup = (tmp_path / "topics.json.bak").read_bytes()
    again.update_topic_config(TopicConfig("C"))
    assert (tmp_path / "topics.json.bak").read_bytes() == good_backup


def test_corrupt_file_without_backup(tmp_path: Path) -> None:
    (tmp_path / "topics.json").write_bytes(b'{"topicConfigTable":{"T":{"perm":"x"}}}')
    m = make(tmp_path)
    assert not m.load()
    assert "SCHEDULE_TOPIC_XXXX" in m
    assert (tmp_path / "topics.json.corrupt").exists()
