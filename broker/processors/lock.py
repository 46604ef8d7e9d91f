"""LOCK_BATCH_MQ (41) and UNLOCK_BATCH_MQ (42): orderly consumers' queue locks.

Apache's ``AdminBrokerProcessor.lockBatchMQ`` / ``unlockBatchMQ`` outside strict lock mode
(``lockInStrictMode`` is false by default, and with one replica per broker name there is no
quorum to ask): this broker's :class:`~broker.managers.rebalance_lock.RebalanceLockManager`
alone decides. ``onlyThisBroker`` is read and changes nothing here for the same reason.

Both answer SUCCESS with no extFields and no remark; the lock answers the queues the requester
now holds as ``{"lockOKMQSet":[...]}``. A missing or malformed body answers SYSTEM_ERROR (where
Java fails decoding with an exception) with a remark naming the problem.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker._server import Channel, Dispatcher
from rocketmq_py.exceptions import RemoteProtocolError
from rocketmq_py.protocol.bodies import (
    LockBatchRequestBody,
    LockBatchResponseBody,
    UnlockBatchRequestBody,
)
from rocketmq_py.protocol.codes import RequestCode
from rocketmq_py.protocol.command import RemotingCommand

if TYPE_CHECKING:
    from broker.controller import BrokerController

__all__ = ["LockProcessor"]


class LockProcessor:
    """Answers queue lock requests from the controller's ``rebalance_locks`` table."""

    def __init__(self, controller: BrokerController) -> None:
        self.c = controller
        self._last_purge_ms = controller.clock()

    def install(self, dispatcher: Dispatcher) -> None:
        """Register the lock codes."""
        dispatcher.register(RequestCode.LOCK_BATCH_MQ, self.lock_batch_mq)
        dispatcher.register(RequestCode.UNLOCK_BATCH_MQ, self.unlock_batch_mq)

    def lock_batch_mq(self, channel: Channel, request: RemotingCommand) -> RemotingCommand:
        """LOCK_BATCH_MQ: lock or renew the body's queues for its client id."""
        if not request.body:
            raise RemoteProtocolError("LOCK_BATCH_MQ without a LockBatchRequestBody body")
        body = LockBatchRequestBody.from_json(request.body)
        now = self._now_and_purge()
        locked = self.c.rebalance_locks.try_lock_batch(
            body.consumer_group, body.mq_set, body.client_id, now
        )
        return request.make_response(body=LockBatchResponseBody(lock_ok_mq_set=locked).to_json())

    def unlock_batch_mq(self, channel: Channel, request: RemotingCommand) -> RemotingCommand:
        """UNLOCK_BATCH_MQ: release the requester's locks among the body's queues."""
        if not request.body:
            raise RemoteProtocolError("UNLOCK_BATCH_MQ without an UnlockBatchRequestBody body")
        body = UnlockBatchRequestBody.from_json(request.body)
        now = self._now_and_purge()
        self.c.rebalance_locks.unlock_batch(body.consumer_group, body.mq_set, body.client_id, now)
        return request.make_response()

    def _now_and_purge(self) -> int:
        """The current time; every lock lifetime or so, expired locks of every group go too
        (each call already purges its own group), so idle groups do not keep memory."""
        now = self.c.clock()
        locks = self.c.rebalance_locks
        if now - self._last_purge_ms >= locks.max_live_time_ms:
            self._last_purge_ms = now
            locks.purge_expired(now)
        return now
