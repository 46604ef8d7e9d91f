"""Ordered sends: selectors, sharding keys (Java's hash) and order-topic config, over TCP."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest

from rocketmq_py import (
    AsyncAdmin,
    AsyncProducer,
    ConfigError,
    Message,
    MessageQueueRef,
    Producer,
    RemoteProtocolError,
    TopicNotExistError,
    TransportError,
    select_by_hash,
    select_by_random,
)
from rocketmq_py._async.client import ClientInstance
from rocketmq_py._async.selectors import java_hash_code, order_topic_queues
from rocketmq_py._transport import ConnectionPool
from tests.broker.namesrv_helpers import register_request
from tests.client.conftest import run_broker, run_namesrv
from tests.conftest import broker_settings_for

pytestmark = pytest.mark.anyio

BROKER = "broker-a"


def _addr(server: Any) -> str:
    return f"127.0.0.1:{server.port}"


def java_string_hash_reference(text: str) -> int:
    """String.hashCode written out independently: s[0]*31^(n-1) + ... + s[n-1], as int32."""
    units = text.encode("utf-16-be")
    count = len(units) // 2
    total: int = sum(
        int.from_bytes(units[2 * i : 2 * i + 2], "big") * 31 ** (count - 1 - i)
        for i in range(count)
    )
    total %= 2**32
    return total - 2**32 if total >= 2**31 else total


def java_select_by_hash_reference(key: str, size: int) -> int:
    """SelectMessageQueueByHash: ``int value = hashCode % size; if (value < 0) value = abs``,
    with Java's ``%`` truncating towards zero."""
    h = java_string_hash_reference(key)
    quotient = abs(h) // size * (1 if h >= 0 else -1)  # Java's / truncates towards zero
    value = h - size * quotient
    if value < 0:
        value = abs(value)
    return value


async def _create_topic(namesrv: Any, broker: Any, topic: str, queues: int) -> None:
    """Create ``topic`` on the broker and wait until the name server routes all its queues."""
    async with AsyncAdmin(_addr(namesrv)) as admin:
        await admin.create_topic(
            topic,
            broker_addr=_addr(broker),
            read_queue_nums=queues,
            write_queue_nums=queues,
        )
    async with ConnectionPool() as pool:
        client = ClientInstance(_addr(namesrv), pool)
        with anyio.fail_after(30):
            while True:
                with contextlib.suppress(TopicNotExistError):
                    route = await client.fetch_route(topic)
                    if [q.write_queue_nums for q in route.queue_datas] == [queues]:
                        return
                await anyio.sleep(0.05)


# -- the hash, without servers ---------------------------------------------------------------


def test_java_hash_codes_match_known_java_values() -> None:
    # Values printed by Java's "...".hashCode() / Integer / Long / Boolean.
    assert java_hash_code("hello") == 99162322
    assert java_hash_code("customer-42") == java_string_hash_reference("customer-42")
    assert java_hash_code("polygenelubricants") == -(2**31)  # Integer.MIN_VALUE
    assert java_hash_code("Aa") == java_hash_code("BB") == 2112
    assert java_hash_code("订单-7") == java_string_hash_reference("订单-7")
    assert java_hash_code(42) == 42
    assert java_hash_code(-1) == -1  # Integer
    assert java_hash_code(2**40 + 5) == 261  # Long: (int)(v ^ (v >>> 32)) = 5 ^ 256
    assert java_hash_code(-(2**40)) == -256  # Long: 0xFFFFFF00_00000000 -> 0xFFFFFF00
    assert (java_hash_code(True), java_hash_code(False)) == (1231, 1237)
    with pytest.raises(ConfigError, match=r"arg=2\.5"):
        java_hash_code(2.5)
    with pytest.raises(ConfigError, match="64 bits"):
        java_hash_code(2**64)


def test_select_by_hash_follows_javas_formula() -> None:
    for size in (1, 3, 4, 7, 8, 16):
        queues = [MessageQueueRef("T", BROKER, i) for i in range(size)]
        for key in ("customer-42", "customer-7", "order-1", "polygenelubricants", "", "zz"):
            chosen = select_by_hash(queues, Message("T", b""), key)
            assert chosen.queue_id == java_select_by_hash_reference(key, size), (key, size)
    # Integer.MIN_VALUE % 3 == -2 in Java: queue 2 (not an index error, since 4.8).
    queues = [MessageQueueRef("T", BROKER, i) for i in range(3)]
    assert select_by_hash(queues, Message("T", b""), "polygenelubricants").queue_id == 2
    with pytest.raises(ConfigError, match="no queue"):
        select_by_hash([], Message("T", b""), "k")
    assert select_by_random(queues, Message("T", b""), None) in queues


def test_order_topic_conf_parsing() -> None:
    assert order_topic_queues("T", "broker-b:2;broker-a:1;") == [
        MessageQueueRef("T", "broker-b", 0),
        MessageQueueRef("T", "broker-b", 1),
        MessageQueueRef("T", "broker-a", 0),
    ]
    for bad in ("broker-a", "broker-a:x", ":3", "broker-a:-1", "a:b:3"):
        with pytest.raises(RemoteProtocolError, match="orderTopicConf"):
            order_topic_queues("T", bad)


# -- over TCP --------------------------------------------------------------------------------


async def test_sharding_key_lands_where_javas_hash_puts_it(namesrv: Any, broker: Any) -> None:
    await _create_topic(namesrv, broker, "OrdHash", 8)
    keys = ["customer-42", "customer-7", "customer-1001", "polygenelubricants"]
    async with AsyncProducer("PG_ord_hash", _addr(namesrv)) as producer:
        for key in keys:
            for i in range(3):
                result = await producer.send(Message("OrdHash", f"{key}-{i}"), sharding_key=key)
                assert result.queue == MessageQueueRef(
                    "OrdHash", BROKER, java_select_by_hash_reference(key, 8)
                )
    # And the broker stored them there, in send order.
    for key in keys:
        queue_id = java_select_by_hash_reference(key, 8)
        assert broker.store.get_max_offset_in_queue("OrdHash", queue_id) >= 3


async def test_selector_sees_the_topics_queues(namesrv: Any, broker: Any) -> None:
    await _create_topic(namesrv, broker, "OrdSel", 6)
    calls: list[tuple[list[MessageQueueRef], Message, Any]] = []

    def last_queue(queues: list[MessageQueueRef], message: Message, arg: Any) -> MessageQueueRef:
        calls.append((queues, message, arg))
        return queues[-1]

    message = Message("OrdSel", b"x")
    async with AsyncProducer("PG_ord_sel", _addr(namesrv)) as producer:
        result = await producer.send(message, selector=last_queue, arg={"order": 9})
        await producer.send_oneway(Message("OrdSel", b"y"), selector=last_queue, arg=1)
        # A batch to one queue (Java's send(Collection, MessageQueue)).
        batch = await producer.send_batch(
            [Message("OrdSel", b"b1"), Message("OrdSel", b"b2")],
            queue=MessageQueueRef("OrdSel", BROKER, 2),
        )
    assert calls[0] == (
        [MessageQueueRef("OrdSel", BROKER, i) for i in range(6)],
        message,
        {"order": 9},
    )
    assert calls[1][2] == 1
    assert result.queue == MessageQueueRef("OrdSel", BROKER, 5)
    assert batch.queue.queue_id == 2
    with anyio.fail_after(10):
        while broker.store.get_max_offset_in_queue("OrdSel", 5) < 2:  # the oneway one too
            await anyio.sleep(0.02)
    assert broker.store.get_max_offset_in_queue("OrdSel", 2) == 2


async def test_selector_sees_names_without_namespace(namesrv: Any, broker: Any) -> None:
    seen: list[MessageQueueRef] = []

    def first(queues: list[MessageQueueRef], message: Message, arg: Any) -> MessageQueueRef:
        seen.extend(queues)
        return queues[0]

    async with AsyncProducer("PG_ord_ns", _addr(namesrv), namespace="app1") as producer:
        # Not created yet: published through TBW102's route (4 queues per broker).
        result = await producer.send(Message("OrdNs", b"x"), selector=first)
    assert seen == [MessageQueueRef("OrdNs", BROKER, i) for i in range(4)]
    assert result.queue == MessageQueueRef("OrdNs", BROKER, 0)
    assert broker.store.get_max_offset_in_queue("app1%OrdNs", 0) == 1


async def test_bad_selection_arguments(namesrv: Any, broker: Any) -> None:
    await _create_topic(namesrv, broker, "OrdBad", 2)
    q = MessageQueueRef("OrdBad", BROKER, 0)
    async with AsyncProducer("PG_ord_bad", _addr(namesrv)) as producer:
        m = Message("OrdBad", b"x")
        with pytest.raises(ConfigError, match="sharding_key"):
            await producer.send(m, sharding_key="k", selector=select_by_hash)
        with pytest.raises(ConfigError, match="arg"):
            await producer.send(m, arg="k")
        with pytest.raises(ConfigError, match="queue"):
            await producer.send(m, queue=q, sharding_key="k")
        with pytest.raises(ConfigError, match="sharding_key=7"):
            await producer.send(m, sharding_key=7)  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match="not a MessageQueueRef"):
            await producer.send(m, selector=lambda qs, msg, arg: None)  # type: ignore[arg-type,return-value]
        with pytest.raises(ConfigError, match="batch's topic"):
            await producer.send_batch([m], queue=MessageQueueRef("Other", BROKER, 0))
        with pytest.raises(ZeroDivisionError):  # the selector's own error, unchanged
            await producer.send(m, selector=lambda qs, msg, arg: qs[1 // 0])


def _dead_address() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"  # closed again: connections are refused


async def test_selected_queue_is_not_retried_elsewhere(namesrv: Any, broker: Any) -> None:
    await _create_topic(namesrv, broker, "OrdNoRetry", 4)
    calls = 0

    def dead_broker(queues: list[MessageQueueRef], message: Message, arg: Any) -> MessageQueueRef:
        nonlocal calls
        calls += 1
        return next(q for q in queues if q.broker_name == "broker-z")

    # A second broker group whose master is gone: its queues are in the route, unreachable.
    # (Registered over a connection kept open: the name server drops a broker whose
    # registering connection closes.)
    async with ConnectionPool() as pool:
        resp = await pool.request(
            _addr(namesrv), register_request("broker-z", _dead_address(), {"OrdNoRetry": 4})
        )
        assert resp.code == 0, resp.remark
        async with AsyncProducer("PG_ord_noretry", _addr(namesrv), retries=2) as producer:
            with pytest.raises(TransportError):
                await producer.send(Message("OrdNoRetry", b"x"), selector=dead_broker)
            assert calls == 1
            # Nothing went to broker-a instead; an unselected send does fail over there.
            assert all(broker.store.get_max_offset_in_queue("OrdNoRetry", i) == 0 for i in range(4))
            for _ in range(4):
                result = await producer.send(Message("OrdNoRetry", b"y"))
                assert result.queue.broker_name == BROKER


@pytest.fixture
def ordered_cluster(tmp_path: Path, tmp_home: Path) -> Iterator[tuple[Any, Any]]:
    """A name server with orderMessageEnable=true (routes carry orderTopicConf) and a broker."""
    for namesrv in run_namesrv(name="test-namesrv-ordered", orderMessageEnable="true"):
        for broker in run_broker(broker_settings_for(tmp_path / "store", _addr(namesrv))):
            yield namesrv, broker


async def test_order_topic_config_decides_the_queues(ordered_cluster: tuple[Any, Any]) -> None:
    namesrv, broker = ordered_cluster
    await _create_topic(namesrv, broker, "OrdConf", 8)
    async with AsyncAdmin(_addr(namesrv)) as admin:
        await admin.put_kv_config("ORDER_TOPIC_CONFIG", "OrdConf", f"{BROKER}:3")
    seen: list[list[MessageQueueRef]] = []

    def record(queues: list[MessageQueueRef], message: Message, arg: Any) -> MessageQueueRef:
        seen.append(queues)
        return select_by_hash(queues, message, arg)

    async with AsyncProducer("PG_ord_conf", _addr(namesrv)) as producer:
        result = await producer.send(Message("OrdConf", b"k"), selector=record, arg="customer-42")
        assert seen == [[MessageQueueRef("OrdConf", BROKER, i) for i in range(3)]]
        assert result.queue.queue_id == java_select_by_hash_reference("customer-42", 3)
        # Unselected sends use the same three queues only.
        used = {(await producer.send(Message("OrdConf", b"r"))).queue.queue_id for _ in range(9)}
    assert used == {0, 1, 2}


async def test_update_topic_with_order_writes_the_order_conf(
    ordered_cluster: tuple[Any, Any],
) -> None:
    namesrv, broker = ordered_cluster
    async with AsyncAdmin(_addr(namesrv)) as admin:
        await admin.put_kv_config("ORDER_TOPIC_CONFIG", "OrdUpd", "broker-z:2")
        # One broker: its entry is replaced, the others kept (Java's createOrUpdateOrderConf).
        await admin.create_topic(
            "OrdUpd", broker_addr=f"127.0.0.1:{broker.port}", write_queue_nums=5, order=True
        )
        assert await admin.get_kv_config("ORDER_TOPIC_CONFIG", "OrdUpd") == (
            f"broker-z:2;{BROKER}:5"
        )
        # A whole cluster: the configuration is the cluster's brokers only.
        await admin.create_topic("OrdUpd", cluster="DefaultCluster", write_queue_nums=3, order=True)
        assert await admin.get_kv_config("ORDER_TOPIC_CONFIG", "OrdUpd") == f"{BROKER}:3"
        with anyio.fail_after(10):
            while (await admin.topic_route("OrdUpd")).order_topic_conf != f"{BROKER}:3":
                await anyio.sleep(0.05)


async def test_blocking_producer_takes_sharding_keys(namesrv: Any, broker: Any) -> None:
    await _create_topic(namesrv, broker, "OrdSync", 4)

    def send_blocking() -> list[int]:
        with Producer("PG_ord_sync", _addr(namesrv)) as producer:
            ids = [
                producer.send(Message("OrdSync", b"a"), sharding_key="customer-42").queue.queue_id,
                producer.send(
                    Message("OrdSync", b"b"), selector=lambda qs, m, a: qs[a], arg=3
                ).queue.queue_id,
                producer.send_batch(
                    [Message("OrdSync", b"c")], queue=MessageQueueRef("OrdSync", BROKER, 1)
                ).queue.queue_id,
            ]
            producer.send_oneway(Message("OrdSync", b"d"), sharding_key="customer-42")
            return ids

    ids = await anyio.to_thread.run_sync(send_blocking)
    assert ids == [java_select_by_hash_reference("customer-42", 4), 3, 1]
