"""The only client code that touches sockets (anyio streams, so it runs on asyncio and trio)."""

from rocketmq_py._transport.connection import ClientConnection, RequestHandler, parse_address
from rocketmq_py._transport.pool import ConnectionPool

__all__ = ["ClientConnection", "ConnectionPool", "RequestHandler", "parse_address"]
