"""The properties string: Java's writer and reader rules, and the standard names."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rocketmq_py.exceptions import LocalProtocolError, RemoteProtocolError
from rocketmq_py.protocol.message import (
    SYSTEM_PROPERTY_KEYS,
    MessageConst,
    decode_properties,
    decode_properties_bytes,
    encode_properties,
    encode_properties_bytes,
)

# Any text without the separators; surrogates excluded because UTF-8 cannot carry them.
_text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x01\x02"),
    min_size=1,
    max_size=20,
)


def test_encode_writes_pairs_in_order_with_trailing_separator():
    assert (
        encode_properties({"KEYS": "k1 k2", "TAGS": "TagA"}) == "KEYS\x01k1 k2\x02TAGS\x01TagA\x02"
    )


def test_encode_without_trailing_separator_like_java_498():
    props = {"peer": "java", "TAGS": "TagA"}
    assert encode_properties(props, trailing_separator=False) == "peer\x01java\x02TAGS\x01TagA"


def test_encode_skips_none_and_empty_values():
    assert encode_properties({"A": None, "B": "", "C": "x"}) == "C\x01x\x02"
    assert encode_properties({"A": None}) == ""
    assert encode_properties({}) == ""
    assert encode_properties(None) == ""


@pytest.mark.parametrize(
    "props",
    [{"": "v"}, {"a\x01b": "v"}, {"a\x02": "v"}, {"k": "v\x02w"}, {"k": "v\x01w"}],
)
def test_encode_rejects_what_the_string_cannot_carry(props):
    with pytest.raises(LocalProtocolError):
        encode_properties(props)


def test_encode_bytes_is_utf8_and_limited_to_int16():
    assert encode_properties_bytes({"k": "é"}) == "k\x01é\x02".encode()
    encode_properties_bytes({"k": "x" * 32764})  # 1 + 1 + 32764 + 1 = 32767 bytes
    with pytest.raises(LocalProtocolError, match="32767"):
        encode_properties_bytes({"k": "x" * 32765})
    with pytest.raises(LocalProtocolError, match="UTF-8"):
        encode_properties_bytes({"k": "\ud800"})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", {}),
        ("A\x011\x02B\x012\x02", {"A": "1", "B": "2"}),
        ("A\x011\x02B\x012", {"A": "1", "B": "2"}),  # no trailing separator
        ("A\x01\x02B\x012", {"B": "2"}),  # empty value dropped
        ("\x011\x02B\x012", {"B": "2"}),  # empty name dropped
        ("noseparator\x02B\x012", {"B": "2"}),  # no \x01 dropped
        ("A\x01x\x01y", {"A": "x\x01y"}),  # the first \x01 splits
        ("\x02\x02A\x011\x02\x02", {"A": "1"}),  # empty items ignored
        ("A\x011\x02B\x012\x02A\x013", {"A": "3", "B": "2"}),  # last duplicate wins
    ],
)
def test_decode_follows_java_rules(text, expected):
    assert decode_properties(text) == expected


def test_decode_keeps_first_position_of_a_repeated_name():
    assert list(decode_properties("A\x011\x02B\x012\x02A\x013")) == ["A", "B"]


def test_decode_none_is_empty():
    assert decode_properties(None) == {}


def test_decode_bytes_rejects_invalid_utf8():
    assert decode_properties_bytes(b"k\x01\xc3\xa9") == {"k": "é"}
    with pytest.raises(RemoteProtocolError, match="UTF-8"):
        decode_properties_bytes(b"k\x01\xff")


@given(st.dictionaries(_text, _text, max_size=8), st.booleans())
def test_round_trip(props, trailing):
    text = encode_properties(props, trailing_separator=trailing)
    assert decode_properties(text) == props
    assert list(decode_properties(text)) == list(props)
    assert decode_properties_bytes(encode_properties_bytes(props)) == props


def test_standard_names():
    assert MessageConst.PROPERTY_KEYS == "KEYS"
    assert MessageConst.PROPERTY_TAGS == "TAGS"
    assert MessageConst.PROPERTY_WAIT_STORE_MSG_OK == "WAIT"
    assert MessageConst.PROPERTY_DELAY_TIME_LEVEL == "DELAY"
    assert MessageConst.PROPERTY_REAL_QUEUE_ID == "REAL_QID"
    assert MessageConst.PROPERTY_TRANSACTION_PREPARED == "TRAN_MSG"
    assert MessageConst.PROPERTY_PRODUCER_GROUP == "PGROUP"
    assert MessageConst.PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX == "UNIQ_KEY"
    assert MessageConst.PROPERTY_TRACE_SWITCH == "TRACE_ON"
    assert MessageConst.PROPERTY_TRANSACTION_ID == "__transactionId__"
    assert MessageConst.PROPERTY_FIRST_POP_TIME == "1ST_POP_TIME"
    assert MessageConst.PROPERTY_TIMER_DELIVER_MS == "TIMER_DELIVER_MS"
    assert MessageConst.PROPERTY_CRC32 == "__CRC32#"


def test_system_keys_hold_every_name_but_the_transient_prefix():
    assert {"KEYS", "TAGS", "UNIQ_KEY", "WAIT", "DUP_INFO", "__BORNHOST"} <= SYSTEM_PROPERTY_KEYS
    assert MessageConst.PROPERTY_TRANSIENT_PREFIX not in SYSTEM_PROPERTY_KEYS
    assert "peer" not in SYSTEM_PROPERTY_KEYS
