"""Whether the API's global providers are still unset, asked for a few nanoseconds.

A hook built without providers follows the global ones, including ones set after it was made,
so while nothing is set it must look again on every operation. ``get_tracer_provider()`` and
``get_meter_provider()`` answer that with an ``os.environ`` look-up each (their
``OTEL_PYTHON_*_PROVIDER`` variables), about 0.7 µs apiece, which was most of what the hook
cost an application that never configured OpenTelemetry. The API keeps each global in a module
attribute (``opentelemetry.trace._TRACER_PROVIDER``,
``opentelemetry.metrics._internal._METER_PROVIDER``) that stays ``None`` until a provider is
set: reading it is the cheap question. When the attribute is missing (an API that moved it) or
the environment names a provider to load, :func:`tracer_unset`/:func:`meter_unset` answer
``False`` and the caller asks the public getter, which stays the only source of the provider.

The environment is read once, at import: a provider named in ``OTEL_PYTHON_*_PROVIDER`` is for
the process to start with, as the SDK's auto-configuration uses it.
"""

from __future__ import annotations

import os
from types import ModuleType

from opentelemetry import trace as _trace_module
from opentelemetry.environment_variables import (
    OTEL_PYTHON_METER_PROVIDER,
    OTEL_PYTHON_TRACER_PROVIDER,
)

try:  # where the API keeps the global meter provider
    from opentelemetry.metrics import _internal as _meter_module
except ImportError:  # pragma: no cover - a future API laid out differently
    _meter_module = None  # type: ignore[assignment]

__all__ = ["meter_unset", "tracer_unset"]


def _watched(module: ModuleType | None, attribute: str, variable: str) -> ModuleType | None:
    """The module whose ``attribute`` tells cheaply, or ``None``: always ask the getter."""
    if module is None or variable in os.environ or not hasattr(module, attribute):
        return None
    return module


_TRACER_MODULE = _watched(_trace_module, "_TRACER_PROVIDER", OTEL_PYTHON_TRACER_PROVIDER)
_METER_MODULE = _watched(_meter_module, "_METER_PROVIDER", OTEL_PYTHON_METER_PROVIDER)


def tracer_unset() -> bool:
    """``True`` only while no global tracer provider is set (``False`` when unsure)."""
    return _TRACER_MODULE is not None and _TRACER_MODULE._TRACER_PROVIDER is None


def meter_unset() -> bool:
    """``True`` only while no global meter provider is set (``False`` when unsure)."""
    return _METER_MODULE is not None and _METER_MODULE._METER_PROVIDER is None
