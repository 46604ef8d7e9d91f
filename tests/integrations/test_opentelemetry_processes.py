"""integrations.opentelemetry across process boundaries: the trace context travels in the message.

* Our producer in a process of its own (``otel_producer_proc.py``, started with
  ``sys.executable``) and our push consumer in this one: the process span links to (or, with
  ``process_parent="parent"``, continues) the send span of the other process.
* Our traced producer and the cpp peer's consumer (Apache rocketmq-client-cpp, a client that
  knows nothing of OpenTelemetry, as a Java consumer without the agent): it receives
  ``traceparent`` and ``TRACE_CONTEXT`` untouched.

The name server and broker are real subprocesses (``cluster_processes``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from integrations.opentelemetry import tracing_hook
from rocketmq_py import AsyncProducer, AsyncPushConsumer, Message, MessageView
from tests.compat.test_sdk_interop import driver, new_run
from tests.conftest import ROOT, ServerProcess

pytestmark = pytest.mark.anyio

PRODUCER_SCRIPT = Path(__file__).resolve().parent / "otel_producer_proc.py"
Cluster = tuple[ServerProcess, ServerProcess]

# What every span of either side carries, whatever the operation.
COMMON = {"messaging.system", "messaging.operation.name", "messaging.operation.type"}
COMMON |= {"messaging.destination.name", "messaging.rocketmq.namespace"}
COMMON |= {"messaging.message.id", "messaging.client.id", "messaging.destination.partition.id"}
COMMON |= {"messaging.message.body.size", "server.address", "server.port"}


@pytest.fixture
def provider() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield tracer_provider, exporter
    tracer_provider.shutdown()


async def send_in_subprocess(namesrv: str, topic: str, *args: str) -> dict[str, Any]:
    """Run ``otel_producer_proc.py`` and return its send span as it printed it."""
    argv = [sys.executable, str(PRODUCER_SCRIPT), "--namesrv", namesrv, "--topic", topic, *args]
    with anyio.fail_after(60):
        done = await anyio.run_process(argv, check=False, cwd=ROOT)
    stdout, stderr = done.stdout.decode(), done.stderr.decode()
    assert done.returncode == 0, f"producer process exited {done.returncode}: {stderr}{stdout}"
    [line] = [line for line in stdout.splitlines() if line.startswith("{")]
    sent: dict[str, Any] = json.loads(line)
    return sent


async def consume(
    namesrv: str, topic: str, group: str, count: int, *, namespace: str = "", hooks: Any = ()
) -> list[MessageView]:
    """Run a push consumer until its handler has seen ``count`` messages of ``topic``."""
    got: list[MessageView] = []
    consumer = AsyncPushConsumer(
        group, namesrv, consume_from_where="first", hooks=hooks, namespace=namespace or None
    )
    consumer.subscribe(topic, "*")

    @consumer.handler
    async def handle(message: MessageView) -> bool:
        got.append(message)
        return True

    async with consumer:
        with anyio.fail_after(45):
            while len(got) < count:
                await anyio.sleep(0.05)
    return got


def w3c(sent: dict[str, Any]) -> str:
    """The ``traceparent`` of the span a producer process printed."""
    return f"00-{sent['trace_id']}-{sent['span_id']}-{sent['trace_flags']:02x}"


@pytest.mark.parametrize(
    ("process_parent", "namespace"), [("link", ""), ("parent", "otelns")], ids=["link", "parent"]
)
async def test_send_and_process_in_two_processes(
    cluster_processes: Cluster,
    provider: tuple[TracerProvider, InMemorySpanExporter],
    process_parent: str,
    namespace: str,
) -> None:
    namesrv, broker = cluster_processes
    tracer_provider, exporter = provider
    run = new_run()
    topic, group = f"OtelProc{run}", f"CG_otel_proc_{run}"

    sent = await send_in_subprocess(namesrv.addr, topic, "--namespace", namespace)
    # The other process's send span: a root PRODUCER span with the producer's attributes.
    assert sent["name"] == f"send {topic}" and sent["kind"] == "PRODUCER"
    assert sent["parent"] is None
    send_attrs = sent["attributes"]
    assert COMMON | {"messaging.rocketmq.message.type"} <= set(send_attrs)
    assert "messaging.consumer.group.name" not in send_attrs
    assert send_attrs["messaging.system"] == "rocketmq"
    assert send_attrs["messaging.operation.name"] == "send"
    assert send_attrs["messaging.operation.type"] == "send"
    assert send_attrs["messaging.destination.name"] == topic
    assert send_attrs["messaging.rocketmq.namespace"] == namespace
    assert send_attrs["messaging.message.id"] == sent["msg_id"]
    assert send_attrs["server.port"] == broker.port

    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    hook = tracing_hook(
        tracer_provider,
        meter_provider,
        process_parent=process_parent,  # type: ignore[arg-type]
    )
    try:
        [message] = await consume(namesrv.addr, topic, group, 1, namespace=namespace, hooks=[hook])
    finally:
        meter_provider.shutdown()
    trace_id, span_id = int(sent["trace_id"], 16), int(sent["span_id"], 16)
    # The W3C header the other process injected arrived as it was written.
    assert message.properties["traceparent"] == w3c(sent)
    assert message.msg_id == sent["msg_id"]

    [process] = [s for s in exporter.get_finished_spans() if s.name == f"process {topic}"]
    assert process.kind is SpanKind.CONSUMER
    own = process.get_span_context()
    assert own is not None
    if process_parent == "link":
        # A trace of its own, linked to exactly the other process's send span.
        assert process.parent is None
        assert own.trace_id != trace_id
        assert [(lk.context.trace_id, lk.context.span_id) for lk in process.links] == [
            (trace_id, span_id)
        ]
        assert process.links[0].context.is_remote
    else:
        # The send span is the parent: one trace across both processes, and no link.
        assert process.parent is not None and process.parent.is_remote
        assert (process.parent.trace_id, process.parent.span_id) == (trace_id, span_id)
        assert own.trace_id == trace_id
        assert process.links == ()
    attrs = dict(process.attributes or {})
    assert COMMON | {"messaging.consumer.group.name", "messaging.rocketmq.consumption_model"} <= (
        set(attrs)
    )
    assert "messaging.rocketmq.client_group" not in attrs  # deprecated: never written
    assert attrs["messaging.system"] == "rocketmq"
    assert attrs["messaging.operation.name"] == "process"
    assert attrs["messaging.operation.type"] == "process"
    assert attrs["messaging.destination.name"] == topic
    assert attrs["messaging.consumer.group.name"] == group  # without the namespace
    assert attrs["messaging.rocketmq.namespace"] == namespace
    assert attrs["messaging.message.id"] == sent["msg_id"]
    assert attrs["messaging.destination.partition.id"] == str(sent["queue_id"])
    assert attrs["messaging.rocketmq.message.tag"] == "TagOtel"
    assert attrs["server.port"] == broker.port


async def test_a_global_provider_set_later_is_followed(cluster_processes: Cluster) -> None:
    """A hook made before any global provider traces nothing, then everything once one is
    set (the cheap unset check of ``_providers`` must not miss it)."""
    namesrv, _ = cluster_processes
    run = new_run()
    topic = f"OtelLate{run}"
    sent = await send_in_subprocess(namesrv.addr, topic, "--late-global")
    assert sent["name"] == f"send {topic}" and sent["kind"] == "PRODUCER"
    assert sent["sent_metric"] == 1  # the second send only
    got = {m.msg_id: m for m in await consume(namesrv.addr, topic, f"CG_late_{run}", 2)}
    untraced = got[sent["untraced_msg_id"]].properties
    assert "traceparent" not in untraced and "TRACE_CONTEXT" not in untraced
    assert got[sent["msg_id"]].properties["traceparent"] == w3c(sent)


def traceparent(span: ReadableSpan) -> str:
    context = span.get_span_context()
    assert context is not None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


@pytest.mark.peers
async def test_cpp_consumer_receives_traceparent_untouched(
    cluster_processes: Cluster, provider: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    namesrv, _ = cluster_processes
    tracer_provider, exporter = provider
    run = new_run()
    topic = f"OtelToCpp{run}"
    hook = tracing_hook(tracer_provider)
    async with AsyncProducer(f"PG_otel_cpp_{run}", namesrv.addr, hooks=[hook]) as producer:
        result = await producer.send(Message(topic, f"traced {run}", tags="TagOtel"))
    [send] = [s for s in exporter.get_finished_spans() if s.name == f"send {topic}"]
    expected = traceparent(send)
    # Sampled (0x01) by the SDK's default sampler; SDK 1.45+ also sets 0x02 (random trace id).
    assert int(expected[-2:], 16) & 0x01

    args = ["consume", "--namesrv", namesrv.addr, "--topic", topic, "--group", f"GID_{run}"]
    args += ["--expect", "1", "--linger", "0", "--timeout", "45"]
    args += ["--props", "traceparent,TRACE_CONTEXT,tracestate"]
    with driver("cpp", *args) as cpp:
        code = await cpp.exit_code(60)
        assert code == 0, cpp.report()
        [got] = cpp.messages()
    assert got["msg_id"] == result.msg_id
    assert got["properties"]["traceparent"] == expected
    assert got["properties"]["TRACE_CONTEXT"] == expected
    assert "tracestate" not in got["properties"]  # none was set: none was invented
