"""The two message ids: the broker's offset id and the client's unique id (``UNIQ_KEY``).

Offset id (``MessageDecoder.createMessageId``), uppercase hex of::

    store IP (4 bytes, or 16 for IPv6) | store port int32 | commitlog offset int64

32 hex characters for IPv4, 56 for IPv6. Example: ``0A00000100002A9F00000000000012AB`` is
10.0.0.1:10911, offset 0x12AB.

Unique id (``MessageClientIDSetter``), uppercase hex of::

    client IP (4 or 16) | pid int16 | class-loader hash int32
    | ms since month start int32 | counter int16

The first half is fixed per process. The time part is the local-time start of the current
month subtracted from now, cast to int32 (it wraps negative after about 24.8 days; Java reads
it back unsigned). Time and process values are arguments here: this package reads no clocks.
The cpp client writes its ids in host byte order, so they do not decode with this layout.

See ``protocol.md`` section 4.5.
"""

from __future__ import annotations

import datetime
import functools
import ipaddress
import itertools
import struct
from typing import Final, NamedTuple

from rocketmq_py.exceptions import LocalProtocolError, RemoteProtocolError

__all__ = [
    "UniqueIdGenerator",
    "UniqueIdParts",
    "decode_offset_msg_id",
    "decode_unique_id",
    "encode_offset_msg_id",
    "ip_to_bytes",
    "ip_to_str",
]

_HEX_DIGITS: Final = frozenset("0123456789abcdefABCDEF")
_ADDR_TAIL: Final = struct.Struct(">iq")  # port, offset
_UNIQ_TAIL: Final = struct.Struct(">HIIH")  # pid, hash, time offset, counter
_INT64_MAX: Final = 2**63 - 1


def ip_to_bytes(ip: str | bytes) -> bytes:
    """Pack an IPv4 or IPv6 address (text or already 4/16 bytes) into 4 or 16 bytes.

    Raises:
        LocalProtocolError: not an IP address.
    """
    if isinstance(ip, bytes):
        if len(ip) in (4, 16):
            return ip
        raise LocalProtocolError(f"IP address bytes must be 4 or 16 long, got {ip!r}")
    return _pack_ip(ip)


# Cached: a broker packs the same few born/store hosts for every record it writes.
@functools.lru_cache(maxsize=1024)
def _pack_ip(ip: str) -> bytes:
    try:
        return ipaddress.ip_address(ip).packed
    except ValueError:
        raise LocalProtocolError(f"not an IP address: {ip!r}") from None


def ip_to_str(packed: bytes) -> str:
    """Text form of a 4- or 16-byte address (IPv6 in its compressed form)."""
    if len(packed) == 4:
        return f"{packed[0]}.{packed[1]}.{packed[2]}.{packed[3]}"
    return _ipv6_text(bytes(packed))


@functools.lru_cache(maxsize=1024)
def _ipv6_text(packed: bytes) -> str:
    return ipaddress.IPv6Address(packed).compressed


def _parse_hex(kind: str, value: object, lengths: tuple[int, ...]) -> bytes:
    if not isinstance(value, str) or len(value) not in lengths or not set(value) <= _HEX_DIGITS:
        want = " or ".join(str(n) for n in lengths)
        raise RemoteProtocolError(f"invalid {kind} {value!r}: expected {want} hex characters")
    return bytes.fromhex(value)


def encode_offset_msg_id(ip: str | bytes, port: int, commit_log_offset: int) -> str:
    """The offset message id of the record at ``commit_log_offset`` on broker ``ip:port``.

    Raises:
        LocalProtocolError: a bad address, port outside 0-65535 or a negative offset.
    """
    packed = ip_to_bytes(ip)
    if not 0 <= port <= 0xFFFF:
        raise LocalProtocolError(f"port out of range: {port}")
    if not 0 <= commit_log_offset <= _INT64_MAX:
        raise LocalProtocolError(f"commitlog offset out of range: {commit_log_offset}")
    return (packed + _ADDR_TAIL.pack(port, commit_log_offset)).hex().upper()


def decode_offset_msg_id(msg_id: str) -> tuple[str, int, int]:
    """Split an offset message id into (store IP, store port, commitlog offset).

    Raises:
        RemoteProtocolError: ``msg_id`` is not 32 or 56 hex characters.
    """
    raw = _parse_hex("offset message id", msg_id, (32, 56))
    ip_len = len(raw) - _ADDR_TAIL.size
    port, offset = _ADDR_TAIL.unpack_from(raw, ip_len)
    return ip_to_str(raw[:ip_len]), port, offset


class UniqueIdParts(NamedTuple):
    """The fields of a unique id (:func:`decode_unique_id`)."""

    ip: str
    pid: int
    """The low 16 bits of the producer's process id, unsigned."""
    timestamp_offset_ms: int
    """Milliseconds since the start of the month the id was made in, unsigned as Java reads it."""
    counter: int
    """The per-process counter, unsigned 16-bit."""


def decode_unique_id(unique_id: str) -> UniqueIdParts:
    """Split a Java unique id (``UNIQ_KEY``) into its fields.

    Raises:
        RemoteProtocolError: ``unique_id`` is not 32 or 56 hex characters.
    """
    raw = _parse_hex("unique message id", unique_id, (32, 56))
    ip_len = len(raw) - _UNIQ_TAIL.size
    pid, _hash, offset, counter = _UNIQ_TAIL.unpack_from(raw, ip_len)
    return UniqueIdParts(ip_to_str(raw[:ip_len]), pid, offset, counter)


class UniqueIdGenerator:
    """Makes ``UNIQ_KEY`` ids with the layout of Java's ``MessageClientIDSetter``.

    Args:
        ip: the client's address (text, or 4/16 bytes).
        pid: the process id; its low 16 bits are used.
        class_loader_hash: any int; its low 32 bits are used (Java: the class loader's
            ``hashCode``). Random per process is fine.

    ``next_id`` is safe to call from several threads: the counter is an ``itertools.count``.
    """

    __slots__ = ("_counter", "_month", "_prefix")

    def __init__(self, ip: str | bytes, pid: int, class_loader_hash: int) -> None:
        fixed = ip_to_bytes(ip) + struct.pack(">HI", pid & 0xFFFF, class_loader_hash & 0xFFFFFFFF)
        self._prefix = fixed.hex().upper()
        self._counter = itertools.count()
        self._month = (0, 0)

    @property
    def prefix(self) -> str:
        """The fixed first part: IP, pid and hash (20 hex characters for IPv4, 44 for IPv6)."""
        return self._prefix

    def next_id(self, now_ms: int, month_start_ms: int) -> str:
        """A new id.

        Args:
            now_ms: the current time in epoch milliseconds.
            month_start_ms: epoch milliseconds of 00:00 local time on the 1st of the current
                month (the caller owns the clock and the time zone).
        """
        diff = (now_ms - month_start_ms) & 0xFFFFFFFF
        if diff > 0x100000000 - 1_000_000:
            # Java: a slightly negative difference (clock stepped back by NTP) becomes 0.
            diff = 0
        counter = next(self._counter) & 0xFFFF
        return f"{self._prefix}{diff:08X}{counter:04X}"

    def next_id_local(self, now_ms: int) -> str:
        """A new id, with the month start taken from the local time zone for ``now_ms``.

        The caller still owns the clock; the month window is cached until it ends.
        """
        start, end = self._month
        if not start <= now_ms < end:
            start, end = self._month = local_month_window_ms(now_ms)
        return self.next_id(now_ms, start)


def local_month_window_ms(now_ms: int) -> tuple[int, int]:
    """Epoch ms of 00:00 local time on the 1st of ``now_ms``'s month and of the next month."""
    local = datetime.datetime.fromtimestamp(now_ms / 1000).astimezone()
    first = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    year, month = (first.year + 1, 1) if first.month == 12 else (first.year, first.month + 1)
    following = datetime.datetime(year, month, 1).astimezone()
    return int(first.timestamp() * 1000), int(following.timestamp() * 1000)
