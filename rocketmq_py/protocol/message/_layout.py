"""The byte layout of a stored message record, shared by ``record`` and ``record_reader``."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Final, Union

if TYPE_CHECKING:
    from mmap import mmap

MAGIC_CODE_V1: Final = 0xDAA320A7
MAGIC_CODE_V2: Final = 0xDAA320AB
BLANK_MAGIC_CODE: Final = 0xCBD43194
END_FILE_MIN_BLANK_LENGTH: Final = 8
"""A record is appended only if ``size + 8`` bytes remain; otherwise the file ends in a blank."""

QUEUE_OFFSET_POSITION: Final = 20
PHYSICAL_OFFSET_POSITION: Final = 28
SYS_FLAG_POSITION: Final = 36
BORN_TIMESTAMP_POSITION: Final = 40

WritableBuffer = Union[bytearray, memoryview, "mmap"]
ReadableBuffer = Union[bytes, bytearray, memoryview, "mmap"]

MAX_V1_TOPIC_LEN: Final = 127
MAX_INT16: Final = 32767
MAX_INT32: Final = 2**31 - 1

SIZE_MAGIC: Final = struct.Struct(">iI")
INT32: Final = struct.Struct(">i")
UINT16: Final = struct.Struct(">H")
INT16: Final = struct.Struct(">h")

# Fixed part up to and including BODYLEN, one layout per (born v6, store v6); indexed by
# (sysFlag >> 4) & 3, the two host bits.
PREFIX: Final = ">iIiiiqqiq"


def _fixed(born_v6: bool, store_v6: bool) -> struct.Struct:
    born = "16s" if born_v6 else "4s"
    store = "16s" if store_v6 else "4s"
    return struct.Struct(f"{PREFIX}{born}iq{store}iiqi")


FIXED: Final = (_fixed(False, False), _fixed(True, False), _fixed(False, True), _fixed(True, True))
MIN_RECORD_SIZE: Final = FIXED[0].size + 1 + 2  # V1, IPv4 hosts, empty body/topic/properties
