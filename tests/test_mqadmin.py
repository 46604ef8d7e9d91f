"""mqadmin's topic, group, broker and message sub-commands against real server processes.

``mqadmin`` runs as a subprocess (``python -m rocketmq_py.admin.cli``) against a real
``mqnamesrv`` and ``mqbroker`` shared by the module. Clients the commands report on (a producer
for ``producerConnection``, a consumer for ``consumerProgress``) run in this process through the
blocking API, whose event loop thread keeps them connected while a test waits for the CLI.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import pytest

from rocketmq_py._sync import Admin, LitePullConsumer, Producer
from rocketmq_py._transport import ConnectionPool
from rocketmq_py.admin import _format as fmt
from rocketmq_py.exceptions import RocketMQError, TopicNotExistError
from rocketmq_py.message import Message, MessageQueueRef
from rocketmq_py.protocol.bodies import SubscriptionGroupWrapper
from rocketmq_py.protocol.codes import MQVersion, RequestCode
from rocketmq_py.protocol.command import RemotingCommand
from tests.conftest import ServerProcess, start_broker_process, start_namesrv_process
from tests.test_cli import MQADMIN, assert_one_line_error, closed_port, run_cli

BROKER = "broker-a"
CLUSTER = "DefaultCluster"


class Servers:
    def __init__(self, namesrv: ServerProcess, broker: ServerProcess) -> None:
        self.namesrv = namesrv.addr
        self.broker = broker.addr


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    home: Path = tmp_path_factory.mktemp("mqadmin-home")
    namesrv = start_namesrv_process(home)
    try:
        broker = start_broker_process(home, namesrv.addr, home / "store")
        try:
            yield Servers(namesrv, broker)
        finally:
            broker.stop()
    finally:
        namesrv.stop()


@pytest.fixture
def mqadmin(
    servers: Servers, tmp_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``mqadmin <command> -n <namesrv> args``; message bodies land in ``tmp_path``."""
    monkeypatch.setenv("TMPDIR", str(tmp_path))

    def run(command: str, *args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(tmp_home, MQADMIN, command, "-n", servers.namesrv, *args)

    return run


def ok(proc: subprocess.CompletedProcess[str]) -> list[str]:
    """The stdout lines of a run that must have succeeded quietly."""
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "", proc.stderr
    return proc.stdout.splitlines()


def wait_until(condition: Callable[[], bool], timeout: float = 15.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what or condition}")
        time.sleep(0.05)


def create_topic(servers: Servers, topic: str, queues: int = 2) -> None:
    with Admin(servers.namesrv) as admin:
        admin.create_topic(topic, cluster=CLUSTER, read_queue_nums=queues, write_queue_nums=queues)

        def routed() -> bool:
            try:
                return bool(admin.topic_route(topic).queue_datas)
            except TopicNotExistError:
                return False

        wait_until(routed, what=f"route of {topic}")


def subscription_groups(broker_addr: str) -> SubscriptionGroupWrapper:
    async def fetch() -> SubscriptionGroupWrapper:
        async with ConnectionPool() as pool:
            response = await pool.request(
                broker_addr,
                RemotingCommand.request(RequestCode.GET_ALL_SUBSCRIPTIONGROUP_CONFIG),
                timeout=10,
            )
        assert response.body
        return SubscriptionGroupWrapper.from_json(response.body)

    return anyio.run(fetch)


# -- Java formatting (no servers) -----------------------------------------------------------


def test_version_descriptions_follow_java_enum() -> None:
    assert MQVersion.desc(0) == "V3_0_0_SNAPSHOT"
    assert MQVersion.desc(15) == "V3_0_0_FINAL"
    assert MQVersion.desc(MQVersion.V3_0_11) == "V3_0_11"
    assert MQVersion.desc(MQVersion.V3_4_9) == "V3_4_9"
    assert MQVersion.desc(MQVersion.V4_5_2) == "V4_5_2"
    assert MQVersion.desc(MQVersion.V4_9_8) == MQVersion.CURRENT_DESC == "V4_9_8"
    assert MQVersion.desc(MQVersion.V5_0_0) == "V5_0_0"
    assert MQVersion.desc(MQVersion.V5_3_3) == "V5_3_3"
    assert MQVersion.desc(611) == "V5_9_9"
    assert MQVersion.desc(612) == MQVersion.desc(10_000) == "HIGHER_VERSION"


def test_java_text_helpers() -> None:
    # The property order of a pulled message as Java prints it (a HashMap).
    props = {
        "KEYS": "k",
        "UNIQ_KEY": "u",
        "CLUSTER": "DefaultCluster",
        "WAIT": "true",
        "TAGS": "TagA",
        "MIN_OFFSET": "0",
        "MAX_OFFSET": "2",
    }
    assert fmt.java_map(props) == (
        "{MIN_OFFSET=0, MAX_OFFSET=2, KEYS=k, UNIQ_KEY=u, CLUSTER=DefaultCluster, WAIT=true, "
        "TAGS=TagA}"
    )
    assert fmt.java_bytes(b"h\xc3\xa9") == "[104, -61, -87]"
    assert fmt.java_bool("TRUE") is True
    assert fmt.java_bool("yes") is False
    assert fmt.java_str(None) == "null"
    assert fmt.java_str(False) == "false"
    assert fmt.front("abcdef", 3) == "abc"
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,123", fmt.time_millis_to_human2(1_700_000_000_123)
    )
    assert fmt.parse_timestamp(" 1700000000123 ") == 1_700_000_000_123
    local = fmt.parse_timestamp("2024-05-01#12:30:45:250")
    assert fmt.time_millis_to_human2(local) == "2024-05-01 12:30:45,250"
    with pytest.raises(ValueError, match="does not match"):
        fmt.parse_timestamp("yesterday")


# -- help -----------------------------------------------------------------------------------

NEW_COMMANDS = {
    "topicStatus": ["--topic", "--clusterName"],
    "deleteTopic": ["--topic", "--clusterName"],
    "updateSubGroup": ["--groupName", "--brokerAddr", "--clusterName", "--retryQueueNums"],
    "deleteSubGroup": ["--groupName", "--brokerAddr", "--clusterName", "--removeOffset"],
    "consumerProgress": ["--groupName", "--topicName"],
    "consumerConnection": ["--consumerGroup", "--brokerAddr"],
    "producerConnection": ["--producerGroup", "--topic"],
    "brokerStatus": ["--brokerAddr", "--clusterName"],
    "getBrokerConfig": ["--brokerAddr", "--clusterName"],
    "updateBrokerConfig": ["--brokerAddr", "--clusterName", "--key", "--value"],
    "queryMsgById": ["--msgId", "--topic", "--bodyFormat"],
    "queryMsgByKey": ["--topic", "--msgKey", "--beginTimestamp", "--endTimestamp", "--maxNum"],
    "queryMsgByOffset": ["--topic", "--brokerName", "--queueId", "--offset"],
    "sendMessage": ["--topic", "--body", "--key", "--tags", "--broker", "--qid"],
    "consumeMessage": ["--topic", "--brokerName", "--queueId", "--offset", "--consumerGroup"],
}


def test_help_lists_the_new_subcommands(tmp_home: Path) -> None:
    lines = ok(run_cli(tmp_home, MQADMIN, "--help"))
    for command in NEW_COMMANDS:
        assert command in "\n".join(lines)


@pytest.mark.parametrize("command", sorted(NEW_COMMANDS))
def test_subcommand_help(tmp_home: Path, command: str) -> None:
    text = "\n".join(ok(run_cli(tmp_home, MQADMIN, command, "--help")))
    for flag in [*NEW_COMMANDS[command], "--namesrvAddr"]:
        assert flag in text


# -- topics ---------------------------------------------------------------------------------


def test_topic_status(
    servers: Servers, mqadmin: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    create_topic(servers, "AdmStatus", 2)
    with Producer("PG_adm_status", servers.namesrv) as producer:
        queue = MessageQueueRef("AdmStatus", BROKER, 1)
        for i in range(3):
            producer.send(Message("AdmStatus", f"s{i}"), queue=queue)
    lines = ok(mqadmin("topicStatus", "-t", "AdmStatus"))
    assert lines[0].split() == [
        "#Broker",
        "Name",
        "#QID",
        "#Min",
        "Offset",
        "#Max",
        "Offset",
        "#Last",
        "Updated",
    ]
    rows = [line.split() for line in lines[1:3]]
    assert [r[:4] for r in rows] == [[BROKER, "0", "0", "0"], [BROKER, "1", "0", "3"]]
    assert len(rows[0]) == 4  # an empty queue has no last update time
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}", " ".join(rows[1][4:]))
    assert lines[3] == ""
    assert lines[4] == "Topic Put TPS: 0.0"
    # -c asks the cluster's masters instead of the route's brokers: the same table
    assert ok(mqadmin("topicStatus", "-t", "AdmStatus", "-c", CLUSTER))[1:3] == lines[1:3]


def test_delete_topic(
    servers: Servers, mqadmin: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    create_topic(servers, "AdmDelete", 1)
    lines = ok(mqadmin("deleteTopic", "-t", "AdmDelete", "-c", CLUSTER))
    assert lines == [
        f"delete topic [AdmDelete] from cluster [{CLUSTER}] success.",
        "delete topic [AdmDelete] from NameServer success.",
    ]
    proc = mqadmin("topicRoute", "-t", "AdmDelete")
    assert proc.returncode == 1
    assert_one_line_error(proc, "AdmDelete")
    proc = mqadmin("topicStatus", "-t", "AdmDelete", "-c", CLUSTER)
    assert proc.returncode == 1  # the broker forgot it too
    assert_one_line_error(proc, "AdmDelete")


# -- subscription groups --------------------------------------------------------------------


def test_update_and_delete_sub_group(
    servers: Servers, mqadmin: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    lines = ok(
        mqadmin(
            "updateSubGroup",
            "-c",
            CLUSTER,
            "-g",
            "CG_adm_sub",
            "-q",
            "3",
            "-r",
            "5",
            "-m",
            "true",
            "-s",
            "false",
        )
    )
    assert lines == [
        f"create subscription group to {servers.broker} success.",
        "SubscriptionGroupConfig [groupName=CG_adm_sub, consumeEnable=false, "
        "consumeFromMinEnable=true, consumeBroadcastEnable=false, retryQueueNums=3, "
        "retryMaxTimes=5, brokerId=0, whichBrokerWhenConsumeSlowly=1, "
        "notifyConsumerIdsChangedEnable=true]",
    ]
    config = subscription_groups(servers.broker).subscription_group_table["CG_adm_sub"]
    assert config["retryQueueNums"] == 3
    assert config["retryMaxTimes"] == 5
    assert config["consumeEnable"] is False
    assert config["consumeBroadcastEnable"] is False

    lines = ok(mqadmin("updateSubGroup", "-b", servers.broker, "-g", "CG_adm_sub", "-q", "2"))
    assert lines[0] == f"create subscription group to {servers.broker} success."
    config = subscription_groups(servers.broker).subscription_group_table["CG_adm_sub"]
    assert config["retryQueueNums"] == 2
    assert config["consumeEnable"] is True

    lines = ok(mqadmin("deleteSubGroup", "-b", servers.broker, "-g", "CG_adm_sub"))
    assert lines == [
        f"delete subscription group [CG_adm_sub] from broker [{servers.broker}] success."
    ]
    assert "CG_adm_sub" not in subscription_groups(servers.broker).subscription_group_table

    ok(mqadmin("updateSubGroup", "-c", CLUSTER, "-g", "CG_adm_sub2"))
    lines = ok(mqadmin("deleteSubGroup", "-c", CLUSTER, "-g", "CG_adm_sub2", "-r", "true"))
    assert lines == [
        f"delete subscription group [CG_adm_sub2] from broker [{servers.broker}] in cluster "
        f"[{CLUSTER}] success."
    ]
    assert "CG_adm_sub2" not in subscription_groups(servers.broker).subscription_group_table


# -- consumers and producers ----------------------------------------------------------------


def test_consumer_progress_and_connection(
    servers: Servers, mqadmin: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    create_topic(servers, "AdmProgress", 2)
    with Producer("PG_adm_progress", servers.namesrv) as producer:
        for i in range(5):
            producer.send(Message("AdmProgress", f"p{i}"))
    with LitePullConsumer(
        "CG_adm_progress", servers.namesrv, consume_from_where="first", auto_commit=False
    ) as consumer:
        consumer.subscribe("AdmProgress")
        got = 0
        deadline = time.monotonic() + 20
        while got < 5 and time.monotonic() < deadline:
            got += len(consumer.poll(0.5))
        assert got == 5
        consumer.commit()

        lines = ok(mqadmin("consumerConnection", "-g", "CG_adm_progress"))
        assert lines[0].split() == ["#ClientId", "#ClientAddr", "#Language", "#Version"]
        client = lines[1].split()
        assert client[0] == consumer.client_id
        assert client[2:] == ["PYTHON", "V4_9_8"]
        assert lines[2:5] == ["", "Below is subscription:", f"{'#Topic':<20} #SubExpression"]
        subscriptions = [line.split() for line in lines[5:-4]]
        assert ["AdmProgress", "*"] in subscriptions
        assert lines[-4:] == [
            "",
            "ConsumeType: CONSUME_ACTIVELY",
            "MessageModel: CLUSTERING",
            "ConsumeFromWhere: CONSUME_FROM_FIRST_OFFSET",
        ]
        # -b asks that broker directly
        lines_b = ok(mqadmin("consumerConnection", "-g", "CG_adm_progress", "-b", servers.broker))
        assert lines_b[1].split()[0] == consumer.client_id

        lines = ok(mqadmin("consumerProgress", "-g", "CG_adm_progress"))
        assert lines[0].split() == [
            "#Topic",
            "#Broker",
            "Name",
            "#QID",
            "#Broker",
            "Offset",
            "#Consumer",
            "Offset",
            "#Diff",
            "#Inflight",
            "#LastTime",
        ]
        rows = [line.split() for line in lines[1:] if line.startswith("AdmProgress")]
        assert [r[:2] for r in rows] == [["AdmProgress", BROKER]] * 2
        assert sum(int(r[3]) for r in rows) == 5  # broker offsets
        assert [r[3] for r in rows] == [r[4] for r in rows]  # all consumed
        assert {(r[5], r[6]) for r in rows} == {("0", "0")}
        assert all(re.fullmatch(r"\d{4}-\d\d-\d\d", r[7]) for r in rows)
        assert lines[-4] == ""
        assert re.fullmatch(r"Consume TPS: \d+\.\d\d", lines[-3])
        assert lines[-2:] == ["Consume Diff Total: 0", "Consume Inflight Total: 0"]
        with_topic = ok(mqadmin("consumerProgress", "-g", "CG_adm_progress", "-t", "AdmProgress"))
        assert [line.split()[:5] for line in with_topic[1:3]] == [r[:5] for r in rows]

        lines = ok(mqadmin("consumerProgress"))
        assert lines[0].split() == [
            "#Group",
            "#Count",
            "#Version",
            "#Type",
            "#Model",
            "#TPS",
            "#Diff",
            "Total",
        ]
        mine = [line.split() for line in lines[1:] if line.startswith("CG_adm_progress ")]
        assert len(mine) == 1
        assert mine[0][:4] == ["CG_adm_progress", "1", "V4_9_8", "PULL"]  # no model for PULL
        assert mine[0][-1] == "0"  # diff total

    # Once the consumer left, the group shows as OFFLINE and consumerConnection fails.
    def offline() -> bool:
        lines = ok(mqadmin("consumerProgress"))
        return any(line.split()[:3] == ["CG_adm_progress", "0", "OFFLINE"] for line in lines)

    wait_until(offline, what="the group to go offline")
    proc = mqadmin("consumerConnection", "-g", "CG_adm_progress")
    assert proc.returncode == 1
    assert_one_line_error(proc, "CG_adm_progress")


def test_producer_connection(
    servers: Servers, mqadmin: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    create_topic(servers, "AdmProducer", 1)
    with Producer("PG_adm_conn", servers.namesrv) as producer, Admin(servers.namesrv) as admin:
        producer.send(Message("AdmProducer", "x"))

        def listed() -> bool:
            try:
                return bool(admin.producer_connection("PG_adm_conn", "AdmProducer").connection_set)
            except RocketMQError:
                return False

        wait_until(listed, what="the producer's heartbeat")
        lines = ok(mqadmin("producerConnection", "-g", "PG_adm_conn", "-t", "AdmProducer"))
        assert len(lines) == 1
        row = lines[0].split()
        assert row[0] == "0001"
        assert row[1] == producer.client_id
        assert row[3:] == ["PYTHON", "V4_9_8"]
    proc = mqadmin("producerConnection", "-g", "PG_adm_nobody", "-t", "AdmProducer")
    assert proc.returncode == 1
    assert_one_line_error(proc, "PG_adm_nobody")


# -- brokers --------------------------------------------------------------------------------


def test_broker_status(
    servers: Servers, mqadmin: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    lines = ok(mqadmin("brokerStatus", "-b", servers.broker))
    pairs = [tuple(part.strip() for part in line.split(": ", 1)) for line in lines]
    keys = [k for k, _ in pairs]
    assert keys == sorted(keys)
    table = dict(pairs)
    assert table["brokerVersionDesc"] == "V4_9_8"
    assert table["brokerActive"] == "true"
    assert re.fullmatch(r"[\d.]+ [\d.]+ [\d.]+", table["putTps"])
    assert re.match(r"\S+ +: ", lines[0])

    cluster = ok(mqadmin("brokerStatus", "-c", CLUSTER))
    assert all(line.startswith(f"{servers.broker:<24} ") for line in cluster)
    assert len(cluster) == len(lines)


def test_get_and_update_broker_config(
    servers: Servers, mqadmin: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    lines = ok(mqadmin("getBrokerConfig", "-b", servers.broker))
    assert lines[0] == f"============{servers.broker}============"
    assert lines[-1] == ""
    config = {
        key.strip(): value for key, _, value in (line.partition("=  ") for line in lines[1:-1])
    }
    assert config["brokerName"] == BROKER
    assert config["brokerClusterName"] == CLUSTER
    assert lines[1].index("=  ") == 50

    lines = ok(
        mqadmin("updateBrokerConfig", "-b", servers.broker, "-k", "maxMessageSize", "-v", "5000000")
    )
    assert lines == [f"update broker config success, {servers.broker}"]
    lines = ok(mqadmin("getBrokerConfig", "-c", CLUSTER))
    assert lines[0] == f"============Master: {servers.broker}============"
    assert f"{'maxMessageSize':<50}=  5000000" in lines

    lines = ok(
        mqadmin(
            "updateBrokerConfig",
            "-c",
            CLUSTER,
            "-k",
            "maxMessageSize",
            "-v",
            "4194304",
            "-a",
            "true",
        )
    )
    assert lines == [f"update broker config success, {servers.broker}"]
    assert f"{'maxMessageSize':<50}=  4194304" in ok(
        mqadmin("getBrokerConfig", "-b", servers.broker)
    )


# -- messages -------------------------------------------------------------------------------


def message_fields(lines: list[str]) -> dict[str, str]:
    """``Key: value`` lines of printMsg (the key column is 20 wide)."""
    return {line[:20].strip(): line[21:] for line in lines if line[:20].rstrip().endswith(":")}


def test_send_then_query_by_key_id_and_offset(
    servers: Servers, mqadmin: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    create_topic(servers, "AdmMsg", 2)
    lines = ok(
        mqadmin(
            "sendMessage",
            "-t",
            "AdmMsg",
            "-p",
            "hello mqadmin",
            "-k",
            "order-1 o2",
            "-c",
            "TagA",
            "-b",
            BROKER,
            "-i",
            "1",
        )
    )
    assert lines[0].split() == ["#Broker", "Name", "#QID", "#Send", "Result", "#MsgId"]
    broker_name, qid, status, msg_id = lines[1].split()
    assert (broker_name, qid, status) == (BROKER, "1", "SEND_OK")
    assert re.fullmatch(r"[0-9A-F]{32}", msg_id)
    # a message with a key that only shares a prefix must not match
    ok(mqadmin("sendMessage", "-t", "AdmMsg", "-p", "other", "-k", "order-10"))

    def indexed() -> bool:
        return mqadmin("queryMsgByKey", "-t", "AdmMsg", "-k", "order-1").returncode == 0

    wait_until(indexed, what="the index to have the key")
    lines = ok(mqadmin("queryMsgByKey", "-t", "AdmMsg", "-k", "order-1"))
    assert lines[0] == f"{'#Message ID':<50} {'#QID':>4} {'#Offset':>40}"
    assert [line.split() for line in lines[1:]] == [[msg_id, "1", "0"]]
    assert ok(mqadmin("queryMsgByKey", "-t", "AdmMsg", "-k", "o2"))[1].split()[0] == msg_id

    lines = ok(
        mqadmin(
            "queryMsgByOffset", "-t", "AdmMsg", "-b", BROKER, "-i", "1", "-o", "0", "-f", "UTF-8"
        )
    )
    fields = message_fields(lines)
    assert fields["Topic:"] == "AdmMsg"
    assert fields["Tags:"] == "[TagA]"
    assert fields["Keys:"] == "[order-1 o2]"
    assert fields["Queue ID:"] == "1"
    assert fields["Queue Offset:"] == "0"
    assert fields["Store Host:"] == servers.broker
    assert fields["Message Body:"] == "hello mqadmin"
    assert f"UNIQ_KEY={msg_id}" in fields["Properties:"]
    assert "MIN_OFFSET=0" in fields["Properties:"]
    assert fields["Properties:"].startswith("{")
    body_file = Path(fields["Message Body Path:"])
    assert body_file.is_relative_to(tmp_path)
    assert body_file.read_bytes() == b"hello mqadmin"
    assert lines[-1] == "WARN: No Consumer"
    offset_id = fields["OffsetID:"]
    assert re.fullmatch(r"[0-9A-F]{32}", offset_id)
    assert offset_id != msg_id

    by_id = message_fields(ok(mqadmin("queryMsgById", "-i", offset_id)))
    assert by_id["OffsetID:"] == offset_id
    assert by_id["Keys:"] == "[order-1 o2]"
    assert by_id["CommitLog Offset:"] == fields["CommitLog Offset:"]
    assert "MIN_OFFSET" not in by_id["Properties:"]  # only a pull adds those
    assert "Message Body:" not in by_id

    # A client id (UNIQ_KEY) with -t is looked up by key; several ids at once.
    lines = ok(mqadmin("queryMsgById", "-i", f"{msg_id}, {offset_id}", "-t", "AdmMsg"))
    assert [line for line in lines if line.startswith("OffsetID:")] == [
        f"{'OffsetID:':<20} {offset_id}"
    ] * 2


def test_consume_message(
    servers: Servers, mqadmin: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    create_topic(servers, "AdmConsume", 1)
    queue = MessageQueueRef("AdmConsume", BROKER, 0)
    with Producer("PG_adm_consume", servers.namesrv) as producer:
        ids = [producer.send(Message("AdmConsume", f"c{i}", tags="T")).msg_id for i in range(3)]

    lines = ok(mqadmin("consumeMessage", "-t", "AdmConsume"))
    assert lines[0] == "Consume ok"
    messages = [line for line in lines if line.startswith("MSGID: ")]
    assert [line.split()[1] for line in messages] == ids
    assert [line.rsplit("BODY: ", 1)[1] for line in messages] == ["c0", "c1", "c2"]
    assert "MessageExt [brokerName=broker-a, queueId=0, " in messages[0]
    assert "toString()=Message{topic='AdmConsume', flag=0, properties={" in messages[0]
    assert "body=[99, 48]" in messages[0]
    assert lines[-1] == (
        "MessageQueue [topic=AdmConsume, brokerName=broker-a, queueId=0] print msg finished. "
        "status=NO_NEW_MSG, offset=3"
    )

    lines = ok(
        mqadmin(
            "consumeMessage",
            "-t",
            "AdmConsume",
            "-b",
            BROKER,
            "-i",
            "0",
            "-o",
            "1",
            "-c",
            "1",
            "-g",
            "CG_adm_consume",
        )
    )
    assert lines[0] == "The oldler 1 message will be provided"
    assert lines[1] == "Consume ok"
    assert [line.split()[1] for line in lines if line.startswith("MSGID: ")] == [ids[1]]

    lines = ok(mqadmin("consumeMessage", "-t", "AdmConsume", "-b", BROKER, "-i", "0", "-o", "9"))
    assert lines == [
        "MessageQueue [topic=AdmConsume, brokerName=broker-a, queueId=0] no matched msg, offset=9"
    ]
    with Admin(servers.namesrv) as admin:
        assert admin.max_offset(queue) == 3
        # A pulling tool commits nothing, so no group consumes the topic.
        assert admin.query_topic_consume_by_who("AdmConsume") == []


# -- user mistakes --------------------------------------------------------------------------

MISTAKES = [
    # (args, exit status, words the one-line error must contain)
    (["deleteTopic", "-t", "T"], 2, ["--clusterName"]),
    (["updateSubGroup", "-g", "G"], 2, ["--brokerAddr", "--clusterName"]),
    (["updateSubGroup", "-g", "G", "-b", "x:1", "-c", "C"], 2, ["not allowed"]),
    (["queryMsgByOffset", "-t", "T", "-b", "B", "-i", "one", "-o", "0"], 2, ["--queueId"]),
    (["updateBrokerConfig", "-c", "C", "-k", "a"], 2, ["--value"]),
    (["queryMsgById", "-i", "not-an-id"], 1, ["not-an-id"]),
    (["queryMsgByKey", "-t", "AdmNoKeys", "-k", "nothing"], 1, ["AdmNoKeys"]),
    (["consumeMessage", "-t", "T", "-i", "0"], 1, ["brokerName"]),
    (["consumeMessage", "-t", "T", "-b", BROKER, "-o", "0"], 1, ["queueId"]),
    (["consumeMessage", "-t", "T", "-c", "0"], 1, ["positive"]),
    (["consumeMessage", "-t", "T", "-s", "yesterday"], 1, ["yyyy-MM-dd"]),
    (["sendMessage", "-t", "T", "-p", "x", "-i", "1"], 1, ["Broker name"]),
    (["queryMsgByOffset", "-t", "AdmNoKeys", "-b", BROKER, "-i", "0", "-o", "5"], 1, ["offset 5"]),
    (["topicStatus", "-t", "AdmNoSuchTopic"], 1, ["AdmNoSuchTopic"]),
    (["consumerConnection", "-g", "CG_adm_nobody"], 1, ["CG_adm_nobody"]),
    (["consumerProgress", "-g", "CG_adm_nobody"], 1, ["CG_adm_nobody"]),
    (["getBrokerConfig", "-c", "NoSuchCluster"], 1, ["NoSuchCluster"]),
    (["deleteTopic", "-t", "T", "-c", "NoSuchCluster"], 1, ["NoSuchCluster"]),
    (
        ["queryMsgById", "-i", "C0A80001000022B20000000000000000", "-f", "no-such-charset"],
        1,
        ["no-such-charset"],
    ),
]


@pytest.mark.parametrize(("args", "status", "needles"), MISTAKES, ids=str)
def test_user_mistakes_are_one_line_errors(
    servers: Servers,
    mqadmin: Callable[..., subprocess.CompletedProcess[str]],
    args: list[str],
    status: int,
    needles: list[str],
) -> None:
    if "AdmNoKeys" in args:
        create_topic(servers, "AdmNoKeys", 1)
    proc = mqadmin(*args)
    assert proc.returncode == status, proc.stderr
    assert_one_line_error(proc, *needles)


def test_unreachable_broker_is_one_line_error(
    mqadmin: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    addr = f"127.0.0.1:{closed_port()}"
    for args in (
        ["brokerStatus", "-b", addr],
        ["getBrokerConfig", "-b", addr],
        ["updateBrokerConfig", "-b", addr, "-k", "a", "-v", "b"],
    ):
        proc = mqadmin(*args)
        assert proc.returncode == 1, proc.stderr
        assert_one_line_error(proc, args[0], addr)
