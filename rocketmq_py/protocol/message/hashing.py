"""The hashes and checksums RocketMQ computes the Java way.

* :func:`java_string_hash`: ``String.hashCode`` over UTF-16 code units, signed 32-bit. Tag codes
  in consume queues and subscription code sets use it (:func:`tags_hash`), index files use its
  absolute value (:func:`index_key_hash`).
* :func:`crc32`: every RocketMQ CRC is ``java.util.zip.CRC32`` masked to 31 bits.
* :func:`java_hash_map_order`: the iteration order of a ``java.util.HashMap``, which decides the
  order of properties that a Java client or broker writes.

See ``protocol.md`` section 4.6.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Iterable
from typing import Final

__all__ = [
    "crc32",
    "index_key_hash",
    "java_hash_map_order",
    "java_string_hash",
    "tags_hash",
]

_MASK32: Final = 0xFFFFFFFF
_INT32_SIGN: Final = 0x80000000
_CRC_MASK: Final = 0x7FFFFFFF
_INT32_MIN: Final = -(2**31)

# java.util.HashMap constants.
_HASH_MAP_DEFAULT_CAPACITY: Final = 16
_HASH_MAP_MAX_CAPACITY: Final = 1 << 30
_TREEIFY_THRESHOLD: Final = 8
_MIN_TREEIFY_CAPACITY: Final = 64


def java_string_hash(text: str) -> int:
    """Java's ``String.hashCode``: ``s[0]*31^(n-1) + ... + s[n-1]`` over UTF-16 code units.

    A character outside the BMP counts as its two surrogates; a lone surrogate in ``text``
    counts as itself, as in Java. The result is a signed 32-bit int.
    """
    h = 0
    if text.isascii():
        for unit in text.encode("ascii"):
            h = (31 * h + unit) & _MASK32
    else:
        data = text.encode("utf-16-be", "surrogatepass")
        for i in range(0, len(data), 2):
            h = (31 * h + ((data[i] << 8) | data[i + 1])) & _MASK32
    return h - 0x100000000 if h & _INT32_SIGN else h


@functools.lru_cache(maxsize=4096)
def _cached_tags_hash(tags: str) -> int:
    return java_string_hash(tags)


def tags_hash(tags: str | None) -> int:
    """The tags code of a message: ``java_string_hash(tags)``, 0 when absent or empty.

    Cached: a topic usually has few distinct tags and the broker hashes every message's.
    """
    if not tags:
        return 0
    return _cached_tags_hash(tags)


def index_key_hash(key: str) -> int:
    """The index-file slot hash of a key: ``abs(hashCode)``, with ``Integer.MIN_VALUE`` -> 0."""
    h = java_string_hash(key)
    if h == _INT32_MIN:
        return 0
    return -h if h < 0 else h


def crc32(data: bytes | bytearray | memoryview) -> int:
    """``java.util.zip.CRC32`` of ``data`` & 0x7FFFFFFF, as every RocketMQ CRC field stores it."""
    return zlib.crc32(data) & _CRC_MASK


def _spread(key: str) -> int:
    # HashMap.hash(): h ^ (h >>> 16) over the unsigned 32-bit hash code.
    h = java_string_hash(key) & _MASK32
    return h ^ (h >> 16)


def java_hash_map_order(keys: Iterable[str], *, capacity: int | None = None) -> list[str]:
    """The iteration order of a ``java.util.HashMap`` after putting ``keys`` in this order.

    A Java client or broker writes a message's properties by iterating the ``HashMap`` it
    parsed them into (``string2messageProperties`` then ``messageProperties2String``), so this
    decides the byte order of stored properties. Within one bucket entries keep insertion
    order, which a resize preserves, so the order is (bucket index, first insertion).

    Args:
        keys: keys in insertion order; a repeated key keeps its first position.
        capacity: the final table size when the caller knows it (for example when keys were
            removed after the map had grown); by default it is grown as Java does from a
            ``new HashMap<>()`` of 16 buckets (resize past 3/4 full, or when a bucket passes 8
            entries in a table under 64 buckets).

    Buckets that Java would turn into trees (9+ colliding keys in a table of 64 or more) are
    still ordered by insertion here; Java's order in such a bucket can differ.
    """
    unique: dict[str, int] = {}
    for key in keys:
        if key not in unique:
            unique[key] = _spread(key)
    if capacity is None:
        capacity = _grow_capacity(list(unique.values()))
    elif capacity <= 0 or capacity & (capacity - 1):
        raise ValueError(f"capacity must be a positive power of two, got {capacity}")
    mask = capacity - 1
    seq = {key: i for i, key in enumerate(unique)}
    return sorted(unique, key=lambda k: (unique[k] & mask, seq[k]))


def _grow_capacity(hashes: list[int]) -> int:
    capacity = _HASH_MAP_DEFAULT_CAPACITY
    buckets: dict[int, int] = {}
    for size, h in enumerate(hashes, start=1):
        index = h & (capacity - 1)
        buckets[index] = buckets.get(index, 0) + 1
        grow = size > capacity * 3 // 4
        if buckets[index] > _TREEIFY_THRESHOLD and capacity < _MIN_TREEIFY_CAPACITY:
            grow = True  # treeifyBin() resizes a small table instead
        while grow and capacity < _HASH_MAP_MAX_CAPACITY:
            capacity <<= 1
            buckets = {}
            for seen in hashes[:size]:
                i = seen & (capacity - 1)
                buckets[i] = buckets.get(i, 0) + 1
            grow = size > capacity * 3 // 4
    return capacity
