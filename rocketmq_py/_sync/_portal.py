"""The one background event loop the blocking clients share, and the base they build on.

Every started blocking client holds a lease on a process-wide :class:`anyio.from_thread.
BlockingPortal`; the first lease starts the loop thread and the last one stops it, as anyio's
``BlockingPortalProvider`` does. The difference is the thread: a daemon thread of our own rather
than a ``ThreadPoolExecutor`` worker, which the interpreter joins at exit, so a program that
forgets ``shutdown()`` still exits (its connections are simply dropped).

An async client runs inside the portal through ``wrap_async_context_manager``: its
``__aenter__`` and ``__aexit__`` run in one task of the loop thread, which is what its task
groups and cancel scopes need. Each blocking method is then one ``portal.call`` of its async
twin, except the blocking ``Producer``'s plain sends once their route and broker are known
(``rocketmq_py._sync.direct``: the hand-off costs more than the send).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import sys
import threading
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from types import TracebackType
from typing import Any, Generic, ParamSpec, TypeVar

import anyio
from anyio.from_thread import BlockingPortal

from rocketmq_py.exceptions import SyncInAsyncContextError

__all__ = ["SyncClient", "ensure_not_in_event_loop", "portal_leases"]

P = ParamSpec("P")
T = TypeVar("T")
A = TypeVar("A", bound=AbstractAsyncContextManager[Any])
S = TypeVar("S", bound="SyncClient[Any]")


def _running_async_library() -> str | None:
    """The async library running in the calling thread, or ``None``.

    asyncio is asked directly; trio (and anything sniffio knows) only when already imported,
    so that neither becomes a dependency.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        return "asyncio"
    sniffio = sys.modules.get("sniffio")
    if sniffio is not None:
        try:
            return str(sniffio.current_async_library())
        except sniffio.AsyncLibraryNotFoundError:
            pass
    trio = sys.modules.get("trio")
    if trio is not None:
        try:
            trio.lowlevel.current_task()
        except RuntimeError:
            pass
        else:
            return "trio"
    return None


def ensure_not_in_event_loop(what: str, async_twin: str) -> None:
    """Raise :class:`SyncInAsyncContextError` when the calling thread runs an event loop.

    Args:
        what: the blocking call, for the message (``"Producer.send()"``).
        async_twin: the class to use instead (``"AsyncProducer"``).
    """
    library = _running_async_library()
    if library is not None:
        raise SyncInAsyncContextError(
            f"{what} blocks and was called from a running {library} event loop; "
            f"use rocketmq_py.{async_twin} there (or call it from a worker thread)"
        )


class _SharedPortal:
    """A lease-counted blocking portal on a daemon thread (``BlockingPortalProvider``-like)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._leases = 0
        self._portal: BlockingPortal | None = None
        self._thread: threading.Thread | None = None

    @property
    def leases(self) -> int:
        return self._leases

    def acquire(self) -> BlockingPortal:
        with self._lock:
            if self._portal is None:
                self._portal, self._thread = _start_portal_thread()
            self._leases += 1
            return self._portal

    def release(self) -> None:
        with self._lock:
            self._leases -= 1
            if self._leases:
                return
            portal, thread = self._portal, self._thread
            self._portal = self._thread = None
        assert portal is not None
        assert thread is not None
        portal.call(portal.stop)
        thread.join()


def _start_portal_thread() -> tuple[BlockingPortal, threading.Thread]:
    ready: concurrent.futures.Future[BlockingPortal] = concurrent.futures.Future()

    async def serve() -> None:
        async with BlockingPortal() as portal:
            ready.set_result(portal)
            await portal.sleep_until_stopped()

    def run() -> None:
        try:
            anyio.run(serve)
        except BaseException as exc:  # pragma: no cover - the loop failed to start
            if not ready.done():
                ready.set_exception(exc)
            raise

    thread = threading.Thread(target=run, name="rocketmq-py-portal", daemon=True)
    thread.start()
    return ready.result(), thread


_SHARED = _SharedPortal()


def portal_leases() -> int:
    """How many blocking clients are started right now (0: no loop thread is running)."""
    return _SHARED.leases


class SyncClient(Generic[A]):
    """Base of the blocking clients: lifecycle and the calls into the async twin.

    Use as ``with Client(...) as client:``, or call :meth:`start` and :meth:`shutdown`.
    Methods may be called from any number of threads at once, but never from a thread that
    runs an event loop (that raises :class:`~rocketmq_py.exceptions.SyncInAsyncContextError`).
    """

    _async_twin: str = ""

    def __init__(self, async_client: A) -> None:
        self._async = async_client
        self._lifecycle = threading.Lock()
        self._portal: BlockingPortal | None = None
        self._context: AbstractContextManager[Any] | None = None

    def _check(self, method: str) -> None:
        ensure_not_in_event_loop(f"{type(self).__name__}.{method}()", self._async_twin)

    @property
    def started(self) -> bool:
        """Whether :meth:`start` ran and :meth:`shutdown` did not yet."""
        return self._portal is not None

    def start(self) -> None:
        """Start the client on the shared event loop thread (starting that thread if needed).

        Raises:
            RuntimeError: already started.
        """
        self._check("start")
        with self._lifecycle:
            if self._portal is not None:
                raise RuntimeError(f"{type(self).__name__} is already started")
            portal = _SHARED.acquire()
            try:
                context = portal.wrap_async_context_manager(self._async)
                context.__enter__()
            except BaseException:
                _SHARED.release()
                raise
            self._portal, self._context = portal, context

    def shutdown(self) -> None:
        """Stop the client (no-op when not started); the last client stops the loop thread."""
        self._check("shutdown")
        with self._lifecycle:
            context, self._context, self._portal = self._context, None, None
            if context is None:
                return
            try:
                # The async twin does not see the caller's exception: it shuts down the same way
                # whatever ended the ``with`` block, and the exception propagates as itself.
                context.__exit__(None, None, None)
            finally:
                _SHARED.release()

    def __enter__(self: S) -> S:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.shutdown()

    def _running_portal(self, method: str) -> BlockingPortal:
        self._check(method)
        portal = self._portal
        if portal is None:
            name = type(self).__name__
            raise RuntimeError(
                f"{name}.{method}() needs a started client: use 'with {name}(...)' or start()"
            )
        return portal

    def _call(self, func: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run the coroutine function ``func`` on the loop thread and wait for its result."""
        portal = self._running_portal(_name(func))
        return portal.call(functools.partial(func, *args, **kwargs))

    def _apply(self, func: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run the plain function ``func`` on the loop thread while started, else right here.

        For methods of the async twin that are not coroutines but touch state its tasks use.
        """
        self._check(_name(func))
        portal = self._portal
        if portal is None:
            return func(*args, **kwargs)
        return portal.call(functools.partial(func, *args, **kwargs))


def _name(func: Callable[..., object]) -> str:
    return str(getattr(func, "__name__", "call"))
