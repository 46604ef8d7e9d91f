"""``RocketMQTelemetry``: the trace hook that turns rocketmq-py operations into spans and metrics.

Every operation reports ``<operation>.started`` then ``.complete`` or ``.failed`` with one
``info`` dict (see ``rocketmq_py.TraceHook``); the hook keeps its per-operation state in that
dict under a key of its own, so several instances can watch one client.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, MutableMapping
from contextvars import Token
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Literal

from opentelemetry import baggage
from opentelemetry import context as context_api
from opentelemetry import trace as trace_api
from opentelemetry.context import Context
from opentelemetry.metrics import MeterProvider, NoOpMeterProvider, get_meter_provider
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from integrations.opentelemetry import _attributes as attr
from integrations.opentelemetry._metrics import Instruments
from integrations.opentelemetry._propagation import extract, has_context, inject, span_context_of
from integrations.opentelemetry._providers import meter_unset, tracer_unset
from rocketmq_py import ConfigError

try:  # what get_meter_provider() answers before a global provider is set
    from opentelemetry.metrics._internal import _ProxyMeterProvider as _UnsetMeterProvider
except ImportError:  # pragma: no cover - a future API without it: NoOp is the only check
    _UnsetMeterProvider = NoOpMeterProvider  # type: ignore[misc,assignment]

__all__ = ["AttributesHook", "MetricAttributesHook", "RocketMQTelemetry"]

log = logging.getLogger("integrations.opentelemetry")

SCOPE = "integrations.opentelemetry"
SCHEMA_URL = "https://opentelemetry.io/schemas/1.44.0"

#: ``attributes_hook(span, info)``: called on every span but ``create`` ones before it ends.
AttributesHook = Callable[[trace_api.Span, dict[str, Any]], None]
#: ``metric_attributes_hook(info)``: extra attributes for the metrics of one operation.
MetricAttributesHook = Callable[[dict[str, Any]], Mapping[str, AttributeValue]]

_TYPES = {"send": "send", "receive": "receive", "process": "process", "settle": "settle"}
_KINDS = {
    "send": SpanKind.PRODUCER,
    "receive": SpanKind.CLIENT,
    "process": SpanKind.CONSUMER,
    "check": SpanKind.CONSUMER,
    "settle": SpanKind.CLIENT,
    "end_transaction": SpanKind.CLIENT,
}
_CONSUMER_OPERATIONS = frozenset({"receive", "process", "settle"})
# What a handler returning False (RECONSUME_LATER in Java's listener API) is reported as.
RECONSUME_LATER = "RECONSUME_LATER"


def _version() -> str | None:
    try:
        return metadata.version("rocketmq-py")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return None


@dataclass(slots=True)
class _State:
    """What one operation's ``started`` leaves for its end."""

    start: float
    start_ns: int
    attributes: dict[str, Any]
    span: trace_api.Span | None = None
    token: Token[Context] | None = None


class RocketMQTelemetry:
    """A :data:`rocketmq_py.TraceHook` emitting OpenTelemetry spans and metrics.

    Build it with :func:`integrations.opentelemetry.tracing_hook`, which documents the
    arguments. Calling it is cheap while neither provider is set: it resolves the global
    providers on each operation until a real one appears, then keeps that one.
    """

    def __init__(
        self,
        tracer_provider: trace_api.TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        *,
        propagator: TextMapPropagator | None = None,
        process_parent: Literal["link", "parent"] = "link",
        batch_create_spans: bool = True,
        trace_empty_receives: bool = False,
        trace_context_property: bool = True,
        attributes_hook: AttributesHook | None = None,
        metric_attributes_hook: MetricAttributesHook | None = None,
    ) -> None:
        if process_parent not in ("link", "parent"):
            raise ConfigError("process_parent", process_parent, "expected 'link' or 'parent'")
        self._tracer_provider = tracer_provider
        self._meter_provider = meter_provider
        self._propagator = propagator
        self.process_parent = process_parent
        self.batch_create_spans = batch_create_spans
        self.trace_empty_receives = trace_empty_receives
        self.trace_context_property = trace_context_property
        self._attributes_hook = attributes_hook
        self._metric_attributes_hook = metric_attributes_hook
        self._tracer: trace_api.Tracer | None = None
        self._instruments: Instruments | None = None
        self._key = f"otel.{id(self):x}"

    # -- providers ------------------------------------------------------------------------------

    def _resolve_tracer(self) -> trace_api.Tracer | None:
        if self._tracer is None:
            if self._tracer_provider is None and tracer_unset():
                return None  # the cheap answer while no global is set (see _providers)
            provider = self._tracer_provider or trace_api.get_tracer_provider()
            if isinstance(provider, (trace_api.ProxyTracerProvider, trace_api.NoOpTracerProvider)):
                return None  # nothing set (yet): no spans, no propagation
            self._tracer = provider.get_tracer(SCOPE, _version(), schema_url=SCHEMA_URL)
        return self._tracer

    def _resolve_instruments(self) -> Instruments | None:
        if self._instruments is None:
            if self._meter_provider is None and meter_unset():
                return None
            provider = self._meter_provider or get_meter_provider()
            if isinstance(provider, (_UnsetMeterProvider, NoOpMeterProvider)):
                return None
            meter = provider.get_meter(SCOPE, _version(), schema_url=SCHEMA_URL)
            self._instruments = Instruments(meter)
        return self._instruments

    # -- the hook -------------------------------------------------------------------------------

    def __call__(self, event: str, info: dict[str, Any]) -> None:
        """Handle one trace event (``<operation>.started|complete|failed``)."""
        operation, _, phase = event.rpartition(".")
        if phase == "started":
            tracer = self._resolve_tracer()
            if self._resolve_instruments() is None and tracer is None:
                return
            state = _State(time.perf_counter(), time.time_ns(), {})
            info[self._key] = state
            if operation != "receive":  # a poll's span is made at its end (see _receive_span)
                state.attributes = self._attributes(operation, info)
                if tracer is not None:
                    self._start_span(tracer, operation, state, info)
            return
        state = info.pop(self._key, None)
        if isinstance(state, _State):
            self._finish(operation, state, info, info.get("error") if phase == "failed" else None)

    # -- attributes -----------------------------------------------------------------------------

    def _attributes(self, operation: str, info: Mapping[str, Any]) -> dict[str, Any]:
        """What an operation's span starts with (metrics take the low-cardinality ones)."""
        namespace = info.get("namespace") or ""
        attrs: dict[str, Any] = {
            attr.SYSTEM: attr.SYSTEM_VALUE,
            attr.OPERATION_NAME: operation,
            attr.NAMESPACE: namespace,
        }
        if operation in _TYPES:
            attrs[attr.OPERATION_TYPE] = _TYPES[operation]
        if info.get("topic"):
            attrs[attr.DESTINATION] = info["topic"]
        if info.get("client_id"):
            attrs[attr.CLIENT_ID] = info["client_id"]
        group = info.get("group")
        if operation in _CONSUMER_OPERATIONS and group:
            attrs[attr.CONSUMER_GROUP] = _unwrap(namespace, group)
        model = info.get("consumption_model")
        if model and operation in _CONSUMER_OPERATIONS:
            attrs[attr.CONSUMPTION_MODEL] = str(model)
        message = info.get("message")
        if message is not None:  # process, settle, check: one received message
            attrs.update(attr.message_attributes(message.properties, info, producer=False))
            attrs[attr.MESSAGE_ID] = message.msg_id
            attrs[attr.PARTITION] = str(message.queue.queue_id)
            if operation != "settle":
                attrs[attr.BODY_SIZE] = len(message.body)
            if message.reconsume_times:
                attrs[attr.RECONSUME_TIMES] = message.reconsume_times
            attrs.update(attr.split_address(info.get("server_address") or message.store_host))
        elif operation == "send":
            props = info.get("properties")
            if isinstance(props, list):
                attrs[attr.BATCH_COUNT] = len(props)
            elif isinstance(props, Mapping):
                attrs.update(attr.message_attributes(props, info, producer=True))
                if info.get("body_size") is not None:
                    attrs[attr.BODY_SIZE] = info["body_size"]
        elif info.get("msg_ids") and len(info["msg_ids"]) == 1:
            attrs[attr.MESSAGE_ID] = info["msg_ids"][0]
        if operation == "end_transaction":
            attrs[attr.MESSAGE_TYPE] = "transaction"
            state = info.get("state")
            if state is not None:
                attrs[attr.TRANSACTION_STATE] = str(getattr(state, "value", state))
        if info.get("transaction_id"):
            attrs[attr.TRANSACTION_ID] = str(info["transaction_id"])
        return attrs

    def _late_attributes(self, operation: str, info: Mapping[str, Any]) -> dict[str, Any]:
        """What is only known once an operation ended (where a send went, how it settled)."""
        late: dict[str, Any] = {}
        queue = info.get("queue")
        if queue is not None and operation != "receive":
            late[attr.PARTITION] = str(queue.queue_id)
        if info.get("server_address"):
            late.update(attr.split_address(info["server_address"]))
        if info.get("outcome"):
            late[attr.SETTLE_OUTCOME] = str(info["outcome"])
        if operation == "check" and info.get("state") is not None:
            late[attr.TRANSACTION_STATE] = str(getattr(info["state"], "value", info["state"]))
        return late

    # -- spans ----------------------------------------------------------------------------------

    def _start_span(
        self, tracer: trace_api.Tracer, operation: str, state: _State, info: dict[str, Any]
    ) -> None:
        name = _span_name(operation, info.get("topic"))
        kind = _KINDS.get(operation, SpanKind.CLIENT)
        if operation == "send":
            self._start_send(tracer, name, state, info)
        elif operation in ("process", "check"):
            self._start_consume(tracer, name, state, info)
        else:
            links = []
            message = info.get("message")
            if message is not None:  # a settle links to the settled message's creation
                creation = span_context_of(extract(self._propagator, message.properties))
                if creation is not None:
                    links.append(Link(creation))
            state.span = tracer.start_span(
                name, kind=kind, attributes=state.attributes, links=links
            )

    def _start_send(
        self, tracer: trace_api.Tracer, name: str, state: _State, info: dict[str, Any]
    ) -> None:
        """The send span, a ``create`` span per message of a batch, and their injection.

        Every message gets a creation context unless it already carries one (which is kept
        and linked): its ``create`` span's, or else the send span's. The send span is a
        PRODUCER when its own context is injected into some message, otherwise a CLIENT
        (the conventions' rule), and links to every creation context it did not inject.
        """
        props = info.get("properties")
        batch = isinstance(props, list)
        candidates: list[Any] = props if isinstance(props, list) else [props]
        messages = [p for p in candidates if isinstance(p, MutableMapping)]
        links: list[Link] = []
        pending: list[MutableMapping[str, str]] = []
        for properties in messages:
            if has_context(properties):
                kept = span_context_of(extract(self._propagator, properties))
                if kept is not None:
                    links.append(Link(kept))
            elif batch and self.batch_create_spans:
                links.append(Link(self._create_span(tracer, properties, info)))
            else:
                pending.append(properties)
        kind = SpanKind.PRODUCER if pending else SpanKind.CLIENT
        span = tracer.start_span(name, kind=kind, attributes=state.attributes, links=links)
        state.span = span
        if pending:
            context = trace_api.set_span_in_context(span)
            for properties in pending:
                self._inject(context, properties)

    def _create_span(
        self, tracer: trace_api.Tracer, properties: MutableMapping[str, str], info: dict[str, Any]
    ) -> trace_api.SpanContext:
        """One batch message's ``create`` span (ended at once), injected as its creation."""
        attrs = {
            attr.SYSTEM: attr.SYSTEM_VALUE,
            attr.OPERATION_NAME: "create",
            attr.OPERATION_TYPE: "create",
            attr.NAMESPACE: info.get("namespace") or "",
            **attr.message_attributes(properties, info, producer=True),
        }
        if info.get("topic"):
            attrs[attr.DESTINATION] = info["topic"]
        span = tracer.start_span(
            _span_name("create", info.get("topic")), kind=SpanKind.PRODUCER, attributes=attrs
        )
        self._inject(trace_api.set_span_in_context(span), properties)
        span.end()
        return span.get_span_context()

    def _inject(self, context: Context, properties: MutableMapping[str, str]) -> None:
        inject(
            self._propagator,
            context,
            properties,
            trace_context_property=self.trace_context_property,
        )

    def _start_consume(
        self, tracer: trace_api.Tracer, name: str, state: _State, info: dict[str, Any]
    ) -> None:
        """A process (or check-back) span, made current while the user's code runs.

        ``process_parent="link"``: the span's parent is the ambient context and it links to
        the message's creation context (whose baggage is made current too).
        ``"parent"``: the creation context is the parent and the ambient span, if any, a link.
        """
        message = info.get("message")
        creation = extract(self._propagator, message.properties) if message else None
        creation_span = span_context_of(creation)
        ambient = context_api.get_current()
        links: list[Link] = []
        if self.process_parent == "parent" and creation is not None:
            ambient_span = trace_api.get_current_span(ambient).get_span_context()
            if ambient_span.is_valid:
                links.append(Link(ambient_span))
            parent = creation
        else:
            parent = ambient
            if creation is not None and creation_span is not None:
                links.append(Link(creation_span))
                for key, value in baggage.get_all(creation).items():
                    parent = baggage.set_baggage(key, value, parent)
        span = tracer.start_span(
            name,
            context=parent,
            kind=SpanKind.CONSUMER,
            attributes=state.attributes,
            links=links,
        )
        state.span = span
        # The hook runs in the task that calls the handler, so the user's spans nest here.
        state.token = context_api.attach(trace_api.set_span_in_context(span, parent))

    def _receive_span(
        self, tracer: trace_api.Tracer, state: _State, info: dict[str, Any], failed: bool
    ) -> trace_api.Span | None:
        """A poll's CLIENT span, made at its end with the start time it had: only then are
        its destination and the messages to link known (and an empty poll can be skipped)."""
        messages = info.get("messages") or []
        if not messages and not failed and not self.trace_empty_receives:
            return None
        links = []
        for message in messages:
            creation = span_context_of(extract(self._propagator, message.properties))
            if creation is not None:
                links.append(Link(creation))
        return tracer.start_span(
            _span_name("receive", info.get("topic")),
            kind=SpanKind.CLIENT,
            attributes=state.attributes,
            links=links,
            start_time=state.start_ns,
        )

    # -- the end --------------------------------------------------------------------------------

    def _finish(
        self, operation: str, state: _State, info: dict[str, Any], error: BaseException | None
    ) -> None:
        seconds = time.perf_counter() - state.start
        messages = info.get("messages") or []
        if operation == "receive":
            if not messages and error is None and not self.trace_empty_receives:
                return  # an empty poll: neither a span nor a measurement
            state.attributes = self._receive_attributes(info, messages)
            if self._tracer is not None:
                state.span = self._receive_span(self._tracer, state, info, error is not None)
        late = self._late_attributes(operation, info)
        failure: str | None = None
        if error is not None:
            failure = attr.error_type(error)
        elif operation == "process" and info.get("result") is False:
            failure = RECONSUME_LATER
        if failure is not None:
            late[attr.ERROR_TYPE] = failure
        attrs = state.attributes
        attrs.update(late)
        span = state.span
        if span is not None:
            try:
                # The span already holds the start attributes: only the late ones are new
                # (setting all again cost a second pass of the SDK's attribute checks).
                self._end_span(span, late, failure, error, info)
            finally:
                if state.token is not None:
                    context_api.detach(state.token)
        instruments = self._instruments
        if instruments is not None:
            count = len(messages) if operation == "receive" else int(info.get("message_count", 1))
            instruments.record(operation, seconds, count, self._metric_attributes(attrs, info))

    def _receive_attributes(self, info: dict[str, Any], messages: list[Any]) -> dict[str, Any]:
        attrs = self._attributes("receive", info)
        attrs[attr.BATCH_COUNT] = len(messages)
        if len(messages) == 1:
            attrs[attr.MESSAGE_ID] = messages[0].msg_id
        queues = {m.queue for m in messages}
        if len(queues) == 1:
            attrs[attr.PARTITION] = str(queues.pop().queue_id)
        return attrs

    def _end_span(
        self,
        span: trace_api.Span,
        late: dict[str, Any],
        failure: str | None,
        error: BaseException | None,
        info: dict[str, Any],
    ) -> None:
        span.set_attributes(late)
        if failure is not None:
            if isinstance(error, Exception):
                span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, str(error) if error is not None else failure))
        if self._attributes_hook is not None:
            try:
                self._attributes_hook(span, info)
            except Exception:  # the user's hook must not lose the span
                log.exception("attributes_hook failed")
        span.end()

    def _metric_attributes(self, attrs: dict[str, Any], info: dict[str, Any]) -> dict[str, Any]:
        chosen = {k: v for k, v in attrs.items() if k in attr.METRIC_ATTRIBUTES}
        if self._metric_attributes_hook is not None:
            try:
                chosen.update(self._metric_attributes_hook(info))
            except Exception:
                log.exception("metric_attributes_hook failed")
        return chosen


def _span_name(operation: str, destination: object) -> str:
    return f"{operation} {destination}" if destination else operation


def _unwrap(namespace: str, name: str) -> str:
    """``name`` without its namespace (clients put ``namespace%`` before names on the wire)."""
    if namespace and name.startswith(namespace + "%"):
        return name[len(namespace) + 1 :]
    return name
