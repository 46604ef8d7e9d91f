"""Send one traced message from a process of its own, for ``test_opentelemetry_processes.py``.

    python tests/integrations/otel_producer_proc.py --namesrv H:P --topic T [--namespace NS]
    python tests/integrations/otel_producer_proc.py --namesrv H:P --topic T --late-global

Sets up an SDK ``TracerProvider`` exporting to an ``InMemorySpanExporter`` (passed to the
hook, never made global), sends one message through an ``AsyncProducer`` with
``tracing_hook``, then prints one JSON line describing its send span: ``trace_id`` and
``span_id`` (lowercase hex, as in ``traceparent``), ``kind``, ``name``, ``parent`` (null for
a root span), ``attributes``, and the send result's ``msg_id`` and ``queue_id``. Exits 1 with
the reason on stderr when the send did not yield exactly one finished span.

``--late-global``: the hook gets no providers. One message is sent while no global provider
exists (its id printed as ``untraced_msg_id``), then the SDK providers are made the global
ones (which a process can do only once, hence a process of its own) and a second message is
sent: the printed span is that one's, and ``sent_metric`` is what the global meter counted.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import anyio
from opentelemetry import metrics as metrics_api
from opentelemetry import trace as trace_api
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, NumberDataPoint
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from integrations.opentelemetry import tracing_hook
from rocketmq_py import AsyncProducer, Message


def message(args: argparse.Namespace) -> Message:
    return Message(args.topic, args.body, tags="TagOtel", keys="k-otel")


async def send_one(args: argparse.Namespace, provider: TracerProvider) -> dict[str, object]:
    hook = tracing_hook(provider)
    async with AsyncProducer(
        args.group, args.namesrv, hooks=[hook], namespace=args.namespace or None
    ) as producer:
        result = await producer.send(message(args))
    return {"msg_id": result.msg_id, "queue_id": result.queue.queue_id}


async def send_before_and_after_global(
    args: argparse.Namespace, provider: TracerProvider
) -> dict[str, object]:
    hook = tracing_hook()  # follows the global providers, none set yet
    reader = InMemoryMetricReader()
    async with AsyncProducer(args.group, args.namesrv, hooks=[hook]) as producer:
        untraced = await producer.send(message(args))
        trace_api.set_tracer_provider(provider)
        metrics_api.set_meter_provider(MeterProvider(metric_readers=[reader]))
        result = await producer.send(message(args))
    data = reader.get_metrics_data()
    counted = sum(
        int(point.value)
        for resource in (data.resource_metrics if data else [])
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == "messaging.client.sent.messages"
        for point in metric.data.data_points
        if isinstance(point, NumberDataPoint)
    )
    return {
        "msg_id": result.msg_id,
        "queue_id": result.queue.queue_id,
        "untraced_msg_id": untraced.msg_id,
        "sent_metric": counted,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--namesrv", required=True, help="name server address host:port")
    parser.add_argument("--topic", required=True, help="topic to send to")
    parser.add_argument("--group", default="PG_otel_proc", help="producer group")
    parser.add_argument("--namespace", default="", help="client namespace (none by default)")
    parser.add_argument("--body", default="across processes", help="message body")
    parser.add_argument(
        "--late-global", action="store_true", help="set global providers between two sends"
    )
    args = parser.parse_args()

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    sent = anyio.run(send_before_and_after_global if args.late_global else send_one, args, provider)
    spans = exporter.get_finished_spans()
    provider.shutdown()
    if len(spans) != 1:
        print(f"expected one span, got {[s.name for s in spans]}", file=sys.stderr)
        return 1
    [span] = spans
    context = span.get_span_context()
    assert context is not None
    attributes = {
        key: list(value) if isinstance(value, tuple) else value
        for key, value in (span.attributes or {}).items()
    }
    print(
        json.dumps(
            {
                "trace_id": f"{context.trace_id:032x}",
                "span_id": f"{context.span_id:016x}",
                "trace_flags": int(context.trace_flags),
                "name": span.name,
                "kind": span.kind.name,
                "parent": None if span.parent is None else f"{span.parent.span_id:016x}",
                "attributes": attributes,
                **sent,
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
