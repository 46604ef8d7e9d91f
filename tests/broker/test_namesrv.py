"""The name server over real TCP on loopback: routes, clusters, expiry, KV config, errors."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from rocketmq_py._transport import ConnectionPool
from rocketmq_py.protocol import fastjson
from rocketmq_py.protocol.codes import LanguageCode, RequestCode, ResponseCode, SerializeType
from rocketmq_py.protocol.command import RemotingCommand
from tests.broker.namesrv_helpers import register_body_compressed, register_request
from tests.conftest import FakeClock

pytestmark = pytest.mark.anyio


@pytest.fixture
async def pool() -> AsyncIterator[ConnectionPool]:
    async with ConnectionPool() as p:
        yield p


def _addr(ns: object) -> str:
    return f"127.0.0.1:{ns.port}"  # type: ignore[attr-defined]


async def _call(pool: ConnectionPool, ns: object, cmd: RemotingCommand) -> RemotingCommand:
    return await pool.request(_addr(ns), cmd, timeout=5)


def _route_request(topic: str, version: int = 409, **extra: str) -> RemotingCommand:
    cmd = RemotingCommand.request(RequestCode.GET_ROUTEINFO_BY_TOPIC, {"topic": topic, **extra})
    cmd.version = version
    return cmd


async def test_unknown_topic_answers_topic_not_exist(namesrv: object, pool: ConnectionPool) -> None:
    resp = await _call(pool, namesrv, _route_request("NoSuchTopic"))
    assert resp.code == ResponseCode.TOPIC_NOT_EXIST
    assert resp.remark is not None
    assert resp.remark.startswith("No topic route info in name server for the topic: NoSuchTopic")


async def test_registered_topics_route_to_the_broker(namesrv: object, pool: ConnectionPool) -> None:
    resp = await _call(
        pool, namesrv, register_request("broker-a", "127.0.0.1:10911", {"TopicA": 4, "TopicB": 8})
    )
    assert resp.code == ResponseCode.SUCCESS, resp.remark

    resp = await _call(pool, namesrv, _route_request("TopicB"))
    assert resp.code == ResponseCode.SUCCESS
    route = json.loads(resp.body or b"")
    assert route["brokerDatas"] == [
        {
            "brokerAddrs": {"0": "127.0.0.1:10911"},
            "brokerName": "broker-a",
            "cluster": "DefaultCluster",
            "enableActingMaster": False,
        }
    ]
    assert route["queueDatas"] == [
        {
            "brokerName": "broker-a",
            "perm": 6,
            "readQueueNums": 8,
            "topicSysFlag": 0,
            "writeQueueNums": 8,
        }
    ]
    # Compact JSON: rocketmq-client-go parses brokerAddrs textually and breaks on spaces.
    assert b": " not in (resp.body or b"") and b", " not in (resp.body or b"")


async def test_old_clients_get_bare_integer_broker_ids(
    namesrv: object, pool: ConnectionPool
) -> None:
    await _call(pool, namesrv, register_request("broker-a", "127.0.0.1:10911", {"T": 4}))
    old = await _call(pool, namesrv, _route_request("T", version=317))
    assert b'"brokerAddrs":{0:"127.0.0.1:10911"}' in (old.body or b"")
    asked = await _call(
        pool, namesrv, _route_request("T", version=121, acceptStandardJsonOnly="true")
    )
    assert b'"brokerAddrs":{"0":"127.0.0.1:10911"}' in (asked.body or b"")
    parsed = fastjson.loads(old.body or b"")
    assert parsed["brokerDatas"][0]["brokerAddrs"] == {0: "127.0.0.1:10911"}


async def test_cluster_info_lists_brokers_and_slaves(namesrv: object, pool: ConnectionPool) -> None:
    await _call(pool, namesrv, register_request("broker-a", "127.0.0.1:10911", {"T": 4}))
    slave = await _call(
        pool, namesrv, register_request("broker-a", "127.0.0.2:10911", {"T": 4}, broker_id=1)
    )
    assert slave.code == ResponseCode.SUCCESS
    # A slave learns where its master is.
    assert slave.ext_fields == {"masterAddr": "127.0.0.1:10911", "haServerAddr": "127.0.0.1:10912"}
    await _call(
        pool, namesrv, register_request("broker-b", "127.0.0.3:10911", {"T": 2}, cluster="Other")
    )

    resp = await _call(pool, namesrv, RemotingCommand.request(RequestCode.GET_BROKER_CLUSTER_INFO))
    body = resp.body or b""
    assert b'"brokerAddrs":{0:"127.0.0.1:10911",1:"127.0.0.2:10911"}' in body  # Java's form
    info = fastjson.loads(body)
    assert sorted(info["clusterAddrTable"]["DefaultCluster"]) == ["broker-a"]
    assert info["clusterAddrTable"]["Other"] == ["broker-b"]
    assert info["brokerAddrTable"]["broker-b"]["cluster"] == "Other"


async def test_broker_expires_without_registration(
    namesrv: object, pool: ConnectionPool, clock: FakeClock
) -> None:
    await _call(pool, namesrv, register_request("broker-a", "127.0.0.1:10911", {"Expiring": 4}))
    clock.advance(119_000)
    assert namesrv.scan_not_active_brokers() == []  # type: ignore[attr-defined]
    assert (await _call(pool, namesrv, _route_request("Expiring"))).code == ResponseCode.SUCCESS

    clock.advance(2_000)
    assert namesrv.scan_not_active_brokers() == [("DefaultCluster", "127.0.0.1:10911")]  # type: ignore[attr-defined]
    assert (
        await _call(pool, namesrv, _route_request("Expiring"))
    ).code == ResponseCode.TOPIC_NOT_EXIST
    info = fastjson.loads(
        (
            await _call(pool, namesrv, RemotingCommand.request(RequestCode.GET_BROKER_CLUSTER_INFO))
        ).body
        or b""
    )
    assert info == {"brokerAddrTable": {}, "clusterAddrTable": {}}


async def test_reregistration_keeps_the_broker_alive(
    namesrv: object, pool: ConnectionPool, clock: FakeClock
) -> None:
    for _ in range(5):
        await _call(pool, namesrv, register_request("broker-a", "127.0.0.1:10911", {"Alive": 4}))
        clock.advance(60_000)
        namesrv.scan_not_active_brokers()  # type: ignore[attr-defined]
    assert (await _call(pool, namesrv, _route_request("Alive"))).code == ResponseCode.SUCCESS


async def test_closing_the_broker_connection_removes_it(namesrv: object) -> None:
    async with ConnectionPool() as broker_side:
        await broker_side.request(
            _addr(namesrv), register_request("broker-a", "127.0.0.1:10911", {"Conn": 4})
        )
    async with ConnectionPool() as client:
        with anyio.fail_after(5):
            while True:
                resp = await client.request(_addr(namesrv), _route_request("Conn"))
                if resp.code == ResponseCode.TOPIC_NOT_EXIST:
                    break
                await anyio.sleep(0.01)


async def test_compressed_register_body(namesrv: object, pool: ConnectionPool) -> None:
    body = register_body_compressed({"Zipped": 2})
    resp = await _call(
        pool, namesrv, register_request("broker-z", "127.0.0.1:20911", {}, body=body)
    )
    assert resp.code == ResponseCode.SUCCESS, resp.remark
    route = json.loads((await _call(pool, namesrv, _route_request("Zipped"))).body or b"")
    assert route["queueDatas"][0]["readQueueNums"] == 2


async def test_topic_config_changes_only_with_a_new_data_version(
    namesrv: object, pool: ConnectionPool
) -> None:
    await _call(pool, namesrv, register_request("broker-a", "127.0.0.1:10911", {"V": 4}, counter=1))
    # Same data version, different content: the name server keeps what it has (Java's rule).
    await _call(pool, namesrv, register_request("broker-a", "127.0.0.1:10911", {"V": 8}, counter=1))
    route = json.loads((await _call(pool, namesrv, _route_request("V"))).body or b"")
    assert route["queueDatas"][0]["writeQueueNums"] == 4
    await _call(pool, namesrv, register_request("broker-a", "127.0.0.1:10911", {"V": 8}, counter=2))
    route = json.loads((await _call(pool, namesrv, _route_request("V"))).body or b"")
    assert route["queueDatas"][0]["writeQueueNums"] == 8


async def test_crc_mismatch_is_refused(namesrv: object, pool: ConnectionPool) -> None:
    cmd = register_request("broker-a", "127.0.0.1:10911", {"Crc": 4})
    assert cmd.ext_fields is not None
    cmd.ext_fields["bodyCrc32"] = "12345"
    resp = await _call(pool, namesrv, cmd)
    assert (resp.code, resp.remark) == (ResponseCode.SYSTEM_ERROR, "crc32 not match")
    assert (await _call(pool, namesrv, _route_request("Crc"))).code == ResponseCode.TOPIC_NOT_EXIST


async def test_unregister_removes_the_broker(namesrv: object, pool: ConnectionPool) -> None:
    await _call(pool, namesrv, register_request("broker-a", "127.0.0.1:10911", {"U": 4}))
    resp = await _call(
        pool,
        namesrv,
        RemotingCommand.request(
            RequestCode.UNREGISTER_BROKER,
            {
                "brokerName": "broker-a",
                "brokerAddr": "127.0.0.1:10911",
                "clusterName": "DefaultCluster",
                "brokerId": 0,
            },
        ),
    )
    assert resp.code == ResponseCode.SUCCESS
    assert (await _call(pool, namesrv, _route_request("U"))).code == ResponseCode.TOPIC_NOT_EXIST


async def test_topic_lists_and_delete(namesrv: object, pool: ConnectionPool) -> None:
    await _call(pool, namesrv, register_request("broker-a", "127.0.0.1:10911", {"T1": 4, "T2": 4}))
    await _call(
        pool, namesrv, register_request("broker-b", "127.0.0.2:10911", {"T3": 4}, cluster="C2")
    )
    all_topics = json.loads(
        (
            await _call(
                pool,
                namesrv,
                RemotingCommand.request(RequestCode.GET_ALL_TOPIC_LIST_FROM_NAMESERVER),
            )
        ).body
        or b""
    )
    assert sorted(all_topics["topicList"]) == ["T1", "T2", "T3"]
    by_cluster = json.loads(
        (
            await _call(
                pool,
                namesrv,
                RemotingCommand.request(RequestCode.GET_TOPICS_BY_CLUSTER, {"cluster": "C2"}),
            )
        ).body
        or b""
    )
    assert by_cluster["topicList"] == ["T3"]
    resp = await _call(
        pool, namesrv, RemotingCommand.request(RequestCode.DELETE_TOPIC_IN_NAMESRV, {"topic": "T1"})
    )
    assert resp.code == ResponseCode.SUCCESS
    assert (await _call(pool, namesrv, _route_request("T1"))).code == ResponseCode.TOPIC_NOT_EXIST
    assert (await _call(pool, namesrv, _route_request("T2"))).code == ResponseCode.SUCCESS


async def test_wipe_and_add_write_perm(namesrv: object, pool: ConnectionPool) -> None:
    await _call(pool, namesrv, register_request("broker-a", "127.0.0.1:10911", {"W1": 4, "W2": 4}))
    resp = await _call(
        pool,
        namesrv,
        RemotingCommand.request(RequestCode.WIPE_WRITE_PERM_OF_BROKER, {"brokerName": "broker-a"}),
    )
    assert resp.ext_fields == {"wipeTopicCount": "2"}
    route = json.loads((await _call(pool, namesrv, _route_request("W1"))).body or b"")
    assert route["queueDatas"][0]["perm"] == 4  # read only
    resp = await _call(
        pool,
        namesrv,
        RemotingCommand.request(RequestCode.ADD_WRITE_PERM_OF_BROKER, {"brokerName": "broker-a"}),
    )
    assert resp.ext_fields == {"addTopicCount": "2"}
    route = json.loads((await _call(pool, namesrv, _route_request("W1"))).body or b"")
    assert route["queueDatas"][0]["perm"] == 6


async def test_kv_config_is_persisted(
    namesrv: object, pool: ConnectionPool, tmp_home: Path
) -> None:
    put = RemotingCommand.request(
        RequestCode.PUT_KV_CONFIG,
        {"namespace": "ORDER_TOPIC_CONFIG", "key": "Ord", "value": "broker-a:4"},
    )
    assert (await _call(pool, namesrv, put)).code == ResponseCode.SUCCESS
    get = await _call(
        pool,
        namesrv,
        RemotingCommand.request(
            RequestCode.GET_KV_CONFIG, {"namespace": "ORDER_TOPIC_CONFIG", "key": "Ord"}
        ),
    )
    assert get.ext_fields == {"value": "broker-a:4"}
    stored = json.loads((tmp_home / "namesrv" / "kvConfig.json").read_text())
    assert stored == {"configTable": {"ORDER_TOPIC_CONFIG": {"Ord": "broker-a:4"}}}
    missing = await _call(
        pool,
        namesrv,
        RemotingCommand.request(RequestCode.GET_KV_CONFIG, {"namespace": "N", "key": "k"}),
    )
    assert missing.code == ResponseCode.QUERY_NOT_FOUND
    assert missing.remark == "No config item, Namespace: N Key: k"
    await _call(
        pool,
        namesrv,
        RemotingCommand.request(
            RequestCode.DELETE_KV_CONFIG, {"namespace": "ORDER_TOPIC_CONFIG", "key": "Ord"}
        ),
    )
    gone = await _call(
        pool,
        namesrv,
        RemotingCommand.request(
            RequestCode.GET_KV_CONFIG, {"namespace": "ORDER_TOPIC_CONFIG", "key": "Ord"}
        ),
    )
    assert gone.code == ResponseCode.QUERY_NOT_FOUND


async def test_register_response_carries_order_topic_config(
    namesrv: object, pool: ConnectionPool
) -> None:
    put = RemotingCommand.request(
        RequestCode.PUT_KV_CONFIG,
        {"namespace": "ORDER_TOPIC_CONFIG", "key": "Ord", "value": "broker-a:4"},
    )
    await _call(pool, namesrv, put)
    resp = await _call(pool, namesrv, register_request("broker-a", "127.0.0.1:10911", {"Ord": 4}))
    assert json.loads(resp.body or b"") == {"table": {"Ord": "broker-a:4"}}


async def test_unknown_code_and_bad_fields_get_error_responses(
    namesrv: object, pool: ConnectionPool
) -> None:
    resp = await _call(pool, namesrv, RemotingCommand.request(9999))
    assert (resp.code, resp.remark) == (
        ResponseCode.REQUEST_CODE_NOT_SUPPORTED,
        " request type 9999 not supported",
    )
    bad = register_request("broker-a", "127.0.0.1:10911", {"X": 4})
    assert bad.ext_fields is not None
    bad.ext_fields["brokerId"] = "zero"
    resp = await _call(pool, namesrv, bad)
    assert resp.code == ResponseCode.SYSTEM_ERROR
    assert "brokerId" in (resp.remark or "") and "zero" in (resp.remark or "")
    missing = await _call(
        pool, namesrv, RemotingCommand.request(RequestCode.GET_ROUTEINFO_BY_TOPIC, {})
    )
    assert missing.code == ResponseCode.SYSTEM_ERROR and "topic" in (missing.remark or "")
    # The connection survives all of that.
    assert (await _call(pool, namesrv, _route_request("Nope"))).code == ResponseCode.TOPIC_NOT_EXIST


async def test_oneway_requests_get_no_response(namesrv: object, pool: ConnectionPool) -> None:
    conn = await pool.get(_addr(namesrv))
    await conn.oneway(register_request("broker-o", "127.0.0.1:30911", {"OneWay": 4}))
    # The next response on the connection is the route's, not a response to the oneway send.
    resp = await conn.request(_route_request("OneWay"), timeout=5)
    assert resp.code == ResponseCode.SUCCESS


async def test_binary_header_request_gets_binary_response(
    namesrv: object, pool: ConnectionPool
) -> None:
    cmd = _route_request("Nothing")
    cmd.serialize_type = SerializeType.ROCKETMQ
    cmd.language = LanguageCode.JAVA
    resp = await _call(pool, namesrv, cmd)
    assert resp.serialize_type == SerializeType.ROCKETMQ
    assert resp.code == ResponseCode.TOPIC_NOT_EXIST


async def test_many_pipelined_requests_on_one_connection(
    namesrv: object, pool: ConnectionPool
) -> None:
    await _call(pool, namesrv, register_request("broker-a", "127.0.0.1:10911", {"P": 4}))
    conn = await pool.get(_addr(namesrv))
    results: list[int] = []

    async def one() -> None:
        results.append((await conn.request(_route_request("P"), timeout=10)).code)

    async with anyio.create_task_group() as tg:
        for _ in range(500):
            tg.start_soon(one)
    assert results == [ResponseCode.SUCCESS] * 500
