"""Typed JSON bodies: Java's byte forms, other clients' variants, malformed input, captures."""

from __future__ import annotations

import base64
import json
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rocketmq_py.exceptions import RemoteProtocolError
from rocketmq_py.protocol.bodies import (
    BrokerData,
    ClusterInfo,
    ConsumeFromWhere,
    ConsumerData,
    ConsumerListBody,
    ConsumeType,
    DataVersion,
    HeartbeatData,
    KVTable,
    LockBatchRequestBody,
    LockBatchResponseBody,
    MessageModel,
    MessageQueue,
    ProducerData,
    QueueData,
    RegisterBrokerBody,
    SubscriptionData,
    TopicConfig,
    TopicConfigSerializeWrapper,
    TopicList,
    TopicRouteData,
    UnlockBatchRequestBody,
)
from rocketmq_py.protocol.bodies import register as register_bodies
from rocketmq_py.protocol.codes import MQVersion
from rocketmq_py.protocol.fastjson import ObjectKey, loads

CAPTURES = Path(__file__).resolve().parents[2].parent / "shared" / "captures"

ROUTE_STANDARD = (
    b'{"brokerDatas":[{"brokerAddrs":{"0":"127.0.0.1:40911"},"brokerName":"broker-a",'
    b'"cluster":"DefaultCluster"}],"filterServerTable":{},"queueDatas":[{"brokerName":"broker-a",'
    b'"perm":7,"readQueueNums":8,"topicSysFlag":0,"writeQueueNums":8}]}'
)
ROUTE_BARE = ROUTE_STANDARD.replace(b'{"0":', b"{0:")


def _route() -> TopicRouteData:
    return TopicRouteData(
        broker_datas=[
            BrokerData(
                cluster="DefaultCluster",
                broker_name="broker-a",
                broker_addrs={0: "127.0.0.1:40911"},
            )
        ],
        queue_datas=[QueueData("broker-a", read_queue_nums=8, write_queue_nums=8, perm=7)],
    )


# -- namesrv bodies ---------------------------------------------------------------------------


def test_route_both_forms() -> None:
    route = _route()
    assert route.to_json(standard=True) == ROUTE_STANDARD
    assert route.to_json(standard=False) == ROUTE_BARE
    assert route.to_json() == ROUTE_BARE
    assert json.loads(ROUTE_STANDARD)  # the standard form is strict JSON
    assert TopicRouteData.from_json(ROUTE_STANDARD) == route
    assert TopicRouteData.from_json(ROUTE_BARE) == route
    assert route.broker_datas[0].master_addr() == "127.0.0.1:40911"


def test_route_5x_fields_and_sorted_broker_ids() -> None:
    route = TopicRouteData(
        broker_datas=[
            BrokerData(
                cluster="C",
                broker_name="b",
                broker_addrs={2: "h:3", 0: "h:1", 1: "h:2"},
                enable_acting_master=False,
                zone_name="z",
            )
        ],
        queue_datas=[QueueData("b", 4, 4, 6, topic_sys_flag=1)],
        filter_server_table={"h:1": ["f:1"]},
        order_topic_conf="b:4",
        topic_queue_mapping_by_broker={"b": {"bname": "b", "epoch": 1}},
    )
    assert route.to_json(standard=True) == (
        b'{"brokerDatas":[{"brokerAddrs":{"0":"h:1","1":"h:2","2":"h:3"},"brokerName":"b",'
        b'"cluster":"C","enableActingMaster":false,"zoneName":"z"}],'
        b'"filterServerTable":{"h:1":["f:1"]},"orderTopicConf":"b:4","queueDatas":[{"brokerName":'
        b'"b","perm":6,"readQueueNums":4,"topicSysFlag":1,"writeQueueNums":4}],'
        b'"topicQueueMappingByBroker":{"b":{"bname":"b","epoch":1}}}'
    )
    for standard in (True, False):
        assert TopicRouteData.from_json(route.to_json(standard=standard)) == route


def test_queue_data_accepts_old_sys_flag_spelling() -> None:
    old = b'{"brokerName":"b","perm":6,"readQueueNums":4,"topicSynFlag":3,"writeQueueNums":4}'
    assert QueueData.from_json(old).topic_sys_flag == 3


def test_cluster_info_is_always_bare() -> None:
    body = (
        b'{"brokerAddrTable":{"broker-a":{"brokerAddrs":{0:"127.0.0.1:40911"},'
        b'"brokerName":"broker-a","cluster":"DefaultCluster"}},'
        b'"clusterAddrTable":{"DefaultCluster":["broker-a"]}}'
    )
    info = ClusterInfo.from_json(body)
    assert info.broker_addr_table["broker-a"].broker_addrs == {0: "127.0.0.1:40911"}
    assert info.cluster_addr_table == {"DefaultCluster": ["broker-a"]}
    assert info.to_json() == body
    assert ClusterInfo.from_json(body.replace(b"{0:", b'{"0":')) == info


def test_topic_list_kv_table_consumer_list() -> None:
    assert TopicList(["A", "B"]).to_json() == b'{"topicList":["A","B"]}'
    with_addr = TopicList(["A"], broker_addr="h:1")
    assert with_addr.to_json() == b'{"brokerAddr":"h:1","topicList":["A"]}'
    assert TopicList.from_json(with_addr.to_json()) == with_addr
    table = KVTable({"b": "1", "a": "x\u00fc"})
    assert table.to_json() == '{"table":{"b":"1","a":"x\u00fc"}}'.encode()
    assert KVTable.from_json(table.to_json()) == table
    # ali-ons style numbers and booleans become Java's text
    assert KVTable.from_json(b'{"table":{"n":15,"t":true}}').table == {"n": "15", "t": "true"}
    body = ConsumerListBody(["192.0.2.2@1", "192.0.2.2@2"])
    assert body.to_json() == b'{"consumerIdList":["192.0.2.2@1","192.0.2.2@2"]}'
    assert ConsumerListBody.from_json(body.to_json()) == body


def test_data_version() -> None:
    v4 = DataVersion(counter=12, timestamp=1700000000000)
    assert v4.to_json() == b'{"counter":12,"timestamp":1700000000000}'
    v5 = DataVersion(counter=12, timestamp=1700000000000, state_version=0)
    assert v5.to_json() == b'{"counter":12,"stateVersion":0,"timestamp":1700000000000}'
    assert DataVersion.from_json(v5.to_json()) == v5
    assert DataVersion.from_json(v4.to_json()) == v4
    assert v4 != v5
    assert DataVersion.from_json(b"{}") == DataVersion(0, 0)


def test_topic_config_json() -> None:
    config = TopicConfig("TopicTest", 4, 4)
    assert config.to_json() == (
        b'{"order":false,"perm":6,"readQueueNums":4,"topicFilterType":"SINGLE_TAG",'
        b'"topicName":"TopicTest","topicSysFlag":0,"writeQueueNums":4}'
    )
    v5 = TopicConfig("T", attributes={"+message.type": "NORMAL"})
    assert v5.to_json().startswith(b'{"attributes":{"+message.type":"NORMAL"},"order":false')
    assert TopicConfig.from_json(v5.to_json()) == v5
    assert TopicConfig.from_json(b'{"topicName":"T"}') == TopicConfig("T", 16, 16, 6)


def test_topic_config_text_form() -> None:
    config = TopicConfig("T", 8, 4, 7, "MULTI_TAG", topic_sys_flag=1, order=True)
    assert config.encode() == "T 8 4 7 MULTI_TAG"
    decoded = TopicConfig.decode("T 8 4 7 MULTI_TAG")
    assert decoded == TopicConfig("T", 8, 4, 7, "MULTI_TAG")  # sys flag and order are not sent
    v5 = TopicConfig("T", 8, 4, 6, attributes={"k": "a b"})
    assert v5.encode() == 'T 8 4 6 SINGLE_TAG {"k":"a b"}'
    assert v5.encode(with_attributes=False) == "T 8 4 6 SINGLE_TAG"
    assert TopicConfig.decode(v5.encode()) == v5
    assert TopicConfig.decode("T 8 4 6 SINGLE_TAG ").attributes is None  # 5.x, null attributes
    assert TopicConfig.decode("T 8 4 6 SINGLE_TAG {}").attributes == {}
    assert TopicConfig.decode("T 8 4 6 SINGLE_TAG {broken").attributes is None  # as Java


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("T 8 4 6", "needs 5"),
        ("", "needs 5"),
        ("T x 4 6 SINGLE_TAG", r"TopicConfig\('T'\)\.readQueueNums: expected an integer, got 'x'"),
        ("T 8 4 rw SINGLE_TAG", r"\.perm: expected an integer, got 'rw'"),
    ],
)
def test_topic_config_text_errors(text: str, message: str) -> None:
    with pytest.raises(RemoteProtocolError, match=message):
        TopicConfig.decode(text)


def _register_body(attributes: dict[str, str] | None = None) -> RegisterBrokerBody:
    table = {
        name: TopicConfig(name, 4, 4, 6, attributes=attributes)
        for name in ("TopicTest", "%RETRY%G", "T\u00fc")
    }
    wrapper = TopicConfigSerializeWrapper(
        data_version=DataVersion(counter=3, timestamp=1700000000000), topic_config_table=table
    )
    return RegisterBrokerBody(topic_config_serialize_wrapper=wrapper, filter_server_list=["f:1"])


def test_register_broker_json() -> None:
    body = _register_body()
    data = body.encode(compress=False, broker_version=MQVersion.V4_9_8)
    assert data == body.to_json()
    assert data.startswith(
        b'{"filterServerList":["f:1"],"topicConfigSerializeWrapper":{"dataVersion":'
        b'{"counter":3,"timestamp":1700000000000},"topicConfigTable":{"TopicTest":{'
    )
    assert not RegisterBrokerBody.is_compressed(data)
    assert RegisterBrokerBody.decode(data, MQVersion.V4_9_8) == body
    assert RegisterBrokerBody.decode(data, MQVersion.V5_3_3) == body


def test_register_broker_compressed_4x() -> None:
    body = _register_body(attributes={"a": "b"})
    data = body.encode(compress=True, broker_version=MQVersion.V4_9_8)
    assert data[:2] == b"\x78\xda"  # Deflater.BEST_COMPRESSION
    assert RegisterBrokerBody.is_compressed(data)
    raw = zlib.decompress(data)
    (dv_len,) = struct.unpack_from(">i", raw)
    assert raw[4 : 4 + dv_len] == b'{"counter":3,"timestamp":1700000000000}'
    assert b"TopicTest 4 4 6 SINGLE_TAG\x00" in raw  # no attributes for a 4.x name server
    assert raw.endswith(b'\x00\x00\x00\x07["f:1"]')
    decoded = RegisterBrokerBody.decode(data, MQVersion.V4_9_8)
    expected = _register_body()
    assert decoded == expected


def test_register_broker_compressed_5x() -> None:
    body = _register_body(attributes={"+message.type": "NORMAL"})
    body.topic_config_serialize_wrapper.topic_queue_mapping_info_map = {
        "TopicTest": {"bname": "broker-a", "epoch": 0, "topic": "TopicTest", "totalQueues": 4}
    }
    data = body.encode(compress=True, broker_version=MQVersion.V5_0_0)
    decoded = RegisterBrokerBody.decode(data, MQVersion.V5_3_3)
    assert decoded == body
    # Read as a 4.x body the mapping section is simply not looked at.
    old = RegisterBrokerBody.decode(data, MQVersion.V4_9_8)
    assert old.topic_config_serialize_wrapper.topic_queue_mapping_info_map is None
    # A 5.x body with nothing to map still carries the (empty) section.
    empty = _register_body().encode(compress=True, broker_version=MQVersion.V5_0_0)
    assert zlib.decompress(empty).endswith(b'["f:1"]\x00\x00\x00\x00')
    assert RegisterBrokerBody.decode(empty, MQVersion.V5_0_0) == RegisterBrokerBody(
        topic_config_serialize_wrapper=TopicConfigSerializeWrapper(
            data_version=_register_body().topic_config_serialize_wrapper.data_version,
            topic_config_table=_register_body().topic_config_serialize_wrapper.topic_config_table,
            topic_queue_mapping_info_map={},
        ),
        filter_server_list=["f:1"],
    )


def test_register_broker_5x_json_wrapper() -> None:
    body = (
        b'{"filterServerList":[],"topicConfigSerializeWrapper":{"dataVersion":{"counter":12,'
        b'"stateVersion":0,"timestamp":1700000000000},"mappingDataVersion":{"counter":0,'
        b'"stateVersion":0,"timestamp":1700000000001},"topicConfigTable":{"TopicTest":{'
        b'"attributes":{},"order":false,"perm":6,"readQueueNums":4,"topicFilterType":"SINGLE_TAG",'
        b'"topicName":"TopicTest","topicSysFlag":0,"writeQueueNums":4}},'
        b'"topicQueueMappingDetailMap":{},"topicQueueMappingInfoMap":{}}}'
    )
    decoded = RegisterBrokerBody.decode(body, MQVersion.V5_3_3)
    wrapper = decoded.topic_config_serialize_wrapper
    assert wrapper.data_version == DataVersion(12, 1700000000000, 0)
    assert wrapper.mapping_data_version == DataVersion(0, 1700000000001, 0)
    assert wrapper.topic_config_table["TopicTest"].attributes == {}
    assert decoded.to_json() == body


def _deflate_parts(*parts: bytes) -> bytes:
    return zlib.compress(b"".join(parts), 9)


def _chunk(data: bytes) -> bytes:
    return struct.pack(">i", len(data)) + data


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x78\xda" + b"garbage", "does not inflate"),
        (_deflate_parts(b"\x00\x00"), "truncated before the length of the DataVersion"),
        (_deflate_parts(b"\x00\x00\x00\x09{}"), "DataVersion of 9 bytes overruns"),
        (_deflate_parts(_chunk(b"{}")), "truncated before the topic count"),
        (_deflate_parts(_chunk(b"{}"), b"\x00\x00\x00\x01", _chunk(b"T 1")), "needs 5"),
        (_deflate_parts(_chunk(b"{}"), b"\x00\x00\x00\x00"), "truncated before the length"),
        (_deflate_parts(_chunk(b"[]")), "DataVersion: expected a JSON object"),
        (_deflate_parts(_chunk(b"{}"), b"\xff\xff\xff\xff"), "truncated before the length"),
    ],
)
def test_register_broker_compressed_errors(data: bytes, message: str) -> None:
    with pytest.raises(RemoteProtocolError, match=message):
        RegisterBrokerBody.decode(data, MQVersion.V4_9_8)


def test_register_broker_compressed_mapping_errors() -> None:
    base = [_chunk(b"{}"), b"\x00\x00\x00\x00", _chunk(b"[]")]
    with pytest.raises(RemoteProtocolError, match="truncated before the topic queue mapping"):
        RegisterBrokerBody.decode(_deflate_parts(*base), MQVersion.V5_0_0)
    no_topic = _deflate_parts(*base, b"\x00\x00\x00\x01", _chunk(b'{"bname":"b"}'))
    with pytest.raises(RemoteProtocolError, match="required field 'topic' is missing"):
        RegisterBrokerBody.decode(no_topic, MQVersion.V5_0_0)
    # A broken filter server list is ignored, as Java does.
    odd = _deflate_parts(_chunk(b"{}"), b"\x00\x00\x00\x00", _chunk(b"{nope"))
    assert RegisterBrokerBody.decode(odd, MQVersion.V4_9_8).filter_server_list == []


def test_register_broker_zlib_bomb_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(register_bodies, "MAX_INFLATED_REGISTER_BODY", 1000)
    bomb = zlib.compress(b"\x00" * 5000, 9)
    with pytest.raises(RemoteProtocolError, match="inflates beyond 1000 bytes"):
        RegisterBrokerBody.decode(bomb, MQVersion.V4_9_8)


@pytest.mark.parametrize("body", [b"", b"{", b"x", b"[]", b"\x78\x9c", b"{\x9c"], ids=repr)
def test_register_broker_garbage(body: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        RegisterBrokerBody.decode(body, MQVersion.V4_9_8)


def test_zlib_detection() -> None:
    for level in range(10):
        assert RegisterBrokerBody.is_compressed(zlib.compress(b"{}", level))
    for text in (b"{}", b" {}", b"\n{}", b"[", b"x", b""):
        assert not RegisterBrokerBody.is_compressed(text)


# -- client bodies ----------------------------------------------------------------------------

JAVA_HEARTBEAT = (
    b'{"clientID":"192.0.2.2@peer-consumer-0594514b","consumerDataSet":[{"consumeFromWhere":'
    b'"CONSUME_FROM_LAST_OFFSET","consumeType":"CONSUME_PASSIVELY","groupName":"GID_java",'
    b'"messageModel":"CLUSTERING","subscriptionDataSet":[{"classFilterMode":false,"codeSet":[],'
    b'"expressionType":"TAG","subString":"*","subVersion":1795634037427,"tagsSet":[],'
    b'"topic":"CapJavaAll"}],"unitMode":false}],"producerDataSet":[{"groupName":'
    b'"CLIENT_INNER_PRODUCER"}]}'
)


def test_java_heartbeat() -> None:
    heartbeat = HeartbeatData.from_json(JAVA_HEARTBEAT)
    assert heartbeat == HeartbeatData(
        client_id="192.0.2.2@peer-consumer-0594514b",
        producer_data_set=[ProducerData("CLIENT_INNER_PRODUCER")],
        consumer_data_set=[
            ConsumerData(
                group_name="GID_java",
                consume_type=ConsumeType.CONSUME_PASSIVELY,
                message_model=MessageModel.CLUSTERING,
                consume_from_where=ConsumeFromWhere.CONSUME_FROM_LAST_OFFSET,
                subscription_data_set=[
                    SubscriptionData(topic="CapJavaAll", sub_version=1795634037427)
                ],
            )
        ],
    )
    assert heartbeat.to_json() == JAVA_HEARTBEAT


def test_cpp_heartbeat_ordinals_and_string_numbers() -> None:
    body = (
        b'{"clientID":"28666-127.0.0.1@peer","consumerDataSet":[{"consumeFromWhere":0,'
        b'"consumeType":1,"groupName":"GID_cpp","messageModel":1,"subscriptionDataSet":['
        b'{"subString":"*","subVersion":"1795634080001","topic":"CapCpp"}]}]}\n'
    )
    heartbeat = HeartbeatData.from_json(body)
    (consumer,) = heartbeat.consumer_data_set
    assert consumer.consume_type is ConsumeType.CONSUME_PASSIVELY
    assert consumer.message_model is MessageModel.CLUSTERING
    assert consumer.consume_from_where is ConsumeFromWhere.CONSUME_FROM_LAST_OFFSET
    assert consumer.subscription_data_set == [
        SubscriptionData("CapCpp", "*", sub_version=1795634080001)
    ]
    assert heartbeat.producer_data_set == []
    assert b'"consumeType":"CONSUME_PASSIVELY"' in heartbeat.to_json()
    assert HeartbeatData.from_json(heartbeat.to_json()) == heartbeat


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ("PUSH", ConsumeType.CONSUME_PASSIVELY),
        ("PULL", ConsumeType.CONSUME_ACTIVELY),
        ("POP", ConsumeType.CONSUME_POP),
        ("CONSUME_ACTIVELY", ConsumeType.CONSUME_ACTIVELY),
        ("CONSUME_PASSIVELY", ConsumeType.CONSUME_PASSIVELY),
        ("CONSUME_POP", ConsumeType.CONSUME_POP),
        (0, ConsumeType.CONSUME_ACTIVELY),
        (2, ConsumeType.CONSUME_POP),
    ],
)
def test_consume_type_spellings(wire: object, expected: ConsumeType) -> None:
    data = ConsumerData.from_json(json.dumps({"groupName": "G", "consumeType": wire}).encode())
    assert data.consume_type is expected
    assert data.to_json_value()["consumeType"] == expected.name


def test_enum_ordinals_follow_java() -> None:
    assert list(ConsumeFromWhere)[4] is ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET
    assert list(ConsumeFromWhere)[5] is ConsumeFromWhere.CONSUME_FROM_TIMESTAMP
    assert list(MessageModel) == [MessageModel.BROADCASTING, MessageModel.CLUSTERING]


def test_heartbeat_5x_fields() -> None:
    heartbeat = HeartbeatData("c", heartbeat_fingerprint=0, without_sub=False)
    assert heartbeat.to_json() == (
        b'{"clientID":"c","consumerDataSet":[],"heartbeatFingerprint":0,"producerDataSet":[],'
        b'"withoutSub":false}'
    )
    assert HeartbeatData.from_json(heartbeat.to_json()) == heartbeat


def test_subscription_data_full() -> None:
    sub = SubscriptionData(
        "T",
        "TagA || TagB",
        ["TagA", "TagB"],
        [2598919, 2598920],
        1700000000000,
        class_filter_mode=True,
    )
    assert sub.to_json() == (
        b'{"classFilterMode":true,"codeSet":[2598919,2598920],"expressionType":"TAG",'
        b'"subString":"TagA || TagB","subVersion":1700000000000,"tagsSet":["TagA","TagB"],'
        b'"topic":"T"}'
    )
    assert SubscriptionData.from_json(sub.to_json()) == sub


def test_message_queue() -> None:
    mq = MessageQueue("T", "broker-a", 1)
    assert mq.to_json() == b'{"brokerName":"broker-a","queueId":1,"topic":"T"}'
    assert MessageQueue.from_json(mq.to_json()) == mq
    assert {mq: 1}[MessageQueue("T", "broker-a", 1)] == 1
    queues = [
        MessageQueue("T", "b", 2),
        MessageQueue("A", "z", 0),
        MessageQueue("T", "a", 9),
        MessageQueue("T", "b", 1),
    ]
    assert sorted(queues) == [
        MessageQueue("A", "z", 0),
        MessageQueue("T", "a", 9),
        MessageQueue("T", "b", 1),
        MessageQueue("T", "b", 2),
    ]
    key = mq.to_object_key()
    assert key == ObjectKey({"topic": "T", "queueId": 1, "brokerName": "broker-a"})
    assert MessageQueue.from_json_value(key) == mq
    table = loads(b'{{"brokerName":"broker-a","queueId":1,"topic":"T"}:5}')
    assert {MessageQueue.from_json_value(k): v for k, v in table.items()} == {mq: 5}


def test_lock_bodies() -> None:
    mqs = [MessageQueue("T", "b", 1), MessageQueue("T", "b", 0)]
    lock = LockBatchRequestBody(consumer_group="G", client_id="c", mq_set=mqs)
    data = lock.to_json()
    assert data == (
        b'{"clientId":"c","consumerGroup":"G","mqSet":[{"brokerName":"b","queueId":1,"topic":"T"},'
        b'{"brokerName":"b","queueId":0,"topic":"T"}]}'
    )
    assert LockBatchRequestBody.from_json(data) == lock
    unlock = UnlockBatchRequestBody.from_json(data)
    assert isinstance(unlock, UnlockBatchRequestBody)
    assert unlock.mq_set == mqs
    assert unlock != lock  # different body types never compare equal
    v5 = UnlockBatchRequestBody("G", "c", mqs, only_this_broker=True)
    assert v5.to_json().endswith(b'"onlyThisBroker":true}')
    assert UnlockBatchRequestBody.from_json(v5.to_json()) == v5
    answer = LockBatchResponseBody(mqs[:1])
    assert answer.to_json() == b'{"lockOKMQSet":[{"brokerName":"b","queueId":1,"topic":"T"}]}'
    assert LockBatchResponseBody.from_json(answer.to_json()) == answer


# -- wrong types and malformed bodies ---------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "body", "message"),
    [
        (TopicList, b'{"topicList":"T"}', "TopicList.topicList: expected an array, got 'T'"),
        (TopicList, b'{"topicList":[["T"]]}', r"TopicList.topicList\[0\]: expected a string"),
        (TopicList, b"[1]", "TopicList: expected a JSON object, got \\[1\\]"),
        (TopicList, b"{", "malformed JSON at character 1"),
        (
            TopicRouteData,
            b'{"brokerDatas":[{"brokerAddrs":{"x":"a"},"brokerName":"b"}]}',
            r"TopicRouteData.brokerDatas\[0\].brokerAddrs key: expected an integer, got 'x'",
        ),
        (
            TopicRouteData,
            b'{"queueDatas":[{"brokerName":"b","perm":"rw"}]}',
            r"TopicRouteData.queueDatas\[0\].perm: expected an integer, got 'rw'",
        ),
        (
            TopicRouteData,
            b'{"queueDatas":[{"perm":6}]}',
            r"TopicRouteData.queueDatas\[0\]: required field 'brokerName' is missing",
        ),
        (
            ClusterInfo,
            b'{"brokerAddrTable":{"b":{"brokerName":"b","brokerAddrs":{0:5.5}}}}',
            r"ClusterInfo.brokerAddrTable\['b'\].brokerAddrs\[0\]: expected a string, got 5.5",
        ),
        (
            HeartbeatData,
            b'{"clientID":"c","consumerDataSet":[{"groupName":"G","consumeType":"SOMETIMES"}]}',
            r"HeartbeatData.consumerDataSet\[0\].consumeType: expected one of CONSUME_ACTIVELY",
        ),
        (
            HeartbeatData,
            b'{"clientID":"c","consumerDataSet":[{"groupName":"G","messageModel":7}]}',
            r"consumerDataSet\[0\].messageModel: expected one of BROADCASTING, CLUSTERING, got 7",
        ),
        (HeartbeatData, b'{"producerDataSet":[]}', "required field 'clientID' is missing"),
        (
            HeartbeatData,
            b'{"clientID":"c","consumerDataSet":[{"groupName":"G","unitMode":"maybe"}]}',
            r"consumerDataSet\[0\].unitMode: expected a boolean, got 'maybe'",
        ),
        (
            HeartbeatData,
            b'{"clientID":"c","consumerDataSet":[{"groupName":"G","subscriptionDataSet":'
            b'[{"topic":"T","subVersion":true}]}]}',
            r"subscriptionDataSet\[0\].subVersion: expected an integer, got True",
        ),
        (
            DataVersion,
            b'{"counter":1.5,"timestamp":0}',
            "DataVersion.counter: expected an integer, got 1.5",
        ),
        (
            DataVersion,
            b'{"counter":99999999999999999999,"timestamp":0}',
            "DataVersion.counter: expected a 64-bit integer",
        ),
        (KVTable, b'{"table":{"a":{"b":1}}}', r"KVTable.table\['a'\]: expected a string"),
        (KVTable, b'{"table":{"a":[1]}}', r"KVTable.table\['a'\]: expected a string, got \[1\]"),
        (MessageQueue, b'{"topic":"T","brokerName":"b"}', "required field 'queueId' is missing"),
        (
            LockBatchRequestBody,
            b'{"consumerGroup":"G","clientId":"c","mqSet":{}}',
            "LockBatchRequestBody.mqSet: expected an array, got {}",
        ),
        (
            UnlockBatchRequestBody,
            b'{"clientId":"c"}',
            "UnlockBatchRequestBody: required field 'consumerGroup' is missing",
        ),
        (ConsumerListBody, b'{"consumerIdList":null,"x":', "malformed JSON"),
    ],
)
def test_wrong_types_name_field_and_value(cls: Any, body: bytes, message: str) -> None:
    with pytest.raises(RemoteProtocolError, match=message):
        cls.from_json(body)


def test_lenient_scalars() -> None:
    queue = QueueData.from_json(
        b'{"brokerName":"b","perm":"6","readQueueNums":4.0,"writeQueueNums":" 4 "}'
    )
    assert queue == QueueData("b", 4, 4, 6)
    for raw, value in (("true", True), ("FALSE", False), (1, True), (0, False), ("1", True)):
        text = json.dumps({"groupName": "G", "unitMode": raw}).encode()
        assert ConsumerData.from_json(text).unit_mode is value
    assert TopicList.from_json(b'{"topicList":[1,true]}').topic_list == ["1", "true"]
    # null means "not set", unknown fields are ignored
    assert TopicList.from_json(b'{"topicList":null,"other":{0:1}}') == TopicList()
    long_value = "x" * 200
    with pytest.raises(RemoteProtocolError, match=r"got 'x{76}\.\.\.$"):
        DataVersion.from_json(json.dumps({"counter": long_value}).encode())


# -- round trips ------------------------------------------------------------------------------

_names = st.text(min_size=1, max_size=12)
_ints = st.integers(0, 2**31 - 1)
_longs = st.integers(-(2**63), 2**63 - 1)

_broker_datas = st.builds(
    BrokerData,
    cluster=_names,
    broker_name=_names,
    broker_addrs=st.dictionaries(st.integers(0, 20), _names, max_size=3),
    enable_acting_master=st.none() | st.booleans(),
    zone_name=st.none() | _names,
)
_queue_datas = st.builds(QueueData, _names, _ints, _ints, st.integers(0, 7), _ints)
_routes = st.builds(
    TopicRouteData,
    broker_datas=st.lists(_broker_datas, max_size=3),
    queue_datas=st.lists(_queue_datas, max_size=3),
    filter_server_table=st.dictionaries(_names, st.lists(_names, max_size=2), max_size=2),
    order_topic_conf=st.none() | _names,
)
_subscriptions = st.builds(
    SubscriptionData,
    topic=_names,
    sub_string=_names,
    tags_set=st.lists(_names, max_size=3),
    code_set=st.lists(st.integers(-(2**31), 2**31 - 1), max_size=3),
    sub_version=_longs,
    expression_type=st.sampled_from(["TAG", "SQL92"]),
    class_filter_mode=st.booleans(),
)
_heartbeats = st.builds(
    HeartbeatData,
    client_id=_names,
    producer_data_set=st.lists(st.builds(ProducerData, _names), max_size=3),
    consumer_data_set=st.lists(
        st.builds(
            ConsumerData,
            group_name=_names,
            consume_type=st.sampled_from(ConsumeType),
            message_model=st.sampled_from(MessageModel),
            consume_from_where=st.sampled_from(ConsumeFromWhere),
            subscription_data_set=st.lists(_subscriptions, max_size=2),
            unit_mode=st.booleans(),
        ),
        max_size=2,
    ),
    heartbeat_fingerprint=st.none() | _longs,
    without_sub=st.none() | st.booleans(),
)
_topic_names = st.text(alphabet="abcXYZ09_%-|", min_size=1, max_size=12)
_topic_configs = st.builds(
    TopicConfig,
    topic_name=_topic_names,
    read_queue_nums=_ints,
    write_queue_nums=_ints,
    perm=st.integers(0, 7),
    topic_filter_type=st.sampled_from(["SINGLE_TAG", "MULTI_TAG"]),
    attributes=st.none() | st.dictionaries(_names, _names, max_size=2),
)


def _sorted_addrs(route: TopicRouteData) -> TopicRouteData:
    for broker in route.broker_datas:
        broker.broker_addrs = dict(sorted(broker.broker_addrs.items()))
    return route


@settings(max_examples=150)
@given(_routes, st.booleans())
def test_route_round_trip(route: TopicRouteData, standard: bool) -> None:
    data = route.to_json(standard=standard)
    if standard:
        json.loads(data)  # strict JSON
    key_types = {type(k) for b in loads(data)["brokerDatas"] for k in b["brokerAddrs"]}
    assert key_types <= ({str} if standard else {int})
    assert TopicRouteData.from_json(data) == _sorted_addrs(route)


@settings(max_examples=150)
@given(_heartbeats)
def test_heartbeat_round_trip(heartbeat: HeartbeatData) -> None:
    assert HeartbeatData.from_json(heartbeat.to_json()) == heartbeat


@settings(max_examples=100)
@given(
    st.dictionaries(_topic_names, _topic_configs, max_size=5),
    st.lists(_names, max_size=2),
    st.booleans(),
    st.sampled_from([MQVersion.V4_9_8, MQVersion.V5_0_0, MQVersion.V5_3_3]),
)
def test_register_round_trip(
    configs: dict[str, TopicConfig], servers: list[str], compress: bool, version: int
) -> None:
    table = {}
    for config in configs.values():
        table[config.topic_name] = config
    body = RegisterBrokerBody(
        TopicConfigSerializeWrapper(DataVersion(1, 2), topic_config_table=table), servers
    )
    decoded = RegisterBrokerBody.decode(body.encode(compress, version), version)
    if not compress:
        assert decoded == body
        return
    # The text form keeps name, queue numbers, perm and filter type (and 5.x attributes).
    wrapper = decoded.topic_config_serialize_wrapper
    assert wrapper.data_version == DataVersion(1, 2)
    assert decoded.filter_server_list == servers
    v5 = version >= MQVersion.V5_0_0
    assert [c.encode() for c in wrapper.topic_config_table.values()] == [
        c.encode(with_attributes=v5) for c in table.values()
    ]


# -- golden captures from the real 4.9.8 servers and their clients -----------------------------


def _capture_records() -> list[tuple[str, dict[str, Any], dict[str, Any] | None]]:
    """(id, record, the request a response answers) for every body this module models."""
    if not CAPTURES.is_dir():
        return []
    found = []
    for path in sorted(CAPTURES.glob("*.jsonl")):
        records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        requests = {
            (r["conn"], r["opaque"]): r for r in records if r["kind"] in ("request", "oneway")
        }
        for index, record in enumerate(records):
            if not record.get("body_b64"):
                continue
            code, kind = record["code"], record["kind"]
            request = None
            if kind == "response":
                if code != 0 or record["requestCode"] not in (105, 106, 206, 41, 38):
                    continue
                request = requests[(record["conn"], record["opaque"])]
                label = f"resp{record['requestCode']}"
            elif code in (103, 34, 41, 42):
                label = f"req{code}-{record['language']}"
            else:
                continue
            found.append((f"{path.stem}:{index}:{label}", record, request))
    return found


CAPTURED = _capture_records()
needs_captures = pytest.mark.skipif(not CAPTURED, reason=f"golden captures not found at {CAPTURES}")


def _decode_captured(record: dict[str, Any], body: bytes) -> Any:
    code, kind = record["code"], record["kind"]
    if kind == "response":
        cls = {
            105: TopicRouteData,
            106: ClusterInfo,
            206: TopicList,
            41: LockBatchResponseBody,
            38: ConsumerListBody,
        }[record["requestCode"]]
        return cls.from_json(body)
    if code == 103:
        return RegisterBrokerBody.decode(body, record["version"])
    cls = {34: HeartbeatData, 41: LockBatchRequestBody, 42: UnlockBatchRequestBody}[code]
    return cls.from_json(body)


def _encode_like_java(value: Any, request: dict[str, Any] | None) -> bytes:
    if isinstance(value, TopicRouteData):
        assert request is not None
        # ClientRequestProcessor: standard JSON for clients of V4_9_4 and later
        return value.to_json(standard=request["version"] >= MQVersion.V4_9_4)
    return bytes(value.to_json())


@needs_captures
def test_captures_cover_every_modelled_body() -> None:
    labels = {case[0].split(":")[2] for case in CAPTURED}
    assert labels >= {
        "resp105",
        "resp106",
        "resp206",
        "resp41",
        "resp38",
        "req103-JAVA",
        "req34-JAVA",
        "req34-CPP",
        "req41-JAVA",
        "req42-JAVA",
    }
    assert len(CAPTURED) >= 120


@needs_captures
@pytest.mark.parametrize(
    ("record", "request_record"), [c[1:] for c in CAPTURED], ids=[c[0] for c in CAPTURED]
)
def test_captured_body(record: dict[str, Any], request_record: dict[str, Any] | None) -> None:
    body = base64.b64decode(record["body_b64"])
    value = _decode_captured(record, body)
    encoded = _encode_like_java(value, request_record)
    again = _decode_captured(record, encoded)
    assert again == value
    # Bodies written by Java (the servers, the 4.9.8 client and broker) come back byte for byte;
    # the cpp and Node clients order fields their own way.
    java_wrote = record["kind"] == "response" or (
        record["language"] == "JAVA" and record["version"] == MQVersion.V4_9_8
    )
    if java_wrote:
        assert encoded == body
    if isinstance(value, RegisterBrokerBody):
        version = record["version"]
        deflated = value.encode(compress=True, broker_version=version)
        inflated = RegisterBrokerBody.decode(deflated, version)
        table = value.topic_config_serialize_wrapper.topic_config_table
        assert [
            c.encode() for c in inflated.topic_config_serialize_wrapper.topic_config_table.values()
        ] == [c.encode() for c in table.values()]
