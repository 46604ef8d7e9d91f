"""The blocking API (``rocketmq_py._sync``) against real server processes.

The tests call it from plain threads: pytest's own thread and ``threading.Thread`` workers,
none running an event loop. The in-process server fixtures would need the test's event loop
to keep running while the test blocks, so these talk to ``mqnamesrv``/``mqbroker``
subprocesses.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import anyio.to_thread
import pytest

from rocketmq_py._sync import Admin, LitePullConsumer, Producer, PushConsumer
from rocketmq_py._sync._portal import portal_leases
from rocketmq_py._sync.transaction import TransactionProducer
from rocketmq_py.exceptions import (
    ConfigError,
    RocketMQError,
    SyncInAsyncContextError,
    TopicNotExistError,
)
from rocketmq_py.message import Message, MessageQueueRef, MessageView, SendStatus
from tests.conftest import ServerProcess, start_broker_process, start_namesrv_process

BROKER = "broker-a"
PORTAL_THREAD = "rocketmq-py-portal"


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(name server address, broker address) of real subprocesses shared by the module."""
    home: Path = tmp_path_factory.mktemp("sync-home")
    namesrv: ServerProcess = start_namesrv_process(home)
    try:
        broker = start_broker_process(home, namesrv.addr, home / "store")
        try:
            yield namesrv.addr, broker.addr
        finally:
            broker.stop()
    finally:
        namesrv.stop()


@pytest.fixture
def addr(servers: tuple[str, str]) -> str:
    return servers[0]


@pytest.fixture(autouse=True)
def no_portal_left_behind() -> Iterator[None]:
    """Every test stops what it starts: no lease and no loop thread afterwards."""
    yield
    assert portal_leases() == 0
    deadline = time.monotonic() + 5
    while any(t.name == PORTAL_THREAD for t in threading.enumerate()):
        assert time.monotonic() < deadline, "the shared loop thread did not stop"
        time.sleep(0.01)


def wait_until(condition: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what or condition}")
        time.sleep(0.05)


def create_topic(admin: Admin, topic: str, queues: int) -> list[MessageQueueRef]:
    admin.create_topic(
        topic, cluster="DefaultCluster", read_queue_nums=queues, write_queue_nums=queues
    )

    def routed() -> bool:
        try:
            route = admin.topic_route(topic)
        except TopicNotExistError:
            return False
        return bool(route.queue_datas) and route.queue_datas[0].read_queue_nums == queues

    wait_until(routed, what=f"route of {topic}")
    return [MessageQueueRef(topic, BROKER, i) for i in range(queues)]


def portal_threads() -> int:
    return sum(t.name == PORTAL_THREAD for t in threading.enumerate())


# -- from one plain thread ------------------------------------------------------------------


def test_round_trip_from_a_plain_thread(addr: str) -> None:
    with Admin(addr) as admin:
        queues = create_topic(admin, "SyncRoundTrip", 2)
    with Producer("PG_sync", addr) as producer:
        assert producer.started
        results = [
            producer.send(Message("SyncRoundTrip", f"m{i}", tags="A", keys=f"k{i}"))
            for i in range(10)
        ]
        batch = producer.send_batch([Message("SyncRoundTrip", f"b{i}") for i in range(3)])
        producer.send_oneway(Message("SyncRoundTrip", "o"))
        assert portal_threads() == 1
    assert not producer.started
    assert {r.status for r in results} == {SendStatus.SEND_OK}
    assert len(batch.msg_id.split(",")) == 3

    with LitePullConsumer(
        "CG_sync", addr, consume_from_where="first", auto_commit=False
    ) as consumer:
        consumer.assign(queues)
        assert consumer.assignment() == set(queues)
        got: list[str] = []
        deadline = time.monotonic() + 20
        while len(got) < 14 and time.monotonic() < deadline:
            got += [m.body.decode() for m in consumer.poll(0.5)]
        consumer.commit()
        committed = {q: consumer.committed(q) for q in queues}
        # seek back and read one queue again
        consumer.seek_to_begin(queues[0])
        again = consumer.poll(5)
    assert sorted(got) == sorted([f"m{i}" for i in range(10)] + ["b0", "b1", "b2", "o"])
    assert sum(c or 0 for c in committed.values()) == 14
    assert again
    assert {m.queue for m in again} == {queues[0]}


def test_subscribe_before_start_and_commit_on_shutdown(addr: str) -> None:
    with Admin(addr) as admin:
        create_topic(admin, "SyncSubscribe", 2)
    with Producer("PG_sync_sub", addr) as producer:
        for i in range(6):
            producer.send(Message("SyncSubscribe", f"s{i}", tags="T" if i % 2 else "U"))
    consumer = LitePullConsumer("CG_sync_sub", addr, consume_from_where="first")
    consumer.subscribe("SyncSubscribe", "T")
    consumer.start()
    try:
        got: list[str] = []
        deadline = time.monotonic() + 20
        while len(got) < 3 and time.monotonic() < deadline:
            got += [m.body.decode() for m in consumer.poll(0.5)]
    finally:
        consumer.shutdown()
    consumer.shutdown()  # a second shutdown does nothing
    assert sorted(got) == ["s1", "s3", "s5"]
    with Admin(addr) as admin:
        stats = admin.consume_stats("CG_sync_sub", "SyncSubscribe")
    assert stats.diff_total == 0


def test_errors_reach_the_calling_thread(addr: str) -> None:
    with Admin(addr) as admin:
        with pytest.raises(TopicNotExistError):
            admin.topic_route("SyncNoSuchTopic")
        with pytest.raises(ConfigError):
            admin.create_topic("SyncBadTarget")  # neither cluster nor broker
        # The admin is still usable after an error.
        assert admin.cluster_info().cluster_addr_table
    with pytest.raises(ConfigError):
        Producer("")


@pytest.mark.parametrize("kind", ["plain", "transactional"])
def test_methods_need_a_started_client(addr: str, kind: str) -> None:
    producer = (
        Producer("PG_sync_idle", addr)
        if kind == "plain"
        else TransactionProducer("PG_sync_idle_tx", addr, checker=lambda message: None)
    )
    producer.shutdown()  # not started: nothing to do
    with pytest.raises(RuntimeError, match="started"):
        producer.send(Message("T", "x"))
    with pytest.raises(RuntimeError, match="started"):
        producer.send_oneway(Message("T", "x"))
    producer.start()
    try:
        with pytest.raises(RuntimeError, match="already started"):
            producer.start()
    finally:
        producer.shutdown()
    with pytest.raises(RuntimeError, match="started"):
        producer.send(Message("T", "x"))


# -- from several threads -------------------------------------------------------------------


def test_several_threads_share_a_producer_and_one_loop(addr: str) -> None:
    with Admin(addr) as admin:
        queues = create_topic(admin, "SyncThreads", 4)
    threads_n, per_thread = 8, 15
    errors: list[BaseException] = []
    loops_seen: list[int] = []

    with Producer("PG_sync_threads", addr) as shared:

        def shared_sender(t: int) -> None:
            try:
                for i in range(per_thread):
                    shared.send(Message("SyncThreads", f"shared-{t}-{i}"))
            except BaseException as exc:  # reported by the main thread
                errors.append(exc)

        def own_sender(t: int) -> None:
            try:
                with Producer(f"PG_sync_own{t}", addr) as own:
                    for i in range(per_thread):
                        own.send(Message("SyncThreads", f"own-{t}-{i}"))
                    loops_seen.append(portal_threads())
            except BaseException as exc:
                errors.append(exc)

        workers = [threading.Thread(target=shared_sender, args=(t,)) for t in range(threads_n)]
        workers += [threading.Thread(target=own_sender, args=(t,)) for t in range(threads_n)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(60)
        assert not any(w.is_alive() for w in workers)
    assert not errors, errors
    # Every producer ran on the same single loop thread.
    assert loops_seen == [1] * threads_n

    expected = {
        f"{kind}-{t}-{i}"
        for kind in ("shared", "own")
        for t in range(threads_n)
        for i in range(per_thread)
    }
    got: set[str] = set()
    lock = threading.Lock()
    with LitePullConsumer("CG_sync_threads", addr, consume_from_where="first") as consumer:
        consumer.assign(queues)

        def reader() -> None:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                with lock:
                    if len(got) >= len(expected):
                        return
                batch = consumer.poll(0.2)
                with lock:
                    got.update(m.body.decode() for m in batch)

        readers = [threading.Thread(target=reader) for _ in range(4)]
        for r in readers:
            r.start()
        for r in readers:
            r.join(60)
    assert got == expected


# -- from inside an event loop --------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_blocking_api_refuses_a_running_event_loop(addr: str, anyio_backend: str) -> None:
    producer = Producer("PG_sync_loop", addr)  # building one is harmless
    for call in (producer.start, lambda: producer.send(Message("T", "x"))):
        with pytest.raises(SyncInAsyncContextError, match="AsyncProducer") as info:
            call()
        assert isinstance(info.value, RuntimeError)
        assert isinstance(info.value, RocketMQError)
        assert anyio_backend in str(info.value)
    with pytest.raises(SyncInAsyncContextError, match="AsyncAdmin"), Admin(addr):
        pass
    consumer = LitePullConsumer("CG_sync_loop", addr)
    with pytest.raises(SyncInAsyncContextError, match="AsyncLitePullConsumer"):
        consumer.assign([MessageQueueRef("T", BROKER, 0)])
    assert portal_leases() == 0

    # Started from a worker thread, it works there and still refuses the loop's thread.
    await anyio.to_thread.run_sync(producer.start)
    try:
        result = await anyio.to_thread.run_sync(
            lambda: producer.send(Message("SyncLoop", "from a worker"))
        )
        assert result.status is SendStatus.SEND_OK
        with pytest.raises(SyncInAsyncContextError):
            producer.send(Message("SyncLoop", "from the loop"))
        with pytest.raises(SyncInAsyncContextError):
            producer.shutdown()
    finally:
        await anyio.to_thread.run_sync(producer.shutdown)


def test_blocking_api_refuses_its_own_loop_thread(addr: str) -> None:
    """A blocking call made on the shared loop thread (say from a callback) would wait for
    that very thread forever: it raises instead."""
    with Producer("PG_sync_self", addr) as producer:
        portal = producer._portal
        assert portal is not None
        with pytest.raises(SyncInAsyncContextError):
            portal.call(lambda: producer.send(Message("SyncSelf", "deadlock?")))


# -- PushConsumer ---------------------------------------------------------------------------


def test_push_consumer_runs_blocking_handlers_in_threads(addr: str) -> None:
    with Admin(addr) as admin:
        create_topic(admin, "SyncPush", 2)
    with Producer("PG_sync_push", addr) as producer:
        for i in range(20):
            producer.send(Message("SyncPush", f"p{i}", tags="A" if i % 2 else "B"))
    seen: list[str] = []
    threads: set[str] = set()
    lock = threading.Lock()
    failed_once: set[str] = set()
    consumer = PushConsumer("CG_sync_push", addr, consume_from_where="first", max_concurrency=4)
    consumer.subscribe("SyncPush", "A")

    @consumer.handler
    def handle(message: MessageView) -> bool:
        body = message.body.decode()
        time.sleep(0.01)  # a blocking call is fine here: this is a worker thread
        with lock:
            threads.add(threading.current_thread().name)
            if body == "p1" and body not in failed_once:
                failed_once.add(body)
                return False  # asks for redelivery through %RETRY%CG_sync_push
            seen.append(body)
            if len(seen) == 10:
                consumer.stop()
        return True

    with consumer:
        assert consumer.started
        consumer.run_forever(timeout=60)
        assignment = consumer.assignment()
    assert not consumer.started
    assert sorted(seen) == sorted(f"p{i}" for i in range(1, 20, 2))
    assert PORTAL_THREAD not in threads  # handlers never block the shared loop thread
    assert {q.topic for q in assignment} == {"SyncPush", "%RETRY%CG_sync_push"}


def test_push_consumer_refuses_coroutine_handlers(addr: str) -> None:
    consumer = PushConsumer("CG_sync_push_bad", addr)

    async def handle(message: MessageView) -> None:
        return None

    with pytest.raises(ConfigError, match="handler"):
        consumer.register(handle)
    with pytest.raises(RuntimeError, match="started"):
        consumer.run_forever(timeout=0)


# -- the direct path of plain blocking sends ------------------------------------------------


def _drain(addr: str, group: str, queues: list[MessageQueueRef], count: int) -> list[MessageView]:
    got: list[MessageView] = []
    with LitePullConsumer(group, addr, consume_from_where="first", auto_commit=False) as consumer:
        consumer.assign(queues)
        deadline = time.monotonic() + 20
        while len(got) < count and time.monotonic() < deadline:
            got += consumer.poll(0.5)
        got += consumer.poll(0.5)  # anything beyond count (a duplicate) shows up here
    return got


def test_plain_sends_leave_from_the_calling_threads(addr: str) -> None:
    with Admin(addr) as admin:
        queues = create_topic(admin, "SyncDirect", 4)
    results: list[str] = []
    errors: list[BaseException] = []
    with Producer("PG_sync_direct", addr) as producer:
        results.append(producer.send(Message("SyncDirect", "first")).msg_id)  # via the loop
        direct = producer._direct
        assert direct is not None
        assert not direct._open  # the route and the broker were new: nothing direct yet

        def sender(t: int) -> None:
            try:
                for i in range(25):
                    result = producer.send(Message("SyncDirect", f"t{t}-{i}", keys=f"k{t}"))
                    assert result.status == SendStatus.SEND_OK
                    results.append(result.msg_id)
            except BaseException as exc:  # reported by the main thread
                errors.append(exc)

        threads = [threading.Thread(target=sender, args=(t,)) for t in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors
        assert len(direct._open) == 4  # one socket per sending thread
        producer.send_oneway(Message("SyncDirect", "oneway"))
        assert len(direct._open) == 5  # this thread's, opened by the oneway send
    assert not direct._open  # closed by shutdown
    got = _drain(addr, "CG_sync_direct", queues, 102)
    assert set(results) <= {m.msg_id for m in got}
    assert len(got) == 102
    assert sorted(m.body.decode() for m in got) == sorted(
        ["first", "oneway"] + [f"t{t}-{i}" for t in range(4) for i in range(25)]
    )


def test_a_broken_direct_socket_is_retried_through_the_loop_with_the_same_id(addr: str) -> None:
    with Admin(addr) as admin:
        queues = create_topic(admin, "SyncDirectRetry", 2)
    with Producer("PG_sync_direct_retry", addr) as producer:
        ids = [producer.send(Message("SyncDirectRetry", f"m{i}")).msg_id for i in range(2)]
        direct = producer._direct
        assert direct is not None
        (conn,) = direct._open  # the second send went direct
        conn._sock.close()  # the next direct attempt fails on the socket
        retried = producer.send(Message("SyncDirectRetry", "retried"))
        assert retried.status == SendStatus.SEND_OK
        assert conn not in direct._open
        ids.append(retried.msg_id)
        ids.append(producer.send(Message("SyncDirectRetry", "after")).msg_id)  # a new socket
        assert len(direct._open) == 1
    got = _drain(addr, "CG_sync_direct_retry", queues, 4)
    assert sorted(m.msg_id for m in got) == sorted(ids)
    assert sorted(m.body.decode() for m in got) == ["after", "m0", "m1", "retried"]
