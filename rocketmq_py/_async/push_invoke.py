"""Handler calls of a push consumer: on the loop or in a thread, timed out, traced.

Concurrent and orderly consumption (:mod:`rocketmq_py._async.push_concurrent`,
:mod:`rocketmq_py._async.orderly`) both hand messages to the handler through
:class:`HandlerInvoker`, so neither carries the details of running user code: an
``async def`` handler runs on the event loop, any other callable in a worker thread (at most
``max_concurrency`` at once), and a call that outlasts ``consume_timeout`` counts as failed
(an async one is cancelled; a thread cannot be stopped, so its late result is ignored).
"""

from __future__ import annotations

import inspect
import logging
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread

from rocketmq_py._trace import trace
from rocketmq_py.message import MessageView

if TYPE_CHECKING:
    from rocketmq_py._async.push import AsyncPushConsumer

__all__ = ["HandlerInvoker"]

log = logging.getLogger("rocketmq_py.consumer")


class HandlerInvoker:
    """Calls the handler of one :class:`~rocketmq_py.AsyncPushConsumer`.

    It uses the consumer's handler, thread limiter, ``consume_timeout`` and trace hooks.
    """

    def __init__(self, consumer: AsyncPushConsumer) -> None:
        self._c = consumer

    def trace_info(self, message: MessageView) -> dict[str, Any]:
        """The trace ``info`` of an operation on one message (process, settle)."""
        c = self._c
        return {
            "namespace": c.namespace,
            "consumption_model": c.message_model.value.lower(),
            "topic": message.topic,
            "group": c.group,
            "client_id": c.client_id,
            "queue": message.queue,
            "msg_ids": [message.msg_id],
            "message": message,
        }

    async def invoke(self, message: MessageView) -> bool:
        """Run the handler on ``message``; True when it succeeded.

        Traced as operation ``"process"`` (``info["result"]``: what the handler returned).
        """
        c = self._c
        handler = c._handler
        assert handler is not None
        info = self.trace_info(message)
        info["message_count"] = 1
        info["body_size"] = len(message.body)
        try:
            async with trace("process", c._hooks, info):
                with anyio.fail_after(c.consume_timeout):
                    if c._handler_is_async:
                        result = handler(message)
                    else:
                        result = await anyio.to_thread.run_sync(
                            handler,
                            message,
                            limiter=c._thread_limiter,
                            # A thread cannot be stopped: on timeout or shutdown stop waiting.
                            abandon_on_cancel=True,
                        )
                    if inspect.isawaitable(result):
                        result = await result
                info["result"] = result
        except TimeoutError:
            log.warning(
                "handler took more than %.1f s on message %s of %s; it will be redelivered",
                c.consume_timeout,
                message.msg_id,
                message.topic,
            )
            return False
        except Exception:
            log.exception("handler failed on message %s of %s", message.msg_id, message.topic)
            return False
        return result is not False
