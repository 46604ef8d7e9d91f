"""Apache-style ``key=value`` configuration shared by ``mqnamesrv`` and ``mqbroker``.

Config files use Java ``Properties`` syntax and Apache RocketMQ's key names, so an existing
``broker.conf`` or ``namesrv.conf`` works unchanged. Every key is declared once as a
:class:`Setting` with its type and default; unknown keys are reported (not fatal, like Java,
which ignores them), and a value that does not parse raises
:class:`~rocketmq_py.exceptions.ConfigError` naming the key and the value.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Generic, TypeVar

from rocketmq_py.exceptions import ConfigError

__all__ = [
    "Setting",
    "Settings",
    "expand_home",
    "parse_bool",
    "parse_properties",
    "read_properties_file",
]

V = TypeVar("V")


def parse_bool(value: str) -> bool:
    """Strict boolean: ``true``/``false`` in any case (Java would silently read typos as false)."""
    low = value.strip().lower()
    if low == "true":
        return True
    if low == "false":
        return False
    raise ValueError("expected true or false")


def _parse_int(value: str) -> int:
    return int(value.strip())


_PARSERS: dict[type, Callable[[str], Any]] = {
    bool: parse_bool,
    int: _parse_int,
    float: lambda v: float(v.strip()),
    str: lambda v: v.strip(),
}


@dataclasses.dataclass(frozen=True)
class Setting(Generic[V]):
    """One configuration key.

    Attributes:
        key: Apache's property name (camelCase).
        type: ``bool``, ``int``, ``float`` or ``str``.
        default: value when the key is absent.
        doc: one line for ``-p`` and ``--help``.
        check: optional validator returning an error text, or ``None`` when the value is fine.
        used: False for keys accepted for compatibility that have no effect here.
    """

    key: str
    type: type[V]
    default: V
    doc: str = ""
    check: Callable[[V], str | None] | None = None
    used: bool = True

    def parse(self, raw: str) -> V:
        """Parse and validate a raw string value."""
        try:
            value: V = _PARSERS[self.type](raw)
        except (ValueError, KeyError):
            raise ConfigError(self.key, raw, f"expected {self.type.__name__}") from None
        if self.check is not None:
            problem = self.check(value)
            if problem:
                raise ConfigError(self.key, raw, problem)
        return value


def positive(value: float) -> str | None:
    """Validator: > 0."""
    return None if value > 0 else "must be positive"


def port_number(value: int) -> str | None:
    """Validator: a TCP port (0 lets the OS choose)."""
    return None if 0 <= value <= 65535 else "must be a port number 0..65535"


class Settings:
    """Typed values for a set of :class:`Setting` declarations.

    ``values[key]`` holds the effective value; ``unknown`` the keys that were not declared.
    """

    def __init__(
        self, declared: Iterable[Setting[Any]], raw: Mapping[str, str] | None = None
    ) -> None:
        self.declared: dict[str, Setting[Any]] = {s.key: s for s in declared}
        self.values: dict[str, Any] = {k: s.default for k, s in self.declared.items()}
        self.unknown: list[str] = []
        if raw:
            self.update(raw)

    def update(self, raw: Mapping[str, str]) -> None:
        """Apply raw string values (from a file or the command line)."""
        for key, value in raw.items():
            setting = self.declared.get(key)
            if setting is None:
                if key not in self.unknown:
                    self.unknown.append(key)
                continue
            self.values[key] = setting.parse(value)

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def __setitem__(self, key: str, value: Any) -> None:
        if key not in self.declared:
            raise KeyError(key)
        self.values[key] = value

    def dump(self) -> str:
        """``key=value`` lines of every declared key, sorted, for ``-p``."""
        lines = []
        for key in sorted(self.values):
            value = self.values[key]
            text = ("true" if value else "false") if isinstance(value, bool) else str(value)
            lines.append(f"{key}={text}")
        return "\n".join(lines)


def parse_properties(text: str) -> dict[str, str]:
    """Parse Java ``Properties`` text: ``key=value`` / ``key: value`` / ``key value``.

    ``#`` and ``!`` start comments; a trailing backslash continues the line; the common escapes
    (``\\t \\n \\\\ \\=``) are honoured.
    """
    out: dict[str, str] = {}
    logical: list[str] = []
    for raw_line in text.splitlines():
        line = raw_line.lstrip()
        if not logical and (not line or line[0] in "#!"):
            continue
        if line.endswith("\\") and not line.endswith("\\\\"):
            logical.append(line[:-1])
            continue
        logical.append(line)
        joined = "".join(logical)
        logical = []
        key, value = _split_property(joined)
        if key:
            out[key] = value
    if logical:
        key, value = _split_property("".join(logical))
        if key:
            out[key] = value
    return out


_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}


def _unescape(text: str) -> str:
    out = []
    it = iter(text)
    for ch in it:
        if ch == "\\":
            nxt = next(it, "")
            out.append(_ESCAPES.get(nxt, nxt))
        else:
            out.append(ch)
    return "".join(out)


def _split_property(line: str) -> tuple[str, str]:
    i = 0
    n = len(line)
    while i < n:
        ch = line[i]
        if ch == "\\":
            i += 2
            continue
        if ch in "=: \t":
            break
        i += 1
    key = line[:i]
    rest = line[i:].lstrip(" \t")
    if rest[:1] in ("=", ":"):
        rest = rest[1:].lstrip(" \t")
    return _unescape(key), _unescape(rest.rstrip())


def read_properties_file(path: str | os.PathLike[str]) -> dict[str, str]:
    """Read a config file; a missing or unreadable file raises ConfigError naming it."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError("configFile", str(path), exc.strerror or str(exc)) from None
    except UnicodeDecodeError:
        raise ConfigError("configFile", str(path), "is not UTF-8 text") from None
    return parse_properties(text)


def expand_home(path: str) -> str:
    """Expand ``~`` and ``${user.home}`` (Apache's default paths use the latter)."""
    home = str(Path.home())
    return os.path.expanduser(path.replace("${user.home}", home))
