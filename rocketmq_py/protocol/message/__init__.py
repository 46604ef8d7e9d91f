"""Message encoding: properties, sysflags, hashes, stored records, batches, ids, compression.

Everything a client or broker needs to turn messages into the bytes of ``protocol.md`` section 4
and back, with the standard property names of section 5. Pure functions over bytes: no I/O,
clocks or process state (times, pids and addresses are arguments).

Modules:

* ``properties``: the ``name\\x01value\\x02`` string and :class:`MessageConst`.
* ``sysflag``: :class:`MessageSysFlag`, :class:`PullSysFlag`, :class:`TopicSysFlag`,
  :class:`PermName`.
* ``hashing``: Java ``String.hashCode``, tag and index hashes, CRC32, ``HashMap`` order.
* ``record``: :class:`MessageRecord` and building commitlog records; ``record_reader``
  decodes them.
* ``batch``: batch-send bodies.
* ``msgid``: offset message ids and unique (``UNIQ_KEY``) ids.
* ``compression``: zlib bodies per the sysFlag compression bits.
"""

from __future__ import annotations

from rocketmq_py.protocol.message.batch import (
    BatchItem,
    BatchMessage,
    decode_batch,
    encode_batch,
    join_batch_properties,
)
from rocketmq_py.protocol.message.compression import (
    COMPRESS_MSG_BODY_OVER_HOWMUCH,
    DEFAULT_COMPRESS_LEVEL,
    compress,
    compress_body,
    decompress,
    decompress_body,
)
from rocketmq_py.protocol.message.hashing import (
    crc32,
    index_key_hash,
    java_hash_map_order,
    java_string_hash,
    tags_hash,
)
from rocketmq_py.protocol.message.msgid import (
    UniqueIdGenerator,
    UniqueIdParts,
    decode_offset_msg_id,
    decode_unique_id,
    encode_offset_msg_id,
    ip_to_bytes,
    ip_to_str,
)
from rocketmq_py.protocol.message.properties import (
    KEY_SEPARATOR,
    NAME_VALUE_SEPARATOR,
    PROPERTY_SEPARATOR,
    SYSTEM_PROPERTY_KEYS,
    MessageConst,
    decode_properties,
    decode_properties_bytes,
    encode_properties,
    encode_properties_bytes,
)
from rocketmq_py.protocol.message.record import (
    BLANK_MAGIC_CODE,
    BORN_TIMESTAMP_POSITION,
    END_FILE_MIN_BLANK_LENGTH,
    MAGIC_CODE_V1,
    MAGIC_CODE_V2,
    PHYSICAL_OFFSET_POSITION,
    QUEUE_OFFSET_POSITION,
    SYS_FLAG_POSITION,
    MessageRecord,
    encode_blank,
    encode_record,
    pack_blank_into,
    pack_record_into,
    record_size,
)
from rocketmq_py.protocol.message.record_reader import (
    decode_record,
    is_blank,
    iter_records,
    read_record_header,
)
from rocketmq_py.protocol.message.sysflag import (
    CompressionType,
    MessageSysFlag,
    PermName,
    PullSysFlag,
    TopicSysFlag,
)

__all__ = [
    "BLANK_MAGIC_CODE",
    "BORN_TIMESTAMP_POSITION",
    "COMPRESS_MSG_BODY_OVER_HOWMUCH",
    "DEFAULT_COMPRESS_LEVEL",
    "END_FILE_MIN_BLANK_LENGTH",
    "KEY_SEPARATOR",
    "MAGIC_CODE_V1",
    "MAGIC_CODE_V2",
    "NAME_VALUE_SEPARATOR",
    "PHYSICAL_OFFSET_POSITION",
    "PROPERTY_SEPARATOR",
    "QUEUE_OFFSET_POSITION",
    "SYSTEM_PROPERTY_KEYS",
    "SYS_FLAG_POSITION",
    "BatchItem",
    "BatchMessage",
    "CompressionType",
    "MessageConst",
    "MessageRecord",
    "MessageSysFlag",
    "PermName",
    "PullSysFlag",
    "TopicSysFlag",
    "UniqueIdGenerator",
    "UniqueIdParts",
    "compress",
    "compress_body",
    "crc32",
    "decode_batch",
    "decode_offset_msg_id",
    "decode_properties",
    "decode_properties_bytes",
    "decode_record",
    "decode_unique_id",
    "decompress",
    "decompress_body",
    "encode_batch",
    "encode_blank",
    "encode_offset_msg_id",
    "encode_properties",
    "encode_properties_bytes",
    "encode_record",
    "index_key_hash",
    "ip_to_bytes",
    "ip_to_str",
    "is_blank",
    "iter_records",
    "java_hash_map_order",
    "java_string_hash",
    "join_batch_properties",
    "pack_blank_into",
    "pack_record_into",
    "read_record_header",
    "record_size",
    "tags_hash",
]
