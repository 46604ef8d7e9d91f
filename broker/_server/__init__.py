"""The socket loop shared by the name server and the broker.

One :class:`~broker._server.server.RemotingServer` accepts connections; each connection is a
:class:`~broker._server.protocol.ServerProtocol` (an ``asyncio.Protocol``) that feeds a sans-IO
:class:`~rocketmq_py.protocol.connection.RemotingConnection` and dispatches requests to
processor functions registered in a :class:`~broker._server.dispatch.Dispatcher`.
"""

from broker._server.channel import Channel
from broker._server.dispatch import Dispatcher, Handler
from broker._server.runner import install_uvloop, run, run_until_signalled
from broker._server.server import RemotingServer

__all__ = [
    "Channel",
    "Dispatcher",
    "Handler",
    "RemotingServer",
    "install_uvloop",
    "run",
    "run_until_signalled",
]
