"""What a producer asks of the brokers it uses besides sends: heartbeats, leaving, recalls.

A Java producer heartbeats every broker it has sent to (HEART_BEAT every 30 s, so the broker
lists it for ``mqadmin producerConnection`` and can reach it with transaction check-backs),
unregisters from them on shutdown (UNREGISTER_CLIENT) and recalls timer messages on the
broker that holds them (RECALL_MESSAGE). None of it is on the send path, which lives in
:mod:`rocketmq_py._async.producer`; this module keeps that one about sending.
"""

from __future__ import annotations

import contextlib

import anyio
import anyio.abc

from rocketmq_py._async.client import ClientInstance
from rocketmq_py._async.send_back import CLIENT_INNER_PRODUCER
from rocketmq_py._transport import ConnectionPool
from rocketmq_py.exceptions import ResponseError, RocketMQError
from rocketmq_py.protocol.bodies import HeartbeatData, ProducerData
from rocketmq_py.protocol.codes import RequestCode, ResponseCode
from rocketmq_py.protocol.command import RemotingCommand
from rocketmq_py.protocol.headers.admin import (
    RecallMessageRequestHeader,
    RecallMessageResponseHeader,
)
from rocketmq_py.protocol.headers.consumer import UnregisterClientRequestHeader

__all__ = ["HEARTBEAT_INTERVAL", "ProducerBrokers"]
#: Seconds between heartbeats (Java's ``heartbeatBrokerInterval``).
HEARTBEAT_INTERVAL = 30.0


class ProducerBrokers:
    """The brokers one producer has used, and the requests it sends them besides messages.

    Args:
        client: the producer's client instance (its client id).
        pool: the producer's connections.
        group: the producer group, as on the wire.
        timeout: seconds per request.
    """

    def __init__(
        self, client: ClientInstance, pool: ConnectionPool, group: str, timeout: float
    ) -> None:
        self._client = client
        self._pool = pool
        self._group = group
        self._timeout = timeout
        self._task_group: anyio.abc.TaskGroup | None = None
        self.seen: set[str] = set()
        """Master addresses this producer has used (heartbeated every period)."""

    def start(self, task_group: anyio.abc.TaskGroup) -> None:
        """Heartbeat every ``HEARTBEAT_INTERVAL`` in ``task_group`` (ends with it)."""
        self._task_group = task_group
        task_group.start_soon(self._heartbeat_loop)

    def remember(self, address: str) -> None:
        """Heartbeat a broker as soon as it is first used, so that it lists this producer
        (``mqadmin producerConnection``) at once rather than after the first period, as a
        Java producer is listed about a second after it starts."""
        if address in self.seen:
            return
        self.seen.add(address)
        if self._task_group is not None:
            self._task_group.start_soon(self.heartbeat, address)

    async def heartbeat(self, address: str) -> None:
        """One HEART_BEAT to ``address`` (a failure waits for the next period)."""
        data = HeartbeatData(
            client_id=self._client.client_id,
            producer_data_set=[
                ProducerData(group_name=self._group),
                ProducerData(group_name=CLIENT_INNER_PRODUCER),
            ],
            consumer_data_set=[],
        )
        request = RemotingCommand.request(RequestCode.HEART_BEAT, body=data.to_json())
        with contextlib.suppress(RocketMQError):
            await self._pool.request(address, request, self._timeout)

    async def _heartbeat_loop(self) -> None:
        while True:
            await anyio.sleep(HEARTBEAT_INTERVAL)
            for address in list(self.seen):
                await self.heartbeat(address)

    async def unregister(self) -> None:
        """UNREGISTER_CLIENT on every broker used (each within the timeout; failures are
        skipped: the broker drops the producer when the connection closes anyway)."""
        header = UnregisterClientRequestHeader(
            client_id=self._client.client_id, producer_group=self._group
        )
        for address in list(self.seen):
            try:
                with anyio.fail_after(self._timeout):
                    await self._pool.request(
                        address,
                        RemotingCommand.request(RequestCode.UNREGISTER_CLIENT, header),
                        self._timeout,
                    )
            except (RocketMQError, TimeoutError):
                continue

    async def recall(self, address: str, wire_topic: str, handle: str) -> str:
        """RECALL_MESSAGE of the timer message ``handle`` names, on the broker at
        ``address``; returns the recalled message's id.

        Raises:
            ResponseError: the broker refused (604 when it was delivered or is unknown).
        """
        header = RecallMessageRequestHeader(
            topic=wire_topic, recall_handle=handle, producer_group=self._group
        )
        request = RemotingCommand.request(RequestCode.RECALL_MESSAGE, header)
        response = await self._pool.request(address, request, self._timeout)
        if response.code != ResponseCode.SUCCESS:
            raise ResponseError.for_code(response.code, response.remark)
        return response.read_header(RecallMessageResponseHeader).msg_id
