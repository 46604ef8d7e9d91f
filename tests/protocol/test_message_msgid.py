"""Offset message ids and unique (UNIQ_KEY) ids."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rocketmq_py.exceptions import LocalProtocolError, RemoteProtocolError
from rocketmq_py.protocol.message import (
    UniqueIdGenerator,
    decode_offset_msg_id,
    decode_unique_id,
    encode_offset_msg_id,
    ip_to_bytes,
    ip_to_str,
)


def test_offset_msg_id_example_from_the_fact_sheet():
    assert encode_offset_msg_id("10.0.0.1", 10911, 0x12AB) == "0A00000100002A9F00000000000012AB"
    assert decode_offset_msg_id("0A00000100002A9F00000000000012AB") == ("10.0.0.1", 10911, 0x12AB)
    assert decode_offset_msg_id("0a00000100002a9f00000000000012ab") == ("10.0.0.1", 10911, 0x12AB)


def test_offset_msg_id_ipv6_is_56_chars():
    msg_id = encode_offset_msg_id("fd00::2", 10911, 1)
    assert len(msg_id) == 56
    assert msg_id == "FD000000000000000000000000000002" + "00002A9F" + "0000000000000001"
    assert decode_offset_msg_id(msg_id) == ("fd00::2", 10911, 1)


def test_offset_msg_id_from_packed_address():
    assert encode_offset_msg_id(b"\x7f\x00\x00\x01", 40911, 9341) == (
        "7F00000100009FCF000000000000247D"
    )


@given(st.ip_addresses().map(str), st.integers(0, 65535), st.integers(0, 2**63 - 1))
def test_offset_msg_id_round_trip(ip, port, offset):
    msg_id = encode_offset_msg_id(ip, port, offset)
    assert msg_id == msg_id.upper()
    assert len(msg_id) == (56 if ":" in ip else 32)
    assert decode_offset_msg_id(msg_id) == (ip, port, offset)


@pytest.mark.parametrize(
    "msg_id",
    [
        "",
        "0A00000100002A9F00000000000012A",  # 31 chars
        "0A00000100002A9F00000000000012AB0",  # 33 chars
        "0A00000100002A9F00000000000012AG",  # not hex
        "0A000001 0002A9F00000000000012AB",  # whitespace that bytes.fromhex would skip
        "FD0000000000000000000000000000026DF11DBD16A67FB91A92001",  # 55 chars
    ],
)
def test_decode_offset_msg_id_rejects_bad_ids(msg_id):
    with pytest.raises(RemoteProtocolError, match="invalid offset message id") as info:
        decode_offset_msg_id(msg_id)
    assert repr(msg_id) in str(info.value)


def test_decode_offset_msg_id_rejects_non_strings():
    with pytest.raises(RemoteProtocolError):
        decode_offset_msg_id(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("ip", "port", "offset", "message"),
    [
        ("localhost", 1, 0, "not an IP address: 'localhost'"),
        ("10.0.0.1", 65536, 0, "port out of range"),
        ("10.0.0.1", -1, 0, "port out of range"),
        ("10.0.0.1", 1, -1, "offset out of range"),
        (b"\x01\x02", 1, 0, "4 or 16"),
    ],
)
def test_encode_offset_msg_id_rejects_bad_input(ip, port, offset, message):
    with pytest.raises(LocalProtocolError, match=message):
        encode_offset_msg_id(ip, port, offset)


def test_ip_helpers():
    assert ip_to_bytes("127.0.0.1") == b"\x7f\x00\x00\x01"
    assert ip_to_bytes(b"\x7f\x00\x00\x01") == b"\x7f\x00\x00\x01"
    assert ip_to_str(b"\x7f\x00\x00\x01") == "127.0.0.1"
    assert ip_to_str(ip_to_bytes("0:0:0:0:0:0:0:1")) == "::1"


def test_unique_id_layout_reproduces_a_java_id_from_the_captures():
    # captures/01: UNIQ_KEY of the Java client's message 29 (counter 0x1D).
    java_id = "FD0000000000000000000000000000026DF11DBD16A67FB91A92001D"
    gen = UniqueIdGenerator("fd00::2", pid=0x6DF1, class_loader_hash=0x1DBD16A6)
    assert gen.prefix == java_id[:44]
    ids = [gen.next_id(now_ms=1_000 + 0x7FB91A92, month_start_ms=1_000) for _ in range(30)]
    assert ids[29] == java_id
    assert decode_unique_id(java_id) == ("fd00::2", 0x6DF1, 0x7FB91A92, 0x1D)


def test_unique_id_ipv4_fields():
    gen = UniqueIdGenerator(b"\x0a\x00\x00\x01", pid=0x12345, class_loader_hash=-1)
    first = gen.next_id(now_ms=1_700_000_123_456, month_start_ms=1_700_000_000_000)
    second = gen.next_id(now_ms=1_700_000_123_457, month_start_ms=1_700_000_000_000)
    assert len(first) == 32
    assert first == "0A000001" + "2345" + "FFFFFFFF" + f"{123_456:08X}" + "0000"
    assert second.endswith(f"{123_457:08X}0001")
    parts = decode_unique_id(first)
    assert parts == ("10.0.0.1", 0x2345, 123_456, 0)
    assert parts.ip == "10.0.0.1"
    assert parts.timestamp_offset_ms == 123_456


def test_unique_id_counter_wraps_at_16_bits():
    gen = UniqueIdGenerator("10.0.0.1", 1, 2)
    ids = [gen.next_id(0, 0) for _ in range(65537)]
    assert ids[65535].endswith("FFFF")
    assert ids[65536].endswith("0000")


def test_unique_id_time_part_follows_java_int_cast():
    gen = UniqueIdGenerator("10.0.0.1", 1, 2)
    # Late in a 31-day month the difference passes 2**31 and Java's (int) cast wraps it.
    late = 30 * 86_400_000
    assert decode_unique_id(gen.next_id(late, 0)).timestamp_offset_ms == late
    assert gen.next_id(late, 0)[20:28] == f"{late:08X}"
    # A clock stepped back by less than 1,000,000 ms gives 0; further back keeps the wrap.
    assert gen.next_id(0, 999_999)[20:28] == "00000000"
    assert gen.next_id(0, 1_000_000)[20:28] == f"{2**32 - 1_000_000:08X}"


@given(
    st.ip_addresses().map(str),
    st.integers(0, 2**20),
    st.integers(-(2**40), 2**40),
    st.integers(0, 2**32 - 1),
)
def test_unique_id_round_trip(ip, pid, hash_code, offset):
    gen = UniqueIdGenerator(ip, pid, hash_code)
    unique_id = gen.next_id(now_ms=10**12 + offset, month_start_ms=10**12)
    assert len(unique_id) == (56 if ":" in ip else 32)
    parts = decode_unique_id(unique_id)
    assert parts.ip == ip
    assert parts.pid == pid & 0xFFFF
    assert parts.counter == 0
    if offset < 2**32 - 1_000_000:
        assert parts.timestamp_offset_ms == offset


def test_decode_unique_id_rejects_bad_ids():
    with pytest.raises(RemoteProtocolError, match="invalid unique message id 'XYZ'"):
        decode_unique_id("XYZ")


def test_local_month_window_and_next_id_local() -> None:
    import datetime

    from rocketmq_py.protocol.message.msgid import (
        UniqueIdGenerator,
        decode_unique_id,
        local_month_window_ms,
    )

    now = datetime.datetime(2026, 12, 31, 23, 59, 59).astimezone()
    start, end = local_month_window_ms(int(now.timestamp() * 1000))
    assert datetime.datetime.fromtimestamp(start / 1000) == datetime.datetime(2026, 12, 1)
    assert datetime.datetime.fromtimestamp(end / 1000) == datetime.datetime(2027, 1, 1)
    gen = UniqueIdGenerator("10.0.0.1", 7, 9)
    now_ms = start + 12_345
    assert decode_unique_id(gen.next_id_local(now_ms)).timestamp_offset_ms == 12_345
