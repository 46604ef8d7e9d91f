"""OpenTelemetry tracing and metrics for rocketmq-py, following the current messaging conventions.

Install with ``pip install "rocketmq-py[otel]"`` and pass the hook to any client::

    from integrations.opentelemetry import tracing_hook

    telemetry = tracing_hook(tracer_provider=provider, meter_provider=meter_provider)
    producer = AsyncProducer("PG", addr, hooks=[telemetry])
    consumer = AsyncPushConsumer("CG", addr, hooks=[telemetry])

**Why a hook and no ``instrument()``.** Every client takes ``hooks=[...]`` (``rocketmq_py``'s
trace hooks: ``started``/``complete``/``failed`` around each operation), so the integration
needs no monkeypatching, and one hook object can serve any number of clients. A global
``instrument()`` would have to patch client classes or add a process-wide hook registry to
the SDK; explicit hooks keep the SDK free of both, and which clients are traced stays
visible at their construction. Without providers passed in, the hook follows the global
ones (``opentelemetry.trace.set_tracer_provider``...), including ones set after it was made.

**Cost when off.** While neither provider is a real one (the API's default proxy or a
``NoOp*Provider``), an operation costs two provider checks and nothing else: no spans, no
attributes, no context injected into messages. While no global provider is set, the check
reads the API's module attribute instead of calling its getter (``_providers``), about
0.6 µs of hook per send (``benchmarks/otel_bench.py``, ``docs/benchmarks.md``).

**Spans** (semconv after v1.44.0, ``docs/messaging/rocketmq.md``). Names are
``{messaging.operation.name} {topic}``:

* ``send`` (PRODUCER): every send; CLIENT instead when it injected no creation context (a
  batch with ``create`` spans, or messages that already carried a context).
* ``create`` (PRODUCER): one per message of ``send_batch`` (``batch_create_spans``).
* ``receive`` (CLIENT): ``AsyncLitePullConsumer.poll`` that returned messages (empty polls
  too with ``trace_empty_receives``), linked to each message's creation context.
* ``process`` (CONSUMER): every push-consumer handler call; current while the handler runs.
* ``settle`` (CLIENT): a failed message settled: send-back, re-send to the retry topic,
  local retry, orderly suspend or dead-letter (``rocketmq.settle.outcome``).
* ``end_transaction`` (CLIENT): END_TRANSACTION of a transactional producer
  (``rocketmq.transaction.state``: COMMIT, ROLLBACK or UNKNOWN).
* ``check`` (CONSUMER): the checker answering a broker's check-back of a half message;
  current while the checker runs, linked (or parented) to the half message's creation
  context like ``process``.

``end_transaction`` and ``check`` have no ``messaging.operation.type``: the conventions
define none for committing a half message or for a broker-initiated check, and reusing
``settle``/``process`` would mix them into consumer dashboards. ``messaging.operation.name``
still says what they are, and ``check`` feeds ``messaging.process.duration``.

Attributes: ``messaging.system`` (``rocketmq``), ``messaging.operation.name``/``.type``,
``messaging.destination.name``, ``messaging.rocketmq.namespace`` (always; ``""`` without
one), ``messaging.consumer.group.name`` on receive/process/settle (never the deprecated
``messaging.rocketmq.client_group``), ``messaging.client.id``, ``messaging.message.id``,
``messaging.message.body.size``, ``messaging.rocketmq.message.type``/``.tag``/``.keys``/
``.group``/``.delay_time_level``/``.delivery_timestamp``,
``messaging.rocketmq.consumption_model``, ``messaging.destination.partition.id`` (queue id),
``messaging.batch.message_count``, ``server.address``/``server.port``, and on failure
``error.type`` (the response code's name such as ``TOPIC_NOT_EXIST``, else the exception's
class) with status ERROR. A handler returning ``False`` is ``error.type=RECONSUME_LATER``.

**Context propagation.** On send the creation context (the ``create`` span's, else the send
span's) is injected into the message's user properties with the global propagator (or
``propagator``): ``traceparent``, ``tracestate``, ``baggage``; ``traceparent`` is also copied
to the ``TRACE_CONTEXT`` property RocketMQ 5 reads (``trace_context_property``). A message
that already carries a context keeps it. Receive and process extract it from either
property. Process spans link to the creation context (``process_parent="link"``, the
conventions' default, right for batches and for handlers running inside another trace);
``process_parent="parent"`` makes it the parent instead, one trace from producer to
consumer, with any ambient span as a link.

**Metrics**: see :mod:`integrations.opentelemetry._metrics`. Broker-side telemetry (the
namesrv and broker servers) is out of scope here: this integration covers the clients.
"""

from __future__ import annotations

try:
    from opentelemetry import trace as _trace_api  # noqa: F401  (only the API is needed here)
except ImportError as exc:  # pragma: no cover - exercised in a venv without the extra
    raise ImportError(
        'integrations.opentelemetry needs OpenTelemetry: pip install "rocketmq-py[otel]"'
    ) from exc

from typing import Literal

from opentelemetry.metrics import MeterProvider
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.trace import TracerProvider

from integrations.opentelemetry._hook import (
    RECONSUME_LATER,
    AttributesHook,
    MetricAttributesHook,
    RocketMQTelemetry,
)

__all__ = [
    "RECONSUME_LATER",
    "AttributesHook",
    "MetricAttributesHook",
    "RocketMQTelemetry",
    "tracing_hook",
]


def tracing_hook(
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
    *,
    propagator: TextMapPropagator | None = None,
    process_parent: Literal["link", "parent"] = "link",
    batch_create_spans: bool = True,
    trace_empty_receives: bool = False,
    trace_context_property: bool = True,
    attributes_hook: AttributesHook | None = None,
    metric_attributes_hook: MetricAttributesHook | None = None,
) -> RocketMQTelemetry:
    """A trace hook for ``hooks=[...]`` of any rocketmq-py client.

    Args:
        tracer_provider: where spans go (default: the global one, looked up until set).
        meter_provider: where metrics go (default: the global one, looked up until set).
        propagator: injects and extracts the creation context (default: the global
            propagator, W3C trace context and baggage unless configured otherwise).
        process_parent: ``"link"`` (process and check spans link to the message's creation
            context) or ``"parent"`` (they are its children).
        batch_create_spans: a ``create`` span per message of a batch send; off, every
            message of the batch carries the send span's context.
        trace_empty_receives: also trace (and measure) polls that returned no message.
        trace_context_property: also write ``traceparent`` to the ``TRACE_CONTEXT`` property.
        attributes_hook: ``attributes_hook(span, info)``, called before every span but the
            ``create`` ones ends, to add attributes from ``info`` (the operation's dict:
            ``message``, ``result``, ``properties``... see ``rocketmq_py.TraceHook``).
        metric_attributes_hook: ``metric_attributes_hook(info)`` returns attributes added to
            the operation's measurements (keep them low-cardinality).

    Raises:
        ConfigError: ``process_parent`` is neither ``"link"`` nor ``"parent"``.
    """
    return RocketMQTelemetry(
        tracer_provider,
        meter_provider,
        propagator=propagator,
        process_parent=process_parent,
        batch_create_spans=batch_create_spans,
        trace_empty_receives=trace_empty_receives,
        trace_context_property=trace_context_property,
        attributes_hook=attributes_hook,
        metric_attributes_hook=metric_attributes_hook,
    )
