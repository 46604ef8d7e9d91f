"""The base class of JSON bodies and the typed readers their ``from_json_value`` methods use.

Decoding mirrors fastjson's leniency where Java relies on it (numbers and booleans arrive as
strings from some clients, unknown fields are ignored, ``null`` means "not set") and is strict
where Java would fail anyway: a value of the wrong kind raises
:class:`~rocketmq_py.exceptions.RemoteProtocolError` naming the field's path and the value.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from rocketmq_py.exceptions import RemoteProtocolError
from rocketmq_py.protocol import fastjson

__all__ = [
    "Fields",
    "JSONBody",
    "as_bool",
    "as_int",
    "as_json",
    "as_str",
    "dict_of",
    "enum_of",
    "list_of",
    "sorted_object",
]

T = TypeVar("T")
K = TypeVar("K")
E = TypeVar("E", bound=enum.Enum)
B = TypeVar("B", bound="JSONBody")

#: A converter takes a decoded JSON value and the path to name in errors.
Converter = Callable[[object, str], T]

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _bad(where: str, expected: str, value: object) -> RemoteProtocolError:
    return RemoteProtocolError(f"{where}: expected {expected}, got {_show(value)}")


def as_str(value: object, where: str) -> str:
    """A string; integers and booleans are turned into their Java text, as fastjson does."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    raise _bad(where, "a string", value)


def as_int(value: object, where: str) -> int:
    """An integer (Java int or long); numeric strings and integral floats are accepted."""
    if isinstance(value, bool):
        raise _bad(where, "an integer", value)
    if isinstance(value, int):
        result = value
    elif isinstance(value, float) and value.is_integer():
        result = int(value)
    elif isinstance(value, str):
        try:
            result = int(value.strip())
        except ValueError:
            raise _bad(where, "an integer", value) from None
    else:
        raise _bad(where, "an integer", value)
    if not _INT64_MIN <= result <= _INT64_MAX:
        raise _bad(where, "a 64-bit integer", value)
    return result


def as_bool(value: object, where: str) -> bool:
    """A boolean; ``"true"``/``"false"`` (any case) and ``1``/``0`` are accepted."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
        return value.strip().lower() in ("true", "1")
    raise _bad(where, "a boolean", value)


def as_json(value: object, where: str) -> Any:
    """Any JSON value, kept as decoded (for parts of a body we carry but do not interpret)."""
    return value


def list_of(item: Converter[T]) -> Converter[list[T]]:
    """A converter for a JSON array (Java List or Set) whose items ``item`` converts."""

    def convert(value: object, where: str) -> list[T]:
        if not isinstance(value, list):
            raise _bad(where, "an array", value)
        return [item(v, f"{where}[{i}]") for i, v in enumerate(value)]

    return convert


def dict_of(key: Converter[K], item: Converter[T]) -> Converter[dict[K, T]]:
    """A converter for a JSON object (Java Map) with keys and values converted."""

    def convert(value: object, where: str) -> dict[K, T]:
        if not isinstance(value, dict):
            raise _bad(where, "an object", value)
        return {key(k, f"{where} key"): item(v, f"{where}[{k!r}]") for k, v in value.items()}

    return convert


def enum_of(kind: type[E], aliases: Mapping[str, E] | None = None) -> Converter[E]:
    """A converter for a Java enum sent by name, by ordinal (cpp client) or by an alias."""
    members = list(kind)
    extra = dict(aliases or {})

    def convert(value: object, where: str) -> E:
        if isinstance(value, str):
            found = kind.__members__.get(value) or extra.get(value)
            if found is not None:
                return found
        elif isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(members):
            return members[value]
        names = ", ".join(kind.__members__)
        raise _bad(where, f"one of {names}", value)

    return convert


def sorted_object(**fields: Any) -> dict[str, Any]:
    """A bean as fastjson writes it: ``None`` fields left out, the rest in name order."""
    return {name: fields[name] for name in sorted(fields) if fields[name] is not None}


class Fields:
    """Typed access to one decoded JSON object, for a ``from_json_value`` implementation.

    Missing fields and JSON ``null`` are the same thing (Java leaves the field at its default).
    An :class:`~rocketmq_py.protocol.fastjson.ObjectKey` (a bean used as a map key) is read
    like the object it stands for.
    """

    __slots__ = ("obj", "where")

    def __init__(self, value: object, where: str) -> None:
        if isinstance(value, fastjson.ObjectKey):
            value = value.to_dict()
        if not isinstance(value, dict):
            raise _bad(where, "a JSON object", value)
        self.obj: dict[Any, Any] = value
        self.where = where

    def required(self, name: str, convert: Converter[T]) -> T:
        """The converted field; raise if it is missing."""
        value = self.obj.get(name)
        if value is None:
            raise RemoteProtocolError(f"{self.where}: required field {name!r} is missing")
        return convert(value, f"{self.where}.{name}")

    def get(self, name: str, convert: Converter[T], default: T) -> T:
        """The converted field, or ``default`` if it is missing."""
        value = self.obj.get(name)
        if value is None:
            return default
        return convert(value, f"{self.where}.{name}")

    def optional(self, name: str, convert: Converter[T]) -> T | None:
        """The converted field, or ``None`` if it is missing."""
        value = self.obj.get(name)
        if value is None:
            return None
        return convert(value, f"{self.where}.{name}")


class JSONBody:
    """Base class of the typed JSON bodies.

    Subclasses implement :meth:`to_json_value` (the plain value fastjson would write, fields in
    name order) and :meth:`from_json_value` (from the plain value :func:`fastjson.loads` returns).
    """

    __slots__ = ()

    def to_json_value(self) -> Any:
        """The body as plain JSON-ready Python values."""
        raise NotImplementedError

    @classmethod
    def from_json_value(cls: type[B], value: object, where: str = "") -> B:
        """Build the body from a decoded JSON value.

        Args:
            value: what :func:`rocketmq_py.protocol.fastjson.loads` returned.
            where: the path used in error messages (defaults to the class name).

        Raises:
            RemoteProtocolError: a field is missing or has the wrong type.
        """
        raise NotImplementedError

    def to_json(self) -> bytes:
        """Encode as compact fastjson-style JSON (integer map keys bare)."""
        return fastjson.dumps(self.to_json_value())

    @classmethod
    def from_json(cls: type[B], data: bytes | str) -> B:
        """Decode a body as Java sends it (fastjson quirks accepted).

        Raises:
            RemoteProtocolError: the JSON is malformed or a field has the wrong type.
        """
        return cls.from_json_value(fastjson.loads(data), cls.__name__)
