"""The client suite runs on asyncio and on trio, against servers on a loop of their own.

Every async test here runs twice (``anyio_backend`` is parametrized). The SDK is anyio code
and must behave the same on both; the servers are asyncio Protocols, so they cannot share a
trio test's loop. The ``namesrv`` and ``broker`` fixtures therefore run the in-process
servers on a background thread with its own asyncio loop (:class:`ServerThread`), which also
keeps the servers' work off the loop under test, as with a real remote broker. Tests may read
server state (topics, consumer groups, the store) directly; a test that swaps a server method
(monkeypatch) has it called on the server's thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.conftest import FakeClock, broker_settings_for

T = TypeVar("T")


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class ServerThread:
    """Runs an async context manager (a server controller) on a private asyncio loop.

    ``start()`` enters it in one task on the thread and returns what ``__aenter__``
    returned; ``stop()`` makes that same task exit it (its task groups and cancel scopes need
    one task) and joins the thread. Exceptions on either side are re-raised in the caller.
    """

    def __init__(self, factory: Callable[[], AbstractAsyncContextManager[Any]], name: str) -> None:
        self._factory = factory
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        self._stop: asyncio.Event | None = None
        self._life: concurrent.futures.Future[None] | None = None

    def start(self) -> Any:
        self._thread.start()
        entered: concurrent.futures.Future[Any] = concurrent.futures.Future()

        async def life() -> None:
            self._stop = asyncio.Event()
            try:
                async with self._factory() as value:
                    entered.set_result(value)
                    await self._stop.wait()
            except BaseException as exc:
                if not entered.done():
                    entered.set_exception(exc)
                raise

        self._life = asyncio.run_coroutine_threadsafe(life(), self._loop)
        try:
            return entered.result(60)
        except BaseException:
            self._shutdown_loop()
            raise

    def stop(self) -> None:
        try:
            if self._life is not None and self._stop is not None:
                self._loop.call_soon_threadsafe(self._stop.set)
                self._life.result(60)
        finally:
            self._shutdown_loop()

    def _shutdown_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


def run_broker(settings: object) -> Iterator[Any]:
    """Yield a BrokerController with ``settings`` running on a :class:`ServerThread`."""
    from broker.controller import BrokerController

    server = ServerThread(lambda: BrokerController(settings), "test-broker")  # type: ignore[arg-type]
    controller = server.start()
    try:
        yield controller
    finally:
        server.stop()


def run_namesrv(
    clock: Callable[[], int] | None = None, name: str = "test-namesrv", **extra: str
) -> Iterator[Any]:
    """Yield a NamesrvController on a free loopback port, running on a :class:`ServerThread`
    (``extra``: more name server settings; ``clock``: default the wall clock)."""
    from broker.namesrv.config import namesrv_settings
    from broker.namesrv.controller import NamesrvController

    settings = namesrv_settings()
    settings.update({"listenPort": "0", "bindAddress": "127.0.0.1", **extra})
    server = ServerThread(
        lambda: (
            NamesrvController(settings, clock=clock)
            if clock is not None
            else NamesrvController(settings)
        ),
        name,
    )
    controller = server.start()
    try:
        yield controller
    finally:
        server.stop()


@pytest.fixture
def namesrv(clock: FakeClock, tmp_home: Path) -> Iterator[Any]:
    """An in-process name server on a free loopback port, on its own loop thread."""
    yield from run_namesrv(clock)


@pytest.fixture
def broker(namesrv: Any, tmp_path: Path) -> Iterator[Any]:
    """An in-process broker registered with the name server, on its own loop thread."""
    yield from run_broker(broker_settings_for(tmp_path / "store", f"127.0.0.1:{namesrv.port}"))


#: Every delay level 1 s, so that retried messages come back quickly.
ONE_SECOND_LEVELS = " ".join(["1s"] * 18)


@pytest.fixture
def addr(broker: Any, namesrv: Any) -> str:
    """The name server address of the ``broker`` fixture's cluster."""
    return f"127.0.0.1:{namesrv.port}"


@pytest.fixture
def fast_retry_broker(namesrv: Any, tmp_path: Path) -> Iterator[Any]:
    """A broker whose delay levels are all 1 s, so retried messages come back quickly."""
    yield from run_broker(
        broker_settings_for(
            tmp_path / "store", f"127.0.0.1:{namesrv.port}", messageDelayLevel=ONE_SECOND_LEVELS
        )
    )


@pytest.fixture
def retry_addr(fast_retry_broker: Any, namesrv: Any) -> str:
    """The name server address of the ``fast_retry_broker`` fixture's cluster."""
    return f"127.0.0.1:{namesrv.port}"
