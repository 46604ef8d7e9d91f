"""Calling application code (handlers, checkers, local transactions) from the event loop."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import anyio
import anyio.to_thread

__all__ = ["call_user", "is_async_callable"]


def is_async_callable(fn: object) -> bool:
    """Whether calling ``fn`` returns a coroutine (``async def``, partials, async ``__call__``)."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 - an object whose __call__ is async
    )


async def call_user(
    fn: Callable[..., Any], *args: object, limiter: anyio.CapacityLimiter | None = None
) -> object:
    """Await ``fn(*args)`` if it is async, else run it in a worker thread (never on the loop)."""
    if is_async_callable(fn):
        return await fn(*args)
    result = await anyio.to_thread.run_sync(
        functools.partial(fn, *args), limiter=limiter, abandon_on_cancel=True
    )
    return await result if inspect.isawaitable(result) else result
