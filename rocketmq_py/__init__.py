"""rocketmq-py: Apache RocketMQ for Python, wire-compatible with Apache RocketMQ clusters.

The public API is exactly the names in ``__all__``; everything in ``_``-prefixed modules is
internal. ``rocketmq_py.protocol`` is the sans-IO wire codec shared with the servers.
"""

from rocketmq_py._async.admin import AsyncAdmin
from rocketmq_py._async.lite_pull import AsyncLitePullConsumer
from rocketmq_py._async.producer import AsyncProducer
from rocketmq_py._async.push import AsyncPushConsumer, MessageHandler
from rocketmq_py._async.selectors import MessageQueueSelector, select_by_hash, select_by_random
from rocketmq_py._async.transaction import AsyncTransactionProducer
from rocketmq_py._async.transaction_handle import (
    AsyncTransaction,
    TransactionSendResult,
    TransactionState,
)
from rocketmq_py._sync import Admin, LitePullConsumer, Producer, PushConsumer
from rocketmq_py._sync.transaction import Transaction, TransactionProducer
from rocketmq_py._trace import TraceHook
from rocketmq_py.exceptions import (
    ConfigError,
    ConnectError,
    ConnectionClosedError,
    IllegalOperationError,
    LocalProtocolError,
    MessageIllegalError,
    NoPermissionError,
    ProtocolError,
    RemoteProtocolError,
    RequestTimeoutError,
    ResponseError,
    RocketMQError,
    ServerSystemError,
    ServiceNotAvailableError,
    SyncInAsyncContextError,
    SystemBusyError,
    TopicNotExistError,
    TransportError,
)
from rocketmq_py.message import (
    Message,
    MessageQueueRef,
    MessageView,
    SendResult,
    SendStatus,
)

__version__ = "0.1.0"

__all__ = [
    "Admin",
    "AsyncAdmin",
    "AsyncLitePullConsumer",
    "AsyncProducer",
    "AsyncPushConsumer",
    "AsyncTransaction",
    "AsyncTransactionProducer",
    "ConfigError",
    "ConnectError",
    "ConnectionClosedError",
    "IllegalOperationError",
    "LitePullConsumer",
    "LocalProtocolError",
    "Message",
    "MessageHandler",
    "MessageIllegalError",
    "MessageQueueRef",
    "MessageQueueSelector",
    "MessageView",
    "NoPermissionError",
    "Producer",
    "ProtocolError",
    "PushConsumer",
    "RemoteProtocolError",
    "RequestTimeoutError",
    "ResponseError",
    "RocketMQError",
    "SendResult",
    "SendStatus",
    "ServerSystemError",
    "ServiceNotAvailableError",
    "SyncInAsyncContextError",
    "SystemBusyError",
    "TopicNotExistError",
    "TraceHook",
    "Transaction",
    "TransactionProducer",
    "TransactionSendResult",
    "TransactionState",
    "TransportError",
    "select_by_hash",
    "select_by_random",
]
