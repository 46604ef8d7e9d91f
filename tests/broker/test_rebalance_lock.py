"""Orderly consumers' queue locks: the lock table, and LOCK/UNLOCK_BATCH_MQ over TCP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from broker.managers import ClientChannelInfo, ConsumerManager
from broker.managers.rebalance_lock import REBALANCE_LOCK_MAX_LIVE_TIME_MS, RebalanceLockManager
from rocketmq_py._transport.connection import ClientConnection
from rocketmq_py.protocol.bodies import (
    ConsumeFromWhere,
    ConsumerData,
    ConsumeType,
    HeartbeatData,
    LockBatchRequestBody,
    LockBatchResponseBody,
    MessageModel,
    MessageQueue,
    SubscriptionData,
    UnlockBatchRequestBody,
)
from rocketmq_py.protocol.codes import RequestCode, ResponseCode
from rocketmq_py.protocol.command import RemotingCommand
from tests.broker.managers.test_clients import chan
from tests.conftest import FakeClock, broker_settings_for

G = "CG_ORDER"
T = "TOrder"
Q0, Q1, Q2 = (MessageQueue(T, "broker-a", i) for i in range(3))
LIVE = REBALANCE_LOCK_MAX_LIVE_TIME_MS


# -- the lock table --------------------------------------------------------------------------


def test_lock_is_owned_and_refused_to_others() -> None:
    locks = RebalanceLockManager()
    assert locks.try_lock_batch(G, [Q0, Q1], "A", 1000) == [Q0, Q1]
    assert locks.try_lock_batch(G, [Q0, Q1, Q2], "B", 2000) == [Q2]
    assert locks.owner(G, Q0, 2000) == "A"
    assert locks.owner(G, Q2, 2000) == "B"
    # Another group's lock on the same queue is independent.
    assert locks.try_lock_batch("OTHER", [Q0], "B", 2000) == [Q0]
    assert not locks.is_lock_all_expired(G, 2000)
    assert locks.is_lock_all_expired("NOBODY", 2000)


def test_lock_expires_after_max_live_time_without_renewal() -> None:
    locks = RebalanceLockManager()
    locks.try_lock_batch(G, [Q0], "A", 0)
    # Exactly the live time is not yet expired (Java: now - last > max).
    assert locks.try_lock_batch(G, [Q0], "B", LIVE) == []
    assert locks.owner(G, Q0, LIVE) == "A"
    assert locks.is_lock_all_expired(G, LIVE + 1)
    assert locks.owner(G, Q0, LIVE + 1) is None
    assert locks.try_lock_batch(G, [Q0], "B", LIVE + 1) == [Q0]
    assert locks.owner(G, Q0, LIVE + 1) == "B"


def test_relock_by_owner_renews() -> None:
    locks = RebalanceLockManager(max_live_time_ms=100)
    locks.try_lock_batch(G, [Q0], "A", 0)
    assert locks.try_lock_batch(G, [Q0, Q0], "A", 90) == [Q0]  # re-entrant, listed once
    assert locks.try_lock_batch(G, [Q0], "B", 150) == []  # renewed at 90: live until 190
    assert locks.try_lock_batch(G, [Q0], "B", 191) == [Q0]
    # An owner whose lock expired (nobody took it) gets it back.
    locks.try_lock_batch(G, [Q1], "A", 0)
    assert locks.try_lock_batch(G, [Q1], "A", 500) == [Q1]


def test_unlock_only_by_owner() -> None:
    locks = RebalanceLockManager()
    locks.try_lock_batch(G, [Q0, Q1], "A", 0)
    assert locks.unlock_batch(G, [Q0, Q1, Q2], "B", 10) == []
    assert locks.owner(G, Q0, 10) == "A"
    assert locks.unlock_batch(G, [Q0], "A", 10) == [Q0]
    assert locks.owner(G, Q0, 10) is None
    assert locks.try_lock_batch(G, [Q0], "B", 20) == [Q0]
    assert locks.unlock_batch("NOBODY", [Q0], "A", 20) == []


def test_bad_max_live_time_is_refused() -> None:
    with pytest.raises(ValueError, match="max_live_time_ms=0"):
        RebalanceLockManager(max_live_time_ms=0)


def test_only_live_locks_stay_in_memory() -> None:
    locks = RebalanceLockManager(max_live_time_ms=100)
    for i in range(50):
        locks.try_lock_batch(f"G{i}", [MessageQueue(T, "b", q) for q in range(4)], "A", 0)
    assert locks.size() == 200
    locks.unlock_batch("G0", [MessageQueue(T, "b", q) for q in range(4)], "A", 1)
    assert locks.size() == 196
    # A call for one group purges that group's expired entries...
    locks.try_lock_batch("G1", [Q0], "A", 200)
    assert locks.size() == 193
    # ...and purge_expired the whole table.
    assert locks.purge_expired(200) == 192
    assert locks.size() == 1


def _register(consumers: ConsumerManager, channel: Any, client_id: str, group: str = G) -> None:
    consumers.register_consumer(
        group,
        channel,
        ClientChannelInfo(client_id),
        ConsumeType.CONSUME_PASSIVELY,
        MessageModel.CLUSTERING,
        ConsumeFromWhere.CONSUME_FROM_LAST_OFFSET,
        [SubscriptionData(topic=T)],
        0,
    )


def test_channel_close_drops_the_clients_locks() -> None:
    locks = RebalanceLockManager()
    consumers = ConsumerManager()
    a, b = chan("10.0.0.1:1"), chan("10.0.0.2:1")
    _register(consumers, a, "A")
    _register(consumers, b, "B")
    _register(consumers, a, "A", group="G2")
    locks.try_lock_batch(G, [Q0], "A", 0)
    locks.try_lock_batch("G2", [Q0], "A", 0)
    locks.try_lock_batch(G, [Q1], "B", 0)

    assert sorted(locks.on_channel_closed(a, consumers)) == [G, "G2"]
    assert locks.owner(G, Q0, 1) is None
    assert locks.owner("G2", Q0, 1) is None
    assert locks.owner(G, Q1, 1) == "B"  # other clients keep theirs
    # A channel nobody registered on changes nothing.
    assert locks.on_channel_closed(chan("10.0.0.9:1"), consumers) == []


def test_channel_close_keeps_locks_of_a_client_connected_elsewhere() -> None:
    locks = RebalanceLockManager()
    consumers = ConsumerManager()
    old, new = chan("10.0.0.1:1"), chan("10.0.0.1:2")
    _register(consumers, old, "A")
    _register(consumers, new, "A")  # reconnected before the old channel was noticed closed
    locks.try_lock_batch(G, [Q0], "A", 0)
    assert locks.on_channel_closed(old, consumers) == []
    assert locks.owner(G, Q0, 1) == "A"


# -- over TCP --------------------------------------------------------------------------------


class Consumer:
    """A bare orderly consumer: one connection, heartbeats, lock requests."""

    def __init__(self, conn: ClientConnection, client_id: str) -> None:
        self.conn = conn
        self.client_id = client_id

    async def heartbeat(self, group: str = G) -> None:
        body = HeartbeatData(
            client_id=self.client_id,
            consumer_data_set=[
                ConsumerData(
                    group_name=group,
                    consume_type=ConsumeType.CONSUME_PASSIVELY,
                    subscription_data_set=[SubscriptionData(topic=T)],
                )
            ],
        ).to_json()
        resp = await self.conn.request(
            RemotingCommand.request(RequestCode.HEART_BEAT, body=body), timeout=10
        )
        assert resp.code == ResponseCode.SUCCESS, resp.remark

    async def lock(self, *queues: MessageQueue, group: str = G) -> set[MessageQueue]:
        body = LockBatchRequestBody(
            consumer_group=group, client_id=self.client_id, mq_set=list(queues)
        ).to_json()
        resp = await self.conn.request(
            RemotingCommand.request(RequestCode.LOCK_BATCH_MQ, body=body), timeout=10
        )
        assert (resp.code, resp.remark, resp.ext_fields) == (ResponseCode.SUCCESS, None, None)
        assert resp.body is not None
        return set(LockBatchResponseBody.from_json(resp.body).lock_ok_mq_set)

    async def unlock(self, *queues: MessageQueue, group: str = G) -> None:
        body = UnlockBatchRequestBody(
            consumer_group=group, client_id=self.client_id, mq_set=list(queues)
        ).to_json()
        resp = await self.conn.request(
            RemotingCommand.request(RequestCode.UNLOCK_BATCH_MQ, body=body), timeout=10
        )
        assert (resp.code, resp.remark, resp.body) == (ResponseCode.SUCCESS, None, None)


@pytest.fixture
async def consumers(broker: Any) -> AsyncIterator[tuple[Consumer, Consumer]]:
    async with anyio.create_task_group() as tg:
        addr = f"127.0.0.1:{broker.port}"
        a = Consumer(await ClientConnection.connect(addr, tg), "127.0.0.1@A")
        b = Consumer(await ClientConnection.connect(addr, tg), "127.0.0.1@B")
        yield a, b
        await a.conn.aclose()
        await b.conn.aclose()
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_lock_unlock_round_trip(consumers: tuple[Consumer, Consumer]) -> None:
    a, _ = consumers
    assert await a.lock(Q0, Q1) == {Q0, Q1}
    assert await a.lock(Q0, Q1) == {Q0, Q1}  # renewal
    await a.unlock(Q0, Q1)
    assert await a.lock(Q2) == {Q2}


@pytest.mark.anyio
async def test_two_clients_contend(broker: Any, consumers: tuple[Consumer, Consumer]) -> None:
    a, b = consumers
    assert await a.lock(Q0, Q1) == {Q0, Q1}
    assert await b.lock(Q0, Q1, Q2) == {Q2}
    await b.unlock(Q0, Q1)  # not B's: stays with A
    assert await b.lock(Q0) == set()
    await a.unlock(Q0)
    assert await b.lock(Q0) == {Q0}
    assert broker.rebalance_locks.owner(G, Q1, broker.clock()) == "127.0.0.1@A"


@pytest.mark.anyio
async def test_closing_the_connection_releases_its_locks(
    broker: Any, consumers: tuple[Consumer, Consumer]
) -> None:
    a, b = consumers
    await a.heartbeat()
    await b.heartbeat()
    assert await a.lock(Q0, Q1) == {Q0, Q1}
    assert await b.lock(Q0) == set()
    await a.conn.aclose()
    with anyio.fail_after(20):
        while broker.rebalance_locks.owner(G, Q0, broker.clock()) is not None:
            await anyio.sleep(0.02)
    assert await b.lock(Q0, Q1) == {Q0, Q1}


@pytest.mark.anyio
async def test_bad_lock_bodies_answer_system_error(consumers: tuple[Consumer, Consumer]) -> None:
    a, _ = consumers
    for code in (RequestCode.LOCK_BATCH_MQ, RequestCode.UNLOCK_BATCH_MQ):
        resp = await a.conn.request(RemotingCommand.request(code), timeout=10)
        assert resp.code == ResponseCode.SYSTEM_ERROR
        assert "Batch" in (resp.remark or "") and "body" in (resp.remark or "")
        resp = await a.conn.request(
            RemotingCommand.request(code, body=b'{"consumerGroup":"G"}'), timeout=10
        )
        assert resp.code == ResponseCode.SYSTEM_ERROR
        assert "clientId" in (resp.remark or "")


@pytest.mark.anyio
async def test_expired_lock_is_taken_over(namesrv: Any, tmp_path: Path, clock: FakeClock) -> None:
    from broker.controller import BrokerController

    settings = broker_settings_for(tmp_path / "store2", f"127.0.0.1:{namesrv.port}")
    async with (
        BrokerController(settings, clock=clock) as broker,  # type: ignore[arg-type]
        anyio.create_task_group() as tg,
    ):
        addr = f"127.0.0.1:{broker.port}"
        a = Consumer(await ClientConnection.connect(addr, tg), "A")
        b = Consumer(await ClientConnection.connect(addr, tg), "B")
        assert await a.lock(Q0) == {Q0}
        clock.advance(LIVE)
        assert await b.lock(Q0) == set()
        clock.advance(1)
        assert await b.lock(Q0) == {Q0}
        assert await a.lock(Q0) == set()
        await a.conn.aclose()
        await b.conn.aclose()
        tg.cancel_scope.cancel()
