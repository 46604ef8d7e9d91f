"""Read and write JSON the way Java's fastjson does (``protocol.md`` 3.12).

Java RocketMQ serialises its bodies with fastjson, whose output is often not JSON:

* maps with integer keys are written with bare keys: ``{"brokerAddrs":{0:"10.0.0.1:10911"}}``;
* maps keyed by a bean are written with a JSON object as the key:
  ``{"offsetTable":{{"brokerName":"b","queueId":0,"topic":"T"}:{...}}}``;
* fastjson's parser also accepts single-quoted strings, unquoted identifier keys, stray
  trailing commas and number suffixes (``1L``), and may emit ``{"$ref":"$.path"}`` objects.

:func:`loads` accepts all of that. Valid JSON goes through the strict (C speed) reader of
:mod:`rocketmq_py.protocol._json`; only when that fails does the hand-written reader here run.
That reader is iterative, so hostile nesting cannot exhaust the Python stack; it stops at
:data:`MAX_DEPTH` (and at :data:`MAX_KEY_DEPTH` inside a key). What it returns:

* a bare number key is returned as an ``int`` (or ``float``), a quoted one stays a ``str``:
  callers that want integer keys convert ``"0"`` themselves;
* an object used as a key becomes an :class:`ObjectKey`, an array used as a key a ``tuple``
  (dict keys must be hashable);
* ``{"$ref": ...}`` objects are returned as the plain dicts they are.

:func:`dumps` writes compact fastjson-style JSON: keys in the order given (callers sort them
when they want fastjson's alphabetical field order), integer keys bare unless asked otherwise,
object keys as JSON objects, non-ASCII as raw UTF-8. ``standard=True`` writes strict JSON
instead, quoting every non-string key the way fastjson's ``WriteNonStringKeyAsString`` does.
"""

from __future__ import annotations

import base64
import decimal
import enum
import json.encoder
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from rocketmq_py.exceptions import LocalProtocolError, RemoteProtocolError
from rocketmq_py.protocol import _json

__all__ = ["MAX_DEPTH", "MAX_KEY_DEPTH", "ObjectKey", "dumps", "loads"]

#: Deepest nesting of objects and arrays that :func:`loads` and :func:`dumps` accept.
MAX_DEPTH = 512
#: Deepest nesting inside an object or array used as a map key (a MessageQueue key needs 1).
MAX_KEY_DEPTH = 32


def _freeze(value: Any) -> Any:
    """Make a decoded value hashable: dicts become ObjectKeys and lists tuples, recursively."""
    if isinstance(value, dict):
        return ObjectKey(value)
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


def _thaw(value: Any) -> Any:
    """Undo :func:`_freeze`."""
    if isinstance(value, ObjectKey):
        return value.to_dict()
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


def _key_order(item: tuple[Any, Any]) -> tuple[bool, str]:
    # Field names are strings and sort like Java's String.compareTo; anything else (a bare
    # number key inside an object key) sorts after them by its text, so mixed keys never compare.
    key = item[0]
    return (not isinstance(key, str), key if isinstance(key, str) else repr(key))


class ObjectKey:
    """A JSON object used as a map key, frozen so that it can be a Python dict key.

    fastjson writes maps keyed by a bean (a ``MessageQueue`` in ``TopicStatsTable``,
    ``ConsumeStats``, ``ResetOffsetBody`` ...) with the bean's JSON object as the key.
    :func:`loads` returns such keys as ``ObjectKey`` and :func:`dumps` writes them back as objects.

    The members are kept sorted by name, as fastjson writes a bean's fields, so two keys with the
    same members are equal whatever order they arrived in. Nested objects and arrays inside the
    key are frozen too (to ``ObjectKey`` and ``tuple``).

    Attributes:
        items: the ``(name, value)`` pairs, sorted by name.
    """

    __slots__ = ("_hash", "items")

    items: tuple[tuple[Any, Any], ...]
    _hash: int

    def __init__(self, members: Mapping[Any, Any] | Iterable[tuple[Any, Any]] = ()) -> None:
        pairs = members.items() if isinstance(members, Mapping) else members
        frozen = {_freeze(k): _freeze(v) for k, v in pairs}
        object.__setattr__(self, "items", tuple(sorted(frozen.items(), key=_key_order)))
        object.__setattr__(self, "_hash", hash(self.items))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("ObjectKey is immutable")

    def to_dict(self) -> dict[Any, Any]:
        """The key as a plain ``dict`` (nested keys and tuples thawed back to dicts and lists)."""
        return {_thaw(k): _thaw(v) for k, v in self.items}

    def get(self, name: Any, default: Any = None) -> Any:
        """The (frozen) value of member ``name``, or ``default``."""
        for key, value in self.items:
            if key == name:
                return value
        return default

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ObjectKey):
            return self.items == other.items
        return NotImplemented

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        return f"ObjectKey({self.to_dict()!r})"


# --------------------------------------------------------------------------------------------
# Reading

# fastjson's JSONLexer.isWhitespace: space, \n, \r, \t, \f and \b.
_WS_CHARS = frozenset(" \t\n\r\f\x08")
_WS = re.compile(r"[ \t\n\r\f\x08]*")
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?([LSBFD]?)")
# fastjson's scanSymbolUnQuoted: A-Z a-z _ $ and any non-ASCII char start a name; digits may follow.
_IDENT = re.compile(r"[A-Za-z_$\u0080-\U0010ffff][A-Za-z0-9_$\u0080-\U0010ffff]*")
_PLAIN = {'"': re.compile(r'[^"\\]*'), "'": re.compile(r"[^'\\]*")}
_HEX4 = re.compile(r"[0-9A-Fa-f]{4}")
_HEX2 = re.compile(r"[0-9A-Fa-f]{2}")
_SURROGATE = re.compile("[\ud800-\udfff]")
_ESCAPES = {
    '"': '"',
    "'": "'",
    "\\": "\\",
    "/": "/",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "0": "\0",
}
_LITERALS = (("true", True), ("false", False), ("null", None), ("undefined", None))
_CLOSER = {"{": "}", "[": "]"}
_NO_KEY = object()


def _end(pattern: re.Pattern[str], text: str, pos: int) -> int:
    """End of the match of ``pattern`` (one that matches the empty string) at ``pos``."""
    m = pattern.match(text, pos)
    assert m is not None
    return m.end()


def _skip(text: str, pos: int) -> int:
    """Skip whitespace; compact JSON has none, so check one character before using the regex."""
    if pos < len(text) and text[pos] in _WS_CHARS:
        return _end(_WS, text, pos)
    return pos


def _error(text: str, pos: int, what: str) -> RemoteProtocolError:
    found = repr(text[pos : pos + 12]) if pos < len(text) else "end of input"
    return RemoteProtocolError(f"malformed JSON at character {pos}: {what}, found {found}")


def _read_string(text: str, pos: int) -> tuple[str, int]:
    """Read the quoted string starting at ``text[pos]``; return it and the position after it."""
    quote = text[pos]
    plain = _PLAIN[quote]
    start = pos + 1
    end = _end(plain, text, start)
    if end < len(text) and text[end] == quote:
        return text[start:end], end + 1
    parts = [text[start:end]]
    pos = end
    while True:
        if pos >= len(text):
            raise _error(text, start - 1, "unterminated string")
        if text[pos] == quote:
            break
        # text[pos] is a backslash
        esc = text[pos + 1 : pos + 2]
        if esc == "u" and _HEX4.fullmatch(text, pos + 2, pos + 6):
            parts.append(chr(int(text[pos + 2 : pos + 6], 16)))
            pos += 6
        elif esc == "x" and _HEX2.fullmatch(text, pos + 2, pos + 4):
            parts.append(chr(int(text[pos + 2 : pos + 4], 16)))
            pos += 4
        elif esc in _ESCAPES:
            parts.append(_ESCAPES[esc])
            pos += 2
        else:
            raise _error(text, pos, "invalid escape sequence in string")
        run = _end(plain, text, pos)
        parts.append(text[pos:run])
        pos = run
    value = "".join(parts)
    if _SURROGATE.search(value):
        # \uD83D\uDE00 arrive as two escapes: join the pair; a lone half becomes U+FFFD,
        # which is what Java puts on the wire when it encodes such a string as UTF-8.
        value = value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return value, pos + 1


def _read_scalar(text: str, pos: int, as_key: bool) -> tuple[Any, int]:
    """Read a string, number, literal or (in key position) an unquoted name."""
    c = text[pos]
    if c in _PLAIN:
        return _read_string(text, pos)
    if c == "-" or "0" <= c <= "9":
        m = _NUMBER.match(text, pos)
        if m is None:
            raise _error(text, pos, "invalid number")
        digits = m.group()
        suffix = m.group(3)
        if suffix:
            digits = digits[:-1]
        if m.group(1) or m.group(2) or suffix in ("F", "D"):
            return float(digits), m.end()
        return int(digits), m.end()
    if as_key:
        m = _IDENT.match(text, pos)
        if m is not None:
            return m.group(), m.end()
    else:
        for word, value in _LITERALS:
            if text.startswith(word, pos):
                return value, pos + len(word)
    raise _error(text, pos, "expected an object key" if as_key else "expected a value")


def _parse_lenient(text: str) -> Any:
    """The fastjson-tolerant reader: one loop over an explicit stack, no recursion."""
    n = len(text)
    containers: list[Any] = []  # open dicts and lists, innermost last
    pending: list[Any] = []  # per container: the key awaiting its value (_NO_KEY if none)
    in_key: list[bool] = []  # per container: whether it is (inside) an object key
    key_depth = 0  # how many open containers are part of a key
    pos = _skip(text, 1 if text.startswith("\ufeff") else 0)
    while True:
        # -- read one value, or one key when the innermost container is an object between members
        as_key = bool(containers) and pending[-1] is _NO_KEY and isinstance(containers[-1], dict)
        if pos >= n:
            raise _error(text, pos, "expected a key" if as_key else "expected a value")
        c = text[pos]
        value: Any
        if c in _CLOSER:
            if len(containers) >= MAX_DEPTH:
                raise RemoteProtocolError(
                    f"malformed JSON at character {pos}: nesting deeper than {MAX_DEPTH}"
                )
            container: Any = {} if c == "{" else []
            pos = _skip(text, pos + 1)
            if text.startswith(_CLOSER[c], pos):
                value, pos = container, pos + 1
            else:
                part_of_key = as_key or (bool(in_key) and in_key[-1])
                if part_of_key:
                    # Keys are frozen recursively, so their nesting gets a tighter bound.
                    key_depth += 1
                    if key_depth > MAX_KEY_DEPTH:
                        raise RemoteProtocolError(
                            f"malformed JSON at character {pos}: "
                            f"object key nested deeper than {MAX_KEY_DEPTH}"
                        )
                containers.append(container)
                pending.append(_NO_KEY)
                in_key.append(part_of_key)
                continue
        else:
            value, pos = _read_scalar(text, pos, as_key)

        # -- store the value in its container; close containers that end here
        while True:
            if not containers:
                pos = _skip(text, pos)
                if pos != n:
                    raise _error(text, pos, "unexpected data after the JSON value")
                return value
            top = containers[-1]
            pos = _skip(text, pos)
            if isinstance(top, dict):
                if pending[-1] is _NO_KEY:
                    pending[-1] = _freeze(value)
                    if not text.startswith(":", pos):
                        raise _error(text, pos, "expected ':' after an object key")
                    pos = _skip(text, pos + 1)
                    break
                top[pending[-1]] = value
                pending[-1] = _NO_KEY
                closer = "}"
            else:
                top.append(value)
                closer = "]"
            if text.startswith(",", pos):
                pos = _skip(text, pos + 1)
                if not text.startswith(closer, pos):  # fastjson tolerates a trailing comma
                    break
            elif not text.startswith(closer, pos):
                raise _error(text, pos, f"expected ',' or '{closer}'")
            pos += 1
            value = containers.pop()
            pending.pop()
            if in_key.pop():
                key_depth -= 1


# The stdlib reader reports deep nesting as RecursionError; orjson stops at 1024 levels itself.
_STRICT_ERRORS: tuple[type[BaseException], ...] = (*_json.JSONDecodeError, RecursionError)


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    """Decode JSON as fastjson writes and accepts it.

    Args:
        data: the JSON text; bytes are UTF-8 (invalid sequences become U+FFFD, as in Java).

    Returns:
        Plain Python values: dict, list, str, int, float, bool, None; non-string keys as
        described in the module docstring.

    Raises:
        RemoteProtocolError: the text is not even fastjson-readable, or nests deeper than
            :data:`MAX_DEPTH`; the message names the character position.
    """
    if isinstance(data, memoryview):
        data = bytes(data)
    try:
        return _json.loads(data)
    except _STRICT_ERRORS:
        pass
    text = data if isinstance(data, str) else bytes(data).decode("utf-8", "replace")
    return _parse_lenient(text)


# --------------------------------------------------------------------------------------------
# Writing

_encode_str = json.encoder.encode_basestring


def _java_double(value: float) -> str:
    """Format a double as Java's ``Double.toString`` (which fastjson uses) would."""
    if not math.isfinite(value):
        return "null"  # fastjson writes NaN and infinities as null
    if value == 0.0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    sign, digit_tuple, exp = decimal.Decimal(repr(value)).as_tuple()
    assert isinstance(exp, int)
    digits = "".join(map(str, digit_tuple)).rstrip("0") or "0"
    # value = 0.d1d2d3... * 10**point
    point = len(digit_tuple) + exp
    minus = "-" if sign else ""
    if -3 < point <= 7:  # 1e-3 <= |value| < 1e7: plain notation
        if point <= 0:
            return f"{minus}0.{'0' * -point}{digits}"
        if point >= len(digits):
            return f"{minus}{digits}{'0' * (point - len(digits))}.0"
        return f"{minus}{digits[:point]}.{digits[point:]}"
    return f"{minus}{digits[0]}.{digits[1:] or '0'}E{point - 1}"


_END = object()


class _Frame:
    """An open object or array while writing: its remaining items and whether one was written."""

    __slots__ = ("first", "items", "mapping")

    def __init__(self, items: Iterator[Any], mapping: bool) -> None:
        self.items = items
        self.mapping = mapping
        self.first = True


class _Writer:
    """Writes with an explicit stack, so deep values cost no Python stack (keys excepted)."""

    __slots__ = ("bare_keys", "standard")

    def __init__(self, bare_keys: bool, standard: bool) -> None:
        self.bare_keys = bare_keys and not standard
        self.standard = standard

    def write(self, obj: Any, depth: int = 0) -> str:
        out: list[str] = []
        stack: list[_Frame] = []
        value = obj
        while True:
            opened = self._emit(value, out)
            if opened is not None:
                if depth + len(stack) >= MAX_DEPTH:
                    raise LocalProtocolError(f"cannot encode JSON nested deeper than {MAX_DEPTH}")
                stack.append(opened)
            while stack:
                frame = stack[-1]
                item: Any = next(frame.items, _END)
                if item is _END:
                    out.append("}" if frame.mapping else "]")
                    stack.pop()
                    continue
                if frame.first:
                    frame.first = False
                else:
                    out.append(",")
                if frame.mapping:
                    key, value = item
                    self._key(key, out, depth + len(stack))
                    out.append(":")
                else:
                    value = item
                break
            else:
                return "".join(out)

    def _emit(self, obj: Any, out: list[str]) -> _Frame | None:
        """Write a scalar, or the opening bracket of a container and return its frame."""
        if isinstance(obj, str):
            out.append(_encode_str(obj))
        elif obj is None:
            out.append("null")
        elif obj is True:
            out.append("true")
        elif obj is False:
            out.append("false")
        elif isinstance(obj, int):
            out.append(int.__repr__(obj))
        elif isinstance(obj, float):
            out.append(_java_double(obj))
        elif isinstance(obj, dict):
            out.append("{")
            return _Frame(iter(obj.items()), mapping=True)
        elif isinstance(obj, (list, tuple, set, frozenset)):
            out.append("[")
            return _Frame(iter(obj), mapping=False)
        elif isinstance(obj, ObjectKey):
            out.append("{")
            return _Frame(iter(obj.items), mapping=True)
        elif isinstance(obj, Mapping):
            out.append("{")
            return _Frame(iter(obj.items()), mapping=True)
        elif isinstance(obj, (bytes, bytearray, memoryview)):
            out.append('"' + base64.b64encode(obj).decode("ascii") + '"')  # fastjson byte[]
        elif isinstance(obj, enum.Enum):
            out.append(_encode_str(obj.name))  # fastjson writes enums by name
        elif callable(getattr(obj, "to_json_value", None)):
            return self._emit(obj.to_json_value(), out)
        else:
            raise LocalProtocolError(f"cannot encode {type(obj).__name__} as JSON: {obj!r:.80}")
        return None

    def _key(self, key: Any, out: list[str], depth: int) -> None:
        if isinstance(key, str):
            out.append(_encode_str(key))
        elif isinstance(key, enum.Enum):
            out.append(_encode_str(key.name))
        elif (key is None or isinstance(key, (int, float))) and self.bare_keys:
            out.append(self.write(key, depth))
        elif not (key is None or isinstance(key, (int, float))) and not self.standard:
            out.append(self.write(key, depth))  # an object or array as the key, fastjson style
        else:
            # The key's own JSON text as a string (fastjson's WriteNonStringKeyAsString).
            out.append(_encode_str(self.write(key, depth)))


def dumps(obj: Any, *, bare_int_keys: bool = True, standard: bool = False) -> bytes:
    """Encode ``obj`` as compact fastjson-style JSON.

    Supported values: ``dict`` (any Mapping), ``list``/``tuple``/``set``, ``str``, ``int``,
    ``float`` (Java ``Double.toString`` form, NaN and infinities as ``null``), ``bool``, ``None``,
    :class:`ObjectKey`, ``bytes`` (base64, like fastjson's ``byte[]``), enums (by name) and any
    object with a ``to_json_value()`` method returning one of these.

    Args:
        obj: what to encode; keys are written in the order given.
        bare_int_keys: write ``int``/``float``/``None`` keys bare (``{0:"a"}``), as fastjson does
            by default; ``False`` quotes them (``{"0":"a"}``).
        standard: write strict JSON: every non-string key quoted, an object or array key written
            as the string of its JSON text. Overrides ``bare_int_keys``.

    Returns:
        UTF-8 bytes without spaces; non-ASCII characters are not escaped.

    Raises:
        LocalProtocolError: a value cannot be encoded, nests deeper than :data:`MAX_DEPTH`
            (a cycle, usually), or a string holds a lone surrogate.
    """
    text = _Writer(bare_int_keys, standard).write(obj)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise LocalProtocolError(f"cannot encode JSON: {exc}") from None
