"""Message body compression as the sysFlag describes it.

A compressed body has ``COMPRESSED_FLAG`` (0x1) set; Java 5.x also writes the type into bits
8-10 (``0x301`` for zlib). Older clients leave those bits 0, which means zlib. Only zlib is in
the standard library: LZ4 and ZSTD bodies raise a clear error instead of being misread. The
broker never compresses or decompresses; it stores the bytes it was sent.

See ``protocol.md`` section 4.6.
"""

from __future__ import annotations

import zlib
from typing import Final

from rocketmq_py.exceptions import LocalProtocolError, RemoteProtocolError
from rocketmq_py.protocol.message.sysflag import CompressionType, MessageSysFlag

__all__ = [
    "COMPRESS_MSG_BODY_OVER_HOWMUCH",
    "DEFAULT_COMPRESS_LEVEL",
    "compress",
    "compress_body",
    "decompress",
    "decompress_body",
]

DEFAULT_COMPRESS_LEVEL: Final = 5
"""Java's ``rocketmq.message.compressLevel`` default."""
COMPRESS_MSG_BODY_OVER_HOWMUCH: Final = 4096
"""Java producers compress single-message bodies of at least this many bytes."""


def _type_name(value: int) -> str:
    try:
        return CompressionType(value).name
    except ValueError:
        return str(value)


def compress(data: bytes, level: int = DEFAULT_COMPRESS_LEVEL) -> bytes:
    """Compress ``data`` into a zlib stream (what ``java.util.zip.Deflater`` writes)."""
    return zlib.compress(data, level)


def decompress(
    data: bytes | bytearray | memoryview, sys_flag: int = 0, *, max_size: int | None = None
) -> bytes:
    """Decompress a body with the algorithm named by ``sys_flag`` bits 8-10.

    ``COMPRESSED_FLAG`` itself is not checked: call this only for compressed bodies.

    Args:
        data: the compressed body.
        sys_flag: the message sysFlag; type bits 0 (pre-5.x clients) or 3 mean zlib.
        max_size: refuse to inflate beyond this many bytes (Java has no limit).

    Raises:
        RemoteProtocolError: an unsupported type (LZ4, ZSTD, unknown), a broken zlib stream,
            or output beyond ``max_size``.
    """
    kind = MessageSysFlag.get_compression_type(sys_flag)
    if kind not in (0, CompressionType.ZLIB):
        raise RemoteProtocolError(f"unsupported compression type {_type_name(kind)}")
    inflater = zlib.decompressobj()
    try:
        if max_size is None:
            out = inflater.decompress(data)
        else:
            out = inflater.decompress(data, max_size + 1)
            if len(out) > max_size:
                raise RemoteProtocolError(
                    f"compressed body inflates beyond the {max_size}-byte limit"
                )
        out += inflater.flush()
    except zlib.error as exc:
        raise RemoteProtocolError(f"body is not a valid zlib stream: {exc}") from None
    if not inflater.eof:
        raise RemoteProtocolError("body is a truncated zlib stream")
    return out


def compress_body(
    body: bytes,
    sys_flag: int,
    *,
    level: int = DEFAULT_COMPRESS_LEVEL,
    compression_type: CompressionType = CompressionType.ZLIB,
    write_type_bits: bool = True,
) -> tuple[bytes, int]:
    """Compress a body and return it with the sysFlag that describes it.

    Args:
        body: the plain body.
        sys_flag: the message's sysFlag before compression.
        level: zlib level.
        compression_type: only ``ZLIB`` is available.
        write_type_bits: set bits 8-10 as Java 5.x does (``0x301``); ``False`` sets only
            ``COMPRESSED_FLAG`` as Java 4.x and Go do.

    Raises:
        LocalProtocolError: ``compression_type`` is not ``ZLIB``.
    """
    if compression_type != CompressionType.ZLIB:
        raise LocalProtocolError(f"unsupported compression type {_type_name(compression_type)}")
    flag = sys_flag | MessageSysFlag.COMPRESSED_FLAG
    if write_type_bits:
        flag = MessageSysFlag.set_compression_type(flag, compression_type)
    return compress(body, level), flag


def decompress_body(
    body: bytes | bytearray | memoryview, sys_flag: int, *, max_size: int | None = None
) -> tuple[bytes, int]:
    """Undo :func:`compress_body`: the plain body and the sysFlag without ``COMPRESSED_FLAG``.

    A body without ``COMPRESSED_FLAG`` is returned as it is.

    Raises:
        RemoteProtocolError: as :func:`decompress`.
    """
    if not sys_flag & MessageSysFlag.COMPRESSED_FLAG:
        return bytes(body), sys_flag
    plain = decompress(body, sys_flag, max_size=max_size)
    return plain, MessageSysFlag.clear_compressed_flag(sys_flag)
