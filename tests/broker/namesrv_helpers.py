"""Build REGISTER_BROKER bodies the way a Java broker does (by hand, independent of our encoder)."""

from __future__ import annotations

import json
import struct
import zlib

from rocketmq_py.protocol.codes import RequestCode
from rocketmq_py.protocol.command import RemotingCommand


def topic_config(name: str, queues: int = 4, perm: int = 6) -> dict[str, object]:
    return {
        "order": False,
        "perm": perm,
        "readQueueNums": queues,
        "topicFilterType": "SINGLE_TAG",
        "topicName": name,
        "topicSysFlag": 0,
        "writeQueueNums": queues,
    }


def register_body_json(
    topics: dict[str, int], counter: int = 1, timestamp: int = 1_700_000_000_000
) -> bytes:
    body = {
        "filterServerList": [],
        "topicConfigSerializeWrapper": {
            "dataVersion": {"counter": counter, "timestamp": timestamp},
            "topicConfigTable": {name: topic_config(name, q) for name, q in topics.items()},
        },
    }
    return json.dumps(body, separators=(",", ":")).encode()


def register_body_compressed(
    topics: dict[str, int], counter: int = 1, timestamp: int = 1_700_000_000_000
) -> bytes:
    """Apache's compressedRegister form: deflated length-prefixed sections."""

    def section(data: bytes) -> bytes:
        return struct.pack(">i", len(data)) + data

    out = section(
        json.dumps({"counter": counter, "timestamp": timestamp}, separators=(",", ":")).encode()
    )
    out += struct.pack(">i", len(topics))
    for name, queues in topics.items():
        out += section(f"{name} {queues} {queues} 6 SINGLE_TAG {{}}".encode())
    out += section(b"[]")
    return zlib.compress(out)


def register_request(
    broker_name: str,
    broker_addr: str,
    topics: dict[str, int],
    *,
    cluster: str = "DefaultCluster",
    broker_id: int = 0,
    body: bytes | None = None,
    counter: int = 1,
    crc: bool = True,
    oneway: bool = False,
) -> RemotingCommand:
    if body is None:
        body = register_body_json(topics, counter)
    header = {
        "brokerName": broker_name,
        "brokerAddr": broker_addr,
        "clusterName": cluster,
        "haServerAddr": broker_addr.rsplit(":", 1)[0] + ":10912",
        "brokerId": str(broker_id),
        "compressed": "false",
        "bodyCrc32": str(zlib.crc32(body) & 0x7FFFFFFF) if crc else "0",
    }
    return RemotingCommand.request(RequestCode.REGISTER_BROKER, header, body, oneway=oneway)
