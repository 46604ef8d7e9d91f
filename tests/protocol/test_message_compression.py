"""Body compression per the sysFlag compression bits."""

from __future__ import annotations

import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rocketmq_py.exceptions import LocalProtocolError, RemoteProtocolError
from rocketmq_py.protocol.message import (
    COMPRESS_MSG_BODY_OVER_HOWMUCH,
    DEFAULT_COMPRESS_LEVEL,
    CompressionType,
    compress,
    compress_body,
    decompress,
    decompress_body,
)


def test_defaults():
    assert DEFAULT_COMPRESS_LEVEL == 5
    assert COMPRESS_MSG_BODY_OVER_HOWMUCH == 4096


def test_compress_is_a_zlib_stream_at_level_5():
    data = b"abc" * 2000
    assert compress(data) == zlib.compress(data, 5)
    assert zlib.decompress(compress(data, 9)) == data


@given(st.binary(max_size=2000), st.sampled_from([0x1, 0x301, 0x1 | 0x8]))
def test_round_trip(data, flag):
    assert decompress(compress(data), flag) == data


def test_compress_body_sets_flags():
    body, flag = compress_body(b"x" * 5000, 0x8)
    assert flag == 0x8 | 0x301
    assert decompress(body, flag) == b"x" * 5000
    _, old_style = compress_body(b"x", 0, write_type_bits=False)
    assert old_style == 0x1
    with pytest.raises(LocalProtocolError, match="unsupported compression type ZSTD"):
        compress_body(b"x", 0, compression_type=CompressionType.ZSTD)


def test_decompress_body_clears_the_compressed_flag_only():
    body, flag = compress_body(b"payload", 0)
    assert decompress_body(body, flag) == (b"payload", 0x300)
    assert decompress_body(bytearray(b"plain"), 0x8) == (b"plain", 0x8)


@pytest.mark.parametrize(
    ("flag", "name"), [(0x101, "LZ4"), (0x201, "ZSTD"), (0x401, "4"), (0x701, "7")]
)
def test_unsupported_types_are_named(flag, name):
    with pytest.raises(RemoteProtocolError, match=f"unsupported compression type {name}$"):
        decompress(compress(b"x"), flag)


def test_broken_and_truncated_streams():
    with pytest.raises(RemoteProtocolError, match="not a valid zlib stream"):
        decompress(b"not zlib at all", 0x1)
    with pytest.raises(RemoteProtocolError, match="truncated zlib stream"):
        decompress(compress(b"x" * 1000)[:-6], 0x1)


def test_max_size():
    data = compress(b"\x00" * 10_000)
    assert decompress(data, 0x1, max_size=10_000) == b"\x00" * 10_000
    with pytest.raises(RemoteProtocolError, match="beyond the 9999-byte limit"):
        decompress(data, 0x1, max_size=9_999)
    with pytest.raises(RemoteProtocolError, match="limit"):
        decompress_body(data, 0x1, max_size=10)
