"""What producers and consumers of one process share: connections, routes, identity.

Like Java's ``MQClientInstance``: one connection pool, the name server client, a route cache
refreshed every 30 s and on TOPIC_NOT_EXIST, and a client id ``ip@instance``.
"""

from __future__ import annotations

import os
import random
import socket
import time

from rocketmq_py._async.namesrv import NamesrvClient, resolve_namesrv_addresses
from rocketmq_py._transport import ConnectionPool
from rocketmq_py.exceptions import RemoteProtocolError, TopicNotExistError
from rocketmq_py.protocol.bodies import TopicRouteData
from rocketmq_py.protocol.codes import RequestCode
from rocketmq_py.protocol.command import RemotingCommand
from rocketmq_py.protocol.headers.namesrv import GetRouteInfoRequestHeader
from rocketmq_py.protocol.message import UniqueIdGenerator
from rocketmq_py.protocol.topics import AUTO_CREATE_TOPIC_KEY_TOPIC

__all__ = ["ClientInstance", "client_ip", "default_instance_name"]

#: Java's template topic: producers publish through its route when their topic has none yet.
AUTO_CREATE_TOPIC_KEY = AUTO_CREATE_TOPIC_KEY_TOPIC


def client_ip() -> str:
    """This host's outward-facing IPv4 address (loopback when there is no route)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # selects a route; sends nothing
            return str(s.getsockname()[0])
    except OSError:
        return "127.0.0.1"


def default_instance_name() -> str:
    """Java's replacement for the instance name "DEFAULT": ``<pid>#<nanotime>``."""
    return f"{os.getpid()}#{time.monotonic_ns()}"


class ClientInstance:
    """Routes and connections shared by the producers/consumers of a client.

    Args:
        namesrv_addr: ``;``-separated name server list (default ``$NAMESRV_ADDR``).
        pool: the connection pool to use (entered by the owner).
        instance_name: part of the client id (default: pid and a timestamp, like Java).
        timeout: per-request timeout in seconds for name server calls.
    """

    def __init__(
        self,
        namesrv_addr: str | None,
        pool: ConnectionPool,
        *,
        instance_name: str | None = None,
        timeout: float = 3.0,
    ) -> None:
        self.pool = pool
        self.namesrv = NamesrvClient(pool, resolve_namesrv_addresses(namesrv_addr), timeout)
        self.ip = client_ip()
        self.client_id = f"{self.ip}@{instance_name or default_instance_name()}"
        self.routes: dict[str, TopicRouteData] = {}
        self._route_time: dict[str, float] = {}
        self.unique_ids = UniqueIdGenerator(self.ip, os.getpid(), random.getrandbits(31))

    def next_unique_id(self) -> str:
        """A fresh client message id (UNIQ_KEY)."""
        return self.unique_ids.next_id_local(time.time_ns() // 1_000_000)

    async def fetch_route(self, topic: str) -> TopicRouteData:
        """Ask a name server for ``topic``'s route (raises TopicNotExistError)."""
        response = await self.namesrv.call(
            RemotingCommand.request(
                RequestCode.GET_ROUTEINFO_BY_TOPIC,
                GetRouteInfoRequestHeader(topic=topic, accept_standard_json_only=True),
            )
        )
        if not response.body:
            raise RemoteProtocolError(f"route of {topic} came without a body")
        return TopicRouteData.from_json(response.body)

    def fresh_route(self, topic: str, max_age: float = 30.0) -> TopicRouteData | None:
        """The cached route of ``topic`` if younger than ``max_age`` seconds, without I/O."""
        cached = self.routes.get(topic)
        if cached is not None and time.monotonic() - self._route_time.get(topic, 0) < max_age:
            return cached
        return None

    async def route(
        self, topic: str, *, max_age: float = 30.0, refresh: bool = False
    ) -> TopicRouteData:
        """The cached route of ``topic``, refreshed when older than ``max_age`` seconds."""
        now = time.monotonic()
        cached = self.routes.get(topic)
        if not refresh and cached is not None and now - self._route_time.get(topic, 0) < max_age:
            return cached
        try:
            route = await self.fetch_route(topic)
        except TopicNotExistError:
            self.routes.pop(topic, None)
            raise
        self.routes[topic] = route
        self._route_time[topic] = now
        return route

    def master_address(self, broker_name: str) -> str | None:
        """The master (id 0) address of a broker name, from any cached route."""
        for route in self.routes.values():
            for broker in route.broker_datas:
                if broker.broker_name == broker_name:
                    addr = broker.broker_addrs.get(0)
                    if addr:
                        return addr
        return None
