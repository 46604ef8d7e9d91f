"""The stored record codec: layout, round trips, the fast path, blanks and malformed input."""

from __future__ import annotations

import dataclasses
import ipaddress
import mmap
import struct
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rocketmq_py.exceptions import LocalProtocolError, RemoteProtocolError
from rocketmq_py.protocol.message import (
    BLANK_MAGIC_CODE,
    END_FILE_MIN_BLANK_LENGTH,
    MAGIC_CODE_V1,
    MAGIC_CODE_V2,
    PHYSICAL_OFFSET_POSITION,
    QUEUE_OFFSET_POSITION,
    SYS_FLAG_POSITION,
    MessageRecord,
    MessageSysFlag,
    crc32,
    decode_record,
    encode_blank,
    encode_record,
    ip_to_bytes,
    is_blank,
    iter_records,
    pack_blank_into,
    pack_record_into,
    read_record_header,
    record_size,
)


def _record(**changes):
    base = MessageRecord(
        topic="TopicTest",
        body=b"Hello RocketMQ",
        flag=7,
        properties={"KEYS": "k1", "TAGS": "TagA", "UNIQ_KEY": "0A0000010000000000000000000000"},
        queue_id=3,
        queue_offset=42,
        commit_log_offset=0x12AB,
        sys_flag=0,
        born_timestamp=1_700_000_000_123,
        born_host=("10.0.0.2", 51234),
        store_timestamp=1_700_000_000_456,
        store_host=("10.0.0.1", 10911),
        reconsume_times=1,
        prepared_transaction_offset=99,
    )
    return dataclasses.replace(base, **changes)


def _decoded(record):
    data = encode_record(record)
    decoded, end = decode_record(data, check_crc=True)
    assert end == len(data)
    return data, decoded


def test_ipv4_v1_layout_field_by_field():
    data = encode_record(_record())
    props = b"KEYS\x01k1\x02TAGS\x01TagA\x02UNIQ_KEY\x010A0000010000000000000000000000"
    head = struct.pack(
        ">iIiiiqqiq4siq4siiqi",
        len(data),
        MAGIC_CODE_V1,
        crc32(b"Hello RocketMQ"),
        3,
        7,
        42,
        0x12AB,
        0,
        1_700_000_000_123,
        bytes([10, 0, 0, 2]),
        51234,
        1_700_000_000_456,
        bytes([10, 0, 0, 1]),
        10911,
        1,
        99,
        14,
    )
    tail = b"Hello RocketMQ" + bytes([9]) + b"TopicTest" + struct.pack(">h", len(props)) + props
    assert data == head + tail
    assert len(data) == 91 + 14 + 9 + len(props) == record_size(14, 9, len(props))
    assert struct.unpack_from(">q", data, 56)[0] == 1_700_000_000_456  # STORETIMESTAMP at 56
    assert struct.unpack_from(">q", data, PHYSICAL_OFFSET_POSITION)[0] == 0x12AB
    assert struct.unpack_from(">q", data, QUEUE_OFFSET_POSITION)[0] == 42


def test_properties_written_without_trailing_separator_by_default():
    data = encode_record(_record(properties={"A": "1"}))
    assert data.endswith(b"\x00\x03A\x011")
    data = encode_record(_record(properties={"A": "1"}), trailing_separator=True)
    assert data.endswith(b"\x00\x04A\x011\x02")


def test_topic_length_selects_magic():
    _, short = _decoded(_record(topic="t" * 127))
    data127 = encode_record(_record(topic="t" * 127))
    data128 = encode_record(_record(topic="t" * 128))
    assert read_record_header(data127)[1] == MAGIC_CODE_V1
    assert read_record_header(data128)[1] == MAGIC_CODE_V2
    assert len(data128) == len(data127) + 2  # one more topic byte and a 2-byte length
    assert decode_record(data128)[0].topic == "t" * 128
    assert short.topic == "t" * 127


@pytest.mark.parametrize(
    ("born", "store", "flag", "extra"),
    [
        ("10.0.0.2", "10.0.0.1", 0x00, 0),
        ("::1", "10.0.0.1", 0x10, 12),
        ("10.0.0.2", "fd00::2", 0x20, 12),
        ("fe80::1", "2001:db8::7", 0x30, 24),
    ],
)
def test_host_families_set_the_sysflag_bits(born, store, flag, extra):
    record = _record(born_host=(born, 1), store_host=(store, 2), sys_flag=0x30 | 0x8)
    data, decoded = _decoded(record)
    assert len(data) == len(encode_record(_record())) + extra
    assert struct.unpack_from(">i", data, SYS_FLAG_POSITION)[0] == flag | 0x8
    assert decoded.sys_flag == flag | 0x8
    assert decoded.born_host == (born, 1)
    assert decoded.store_host == (store, 2)


def test_empty_body_topic_and_properties():
    data, decoded = _decoded(_record(topic="", body=b"", properties={}))
    assert len(data) == 91
    assert decoded.body == b""
    assert decoded.properties == {}


def test_decode_fills_crc_size_and_raw_properties():
    data, decoded = _decoded(_record())
    assert decoded.body_crc == crc32(b"Hello RocketMQ")
    assert decoded.store_size == len(data)
    assert decoded == dataclasses.replace(
        _record(), body_crc=decoded.body_crc, store_size=len(data)
    )
    assert decoded.tags == "TagA"
    assert decoded.keys == "k1"
    assert decoded.unique_key == "0A0000010000000000000000000000"
    assert decoded.msg_id == decoded.unique_key
    assert decoded.offset_msg_id == "0A00000100002A9F00000000000012AB"
    decoded.properties.pop("UNIQ_KEY")
    assert decoded.msg_id == "0A00000100002A9F00000000000012AB"


def test_raw_properties_reproduce_the_exact_bytes_until_properties_change():
    # What a 4.x broker stores for a batch item: a repeated WAIT, no trailing separator.
    raw = b"KEYS\x01k\x02WAIT\x01true\x02CLUSTER\x01DefaultCluster\x02WAIT\x01true"
    first = encode_record(_record(properties={}))
    original = bytearray(first)
    original[-2:] = struct.pack(">h", len(raw))
    original += raw
    struct.pack_into(">i", original, 0, len(original))
    decoded, _ = decode_record(bytes(original))
    assert decoded.raw_properties == raw
    assert decoded.properties == {"KEYS": "k", "WAIT": "true", "CLUSTER": "DefaultCluster"}
    assert encode_record(decoded) == bytes(original)
    decoded.properties["TAGS"] = "TagB"
    assert encode_record(decoded).endswith(
        b"KEYS\x01k\x02WAIT\x01true\x02CLUSTER\x01DefaultCluster\x02TAGS\x01TagB"
    )


_ips = st.ip_addresses().map(str)
_prop_text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x01\x02"),
    min_size=1,
    max_size=12,
)
_int32 = st.integers(-(2**31), 2**31 - 1)
_int64 = st.integers(-(2**63), 2**63 - 1)
_records = st.builds(
    MessageRecord,
    topic=st.text(st.characters(blacklist_categories=("Cs",)), max_size=150),
    body=st.binary(max_size=300),
    flag=_int32,
    properties=st.dictionaries(_prop_text, _prop_text, max_size=6),
    queue_id=_int32,
    queue_offset=_int64,
    commit_log_offset=_int64,
    sys_flag=st.integers(0, 0xFFF) | _int32,
    born_timestamp=_int64,
    born_host=st.tuples(_ips, _int32),
    store_timestamp=_int64,
    store_host=st.tuples(_ips, _int32),
    reconsume_times=_int32,
    prepared_transaction_offset=_int64,
)


@given(_records)
def test_round_trip(record):
    data = encode_record(record)
    decoded, end = decode_record(data, check_crc=True)
    assert end == len(data)
    born_v6 = ":" in record.born_host[0]
    store_v6 = ":" in record.store_host[0]
    assert decoded == dataclasses.replace(
        record,
        sys_flag=MessageSysFlag.with_hosts(record.sys_flag, born_v6=born_v6, store_v6=store_v6),
        body_crc=crc32(record.body),
        store_size=len(data),
    )
    assert encode_record(decoded) == data
    topic_len = len(record.topic.encode())
    props_len = len(decoded.raw_properties or b"")
    assert len(data) == record_size(len(record.body), topic_len, props_len, decoded.sys_flag)
    expected_magic = MAGIC_CODE_V1 if topic_len <= 127 else MAGIC_CODE_V2
    assert read_record_header(data) == (len(data), expected_magic)


@given(st.lists(_records, max_size=4))
def test_iter_records_back_to_back(records):
    body = b"".join(encode_record(r) for r in records)
    decoded = list(iter_records(body, check_crc=True))
    assert [encode_record(r) for r in decoded] == [encode_record(r) for r in records]


def test_pack_record_into_bytearray_and_mmap_at_an_offset():
    record = _record(born_host=("::1", 5), store_host=("10.0.0.1", 10911))
    expected = encode_record(record)
    kwargs = {
        "topic": b"TopicTest",
        "body": record.body,
        "properties": decode_record(expected)[0].raw_properties,
        "queue_id": 3,
        "flag": 7,
        "queue_offset": 42,
        "commit_log_offset": 0x12AB,
        "sys_flag": 0,
        "born_timestamp": record.born_timestamp,
        "born_ip": ip_to_bytes("::1"),
        "born_port": 5,
        "store_timestamp": record.store_timestamp,
        "store_ip": ip_to_bytes("10.0.0.1"),
        "store_port": 10911,
        "reconsume_times": 1,
        "prepared_transaction_offset": 99,
    }
    buf = bytearray(1000)
    assert pack_record_into(buf, 100, **kwargs) == len(expected)
    assert bytes(buf[100 : 100 + len(expected)]) == expected
    assert len(buf) == 1000
    with mmap.mmap(-1, 4096) as mapped:
        size = pack_record_into(mapped, 17, **kwargs)
        assert mapped[17 : 17 + size] == expected
        assert decode_record(mapped, 17, check_crc=True)[0].body == record.body
    view = memoryview(bytearray(len(expected)))
    pack_record_into(view, 0, **kwargs)
    assert view.tobytes() == expected
    custom = bytearray(len(expected))
    pack_record_into(custom, 0, **kwargs, body_crc=12345)
    assert struct.unpack_from(">i", custom, 8)[0] == 12345


def test_pack_record_into_refuses_what_does_not_fit():
    kwargs = {
        "topic": b"T",
        "body": b"x",
        "properties": b"",
        "queue_id": 0,
        "flag": 0,
        "queue_offset": 0,
        "commit_log_offset": 0,
        "sys_flag": 0,
        "born_timestamp": 0,
        "born_ip": b"\x7f\x00\x00\x01",
        "born_port": 1,
        "store_timestamp": 0,
        "store_ip": b"\x7f\x00\x00\x01",
        "store_port": 2,
    }
    buf = bytearray(92)  # the record needs 93
    with pytest.raises(LocalProtocolError, match="does not fit"):
        pack_record_into(buf, 0, **kwargs)
    assert buf == bytearray(92)
    with pytest.raises(LocalProtocolError, match="out of range"):
        pack_record_into(bytearray(200), 0, **{**kwargs, "queue_id": 2**31})
    with pytest.raises(LocalProtocolError, match="4 or 16"):
        pack_record_into(bytearray(200), 0, **{**kwargs, "born_ip": b"\x00" * 5})
    with pytest.raises(LocalProtocolError, match="4 or 16"):
        pack_record_into(bytearray(200), 0, **{**kwargs, "store_ip": b""})
    with pytest.raises(LocalProtocolError, match="properties"):
        pack_record_into(bytearray(40000), 0, **{**kwargs, "properties": b"x" * 32768})
    with pytest.raises(LocalProtocolError, match="topic"):
        pack_record_into(bytearray(40000), 0, **{**kwargs, "topic": b"x" * 32768})


def test_encode_rejects_bad_input():
    with pytest.raises(LocalProtocolError, match="not an IP"):
        encode_record(_record(born_host=("localhost", 1)))
    with pytest.raises(LocalProtocolError, match="UTF-8"):
        encode_record(_record(topic="\ud800"))
    with pytest.raises(LocalProtocolError, match="out of range"):
        encode_record(_record(queue_offset=2**63))


def test_decompress_on_decode():
    plain = b"x" * 5000
    stored = zlib.compress(plain, 5)
    record = _record(body=stored, sys_flag=0x301)
    data = encode_record(record)
    as_stored, _ = decode_record(data, check_crc=True)
    assert as_stored.body == stored
    assert as_stored.sys_flag == 0x301
    inflated, _ = decode_record(data, check_crc=True, decompress=True)
    assert inflated.body == plain
    assert inflated.sys_flag == 0x300
    assert inflated.body_crc == crc32(stored)
    lz4 = encode_record(_record(body=b"junk", sys_flag=0x101))
    with pytest.raises(RemoteProtocolError, match="offset 0: unsupported compression type LZ4"):
        decode_record(lz4, decompress=True)


def test_crc_mismatch_is_reported_only_when_checked():
    data = bytearray(encode_record(_record()))
    data[-5] ^= 0x01  # a digit of UNIQ_KEY: the CRC covers the body only
    decode_record(bytes(data), check_crc=True)
    body_at = 88
    data[body_at] ^= 0xFF
    decode_record(bytes(data))
    with pytest.raises(RemoteProtocolError, match="offset 0: body CRC mismatch"):
        decode_record(bytes(data), check_crc=True)


def test_every_truncation_is_rejected():
    data = encode_record(_record())
    for cut in range(len(data)):
        with pytest.raises(RemoteProtocolError, match="offset 0"):
            decode_record(data[:cut])


def _patched(offset, fmt, value):
    data = bytearray(encode_record(_record()))
    struct.pack_into(fmt, data, offset, value)
    return bytes(data)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_patched(4, ">I", 0x12345678), "bad magic code 0x12345678 at offset 0"),
        (_patched(4, ">I", BLANK_MAGIC_CODE), "blank end-of-file filler at offset 0"),
        (_patched(0, ">i", 90), "TOTALSIZE 90, below the minimum 91"),
        (_patched(0, ">i", -1), "TOTALSIZE -1"),
        (_patched(0, ">i", 10_000), "truncated record at offset 0"),
        (_patched(84, ">i", -1), "BODYLEN -1"),
        (_patched(84, ">i", 10_000), "BODYLEN 10000 runs past"),
        (_patched(102, ">B", 200), "TOPICLEN 200 runs past"),
        (_patched(112, ">h", 3), "PROPERTIESLEN 3 disagrees"),
        (_patched(112, ">h", -5), "PROPERTIESLEN -5 disagrees"),
        (_patched(36, ">i", 0x30), "shorter than its fixed fields|runs past|disagrees"),
    ],
)
def test_malformed_records(data, message):
    with pytest.raises(RemoteProtocolError, match=message):
        decode_record(data)


def test_errors_name_the_offset_of_the_bad_record():
    good = encode_record(_record())
    bad = bytearray(good)
    struct.pack_into(">I", bad, 4, 0xDEADBEEF)
    with pytest.raises(RemoteProtocolError, match=f"at offset {2 * len(good)}"):
        list(iter_records(good + good + bytes(bad)))
    with pytest.raises(RemoteProtocolError, match="offset 0: topic is not UTF-8"):
        decode_record(_patched(103, ">B", 0xFF))
    with pytest.raises(RemoteProtocolError, match="offset 0: properties are not valid UTF-8"):
        decode_record(_patched(len(good) - 1, ">B", 0xFF))


def test_read_record_header():
    data = encode_record(_record())
    assert read_record_header(b"\x00" * 3 + data, 3) == (len(data), MAGIC_CODE_V1)
    with pytest.raises(RemoteProtocolError, match="truncated record header at offset 5"):
        read_record_header(data[:12], 5)
    with pytest.raises(RemoteProtocolError, match="offset -1"):
        read_record_header(data, -1)


def test_blank_filler():
    assert encode_blank(8) == struct.pack(">iI", 8, 0xCBD43194)
    assert END_FILE_MIN_BLANK_LENGTH == 8
    buf = bytearray(b"\xaa" * 64)
    assert pack_blank_into(buf, 40, 24) == 8
    assert buf[40:48] == encode_blank(24)
    assert buf[48:] == b"\xaa" * 16  # the rest of the file is left alone
    assert is_blank(buf, 40)
    assert not is_blank(buf, 0)
    assert not is_blank(buf, 60)
    assert not is_blank(encode_record(_record()))
    with pytest.raises(RemoteProtocolError, match="blank"):
        decode_record(buf, 40)
    with pytest.raises(LocalProtocolError):
        encode_blank(7)
    with pytest.raises(LocalProtocolError, match="does not fit"):
        pack_blank_into(buf, 40, 25)


def test_ip_text_forms_come_back_from_ipaddress():
    _, decoded = _decoded(_record(born_host=("0:0:0:0:0:0:0:1", 1)))
    assert decoded.born_host == (str(ipaddress.ip_address("::1")), 1)
