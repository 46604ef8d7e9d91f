"""Every exception rocketmq-py raises, rooted at :class:`RocketMQError`.

The tree::

    RocketMQError
    ├── ConfigError                  a setting or argument has a bad value (names field and value)
    ├── SyncInAsyncContextError      a blocking (sync) client method was called from a running
    │                                event loop; also a RuntimeError
    ├── ProtocolError                the Remoting wire protocol was violated
    │   ├── LocalProtocolError       we were asked to send something the protocol cannot carry
    │   └── RemoteProtocolError      the peer sent something malformed
    ├── TransportError               the connection could not be used
    │   ├── ConnectError             could not connect to the address
    │   ├── ConnectionClosedError    the peer closed the connection with requests in flight
    │   └── RequestTimeoutError      no response within the request's timeout
    └── ResponseError                a server answered with a non-success response code
        ├── SystemBusyError          (2, retriable)
        ├── TopicNotExistError       (17, refreshes the route)
        ├── NoPermissionError        (16, fatal)
        ├── IllegalOperationError    (604: e.g. recalling a timer message that already fired)
        └── ...                      see :meth:`ResponseError.for_code`

Protocol errors carry ``response_code``: the RocketMQ response code a server answers with when
it is the one detecting the problem (for example ``REQUEST_CODE_NOT_SUPPORTED``), in the style of
h11's ``error_status_hint``.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "ConfigError",
    "ConnectError",
    "ConnectionClosedError",
    "IllegalOperationError",
    "LocalProtocolError",
    "MessageIllegalError",
    "NoPermissionError",
    "ProtocolError",
    "RemoteProtocolError",
    "RequestTimeoutError",
    "ResponseError",
    "RocketMQError",
    "ServerSystemError",
    "ServiceNotAvailableError",
    "SyncInAsyncContextError",
    "SystemBusyError",
    "TopicNotExistError",
    "TransportError",
]

# Numeric codes are repeated here (rather than imported from the protocol package) so that this
# module stays importable from anywhere without cycles; tests check they match ResponseCode.
_SYSTEM_ERROR = 1
_SYSTEM_BUSY = 2
_MESSAGE_ILLEGAL = 13
_SERVICE_NOT_AVAILABLE = 14
_NO_PERMISSION = 16
_TOPIC_NOT_EXIST = 17
_ILLEGAL_OPERATION = 604
_SYSTEM_ERROR_CODE_DEFAULT = 1


class RocketMQError(Exception):
    """Root of every exception raised by rocketmq-py."""


class ConfigError(RocketMQError, ValueError):
    """A configuration value or argument is invalid; the message names the field and the value."""

    def __init__(self, field: str, value: object, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"{field}={value!r}: {reason}")


class SyncInAsyncContextError(RocketMQError, RuntimeError):
    """A method of the blocking API (``rocketmq_py._sync``) was called from a running event loop.

    The blocking clients wait for a background event loop thread; doing that from an event
    loop (asyncio, or any loop anyio runs) would stall every other task of that loop, and
    deadlock it if the call came from the background loop itself. Use the ``Async*`` twin
    (:class:`~rocketmq_py.AsyncProducer` ...) there, or move the call to a worker thread
    (``anyio.to_thread.run_sync``).
    """


class ProtocolError(RocketMQError):
    """The Remoting protocol was violated.

    Attributes:
        response_code: the RocketMQ response code a server should answer with when it detects
            this error in a request (``SYSTEM_ERROR`` unless something more precise applies).
    """

    def __init__(self, message: str, response_code: int = _SYSTEM_ERROR_CODE_DEFAULT) -> None:
        super().__init__(message)
        self.response_code = response_code


class LocalProtocolError(ProtocolError):
    """We tried to encode something the protocol cannot carry (our bug or the caller's input)."""


class RemoteProtocolError(ProtocolError):
    """The peer sent bytes that are not a valid Remoting frame or header."""


class TransportError(RocketMQError):
    """The network connection to a server could not be used."""


class ConnectError(TransportError):
    """Connecting to an address failed."""


class ConnectionClosedError(TransportError):
    """The connection closed while requests were waiting for responses."""


class RequestTimeoutError(TransportError, TimeoutError):
    """A request got no response within its timeout."""


class ResponseError(RocketMQError):
    """A server answered a request with a non-success response code.

    Attributes:
        code: the RocketMQ response code.
        remark: the server's explanation (may be empty).
        retriable: whether sending the same request again (possibly elsewhere) may succeed.
    """

    code: int = _SYSTEM_ERROR
    retriable: ClassVar[bool] = False
    _by_code: ClassVar[dict[int, type[ResponseError]]] = {}

    def __init__(self, code: int, remark: str | None = None) -> None:
        self.code = code
        self.remark = remark or ""
        super().__init__(
            f"response code {code}: {self.remark}" if self.remark else f"response code {code}"
        )

    def __init_subclass__(cls, code: int | None = None, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if code is not None:
            cls.code = code
            ResponseError._by_code[code] = cls

    @classmethod
    def for_code(cls, code: int, remark: str | None = None) -> ResponseError:
        """Build the most specific exception for a response code."""
        return cls._by_code.get(code, ResponseError)(code, remark)


class ServerSystemError(ResponseError, code=_SYSTEM_ERROR):
    """SYSTEM_ERROR (1): the server failed while processing the request."""

    retriable = True


class SystemBusyError(ResponseError, code=_SYSTEM_BUSY):
    """SYSTEM_BUSY (2): the server is applying flow control; retry later or elsewhere."""

    retriable = True


class MessageIllegalError(ResponseError, code=_MESSAGE_ILLEGAL):
    """MESSAGE_ILLEGAL (13): the message is too large or otherwise invalid."""


class ServiceNotAvailableError(ResponseError, code=_SERVICE_NOT_AVAILABLE):
    """SERVICE_NOT_AVAILABLE (14): the store cannot accept writes (e.g. disk full)."""

    retriable = True


class NoPermissionError(ResponseError, code=_NO_PERMISSION):
    """NO_PERMISSION (16): the topic or broker does not allow the operation."""

    retriable = True


class TopicNotExistError(ResponseError, code=_TOPIC_NOT_EXIST):
    """TOPIC_NOT_EXIST (17): no route or no topic config; the route should be refreshed."""

    retriable = True


class IllegalOperationError(ResponseError, code=_ILLEGAL_OPERATION):
    """ILLEGAL_OPERATION (604): the request is valid but not allowed in the current state, such
    as recalling a timer message that was already delivered or never existed (the remark says
    which), or ending a transaction too early after its check immunity."""
