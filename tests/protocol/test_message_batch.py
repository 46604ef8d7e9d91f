"""Batch send bodies: layout, round trips, malformed input and the broker's property join."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rocketmq_py.exceptions import LocalProtocolError, RemoteProtocolError
from rocketmq_py.protocol.message import (
    BatchItem,
    decode_batch,
    encode_batch,
    join_batch_properties,
)


def test_layout():
    body = encode_batch([(b"hello", 3, {"KEYS": "k", "TAGS": "A"})])
    props = b"KEYS\x01k\x02TAGS\x01A"
    assert body == struct.pack(">iiiii", 22 + 5 + len(props), 0, 0, 3, 5) + b"hello" + (
        struct.pack(">h", len(props)) + props
    )


def test_properties_forms():
    as_map = encode_batch([(b"", 0, {"A": "1"})], trailing_separator=True)
    as_str = encode_batch([(b"", 0, "A\x011\x02")])
    as_bytes = encode_batch([(b"", 0, b"A\x011\x02")])
    assert as_map == as_str == as_bytes
    assert encode_batch([]) == b""


def test_decode_keeps_raw_properties_and_fields():
    raw = b"WAIT\x01true\x02KEYS\x01k\x02WAIT\x01true"
    body = struct.pack(">iiiii", 22 + 2 + len(raw), 9, 8, 1, 2) + b"ab"
    body += struct.pack(">h", len(raw)) + raw
    (item,) = decode_batch(body)
    assert item == BatchItem(b"ab", 1, {"WAIT": "true", "KEYS": "k"}, raw, 9, 8)
    assert item.raw_properties == raw
    assert item.to_message() == (b"ab", 1, raw)
    # Re-encoded with the raw properties; MAGICCODE and BODYCRC become 0 as clients send.
    assert encode_batch([item]) == body[:4] + b"\x00" * 8 + body[12:]


_text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x01\x02"),
    min_size=1,
    max_size=10,
)
_messages = st.lists(
    st.tuples(
        st.binary(max_size=100),
        st.integers(-(2**31), 2**31 - 1),
        st.dictionaries(_text, _text, max_size=5),
    ),
    max_size=6,
)


@given(_messages, st.booleans())
def test_round_trip(messages, trailing):
    body = encode_batch(messages, trailing_separator=trailing)
    items = decode_batch(body)
    assert [(i.body, i.flag, i.properties) for i in items] == messages
    assert encode_batch(items) == body
    assert encode_batch([i.to_message() for i in items]) == body
    assert decode_batch(memoryview(body)) == items


def test_every_truncation_is_rejected():
    body = encode_batch([(b"abc", 0, {"K": "v"}), (b"de", 1, {})])
    first = len(encode_batch([(b"abc", 0, {"K": "v"})]))
    for cut in range(1, len(body)):
        if cut == first:
            continue  # a whole first item is a valid batch
        with pytest.raises(RemoteProtocolError, match="offset"):
            decode_batch(body[:cut])


def _item(size=None, body_len=3, props_len=1):
    size = 22 + 3 + 1 if size is None else size
    return (
        struct.pack(">iiiii", size, 0, 0, 0, body_len)
        + b"abc"
        + struct.pack(">h", props_len)
        + b"x"
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (_item(size=21), "offset 0: TOTALSIZE 21 outside"),
        (_item(size=27), "offset 0: TOTALSIZE 27 outside"),
        (_item(body_len=-1), "BODYLEN -1"),
        (_item(body_len=5), "BODYLEN 5 runs past"),
        (_item(props_len=0), "PROPERTIESLEN 0 disagrees"),
        (_item(props_len=-1), "PROPERTIESLEN -1 disagrees"),
        (_item() + _item(size=99), "batch item at offset 26: TOTALSIZE 99"),
        (_item() + b"\x00" * 5, "truncated batch item at offset 26"),
    ],
)
def test_malformed(body, message):
    with pytest.raises(RemoteProtocolError, match=message):
        decode_batch(body)


def test_invalid_utf8_properties():
    body = _item()[:-1] + b"\xff"
    with pytest.raises(RemoteProtocolError, match="offset 0: properties are not valid UTF-8"):
        decode_batch(body)


def test_encode_rejects_what_the_fields_cannot_carry():
    with pytest.raises(LocalProtocolError, match="32767"):
        encode_batch([(b"", 0, "x" * 32768)])
    with pytest.raises(LocalProtocolError, match="message 1"):
        encode_batch([(b"", 0, {}), (b"", 2**31, {})])
    with pytest.raises(LocalProtocolError, match="UTF-8"):
        encode_batch([(b"", 0, "\ud800")])


@pytest.mark.parametrize(
    ("item", "batch", "joined"),
    [
        (b"A\x011", b"CLUSTER\x01c", b"A\x011\x02CLUSTER\x01c"),
        (b"A\x011\x02", b"CLUSTER\x01c", b"A\x011\x02CLUSTER\x01c"),
        (b"", b"CLUSTER\x01c", b"CLUSTER\x01c"),
        (b"A\x011", b"", b"A\x011"),
    ],
)
def test_join_batch_properties(item, batch, joined):
    assert join_batch_properties(item, batch) == joined
