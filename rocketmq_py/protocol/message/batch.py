"""The body of a batch send (``MessageDecoder.encodeMessages``).

Each inner message, back to back, big-endian::

    int32 TOTALSIZE (= 22 + bodyLen + propsLen)   int32 MAGICCODE (0)   int32 BODYCRC (0)
    int32 FLAG   int32 BODYLEN + body   int16 PROPERTIESLEN + properties

All inner messages go to the header's topic; each has its own properties (``UNIQ_KEY``,
``KEYS``, ``TAGS``...). A 4.x broker appends the batch header's own properties (``CLUSTER``,
``WAIT``) to every inner message's (:func:`join_batch_properties`).

See ``protocol.md`` section 4.4.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from rocketmq_py.exceptions import LocalProtocolError, RemoteProtocolError
from rocketmq_py.protocol.message.properties import (
    decode_properties_bytes,
    encode_properties_bytes,
)

__all__ = [
    "BatchItem",
    "BatchMessage",
    "decode_batch",
    "encode_batch",
    "join_batch_properties",
]

_ITEM_HEAD: Final = struct.Struct(">iiiii")  # total size, magic, body crc, flag, body length
_INT16: Final = struct.Struct(">h")
_FIXED_LEN: Final = _ITEM_HEAD.size + 2
_MAX_INT16: Final = 32767
_MAX_INT32: Final = 2**31 - 1

PropertiesArg = Mapping[str, str] | str | bytes
BatchMessage = tuple[bytes, int, PropertiesArg]
"""``(body, flag, properties)``: properties as a mapping, or already encoded (str or bytes)."""


@dataclass(slots=True)
class BatchItem:
    """One inner message of a batch body.

    Attributes:
        body: the body bytes.
        flag: the user's ``Message.flag``.
        properties: the parsed properties.
        raw_properties: the exact properties bytes, as sent.
        magic_code: the MAGICCODE field (clients send 0).
        body_crc: the BODYCRC field (clients send 0).
    """

    body: bytes
    flag: int
    properties: dict[str, str] = field(default_factory=dict)
    raw_properties: bytes = field(default=b"", repr=False, compare=False)
    magic_code: int = 0
    body_crc: int = 0

    def to_message(self) -> BatchMessage:
        """``(body, flag, raw_properties)`` for :func:`encode_batch`, reproducing this item."""
        return (self.body, self.flag, self.raw_properties)


def _properties_bytes(properties: PropertiesArg, trailing_separator: bool) -> bytes:
    if isinstance(properties, bytes):
        data = properties
    elif isinstance(properties, str):
        try:
            data = properties.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise LocalProtocolError(f"properties are not encodable as UTF-8: {exc}") from None
    else:
        return encode_properties_bytes(properties, trailing_separator=trailing_separator)
    if len(data) > _MAX_INT16:
        raise LocalProtocolError(f"properties of {len(data)} bytes exceed {_MAX_INT16}")
    return data


def encode_batch(
    messages: Iterable[BatchMessage | BatchItem], *, trailing_separator: bool = False
) -> bytes:
    """Encode messages into a batch body with MAGICCODE and BODYCRC 0, as clients do.

    Args:
        messages: ``(body, flag, properties)`` tuples or :class:`BatchItem` objects (whose
            ``raw_properties`` are written as they are).
        trailing_separator: end properties given as a mapping with ``\\x02``; the default
            matches the Java 4.9.8 client.

    Raises:
        LocalProtocolError: properties too long or not encodable, a body over 2 GiB, or a flag
            outside int32.
    """
    out = bytearray()
    for index, message in enumerate(messages):
        if isinstance(message, BatchItem):
            body, flag, props = message.to_message()
        else:
            body, flag, props = message
        data = _properties_bytes(props, trailing_separator)
        size = _FIXED_LEN + len(body) + len(data)
        if size > _MAX_INT32:
            raise LocalProtocolError(f"batch message {index} of {size} bytes exceeds int32")
        try:
            out += _ITEM_HEAD.pack(size, 0, 0, flag, len(body))
        except struct.error as exc:
            raise LocalProtocolError(f"batch message {index}: field out of range: {exc}") from None
        out += body
        out += _INT16.pack(len(data))
        out += data
    return bytes(out)


def decode_batch(body: bytes | bytearray | memoryview) -> list[BatchItem]:
    """Decode a batch body into its inner messages.

    Raises:
        RemoteProtocolError: a truncated item, a TOTALSIZE that disagrees with the item's
            fields, a negative length, or properties that are not UTF-8; the message names the
            item's offset.
    """
    items: list[BatchItem] = []
    n = len(body)
    offset = 0
    while offset < n:
        if n - offset < _FIXED_LEN:
            raise RemoteProtocolError(
                f"truncated batch item at offset {offset}: {n - offset} bytes left"
            )
        size, magic, body_crc, flag, body_len = _ITEM_HEAD.unpack_from(body, offset)
        if size < _FIXED_LEN or size > n - offset:
            raise RemoteProtocolError(
                f"batch item at offset {offset}: TOTALSIZE {size} outside {_FIXED_LEN}.."
                f"{n - offset}"
            )
        end = offset + size
        pos = offset + _ITEM_HEAD.size
        if body_len < 0 or pos + body_len + 2 > end:
            raise RemoteProtocolError(
                f"batch item at offset {offset}: BODYLEN {body_len} runs past TOTALSIZE {size}"
            )
        item_body = bytes(body[pos : pos + body_len])
        pos += body_len
        (props_len,) = _INT16.unpack_from(body, pos)
        pos += 2
        if props_len < 0 or pos + props_len != end:
            raise RemoteProtocolError(
                f"batch item at offset {offset}: PROPERTIESLEN {props_len} disagrees with "
                f"TOTALSIZE {size}"
            )
        raw = bytes(body[pos:end])
        try:
            properties = decode_properties_bytes(raw)
        except RemoteProtocolError as exc:
            raise RemoteProtocolError(f"batch item at offset {offset}: {exc}") from None
        items.append(BatchItem(item_body, flag, properties, raw, magic, body_crc))
        offset = end
    return items


def join_batch_properties(item_properties: bytes, batch_properties: bytes) -> bytes:
    """The properties a 4.x broker stores for one inner message of a batch.

    The batch header's properties (already encoded, e.g. ``CLUSTER`` and ``WAIT``) are
    appended to the item's, with a ``\\x02`` between them unless the item's end with one
    (``CommitLog.MessageExtBatchEncoder``). The caller checks the 32767-byte limit.
    """
    if not item_properties or not batch_properties:
        return item_properties + batch_properties
    if item_properties.endswith(b"\x02"):
        return item_properties + batch_properties
    return item_properties + b"\x02" + batch_properties
