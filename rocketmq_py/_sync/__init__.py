"""The blocking API: one-line wrappers over ``rocketmq_py._async`` through a shared portal.

:class:`Producer`, :class:`PushConsumer`, :class:`LitePullConsumer` and :class:`Admin` run
their async twins on one background event loop thread that every started blocking client
shares (started by the first, stopped by the last). They may be used from any number of plain
threads; calling them from a thread that runs an event loop raises
:class:`~rocketmq_py.exceptions.SyncInAsyncContextError`.
"""

from rocketmq_py._sync.admin import Admin
from rocketmq_py._sync.lite_pull import LitePullConsumer
from rocketmq_py._sync.producer import Producer
from rocketmq_py._sync.push import PushConsumer

__all__ = ["Admin", "LitePullConsumer", "Producer", "PushConsumer"]
