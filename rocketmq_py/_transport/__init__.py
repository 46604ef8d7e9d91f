"""The only client code that touches sockets: an asyncio Protocol on asyncio, anyio streams on
trio (see ``connection``)."""

from rocketmq_py._transport.connection import ClientConnection, RequestHandler, parse_address
from rocketmq_py._transport.pool import ConnectionPool

__all__ = ["ClientConnection", "ConnectionPool", "RequestHandler", "parse_address"]
