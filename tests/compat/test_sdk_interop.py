"""Our SDK against the real cpp and JavaScript RocketMQ clients, checked message by message.

Every test runs a real ``mqnamesrv`` + ``mqbroker`` (``cluster_processes``) and drives a peer
through a small script in ``drivers/`` that prints one JSON object per line:

* ``drivers/cpp_client.py``: Apache rocketmq-client-cpp through its Python binding, run with the
  cpp peer's interpreter (``/tmp/peers/venv-cpp/bin/python``).
* ``drivers/ali_ons_client.js``: ali-ons, run with ``node``.

What the peers cannot show (and so is not asserted for them):

* The cpp binding returns a received body as a C string, so it ends at the first NUL byte:
  bodies sent to the cpp consumer are NUL-free (binary, but without 0x00). Sending works with
  any bytes (``SetByteMessageBody``).
* The cpp binding reads properties only by name (``GetMessageProperty``): the driver is told
  which names to read, so an unexpected extra property would go unnoticed there.
* The cpp binding has no ConsumeFromWhere setter: a fresh cpp group starts at offset 0 because
  the broker answers QUERY_CONSUMER_OFFSET with 0 for a queue that still starts at 0.
* The cpp batch send reports no message id (``msgId`` is empty), so batch messages are matched
  by body only.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import anyio
import pytest

from rocketmq_py import (
    AsyncAdmin,
    AsyncLitePullConsumer,
    AsyncProducer,
    Message,
    MessageView,
    SendResult,
)
from tests.conftest import ServerProcess

pytestmark = [pytest.mark.peers, pytest.mark.anyio]

DRIVERS = Path(__file__).resolve().parent / "drivers"
PEERS_DIR = Path(os.environ.get("PEERS_DIR", "/tmp/peers"))
CPP_PYTHON = PEERS_DIR / "venv-cpp" / "bin" / "python"
NODE_MODULES = PEERS_DIR / "node-ali-ons" / "node_modules"
COMPRESSED_FLAG = 0x1  # MessageSysFlag.COMPRESSED_FLAG

Cluster = tuple[ServerProcess, ServerProcess]
Event = dict[str, Any]


# -- the messages -------------------------------------------------------------------------------


@dataclass
class Sample:
    """One message as sent, and what every consumer must see of it."""

    body: bytes
    tags: str | None = None
    keys: str | None = None
    properties: dict[str, str] = field(default_factory=dict)

    def spec(self, topic: str) -> dict[str, Any]:
        """The JSON form the drivers' ``produce`` command reads."""
        return {
            "topic": topic,
            "tags": self.tags,
            "keys": self.keys,
            "body_b64": base64.b64encode(self.body).decode(),
            "properties": self.properties,
        }

    def message(self, topic: str) -> Message:
        return Message(
            topic, self.body, tags=self.tags, keys=self.keys, properties=dict(self.properties)
        )


def samples(run: str, label: str, *, nul: bool, plain: int = 12) -> list[Sample]:
    """Distinct bodies (all start with ``run|label|``): a > 4 KiB one (compressed on the way),
    non-ASCII text, binary (with a NUL byte when ``nul``), no tags/keys, and ``plain`` more."""
    head = f"{run}|{label}|"
    binary = bytes(range(0 if nul else 1, 256))
    big = "".join(f"line {i:04d}: compressible text, ünïcödé ✓\n" for i in range(200))
    out = [
        Sample(
            f"{head}big\n{big}".encode(),
            "TagBig",
            f"{run}-big",
            {"kind": "big", "size": str(len(big))},
        ),
        Sample(
            f"{head}Grüße, 日本語, русский, emoji 🚀".encode(),
            "TagA",
            f"{run}-ключ {run}-键",
            {"kind": "text", "note": "värde = 値: a,b;c ✓"},
        ),
        Sample(head.encode() + binary, "TagBin", f"{run}-bin", {"kind": "binary"}),
        Sample(f"{head}bare".encode(), properties={"kind": "bare"}),
    ]
    out += [
        Sample(
            f"{head}plain|{i}".encode(),
            "TagA" if i % 2 == 0 else "TagB",
            f"{run}-k{i} {run}-shared",
            {"kind": "plain", "seq": str(i)},
        )
        for i in range(plain)
    ]
    return out


PROPERTY_NAMES = "kind,size,note,seq"


def view_event(view: MessageView) -> Event:
    """A received :class:`MessageView` in the drivers' JSON form."""
    return {
        "topic": view.topic,
        "tags": view.tags,
        "keys": view.keys,
        "body_b64": base64.b64encode(view.body).decode(),
        "properties": dict(view.properties),
        "msg_id": view.msg_id,
        "offset_msg_id": view.offset_msg_id,
        "queue_id": view.queue.queue_id,
        "sys_flag": view.sys_flag,
    }


def body_of(event: Event) -> bytes:
    return base64.b64decode(event["body_b64"])


def problems(sample: Sample, topic: str, got: Event) -> list[str]:
    """How ``got`` differs from ``sample`` (missing tags/keys read as "" or null alike)."""
    out = []
    name = sample.body[:40]
    if got["topic"] != topic:
        out.append(f"{name!r}: topic {got['topic']!r}")
    if (got.get("tags") or None) != sample.tags:
        out.append(f"{name!r}: tags {got.get('tags')!r} != {sample.tags!r}")
    if (got.get("keys") or None) != sample.keys:
        out.append(f"{name!r}: keys {got.get('keys')!r} != {sample.keys!r}")
    if body_of(got) != sample.body:
        out.append(f"{name!r}: body differs ({len(body_of(got))} vs {len(sample.body)} bytes)")
    props = got.get("properties") or {}
    for key, value in sample.properties.items():
        if props.get(key) != value:
            out.append(f"{name!r}: property {key}={props.get(key)!r} != {value!r}")
    return out


def by_body(events: list[Event]) -> dict[bytes, list[Event]]:
    out: dict[bytes, list[Event]] = {}
    for event in events:
        out.setdefault(body_of(event), []).append(event)
    return out


# -- driving the peers --------------------------------------------------------------------------


class Driver:
    """A peer driver subprocess; a thread collects its JSON stdout lines as events."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], stdin: bytes | None):
        self.name = name
        self.events: list[Event] = []
        self.noise: list[str] = []  # stderr and non-JSON stdout, for failure reports
        self._lock = threading.Lock()
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._threads = [
            threading.Thread(target=self._read, args=(self.proc.stdout, True), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, False), daemon=True),
        ]
        self._writer: threading.Thread | None = None
        if stdin is not None:
            self._writer = threading.Thread(target=self._write, args=(stdin,), daemon=True)
            self._threads.append(self._writer)
        for thread in self._threads:
            thread.start()

    def _write(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        with contextlib.suppress(OSError, ValueError):
            self.proc.stdin.write(data)
            self.proc.stdin.close()

    def _read(self, stream: IO[bytes], events: bool) -> None:
        for raw in stream:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self._lock:
                if events and line.startswith("{"):
                    try:
                        self.events.append(json.loads(line))
                        continue
                    except ValueError:
                        pass
                if len(self.noise) < 2000:
                    self.noise.append(line)

    def messages(self) -> list[Event]:
        with self._lock:
            return [e for e in self.events if e.get("event") == "message"]

    def of_kind(self, kind: str) -> list[Event]:
        with self._lock:
            return [e for e in self.events if e.get("event") == kind]

    def report(self) -> str:
        with self._lock:
            tail = [
                json.dumps({k: v for k, v in e.items() if k != "body_b64"})
                for e in self.events[-15:]
            ]
            return (
                f"{self.name}: exit {self.proc.poll()}, {len(self.events)} events; last:\n  "
                + "\n  ".join(tail)
                + "\nstderr/other:\n  "
                + "\n  ".join(self.noise[-30:])
            )

    async def wait_event(self, kind: str, timeout: float) -> None:
        await wait_until(lambda: bool(self.of_kind(kind)), timeout, f"{kind} from {self.name}")

    async def exit_code(self, timeout: float) -> int:
        with anyio.fail_after(timeout):
            while self.proc.poll() is None:
                await anyio.sleep(0.05)
        return self.proc.returncode

    def stop(self) -> None:
        """Close stdin (a ``--expect 0`` consumer exits on it), then wait, kill if needed."""
        if self._writer is None and self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for thread in self._threads:
            thread.join(timeout=5)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


def _require_peer(peer: str) -> None:
    marker = CPP_PYTHON if peer == "cpp" else NODE_MODULES / "ali-ons"
    if not marker.exists():
        pytest.fail(f"peer {peer} is not installed: run ../shared/peers/install.sh (CI does)")
    if peer == "ali-ons" and shutil.which("node") is None:
        pytest.fail("node is not on PATH")


@contextlib.contextmanager
def driver(peer: str, *args: str, stdin: bytes | None = None) -> Iterator[Driver]:
    """Run a peer driver (``peer`` is ``cpp`` or ``ali-ons``) and always reap it."""
    _require_peer(peer)
    env = dict(os.environ)  # HOME is the test's temporary one: librocketmq logs go there
    if peer == "cpp":
        argv = [str(CPP_PYTHON), str(DRIVERS / "cpp_client.py"), *args]
    else:
        argv = [str(shutil.which("node")), str(DRIVERS / "ali_ons_client.js"), *args]
        env["NODE_PATH"] = str(NODE_MODULES)
    proc = Driver(peer, argv, env, stdin)
    try:
        yield proc
    finally:
        proc.stop()


async def produce_with(
    peer: str, namesrv: str, specs: list[dict[str, Any]], *args: str
) -> dict[int, Event]:
    """Send ``specs`` with a peer's producer; returns its ``sent`` events by index."""
    data = json.dumps(specs).encode()
    with driver(peer, "produce", "--namesrv", namesrv, *args, stdin=data) as proc:
        code = await proc.exit_code(60)
        assert code == 0, proc.report()
        sent = {e["index"]: e for e in proc.of_kind("sent")}
    assert len(sent) == (1 if "--batch" in args else len(specs)), sent
    assert all(e["status"] in (0, "SEND_OK") for e in sent.values()), sent
    return sent


async def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    with anyio.move_on_after(timeout):
        while not condition():
            await anyio.sleep(0.05)
        return
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


async def create_topic(namesrv: str, broker: str, topic: str, queues: int) -> None:
    """Create ``topic`` on the broker and wait until the name server routes it."""
    async with AsyncAdmin(namesrv) as admin:
        await admin.create_topic(
            topic, broker_addr=broker, read_queue_nums=queues, write_queue_nums=queues
        )
        await admin.wait_for_route(topic, read_queue_nums=queues)


async def send_ours(namesrv: str, topic: str, items: list[Sample]) -> list[SendResult]:
    async with AsyncProducer(f"PG_ours_{uuid.uuid4().hex[:8]}", namesrv) as producer:
        return [await producer.send(s.message(topic)) for s in items]


async def poll_all(
    consumer: AsyncLitePullConsumer, count: int, timeout: float = 30
) -> list[MessageView]:
    got: list[MessageView] = []
    with anyio.move_on_after(timeout):
        while len({m.msg_id for m in got}) < count:
            got += await consumer.poll(0.5)
    return got


def new_run() -> str:
    return uuid.uuid4().hex[:8]


# -- (a) and (b): our producer, the peers' consumers --------------------------------------------


def check_peer_received(
    peer: str, topic: str, items: list[Sample], results: list[SendResult], got: list[Event]
) -> None:
    """Every sample arrived once and intact, under the id our producer reported."""
    received = by_body(got)
    errors: list[str] = []
    for sample, result in zip(items, results, strict=True):
        copies = received.pop(sample.body, [])
        if len(copies) != 1:
            errors.append(f"{sample.body[:40]!r} received {len(copies)} times")
            continue
        event = copies[0]
        errors += problems(sample, topic, event)
        props = event["properties"]
        if props.get("UNIQ_KEY") != result.msg_id:
            errors.append(f"UNIQ_KEY {props.get('UNIQ_KEY')} != sent msg_id {result.msg_id}")
        # The cpp client shows UNIQ_KEY as the msg id; ali-ons shows the broker's offset id.
        expected_id = result.msg_id if peer == "cpp" else result.offset_msg_id
        if event["msg_id"] != expected_id:
            errors.append(f"{peer} msg id {event['msg_id']} != {expected_id}")
        if event["queue_id"] != result.queue.queue_id:
            errors.append(f"queue {event['queue_id']} != sent to {result.queue.queue_id}")
    errors += [f"unexpected message {body[:40]!r}" for body in received]
    assert not errors, "\n".join(errors)


async def assert_stored_compressed(namesrv: str, result: SendResult) -> None:
    """The big sample really went compressed (read back with our consumer's raw sys flag)."""
    async with AsyncLitePullConsumer(
        f"GID_check_{new_run()}", namesrv, consume_from_where="first", auto_commit=False
    ) as consumer:
        consumer.assign([result.queue])
        with anyio.fail_after(15):
            while True:
                views = [v for v in await consumer.poll(0.5) if v.msg_id == result.msg_id]
                if views:
                    break
    assert views[0].sys_flag & COMPRESSED_FLAG, views[0].sys_flag


@pytest.mark.parametrize("peer", ["cpp", "ali-ons"])
async def test_our_producer_to_peer_consumer(cluster_processes: Cluster, peer: str) -> None:
    namesrv, _ = cluster_processes
    run = new_run()
    topic = f"ToPeer{run}"
    # The cpp consumer reads bodies as C strings: no NUL byte for it (see the module doc).
    items = samples(run, "ours", nul=peer != "cpp")
    results = await send_ours(namesrv.addr, topic, items)
    args = ["consume", "--namesrv", namesrv.addr, "--topic", topic, "--group", f"GID_{run}"]
    args += ["--expect", str(len(items)), "--linger", "1", "--timeout", "45"]
    if peer == "cpp":
        args += ["--props", PROPERTY_NAMES]
    with driver(peer, *args) as proc:
        code = await proc.exit_code(60)
        assert code == 0, proc.report()
        got = proc.messages()
    check_peer_received(peer, topic, items, results, got)
    await assert_stored_compressed(namesrv.addr, results[0])


@pytest.mark.parametrize("peer", ["cpp", "ali-ons"])
async def test_our_auto_batched_producer_to_peer_consumer(
    cluster_processes: Cluster, peer: str
) -> None:
    # With auto_batch the samples leave in batch requests (bodies uncompressed, each message's
    # own properties and UNIQ_KEY): the peers must read them exactly as single sends.
    namesrv, _ = cluster_processes
    run = new_run()
    topic = f"ToPeerBatched{run}"
    items = samples(run, "ours-batched", nul=peer != "cpp")
    requests: list[int] = []

    async def hook(event: str, info: dict[str, Any]) -> None:
        if event == "send.complete":
            requests.append(info["message_count"])

    results: list[SendResult | None] = [None] * len(items)
    async with AsyncProducer(
        f"PG_ours_{run}", namesrv.addr, auto_batch=True, hooks=[hook]
    ) as producer:
        await producer.send(Message(topic, f"{run}|route".encode()))  # route first

        async def one(position: int) -> None:
            results[position] = await producer.send(items[position].message(topic))

        async with anyio.create_task_group() as tg:
            for position in range(len(items)):
                tg.start_soon(one, position)
    assert max(requests[1:]) > 1  # batched, not sent one by one
    sent = [r for r in results if r is not None]
    args = ["consume", "--namesrv", namesrv.addr, "--topic", topic, "--group", f"GID_{run}"]
    args += ["--expect", str(len(items) + 1), "--linger", "1", "--timeout", "45"]
    if peer == "cpp":
        args += ["--props", PROPERTY_NAMES]
    with driver(peer, *args) as proc:
        code = await proc.exit_code(60)
        assert code == 0, proc.report()
        got = [e for e in proc.messages() if body_of(e) != f"{run}|route".encode()]
    check_peer_received(peer, topic, items, sent, got)


# -- (c): the peers' producers, our consumer ----------------------------------------------------


@dataclass
class Sent:
    sample: Sample
    msg_id: str | None  # our MessageView.msg_id must equal it (None: not reported)
    offset_msg_id: str | None  # our MessageView.offset_msg_id must equal it


async def produce_with_peers(namesrv: str, broker: str, topic: str, run: str) -> list[Sent]:
    """cpp sync sends, a cpp batch and ali-ons sends, all to ``topic`` (created first: ali-ons
    does not publish through TBW102)."""
    await create_topic(namesrv, broker, topic, 4)
    cpp_items = samples(run, "cpp", nul=True)
    batch_items = samples(run, "cpp-batch", nul=True, plain=4)[1:]  # batches are not compressed
    ons_items = samples(run, "ali-ons", nul=True)
    sent: list[Sent] = []
    cpp_sent = await produce_with("cpp", namesrv, [s.spec(topic) for s in cpp_items])
    # cpp reports UNIQ_KEY as the msg id of a send (as our MessageView.msg_id).
    sent += [Sent(s, cpp_sent[i]["msg_id"], None) for i, s in enumerate(cpp_items)]
    await produce_with("cpp", namesrv, [s.spec(topic) for s in batch_items], "--batch")
    sent += [Sent(s, None, None) for s in batch_items]
    ons_sent = await produce_with("ali-ons", namesrv, [s.spec(topic) for s in ons_items])
    # ali-ons reports the broker's offset id.
    sent += [Sent(s, None, ons_sent[i]["msg_id"]) for i, s in enumerate(ons_items)]
    return sent


def check_we_received(topic: str, sent: list[Sent], views: list[MessageView]) -> None:
    received = by_body([view_event(v) for v in views])
    errors: list[str] = []
    for item in sent:
        copies = received.pop(item.sample.body, [])
        if len(copies) != 1:
            errors.append(f"{item.sample.body[:40]!r} received {len(copies)} times")
            continue
        event = copies[0]
        errors += problems(item.sample, topic, event)
        if item.msg_id is not None and event["msg_id"] != item.msg_id:
            errors.append(f"msg id {event['msg_id']} != sent {item.msg_id}")
        if item.offset_msg_id is not None and event["offset_msg_id"] != item.offset_msg_id:
            errors.append(f"offset msg id {event['offset_msg_id']} != sent {item.offset_msg_id}")
        if not event["properties"].get("UNIQ_KEY"):
            errors.append(f"{item.sample.body[:40]!r} has no UNIQ_KEY")
    errors += [f"unexpected message {body[:40]!r}" for body in received]
    assert not errors, "\n".join(errors)
    compressed = [v for v in views if v.sys_flag & COMPRESSED_FLAG]
    # cpp and ali-ons both compress single bodies of >= 4 KiB: the two "big" samples.
    assert len(compressed) == 2, [v.body[:30] for v in compressed]


async def test_peer_producers_to_our_consumer_clustering(cluster_processes: Cluster) -> None:
    namesrv, broker = cluster_processes
    run = new_run()
    topic = f"FromPeers{run}"
    sent = await produce_with_peers(namesrv.addr, broker.addr, topic, run)
    async with AsyncLitePullConsumer(
        f"GID_{run}", namesrv.addr, consume_from_where="first"
    ) as consumer:
        consumer.subscribe(topic)
        views = await poll_all(consumer, len(sent))
        views += await consumer.poll(0.5)  # nothing may come twice
    check_we_received(topic, sent, views)


async def test_peer_producers_to_our_consumers_broadcasting(
    cluster_processes: Cluster, tmp_path: Path
) -> None:
    namesrv, broker = cluster_processes
    run = new_run()
    topic = f"FromPeersB{run}"
    sent = await produce_with_peers(namesrv.addr, broker.addr, topic, run)
    group = f"GID_bc_{run}"
    consumers = [
        AsyncLitePullConsumer(
            group,
            namesrv.addr,
            message_model="broadcasting",
            consume_from_where="first",
            instance_name=f"bc{i}",
            offset_store_dir=tmp_path / f"offsets{i}",
        )
        for i in range(2)
    ]
    for consumer in consumers:
        consumer.subscribe(topic)
    got: list[list[MessageView]] = [[], []]
    async with consumers[0], consumers[1]:

        async def collect(i: int) -> None:
            got[i] = await poll_all(consumers[i], len(sent))
            got[i] += await consumers[i].poll(0.5)

        async with anyio.create_task_group() as tg:
            for i in range(2):
                tg.start_soon(collect, i)
    for views in got:  # each broadcasting consumer gets everything
        check_we_received(topic, sent, views)


# -- (d): one group, our consumer and a cpp consumer --------------------------------------------


async def test_mixed_group_with_cpp_splits_queues(cluster_processes: Cluster) -> None:
    namesrv, broker = cluster_processes
    run = new_run()
    topic = f"Mixed{run}"
    group = f"GID_mixed_{run}"
    await create_topic(namesrv.addr, broker.addr, topic, 8)
    args = ["consume", "--namesrv", namesrv.addr, "--topic", topic, "--group", group]
    with driver("cpp", *args, "--props", PROPERTY_NAMES, "--timeout", "90") as cpp:
        await cpp.wait_event("ready", 30)
        async with AsyncLitePullConsumer(group, namesrv.addr, consume_from_where="first") as ours:
            ours.subscribe(topic)
            # Two members, eight queues: four each (AllocateMessageQueueAveragely on both sides).
            await wait_until(lambda: len(ours.assignment()) == 4, 30, "our 4 of 8 queues")
            await anyio.sleep(3)  # the cpp client rebalances on NOTIFY_CONSUMER_IDS_CHANGED
            our_queues = {q.queue_id for q in ours.assignment()}
            items = samples(run, "mixed", nul=False, plain=60)
            results = await send_ours(namesrv.addr, topic, items)
            assert {r.queue.queue_id for r in results} == set(range(8))
            sent_ids = {r.msg_id for r in results}
            mine: list[MessageView] = []

            def union() -> set[str]:
                theirs = {e["properties"].get("UNIQ_KEY") for e in cpp.messages()}
                return {m.msg_id for m in mine} | theirs

            with anyio.move_on_after(30):
                while not sent_ids <= union():
                    mine += await ours.poll(0.2)
            mine += await ours.poll(1.5)  # give any double delivery time to show up
            theirs = cpp.messages()  # before either leaves: a rebalance may redeliver then
            assert our_queues == {q.queue_id for q in ours.assignment()}
    report = cpp.report()
    their_ids = [e["properties"].get("UNIQ_KEY") for e in theirs]
    our_ids = [m.msg_id for m in mine]
    twice = [i for i, n in Counter(our_ids + their_ids).items() if n > 1]
    assert not twice, f"consumed more than once: {twice}\n{report}"
    missing = sent_ids - set(our_ids) - set(their_ids)
    assert not missing, f"{len(missing)} of {len(sent_ids)} never consumed\n{report}"
    assert set(our_ids) | set(their_ids) == sent_ids
    assert our_ids and their_ids, f"ours {len(our_ids)}, cpp {len(their_ids)}"
    # The queues split without overlap or gap: each queue was read by one side only.
    their_queues = {e["queue_id"] for e in theirs}
    assert {m.queue.queue_id for m in mine} == our_queues
    assert their_queues == set(range(8)) - our_queues
    # ... and what the cpp consumer got is intact.
    expected = {r.msg_id: s for s, r in zip(items, results, strict=True)}
    errors = [p for e in theirs for p in problems(expected[e["msg_id"]], topic, e)]
    assert not errors, "\n".join(errors)
