"""ProducerManager and ConsumerManager: registration, expiry, channel close, id-change notices."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from broker._server import Channel
from broker.managers import ClientChannelInfo, ConsumerManager, ProducerManager
from rocketmq_py.protocol.bodies import (
    ConsumeFromWhere,
    ConsumeType,
    MessageModel,
    SubscriptionData,
)
from rocketmq_py.protocol.codes import RequestCode
from rocketmq_py.protocol.command import RemotingCommand

PUSH = ConsumeType.CONSUME_PASSIVELY
CLUSTERING = MessageModel.CLUSTERING
LAST = ConsumeFromWhere.CONSUME_FROM_LAST_OFFSET


class FakeChannel:
    """What the managers use of a Channel; hashed by identity like the real one."""

    def __init__(self, addr: str) -> None:
        self.remote_address = addr
        self.attributes: dict[str, Any] = {}
        self.is_open = True
        self.sent: list[RemotingCommand] = []

    def send_oneway(self, request: RemotingCommand) -> bool:
        self.sent.append(request)
        return self.is_open

    def __repr__(self) -> str:
        return f"<FakeChannel {self.remote_address}>"


def chan(addr: str) -> Any:
    """A fake channel, typed loosely so that it stands in for a Channel."""
    return FakeChannel(addr)


class Notices:
    """Records the notify hook's calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[Any]]] = []

    def __call__(self, group: str, channels: list[Any]) -> None:
        self.calls.append((group, channels))

    def take(self) -> list[tuple[str, list[Any]]]:
        calls, self.calls = self.calls, []
        return calls


def info(client_id: str, now: int = 0) -> ClientChannelInfo:
    return ClientChannelInfo(client_id, "JAVA", 409, now)


def sub(topic: str, version: int = 1, expression: str = "*") -> SubscriptionData:
    return SubscriptionData(topic, sub_string=expression, sub_version=version)


def register(
    m: ConsumerManager,
    channel: Any,
    client_id: str,
    now: int,
    subs: list[SubscriptionData] | None = None,
    *,
    group: str = "CG",
    model: MessageModel = CLUSTERING,
    notify: bool = True,
) -> bool:
    return m.register_consumer(
        group,
        channel,
        info(client_id),
        PUSH,
        model,
        LAST,
        subs if subs is not None else [sub("T"), sub("%RETRY%CG")],
        now,
        notify_enabled=notify,
    )


@pytest.fixture
def notices() -> Notices:
    return Notices()


@pytest.fixture
def consumers(notices: Notices) -> ConsumerManager:
    return ConsumerManager(notify_ids_changed=notices)


# -- consumers: notifications -----------------------------------------------------------------


def test_new_clients_notify_the_whole_group(consumers: ConsumerManager, notices: Notices) -> None:
    a, b = chan("10.0.0.1:1"), chan("10.0.0.2:2")
    assert register(consumers, a, "ip1@1", 1000)
    assert notices.take() == [("CG", [a])]
    assert register(consumers, b, "ip2@2", 1000)
    assert notices.take() == [("CG", [a, b])]
    assert consumers.all_client_ids("CG") == ["ip1@1", "ip2@2"]


def test_same_client_heartbeat_does_not_notify(
    consumers: ConsumerManager, notices: Notices
) -> None:
    a = chan("10.0.0.1:1")
    register(consumers, a, "ip1@1", 1000)
    notices.take()
    assert not register(consumers, a, "ip1@1", 31_000)
    assert notices.take() == []
    group = consumers.group_info("CG")
    assert group is not None
    assert group.channels[a].last_update_ms == 31_000
    assert group.last_update_ms == 31_000


def test_subscription_changes(consumers: ConsumerManager, notices: Notices) -> None:
    a = chan("10.0.0.1:1")
    register(consumers, a, "ip1@1", 1000, [sub("T", 1, "A")])
    notices.take()
    # A newer expression replaces the subscription without notifying.
    assert not register(consumers, a, "ip1@1", 2000, [sub("T", 2, "B")])
    assert consumers.find_subscription("CG", "T").sub_string == "B"  # type: ignore[union-attr]
    # An older version is ignored.
    register(consumers, a, "ip1@1", 3000, [sub("T", 1, "C")])
    assert consumers.find_subscription("CG", "T").sub_string == "B"  # type: ignore[union-attr]
    assert notices.take() == []
    # A new topic and a dropped topic are changes (Java notifies for them too).
    assert register(consumers, a, "ip1@1", 4000, [sub("T", 2, "B"), sub("U")])
    assert notices.take() == [("CG", [a])]
    assert register(consumers, a, "ip1@1", 5000, [sub("U")])
    assert notices.take() == [("CG", [a])]
    assert consumers.find_subscription("CG", "T") is None
    assert consumers.find_subscription("Nope", "U") is None


def test_unregister_notifies_the_rest(consumers: ConsumerManager, notices: Notices) -> None:
    a, b = chan("a:1"), chan("b:2")
    register(consumers, a, "A", 1000)
    register(consumers, b, "B", 1000)
    notices.take()
    assert consumers.unregister_consumer("CG", a)
    assert notices.take() == [("CG", [b])]
    assert not consumers.unregister_consumer("CG", a)
    assert not consumers.unregister_consumer("Nope", a)
    assert notices.take() == []
    assert consumers.unregister_consumer("CG", b)
    assert notices.take() == []  # nobody left to tell
    assert consumers.group_info("CG") is None
    assert consumers.groups() == []
    assert consumers.all_client_ids("CG") == []


def test_channel_close(consumers: ConsumerManager, notices: Notices) -> None:
    a, b = chan("a:1"), chan("b:2")
    register(consumers, a, "A", 1000, group="G1")
    register(consumers, a, "A", 1000, group="G2")
    register(consumers, b, "B", 1000, group="G1")
    notices.take()
    assert consumers.on_channel_closed(a) == ["G1", "G2"]
    assert notices.take() == [("G1", [b])]
    assert consumers.groups() == ["G1"]
    assert consumers.on_channel_closed(a) == []


def test_expiry(consumers: ConsumerManager, notices: Notices) -> None:
    a, b = chan("a:1"), chan("b:2")
    register(consumers, a, "A", 0)
    register(consumers, b, "B", 0)
    register(consumers, a, "A", 0, group="G2")
    notices.take()
    register(consumers, b, "B", 100_000)
    assert consumers.scan_not_active(120_000) == []  # exactly 120 s is not expired
    assert consumers.scan_not_active(120_001) == [a]  # once, though in two groups
    assert notices.take() == [("CG", [b])]
    assert consumers.all_client_ids("CG") == ["B"]
    assert consumers.group_info("G2") is None
    assert consumers.scan_not_active(500_000, timeout_ms=1_000_000) == []
    assert consumers.scan_not_active(220_001) == [b]
    assert consumers.groups() == []


def test_broadcasting_and_disabled_groups_are_not_notified(
    consumers: ConsumerManager, notices: Notices
) -> None:
    a, b = chan("a:1"), chan("b:2")
    assert register(consumers, a, "A", 0, group="BC", model=MessageModel.BROADCASTING)
    register(consumers, b, "B", 0, group="BC", model=MessageModel.BROADCASTING)
    register(consumers, a, "A", 0, group="Quiet", notify=False)
    register(consumers, b, "B", 0, group="Quiet", notify=False)
    consumers.on_channel_closed(a)
    assert notices.take() == []


def test_client_id_change_on_a_channel_notifies(
    consumers: ConsumerManager, notices: Notices
) -> None:
    a = chan("a:1")
    register(consumers, a, "A", 0)
    notices.take()
    assert register(consumers, a, "A2", 10)
    assert notices.take() == [("CG", [a])]
    assert consumers.all_client_ids("CG") == ["A2"]


def test_same_client_id_on_two_channels_is_listed_once(consumers: ConsumerManager) -> None:
    old, new = chan("a:1"), chan("a:2")
    register(consumers, old, "A", 0)
    register(consumers, new, "A", 10)  # reconnected before the old channel closed
    assert consumers.all_client_ids("CG") == ["A"]
    found = consumers.find_channel("CG", "A")
    assert found is not None
    assert found.channel is old
    assert consumers.find_channel("CG", "Z") is None
    assert consumers.find_channel("Nope", "A") is None


def test_hook_errors_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    def boom(group: str, channels: list[Any]) -> None:
        raise RuntimeError("send failed")

    m = ConsumerManager(notify_ids_changed=boom)
    assert register(m, chan("a:1"), "A", 0)
    assert "consumer ids changed hook failed" in caplog.text


def test_no_hook() -> None:
    m = ConsumerManager()
    assert register(m, chan("a:1"), "A", 0)


def test_group_info_and_topic_lookup(consumers: ConsumerManager) -> None:
    a = chan("a:1")
    register(consumers, a, "A", 5, [sub("T"), sub("%RETRY%G1")], group="G1")
    register(consumers, a, "A", 5, [sub("T")], group="G2")
    register(consumers, a, "A", 5, [sub("U")], group="G3")
    group = consumers.group_info("G1")
    assert group is not None
    assert (group.consume_type, group.message_model, group.consume_from_where) == (
        PUSH,
        CLUSTERING,
        LAST,
    )
    assert group.subscribe_topics() == {"T", "%RETRY%G1"}
    assert group.all_channels() == [a]
    assert consumers.query_topic_consume_by_who("T") == {"G1", "G2"}
    assert consumers.query_topic_consume_by_who("X") == set()
    assert consumers.groups() == ["G1", "G2", "G3"]
    # The latest heartbeat's settings win.
    consumers.register_consumer(
        "G1",
        a,
        info("A"),
        ConsumeType.CONSUME_ACTIVELY,
        CLUSTERING,
        ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET,
        [sub("T")],
        6,
    )
    assert group.consume_type is ConsumeType.CONSUME_ACTIVELY
    assert group.consume_from_where is ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET


# -- a real Channel -----------------------------------------------------------------------------


class _Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.closing = False
        self.data: list[bytes] = []

    def is_closing(self) -> bool:
        return self.closing

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.data.append(bytes(data))

    def close(self) -> None:
        self.closing = True


def test_real_channels_receive_the_notice() -> None:
    transports = [_Transport(), _Transport()]
    channels = [Channel(t, f"10.0.0.{i}:5000", "127.0.0.1:10911") for i, t in enumerate(transports)]

    def notify(group: str, targets: list[Channel]) -> None:
        for channel in targets:
            request = RemotingCommand.request(
                RequestCode.NOTIFY_CONSUMER_IDS_CHANGED, {"consumerGroup": group}
            )
            channel.send_oneway(request)

    m = ConsumerManager(notify_ids_changed=notify)
    for i, channel in enumerate(channels):
        m.register_consumer("CG", channel, info(f"c{i}"), PUSH, CLUSTERING, LAST, [sub("T")], 0)
    assert [len(t.data) for t in transports] == [2, 1]
    transports[0].close()
    assert m.on_channel_closed(channels[0]) == ["CG"]
    assert [len(t.data) for t in transports] == [2, 2]


# -- producers --------------------------------------------------------------------------------


def test_producer_register_and_queries() -> None:
    m = ProducerManager()
    a, b = chan("a:1"), chan("b:2")
    assert m.register("PG", a, info("A", 100))
    assert not m.register("PG", a, info("A", 200))  # heartbeat refreshes the time
    assert m.group_channels("PG")[a].last_update_ms == 200
    assert m.register("PG", b, info("B", 200))
    assert m.register("CLIENT_INNER_PRODUCER", a, info("A", 200))
    assert m.groups() == ["PG", "CLIENT_INNER_PRODUCER"]
    assert m.find_channel("B") is b
    assert m.find_channel("Z") is None
    assert m.group_channels("Nope") == {}
    stored = m.group_channels("PG")[a]
    assert stored.channel is a
    assert stored.language == "JAVA" and stored.version == 409


def test_producer_unregister_and_close() -> None:
    m = ProducerManager()
    a, b = chan("a:1"), chan("b:2")
    m.register("PG", a, info("A"))
    m.register("PG", b, info("B"))
    m.register("PG2", a, info("A"))
    assert m.unregister("PG", a)
    assert not m.unregister("PG", a)
    assert not m.unregister("Nope", a)
    assert list(m.group_channels("PG")) == [b]
    assert m.on_channel_closed(a) == ["PG2"]
    assert m.groups() == ["PG"]
    assert m.unregister("PG", b)
    assert m.groups() == []


def test_producer_expiry() -> None:
    m = ProducerManager()
    a, b = chan("a:1"), chan("b:2")
    m.register("PG", a, info("A", 0))
    m.register("PG2", a, info("A", 0))
    m.register("PG", b, info("B", 50_000))
    assert m.scan_not_active(120_000) == []
    assert m.scan_not_active(120_001) == [a]
    assert m.groups() == ["PG"]
    assert m.scan_not_active(170_001, timeout_ms=200_000) == []
    assert m.scan_not_active(170_001) == [b]
    assert m.groups() == []


def test_available_channel_rotates_over_open_channels() -> None:
    m = ProducerManager()
    assert m.available_channel("PG") is None
    a, b, c = chan("a:1"), chan("b:2"), chan("c:3")
    for ch, cid in ((a, "A"), (b, "B"), (c, "C")):
        m.register("PG", ch, info(cid))
    picked = [m.available_channel("PG") for _ in range(6)]
    assert picked == [a, b, c, a, b, c]
    b.is_open = False
    assert {m.available_channel("PG") for _ in range(6)} == {a, c}
    a.is_open = c.is_open = False
    assert m.available_channel("PG") is None
