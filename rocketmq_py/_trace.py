"""Trace hooks: one context manager per operation, reported to the log and to user hooks.

In the style of httpcore's ``_trace``: an operation (``send``, ``receive``, ``process``,
``settle``) emits ``<name>.started`` before it runs and ``<name>.complete`` or
``<name>.failed`` after, each to the ``rocketmq_py.trace`` logger (DEBUG) and to every hook the
client was given. A hook is ``hook(event, info)``, sync or async; ``info`` is one mutable dict
for the whole operation, so a hook can stash state at ``started`` (a span) and find it at the
end, and can read or write the message properties it carries (``info["properties"]``) to
propagate context. The OpenTelemetry integration is such a hook; nothing here imports it.

Keys of ``info``: ``operation``, ``topic``, ``group``, ``client_id``, ``queue`` (a
MessageQueueRef, when known), ``msg_ids``, ``message_count``, ``body_size``, ``properties``
(mutable on send.started), ``messages`` (on receive.complete), ``message`` (process),
``result`` (send.complete), ``error`` (``*.failed``), ``server_address``, ``namespace`` (the
client's, ``""`` without one; ``group`` is shown as on the wire, with it),
``consumption_model`` (consumers: ``"clustering"`` or ``"broadcasting"``), ``ordered`` (send:
the queue was named or selected) and ``sharding_key`` (send, when given), ``outcome``
(settle).

Transactional producers add two operations: ``end_transaction`` around each END_TRANSACTION
(``state``: a TransactionState, ``from_transaction_check``: whether it answers a check,
``transaction_id``) and ``check`` around the checker answering a broker's check-back
(``message``: the half message, ``transaction_id``; ``state`` on check.complete).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

__all__ = ["TraceHook", "trace", "tracing_active"]

log = logging.getLogger("rocketmq_py.trace")

#: ``hook(event, info)``; may return an awaitable.
TraceHook = Callable[[str, dict[str, Any]], Awaitable[None] | None]


async def _emit(hooks: Sequence[TraceHook], event: str, info: dict[str, Any]) -> None:
    if log.isEnabledFor(logging.DEBUG):
        log.debug(
            "%s %s", event, {k: v for k, v in info.items() if k not in ("properties", "messages")}
        )
    for hook in hooks:
        try:
            result = hook(event, info)
            if inspect.isawaitable(result):
                await result
        except Exception:  # a broken hook must never break messaging
            log.exception("trace hook %r failed on %s", hook, event)


def tracing_active(hooks: Sequence[TraceHook]) -> bool:
    """Whether :func:`trace` would report anything: hooks given, or the logger at DEBUG.

    Hot paths skip building ``info`` and entering :func:`trace` when it would not.
    """
    return bool(hooks) or log.isEnabledFor(logging.DEBUG)


@asynccontextmanager
async def trace(
    name: str, hooks: Sequence[TraceHook], info: dict[str, Any]
) -> AsyncIterator[dict[str, Any]]:
    """Report ``name.started``, then ``name.complete`` or ``name.failed`` (and re-raise)."""
    info.setdefault("operation", name)
    await _emit(hooks, f"{name}.started", info)
    try:
        yield info
    except BaseException as exc:
        info["error"] = exc
        await _emit(hooks, f"{name}.failed", info)
        raise
    await _emit(hooks, f"{name}.complete", info)
