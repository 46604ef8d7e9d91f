"""Traced pipeline: OpenTelemetry spans and metrics from a producer to a push consumer.

A "checkout" span sends three orders, one by one, and a batch of two; a push consumer handles
each order inside a "charge card" span. The trace hook of ``integrations.opentelemetry``
injects the creation context into every message and each ``process`` span links to it (the
conventions' default; pass ``process_parent="parent"`` to get one trace instead). At the end
the script prints every trace as a tree, children indented under their parent and links
shown with ``~>``, then the measurements the hook recorded.

Needs the ``otel`` extra (``pip install "rocketmq-py[otel]"``). Everything runs on loopback
with a temporary HOME and store. ``python examples/traced_pipeline.py``.
"""

from __future__ import annotations

from collections import defaultdict

import anyio
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from integrations.opentelemetry import tracing_hook
from rocketmq_py import AsyncProducer, AsyncPushConsumer, Message, MessageView
from rocketmq_py.testing import LocalCluster

TOPIC = "Orders"
# Attributes printed with each span, by a short label.
SHOWN = {
    "queue": "messaging.destination.partition.id",
    "group": "messaging.consumer.group.name",
    "batch": "messaging.batch.message_count",
    "tag": "messaging.rocketmq.message.tag",
}


async def pipeline(namesrv_addr: str, provider: TracerProvider, meters: MeterProvider) -> None:
    """Send five orders under a checkout span and consume them with a traced handler."""
    telemetry = tracing_hook(provider, meters)
    tracer = provider.get_tracer("traced_pipeline")
    async with AsyncProducer("OrdersProducer", namesrv_addr, hooks=[telemetry]) as producer:
        with tracer.start_as_current_span("checkout"):
            for i in range(3):
                await producer.send(Message(TOPIC, f"order {i}", tags="single"))
            await producer.send_batch([Message(TOPIC, f"order {i}", tags="bulk") for i in (3, 4)])

    charged: set[str] = set()
    consumer = AsyncPushConsumer(
        "OrdersGroup", namesrv_addr, consume_from_where="first", hooks=[telemetry]
    )
    consumer.subscribe(TOPIC, "*")

    @consumer.handler
    async def charge(message: MessageView) -> bool:
        # The process span is current here, so this span is its child.
        with tracer.start_as_current_span("charge card") as span:
            span.set_attribute("order", message.body.decode())
            charged.add(message.body.decode())
        return True

    async with consumer:
        with anyio.fail_after(60):
            while len(charged) < 5:
                await anyio.sleep(0.05)


def print_traces(spans: list[ReadableSpan]) -> None:
    """Each trace as an indented tree; a link is shown under the span that has it."""
    by_id = {s.context.span_id: s for s in spans}
    children: dict[int | None, list[ReadableSpan]] = defaultdict(list)
    for span in spans:
        parent = span.parent.span_id if span.parent is not None else None
        children[parent if parent in by_id else None].append(span)

    def show(span: ReadableSpan, depth: int) -> None:
        attrs = span.attributes or {}
        extra = " ".join(f"{label}={attrs[key]}" for label, key in SHOWN.items() if key in attrs)
        print(f"{'    ' * depth}{span.name} [{span.kind.name}] {extra}".rstrip())
        for link in span.links:
            target = by_id.get(link.context.span_id)
            what = target.name if target is not None else "a span of another process"
            print(f"{'    ' * (depth + 1)}~> {what} (trace {link.context.trace_id:032x})")
        for child in sorted(children[span.context.span_id], key=lambda s: s.start_time or 0):
            show(child, depth + 1)

    roots = sorted(children[None], key=lambda s: s.start_time or 0)
    for trace_id in dict.fromkeys(r.context.trace_id for r in roots):
        print(f"trace {trace_id:032x}")
        for root in roots:
            if root.context.trace_id == trace_id:
                show(root, 1)


def print_metrics(reader: InMemoryMetricReader) -> None:
    data = reader.get_metrics_data()
    for resource in data.resource_metrics if data else []:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    attrs = point.attributes
                    value = getattr(point, "value", None)
                    shown = f"{value}" if value is not None else f"{point.count} recorded"
                    print(
                        f"{metric.name} [{metric.unit}] "
                        f"{attrs.get('messaging.operation.name')} "
                        f"queue {attrs.get('messaging.destination.partition.id')}: {shown}"
                    )


def main() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meters = MeterProvider(metric_readers=[reader])
    with LocalCluster(echo=True) as cluster:
        anyio.run(pipeline, cluster.namesrv_addr, provider, meters)
    spans = list(exporter.get_finished_spans())
    print_traces(spans)
    print_metrics(reader)
    processed = [s for s in spans if s.name == f"process {TOPIC}"]
    assert len(processed) == 5, [s.name for s in spans]
    assert all(len(s.links) == 1 for s in processed)
    provider.shutdown()
    meters.shutdown()
    print("traced pipeline OK")


if __name__ == "__main__":
    main()
