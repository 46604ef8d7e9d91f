"""``RemotingCommand``: the one message type of the Remoting protocol, and its frame codec.

A frame on the wire is::

    int32 length          = 4 + headerLen + bodyLen (everything after this field)
    int32 serType<<24 | headerLen
    header                JSON (serialize type 0) or the ROCKETMQ binary layout (type 1)
    body                  opaque bytes

Everything is big-endian. See ``protocol.md`` section 1.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from rocketmq_py.exceptions import LocalProtocolError, RemoteProtocolError
from rocketmq_py.protocol import _json
from rocketmq_py.protocol.codes import LanguageCode, MQVersion, ResponseCode, SerializeType

if TYPE_CHECKING:
    from rocketmq_py.protocol.headers._base import CommandHeader

__all__ = [
    "FLAG_ONEWAY",
    "FLAG_RESPONSE",
    "RemotingCommand",
    "decode_command",
    "ext_value_to_str",
]

FLAG_RESPONSE = 0b01
FLAG_ONEWAY = 0b10

_INT32 = struct.Struct(">i")
_FRAME_PREFIX = struct.Struct(">iI")
# code int16, language int8, version int16, opaque int32, flag int32, remark length int32
_BIN_FIXED = struct.Struct(">hbhiii")
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")

_INT16_MIN, _INT16_MAX = -(2**15), 2**15 - 1
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_MAX_HEADER_LEN = 0xFFFFFF
# The decoder's fast path: language names a JSON header carries, and the one value type of
# extFields it can take as is.
_LANGUAGES: dict[str, LanguageCode] = dict(LanguageCode.__members__)
# ... and the encoder's: the names by code (an enum's ``.name`` is a property call).
_LANGUAGE_NAMES: dict[int, str] = {code: code.name for code in LanguageCode}
_CURRENT_VERSION: int = MQVersion.CURRENT
_STR_ONLY = frozenset((str,))

H = TypeVar("H", bound="CommandHeader")


def ext_value_to_str(value: object, key: str = "?") -> str:
    """Coerce one extFields value to the string Java would see.

    ali-ons and the cpp client put JSON numbers and booleans in extFields; fastjson turns them
    into strings, so booleans become ``"true"``/``"false"`` and numbers their decimal text.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    raise RemoteProtocolError(
        f"extFields[{key!r}] has unsupported JSON type {type(value).__name__}: {value!r}"
    )


@dataclass(slots=True)
class RemotingCommand:
    """One request or response of the Remoting protocol.

    Attributes:
        code: request code for requests, response code for responses.
        language: sender's implementation language.
        version: sender's ``MQVersion`` ordinal.
        opaque: request id; a response carries its request's opaque.
        flag: bit 0 marks a response, bit 1 a oneway request.
        remark: free text (error explanation, pull status name); ``None`` when absent.
        ext_fields: the custom header as strings; ``None`` when absent.
        body: payload bytes; ``None`` when the frame has no body.
        serialize_type: header encoding; a response uses its request's.
    """

    code: int
    language: LanguageCode = LanguageCode.PYTHON
    version: int = MQVersion.CURRENT
    opaque: int = 0
    flag: int = 0
    remark: str | None = None
    ext_fields: dict[str, str] | None = None
    body: bytes | None = None
    serialize_type: SerializeType = field(default=SerializeType.JSON)

    # -- construction -----------------------------------------------------------------------

    @classmethod
    def request(
        cls,
        code: int,
        header: CommandHeader | Mapping[str, object] | None = None,
        body: bytes | None = None,
        *,
        oneway: bool = False,
        opaque: int = 0,
        serialize_type: SerializeType = SerializeType.JSON,
    ) -> RemotingCommand:
        """Build a request; ``header`` is a typed header or a plain mapping."""
        return cls(
            code=int(code),
            opaque=opaque,
            flag=FLAG_ONEWAY if oneway else 0,
            ext_fields=_ext_from(header),
            body=body,
            serialize_type=serialize_type,
        )

    def make_response(
        self,
        code: int = ResponseCode.SUCCESS,
        remark: str | None = None,
        header: CommandHeader | Mapping[str, object] | None = None,
        body: bytes | None = None,
        *,
        language: LanguageCode | None = None,
        version: int | None = None,
        ext_fields: dict[str, str] | None = None,
    ) -> RemotingCommand:
        """Build the response to this request: same opaque, same serialize type.

        ``ext_fields``, instead of ``header``, gives the extFields ready made (taken as they
        are: a hot path that builds them itself skips the header object).
        """
        # Positional (the fields in order): every request's answer is built here.
        return RemotingCommand(
            code if type(code) is int else int(code),
            LanguageCode.PYTHON if language is None else language,
            _CURRENT_VERSION if version is None else version,
            self.opaque,
            FLAG_RESPONSE,
            remark,
            _ext_from(header) if ext_fields is None else ext_fields,
            body,
            self.serialize_type,
        )

    # -- flags ------------------------------------------------------------------------------

    @property
    def is_response(self) -> bool:
        """True when the RESPONSE flag bit is set."""
        return bool(self.flag & FLAG_RESPONSE)

    @property
    def is_oneway(self) -> bool:
        """True for a oneway request: the receiver must not answer."""
        return bool(self.flag & FLAG_ONEWAY)

    @property
    def is_success(self) -> bool:
        """True for a response with code SUCCESS."""
        return self.is_response and self.code == ResponseCode.SUCCESS

    # -- headers ----------------------------------------------------------------------------

    def read_header(self, header_cls: type[H]) -> H:
        """Decode ``ext_fields`` into a typed header (raises ``RemoteProtocolError``)."""
        return header_cls.from_ext_fields(self.ext_fields)

    # -- encoding ---------------------------------------------------------------------------

    def encode_header(self) -> bytes:
        """Encode only the header, in this command's serialize type."""
        if self.serialize_type == SerializeType.ROCKETMQ:
            return self._encode_binary_header()
        return self._encode_json_header()

    def encode(self) -> bytes:
        """Encode the whole frame, length prefix included."""
        if self.serialize_type == SerializeType.ROCKETMQ:
            header = self._encode_binary_header()
        else:
            header = self._encode_json_header()
        body = self.body or b""
        if len(header) > _MAX_HEADER_LEN:
            raise LocalProtocolError(f"header of {len(header)} bytes exceeds the 24-bit limit")
        length = 4 + len(header) + len(body)
        if length > _INT32_MAX:
            raise LocalProtocolError(f"frame of {length} bytes exceeds the int32 length field")
        prefix = _FRAME_PREFIX.pack(length, (int(self.serialize_type) << 24) | len(header))
        return b"".join((prefix, header, body))

    def _encode_json_header(self) -> bytes:
        # Java (fastjson) writes the fields in alphabetical order and omits nulls; we do too so
        # that our frames look like a Java peer's.
        obj: dict[str, Any] = {"code": self.code}
        if self.ext_fields is not None:
            obj["extFields"] = self.ext_fields
        obj["flag"] = self.flag
        name = _LANGUAGE_NAMES.get(self.language)
        obj["language"] = self.language.name if name is None else name
        obj["opaque"] = self.opaque
        if self.remark is not None:
            obj["remark"] = self.remark
        obj["serializeTypeCurrentRPC"] = "JSON"
        obj["version"] = self.version
        try:
            return _json.dumps(obj)
        except (TypeError, ValueError, OverflowError) as exc:
            raise LocalProtocolError(f"cannot encode JSON header: {exc}") from exc

    def _encode_binary_header(self) -> bytes:
        for name, value, lo, hi in (
            ("code", self.code, _INT16_MIN, _INT16_MAX),
            ("version", self.version, _INT16_MIN, _INT16_MAX),
            ("opaque", self.opaque, _INT32_MIN, _INT32_MAX),
            ("flag", self.flag, _INT32_MIN, _INT32_MAX),
        ):
            if not lo <= value <= hi:
                raise LocalProtocolError(
                    f"{name}={value} does not fit the ROCKETMQ binary header ({lo}..{hi})"
                )
        remark = self.remark.encode() if self.remark is not None else b""
        parts = [
            _BIN_FIXED.pack(
                self.code, int(self.language), self.version, self.opaque, self.flag, len(remark)
            ),
            remark,
        ]
        ext = bytearray()
        if self.ext_fields:
            # Java skips null keys and values; the annotation keeps that guard for callers that
            # put None in ext_fields despite the type (and stops mypy calling it unreachable).
            entries: Iterable[tuple[str | None, str | None]] = self.ext_fields.items()
            for ext_key, ext_value in entries:
                if ext_key is None or ext_value is None:
                    continue
                k = ext_key.encode()
                v = ext_value.encode()
                if len(k) > 0xFFFF:
                    raise LocalProtocolError(f"extFields key of {len(k)} bytes exceeds 65535")
                ext += _U16.pack(len(k))
                ext += k
                ext += _U32.pack(len(v))
                ext += v
        parts.append(_U32.pack(len(ext)))
        parts.append(bytes(ext))
        return b"".join(parts)


def _ext_from(header: CommandHeader | Mapping[str, object] | None) -> dict[str, str] | None:
    if header is None:
        return None
    if isinstance(header, Mapping):
        return {str(k): ext_value_to_str(v, str(k)) for k, v in header.items() if v is not None}
    return header.to_ext_fields()


# -- decoding ------------------------------------------------------------------------------


def decode_command(
    serialize_type: int, header: bytes | bytearray | memoryview, body: bytes | None
) -> RemotingCommand:
    """Decode one frame's header and attach its body.

    Raises:
        RemoteProtocolError: the header is malformed; the message says what was wrong.
    """
    if serialize_type == SerializeType.JSON:
        return _decode_json_header(header, body)
    if serialize_type == SerializeType.ROCKETMQ:
        return _decode_binary_header(header, body)
    raise RemoteProtocolError(f"unknown serialize type {serialize_type} (expected 0 or 1)")


def _json_int(obj: Mapping[str, Any], key: str, default: int | None, lo: int, hi: int) -> int:
    value = obj.get(key, default)
    if value is None:
        if default is None:
            raise RemoteProtocolError(f"JSON header lacks required field {key!r}")
        return default
    if isinstance(value, str):
        # fastjson tolerates numeric strings; so do we.
        try:
            value = int(value)
        except ValueError:
            raise RemoteProtocolError(
                f"JSON header field {key!r} is not an integer: {value!r}"
            ) from None
    if isinstance(value, bool) or not isinstance(value, int):
        raise RemoteProtocolError(f"JSON header field {key!r} is not an integer: {value!r}")
    if not lo <= value <= hi:
        raise RemoteProtocolError(f"JSON header field {key!r} out of range: {value}")
    return value


def _decode_json_header(
    header: bytes | bytearray | memoryview, body: bytes | None
) -> RemotingCommand:
    try:
        obj = _json.loads(header)
    except _json.JSONDecodeError as exc:
        raise RemoteProtocolError(f"header is not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise RemoteProtocolError(f"JSON header is a {type(obj).__name__}, expected an object")
    # Fast path, every header a client sends: int numbers in range, string extFields values,
    # a known language. The general path below takes anything else (and raises the errors).
    get = obj.get
    code = get("code")
    version = get("version", 0)
    opaque = get("opaque", 0)
    flag = get("flag", 0)
    remark = get("remark")
    raw_ext = get("extFields")
    name = get("language", "JAVA")
    language = _LANGUAGES.get(name) if type(name) is str else None
    if (
        type(code) is int
        and type(version) is int
        and type(opaque) is int
        and type(flag) is int
        # int32 bounds as literals: constants, not four global lookups per frame
        and -2147483648 <= code <= 2147483647
        and -2147483648 <= version <= 2147483647
        and -2147483648 <= opaque <= 2147483647
        and -2147483648 <= flag <= 2147483647
        and (remark is None or type(remark) is str)
        and language is not None
        # extFields, if any, a dict of strings only (then taken as they are)
        and (
            raw_ext is None
            or (type(raw_ext) is dict and _STR_ONLY.issuperset(map(type, raw_ext.values())))
        )
    ):
        return RemotingCommand(code, language, version, opaque, flag, remark, raw_ext, body)
    return _decode_json_object(obj, body)


def _decode_json_object(obj: dict[str, Any], body: bytes | None) -> RemotingCommand:
    """Decode a parsed JSON header field by field, coercing what fastjson would coerce."""
    code = _json_int(obj, "code", None, _INT32_MIN, _INT32_MAX)
    remark = obj.get("remark")
    if remark is not None and not isinstance(remark, str):
        raise RemoteProtocolError(f"JSON header field 'remark' is not a string: {remark!r}")
    raw_ext = obj.get("extFields")
    ext: dict[str, str] | None
    if raw_ext is None:
        ext = None
    elif isinstance(raw_ext, dict):
        ext = {k: ext_value_to_str(v, k) for k, v in raw_ext.items() if v is not None}
    else:
        raise RemoteProtocolError(f"JSON header field 'extFields' is not an object: {raw_ext!r}")
    return RemotingCommand(
        code=code,
        language=LanguageCode.parse(obj.get("language", "JAVA")),
        version=_json_int(obj, "version", 0, _INT32_MIN, _INT32_MAX),
        opaque=_json_int(obj, "opaque", 0, _INT32_MIN, _INT32_MAX),
        flag=_json_int(obj, "flag", 0, _INT32_MIN, _INT32_MAX),
        remark=remark,
        ext_fields=ext,
        body=body,
        serialize_type=SerializeType.JSON,
    )


def _decode_binary_header(
    header: bytes | bytearray | memoryview, body: bytes | None
) -> RemotingCommand:
    buf = memoryview(header)
    n = len(buf)
    if n < _BIN_FIXED.size + 4:
        raise RemoteProtocolError(f"binary header of {n} bytes is shorter than the fixed 21 bytes")
    code, language, version, opaque, flag, remark_len = _BIN_FIXED.unpack_from(buf, 0)
    pos = _BIN_FIXED.size
    if remark_len < 0 or pos + remark_len + 4 > n:
        raise RemoteProtocolError(f"binary header remark length {remark_len} runs past the header")
    try:
        remark = bytes(buf[pos : pos + remark_len]).decode() if remark_len else None
        pos += remark_len
        (ext_len,) = _U32.unpack_from(buf, pos)
        pos += 4
        if pos + ext_len != n:
            raise RemoteProtocolError(
                f"binary header extFields length {ext_len} does not match the {n - pos} bytes left"
            )
        ext: dict[str, str] | None = None
        if ext_len:
            ext = {}
            while pos < n:
                if pos + 2 > n:
                    raise RemoteProtocolError(
                        "binary header extFields entry truncated in key length"
                    )
                (klen,) = _U16.unpack_from(buf, pos)
                pos += 2
                if pos + klen + 4 > n:
                    raise RemoteProtocolError(
                        f"binary header extFields key length {klen} runs past the header"
                    )
                key = bytes(buf[pos : pos + klen]).decode()
                pos += klen
                (vlen,) = _U32.unpack_from(buf, pos)
                pos += 4
                if pos + vlen > n:
                    raise RemoteProtocolError(
                        f"binary header extFields value length {vlen} for {key!r} runs past the end"
                    )
                if vlen:
                    ext[key] = bytes(buf[pos : pos + vlen]).decode()
                pos += vlen
    except UnicodeDecodeError as exc:
        raise RemoteProtocolError(f"binary header holds invalid UTF-8: {exc}") from None
    return RemotingCommand(
        code=code,
        language=LanguageCode.parse(language),
        version=version,
        opaque=opaque,
        flag=flag,
        remark=remark,
        ext_fields=ext,
        body=body,
        serialize_type=SerializeType.ROCKETMQ,
    )
