"""The stored properties of a sent message, without encoding the whole dict again.

The send path decodes a message's properties once (a dict it reads and changes: ``UNIQ_KEY``
when the producer left it out, ``CLUSTER``, a batch header's properties), and the store
writes ``encode_properties(props, trailing_separator=False)``. When the text the producer sent
is *canonical* (it is exactly what encoding its decoded dict gives, bar a trailing ``\\x02``)
and the send only appends new names to the dict, that encoding is the producer's text plus the
appended pairs: these helpers build it by concatenation, which costs a fraction of encoding
(and of checking caller-supplied bytes against the dict). Anything else (a name repeated or
already present, an empty or malformed item, a value to change in place) returns ``None``
and the store encodes the dict as before, so the stored bytes never differ.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

__all__ = ["canonical_bytes", "canonical_text", "encoded_pairs"]

_SEP: Final = "\x02"
_NV: Final = "\x01"


def canonical_text(text: str | None, props: Mapping[str, str]) -> str | None:
    """``text`` without its trailing ``\\x02`` when ``props = decode_properties(text)`` encodes
    back to it, else ``None``.

    Why the two counts suffice: each ``\\x02``-separated item of the text adds at most one
    name to ``props``, so as many items as names means every item is well formed (a name,
    ``\\x01``, a value, both non-empty) and no name repeats; as many ``\\x01`` as names means
    no name or value holds one. Encoding ``props`` (insertion order = item order) then joins
    the very same items.
    """
    if not text:
        return "" if not props else None
    if text[-1] == _SEP:
        text = text[:-1]
    n = len(props)
    if not text:
        return "" if n == 0 else None
    if text.count(_SEP) + 1 != n or text.count(_NV) != n:
        return None
    return text


def canonical_bytes(raw: bytes, props: Mapping[str, str]) -> bytes | None:
    """:func:`canonical_text` of UTF-8 ``raw`` (a batch item's properties), on the bytes:
    ``\\x01`` and ``\\x02`` never occur inside a multi-byte UTF-8 sequence."""
    if not raw:
        return b"" if not props else None
    if raw[-1] == 2:
        raw = raw[:-1]
    n = len(props)
    if not raw:
        return b"" if n == 0 else None
    if raw.count(b"\x02") + 1 != n or raw.count(b"\x01") != n:
        return None
    return raw


def encoded_pairs(pairs: Mapping[str, str]) -> str | None:
    """``\\x02name\\x01value`` for each pair (what appending them to a canonical text adds),
    or ``None`` when a name or value is empty or holds a separator (the encoder would skip
    or refuse it)."""
    out = []
    for name, value in pairs.items():
        if not name or not value:
            return None
        if _NV in name or _SEP in name or _NV in value or _SEP in value:
            return None
        out.append(f"{_SEP}{name}{_NV}{value}")
    return "".join(out)
