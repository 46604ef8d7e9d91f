"""Admin requests (mqadmin's) against a real in-process broker over TCP.

The expected codes, remarks, extFields key sets and body shapes are those of the real Apache
4.9.8 broker in ``shared/captures/05_mqadmin.jsonl``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from rocketmq_py._transport import ConnectionPool
from rocketmq_py.protocol import fastjson
from rocketmq_py.protocol.bodies import (
    ConsumerConnection,
    ConsumerData,
    ConsumeStats,
    GroupList,
    HeartbeatData,
    KVTable,
    MessageQueue,
    ProducerConnection,
    ProducerData,
    SubscriptionData,
    SubscriptionGroupWrapper,
    TopicConfigSerializeWrapper,
    TopicList,
    TopicStatsTable,
)
from rocketmq_py.protocol.codes import LanguageCode, RequestCode, ResponseCode
from rocketmq_py.protocol.command import RemotingCommand
from tests.broker.broker_client import send_request
from tests.conftest import SHARED, broker_settings_for

pytestmark = pytest.mark.anyio

CAPTURE = SHARED / "captures" / "05_mqadmin.jsonl"
RC = RequestCode


# -- the captured Apache answers -----------------------------------------------------------------


def _capture_frames() -> list[dict[str, Any]]:
    with CAPTURE.open() as f:
        return [json.loads(line) for line in f]


def _captured_responses(request_code: int) -> list[dict[str, Any]]:
    return [
        d
        for d in _capture_frames()
        if d["server"] == "broker" and d["kind"] == "response" and d["requestCode"] == request_code
    ]


def _captured_request(code: int) -> dict[str, Any]:
    return next(
        d
        for d in _capture_frames()
        if d["server"] == "broker" and d["kind"] == "request" and d["code"] == code
    )


def _body(frame: dict[str, Any]) -> bytes:
    return base64.b64decode(frame["body_b64"])


def _key_shape(value: Any) -> Any:
    """The keys of a decoded fastjson value, recursively (object keys as their key sets)."""
    if isinstance(value, fastjson.ObjectKey):
        return ("key", frozenset(value.to_dict()))
    if isinstance(value, dict):
        return frozenset((_key_shape(k), _key_shape(v)) for k, v in value.items())
    return type(value).__name__


# -- fixtures and helpers ---------------------------------------------------------------------


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[Any]:
    """A broker on a free port pair, no name server, its store under tmp_path."""
    from broker.controller import BrokerController

    settings = broker_settings_for(tmp_path / "store", "")
    async with BrokerController(settings) as controller:  # type: ignore[arg-type]
        yield controller


@pytest.fixture
async def pool() -> AsyncIterator[ConnectionPool]:
    async with ConnectionPool() as p:
        yield p


@pytest.fixture
def registrations(broker: Any) -> Iterator[list[int]]:
    """Counts the broker's re-registration requests."""
    calls: list[int] = []
    original = broker.request_register

    def counting() -> None:
        calls.append(1)
        original()

    broker.request_register = counting
    yield calls
    broker.request_register = original


async def call(
    pool: ConnectionPool,
    broker: Any,
    code: int,
    header: dict[str, object] | None = None,
    body: bytes | None = None,
) -> RemotingCommand:
    request = RemotingCommand.request(code, header, body)
    request.language = LanguageCode.JAVA
    request.version = 409
    return await pool.request(f"127.0.0.1:{broker.port}", request, timeout=10)


def create_topic_header(topic: str, queues: int = 2, **extra: str) -> dict[str, object]:
    """What mqadmin updateTopic sends (the captured extFields, signature included)."""
    ext = dict(_captured_request(RC.UPDATE_AND_CREATE_TOPIC)["extFields"])
    ext.update(topic=topic, readQueueNums=str(queues), writeQueueNums=str(queues), **extra)
    return ext


async def create_topic(pool: ConnectionPool, broker: Any, topic: str, queues: int = 2) -> None:
    resp = await call(pool, broker, RC.UPDATE_AND_CREATE_TOPIC, create_topic_header(topic, queues))
    assert resp.code == ResponseCode.SUCCESS, resp.remark


async def send(pool: ConnectionPool, broker: Any, topic: str, queue_id: int, n: int = 1) -> None:
    for i in range(n):
        resp = await pool.request(
            f"127.0.0.1:{broker.port}",
            send_request(topic, b"m%d" % i, queue_id=queue_id),
            timeout=10,
        )
        assert resp.code == ResponseCode.SUCCESS, resp.remark


async def commit(
    pool: ConnectionPool, broker: Any, group: str, topic: str, *, queue_id: int, offset: int
) -> None:
    header = {"consumerGroup": group, "topic": topic, "queueId": queue_id, "commitOffset": offset}
    resp = await call(pool, broker, RC.UPDATE_CONSUMER_OFFSET, header)
    assert resp.code == ResponseCode.SUCCESS, resp.remark


async def heartbeat(
    pool: ConnectionPool,
    broker: Any,
    *,
    consumer_group: str | None = None,
    topics: tuple[str, ...] = (),
    producer_group: str | None = None,
) -> None:
    consumers = []
    if consumer_group is not None:
        subs = [SubscriptionData(topic=t) for t in (*topics, f"%RETRY%{consumer_group}")]
        consumers.append(ConsumerData(group_name=consumer_group, subscription_data_set=subs))
    producers = [ProducerData(producer_group)] if producer_group else []
    body = HeartbeatData(
        client_id="127.0.0.1@admin-test",
        consumer_data_set=consumers,
        producer_data_set=producers,
    ).to_json()
    resp = await call(pool, broker, RC.HEART_BEAT, body=body)
    assert resp.code == ResponseCode.SUCCESS, resp.remark


# -- topics ----------------------------------------------------------------------------------------


async def test_update_topic_answers_like_apache_and_persists(
    broker: Any, pool: ConnectionPool, registrations: list[int]
) -> None:
    captured = _captured_responses(RC.UPDATE_AND_CREATE_TOPIC)[0]
    resp = await call(pool, broker, RC.UPDATE_AND_CREATE_TOPIC, create_topic_header("AdminT"))

    assert (resp.code, resp.remark, resp.ext_fields, resp.body) == (
        captured["code"],
        captured["remark"],  # "not set any response code", as Java leaves it
        captured["extFields"],
        None,
    )
    config = broker.topics.select("AdminT")
    assert (config.read_queue_nums, config.write_queue_nums, config.perm) == (2, 2, 6)
    assert (config.topic_filter_type, config.order) == ("SINGLE_TAG", False)
    assert registrations
    stored = json.loads((Path(broker.store_root) / "config" / "topics.json").read_text())
    assert stored["topicConfigTable"]["AdminT"]["writeQueueNums"] == 2


async def test_update_topic_takes_order_and_attributes(broker: Any, pool: ConnectionPool) -> None:
    header = create_topic_header("AttrT", order="true", attributes="+message.type=FIFO")
    resp = await call(pool, broker, RC.UPDATE_AND_CREATE_TOPIC, header)
    assert resp.code == ResponseCode.SUCCESS
    config = broker.topics.select("AttrT")
    assert config.order is True
    assert config.attributes == {"message.type": "FIFO"}

    header = create_topic_header("AttrT", attributes="-message.type,+a=b")
    await call(pool, broker, RC.UPDATE_AND_CREATE_TOPIC, header)
    assert broker.topics.select("AttrT").attributes == {"a": "b"}

    resp = await call(
        pool, broker, RC.UPDATE_AND_CREATE_TOPIC, create_topic_header("AttrT", attributes="x")
    )
    assert resp.code == ResponseCode.INVALID_PARAMETER
    assert "'x'" in (resp.remark or "")


@pytest.mark.parametrize(
    ("topic", "remark"),
    [
        (
            "bad topic",
            "The specified topic contains illegal characters, allowing only ^[%|a-zA-Z0-9_-]+$",
        ),
        ("T" * 128, "The specified topic is longer than topic max length."),
        (" ", "The specified topic is blank."),
        ("TBW102", "The topic[TBW102] is conflict with system topic."),
        ("SCHEDULE_TOPIC_XXXX", "The topic[SCHEDULE_TOPIC_XXXX] is conflict with system topic."),
        ("broker-a", "The topic[broker-a] is conflict with system topic."),
        ("DefaultCluster", "The topic[DefaultCluster] is conflict with system topic."),
        ("rmq_sys_anything", "The topic[rmq_sys_anything] is conflict with system topic."),
    ],
)
async def test_update_topic_refuses_bad_and_system_names(
    broker: Any, pool: ConnectionPool, topic: str, remark: str
) -> None:
    resp = await call(pool, broker, RC.UPDATE_AND_CREATE_TOPIC, create_topic_header(topic))
    assert (resp.code, resp.remark) == (ResponseCode.SYSTEM_ERROR, remark)
    resp = await call(pool, broker, RC.DELETE_TOPIC_IN_BROKER, {"topic": topic})
    assert (resp.code, resp.remark) == (ResponseCode.SYSTEM_ERROR, remark)


async def test_update_topic_refuses_bad_queue_counts_perm_and_filter(
    broker: Any, pool: ConnectionPool
) -> None:
    resp = await call(pool, broker, RC.UPDATE_AND_CREATE_TOPIC, create_topic_header("NegT", -1))
    assert resp.code == ResponseCode.SYSTEM_ERROR
    assert "readQueueNums=-1" in (resp.remark or "")
    header = create_topic_header("PermT", perm="16")
    resp = await call(pool, broker, RC.UPDATE_AND_CREATE_TOPIC, header)
    assert (resp.code, resp.remark) == (
        ResponseCode.SYSTEM_ERROR,
        "The perm of topic[PermT] is invalid: 16",
    )
    header = create_topic_header("FilterT", topicFilterType="NO_SUCH")
    resp = await call(pool, broker, RC.UPDATE_AND_CREATE_TOPIC, header)
    assert resp.code == ResponseCode.SYSTEM_ERROR
    assert (resp.remark or "").endswith("TopicFilterType.NO_SUCH")
    for topic in ("NegT", "PermT", "FilterT"):
        assert broker.topics.select(topic) is None


async def test_missing_header_field_is_a_system_error(broker: Any, pool: ConnectionPool) -> None:
    resp = await call(pool, broker, RC.UPDATE_AND_CREATE_TOPIC, {"topic": "OnlyName"})
    assert resp.code == ResponseCode.SYSTEM_ERROR
    assert "defaultTopic" in (resp.remark or "")


async def test_get_all_topic_config(broker: Any, pool: ConnectionPool) -> None:
    await create_topic(pool, broker, "AllT", 3)
    resp = await call(pool, broker, RC.GET_ALL_TOPIC_CONFIG)
    assert resp.code == ResponseCode.SUCCESS
    assert resp.ext_fields == {}  # Java's empty GetAllTopicConfigResponseHeader
    wrapper = TopicConfigSerializeWrapper.from_json(resp.body or b"")
    assert wrapper.topic_config_table["AllT"].write_queue_nums == 3
    assert "TBW102" in wrapper.topic_config_table
    assert wrapper.data_version == broker.topics.data_version


async def test_delete_topic_drops_config_offsets_and_queues(
    broker: Any, pool: ConnectionPool, registrations: list[int]
) -> None:
    await create_topic(pool, broker, "GoneT")
    await send(pool, broker, "GoneT", 0, 2)
    await commit(pool, broker, "GoneG", "GoneT", queue_id=0, offset=1)
    assert broker.store.get_max_offset_in_queue("GoneT", 0) == 2
    registrations.clear()

    resp = await call(pool, broker, RC.DELETE_TOPIC_IN_BROKER, {"topic": "GoneT"})
    assert (resp.code, resp.remark, resp.ext_fields) == (ResponseCode.SUCCESS, None, None)
    assert broker.topics.select("GoneT") is None
    assert broker.offsets.query_offset("GoneG", "GoneT", 0) == -1
    assert broker.store.get_max_offset_in_queue("GoneT", 0) == 0
    assert registrations
    resp = await call(pool, broker, RC.GET_TOPIC_STATS_INFO, {"topic": "GoneT"})
    assert (resp.code, resp.remark) == (ResponseCode.TOPIC_NOT_EXIST, "topic[GoneT] not exist")


async def test_system_topic_list(broker: Any, pool: ConnectionPool) -> None:
    resp = await call(pool, broker, RC.GET_SYSTEM_TOPIC_LIST_FROM_BROKER)
    assert resp.code == ResponseCode.SUCCESS
    topics = set(TopicList.from_json(resp.body or b"").topic_list)
    assert {
        "TBW102",
        "SCHEDULE_TOPIC_XXXX",
        "OFFSET_MOVED_EVENT",
        "RMQ_SYS_TRANS_HALF_TOPIC",
    } <= topics
    assert {"DefaultCluster", "broker-a", "DefaultCluster_REPLY_TOPIC"} <= topics
    assert json.loads(resp.body or b"").keys() == {"topicList"}


# -- statistics ------------------------------------------------------------------------------------


async def test_topic_stats_match_the_captured_shape(broker: Any, pool: ConnectionPool) -> None:
    captured = _captured_responses(RC.GET_TOPIC_STATS_INFO)[0]
    await create_topic(pool, broker, "StatsT", 4)
    await send(pool, broker, "StatsT", 0, 3)
    await send(pool, broker, "StatsT", 2, 1)

    resp = await call(pool, broker, RC.GET_TOPIC_STATS_INFO, {"topic": "StatsT"})
    assert (resp.code, resp.remark, resp.ext_fields) == (0, None, captured["extFields"])
    body = resp.body or b""
    assert body.startswith(
        b'{"offsetTable":{{"brokerName":"broker-a","queueId":0,"topic":"StatsT"}:{'
    )
    assert _key_shape(fastjson.loads(body)) == _key_shape(fastjson.loads(_body(captured)))

    table = TopicStatsTable.from_json(body).offset_table
    assert sorted(mq.queue_id for mq in table) == [0, 1, 2, 3]
    q0 = table[MessageQueue("StatsT", "broker-a", 0)]
    assert (q0.min_offset, q0.max_offset) == (0, 3)
    assert q0.last_update_timestamp == broker.store.get_message_store_timestamp("StatsT", 0, 2) > 0
    q1 = table[MessageQueue("StatsT", "broker-a", 1)]
    assert (q1.min_offset, q1.max_offset, q1.last_update_timestamp) == (0, 0, 0)
    assert table[MessageQueue("StatsT", "broker-a", 2)].max_offset == 1


async def test_topic_stats_of_unknown_topic(broker: Any, pool: ConnectionPool) -> None:
    resp = await call(pool, broker, RC.GET_TOPIC_STATS_INFO, {"topic": "Nope"})
    assert (resp.code, resp.remark, resp.body) == (17, "topic[Nope] not exist", None)


async def test_consume_stats_match_the_captured_shape(broker: Any, pool: ConnectionPool) -> None:
    captured = _captured_responses(RC.GET_CONSUME_STATS)[0]
    await create_topic(pool, broker, "CsT", 2)
    await send(pool, broker, "CsT", 0, 3)
    await send(pool, broker, "CsT", 1, 2)
    await heartbeat(pool, broker, consumer_group="CsG", topics=("CsT",))  # creates %RETRY%CsG
    await commit(pool, broker, "CsG", "CsT", queue_id=0, offset=2)
    await commit(pool, broker, "CsG", "%RETRY%CsG", queue_id=0, offset=0)

    resp = await call(pool, broker, RC.GET_CONSUME_STATS, {"consumerGroup": "CsG"})
    assert (resp.code, resp.remark, resp.ext_fields) == (0, None, captured["extFields"])
    body = resp.body or b""
    assert body.startswith(
        b'{"consumeTps":0.0,"offsetTable":{{"brokerName":"broker-a","queueId":0,'
    )
    assert _key_shape(fastjson.loads(body)) == _key_shape(fastjson.loads(_body(captured)))

    stats = ConsumeStats.from_json(body)
    assert set(stats.offset_table) == {
        MessageQueue("CsT", "broker-a", 0),
        MessageQueue("CsT", "broker-a", 1),
        MessageQueue("%RETRY%CsG", "broker-a", 0),
    }
    q0 = stats.offset_table[MessageQueue("CsT", "broker-a", 0)]
    assert (q0.broker_offset, q0.consumer_offset) == (3, 2)
    assert q0.last_timestamp == broker.store.get_message_store_timestamp("CsT", 0, 1) > 0
    q1 = stats.offset_table[MessageQueue("CsT", "broker-a", 1)]
    # Subscribed but never committed: reported, from 0.
    assert (q1.broker_offset, q1.consumer_offset, q1.last_timestamp) == (2, 0, 0)
    assert stats.diff_total == 1 + 2

    resp = await call(pool, broker, RC.GET_CONSUME_STATS, {"consumerGroup": "CsG", "topic": "CsT"})
    assert {mq.topic for mq in ConsumeStats.from_json(resp.body or b"").offset_table} == {"CsT"}
    resp = await call(
        pool, broker, RC.GET_CONSUME_STATS, {"consumerGroup": "CsG", "topicList": "CsT;Other"}
    )
    assert {mq.topic for mq in ConsumeStats.from_json(resp.body or b"").offset_table} == {"CsT"}


async def test_consume_stats_of_an_offline_group_come_from_its_offsets(
    broker: Any, pool: ConnectionPool
) -> None:
    await create_topic(pool, broker, "OffT", 1)
    await send(pool, broker, "OffT", 0, 2)
    await commit(pool, broker, "OffG", "OffT", queue_id=0, offset=2)
    await commit(
        pool, broker, "OffG", "NoSuchTopic", queue_id=0, offset=5
    )  # skipped: no topic config
    resp = await call(pool, broker, RC.GET_CONSUME_STATS, {"consumerGroup": "OffG"})
    stats = ConsumeStats.from_json(resp.body or b"")
    assert list(stats.offset_table) == [MessageQueue("OffT", "broker-a", 0)]
    assert stats.offset_table[MessageQueue("OffT", "broker-a", 0)].diff == 0

    resp = await call(pool, broker, RC.GET_CONSUME_STATS, {"consumerGroup": "Unknown"})
    assert (resp.code, resp.body) == (0, b'{"consumeTps":0.0,"offsetTable":{}}')


async def test_consume_stats_skip_topics_the_online_group_dropped(
    broker: Any, pool: ConnectionPool
) -> None:
    await create_topic(pool, broker, "OldT", 1)
    await create_topic(pool, broker, "NewT", 1)
    await commit(pool, broker, "MovG", "OldT", queue_id=0, offset=0)
    await heartbeat(pool, broker, consumer_group="MovG", topics=("NewT",))
    resp = await call(pool, broker, RC.GET_CONSUME_STATS, {"consumerGroup": "MovG"})
    topics = {mq.topic for mq in ConsumeStats.from_json(resp.body or b"").offset_table}
    assert topics == {"NewT", "%RETRY%MovG"}


# -- connections -----------------------------------------------------------------------------------


async def test_consumer_connection_list(broker: Any, pool: ConnectionPool) -> None:
    captured = _captured_responses(RC.GET_CONSUMER_CONNECTION_LIST)[0]
    resp = await call(pool, broker, RC.GET_CONSUMER_CONNECTION_LIST, {"consumerGroup": "ConG"})
    assert (resp.code, resp.remark, resp.ext_fields, resp.body) == (
        captured["code"],
        "the consumer group[ConG] not online",
        captured["extFields"],
        None,
    )

    await create_topic(pool, broker, "ConT")
    await heartbeat(pool, broker, consumer_group="ConG", topics=("ConT",))
    resp = await call(pool, broker, RC.GET_CONSUMER_CONNECTION_LIST, {"consumerGroup": "ConG"})
    assert (resp.code, resp.remark) == (ResponseCode.SUCCESS, None)
    raw = json.loads(resp.body or b"")
    assert list(raw) == [
        "connectionSet",
        "consumeFromWhere",
        "consumeType",
        "messageModel",
        "subscriptionTable",
    ]
    assert raw["connectionSet"][0].keys() == {"clientAddr", "clientId", "language", "version"}
    body = ConsumerConnection.from_json(resp.body or b"")
    (conn,) = body.connection_set
    assert (conn.client_id, conn.language, conn.version) == (
        "127.0.0.1@admin-test",
        LanguageCode.JAVA,
        409,
    )
    assert conn.client_addr.startswith("127.0.0.1:")
    assert set(body.subscription_table) == {"ConT", "%RETRY%ConG"}
    assert raw["consumeType"] == "CONSUME_PASSIVELY"
    assert raw["messageModel"] == "CLUSTERING"
    assert raw["consumeFromWhere"] == "CONSUME_FROM_LAST_OFFSET"


async def test_producer_connection_list(broker: Any, pool: ConnectionPool) -> None:
    resp = await call(pool, broker, RC.GET_PRODUCER_CONNECTION_LIST, {"producerGroup": "PG1"})
    assert (resp.code, resp.remark) == (
        ResponseCode.SYSTEM_ERROR,
        "the producer group[PG1] not exist",
    )
    await heartbeat(pool, broker, producer_group="PG1")
    resp = await call(pool, broker, RC.GET_PRODUCER_CONNECTION_LIST, {"producerGroup": "PG1"})
    assert resp.code == ResponseCode.SUCCESS
    (conn,) = ProducerConnection.from_json(resp.body or b"").connection_set
    assert conn.client_id == "127.0.0.1@admin-test"
    assert json.loads(resp.body or b"").keys() == {"connectionSet"}


async def test_query_topic_consume_by_who(broker: Any, pool: ConnectionPool) -> None:
    await create_topic(pool, broker, "WhoT")
    await heartbeat(pool, broker, consumer_group="OnlineG", topics=("WhoT",))
    await commit(pool, broker, "CommittedG", "WhoT", queue_id=0, offset=0)
    resp = await call(pool, broker, RC.QUERY_TOPIC_CONSUME_BY_WHO, {"topic": "WhoT"})
    assert resp.code == ResponseCode.SUCCESS
    assert resp.body == b'{"groupList":["CommittedG","OnlineG"]}'
    assert GroupList.from_json(resp.body).group_list == ["CommittedG", "OnlineG"]


# -- subscription groups ---------------------------------------------------------------------------


async def test_subscription_group_create_list_delete(broker: Any, pool: ConnectionPool) -> None:
    body = b'{"groupName":"SubG","retryMaxTimes":3,"consumeBroadcastEnable":false}'
    resp = await call(pool, broker, RC.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, body=body)
    assert (resp.code, resp.remark) == (ResponseCode.SUCCESS, None)
    config = broker.groups.get("SubG")
    assert (config.retry_max_times, config.consume_broadcast_enable) == (3, False)

    resp = await call(pool, broker, RC.GET_ALL_SUBSCRIPTIONGROUP_CONFIG)
    assert resp.code == ResponseCode.SUCCESS
    wrapper = SubscriptionGroupWrapper.from_json(resp.body or b"")
    assert wrapper.subscription_group_table["SubG"]["retryMaxTimes"] == 3
    assert wrapper.data_version == broker.groups.data_version
    assert wrapper.to_json() == resp.body

    await commit(pool, broker, "SubG", "SomeT", queue_id=0, offset=4)
    header = {"groupName": "SubG", "removeOffset": "false"}
    resp = await call(pool, broker, RC.DELETE_SUBSCRIPTIONGROUP, header)
    assert (resp.code, resp.remark) == (ResponseCode.SUCCESS, None)
    assert broker.groups.get("SubG") is None
    assert broker.offsets.query_offset("SubG", "SomeT", 0) == 4

    await call(pool, broker, RC.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, body=body)
    resp = await call(
        pool, broker, RC.DELETE_SUBSCRIPTIONGROUP, {"groupName": "SubG", "cleanOffset": "true"}
    )
    assert resp.code == ResponseCode.SUCCESS
    assert broker.offsets.query_offset("SubG", "SomeT", 0) == -1


async def test_subscription_group_with_a_bad_name_is_refused(
    broker: Any, pool: ConnectionPool
) -> None:
    body = b'{"groupName":"bad group"}'
    resp = await call(pool, broker, RC.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, body=body)
    assert resp.code == ResponseCode.SYSTEM_ERROR
    assert "illegal characters" in (resp.remark or "")
    assert broker.groups.get("bad group") is None


# -- broker config and runtime info ----------------------------------------------------------------


async def test_broker_config_get_and_update(broker: Any, pool: ConnectionPool) -> None:
    resp = await call(pool, broker, RC.GET_BROKER_CONFIG)
    assert resp.code == ResponseCode.SUCCESS
    assert resp.ext_fields is not None and resp.ext_fields.keys() == {"version"}
    assert json.loads(resp.ext_fields["version"])["counter"] == 0
    text = (resp.body or b"").decode()
    assert "brokerName=broker-a\n" in text and "autoCreateTopicEnable=true\n" in text

    update = b"autoCreateTopicEnable=false\nmaxMessageSize=1024\nnotAKey=whatever\n"
    resp = await call(pool, broker, RC.UPDATE_BROKER_CONFIG, body=update)
    assert (resp.code, resp.remark) == (ResponseCode.SUCCESS, None)
    assert broker.settings["maxMessageSize"] == 1024
    assert broker.topics.auto_create_topic_enable is False

    resp = await call(pool, broker, RC.GET_BROKER_CONFIG)
    assert json.loads((resp.ext_fields or {})["version"])["counter"] == 1
    text = (resp.body or b"").decode()
    assert "autoCreateTopicEnable=false\n" in text and "maxMessageSize=1024\n" in text
    assert "notAKey" not in text


async def test_update_broker_config_refuses_bad_values_whole(
    broker: Any, pool: ConnectionPool
) -> None:
    update = b"maxMessageSize=2048\ndefaultTopicQueueNums=abc\n"
    resp = await call(pool, broker, RC.UPDATE_BROKER_CONFIG, body=update)
    assert resp.code == ResponseCode.SYSTEM_ERROR
    assert "defaultTopicQueueNums" in (resp.remark or "") and "abc" in (resp.remark or "")
    assert broker.settings["maxMessageSize"] != 2048  # nothing applied

    resp = await call(pool, broker, RC.UPDATE_BROKER_CONFIG, body=b"rocketmqHome=/tmp\n")
    assert (resp.code, resp.remark) == (
        ResponseCode.NO_PERMISSION,
        "Can not update config in black list.",
    )


async def test_broker_permission_change_re_registers(
    broker: Any, pool: ConnectionPool, registrations: list[int]
) -> None:
    before = broker.topics.data_version.counter
    resp = await call(pool, broker, RC.UPDATE_BROKER_CONFIG, body=b"brokerPermission=4")
    assert resp.code == ResponseCode.SUCCESS
    assert broker.topics.data_version.counter == before + 1
    assert registrations


async def test_a_slave_refuses_changes(broker: Any, pool: ConnectionPool) -> None:
    resp = await call(pool, broker, RC.UPDATE_BROKER_CONFIG, body=b"brokerRole=SLAVE")
    assert resp.code == ResponseCode.SUCCESS
    remark = (
        "Can't modify topic or subscription group from slave broker, "
        "please execute it from master broker."
    )
    for code, header, body in (
        (RC.UPDATE_AND_CREATE_TOPIC, create_topic_header("SlaveT"), None),
        (RC.DELETE_TOPIC_IN_BROKER, {"topic": "SlaveT"}, None),
        (RC.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, None, b'{"groupName":"SlaveG"}'),
        (RC.DELETE_SUBSCRIPTIONGROUP, {"groupName": "SlaveG"}, None),
    ):
        resp = await call(pool, broker, code, header, body)
        assert (resp.code, resp.remark) == (ResponseCode.SYSTEM_ERROR, remark), code
    assert broker.topics.select("SlaveT") is None


async def test_runtime_info_has_the_keys_mqadmin_reads(broker: Any, pool: ConnectionPool) -> None:
    captured = _captured_responses(RC.GET_BROKER_RUNTIME_INFO)[0]
    await create_topic(pool, broker, "RtT", 1)
    await send(pool, broker, "RtT", 0, 3)

    resp = await call(pool, broker, RC.GET_BROKER_RUNTIME_INFO)
    assert (resp.code, resp.remark, resp.ext_fields) == (0, None, captured["extFields"])
    raw = json.loads(resp.body or b"")
    assert raw.keys() == {"table"}
    table = KVTable.from_json(resp.body or b"").table
    assert all(isinstance(v, str) for v in raw["table"].values())

    java_keys = set(json.loads(_body(captured))["table"])
    per_path = {
        k for k in java_keys if k.startswith(("commitLogDiskRatio_", "scheduleMessageOffset_"))
    }
    assert java_keys - per_path <= table.keys()
    assert any(k.startswith("commitLogDiskRatio_") for k in table)
    five_x = {
        "brokerActive",
        "getTransferredTps",
        "timerCongestNum",
        "timerDequeueTps",
        "timerEnqueueTps",
        "timerOffsetBehind",
        "timerReadBehind",
    }
    assert five_x <= table.keys()

    assert (table["brokerVersionDesc"], table["brokerVersion"]) == ("V4_9_8", "409")
    assert table["msgPutTotalTodayNow"] == "3"
    assert table["msgPutTotalTodayMorning"] == table["msgPutTotalYesterdayMorning"] == "0"
    for key in ("putTps", "getTransferedTps", "getTransferredTps", "getTotalTps"):
        rates = table[key].split(" ")
        assert len(rates) == 3 and all(float(r) >= 0 for r in rates), (key, table[key])
    assert 0 <= float(table["commitLogDiskRatio"]) <= 1
    assert int(table["earliestMessageTimeStamp"]) > 0
    assert table["commitLogDirCapacity"].startswith("Total : ")
    assert int(table["commitLogMaxOffset"]) > int(table["commitLogMinOffset"]) == 0
    assert table["runtime"].startswith("[ 0 days, 0 hours, ")
    assert table["brokerActive"] == "true"


# -- bodies against the captures -------------------------------------------------------------------


def test_captured_stats_bodies_round_trip() -> None:
    for frame in _captured_responses(RC.GET_TOPIC_STATS_INFO):
        body = _body(frame)
        table = TopicStatsTable.from_json(body)
        # Same entries (our encoder sorts the queues; Java's order is a hash order).
        assert fastjson.loads(table.to_json()) == fastjson.loads(body)
    for frame in _captured_responses(RC.GET_CONSUME_STATS):
        body = _body(frame)
        stats = ConsumeStats.from_json(body)
        assert fastjson.loads(stats.to_json()) == fastjson.loads(body)
        assert ConsumeStats.from_json(stats.to_json()) == stats


def test_stats_accept_string_keys() -> None:
    """fastjson's WriteNonStringKeyAsString form: the queue's JSON as a quoted key."""
    body = (
        b'{"offsetTable":{"{\\"brokerName\\":\\"b\\",\\"queueId\\":1,\\"topic\\":\\"T\\"}":'
        b'{"lastUpdateTimestamp":5,"maxOffset":2,"minOffset":1}},"topicPutTps":1.5}'
    )
    table = TopicStatsTable.from_json(body)
    offset = table.offset_table[MessageQueue("T", "b", 1)]
    assert (offset.min_offset, offset.max_offset, offset.last_update_timestamp) == (1, 2, 5)
    assert table.topic_put_tps == 1.5
