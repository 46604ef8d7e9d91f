"""Java String.hashCode, tag and index hashes, CRC32 and HashMap iteration order."""

from __future__ import annotations

import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rocketmq_py.protocol.message import (
    crc32,
    index_key_hash,
    java_hash_map_order,
    java_string_hash,
    tags_hash,
)


def _reference_hash(text):
    # Independent formula: sum(unit * 31**(n-1-i)) over UTF-16 units, reduced to signed int32.
    data = text.encode("utf-16-be", "surrogatepass")
    units = [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]
    total = sum(u * 31 ** (len(units) - 1 - i) for i, u in enumerate(units)) % 2**32
    return total - 2**32 if total >= 2**31 else total


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", 0),
        ("TagA", 2598919),
        ("hello", 99162322),
        ("Aa", 2112),
        ("BB", 2112),
        ("polygenelubricants", -(2**31)),  # the well-known Integer.MIN_VALUE string
        ("é", 233),
        # U+1F600 is the surrogate pair D83D DE00: 0xD83D * 31 + 0xDE00.
        ("\U0001f600", 0xD83D * 31 + 0xDE00),
        ("a\U0001f600", (97 * 31 + 0xD83D) * 31 + 0xDE00),
        ("\ud800", 0xD800),  # a lone surrogate counts as itself, as in Java
    ],
)
def test_java_string_hash_known_values(text, expected):
    assert java_string_hash(text) == expected


@given(st.text(max_size=40))
def test_java_string_hash_matches_the_formula(text):
    assert java_string_hash(text) == _reference_hash(text)
    assert -(2**31) <= java_string_hash(text) < 2**31


def test_tags_hash():
    assert tags_hash(None) == 0
    assert tags_hash("") == 0
    assert tags_hash("TagA") == 2598919
    assert tags_hash("polygenelubricants") == -(2**31)


def test_index_key_hash_is_abs_with_min_value_zero():
    assert index_key_hash("polygenelubricants") == 0
    assert index_key_hash("TagA") == 2598919
    negative = "KEY-0594514b-sync-0"
    assert index_key_hash(negative) == abs(java_string_hash(negative))
    keys = [f"KEY-{i}-long-enough-to-wrap" for i in range(200)]
    assert any(java_string_hash(k) < 0 for k in keys)
    assert all(index_key_hash(k) == abs(java_string_hash(k)) for k in keys)


def test_crc32_is_masked_to_31_bits():
    assert crc32(b"123456789") == 0xCBF43926 & 0x7FFFFFFF
    assert crc32(b"") == 0
    assert crc32(memoryview(b"abc")) == zlib.crc32(b"abc") & 0x7FFFFFFF


def test_hash_map_order_matches_what_a_java_broker_stored():
    # From captures/01: the client's properties plus CLUSTER, iterated by a Java HashMap.
    keys = ["peer", "KEYS", "UNIQ_KEY", "WAIT", "TAGS", "CLUSTER"]
    assert java_hash_map_order(keys) == ["peer", "KEYS", "UNIQ_KEY", "CLUSTER", "WAIT", "TAGS"]
    # A half message's properties; PGROUP and WAIT share a bucket and keep insertion order.
    half = ["KEYS", "PGROUP", "TAGS", "TRAN_MSG", "UNIQ_KEY", "WAIT", "peer", "CLUSTER"]
    half += ["REAL_TOPIC", "REAL_QID", "TRANSACTION_CHECK_TIMES"]
    assert java_hash_map_order(half) == [
        "REAL_TOPIC",
        "TRANSACTION_CHECK_TIMES",
        "peer",
        "KEYS",
        "TRAN_MSG",
        "UNIQ_KEY",
        "CLUSTER",
        "PGROUP",
        "WAIT",
        "TAGS",
        "REAL_QID",
    ]


def test_hash_map_order_same_bucket_keeps_insertion_order():
    assert java_hash_map_order(["BB", "Aa"]) == ["BB", "Aa"]
    assert java_hash_map_order(["Aa", "BB", "Aa"]) == ["Aa", "BB"]


def test_hash_map_order_grows_past_three_quarters():
    keys = [f"key{i}" for i in range(13)]  # 13 > 12 = 16 * 0.75: the table doubles to 32
    assert java_hash_map_order(keys) == java_hash_map_order(keys, capacity=32)
    assert java_hash_map_order(keys[:12]) == java_hash_map_order(keys[:12], capacity=16)


def test_hash_map_order_small_table_resizes_for_a_long_bucket():
    # Nine keys in one bucket of a 16-slot table: Java resizes (treeifyBin) instead of a tree.
    keys = []
    i = 0
    while len(keys) < 9:
        key = f"c{i}"
        h = java_string_hash(key) & 0xFFFFFFFF
        if (h ^ (h >> 16)) & 15 == 0:
            keys.append(key)
        i += 1
    assert java_hash_map_order(keys, capacity=16) == keys
    assert java_hash_map_order(keys) == java_hash_map_order(keys, capacity=32)
    assert java_hash_map_order(keys[:8]) == keys[:8]


def test_hash_map_order_rejects_bad_capacity():
    with pytest.raises(ValueError, match="power of two"):
        java_hash_map_order(["a"], capacity=24)


@given(st.lists(st.text(max_size=8), max_size=40))
def test_hash_map_order_is_a_permutation(keys):
    order = java_hash_map_order(keys)
    assert sorted(order) == sorted(set(keys))
