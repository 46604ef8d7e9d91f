"""Topic and group name rules, with the remarks a Java broker answers with."""

from __future__ import annotations

import pytest

from broker.managers import topic_validator as tv


@pytest.mark.parametrize("topic", ["", "   ", "\t\n", None])
def test_blank_topic(topic: str | None) -> None:
    assert tv.validate_topic(topic) == "The specified topic is blank."


@pytest.mark.parametrize("topic", ["a b", "topic.x", "t/1", "caf\u00e9", "a@b", "\u00a0"])
def test_illegal_characters(topic: str) -> None:
    assert tv.validate_topic(topic) == (
        "The specified topic contains illegal characters, allowing only ^[%|a-zA-Z0-9_-]+$"
    )


@pytest.mark.parametrize(
    "topic", ["T", "TopicTest", "a-b_c|d%e", "%RETRY%G", "%DLQ%G", "x" * 127, "0"]
)
def test_valid_topics(topic: str) -> None:
    assert tv.validate_topic(topic) is None


def test_length_limits() -> None:
    too_long = "The specified topic is longer than topic max length."
    assert tv.validate_topic("x" * 128) == too_long
    assert tv.validate_topic("%RETRY%" + "x" * 248) is None  # 255
    assert tv.validate_topic("%RETRY%" + "x" * 249) == too_long
    assert tv.validate_topic("%DLQ%" + "x" * 250) is None
    assert tv.validate_topic("%DLQ%" + "x" * 251) == too_long


def test_validate_group() -> None:
    assert tv.validate_group("CG_1-a") is None
    assert tv.validate_group("x" * 120) is None
    assert tv.validate_group("") == "The specified group is blank."
    assert tv.validate_group("g g") == (
        "The specified group: g g, contains illegal characters, allowing only ^[%|a-zA-Z0-9_-]+$"
    )
    assert tv.validate_group("x" * 121) == (
        f"The specified group: {'x' * 121}, is longer than group max length: 120"
    )


def test_retry_and_dlq_names() -> None:
    assert tv.retry_topic("CG") == "%RETRY%CG"
    assert tv.dlq_topic("CG") == "%DLQ%CG"
    assert tv.reply_topic("DefaultCluster") == "DefaultCluster_REPLY_TOPIC"
    assert tv.is_retry_topic("%RETRY%CG") and not tv.is_retry_topic("%DLQ%CG")
    assert tv.is_dlq_topic("%DLQ%CG") and not tv.is_dlq_topic("CG")


@pytest.mark.parametrize(
    "topic",
    [
        "SCHEDULE_TOPIC_XXXX",
        "RMQ_SYS_TRANS_HALF_TOPIC",
        "RMQ_SYS_TRANS_OP_HALF_TOPIC",
        "TRANS_CHECK_MAX_TIME_TOPIC",
        "SELF_TEST_TOPIC",
        "OFFSET_MOVED_EVENT",
        "rmq_sys_wheel_timer",
        "rmq_sys_REVIVE_LOG_DefaultCluster",
    ],
)
def test_not_allowed_send_topics(topic: str) -> None:
    assert tv.is_not_allowed_send_topic(topic)
    assert tv.is_system_topic(topic)


@pytest.mark.parametrize("topic", ["TopicTest", "TBW102", "RMQ_SYS_TRACE_TOPIC", "%RETRY%G"])
def test_allowed_send_topics(topic: str) -> None:
    assert not tv.is_not_allowed_send_topic(topic)


def test_system_topics() -> None:
    for topic in ("TBW102", "BenchmarkTest", "RMQ_SYS_TRACE_TOPIC", "CHECKPOINT_TOPIC"):
        assert tv.is_system_topic(topic)
    assert not tv.is_system_topic("TopicTest")
    assert not tv.is_system_topic("%RETRY%G")


def test_remarks() -> None:
    assert tv.not_allowed_send_remark("SCHEDULE_TOPIC_XXXX") == (
        "Sending message to topic[SCHEDULE_TOPIC_XXXX] is forbidden."
    )
    assert tv.system_topic_conflict_remark("TBW102") == (
        "The topic[TBW102] is conflict with system topic."
    )
