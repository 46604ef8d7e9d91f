"""Talking to name servers: one or more addresses, failing over on connection errors."""

from __future__ import annotations

import os

from rocketmq_py._transport import ConnectionPool
from rocketmq_py.exceptions import ConfigError, ResponseError, TransportError
from rocketmq_py.protocol.codes import ResponseCode
from rocketmq_py.protocol.command import RemotingCommand

__all__ = ["NamesrvClient", "resolve_namesrv_addresses"]


def resolve_namesrv_addresses(value: str | None) -> list[str]:
    """Split a ``;``-separated address list, defaulting to ``$NAMESRV_ADDR``."""
    text = value if value is not None else os.environ.get("NAMESRV_ADDR", "")
    addresses = [a.strip() for a in text.split(";") if a.strip()]
    if not addresses:
        raise ConfigError(
            "namesrv_addr", text, "no name server address (pass one or set NAMESRV_ADDR)"
        )
    return addresses


class NamesrvClient:
    """Sends requests to the first reachable name server of a list.

    Args:
        pool: connections to reuse.
        addresses: name server ``host:port`` list, tried in order starting from the last one
            that worked.
        timeout: per-request timeout in seconds.
    """

    def __init__(self, pool: ConnectionPool, addresses: list[str], timeout: float = 3.0) -> None:
        self.pool = pool
        self.addresses = addresses
        self.timeout = timeout
        self._preferred = 0

    async def request(self, request: RemotingCommand) -> RemotingCommand:
        """Send to a name server, failing over to the next on transport errors."""
        last: TransportError | None = None
        n = len(self.addresses)
        for i in range(n):
            index = (self._preferred + i) % n
            try:
                response = await self.pool.request(self.addresses[index], request, self.timeout)
            except TransportError as exc:
                last = exc
                continue
            self._preferred = index
            return response
        assert last is not None
        raise last

    async def call(self, request: RemotingCommand) -> RemotingCommand:
        """Like :meth:`request` but raise :class:`ResponseError` unless the answer is SUCCESS."""
        response = await self.request(request)
        if response.code != ResponseCode.SUCCESS:
            raise ResponseError.for_code(response.code, response.remark)
        return response
