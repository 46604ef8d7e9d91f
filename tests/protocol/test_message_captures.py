"""Every message-carrying body in the golden captures decodes and re-encodes byte for byte.

Bodies: PULL_MESSAGE (11) / QUERY_MESSAGE (12) / VIEW_MESSAGE_BY_ID (33) successful responses
(back-to-back stored records), CHECK_TRANSACTION_STATE (39) requests (one record), batch sends
(SEND_BATCH_MESSAGE 320, and the cpp client's code-10 sends when they say ``batch``). The stored
records were written by a real Apache 4.9.8 broker, so they also pin down how such a broker
orders and joins properties.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from rocketmq_py.protocol.message import (
    MessageConst,
    MessageRecord,
    decode_batch,
    decode_offset_msg_id,
    decode_properties,
    decode_record,
    decode_unique_id,
    encode_batch,
    encode_offset_msg_id,
    encode_properties_bytes,
    encode_record,
    iter_records,
    java_hash_map_order,
    join_batch_properties,
)

CAPTURES = Path(__file__).resolve().parents[2].parent / "shared" / "captures"

pytestmark = pytest.mark.skipif(
    not CAPTURES.is_dir(), reason=f"golden captures not found at {CAPTURES}"
)

PULL, QUERY, VIEW, CHECK_TRANSACTION, SEND, SEND_V2, SEND_BATCH = 11, 12, 33, 39, 10, 310, 320


def _frames():
    frames = []
    if CAPTURES.is_dir():
        for path in sorted(CAPTURES.glob("*.jsonl")):
            for number, line in enumerate(path.read_text().splitlines(), start=1):
                frame = json.loads(line)
                frame["id"] = f"{path.stem}:{number}"
                frame["body"] = base64.b64decode(frame["body_b64"] or "")
                frames.append(frame)
    return frames


FRAMES = _frames()
RECORD_BODIES = [
    f
    for f in FRAMES
    if f["body"]
    and (
        (f["kind"] == "response" and f["code"] == 0 and f["requestCode"] in (PULL, QUERY, VIEW))
        or (f["kind"] != "response" and f["code"] == CHECK_TRANSACTION)
    )
]
BATCH_SENDS = [f for f in FRAMES if f["kind"] != "response" and f["code"] == SEND_BATCH]


def _says_batch(frame):
    return str((frame["extFields"] or {}).get("batch", "")).lower() in ("1", "true")


CODE10_SENDS = [f for f in FRAMES if f["kind"] != "response" and f["code"] == SEND]


def _ids(frames):
    return [f["id"] for f in frames]


def _records(frame):
    """(record, exact bytes) for every record of a body."""
    out = []
    offset = 0
    body = frame["body"]
    while offset < len(body):
        record, end = decode_record(body, offset, check_crc=True)
        out.append((record, body[offset:end]))
        offset = end
    return out


def _stored_records():
    return [r for f in RECORD_BODIES if f["code"] != CHECK_TRANSACTION for r, _ in _records(f)]


def test_the_captures_hold_message_bodies():
    kinds = {f.get("requestCode") or f["code"] for f in RECORD_BODIES}
    assert {PULL, QUERY, CHECK_TRANSACTION} <= kinds
    assert len(BATCH_SENDS) == 2


@pytest.mark.parametrize("frame", RECORD_BODIES, ids=_ids(RECORD_BODIES))
def test_record_bodies_round_trip(frame):
    pairs = _records(frame)
    assert pairs
    for record, exact in pairs:
        assert encode_record(record) == exact
        assert record.store_size == len(exact)
    assert [r for r, _ in pairs] == list(iter_records(frame["body"], check_crc=True))
    assert b"".join(encode_record(r) for r, _ in pairs) == frame["body"]


CHECKS = [f for f in RECORD_BODIES if f["code"] == CHECK_TRANSACTION]


@pytest.mark.parametrize("frame", CHECKS, ids=_ids(CHECKS))
def test_check_transaction_body_matches_its_header(frame):
    (record,), ext = [r for r, _ in _records(frame)], frame["extFields"]
    assert record.commit_log_offset == int(ext["commitLogOffset"])
    assert record.offset_msg_id == ext["offsetMsgId"]
    assert decode_offset_msg_id(ext["offsetMsgId"]) == (
        record.store_host[0],
        record.store_host[1],
        record.commit_log_offset,
    )
    assert record.unique_key == ext["msgId"] == ext["transactionId"]
    # Sent with the real topic and queue restored.
    assert record.topic == record.properties[MessageConst.PROPERTY_REAL_TOPIC]
    assert record.queue_id == int(record.properties[MessageConst.PROPERTY_REAL_QUEUE_ID])


@pytest.mark.parametrize("frame", BATCH_SENDS, ids=_ids(BATCH_SENDS))
def test_batch_bodies_round_trip(frame):
    items = decode_batch(frame["body"])
    assert items
    assert encode_batch(items) == frame["body"]
    assert encode_batch([i.to_message() for i in items]) == frame["body"]
    for item in items:
        assert item.magic_code == 0
        assert item.body_crc == 0
        assert item.properties[MessageConst.PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX]


def test_cpp_batch_sends_decode():
    assert CODE10_SENDS
    batches = [f for f in CODE10_SENDS if _says_batch(f)]
    if not batches:
        pytest.skip("the captures hold no code-10 send with batch=1 (the cpp peer sent batch='0')")
    for frame in batches:
        assert encode_batch(decode_batch(frame["body"])) == frame["body"]


@pytest.mark.parametrize("frame", BATCH_SENDS, ids=_ids(BATCH_SENDS))
def test_a_498_broker_appends_batch_properties_to_each_item(frame):
    stored = {r.unique_key: r for r in _stored_records()}
    # The header's properties plus CLUSTER, written from a Java HashMap without trailing \x02.
    batch_props = decode_properties(frame["extFields"]["i"])
    batch_props[MessageConst.PROPERTY_CLUSTER] = "DefaultCluster"
    ordered = {k: batch_props[k] for k in java_hash_map_order(batch_props)}
    batch_bytes = encode_properties_bytes(ordered, trailing_separator=False)
    checked = 0
    for item in decode_batch(frame["body"]):
        record = stored.get(item.properties["UNIQ_KEY"])
        if record is None:
            continue
        assert record.raw_properties == join_batch_properties(item.raw_properties, batch_bytes)
        assert record.body == item.body
        checked += 1
    assert checked


def test_a_498_broker_stores_send_properties_in_hash_map_order():
    """Client properties + CLUSTER - WAIT, in HashMap order, no trailing separator."""
    stored = {r.keys: r for r in _stored_records() if "REAL_TOPIC" not in r.properties}
    sends = [
        f for f in FRAMES if f["kind"] != "response" and f["code"] in (SEND, SEND_V2) and f["body"]
    ]
    checked = 0
    for frame in sends:
        ext = frame["extFields"]
        props = decode_properties(ext.get("properties", ext.get("i")))
        record = stored.get(props.get("KEYS"))
        if record is None or "TRAN_MSG" in props:
            continue
        props[MessageConst.PROPERTY_CLUSTER] = "DefaultCluster"
        props.pop(MessageConst.PROPERTY_WAIT_STORE_MSG_OK, None)
        ordered = {k: props[k] for k in java_hash_map_order(props)}
        assert record.raw_properties == encode_properties_bytes(ordered, trailing_separator=False)
        checked += 1
    assert checked >= 30


def test_java_unique_ids_count_from_the_local_month_start():
    java = [r for r in _stored_records() if r.unique_key and len(r.unique_key) == 56]
    assert java
    for record in java:
        parts = decode_unique_id(record.unique_key)
        month_start = record.born_timestamp - parts.timestamp_offset_ms
        # The id is made a few ms before the born timestamp; the peer's zone was UTC.
        assert abs(month_start - round(month_start / 3_600_000) * 3_600_000) < 50


def test_offset_ids_of_stored_records():
    for record in _stored_records():
        assert record.offset_msg_id == encode_offset_msg_id(
            *record.store_host, record.commit_log_offset
        )
        assert record.store_host == ("127.0.0.1", 40911)


def test_records_are_what_the_scenario_sent():
    bodies = {r.body for r in _stored_records()}
    assert b"0594514b|batch|3" in bodies
    assert all(isinstance(r, MessageRecord) for r in _stored_records())
