"""The name server process: routing tables, KV store, TCP server and the expiry scanner."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from types import TracebackType

import anyio
import anyio.abc

from broker._config import Settings, expand_home
from broker._server import Dispatcher, RemotingServer
from broker.namesrv.config import namesrv_settings
from broker.namesrv.kvconfig import KVConfigManager
from broker.namesrv.processor import NamesrvProcessor
from broker.namesrv.routeinfo import RouteInfoManager

__all__ = ["NamesrvController"]

log = logging.getLogger("broker.namesrv")


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class NamesrvController:
    """A running name server; use as ``async with NamesrvController(settings) as ns:``.

    Args:
        settings: effective configuration (defaults when omitted).
        clock: current time in ms; tests pass a fake to expire brokers without sleeping.
    """

    def __init__(
        self, settings: Settings | None = None, clock: Callable[[], int] = _now_ms
    ) -> None:
        self.settings = settings or namesrv_settings()
        self.clock = clock
        self.routes = RouteInfoManager(int(self.settings["brokerChannelExpiredTime"]))
        self.kv = KVConfigManager(expand_home(str(self.settings["kvConfigPath"])))
        self.processor = NamesrvProcessor(
            self.routes,
            self.kv,
            clock,
            order_message_enable=bool(self.settings["orderMessageEnable"]),
        )
        self.dispatcher = Dispatcher()
        self.processor.install(self.dispatcher)
        self.server = RemotingServer(
            self.dispatcher, str(self.settings["bindAddress"]), int(self.settings["listenPort"])
        )
        self._task_group: anyio.abc.TaskGroup | None = None

    @property
    def port(self) -> int:
        """The port the name server listens on."""
        return self.server.port

    async def __aenter__(self) -> NamesrvController:
        self.kv.load()
        await self.server.start()
        self._task_group = anyio.create_task_group()
        await self._task_group.__aenter__()
        self._task_group.start_soon(self._scan_loop)
        log.info("name server listening on %s:%d", self.server.host, self.port)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.server.close()
        if self._task_group is not None:
            self._task_group.cancel_scope.cancel()
            await self._task_group.__aexit__(None, None, None)
            self._task_group = None
        log.info("name server shut down")

    def scan_not_active_brokers(self) -> list[tuple[str, str]]:
        """Run one expiry scan now (the background loop calls this periodically)."""
        return self.routes.scan_not_active_brokers(self.clock())

    async def _scan_loop(self) -> None:
        interval = int(self.settings["scanNotActiveBrokerInterval"]) / 1000
        while True:
            await anyio.sleep(interval)
            self.scan_not_active_brokers()
