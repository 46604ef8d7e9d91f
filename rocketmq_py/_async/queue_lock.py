"""Queue locks of orderly consumers, the client side (``protocol.md`` 3.7 and 8.5).

An orderly consumer in CLUSTERING mode holds a broker lock on every queue it consumes, so two
consumers of the group never consume one queue at the same time while the group rebalances.
LOCK_BATCH_MQ (41) locks (or renews) a set of queues of one broker and answers with the ones
now held by the requester; UNLOCK_BATCH_MQ (42) releases them. Both go to the broker's master,
as in Java's ``RebalanceImpl.lockAll`` / ``unlockAll``.
"""

from __future__ import annotations

from collections.abc import Iterable

from rocketmq_py._async.client import ClientInstance
from rocketmq_py.exceptions import ResponseError, TopicNotExistError
from rocketmq_py.message import MessageQueueRef
from rocketmq_py.protocol.bodies import (
    LockBatchRequestBody,
    LockBatchResponseBody,
    MessageQueue,
    UnlockBatchRequestBody,
)
from rocketmq_py.protocol.codes import RequestCode, ResponseCode
from rocketmq_py.protocol.command import RemotingCommand

__all__ = ["by_broker", "lock_queues", "unlock_queues"]


def by_broker(queues: Iterable[MessageQueueRef]) -> dict[str, list[MessageQueueRef]]:
    """``queues`` grouped by broker name (one lock request per broker)."""
    groups: dict[str, list[MessageQueueRef]] = {}
    for queue in queues:
        groups.setdefault(queue.broker_name, []).append(queue)
    return groups


async def _master(client: ClientInstance, queues: list[MessageQueueRef]) -> str:
    broker_name = queues[0].broker_name
    address = client.master_address(broker_name)
    if address is None:
        await client.route(queues[0].topic, refresh=True)
        address = client.master_address(broker_name)
        if address is None:
            raise TopicNotExistError(17, f"no master address for broker {broker_name}")
    return address


def _wire(queues: list[MessageQueueRef]) -> list[MessageQueue]:
    return [MessageQueue(q.topic, q.broker_name, q.queue_id) for q in queues]


async def lock_queues(
    client: ClientInstance,
    group: str,
    queues: list[MessageQueueRef],
    *,
    timeout: float,
) -> set[MessageQueueRef]:
    """LOCK_BATCH_MQ: lock ``queues`` (all on one broker) for this client; returns those held.

    A queue held by another live consumer of ``group`` is left out of the answer.

    Raises:
        ResponseError: the broker refused the request (for example a broker without lock
            support answers REQUEST_CODE_NOT_SUPPORTED).
        RocketMQError: the broker could not be reached.
    """
    if not queues:
        return set()
    body = LockBatchRequestBody(
        consumer_group=group, client_id=client.client_id, mq_set=_wire(queues)
    )
    address = await _master(client, queues)
    response = await client.pool.request(
        address,
        RemotingCommand.request(RequestCode.LOCK_BATCH_MQ, body=body.to_json()),
        timeout,
    )
    if response.code != ResponseCode.SUCCESS:
        raise ResponseError.for_code(response.code, response.remark)
    held = LockBatchResponseBody.from_json(response.body or b"{}").lock_ok_mq_set
    asked = set(queues)
    return {
        q
        for q in (MessageQueueRef(mq.topic, mq.broker_name, mq.queue_id) for mq in held)
        if q in asked
    }


async def unlock_queues(
    client: ClientInstance,
    group: str,
    queues: list[MessageQueueRef],
    *,
    timeout: float,
) -> None:
    """UNLOCK_BATCH_MQ: release this client's locks on ``queues`` (all on one broker).

    Raises:
        ResponseError: the broker refused the request.
        RocketMQError: the broker could not be reached.
    """
    if not queues:
        return
    body = UnlockBatchRequestBody(
        consumer_group=group, client_id=client.client_id, mq_set=_wire(queues)
    )
    address = await _master(client, queues)
    response = await client.pool.request(
        address,
        RemotingCommand.request(RequestCode.UNLOCK_BATCH_MQ, body=body.to_json()),
        timeout,
    )
    if response.code != ResponseCode.SUCCESS:
        raise ResponseError.for_code(response.code, response.remark)
