"""What ``integrations.opentelemetry`` costs a producer: no hook, a no-op hook, a recording one.

Starts ``mqnamesrv`` + ``mqbroker`` through :class:`rocketmq_py.testing.LocalCluster`
(temporary HOME and store), creates a topic and opens three ``AsyncProducer`` s that differ
only in their hooks:

* ``none``: no hooks (the baseline).
* ``noop``: ``hooks=[tracing_hook()]`` with no provider anywhere: the API's default proxy
  providers, what an application gets when it installs the extra but configures no SDK.
* ``sdk``: ``hooks=[tracing_hook(tracer_provider, meter_provider)]`` with an SDK
  ``TracerProvider`` + ``BatchSpanProcessor`` exporting to an exporter that drops the spans
  (counting them), and an SDK ``MeterProvider`` read by an ``InMemoryMetricReader``: every
  span and measurement is made and handed off, nothing leaves the process.

Each round measures, per producer, with ``--body-size`` (1 KiB) bodies and tag ``TagA``:

* ``sync``: ``await producer.send(msg)``, one in flight.
* ``async xN``: the same send from ``--inflight`` (64) tasks on one producer.

A round cuts every row into ``--slices`` (8) slices and interleaves the producers slice by
slice, rotating their order each slice, so that the host's drift (on a shared 2-vCPU box it
moves msgs/s by 10-20% within a minute) hits the three alike; a row is the sum of its
slices. With ``--rounds N`` the row shown is the round with the median msgs/s, and
``vs none`` is the median over rounds of the row's msgs/s divided by the same round's
``none`` row. ``CPU µs/msg`` is this process's CPU time per message (the broker runs in
another process), ``CPU vs none`` the median per-round difference to ``none``. A last table
times the hook alone: ``rocketmq_py``'s trace context manager around an empty body with the
``info`` a send reports, per send, no broker involved.

    .venv/bin/python benchmarks/otel_bench.py
    .venv/bin/python benchmarks/otel_bench.py --rounds 3 --json

Not a test: nothing here asserts speed.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from opentelemetry import trace as trace_api
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, NumberDataPoint
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _args import OneLineErrorParser

from integrations.opentelemetry import tracing_hook
from rocketmq_py import AsyncAdmin, AsyncProducer, Message, TraceHook
from rocketmq_py._trace import trace
from rocketmq_py.testing import LocalCluster

VARIANTS = ("none", "noop", "sdk")
TARGET = 0.95  # the no-op hook may cost at most 5% of the baseline's msgs/s


class DroppingExporter(SpanExporter):
    """Counts the spans a ``BatchSpanProcessor`` hands over, then forgets them."""

    def __init__(self) -> None:
        self.exported = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.exported += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        """Nothing to release."""


@dataclass
class Row:
    """One producer (variant) in one mode, one round (the sum of its slices)."""

    variant: str
    mode: str
    messages: int
    seconds: float
    cpu_seconds: float
    rounds: list[float] = field(default_factory=list)
    vs_none: float = 1.0  # median over rounds of msgs/s / the same round's "none" msgs/s
    cpu_vs_none: float = 0.0  # median over rounds of CPU µs/msg - the same round's "none"

    def add(self, part: Row) -> None:
        self.messages += part.messages
        self.seconds += part.seconds
        self.cpu_seconds += part.cpu_seconds

    @property
    def msgs_per_s(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_us_per_msg(self) -> float:
        return self.cpu_seconds / self.messages * 1e6 if self.messages else 0.0


@dataclass
class Sdk:
    """The recording setup of the ``sdk`` variant."""

    exporter: DroppingExporter
    tracer_provider: TracerProvider
    reader: InMemoryMetricReader
    meter_provider: MeterProvider

    @classmethod
    def start(cls) -> Sdk:
        exporter = DroppingExporter()
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(BatchSpanProcessor(exporter))
        reader = InMemoryMetricReader()
        return cls(exporter, tracer_provider, reader, MeterProvider(metric_readers=[reader]))

    def hook(self) -> TraceHook:
        return tracing_hook(self.tracer_provider, self.meter_provider)

    def sent_count(self) -> int:
        """``messaging.client.sent.messages`` as recorded so far."""
        data = self.reader.get_metrics_data()
        total = 0
        for resource in data.resource_metrics if data else []:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name != "messaging.client.sent.messages":
                        continue
                    for point in metric.data.data_points:
                        if isinstance(point, NumberDataPoint):
                            total += int(point.value)
        return total

    def shutdown(self) -> None:
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


# -- the measured loops -------------------------------------------------------------------------


async def sync_row(producer: AsyncProducer, topic: str, body: bytes, n: int) -> Row:
    cpu, start = time.process_time(), time.perf_counter()
    for _ in range(n):
        await producer.send(Message(topic, body, tags="TagA"))
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return Row("", "sync", n, seconds, cpu)


async def async_row(
    producer: AsyncProducer, topic: str, body: bytes, n: int, *, inflight: int
) -> Row:
    per_task = n // inflight

    async def worker() -> None:
        for _ in range(per_task):
            await producer.send(Message(topic, body, tags="TagA"))

    cpu, start = time.process_time(), time.perf_counter()
    async with anyio.create_task_group() as tg:
        for _ in range(inflight):
            tg.start_soon(worker)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return Row("", "async", per_task * inflight, seconds, cpu)


def hook_alone(hooks: Sequence[TraceHook], calls: int) -> float:
    """µs per send that ``trace("send", hooks, info)`` costs around an empty body."""

    async def loop() -> float:
        start = time.perf_counter()
        for i in range(calls):
            info: dict[str, Any] = {
                "namespace": "",
                "topic": "HookAlone",
                "group": "PG_hook_alone",
                "client_id": "127.0.0.1@bench",
                "msg_ids": [f"{i:032X}"],
                "message_count": 1,
                "body_size": 1024,
                "properties": {"TAGS": "TagA", "UNIQ_KEY": f"{i:032X}", "WAIT": "true"},
                "ordered": False,
            }
            async with trace("send", hooks, info):
                info["server_address"] = "127.0.0.1:10911"
        return (time.perf_counter() - start) / calls * 1e6

    return anyio.run(loop)


# -- the run ------------------------------------------------------------------------------------


async def create_topic(namesrv: str, broker: str, topic: str, queues: int) -> None:
    async with AsyncAdmin(namesrv) as admin:
        await admin.create_topic(
            topic, broker_addr=broker, read_queue_nums=queues, write_queue_nums=queues
        )
        await admin.wait_for_route(topic)


async def measure(
    args: argparse.Namespace, cluster: LocalCluster, sdk: Sdk
) -> tuple[list[list[Row]], int]:
    """Every round's rows (per mode, per variant), and how many sends the ``sdk`` one made."""
    topic = "OtelBench"
    await create_topic(cluster.namesrv_addr, cluster.broker_addr, topic, args.queues)
    body = b"x" * args.body_size
    hooks: dict[str, list[TraceHook]] = {"none": [], "noop": [tracing_hook()], "sdk": [sdk.hook()]}
    producers = {
        v: AsyncProducer(f"PG_otel_bench_{v}", cluster.namesrv_addr, hooks=hooks[v])
        for v in VARIANTS
    }
    sync_slice = max(1, args.sync_messages // args.slices)
    async_slice = max(args.inflight, args.async_messages // args.slices)
    rounds: list[list[Row]] = []
    sdk_sends = args.warmup
    async with producers["none"], producers["noop"], producers["sdk"]:
        for producer in producers.values():
            for _ in range(args.warmup):
                await producer.send(Message(topic, body, tags="TagA"))
        for r in range(args.rounds):
            note(args, f"round {r + 1}/{args.rounds}")
            rows = {(m, v): Row(v, m, 0, 0.0, 0.0) for m in ("sync", "async") for v in VARIANTS}
            for s in range(args.slices):
                # Every slice rotates the order: no variant always follows the same one.
                shift = (r + s) % len(VARIANTS)
                for variant in VARIANTS[shift:] + VARIANTS[:shift]:
                    p = producers[variant]
                    rows["sync", variant].add(await sync_row(p, topic, body, sync_slice))
                    rows["async", variant].add(
                        await async_row(p, topic, body, async_slice, inflight=args.inflight)
                    )
            for row in rows.values():
                if row.mode == "async":
                    row.mode = f"async x{args.inflight}"
            sdk_sends += rows["sync", "sdk"].messages + rows["async", "sdk"].messages
            rounds.append(list(rows.values()))
    return rounds, sdk_sends


def median_rows(rounds: list[list[Row]]) -> list[Row]:
    """Per (mode, variant), the round with the median msgs/s, with every round's rate and the
    median of its per-round ratios to the same round's ``none`` row attached."""
    out = []
    for index, first in enumerate(rounds[0]):
        same = [rs[index] for rs in rounds]
        bases = [
            next(b for b in rs if b.mode == first.mode and b.variant == "none") for rs in rounds
        ]
        chosen = sorted(same, key=lambda r: r.msgs_per_s)[(len(same) - 1) // 2]
        chosen.rounds = [r.msgs_per_s for r in same]
        chosen.vs_none = statistics.median(
            r.msgs_per_s / b.msgs_per_s for r, b in zip(same, bases, strict=True)
        )
        chosen.cpu_vs_none = statistics.median(
            r.cpu_us_per_msg - b.cpu_us_per_msg for r, b in zip(same, bases, strict=True)
        )
        out.append(chosen)
    return out


def note(args: argparse.Namespace, text: str) -> None:
    if not args.json:
        print(f"  ... {text}", file=sys.stderr, flush=True)


def print_table(meta: dict[str, Any], rows: list[Row], alone: dict[str, float]) -> None:
    print(
        f"OpenTelemetry hook overhead: 1 broker (LocalCluster), Python {meta['python']}, "
        f"loop {meta['loop']}, opentelemetry-sdk {meta['otel']}, {meta['body_size']} B bodies, "
        f"{meta['rounds']} round(s)"
    )
    header = (
        f"{'mode':<10} {'hooks':<6} {'msgs':>7} {'msgs/s':>8} {'vs none':>8} "
        f"{'CPU µs/msg':>10} {'CPU vs none':>11}  rounds (msgs/s)"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        per_round = ", ".join(f"{x:,.0f}" for x in r.rounds) if len(r.rounds) > 1 else ""
        print(
            f"{r.mode:<10} {r.variant:<6} {r.messages:>7,} {r.msgs_per_s:>8,.0f} "
            f"{r.vs_none:>7.3f}x {r.cpu_us_per_msg:>10.1f} {r.cpu_vs_none:>+10.1f}µ  {per_round}"
        )
    noop = [r for r in rows if r.variant == "noop"]
    verdicts = ", ".join(f"{r.mode}: {r.vs_none:.3f}x" for r in noop)
    met = min(r.vs_none for r in noop) >= TARGET
    print(f"\nno-op target >= {TARGET:.2f}x of none: {verdicts} -> {'met' if met else 'NOT met'}")
    print(
        f"sdk: {meta['spans_exported']:,} spans exported for {meta['sdk_sends']:,} sends, ", end=""
    )
    print(f"{meta['sent_metric']:,} counted by messaging.client.sent.messages")
    print("\nthe hook alone (trace() around an empty body, per send):")
    for variant, us in alone.items():
        print(f"  {variant:<6} {us:>7.2f} µs  ({us - alone['none']:+.2f} µs vs none)")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = OneLineErrorParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sync-messages", type=int, default=4000, help="per row (4000)")
    parser.add_argument("--async-messages", type=int, default=32_000, help="per row (32000)")
    parser.add_argument("--inflight", type=int, default=64, help="async tasks (64)")
    parser.add_argument("--body-size", type=int, default=1024, help="body bytes (1024)")
    parser.add_argument("--queues", type=int, default=4, help="queues of the topic (4)")
    parser.add_argument("--warmup", type=int, default=300, help="untimed sends each (300)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds; median shown (1)")
    parser.add_argument(
        "--slices", type=int, default=8, help="interleaved slices per row and round (8)"
    )
    parser.add_argument("--hook-calls", type=int, default=50_000, help="hook-alone sends")
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop", help="(uvloop)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    for name in (
        "sync_messages",
        "async_messages",
        "inflight",
        "body_size",
        "queues",
        "rounds",
        "slices",
    ):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    if args.async_messages < args.inflight:
        parser.error("--async-messages must be at least --inflight")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not isinstance(trace_api.get_tracer_provider(), trace_api.ProxyTracerProvider):
        print("otel_bench: a global tracer provider is set: 'noop' would not be", file=sys.stderr)
        return 1
    loop = args.loop
    if loop == "uvloop":
        try:
            import uvloop  # noqa: F401
        except ImportError:
            loop = "asyncio"
    sdk = Sdk.start()
    try:
        with LocalCluster() as cluster:
            rounds, sdk_sends = anyio.run(
                measure,
                args,
                cluster,
                sdk,
                backend="asyncio",
                backend_options={"use_uvloop": loop == "uvloop"},
            )
        sdk.tracer_provider.force_flush()
        sent_metric = sdk.sent_count()
        alone_sdk = Sdk.start()
        alone = {
            "none": hook_alone([], args.hook_calls),
            "noop": hook_alone([tracing_hook()], args.hook_calls),
            "sdk": hook_alone([alone_sdk.hook()], args.hook_calls),
        }
        alone_sdk.shutdown()
    except KeyboardInterrupt:
        return 130
    finally:
        sdk.shutdown()
    rows = median_rows(rounds)
    meta: dict[str, Any] = {
        "python": platform.python_version(),
        "loop": loop,
        "otel": _sdk_version(),
        "body_size": args.body_size,
        "rounds": args.rounds,
        "sdk_sends": sdk_sends,
        "spans_exported": sdk.exporter.exported,
        "sent_metric": sent_metric,
    }
    if args.json:
        out = {
            "meta": meta,
            "rows": [
                {
                    "mode": r.mode,
                    "hooks": r.variant,
                    "messages": r.messages,
                    "msgs_per_s": round(r.msgs_per_s, 1),
                    "vs_none": round(r.vs_none, 4),
                    "cpu_us_per_msg": round(r.cpu_us_per_msg, 2),
                    "cpu_us_vs_none": round(r.cpu_vs_none, 2),
                    "rounds_msgs_per_s": [round(x, 1) for x in r.rounds],
                }
                for r in rows
            ],
            "hook_alone_us_per_send": {k: round(v, 3) for k, v in alone.items()},
        }
        print(json.dumps(out, indent=2))
    else:
        print_table(meta, rows, alone)
    return 0


def _sdk_version() -> str:
    from importlib import metadata

    return metadata.version("opentelemetry-sdk")


if __name__ == "__main__":
    sys.exit(main())
