"""integrations.opentelemetry against a real name server and broker, on asyncio and trio.

Spans go to the SDK's InMemorySpanExporter, metrics to an InMemoryMetricReader; the clients
and servers are the real ones over loopback TCP (servers on a loop thread of their own, as in
the client suite, so the same tests run on trio).
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from opentelemetry import trace as trace_api
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from integrations.opentelemetry import RECONSUME_LATER, tracing_hook
from rocketmq_py import (
    AsyncLitePullConsumer,
    AsyncProducer,
    AsyncPushConsumer,
    AsyncTransactionProducer,
    ConfigError,
    Message,
    MessageView,
    TopicNotExistError,
    TransactionState,
)
from tests.client.conftest import ONE_SECOND_LEVELS, run_broker, run_namesrv
from tests.conftest import ROOT, FakeClock, broker_settings_for
from tests.waiting import wait_for

pytestmark = pytest.mark.anyio

DEPRECATED_GROUP = "messaging.rocketmq.client_group"


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def namesrv(clock: FakeClock, tmp_home: Path) -> Iterator[Any]:
    yield from run_namesrv(clock, "otel-namesrv")


@pytest.fixture
def broker(namesrv: Any, tmp_path: Path) -> Iterator[Any]:
    """A broker with 1 s delay levels and a 1 s transaction check-back."""
    yield from run_broker(
        broker_settings_for(
            tmp_path / "store",
            f"127.0.0.1:{namesrv.port}",
            messageDelayLevel=ONE_SECOND_LEVELS,
            transactionCheckInterval="1000",
            transactionTimeOut="1000",
        )
    )


@pytest.fixture
def addr(broker: Any, namesrv: Any) -> str:
    return f"127.0.0.1:{namesrv.port}"


@dataclass
class Otel:
    exporter: InMemorySpanExporter
    tracer_provider: TracerProvider
    reader: InMemoryMetricReader
    meter_provider: MeterProvider

    def spans(self, name: str | None = None) -> list[ReadableSpan]:
        return [s for s in self.exporter.get_finished_spans() if name is None or s.name == name]

    def points(self, metric: str) -> list[Any]:
        """Every data point of ``metric`` (with its unit checked on the way)."""
        data = self.reader.get_metrics_data()
        found = []
        for resource in data.resource_metrics if data else []:
            for scope in resource.scope_metrics:
                for m in scope.metrics:
                    if m.name == metric:
                        found.extend(m.data.data_points)
                        found_unit = m.unit
                        expected = "s" if metric.endswith("duration") else "{message}"
                        assert found_unit == expected
        return found


@pytest.fixture
def otel() -> Iterator[Otel]:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    yield Otel(exporter, tracer_provider, reader, meter_provider)
    tracer_provider.shutdown()
    meter_provider.shutdown()


def traceparent(span: ReadableSpan) -> str:
    ctx = span.get_span_context()
    assert ctx is not None
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{ctx.trace_flags:02x}"


def ids(context: Any) -> tuple[int, int]:
    """A span context's identity (a remote copy compares unequal to the local one)."""
    return (context.trace_id, context.span_id)


def linked(span: ReadableSpan) -> list[tuple[int, int]]:
    return [ids(link.context) for link in span.links]


async def consume(addr: str, topic: str, group: str, count: int, **kwargs: Any) -> list[Any]:
    """Run a push consumer until its handler has seen ``count`` messages of ``topic``."""
    handler = kwargs.pop("handler")
    got: list[MessageView] = []
    consumer = AsyncPushConsumer(group, addr, consume_from_where="first", **kwargs)
    consumer.subscribe(topic, "*")

    @consumer.handler
    async def handle(message: MessageView) -> Any:
        got.append(message)
        return await handler(message)

    async with consumer:
        await wait_for(lambda: len(got) >= count, what=f"{count} deliveries of {topic}")
    return got


async def test_send_then_process_links_to_the_creation_context(addr: str, broker: Any, otel: Otel):
    hook = tracing_hook(otel.tracer_provider, otel.meter_provider)
    tracer = otel.tracer_provider.get_tracer("test")
    topic = "OtelLink"
    async with AsyncProducer("PG_otel_link", addr, hooks=[hook]) as producer:
        result = await producer.send(Message(topic, "hello", tags="TagA", keys=["k1", "k2"]))

    async def handler(message: MessageView) -> bool:
        with tracer.start_as_current_span("handler-work"):
            return True

    [message] = await consume(addr, topic, "CG_otel_link", 1, hooks=[hook], handler=handler)

    [send] = otel.spans(f"send {topic}")
    assert send.kind is SpanKind.PRODUCER and send.parent is None
    assert send.status.status_code is StatusCode.UNSET
    assert dict(send.attributes or {}) == {
        "messaging.system": "rocketmq",
        "messaging.operation.name": "send",
        "messaging.operation.type": "send",
        "messaging.destination.name": topic,
        "messaging.rocketmq.namespace": "",
        "messaging.client.id": producer.client_id,
        "messaging.message.id": result.msg_id,
        "messaging.message.body.size": 5,
        "messaging.rocketmq.message.type": "normal",
        "messaging.rocketmq.message.tag": "TagA",
        "messaging.rocketmq.message.keys": ("k1", "k2"),
        "messaging.destination.partition.id": str(result.queue.queue_id),
        "server.address": "127.0.0.1",
        "server.port": broker.port,
    }
    # The creation context travelled in the message's properties, in both carriers.
    assert message.properties["traceparent"] == traceparent(send)
    assert message.properties["TRACE_CONTEXT"] == traceparent(send)

    [process] = otel.spans(f"process {topic}")
    assert process.kind is SpanKind.CONSUMER
    assert process.parent is None  # "link" (the default): a trace of its own ...
    assert linked(process) == [ids(send.context)]  # ... linked to the creation context
    assert process.context.trace_id != send.context.trace_id
    attrs = dict(process.attributes or {})
    assert DEPRECATED_GROUP not in attrs
    assert attrs == {
        "messaging.system": "rocketmq",
        "messaging.operation.name": "process",
        "messaging.operation.type": "process",
        "messaging.destination.name": topic,
        "messaging.rocketmq.namespace": "",
        "messaging.client.id": attrs["messaging.client.id"],
        "messaging.consumer.group.name": "CG_otel_link",
        "messaging.rocketmq.consumption_model": "clustering",
        "messaging.message.id": result.msg_id,
        "messaging.message.body.size": 5,
        "messaging.rocketmq.message.tag": "TagA",
        "messaging.rocketmq.message.keys": ("k1", "k2"),
        "messaging.destination.partition.id": str(result.queue.queue_id),
        "server.address": "127.0.0.1",
        "server.port": broker.port,
    }
    # The process span is current while the handler runs: the handler's span nests in it.
    [work] = otel.spans("handler-work")
    assert ids(work.parent) == ids(process.context)

    sent = otel.points("messaging.client.sent.messages")
    assert [(p.value, p.attributes["messaging.destination.name"]) for p in sent] == [(1, topic)]
    assert "error.type" not in sent[0].attributes
    durations = otel.points("messaging.client.operation.duration")
    assert {p.attributes["messaging.operation.name"] for p in durations} == {"send"}
    assert durations[0].count == 1 and durations[0].sum > 0
    assert "messaging.message.id" not in durations[0].attributes  # low cardinality only
    [consumed] = otel.points("messaging.client.consumed.messages")
    assert consumed.value == 1
    assert consumed.attributes["messaging.consumer.group.name"] == "CG_otel_link"
    [processed] = otel.points("messaging.process.duration")
    assert processed.count == 1
    assert processed.attributes["messaging.operation.name"] == "process"


async def test_process_parent_mode_continues_the_trace(addr: str, otel: Otel) -> None:
    hook = tracing_hook(otel.tracer_provider, otel.meter_provider, process_parent="parent")
    tracer = otel.tracer_provider.get_tracer("test")
    topic = "OtelParent"
    async with AsyncProducer("PG_otel_parent", addr, hooks=[hook], namespace="tenant") as p:
        with tracer.start_as_current_span("request") as request:
            await p.send(Message(topic, "ordered", tags="x"), sharding_key="order-7")

    seen_in_thread: list[tuple[trace_api.SpanContext, bool]] = []
    consumer = AsyncPushConsumer(
        "CG_otel_parent", addr, consume_from_where="first", hooks=[hook], namespace="tenant"
    )
    consumer.subscribe(topic, "*")

    @consumer.handler
    def handle(message: MessageView) -> bool:  # a sync handler: runs in a worker thread
        in_worker = threading.current_thread() is not threading.main_thread()
        seen_in_thread.append((trace_api.get_current_span().get_span_context(), in_worker))
        return True

    async with consumer:
        await wait_for(lambda: bool(seen_in_thread), what="the delivery")

    [send] = otel.spans(f"send {topic}")
    assert ids(send.parent) == ids(request.get_span_context())  # the ambient span is the parent
    attrs = dict(send.attributes or {})
    assert attrs["messaging.rocketmq.namespace"] == "tenant"
    assert attrs["messaging.destination.name"] == topic  # without the namespace
    assert attrs["messaging.rocketmq.message.type"] == "fifo"
    assert attrs["messaging.rocketmq.message.group"] == "order-7"

    [process] = otel.spans(f"process {topic}")
    assert ids(process.parent) == ids(send.context)  # one trace from request to handler
    assert process.context.trace_id == request.get_span_context().trace_id
    assert process.links == ()
    pattrs = dict(process.attributes or {})
    assert pattrs["messaging.consumer.group.name"] == "CG_otel_parent"
    assert pattrs["messaging.rocketmq.namespace"] == "tenant"
    # The thread running the sync handler saw the process span as current.
    assert seen_in_thread == [(process.context, True)]


async def test_batch_create_spans_and_lite_pull_receive(addr: str, otel: Otel) -> None:
    hook = tracing_hook(otel.tracer_provider, otel.meter_provider)
    topic = "OtelBatch"
    async with AsyncProducer("PG_otel_batch", addr, hooks=[hook]) as producer:
        await producer.send_batch([Message(topic, f"m{i}", tags="b") for i in range(3)])
    plain = tracing_hook(otel.tracer_provider, batch_create_spans=False)
    async with AsyncProducer("PG_otel_batch", addr, hooks=[plain]) as producer:
        await producer.send_batch([Message(topic, f"n{i}") for i in range(2)])

    sends = otel.spans(f"send {topic}")
    creates = otel.spans(f"create {topic}")
    assert len(sends) == 2 and len(creates) == 3
    with_creates, without = sends
    assert with_creates.kind is SpanKind.CLIENT  # its context is not the creation context
    assert linked(with_creates) == [ids(c.context) for c in creates]
    assert with_creates.attributes["messaging.batch.message_count"] == 3
    assert "messaging.message.id" not in with_creates.attributes
    for create in creates:
        assert create.kind is SpanKind.PRODUCER
        assert create.attributes["messaging.operation.type"] == "create"
        assert create.attributes["messaging.rocketmq.message.tag"] == "b"
        assert create.attributes["messaging.message.id"]
    assert without.kind is SpanKind.PRODUCER and without.links == ()
    assert without.attributes["messaging.batch.message_count"] == 2

    received: list[MessageView] = []
    async with AsyncLitePullConsumer(
        "CG_otel_pull", addr, consume_from_where="first", hooks=[hook], poll_timeout=0.5
    ) as consumer:
        consumer.subscribe(topic)
        with anyio.fail_after(30):
            while len(received) < 5:
                received.extend(await consumer.poll())

    by_body = {m.body.decode(): m for m in received}
    for create in creates:
        carrier = by_body[f"m{creates.index(create)}"].properties["traceparent"]
        assert carrier == traceparent(create)
    assert {by_body[f"n{i}"].properties["traceparent"] for i in range(2)} == {traceparent(without)}
    receives = otel.spans(f"receive {topic}")
    assert receives, "no receive span"  # empty polls made none
    assert sum(r.attributes["messaging.batch.message_count"] for r in receives) == 5
    links = [c for r in receives for c in linked(r)]
    assert sorted(links) == sorted([ids(c.context) for c in creates] + [ids(without.context)] * 2)
    for receive in receives:
        assert receive.kind is SpanKind.CLIENT
        assert receive.attributes["messaging.operation.type"] == "receive"
        assert receive.attributes["messaging.consumer.group.name"] == "CG_otel_pull"
        assert receive.start_time < receive.end_time
    consumed = otel.points("messaging.client.consumed.messages")
    assert sum(p.value for p in consumed) == 5
    assert all(p.attributes["messaging.operation.name"] == "receive" for p in consumed)
    sent = otel.points("messaging.client.sent.messages")
    assert sum(p.value for p in sent) == 3  # the meter was given to the first hook only


async def test_handler_failures_are_errors_and_settled(addr: str, otel: Otel) -> None:
    hook = tracing_hook(otel.tracer_provider, otel.meter_provider)
    topic = "OtelFail"
    async with AsyncProducer("PG_otel_fail", addr, hooks=[hook]) as producer:
        boom = await producer.send(Message(topic, "boom"))
        nope = await producer.send(Message(topic, "nope"))

    async def handler(message: MessageView) -> bool:
        if message.reconsume_times:
            return True
        if message.body == b"boom":
            raise ValueError("boom")
        return False

    # Each fails once, is sent back, and comes back through the retry topic after 1 s.
    await consume(addr, topic, "CG_otel_fail", 4, hooks=[hook], handler=handler)
    processes = {
        (s.attributes["messaging.message.id"], s.attributes.get("error.type")): s
        for s in otel.spans(f"process {topic}")
    }
    failed = processes[(boom.msg_id, "ValueError")]
    assert failed.status.status_code is StatusCode.ERROR
    assert [e.name for e in failed.events] == ["exception"]
    refused = processes[(nope.msg_id, RECONSUME_LATER)]
    assert refused.status.status_code is StatusCode.ERROR
    assert {(boom.msg_id, None), (nope.msg_id, None)} <= set(processes)
    retried = processes[(boom.msg_id, None)]
    assert retried.attributes["rocketmq.message.reconsume_times"] == 1
    # The redelivered message still carries the original creation context.
    assert linked(retried) == linked(failed)

    settles = otel.spans(f"settle {topic}")
    assert len(settles) == 2
    for settle in settles:
        assert settle.kind is SpanKind.CLIENT
        assert settle.attributes["messaging.operation.type"] == "settle"
        assert settle.attributes["rocketmq.settle.outcome"] == "send_back"
        assert settle.attributes["messaging.consumer.group.name"] == "CG_otel_fail"
        assert len(settle.links) == 1
    errors = {p.attributes.get("error.type") for p in otel.points("messaging.process.duration")}
    assert errors == {None, "ValueError", RECONSUME_LATER}


async def test_failing_send_records_error_type(namesrv: Any, otel: Otel) -> None:
    """No broker registered: the route lookup fails with TOPIC_NOT_EXIST. Also shows the
    user's attribute callbacks at work."""

    def attributes_hook(span: trace_api.Span, info: dict[str, Any]) -> None:
        span.set_attribute("app.failed_with", type(info["error"]).__name__)

    def metric_attributes_hook(info: dict[str, Any]) -> dict[str, str]:
        return {"app.tier": "gold"}

    hook = tracing_hook(
        otel.tracer_provider,
        otel.meter_provider,
        attributes_hook=attributes_hook,
        metric_attributes_hook=metric_attributes_hook,
    )
    async with AsyncProducer("PG_otel_err", f"127.0.0.1:{namesrv.port}", hooks=[hook]) as p:
        with pytest.raises(TopicNotExistError):
            await p.send(Message("Nowhere", "x"))
    [send] = otel.spans("send Nowhere")
    assert send.status.status_code is StatusCode.ERROR
    assert send.attributes["error.type"] == "TOPIC_NOT_EXIST"
    assert send.attributes["app.failed_with"] == "TopicNotExistError"
    assert [e.name for e in send.events] == ["exception"]
    [sent] = otel.points("messaging.client.sent.messages")
    assert sent.value == 1 and sent.attributes["error.type"] == "TOPIC_NOT_EXIST"
    [duration] = otel.points("messaging.client.operation.duration")
    assert duration.attributes["error.type"] == "TOPIC_NOT_EXIST"
    assert sent.attributes["app.tier"] == duration.attributes["app.tier"] == "gold"


async def test_transaction_end_and_check_back(addr: str, otel: Otel) -> None:
    hook = tracing_hook(otel.tracer_provider, otel.meter_provider)
    tracer = otel.tracer_provider.get_tracer("test")
    topic = "OtelTx"

    async def checker(message: MessageView) -> TransactionState:
        with tracer.start_as_current_span("checker-work"):
            return TransactionState.COMMIT

    async with AsyncTransactionProducer("PG_otel_tx", addr, checker=checker, hooks=[hook]) as p:
        await p.send_in_transaction(Message(topic, "tx"), lambda m, r: TransactionState.UNKNOWN)
        await wait_for(lambda: len(otel.spans(f"end_transaction {topic}")) == 2, what="the answer")

    [half] = otel.spans(f"send {topic}")
    assert half.attributes["messaging.rocketmq.message.type"] == "transaction"
    first, answer = otel.spans(f"end_transaction {topic}")
    for end in (first, answer):
        assert end.kind is SpanKind.CLIENT
        assert end.attributes["messaging.operation.name"] == "end_transaction"
        assert "messaging.operation.type" not in end.attributes
        assert end.attributes["messaging.message.id"] == half.attributes["messaging.message.id"]
    assert first.attributes["rocketmq.transaction.state"] == "UNKNOWN"
    assert answer.attributes["rocketmq.transaction.state"] == "COMMIT"
    [check] = otel.spans(f"check {topic}")
    assert check.kind is SpanKind.CONSUMER
    assert linked(check) == [ids(half.context)]
    assert check.attributes["rocketmq.transaction.state"] == "COMMIT"
    assert check.attributes["messaging.rocketmq.message.type"] == "transaction"
    [work] = otel.spans("checker-work")
    assert ids(work.parent) == ids(check.context)
    checks = otel.points("messaging.process.duration")
    assert [p.attributes["messaging.operation.name"] for p in checks] == ["check"]


async def test_no_provider_costs_nothing(addr: str) -> None:
    """Without providers the hook adds nothing: no state, no properties, no spans."""
    if not isinstance(trace_api.get_tracer_provider(), trace_api.ProxyTracerProvider):
        pytest.skip("a global tracer provider was set in this process")
    hook = tracing_hook()
    seen: list[dict[str, Any]] = []

    def recorder(event: str, info: dict[str, Any]) -> None:
        if event == "send.complete":
            seen.append({"keys": set(info), "properties": dict(info["properties"])})

    async with AsyncProducer("PG_otel_off", addr, hooks=[hook, recorder]) as producer:
        await producer.send(Message("OtelOff", "quiet"))
    [info] = seen
    assert not any(str(k).startswith("otel.") for k in info["keys"])
    assert "traceparent" not in info["properties"]
    assert "TRACE_CONTEXT" not in info["properties"]
    fake: dict[str, Any] = {"topic": "T", "properties": {}}
    hook("send.started", fake)
    hook("send.complete", fake)
    assert fake == {"topic": "T", "properties": {}}


def test_bad_process_parent_is_refused() -> None:
    with pytest.raises(ConfigError, match="process_parent"):
        tracing_hook(process_parent="child")  # type: ignore[arg-type]


def test_import_without_the_extra_says_what_to_install() -> None:
    code = (
        "import sys; sys.modules['opentelemetry'] = None\n"
        "try:\n    import integrations.opentelemetry\n"
        "except ImportError as exc:\n    print(exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert 'pip install "rocketmq-py[otel]"' in out.stdout
