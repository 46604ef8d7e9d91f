"""REGISTER_BROKER bodies: a broker's topic table, as JSON or deflated (``protocol.md`` 3.9).

Field names on the wire are Java's; Python attributes are their snake_case. Optional fields
that only 5.x sends (``stateVersion``, ``attributes``, the static-topic mappings) are ``None``
when absent, so a 4.9 body decodes and re-encodes to the same bytes.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

from rocketmq_py.exceptions import RemoteProtocolError
from rocketmq_py.protocol import fastjson
from rocketmq_py.protocol.bodies._base import (
    Fields,
    JSONBody,
    as_bool,
    as_int,
    as_json,
    as_str,
    dict_of,
    list_of,
    sorted_object,
)
from rocketmq_py.protocol.codes import MQVersion

__all__ = [
    "MAX_INFLATED_REGISTER_BODY",
    "DataVersion",
    "RegisterBrokerBody",
    "TopicConfig",
    "TopicConfigSerializeWrapper",
]

_INT32 = struct.Struct(">i")
#: Largest inflated REGISTER_BROKER body accepted (a zlib bomb guard; 100k topics need ~10 MiB).
MAX_INFLATED_REGISTER_BODY = 64 * 1024 * 1024


@dataclass(slots=True)
class DataVersion(JSONBody):
    """Version stamp of a broker's topic configuration (``DataVersion``).

    Attributes:
        counter: bumped on every change.
        timestamp: milliseconds since the epoch of the last change.
        state_version: 5.x only; ``None`` when absent (4.x).
    """

    counter: int
    timestamp: int
    state_version: int | None = None

    def to_json_value(self) -> dict[str, Any]:
        """``{"counter":..,"stateVersion":..,"timestamp":..}``."""
        return sorted_object(
            counter=self.counter, stateVersion=self.state_version, timestamp=self.timestamp
        )

    @classmethod
    def from_json_value(cls, value: object, where: str = "") -> DataVersion:
        """Decode; missing counter or timestamp read as 0."""
        f = Fields(value, where or cls.__name__)
        return cls(
            counter=f.get("counter", as_int, 0),
            timestamp=f.get("timestamp", as_int, 0),
            state_version=f.optional("stateVersion", as_int),
        )


@dataclass(slots=True)
class TopicConfig(JSONBody):
    """One topic's configuration on one broker (``TopicConfig``); defaults are Java's.

    Attributes:
        topic_name: the topic.
        read_queue_nums: queues consumers read.
        write_queue_nums: queues producers write.
        perm: permission bits (2 write, 4 read, 1 inherit).
        topic_filter_type: ``"SINGLE_TAG"`` or ``"MULTI_TAG"``.
        topic_sys_flag: TopicSysFlag bits.
        order: whether the topic is ordered.
        attributes: 5.x topic attributes; ``None`` when absent (4.x).
    """

    topic_name: str
    read_queue_nums: int = 16
    write_queue_nums: int = 16
    perm: int = 6
    topic_filter_type: str = "SINGLE_TAG"
    topic_sys_flag: int = 0
    order: bool = False
    attributes: dict[str, str] | None = None

    def to_json_value(self) -> dict[str, Any]:
        """The JSON object, fields in name order."""
        return sorted_object(
            attributes=self.attributes,
            order=self.order,
            perm=self.perm,
            readQueueNums=self.read_queue_nums,
            topicFilterType=self.topic_filter_type,
            topicName=self.topic_name,
            topicSysFlag=self.topic_sys_flag,
            writeQueueNums=self.write_queue_nums,
        )

    @classmethod
    def from_json_value(cls, value: object, where: str = "") -> TopicConfig:
        """Decode; fields left out take Java's defaults."""
        f = Fields(value, where or cls.__name__)
        return cls(
            topic_name=f.required("topicName", as_str),
            read_queue_nums=f.get("readQueueNums", as_int, 16),
            write_queue_nums=f.get("writeQueueNums", as_int, 16),
            perm=f.get("perm", as_int, 6),
            topic_filter_type=f.get("topicFilterType", as_str, "SINGLE_TAG"),
            topic_sys_flag=f.get("topicSysFlag", as_int, 0),
            order=f.get("order", as_bool, False),
            attributes=f.optional("attributes", dict_of(as_str, as_str)),
        )

    def encode(self, *, with_attributes: bool = True) -> str:
        """The space-separated text of compressed REGISTER_BROKER bodies (``TopicConfig.encode``).

        ``"name read write perm FILTER_TYPE"``, plus the attributes JSON as a sixth field when
        ``attributes`` is set and ``with_attributes`` is true (5.x). A 4.x name server accepts
        exactly five fields, so pass ``with_attributes=False`` for it. ``topic_sys_flag`` and
        ``order`` are not part of this form.
        """
        text = (
            f"{self.topic_name} {self.read_queue_nums} {self.write_queue_nums} "
            f"{self.perm} {self.topic_filter_type}"
        )
        if with_attributes and self.attributes is not None:
            text += " " + fastjson.dumps(self.attributes).decode()
        return text

    @classmethod
    def decode(cls, text: str) -> TopicConfig:
        """Parse the :meth:`encode` form.

        As in Java, attributes that do not parse are ignored (they are advisory).

        Raises:
            RemoteProtocolError: fewer than five fields, or a number that does not parse.
        """
        parts = text.split(" ", 5)
        if len(parts) < 5:
            raise RemoteProtocolError(f"TopicConfig text needs 5 space-separated fields: {text!r}")
        name = parts[0]
        where = f"TopicConfig({name!r})"
        attributes: dict[str, str] | None = None
        if len(parts) == 6 and parts[5]:
            try:
                attributes = dict_of(as_str, as_str)(fastjson.loads(parts[5]), where)
            except RemoteProtocolError:
                attributes = None
        return cls(
            topic_name=name,
            read_queue_nums=as_int(parts[1], f"{where}.readQueueNums"),
            write_queue_nums=as_int(parts[2], f"{where}.writeQueueNums"),
            perm=as_int(parts[3], f"{where}.perm"),
            topic_filter_type=parts[4],
            attributes=attributes,
        )


def _zero_version() -> DataVersion:
    return DataVersion(counter=0, timestamp=0)


@dataclass(slots=True)
class TopicConfigSerializeWrapper(JSONBody):
    """A broker's topic table with its version (``TopicConfig(AndMapping)SerializeWrapper``).

    The three ``mapping``/``topic_queue_mapping`` fields are 5.x static-topic data, carried
    as decoded JSON without interpretation; ``None`` when absent.
    """

    data_version: DataVersion = field(default_factory=_zero_version)
    topic_config_table: dict[str, TopicConfig] = field(default_factory=dict)
    mapping_data_version: DataVersion | None = None
    topic_queue_mapping_info_map: dict[str, Any] | None = None
    topic_queue_mapping_detail_map: dict[str, Any] | None = None

    def to_json_value(self) -> dict[str, Any]:
        """The JSON object; the topic table keeps its order."""
        mapping_version = self.mapping_data_version
        return sorted_object(
            dataVersion=self.data_version.to_json_value(),
            mappingDataVersion=mapping_version.to_json_value() if mapping_version else None,
            topicConfigTable={k: v.to_json_value() for k, v in self.topic_config_table.items()},
            topicQueueMappingDetailMap=self.topic_queue_mapping_detail_map,
            topicQueueMappingInfoMap=self.topic_queue_mapping_info_map,
        )

    @classmethod
    def from_json_value(cls, value: object, where: str = "") -> TopicConfigSerializeWrapper:
        """Decode the wrapper."""
        f = Fields(value, where or cls.__name__)
        return cls(
            data_version=f.get("dataVersion", DataVersion.from_json_value, _zero_version()),
            topic_config_table=f.get(
                "topicConfigTable", dict_of(as_str, TopicConfig.from_json_value), {}
            ),
            mapping_data_version=f.optional("mappingDataVersion", DataVersion.from_json_value),
            topic_queue_mapping_info_map=f.optional(
                "topicQueueMappingInfoMap", dict_of(as_str, as_json)
            ),
            topic_queue_mapping_detail_map=f.optional(
                "topicQueueMappingDetailMap", dict_of(as_str, as_json)
            ),
        )


class _Inflated:
    """Reads the length-prefixed parts of an inflated compressed register body."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def int32(self, what: str) -> int:
        if self.pos + 4 > len(self.data):
            raise RemoteProtocolError(f"compressed RegisterBrokerBody truncated before {what}")
        (value,) = _INT32.unpack_from(self.data, self.pos)
        self.pos += 4
        return int(value)

    def chunk(self, what: str) -> bytes:
        size = self.int32(f"the length of {what}")
        if size < 0 or self.pos + size > len(self.data):
            raise RemoteProtocolError(
                f"compressed RegisterBrokerBody: {what} of {size} bytes overruns the body"
            )
        self.pos += size
        return self.data[self.pos - size : self.pos]


def _inflate(body: bytes) -> bytes:
    inflater = zlib.decompressobj()
    try:
        data = inflater.decompress(body, MAX_INFLATED_REGISTER_BODY + 1)
    except zlib.error as exc:
        raise RemoteProtocolError(
            f"compressed RegisterBrokerBody does not inflate: {exc}"
        ) from None
    if len(data) > MAX_INFLATED_REGISTER_BODY:
        raise RemoteProtocolError(
            f"compressed RegisterBrokerBody inflates beyond {MAX_INFLATED_REGISTER_BODY} bytes"
        )
    return data


@dataclass(slots=True)
class RegisterBrokerBody(JSONBody):
    """REGISTER_BROKER request body: the broker's topics and filter servers.

    On the wire it is either JSON or (``compressedRegister`` brokers) a zlib stream of
    length-prefixed parts. Java brokers send ``compressed=false`` in the header either way, so
    :meth:`decode` looks at the bytes.
    """

    topic_config_serialize_wrapper: TopicConfigSerializeWrapper = field(
        default_factory=TopicConfigSerializeWrapper
    )
    filter_server_list: list[str] = field(default_factory=list)

    def to_json_value(self) -> dict[str, Any]:
        """The JSON form."""
        return sorted_object(
            filterServerList=list(self.filter_server_list),
            topicConfigSerializeWrapper=self.topic_config_serialize_wrapper.to_json_value(),
        )

    @classmethod
    def from_json_value(cls, value: object, where: str = "") -> RegisterBrokerBody:
        """Decode the JSON form."""
        f = Fields(value, where or cls.__name__)
        return cls(
            topic_config_serialize_wrapper=f.get(
                "topicConfigSerializeWrapper",
                TopicConfigSerializeWrapper.from_json_value,
                TopicConfigSerializeWrapper(),
            ),
            filter_server_list=f.get("filterServerList", list_of(as_str), []),
        )

    @staticmethod
    def is_compressed(body: bytes) -> bool:
        """Whether ``body`` is a zlib stream rather than JSON.

        A zlib header is a CMF byte with method 8 and a window of at most 32 KiB, followed by a
        FLG byte making the pair a multiple of 31; ``{`` (0x7B) can never be such a CMF byte.
        """
        return (
            len(body) >= 2
            and body[0] & 0x0F == 8
            and body[0] >> 4 <= 7
            and ((body[0] << 8) | body[1]) % 31 == 0
        )

    def encode(self, compress: bool, broker_version: int) -> bytes:
        """Encode as a broker of ``broker_version`` would (``RegisterBrokerBody.encode``).

        Args:
            compress: write the deflated binary form instead of JSON.
            broker_version: the ``MQVersion`` ordinal sent in the request header; from V5_0_0
                the compressed form carries topic attributes and the static-topic mapping list.
        """
        if not compress:
            return self.to_json()
        v5 = broker_version >= MQVersion.V5_0_0
        wrapper = self.topic_config_serialize_wrapper
        out = bytearray()

        def put(chunk: bytes) -> None:
            out.extend(_INT32.pack(len(chunk)))
            out.extend(chunk)

        put(wrapper.data_version.to_json())
        out.extend(_INT32.pack(len(wrapper.topic_config_table)))
        for config in wrapper.topic_config_table.values():
            put(config.encode(with_attributes=v5).encode())
        put(fastjson.dumps(list(self.filter_server_list)))
        if v5:
            infos = wrapper.topic_queue_mapping_info_map or {}
            out.extend(_INT32.pack(len(infos)))
            for info in infos.values():
                put(fastjson.dumps(info))
        return zlib.compress(bytes(out), 9)  # Java: Deflater.BEST_COMPRESSION

    @classmethod
    def decode(cls, body: bytes, broker_version: int) -> RegisterBrokerBody:
        """Decode a REGISTER_BROKER body in either form, telling them apart by content.

        Args:
            body: the request body.
            broker_version: the request's ``version``; from V5_0_0 a compressed body ends with
                the static-topic mapping list.

        Raises:
            RemoteProtocolError: the body is neither valid JSON nor a valid compressed body.
        """
        if not cls.is_compressed(body):
            return cls.from_json(body)
        reader = _Inflated(_inflate(body))
        data_version = DataVersion.from_json(reader.chunk("the DataVersion"))
        table: dict[str, TopicConfig] = {}
        for index in range(reader.int32("the topic count")):
            text = reader.chunk(f"topic config #{index}").decode("utf-8", "replace")
            config = TopicConfig.decode(text)
            table[config.topic_name] = config
        servers_json = reader.chunk("the filter server list")
        try:
            servers = list_of(as_str)(fastjson.loads(servers_json), "filterServerList")
        except RemoteProtocolError:
            servers = []  # Java logs and carries on with an empty list
        wrapper = TopicConfigSerializeWrapper(data_version=data_version, topic_config_table=table)
        if broker_version >= MQVersion.V5_0_0:
            infos: dict[str, Any] = {}
            for index in range(reader.int32("the topic queue mapping count")):
                where = f"topicQueueMappingInfo #{index}"
                info = Fields(fastjson.loads(reader.chunk(where)), where)
                infos[info.required("topic", as_str)] = info.obj
            wrapper.topic_queue_mapping_info_map = infos
        return cls(topic_config_serialize_wrapper=wrapper, filter_server_list=servers)
