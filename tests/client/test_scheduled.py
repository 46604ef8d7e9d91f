"""Scheduled messages from the SDK: deliver_at, delay, delay_level, recall, validation."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest

from rocketmq_py import (
    AsyncProducer,
    ConfigError,
    IllegalOperationError,
    Message,
)
from rocketmq_py._sync import Producer
from rocketmq_py.protocol.codes import ResponseCode
from tests.client.conftest import run_broker
from tests.client.helpers import consume
from tests.conftest import broker_settings_for

pytestmark = pytest.mark.anyio


def _addr(namesrv: Any) -> str:
    return f"127.0.0.1:{namesrv.port}"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


async def test_deliver_at_and_delay_arrive_on_time(namesrv: Any, broker: Any) -> None:
    topic = "SdkTimer"
    sent = _now_ms()
    at = datetime.now(timezone.utc) + timedelta(seconds=2)
    async with AsyncProducer("PG_sdk_timer", _addr(namesrv)) as producer:
        r1 = await producer.send(Message(topic, b"at", deliver_at=at))
        r2 = await producer.send(Message(topic, b"td", delay=timedelta(milliseconds=1500)))
        r3 = await producer.send(Message(topic, b"sec", delay=1))
        r4 = await producer.send(Message(topic, b"ms", deliver_at=sent + 1200))
    for r in (r1, r2, r3, r4):
        assert r.recall_handle
    earliest = {
        b"at": round(at.timestamp() * 1000),
        b"td": sent + 1500,
        b"sec": sent + 1000,
        b"ms": sent + 1200,
    }
    got = await consume(_addr(namesrv), topic, 4)
    assert sorted(m.body for m in got) == sorted(earliest)
    for m in got:
        assert m.store_timestamp >= earliest[m.body], m.body
        assert m.store_timestamp <= earliest[m.body] + 5000
        assert m.msg_id in {r1.msg_id, r2.msg_id, r3.msg_id, r4.msg_id}


async def test_recall_before_and_after_firing(namesrv: Any, broker: Any) -> None:
    topic = "SdkRecall"
    async with AsyncProducer("PG_sdk_recall", _addr(namesrv)) as producer:
        cancelled = await producer.send(Message(topic, b"cancelled", delay=2))
        kept = await producer.send(Message(topic, b"kept", delay=2.5))
        assert cancelled.recall_handle and kept.recall_handle
        assert await producer.recall(topic, cancelled.recall_handle) == cancelled.msg_id
        [arrived] = await consume(_addr(namesrv), topic, 1)
        assert arrived.body == b"kept"
        with pytest.raises(IllegalOperationError) as info:
            await producer.recall(topic, kept.recall_handle)
        assert info.value.code == ResponseCode.ILLEGAL_OPERATION
        assert "already delivered" in info.value.remark or "timestamp" in info.value.remark
        with pytest.raises(ConfigError, match="handle"):
            await producer.recall(topic, "garbage!")
        with pytest.raises(ConfigError, match="topic"):
            await producer.recall("OtherTopic", kept.recall_handle)
    assert broker.timer.metrics.recalled == 1
    await anyio.sleep(1)  # the cancelled one was due first: it would have arrived by now
    everything = await consume(_addr(namesrv), topic, 1, group="CG_SdkRecall_all")
    assert [m.body for m in everything] == [b"kept"]


async def test_sync_producer_recall(namesrv: Any, broker: Any) -> None:
    topic = "SdkSyncRecall"

    def run() -> tuple[str, str, str]:
        with Producer("PG_sdk_sync", _addr(namesrv)) as producer:
            result = producer.send(Message(topic, b"x", delay=timedelta(minutes=5)))
            assert result.recall_handle is not None
            return result.msg_id, producer.recall(topic, result.recall_handle), result.recall_handle

    msg_id, recalled, _handle = await anyio.to_thread.run_sync(run)
    assert recalled == msg_id
    assert broker.timer.runtime_info()["timerPendingTotal"] == "0"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"delay": 5, "deliver_at": 10**13}, "delay"),
        ({"delay_level": 2, "delay": 5}, "delay"),
        ({"delay": -1}, "delay"),
        ({"delay": timedelta(days=3, seconds=1)}, "delay"),
        ({"delay": "5"}, "delay"),
        ({"delay": float("nan")}, "delay"),
        ({"deliver_at": _now_ms() + 4 * 86_400_000}, "deliver_at"),
        ({"deliver_at": datetime.now() + timedelta(days=3, minutes=5)}, "deliver_at"),
        ({"deliver_at": "tomorrow"}, "deliver_at"),
        ({"deliver_at": -5}, "deliver_at"),
        ({"delay_level": 19}, "delay_level"),
        ({"delay_level": -1}, "delay_level"),
        ({"delay_level": 2.5}, "delay_level"),
        ({"delay_level": True}, "delay_level"),
    ],
)
def test_validation_names_field_and_value(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        Message("T", b"x", **kwargs).wire_properties()
    assert info.value.field == field
    assert repr(kwargs[field]) in str(info.value)


def test_wire_properties_of_each_form() -> None:
    assert Message("T", b"x", delay=2).wire_properties()["TIMER_DELAY_SEC"] == "2"
    assert Message("T", b"x", delay=0.25).wire_properties()["TIMER_DELAY_MS"] == "250"
    assert (
        Message("T", b"x", deliver_at=1_700_000_000_000).wire_properties(
            now_ms=1_700_000_000_000 - 5000
        )["TIMER_DELIVER_MS"]
        == "1700000000000"
    )
    assert Message("T", b"x", delay_level=3).wire_properties()["DELAY"] == "3"
    plain = Message("T", b"x", delay=0).wire_properties()
    assert not {"DELAY", "TIMER_DELAY_SEC", "TIMER_DELAY_MS"} & set(plain)
    # A broker configured for longer delays: the producer's bound follows it.
    far = Message("T", b"x", delay=timedelta(days=5))
    assert far.wire_properties(max_delay_ms=7 * 86_400_000)["TIMER_DELAY_SEC"] == "432000"


async def test_batches_cannot_be_scheduled(namesrv: Any, broker: Any) -> None:
    async with AsyncProducer("PG_sdk_batch", _addr(namesrv)) as producer:
        with pytest.raises(ConfigError, match="delay"):
            await producer.send_batch([Message("B", b"a"), Message("B", b"b", delay=1)])


@pytest.fixture
def short_levels_broker(namesrv: Any, tmp_path: Path) -> Iterator[Any]:
    """A broker whose delay levels are 1s 2s 3s."""
    settings = broker_settings_for(tmp_path / "store", _addr(namesrv), messageDelayLevel="1s 2s 3s")
    yield from run_broker(settings)


async def test_delay_level_waits_its_level(namesrv: Any, short_levels_broker: Any) -> None:
    sent = _now_ms()
    async with AsyncProducer("PG_sdk_level", _addr(namesrv)) as producer:
        await producer.send(Message("SdkLevel", b"lvl", delay_level=2))
    [message] = await consume(_addr(namesrv), "SdkLevel", 1)
    assert message.body == b"lvl"
    assert message.store_timestamp >= sent + 2000
    assert message.store_timestamp <= sent + 2000 + 5000
