"""Request dispatch: request code -> processor function.

A processor takes the :class:`Channel` the request came in on and the request, and returns the
response (or ``None`` for "no response", which is also what a oneway request gets). It may be a
plain function (run inline on the connection's hot path: cheap lookups such as the name server's)
or an ``async def`` (run as a task, bounded per connection).

A *write barrier* (:meth:`Dispatcher.set_write_barrier`) runs before responses are written to
a socket: the broker's store writes the records of the sends it deferred there, so a send is
acknowledged only once its message is in the page cache.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable

from broker._server.channel import Channel
from rocketmq_py.exceptions import ProtocolError
from rocketmq_py.protocol.codes import ResponseCode
from rocketmq_py.protocol.command import RemotingCommand

__all__ = ["Dispatcher", "Handler", "HandlerResult", "barrier_failed_response", "error_response"]

log = logging.getLogger("broker.remoting")

HandlerResult = RemotingCommand | None | Awaitable[RemotingCommand | None]
Handler = Callable[[Channel, RemotingCommand], HandlerResult]


class Dispatcher:
    """Maps request codes to processor functions and turns failures into responses."""

    def __init__(self) -> None:
        self._handlers: dict[int, Handler] = {}
        self._close_hooks: list[Callable[[Channel], None]] = []
        self.write_barrier: Callable[[], bool] = _no_barrier
        """Called before responses are written; False turns them into SYSTEM_ERROR."""

    def register(self, codes: int | Iterable[int], handler: Handler) -> None:
        """Route ``codes`` to ``handler`` (a later registration replaces an earlier one)."""
        for code in [codes] if isinstance(codes, int) else codes:
            self._handlers[int(code)] = handler

    def set_write_barrier(self, barrier: Callable[[], bool]) -> None:
        """Run ``barrier()`` before writing the responses of each batch of requests.

        Handlers may leave work that acknowledges a request unfinished when they return (the
        broker defers commitlog writes so that the sends of one socket read share one write);
        the barrier finishes it. It returns False when such work failed since its previous
        call: every response of the batch is then replaced by a SYSTEM_ERROR answer, so no
        request is acknowledged for work that was lost.
        """
        self.write_barrier = barrier

    def on_channel_closed(self, hook: Callable[[Channel], None]) -> None:
        """Call ``hook(channel)`` whenever a connection closes (route cleanup, lock release)."""
        self._close_hooks.append(hook)

    def channel_closed(self, channel: Channel) -> None:
        """Run the close hooks; a failing hook is logged and does not stop the others."""
        for hook in self._close_hooks:
            try:
                hook(channel)
            except Exception:
                log.exception("channel close hook failed for %s", channel.remote_address)

    @property
    def codes(self) -> frozenset[int]:
        """Every request code with a handler."""
        return frozenset(self._handlers)

    def dispatch(self, channel: Channel, request: RemotingCommand) -> HandlerResult:
        """Run the handler for ``request``; errors become error responses, never exceptions."""
        handler = self._handlers.get(request.code)
        if handler is None:
            return request.make_response(
                ResponseCode.REQUEST_CODE_NOT_SUPPORTED,
                f" request type {request.code} not supported",
            )
        try:
            return handler(channel, request)
        except Exception as exc:
            return error_response(channel, request, exc)


def _no_barrier() -> bool:
    return True


def barrier_failed_response(request: RemotingCommand) -> RemotingCommand:
    """The answer to a request whose batch failed its write barrier."""
    return request.make_response(
        ResponseCode.SYSTEM_ERROR, "store write failed: the request may not have been applied"
    )


def error_response(
    channel: Channel, request: RemotingCommand, exc: BaseException
) -> RemotingCommand:
    """The response for a request whose processor raised ``exc``.

    Protocol errors (a missing header field, an unparsable number) are the client's mistake and
    answer with their own response code; anything else is our bug, logged with its traceback,
    and answers SYSTEM_ERROR with the exception text like Java does.
    """
    if isinstance(exc, ProtocolError):
        log.warning("bad request code=%d from %s: %s", request.code, channel.remote_address, exc)
        return request.make_response(exc.response_code, str(exc))
    log.error(
        "processor for code=%d failed (peer %s)",
        request.code,
        channel.remote_address,
        exc_info=exc,
    )
    return request.make_response(ResponseCode.SYSTEM_ERROR, f"{type(exc).__name__}: {exc}")
