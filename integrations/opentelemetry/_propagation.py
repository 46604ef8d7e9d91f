"""Trace context in message properties: the carrier of RocketMQ.

On send the creation context goes into the message's user properties under the propagator's
keys (``traceparent``, ``tracestate``, ``baggage`` with the default W3C propagators), as the
OpenTelemetry Java instrumentation of the 4.x remoting client writes them, so Java consumers
pick it up. With ``trace_context_property`` the ``traceparent`` is also copied into
``TRACE_CONTEXT``, the trace-context system property RocketMQ 5 (and its gRPC proxy) reads.
On receive the context is extracted from either: the user properties first, then
``TRACE_CONTEXT``.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping

from opentelemetry import propagate
from opentelemetry import trace as trace_api
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import TextMapPropagator

from integrations.opentelemetry._attributes import PROP_TRACE_CONTEXT

_TRACEPARENT = "traceparent"


def has_context(properties: Mapping[str, str]) -> bool:
    """Whether a message already carries a creation context (one the user set is kept)."""
    return _TRACEPARENT in properties or PROP_TRACE_CONTEXT in properties


def inject(
    propagator: TextMapPropagator | None,
    context: Context,
    properties: MutableMapping[str, str],
    *,
    trace_context_property: bool,
) -> None:
    """Write ``context`` into ``properties`` (the wire properties of a message being sent)."""
    (propagator or propagate.get_global_textmap()).inject(properties, context=context)
    if trace_context_property and _TRACEPARENT in properties:
        properties.setdefault(PROP_TRACE_CONTEXT, properties[_TRACEPARENT])


def extract(propagator: TextMapPropagator | None, properties: Mapping[str, str]) -> Context | None:
    """The creation context carried by a received message, or None when it has none."""
    if not has_context(properties):
        return None
    carrier: Mapping[str, str] = properties
    if _TRACEPARENT not in properties:
        carrier = {**properties, _TRACEPARENT: properties[PROP_TRACE_CONTEXT]}
    context = (propagator or propagate.get_global_textmap()).extract(carrier)
    if not trace_api.get_current_span(context).get_span_context().is_valid:
        return None
    return context


def span_context_of(context: Context | None) -> trace_api.SpanContext | None:
    """The span context in ``context`` when there is a valid one."""
    if context is None:
        return None
    span_context = trace_api.get_current_span(context).get_span_context()
    return span_context if span_context.is_valid else None
