"""The producer writes SEND_MESSAGE_V2's extFields itself (hot path): they must be exactly what
``SendMessageRequestHeaderV2`` encodes, key order included (it decides the JSON bytes)."""

from __future__ import annotations

import pytest

from rocketmq_py import AsyncProducer, Message
from rocketmq_py.message import MessageQueueRef
from rocketmq_py.protocol.codes import RequestCode
from rocketmq_py.protocol.command import RemotingCommand
from rocketmq_py.protocol.headers.send import SendMessageRequestHeaderV2
from rocketmq_py.protocol.message import encode_properties


def _expected(producer: AsyncProducer, request: RemotingCommand, batch: bool) -> RemotingCommand:
    ext = request.ext_fields or {}
    header = SendMessageRequestHeaderV2(
        producer_group=producer.group,
        topic=ext["b"],
        default_topic="TBW102",
        default_topic_queue_nums=producer.default_topic_queue_nums,
        queue_id=int(ext["e"]),
        sys_flag=int(ext["f"]),
        born_timestamp=int(ext["g"]),  # the one field that depends on the clock
        flag=int(ext["h"]),
        properties=ext["i"],
        reconsume_times=0,
        unit_mode=False,
        batch=batch,
    )
    code = RequestCode.SEND_BATCH_MESSAGE if batch else RequestCode.SEND_MESSAGE_V2
    return RemotingCommand.request(code, header, request.body)


@pytest.mark.parametrize("batch", [False, True])
@pytest.mark.parametrize("namespace", [None, "ns1"])
def test_send_request_matches_the_typed_header(batch: bool, namespace: str | None) -> None:
    producer = AsyncProducer("PG", "127.0.0.1:1", namespace=namespace, default_topic_queue_nums=8)
    message = Message("T", b"x" * 5000, tags="TagA", keys=["k1", "k 2"], flag=7)
    message.properties["p"] = "v\u00e9"
    out = producer._prepare(message)
    out.batch = batch
    queue = MessageQueueRef(out.topic, "broker-a", 3)
    request = producer._request(out, queue)
    expected = _expected(producer, request, batch)
    assert request.ext_fields == expected.ext_fields
    assert list((request.ext_fields or {}).keys()) == list((expected.ext_fields or {}).keys())
    assert request.encode() == expected.encode()
    assert (request.ext_fields or {})["i"] == encode_properties(out.properties)
    assert int((request.ext_fields or {})["f"]) & 1  # the 5000-byte body was compressed
