"""The four messaging metrics of the conventions (``messaging-metrics.md``).

* ``messaging.client.operation.duration`` (histogram, ``s``): send, receive, settle and
  end_transaction.
* ``messaging.client.sent.messages`` (counter, ``{message}``): every message of a send,
  failed ones too (with ``error.type``).
* ``messaging.client.consumed.messages`` (counter, ``{message}``): every message a poll
  returned or a push consumer handed to its handler.
* ``messaging.process.duration`` (histogram, ``s``): process and check.

A push consumer has no instrumented receive, so its deliveries are counted at process, as
the conventions ask ("reported once per message delivery"). Attributes are the
low-cardinality ones of :data:`~integrations.opentelemetry._attributes.METRIC_ATTRIBUTES`
plus whatever the user's ``metric_attributes_hook`` adds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.metrics import Meter

__all__ = ["Instruments"]

# The conventions' advice for messaging duration histograms.
_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)
_CLIENT_OPERATIONS = frozenset({"send", "receive", "settle", "end_transaction"})
_PROCESS_OPERATIONS = frozenset({"process", "check"})


class Instruments:
    """The instruments of one meter, and which of them an operation feeds."""

    def __init__(self, meter: Meter) -> None:
        self.operation_duration = meter.create_histogram(
            "messaging.client.operation.duration",
            unit="s",
            description="Duration of messaging operation initiated by a producer or consumer "
            "client.",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )
        self.process_duration = meter.create_histogram(
            "messaging.process.duration",
            unit="s",
            description="Duration of processing operation.",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )
        self.sent = meter.create_counter(
            "messaging.client.sent.messages",
            unit="{message}",
            description="Number of messages producer attempted to send to the broker.",
        )
        self.consumed = meter.create_counter(
            "messaging.client.consumed.messages",
            unit="{message}",
            description="Number of messages that were delivered to the application.",
        )

    def record(
        self, operation: str, seconds: float, count: int, attributes: Mapping[str, Any]
    ) -> None:
        """Record one finished operation that took ``seconds`` over ``count`` messages."""
        if operation in _CLIENT_OPERATIONS:
            self.operation_duration.record(seconds, attributes)
        elif operation in _PROCESS_OPERATIONS:
            self.process_duration.record(seconds, attributes)
        if operation == "send" and count:
            self.sent.add(count, attributes)
        elif operation in ("receive", "process") and count:
            self.consumed.add(count, attributes)
