"""Remoting load generator for ``mqbroker`` (and a smoke test against ``mqnamesrv``).

Drives a broker over its real wire protocol with a deliberately cheap client, so that what gets
measured is the server: one ``asyncio.Protocol`` (uvloop when installed) around the sans-IO
:class:`~rocketmq_py.protocol.connection.RemotingConnection`, requests pre-encoded into a pool of
frames that is cycled (codec costs are measured by ``codec_bench.py``), every frame of a refill
written with one ``transport.write``, responses matched by opaque slot with no Future per message.

Modes (``--modes``, default all):

* ``sync``: 1 KiB SEND_MESSAGE_V2, one in flight on one connection; msgs/s and p50/p99 latency.
* ``inflight``: the same with ``--inflight`` (64) requests in flight.
* ``batch``: SEND_BATCH_MESSAGE bodies of ``--batch-sizes`` (32,256) messages built with the
  protocol's batch encoder, ``--batch-inflight`` (8) requests in flight.
* ``oneway``: oneway SEND_MESSAGE_V2, then one normal send as a barrier (a connection is
  served in order, so its answer means every oneway before it was handled).
* ``pull``: PULL_MESSAGE ``--pull-sizes`` (32) messages per request, one request in flight per
  queue, draining the topic from offset 0; the subscription flag carries ``*`` so no heartbeat
  is needed. Counts records by hopping their TOTALSIZE fields.
* ``route``: GET_ROUTEINFO_BY_TOPIC to the name server, 1 and ``--inflight`` in flight: a smoke
  test of the harness that needs no broker.

Sends go to a fresh topic (``--topic``) auto-created from TBW102 (defaultTopicQueueNums 4),
queue ids round robin. ``--spawn`` starts its own ``mqnamesrv`` and ``mqbroker`` on free ports
with a temporary HOME and store; otherwise ``--namesrv`` and/or ``--broker`` name running ones.

Run ``python benchmarks/remoting_bench.py --help``. Not a test: nothing here asserts speed.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import math
import os
import platform
import re
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from array import array
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar, cast

from _args import OneLineErrorParser

from rocketmq_py.protocol.bodies import ClusterInfo
from rocketmq_py.protocol.codes import RequestCode, ResponseCode
from rocketmq_py.protocol.command import RemotingCommand
from rocketmq_py.protocol.connection import RemotingConnection
from rocketmq_py.protocol.headers.pull import PullMessageRequestHeader
from rocketmq_py.protocol.headers.send import SendMessageRequestHeaderV2
from rocketmq_py.protocol.message import (
    MessageConst,
    PullSysFlag,
    UniqueIdGenerator,
    encode_batch,
    encode_properties,
)

ROOT = Path(__file__).resolve().parents[1]
MODES = ("sync", "inflight", "batch", "oneway", "pull", "route")
BROKER_MODES = frozenset(MODES) - {"route"}
SEND_MODES = ("sync", "inflight", "batch", "oneway")
NAMESRV_BOOT = re.compile(r"The Name Server boot success\. serializeType=JSON \(port (\d+)")
BROKER_BOOT = re.compile(r"boot success")
SINGLE_POOL = 4096  # distinct pre-encoded single-message frames, cycled
ONEWAY_CHUNK = 256  # oneway frames per transport.write
PRODUCER_GROUP = "bench_producer_group"
CONSUMER_GROUP = "bench_consumer_group"
_TOTAL_SIZE = struct.Struct(">i")

# performance.md section 5 (ambitious targets, 1 KiB bodies, this 2-vCPU box), msgs/s.
TARGETS: dict[tuple[str, str], str] = {
    ("sync", "ASYNC_FLUSH"): ">= 9k, p50<=110 p99<=250 µs",
    ("sync", "SYNC_FLUSH"): ">= 2.5k, p99 <= 1.5 ms",
    ("inflight", "ASYNC_FLUSH"): ">= 80k",
    ("inflight", "SYNC_FLUSH"): ">= 35k (64 in flight)",
    ("batch 32", "ASYNC_FLUSH"): ">= 150k",
    ("batch 32", "SYNC_FLUSH"): ">= 150k",
    ("batch 256", "ASYNC_FLUSH"): ">= 250k",
    ("batch 256", "SYNC_FLUSH"): ">= 250k",
    ("oneway", "ASYNC_FLUSH"): ">= 120k",
    ("pull 32", "ASYNC_FLUSH"): ">= 150k",
    ("pull 32", "SYNC_FLUSH"): ">= 150k",
    ("pull 256", "ASYNC_FLUSH"): ">= 300k",
    ("pull 256", "SYNC_FLUSH"): ">= 300k",
}

T = TypeVar("T")


class BenchError(Exception):
    """A failure to report in one line (exit status 1)."""


# -- results ---------------------------------------------------------------------------------


@dataclass
class Result:
    """One row of the table."""

    mode: str
    messages: int = 0
    requests: int = 0
    seconds: float = 0.0
    latencies: array[float] = field(default_factory=lambda: array("d"), repr=False)
    errors: collections.Counter[int] = field(default_factory=collections.Counter)
    notes: list[str] = field(default_factory=list)
    target: str = ""

    @property
    def msgs_per_s(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0

    def percentile_us(self, q: float) -> float | None:
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1e6

    def note_text(self) -> str:
        parts = list(self.notes)
        if self.errors:
            parts.append(
                "errors: "
                + ", ".join(
                    f"{count}x{_code_name(code)}" for code, count in sorted(self.errors.items())
                )
            )
        return "; ".join(parts)

    def to_json(self) -> dict[str, object]:
        return {
            "mode": self.mode,
            "messages": self.messages,
            "requests": self.requests,
            "seconds": round(self.seconds, 4),
            "msgs_per_s": round(self.msgs_per_s, 1),
            "p50_us": _round(self.percentile_us(0.50)),
            "p99_us": _round(self.percentile_us(0.99)),
            "errors": {_code_name(c): n for c, n in sorted(self.errors.items())},
            "notes": self.notes,
            "target": self.target,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _code_name(code: int) -> str:
    try:
        return ResponseCode(code).name
    except ValueError:
        return str(code)


# -- spawned servers -------------------------------------------------------------------------


class Spawned:
    """A server subprocess whose output is drained by a thread (kept: the last 200 lines)."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], echo: bool) -> None:
        self.name = name
        self.lines: collections.deque[str] = collections.deque(maxlen=200)
        self.match: re.Match[str] | None = None
        self._pattern: re.Pattern[str] | None = None
        self._event = threading.Event()
        self._echo = echo
        self.proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
            cwd=ROOT,
        )
        self._thread = threading.Thread(target=self._drain, name=f"drain-{name}", daemon=True)

    def wait_for(self, pattern: re.Pattern[str], timeout: float) -> re.Match[str]:
        """Start draining and wait until a line matches ``pattern``."""
        self._pattern = pattern
        self._thread.start()
        if not self._event.wait(timeout) or self.match is None:
            tail = " | ".join(line.rstrip() for line in list(self.lines)[-5:])
            status = self.proc.poll()
            state = f"exited with {status}" if status is not None else f"not ready in {timeout} s"
            raise BenchError(f"{self.name} {state}: {tail or 'no output'}")
        return self.match

    def _drain(self) -> None:
        stream: IO[str] | None = self.proc.stdout
        assert stream is not None
        try:
            for line in stream:
                self.lines.append(line)
                if self._echo:
                    print(f"[{self.name}] {line.rstrip()}", file=sys.stderr)
                if self.match is None and self._pattern is not None:
                    match = self._pattern.search(line)
                    if match:
                        self.match = match
                        self._event.set()
        except ValueError:  # stream closed under us by stop()
            pass
        finally:
            self._event.set()

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after 15 s; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return self.proc.returncode


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def free_broker_port() -> int:
    """A port P with P and P-2 (the broker's fast/VIP port) both free."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("0.0.0.0", 0))
            port = int(s.getsockname()[1])
        if port >= 1026 and _port_is_free(port) and _port_is_free(port - 2):
            return port
    raise BenchError("could not find a free port P with P-2 also free")


def spawn_namesrv(home: Path, echo: bool, spawned: list[Spawned]) -> str:
    """Start ``mqnamesrv`` on a free port (registered in ``spawned`` before waiting)."""
    env = {**os.environ, "HOME": str(home)}
    server = Spawned(
        "mqnamesrv",
        [sys.executable, "-m", "broker.namesrv.cli", "--listenPort", "0"],
        env,
        echo,
    )
    spawned.append(server)
    match = server.wait_for(NAMESRV_BOOT, 30)
    return f"127.0.0.1:{match.group(1)}"


def spawn_broker(home: Path, namesrv: str, flush: str, echo: bool, spawned: list[Spawned]) -> str:
    """Start ``mqbroker`` on a probed port (registered in ``spawned`` before waiting)."""
    port = free_broker_port()
    conf = home / "broker.conf"
    conf.write_text(
        "\n".join(
            [
                "brokerClusterName=BenchCluster",
                "brokerName=bench-broker",
                f"listenPort={port}",
                f"storePathRootDir={home / 'store'}",
                f"flushDiskType={flush}",
                "brokerIP1=127.0.0.1",
                "",
            ]
        )
    )
    env = {**os.environ, "HOME": str(home)}
    server = Spawned(
        "mqbroker",
        [sys.executable, "-m", "broker.cli", "-n", namesrv, "-c", str(conf)],
        env,
        echo,
    )
    spawned.append(server)
    server.wait_for(BROKER_BOOT, 60)
    return f"127.0.0.1:{port}"


# -- client ----------------------------------------------------------------------------------


class Driver:
    """What a mode does with the commands of one ``data_received`` batch.

    ``on_command`` sees each command; ``after_batch`` runs once per batch and may queue frames
    in ``out``, which the client writes with one ``transport.write``.
    """

    def __init__(self) -> None:
        self.out: list[bytes] = []
        self.unexpected = 0

    def on_command(self, cmd: RemotingCommand) -> None:
        self.unexpected += 1

    def after_batch(self) -> None:
        return None

    def connection_lost(self, exc: BaseException | None) -> None:
        return None


class Client(asyncio.Protocol):
    """A Remoting connection: bytes to commands through ``RemotingConnection``, to a driver."""

    def __init__(self) -> None:
        self.conn = RemotingConnection()
        self.transport: asyncio.Transport | None = None
        self.driver = Driver()
        self.lost = False
        self._writable = asyncio.Event()
        self._writable.set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCPTransport implements asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)
        self.transport.set_write_buffer_limits(high=4 * 1024 * 1024)

    def data_received(self, data: bytes) -> None:
        conn = self.conn
        conn.receive_data(data)
        driver = self.driver
        on_command = driver.on_command
        next_command = conn.next_command
        while True:
            cmd = next_command()
            if not isinstance(cmd, RemotingCommand):
                break
            on_command(cmd)
        driver.after_batch()
        self.flush()

    def flush(self) -> None:
        out = self.driver.out
        if out and self.transport is not None:
            self.transport.write(out[0] if len(out) == 1 else b"".join(out))
            out.clear()

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    async def writable(self) -> None:
        await self._writable.wait()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._writable.set()
        self.driver.connection_lost(exc or ConnectionResetError("connection closed by the peer"))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def connect(addr: str) -> Client:
    host, _, port = addr.rpartition(":")
    loop = asyncio.get_running_loop()
    try:
        _, client = await asyncio.wait_for(
            loop.create_connection(Client, host or "127.0.0.1", int(port)), 10
        )
    except (OSError, asyncio.TimeoutError, ValueError) as exc:
        raise BenchError(f"cannot connect to {addr}: {exc}") from None
    return client


@contextlib.asynccontextmanager
async def connected(addr: str) -> AsyncIterator[Client]:
    client = await connect(addr)
    try:
        yield client
    finally:
        client.close()


class WindowDriver(Driver):
    """Keeps up to ``depth`` requests in flight, cycling a pool of pre-encoded frames.

    The frame at index ``i`` carries opaque ``i``; the pool is larger than ``depth`` so an
    opaque is never reused while in flight. Sends stop at ``total`` requests or the deadline.
    """

    def __init__(
        self,
        frames: list[bytes],
        total: int,
        depth: int,
        seconds: float,
        on_response: Callable[[RemotingCommand], None] | None = None,
    ) -> None:
        super().__init__()
        if len(frames) <= depth and total > len(frames):
            raise ValueError("the frame pool must be larger than the window")
        self.frames = frames
        self.total = total
        self.depth = depth
        self.seconds = seconds
        self.on_response = on_response
        self.sent = 0
        self.done = 0
        self.stopped = False
        self.sent_at = [0.0] * len(frames)
        self.latencies: array[float] = array("d")
        self.errors: collections.Counter[int] = collections.Counter()
        self.finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.started = 0.0
        self.deadline = 0.0
        self.ended = 0.0

    def start(self) -> None:
        self.started = time.perf_counter()
        self.deadline = self.started + self.seconds
        self._refill(self.started)

    def _refill(self, now: float) -> None:
        room = min(self.depth - (self.sent - self.done), self.total - self.sent)
        if room <= 0:
            return
        frames = self.frames
        pool = len(frames)
        sent_at = self.sent_at
        out = self.out
        sent = self.sent
        for _ in range(room):
            slot = sent % pool
            sent_at[slot] = now
            out.append(frames[slot])
            sent += 1
        self.sent = sent

    def on_command(self, cmd: RemotingCommand) -> None:
        slot = cmd.opaque
        if not cmd.is_response or not 0 <= slot < len(self.frames):
            self.unexpected += 1
            return
        self.latencies.append(time.perf_counter() - self.sent_at[slot])
        if cmd.code != ResponseCode.SUCCESS:
            self.errors[cmd.code] += 1
        if self.on_response is not None:
            self.on_response(cmd)
        self.done += 1

    def after_batch(self) -> None:
        if self.finished.done():
            return
        now = time.perf_counter()
        if now >= self.deadline:
            self.stopped = True
        if not self.stopped:
            self._refill(now)
        if self.done >= self.sent and (self.stopped or self.sent >= self.total):
            self.ended = now
            self.finished.set_result(None)

    def connection_lost(self, exc: BaseException | None) -> None:
        if not self.finished.done():
            self.finished.set_exception(
                BenchError(f"connection lost after {self.done} of {self.sent} answers: {exc}")
            )


async def run_window(
    client: Client,
    driver: WindowDriver,
    result: Result,
    messages_per_request: int = 1,
    grace: float = 30.0,
) -> None:
    """Run a window driver to completion and fill ``result``."""
    client.driver = driver
    driver.start()
    client.flush()
    try:
        await asyncio.wait_for(driver.finished, driver.seconds + grace)
    except asyncio.TimeoutError:  # wait_for cancelled driver.finished
        result.notes.append(f"stalled: {driver.done} of {driver.sent} requests answered")
        driver.ended = time.perf_counter()
    except BenchError as exc:
        result.notes.append(str(exc))
        driver.ended = time.perf_counter()
    ok = driver.done - sum(driver.errors.values())
    result.requests += driver.done
    result.messages += ok * messages_per_request
    result.seconds += driver.ended - driver.started
    result.latencies.extend(driver.latencies)
    result.errors.update(driver.errors)
    if driver.stopped and driver.sent < driver.total:
        result.notes.append(f"time cap: {driver.sent} of {driver.total} requests sent")
    if driver.unexpected:
        result.notes.append(f"{driver.unexpected} unexpected commands")


# -- request frames --------------------------------------------------------------------------


class Frames:
    """Builds the pre-encoded frames of a run (one topic, queue ids round robin)."""

    def __init__(self, topic: str, queues: int, body_size: int) -> None:
        self.topic = topic
        self.queues = queues
        self.body = (b"rocketmq-py bench " * (body_size // 18 + 1))[:body_size]
        self._ids = UniqueIdGenerator("127.0.0.1", os.getpid(), id(self))
        self._now = int(time.time() * 1000)

    def _uniq(self) -> str:
        return self._ids.next_id(self._now, self._now - 3_600_000)

    def _header(self, queue_id: int, properties: str, batch: bool) -> SendMessageRequestHeaderV2:
        return SendMessageRequestHeaderV2(
            producer_group=PRODUCER_GROUP,
            topic=self.topic,
            default_topic="TBW102",
            default_topic_queue_nums=4,
            queue_id=queue_id,
            sys_flag=0,
            born_timestamp=self._now,
            flag=0,
            properties=properties,
            reconsume_times=0,
            unit_mode=False,
            max_reconsume_times=16,
            batch=batch,
        )

    def _properties(self, i: int) -> dict[str, str]:
        return {
            MessageConst.PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX: self._uniq(),
            MessageConst.PROPERTY_TAGS: "TagA",
            MessageConst.PROPERTY_KEYS: f"key{i}",
        }

    def single(self, count: int, *, oneway: bool = False, first_opaque: int = 0) -> list[bytes]:
        """``count`` SEND_MESSAGE_V2 frames; frame ``i`` has opaque ``first_opaque + i``."""
        out = []
        for i in range(count):
            props = self._properties(i)
            props[MessageConst.PROPERTY_WAIT_STORE_MSG_OK] = "true"
            cmd = RemotingCommand.request(
                RequestCode.SEND_MESSAGE_V2,
                self._header(
                    i % self.queues, encode_properties(props, trailing_separator=False), False
                ),
                self.body,
                oneway=oneway,
                opaque=first_opaque + i,
            )
            out.append(cmd.encode())
        return out

    def batch(self, count: int, size: int) -> list[bytes]:
        """``count`` SEND_BATCH_MESSAGE frames of ``size`` messages each."""
        out = []
        for i in range(count):
            body = encode_batch((self.body, 0, self._properties(j)) for j in range(size))
            cmd = RemotingCommand.request(
                RequestCode.SEND_BATCH_MESSAGE,
                self._header(i % self.queues, "WAIT\x01true", True),
                body,
                opaque=i,
            )
            out.append(cmd.encode())
        return out

    def pull(self, queue_id: int, offset: int, size: int, opaque: int) -> bytes:
        header = PullMessageRequestHeader(
            consumer_group=CONSUMER_GROUP,
            topic=self.topic,
            queue_id=queue_id,
            queue_offset=offset,
            max_msg_nums=size,
            # Subscription without suspend: no heartbeat needed, no long-polling hold.
            sys_flag=PullSysFlag.FLAG_SUBSCRIPTION,
            commit_offset=0,
            suspend_timeout_millis=0,
            sub_version=self._now,
            subscription="*",
            expression_type="TAG",
        )
        return RemotingCommand.request(RequestCode.PULL_MESSAGE, header, opaque=opaque).encode()


# -- modes -----------------------------------------------------------------------------------


@dataclass
class Plan:
    """Everything the modes need."""

    args: argparse.Namespace
    frames: Frames
    broker: str | None
    namesrv: str | None
    flush: str
    stored: int = 0  # messages acknowledged as stored (for the pull check)
    oneway_sent: int = 0


async def mode_sends(plan: Plan, name: str, depth: int, total: int) -> Result:
    assert plan.broker is not None
    args = plan.args
    result = Result(name, target=TARGETS.get((name, plan.flush), ""))
    pool = plan.frames.single(min(max(SINGLE_POOL, 2 * depth), total))
    async with connected(plan.broker) as client:
        driver = WindowDriver(pool, total, depth, args.seconds)
        await run_window(client, driver, result)
    if name == "inflight":
        result.mode = f"inflight x{depth}"
    plan.stored += result.messages
    return result


async def mode_batch(plan: Plan, size: int) -> Result:
    assert plan.broker is not None
    args = plan.args
    name = f"batch {size}"
    result = Result(name, target=TARGETS.get((name, plan.flush), ""))
    requests = max(1, math.ceil(args.messages / size))
    depth = args.batch_inflight
    pool = plan.frames.batch(min(requests, max(2 * depth, 16)), size)
    async with connected(plan.broker) as client:
        driver = WindowDriver(pool, requests, depth, args.seconds)
        await run_window(client, driver, result, messages_per_request=size)
    result.notes.append(f"{depth} in flight; latency per request")
    plan.stored += result.messages
    return result


class _Counting(Driver):
    """Counts commands that arrive while oneway frames are written (there should be none)."""


async def mode_oneway(plan: Plan) -> Result:
    assert plan.broker is not None
    args = plan.args
    result = Result("oneway", target=TARGETS.get(("oneway", plan.flush), ""))
    total = args.messages
    pool = plan.frames.single(min(SINGLE_POOL, total), oneway=True)
    # Pre-join cyclic chunks: the client's work per write is one memcpy into the socket.
    chunks = []
    if len(pool) % ONEWAY_CHUNK == 0:
        chunks = [
            b"".join(pool[start : start + ONEWAY_CHUNK])
            for start in range(0, len(pool), ONEWAY_CHUNK)
        ]
    barrier = plan.frames.single(1)[0]
    async with connected(plan.broker) as client:
        assert client.transport is not None
        counting = _Counting()
        client.driver = counting
        started = time.perf_counter()
        deadline = started + args.seconds
        sent = 0
        index = 0
        while sent < total and not client.lost:
            n = min(ONEWAY_CHUNK, total - sent)
            if n == ONEWAY_CHUNK and chunks:
                client.transport.write(chunks[index % len(chunks)])
                index += 1
            else:
                client.transport.write(b"".join(pool[(sent + i) % len(pool)] for i in range(n)))
            sent += n
            await client.writable()
            if time.perf_counter() >= deadline:
                result.notes.append(f"time cap: {sent} of {total} sent")
                break
        barrier_result = Result("barrier")
        driver = WindowDriver([barrier], 1, 1, args.seconds)
        await run_window(client, driver, barrier_result)
        result.seconds = driver.ended - started
        if barrier_result.notes or barrier_result.errors:
            result.notes.append("barrier: " + barrier_result.note_text())
    result.messages = sent
    result.requests = sent
    if counting.unexpected:
        result.notes.append(f"{counting.unexpected} answers to oneway requests")
    plan.stored += sent + barrier_result.messages
    plan.oneway_sent += sent
    return result


class PullDriver(Driver):
    """One pull in flight per queue (like a consumer), each queue drained to its max offset."""

    def __init__(self, frames: Frames, size: int, seconds: float) -> None:
        super().__init__()
        self.frames = frames
        self.size = size
        self.offsets = [0] * frames.queues
        self.sent_at = [0.0] * frames.queues
        self.active = set(range(frames.queues))
        self.latencies: array[float] = array("d")
        self.errors: collections.Counter[int] = collections.Counter()
        self.messages = 0
        self.requests = 0
        self.retries = 0
        self.seconds = seconds
        self.deadline = 0.0
        self.timed_out = False
        self.finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def start(self) -> None:
        now = time.perf_counter()
        self.deadline = now + self.seconds
        for q in sorted(self.active):
            self._pull(q, now)

    def _pull(self, q: int, now: float) -> None:
        self.sent_at[q] = now
        self.out.append(self.frames.pull(q, self.offsets[q], self.size, q))

    def on_command(self, cmd: RemotingCommand) -> None:
        q = cmd.opaque
        if not cmd.is_response or q not in self.active:
            self.unexpected += 1
            return
        now = time.perf_counter()
        self.latencies.append(now - self.sent_at[q])
        self.requests += 1
        ext = cmd.ext_fields or {}
        code = cmd.code
        if code == ResponseCode.SUCCESS:
            body = cmd.body or b""
            pos, n, end = 0, 0, len(body)
            while pos + 4 <= end:
                (total_size,) = _TOTAL_SIZE.unpack_from(body, pos)
                if total_size <= 0:
                    break
                pos += total_size
                n += 1
            self.messages += n
            nxt = int(ext.get("nextBeginOffset", self.offsets[q] + n))
            max_offset = int(ext.get("maxOffset", nxt))
            self.offsets[q] = nxt
            if n == 0 or nxt >= max_offset:
                self.active.discard(q)
            elif now >= self.deadline:
                self.timed_out = True
                self.active.discard(q)
            else:
                self._pull(q, now)
        elif code in (ResponseCode.PULL_RETRY_IMMEDIATELY, ResponseCode.PULL_OFFSET_MOVED):
            self.retries += 1
            nxt = int(ext.get("nextBeginOffset", self.offsets[q]))
            if self.retries > 100 or now >= self.deadline:
                self.errors[code] += 1
                self.active.discard(q)
            else:
                self.offsets[q] = nxt
                self._pull(q, now)
        elif code == ResponseCode.PULL_NOT_FOUND:
            self.active.discard(q)
        else:
            self.errors[code] += 1
            self.active.discard(q)

    def after_batch(self) -> None:
        if not self.active and not self.finished.done():
            self.finished.set_result(None)

    def connection_lost(self, exc: BaseException | None) -> None:
        if not self.finished.done():
            self.finished.set_exception(BenchError(f"connection lost while pulling: {exc}"))


async def mode_pull(plan: Plan, size: int) -> Result:
    assert plan.broker is not None
    args = plan.args
    name = f"pull {size}"
    result = Result(name, target=TARGETS.get((name, plan.flush), ""))
    async with connected(plan.broker) as client:
        driver = PullDriver(plan.frames, size, args.seconds)
        client.driver = driver
        started = time.perf_counter()
        driver.start()
        client.flush()
        try:
            await asyncio.wait_for(driver.finished, args.seconds + 30)
        except asyncio.TimeoutError:
            result.notes.append(f"stalled with queues {sorted(driver.active)} outstanding")
        except BenchError as exc:
            result.notes.append(str(exc))
        result.seconds = time.perf_counter() - started
    result.messages = driver.messages
    result.requests = driver.requests
    result.latencies = driver.latencies
    result.errors = driver.errors
    result.notes.append(f"{plan.frames.queues} in flight (1 per queue)")
    if driver.timed_out:
        result.notes.append("time cap")
    if plan.stored:
        result.notes.append(f"drained {driver.messages} of {plan.stored} stored")
    if driver.unexpected:
        result.notes.append(f"{driver.unexpected} unexpected commands")
    return result


async def mode_route(plan: Plan, depth: int) -> Result:
    assert plan.namesrv is not None
    args = plan.args
    topic = "TBW102"
    name = "route" if depth == 1 else f"route x{depth}"
    result = Result(name)
    total = args.sync_messages
    pool = [
        RemotingCommand.request(
            RequestCode.GET_ROUTEINFO_BY_TOPIC, {"topic": topic}, opaque=i
        ).encode()
        for i in range(max(256, 2 * depth))
    ]
    async with connected(plan.namesrv) as client:
        driver = WindowDriver(pool, total, depth, args.seconds)
        await run_window(client, driver, result)
    # Any answer is a round trip: TOPIC_NOT_EXIST just means no broker registered TBW102 yet.
    not_found = result.errors.pop(ResponseCode.TOPIC_NOT_EXIST, 0)
    result.messages += not_found
    if not_found:
        result.notes.append(f"{topic}: {not_found}x TOPIC_NOT_EXIST (no broker registered)")
    result.notes.append("requests, not messages")
    return result


async def find_broker(namesrv: str) -> str:
    """The master address of the first broker registered with ``namesrv``."""
    result_box: list[RemotingCommand] = []

    def keep(cmd: RemotingCommand) -> None:
        result_box.append(cmd)

    frame = RemotingCommand.request(RequestCode.GET_BROKER_CLUSTER_INFO, opaque=0).encode()
    async with connected(namesrv) as client:
        driver = WindowDriver([frame], 1, 1, 10.0, on_response=keep)
        await run_window(client, driver, Result("cluster"))
    if not result_box or result_box[0].code != ResponseCode.SUCCESS or not result_box[0].body:
        raise BenchError(f"name server {namesrv} did not answer GET_BROKER_CLUSTER_INFO")
    info = ClusterInfo.from_json(result_box[0].body)
    for name in sorted(info.broker_addr_table):
        addr = info.broker_addr_table[name].master_addr()
        if addr:
            return addr
    raise BenchError(f"no broker master is registered with {namesrv}: use --broker or --spawn")


async def prefill(plan: Plan) -> None:
    """Store messages for a pull-only run (not measured)."""
    await mode_sends(plan, "prefill", min(64, plan.args.inflight), plan.args.messages)


async def run_modes(plan: Plan, modes: list[str], report: Callable[[Result], None]) -> None:
    args = plan.args
    if any(m in BROKER_MODES for m in modes) and plan.broker is None:
        assert plan.namesrv is not None
        plan.broker = await find_broker(plan.namesrv)
    for mode in modes:
        if mode == "sync":
            report(await mode_sends(plan, "sync", 1, args.sync_messages))
        elif mode == "inflight":
            report(await mode_sends(plan, "inflight", args.inflight, args.messages))
        elif mode == "batch":
            for size in args.batch_sizes:
                report(await mode_batch(plan, size))
        elif mode == "oneway":
            report(await mode_oneway(plan))
        elif mode == "pull":
            if not any(m in SEND_MODES for m in modes):
                await prefill(plan)
            for size in args.pull_sizes:
                report(await mode_pull(plan, size))
        elif mode == "route":
            if plan.namesrv is None:
                report(Result("route", notes=["skipped: no name server (use --namesrv)"]))
                continue
            report(await mode_route(plan, 1))
            report(await mode_route(plan, args.inflight))


# -- output ----------------------------------------------------------------------------------


def _fmt_us(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if value < 10_000 else f"{value / 1000:,.1f}ms"


def header_lines(meta: dict[str, object]) -> list[str]:
    return [
        f"Remoting load: broker {meta['broker'] or '-'}, namesrv {meta['namesrv'] or '-'}, "
        f"{meta['flush']}{' (spawned)' if meta['spawned'] else ''}",
        f"client: Python {meta['python']}, loop {meta['loop']}, {meta['cpus']} CPUs, "
        f"{meta['body_size']} B bodies, topic {meta['topic']} ({meta['queues']} queues)",
    ]


COLUMNS = (
    f"{'mode':<13} {'msgs':>9} {'secs':>7} {'msgs/s':>10} {'p50 µs':>8} {'p99 µs':>8}  "
    f"{'target (perf.md §5)':<28} notes"
)


def row(r: Result) -> str:
    return (
        f"{r.mode:<13} {r.messages:>9,} {r.seconds:>7.2f} {r.msgs_per_s:>10,.0f} "
        f"{_fmt_us(r.percentile_us(0.5)):>8} {_fmt_us(r.percentile_us(0.99)):>8}  "
        f"{r.target:<28} {r.note_text()}"
    )


# -- main ------------------------------------------------------------------------------------


def _csv_ints(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers: {text!r}") from None
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive integers: {text!r}")
    return values


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = OneLineErrorParser(
        description=(
            "Remoting load generator for mqbroker: sync, in-flight, batch and oneway sends, "
            "pulls, and a name server route smoke test. Prints a table (or --json)."
        ),
        epilog=(
            "examples:\n"
            "  remoting_bench.py --spawn                       # own namesrv + broker, all modes\n"
            "  remoting_bench.py --spawn --flush SYNC_FLUSH --modes sync,inflight,batch\n"
            "  remoting_bench.py --spawn --modes route         # harness check: namesrv only\n"
            "  remoting_bench.py --broker 127.0.0.1:10911 --modes inflight --inflight 1024\n"
            "  remoting_bench.py --namesrv 127.0.0.1:9876      # broker found via cluster info"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    target = parser.add_argument_group("target")
    target.add_argument(
        "--spawn",
        action="store_true",
        help="start mqnamesrv (+ mqbroker for broker modes) on free ports, temp HOME and store",
    )
    target.add_argument(
        "--flush",
        choices=("ASYNC_FLUSH", "SYNC_FLUSH"),
        default="ASYNC_FLUSH",
        help="flushDiskType of the spawned broker (and which targets to show)",
    )
    target.add_argument("--namesrv", metavar="HOST:PORT", help="a running name server")
    target.add_argument("--broker", metavar="HOST:PORT", help="a running broker")
    target.add_argument(
        "--verbose", action="store_true", help="echo spawned servers' output to stderr"
    )
    load = parser.add_argument_group("load")
    load.add_argument(
        "--modes",
        default=",".join(MODES),
        help=f"comma-separated, in order (default: {','.join(MODES)})",
    )
    load.add_argument(
        "--messages",
        type=int,
        default=100_000,
        help="messages per inflight/batch/oneway mode (default 100000)",
    )
    load.add_argument(
        "--sync-messages",
        type=int,
        default=10_000,
        help="messages of the sync mode and requests per route case (default 10000)",
    )
    load.add_argument("--seconds", type=float, default=10.0, help="time cap per mode (default 10)")
    load.add_argument(
        "--inflight", type=int, default=64, help="requests in flight for inflight (default 64)"
    )
    load.add_argument(
        "--batch-sizes", type=_csv_ints, default=[32, 256], help="messages per batch (32,256)"
    )
    load.add_argument(
        "--batch-inflight", type=int, default=8, help="batch requests in flight (default 8)"
    )
    load.add_argument(
        "--pull-sizes", type=_csv_ints, default=[32], help="maxMsgNums per pull (default 32)"
    )
    load.add_argument("--body-size", type=int, default=1024, help="body bytes (default 1024)")
    load.add_argument("--queues", type=int, default=4, help="queue ids to use (default 4)")
    load.add_argument("--topic", help="topic (default: a fresh bench-<time>-<pid>)")
    load.add_argument(
        "--loop",
        choices=("auto", "uvloop", "asyncio"),
        default="auto",
        help="client event loop (auto: uvloop when installed)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    bad = [m for m in modes if m not in MODES]
    if bad or not modes:
        parser.error(
            f"--modes: unknown {', '.join(bad) or '(none)'}; choose from {', '.join(MODES)}"
        )
    args.modes = modes
    for name in ("messages", "sync_messages", "inflight", "batch_inflight", "body_size", "queues"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    if args.seconds <= 0:
        parser.error("--seconds must be positive")
    if not args.spawn and not args.namesrv and not args.broker:
        parser.error("say where to send: --spawn, --namesrv HOST:PORT or --broker HOST:PORT")
    if args.spawn and (args.namesrv or args.broker):
        parser.error("--spawn starts its own servers: drop --namesrv/--broker")
    if args.queues > 4:
        parser.error("--queues: the topic is auto-created with 4 queues (defaultTopicQueueNums)")
    return args


def _loop_factory(choice: str) -> tuple[str, Callable[[], asyncio.AbstractEventLoop]]:
    if choice in ("auto", "uvloop"):
        try:
            import uvloop
        except ImportError:
            if choice == "uvloop":
                raise BenchError(
                    "uvloop is not installed (pip install 'rocketmq-py[speed]')"
                ) from None
        else:
            return "uvloop", uvloop.new_event_loop
    return "asyncio", asyncio.new_event_loop


def run_async(factory: Callable[[], asyncio.AbstractEventLoop], coro: Coroutine[Any, Any, T]) -> T:
    loop = factory()
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(coro)
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


@contextlib.contextmanager
def servers(args: argparse.Namespace) -> Iterator[tuple[str | None, str | None]]:
    """Yield (namesrv, broker) addresses; spawned processes are stopped on the way out."""
    if not args.spawn:
        yield args.namesrv, args.broker
        return
    spawned: list[Spawned] = []
    with tempfile.TemporaryDirectory(prefix="rocketmq-py-bench-") as tmp:
        home = Path(tmp)
        try:
            namesrv = spawn_namesrv(home, args.verbose, spawned)
            broker: str | None = None
            if any(m in BROKER_MODES for m in args.modes):
                broker = spawn_broker(home, namesrv, args.flush, args.verbose, spawned)
            yield namesrv, broker
        finally:
            for server in reversed(spawned):
                server.stop()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    topic = args.topic or f"bench-{int(time.time())}-{os.getpid()}"
    try:
        loop_name, factory = _loop_factory(args.loop)
        with servers(args) as (namesrv, broker):
            meta: dict[str, object] = {
                "broker": broker,
                "namesrv": namesrv,
                "flush": args.flush,
                "spawned": args.spawn,
                "python": platform.python_version(),
                "loop": loop_name,
                "cpus": os.cpu_count(),
                "body_size": args.body_size,
                "topic": topic,
                "queues": args.queues,
            }
            results: list[Result] = []

            def report(result: Result) -> None:
                results.append(result)
                if not args.json:
                    print(row(result), flush=True)

            if not args.json:
                print("\n".join(header_lines(meta)))
                print(COLUMNS)
                print("-" * len(COLUMNS))
            plan = Plan(
                args, Frames(topic, args.queues, args.body_size), broker, namesrv, args.flush
            )
            run_async(factory, run_modes(plan, args.modes, report))
            if args.json:
                print(
                    json.dumps({"meta": meta, "results": [r.to_json() for r in results]}, indent=2)
                )
    except BenchError as exc:
        print(f"remoting_bench: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
