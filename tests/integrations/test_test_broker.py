"""TestBroker: the application's handlers run in memory, decoding and retries as in production."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel

from integrations.app import PayloadDecodeError, Retry, RocketMQApp
from integrations.app.testing import TestBroker
from rocketmq_py import ConfigError, MessageView, SendStatus
from tests.integrations import sample_app

pytestmark = pytest.mark.anyio


class Point(BaseModel):
    x: int
    y: int


async def test_sample_app_routes_decodes_and_chains_publishers() -> None:
    async with TestBroker(sample_app.app) as br:
        calls = await br.publish(sample_app.ORDERS, {"id": 7, "total": 12.5}, tags="Created")
        # mail (fed by bill's invoice) finishes inside bill's delivery; audit is another group.
        assert [c.subscriber.name.rsplit(".", 1)[-1] for c in calls] == ["mail", "bill", "audit"]
        br.calls(sample_app.bill).assert_called_once_with(sample_app.Order(id=7, total=12.5))
        br.calls(sample_app.mail).assert_called_once_with({"order": 7, "amount": 12.5})
        assert br.calls(sample_app.audit).payloads == [b'{"id":7,"total":12.5}']
        [invoice] = br.published(sample_app.INVOICES)
        assert invoice.tags == "Invoice"
        assert invoice.body == b'{"order":7,"amount":12.5}'

        # A tag billing does not take: only the broadcast audit (tags "*") sees it.
        await br.publish(sample_app.ORDERS, {"id": 8, "total": 1}, tags="Cancelled")
        assert br.calls(sample_app.bill).call_count == 1
        assert br.calls(sample_app.audit).call_count == 2
        assert not br.calls(sample_app.mail).called_with({"order": 8, "amount": 1})


async def test_payload_types_and_raw_message() -> None:
    app = RocketMQApp()
    got: dict[str, Any] = {}

    @app.subscriber("T", group="G", tags="bytes")
    async def as_bytes(body: bytes) -> None:
        got["bytes"] = body

    @app.subscriber("T", group="G", tags="str")
    def as_str(text: str) -> None:  # sync: runs in a worker thread
        got["str"] = text

    @app.subscriber("T", group="G", tags="dict")
    async def as_dict(data: dict[str, int]) -> None:
        got["dict"] = data

    @app.subscriber("T", group="G", tags="list")
    async def as_list(items: list[int]) -> None:
        got["list"] = items

    @app.subscriber("T", group="G", tags="model")
    async def as_model(point: Point, message: MessageView) -> None:
        got["model"] = (point, message.keys)

    @app.subscriber("T", group="G", tags="raw")
    async def as_raw(message: MessageView) -> None:
        got["raw"] = message

    async with TestBroker(app) as br:
        await br.publish("T", b"\x00\xff", tags="bytes")
        await br.publish("T", "héllo", tags="str")
        await br.publish("T", {"a": 1}, tags="dict")
        await br.publish("T", [1, 2], tags="list")
        await br.publish("T", Point(x=1, y=2), tags="model", keys=["k1", "k2"])
        await br.publish("T", "r", tags="raw", properties={"p": "v"})
    assert got["bytes"] == b"\x00\xff"
    assert got["str"] == "héllo"
    assert got["dict"] == {"a": 1}
    assert got["list"] == [1, 2]
    assert got["model"] == (Point(x=1, y=2), "k1 k2")
    assert got["raw"].body == b"r"
    assert got["raw"].properties["p"] == "v"
    assert got["raw"].tags == "raw"


async def test_decode_error_is_retried_then_dead_lettered_with_a_clear_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = RocketMQApp()

    @app.subscriber("T", group="G", max_reconsume_times=2)
    async def handle(data: dict[str, Any]) -> None:
        raise AssertionError("never called")

    async with TestBroker(app) as br:
        with caplog.at_level(logging.ERROR, logger="rocketmq_py.app"):
            calls = await br.publish("T", b"[1, 2]")
    assert [c.message.reconsume_times for c in calls] == [0, 1, 2]
    assert all(isinstance(c.error, PayloadDecodeError) and not c.decoded for c in calls)
    assert not br.calls(handle).called
    [dead] = br.dead_letters
    assert dead.topic == "%DLQ%G"
    assert dead.message.reconsume_times == 2
    lines = [r.getMessage() for r in caplog.records]
    msg_id = calls[0].message.msg_id
    assert f"cannot decode message {msg_id} of 'T' for handler" in lines[0]
    assert "handle: ValueError: expected a JSON dict, got list" in lines[0]
    assert lines[0].endswith("it will be redelivered (redelivery 1 of 2)")
    assert lines[-1].endswith("retries exhausted (2): it goes to %DLQ%G")


async def test_retry_then_success_and_handler_errors() -> None:
    app = RocketMQApp()

    @app.subscriber("T", group="G", tags="retry")
    async def flaky(text: str, message: MessageView) -> Retry | None:
        if message.reconsume_times < 2:
            return Retry(delay=5, reason="not yet")
        return None

    @app.subscriber("T", group="G2", tags="boom", max_reconsume_times=1)
    async def broken(text: str) -> None:
        raise KeyError(text)

    async with TestBroker(app) as br:
        calls = await br.publish("T", "x", tags="retry")
        assert [(c.retry is not None, c.ok) for c in calls] == [
            (True, False),
            (True, False),
            (False, True),
        ]
        assert calls[0].retry is not None and calls[0].retry.delay == 5
        with pytest.raises(KeyError, match="'y'"):
            await br.publish("T", "y", tags="boom")
        assert br.calls(broken).call_count == 2  # first delivery plus one redelivery
        assert [d.topic for d in br.dead_letters] == ["%DLQ%G2"]

    async with TestBroker(app, retries=False, raise_errors=False) as br:
        [call] = await br.publish("T", "y", tags="boom")
        assert isinstance(call.error, KeyError)
        assert not br.dead_letters


async def test_broadcasting_is_not_retried() -> None:
    app = RocketMQApp()

    @app.subscriber("T", group="B", broadcasting=True)
    async def handle(body: bytes) -> None:
        raise Retry()

    async with TestBroker(app) as br:
        calls = await br.publish("T", b"x")
    assert len(calls) == 1
    assert not br.dead_letters


async def test_orderly_broadcasting_retries_in_place_then_drops(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = RocketMQApp()

    @app.subscriber("T", group="OB", orderly=True, broadcasting=True, max_reconsume_times=1)
    async def handle(text: str) -> None:
        raise Retry()

    async with TestBroker(app) as br:
        with caplog.at_level(logging.INFO, logger="rocketmq_py.app"):
            calls = await br.publish("T", "x")
    assert [c.message.reconsume_times for c in calls] == [0, 1]
    assert not br.dead_letters  # the push consumer drops it: broadcasting has no DLQ
    ends = [r.getMessage().rsplit("; ", 1)[-1] for r in caplog.records]
    assert ends == [
        "it will be redelivered (redelivery 1 of 1)",
        "retries exhausted (1): it is dropped (broadcasting has no DLQ)",
    ]


async def test_delayed_publishes_deliver_at_once_and_bad_delays_are_refused() -> None:
    app = RocketMQApp()
    got: list[str] = []

    @app.subscriber("T", group="G")
    async def handle(text: str) -> None:
        got.append(text)

    async with TestBroker(app) as br:
        await app.publish("T", "timer", delay=30)
        await app.publish("T", "level", delay_level=3)
        await app.publish("T", "at", deliver_at=datetime.now() + timedelta(minutes=5))
        assert got == ["timer", "level", "at"]  # not waited for, as the module docs say
        levels = [m.wire_properties().get("DELAY") for m in br.published()]
        assert levels == [None, "3", None]
        with pytest.raises(ConfigError, match="delay_level=19: must be between 1 and 18"):
            await app.publish("T", "bad", delay_level=19)
        with pytest.raises(ConfigError, match="set only one of delay_level, delay"):
            await app.publish("T", "both", delay=1, delay_level=1)
        with pytest.raises(ConfigError, match=r"deliver_at=.*timerMaxDelaySec"):
            await app.publish("T", "late", deliver_at=datetime.now() + timedelta(days=4))
        # A refused message is neither recorded as published nor delivered.
        assert [m.body for m in br.published()] == [b"timer", b"level", b"at"]
        assert got == ["timer", "level", "at"]


async def test_hooks_publish_and_loop_detection() -> None:
    app = RocketMQApp()
    events: list[str] = []
    app.on_startup(lambda: events.append("start-sync"))

    @app.on_startup
    async def start() -> None:
        events.append("start-async")

    @app.on_shutdown
    def stop() -> None:
        events.append("stop")

    @app.subscriber("Loop", group="G")
    @app.publisher("Loop")
    async def echo(body: bytes) -> bytes:
        return body

    @app.publisher("Out", tags="t")
    def compute(n: int) -> dict[str, int]:
        return {"n": n}

    async with TestBroker(app) as br:
        assert events == ["start-sync", "start-async"]
        result = await app.publish("Nowhere", {"k": 1}, tags="a", keys="key")
        assert result.status is SendStatus.SEND_OK
        assert await compute(3) == {"n": 3}  # a publisher wrapper publishes the result
        assert br.published("Out")[0].body == b'{"n":3}'
        assert br.published("Out")[0].tags == "t"
        with pytest.raises(RuntimeError, match="a publisher probably feeds its own subscriber"):
            await br.publish("Loop", b"again")
        with pytest.raises(LookupError):
            br.calls(compute)
    assert events == ["start-sync", "start-async", "stop"]

    async with TestBroker(app, run_hooks=False):
        pass
    assert events == ["start-sync", "start-async", "stop"]


def test_registration_errors() -> None:
    app = RocketMQApp()

    @app.subscriber("T", group="G", tags="A || B", orderly=True)
    async def first(body: bytes) -> None: ...

    with pytest.raises(ConfigError, match="disjoint tags"):
        app.subscriber("T", group="G", tags="B")(first)
    with pytest.raises(ConfigError, match="disjoint tags"):
        app.subscriber("T", group="G")(first)
    app.subscriber("U", group="G", max_reconsume_times=1)(first)
    with pytest.raises(ConfigError, match="one consumer with one setting"):
        app.subscriber("V", group="G", max_reconsume_times=2)(first)
    with pytest.raises(ConfigError, match="cannot decode a payload into"):

        @app.subscriber("W", group="H")
        async def bad(value: int | None) -> None: ...

    with pytest.raises(ConfigError, match="first parameter"):
        app.subscriber("W", group="H")(lambda: None)
    with pytest.raises(ConfigError, match="group"):
        app.subscriber("W", group="")
    with pytest.raises(ConfigError, match="concurrency"):
        app.subscriber("W", group="H", concurrency=0)
    with pytest.raises(ConfigError, match="delay"):
        Retry(delay=-1)
    assert app.groups["G"].expressions() == {"T": "A || B", "U": "*"}
    assert app.groups["G"].max_reconsume_times == 1  # the rejected V left the group as it was
    assert "H" not in app.groups
    assert app.describe()[0] == (
        "topic=T tags=A || B group=G model=clustering orderly "
        "handler=tests.integrations.test_test_broker.test_registration_errors.<locals>.first"
    )
