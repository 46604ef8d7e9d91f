"""What ``AsyncPushConsumer`` and ``AsyncLitePullConsumer`` set up the same way.

Both take a group, a message model, ``consume_from_where`` and a pull batch size, checked
alike; both connect through a pool and a client instance and keep offsets in the broker
(CLUSTERING) or in a local file (BROADCASTING); and both answer the requests brokers send them
that they do not handle the same way. One copy here keeps the two consumers from drifting
apart; what differs between them stays in :mod:`~rocketmq_py._async.push` and
:mod:`~rocketmq_py._async.lite_pull`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from rocketmq_py._async.client import ClientInstance, default_instance_name
from rocketmq_py._async.namespace import wrap
from rocketmq_py._async.offset_store import (
    BrokerOffsets,
    LocalFileOffsetStore,
    OffsetStore,
    RemoteBrokerOffsetStore,
    offset_file_path,
)
from rocketmq_py._transport import ConnectionPool, RequestHandler
from rocketmq_py.exceptions import ConfigError
from rocketmq_py.protocol.bodies import ConsumeFromWhere, MessageModel
from rocketmq_py.protocol.codes import ResponseCode
from rocketmq_py.protocol.command import RemotingCommand

__all__ = [
    "ConsumerClient",
    "check_pull_batch_size",
    "consumer_client",
    "not_supported",
    "parse_consume_from_where",
    "parse_message_model",
    "wire_group",
]

_FROM_WHERE = {
    "last": ConsumeFromWhere.CONSUME_FROM_LAST_OFFSET,
    "first": ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET,
    "timestamp": ConsumeFromWhere.CONSUME_FROM_TIMESTAMP,
}
_MODELS = {"clustering": MessageModel.CLUSTERING, "broadcasting": MessageModel.BROADCASTING}


def wire_group(group: str, namespace: str | None) -> str:
    """``group`` as on the wire: every name there carries the namespace.

    Raises:
        ConfigError: ``group`` is empty.
    """
    if not group:
        raise ConfigError("group", group, "a consumer group name is required")
    return wrap(namespace, group)


def parse_message_model(message_model: str) -> MessageModel:
    """The model named ``"clustering"`` or ``"broadcasting"``.

    Raises:
        ConfigError: another name.
    """
    if message_model not in _MODELS:
        raise ConfigError("message_model", message_model, "expected 'clustering' or 'broadcasting'")
    return _MODELS[message_model]


def parse_consume_from_where(consume_from_where: str) -> ConsumeFromWhere:
    """Where a queue without a committed offset starts: ``"last"``, ``"first"``, ``"timestamp"``.

    Raises:
        ConfigError: another name.
    """
    if consume_from_where not in _FROM_WHERE:
        raise ConfigError(
            "consume_from_where", consume_from_where, "expected 'last', 'first' or 'timestamp'"
        )
    return _FROM_WHERE[consume_from_where]


def check_pull_batch_size(pull_batch_size: int) -> None:
    """Raise ConfigError unless 1 <= ``pull_batch_size`` <= 1024."""
    if not 1 <= pull_batch_size <= 1024:
        raise ConfigError("pull_batch_size", pull_batch_size, "must be between 1 and 1024")


@dataclass(frozen=True)
class ConsumerClient:
    """The connections, client instance and offset store of one consumer."""

    pool: ConnectionPool
    client: ClientInstance
    #: Where BROADCASTING offsets are kept (unused when clustering).
    offset_file: Path
    broker_offsets: BrokerOffsets
    offsets: OffsetStore


def consumer_client(
    group: str,
    namesrv_addr: str | None,
    message_model: MessageModel,
    *,
    instance_name: str | None,
    request_timeout: float,
    offset_store_dir: str | os.PathLike[str] | None,
    on_request: RequestHandler,
) -> ConsumerClient:
    """Build the pool, client instance and offset store of a consumer of ``group``.

    ``instance_name`` defaults to ``"DEFAULT"`` when broadcasting, as in Java, so the offsets
    file survives restarts; otherwise to pid and a timestamp. ``on_request`` answers the
    requests brokers send on pooled connections.
    """
    broadcasting = message_model is MessageModel.BROADCASTING
    if instance_name is None:
        instance_name = "DEFAULT" if broadcasting else default_instance_name()
    pool = ConnectionPool(connect_timeout=request_timeout, handler=on_request)
    client = ClientInstance(
        namesrv_addr, pool, instance_name=instance_name, timeout=request_timeout
    )
    offset_file = offset_file_path(offset_store_dir, client.client_id, group)
    broker_offsets = BrokerOffsets(client, group, request_timeout)
    offsets: OffsetStore = (
        LocalFileOffsetStore(offset_file)
        if broadcasting
        else RemoteBrokerOffsetStore(broker_offsets)
    )
    return ConsumerClient(pool, client, offset_file, broker_offsets, offsets)


def not_supported(request: RemotingCommand) -> RemotingCommand | None:
    """The answer to a broker request the consumer does not handle (none to a oneway one)."""
    if request.is_oneway:
        return None
    return request.make_response(
        ResponseCode.REQUEST_CODE_NOT_SUPPORTED,
        f"request code {request.code} is not supported by this consumer",
    )
