"""The send path's stored properties built by concatenation equal the encoded dict."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from broker.processors._stored_props import canonical_bytes, canonical_text, encoded_pairs
from rocketmq_py.protocol.message import decode_properties, encode_properties

# Mostly separators and a few letters, so malformed texts (empty items, repeated names,
# stray \x01, trailing separators) come up often; "é" for multi-byte UTF-8.
_raw = st.text(st.sampled_from("\x01\x02abé"), max_size=16)
_word = st.text(st.sampled_from("abcé"), min_size=1, max_size=4)
_extra = st.dictionaries(st.sampled_from(["X", "Y", "Zé"]), _word, max_size=3)


@given(_raw)
def test_canonical_text_is_the_encoding_of_its_dict(text: str) -> None:
    props = decode_properties(text)
    canon = canonical_text(text, props)
    if canon is not None:
        assert canon == encode_properties(props, trailing_separator=False)
    raw = text.encode()
    canon_bytes = canonical_bytes(raw, props)
    assert (canon_bytes is None) == (canon is None)
    if canon is not None:
        assert canon_bytes == canon.encode()


@given(st.dictionaries(_word, _word, max_size=5), st.booleans())
def test_encoded_dicts_are_canonical(props: dict[str, str], trailing: bool) -> None:
    text = encode_properties(props, trailing_separator=trailing)
    assert canonical_text(text, decode_properties(text)) == text.removesuffix("\x02")
    assert canonical_bytes(text.encode(), props) == text.removesuffix("\x02").encode()


@given(_raw, _extra)
def test_appending_pairs_equals_encoding_the_grown_dict(text: str, extra: dict[str, str]) -> None:
    props = decode_properties(text)
    canon = canonical_text(text, props)
    suffix = encoded_pairs(extra)
    if canon is None or suffix is None or not props.keys().isdisjoint(extra):
        return
    stored = canon + suffix if canon else suffix[1:]
    assert stored == encode_properties({**props, **extra}, trailing_separator=False)


def test_encoded_pairs_refuses_what_the_encoder_would_skip_or_refuse() -> None:
    assert encoded_pairs({"CLUSTER": "DefaultCluster"}) == "\x02CLUSTER\x01DefaultCluster"
    assert encoded_pairs({"CLUSTER": ""}) is None
    assert encoded_pairs({"": "x"}) is None
    assert encoded_pairs({"A": "x\x01y"}) is None
    assert encoded_pairs({"A\x02": "x"}) is None
    assert encoded_pairs({}) == ""
