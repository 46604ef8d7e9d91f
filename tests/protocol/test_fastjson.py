"""The fastjson-compatible reader and writer (protocol.md 3.12)."""

from __future__ import annotations

import contextlib
import enum
import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rocketmq_py.exceptions import LocalProtocolError, RemoteProtocolError
from rocketmq_py.protocol import fastjson
from rocketmq_py.protocol.fastjson import MAX_DEPTH, MAX_KEY_DEPTH, ObjectKey, dumps, loads

MQ = {"brokerName": "b", "queueId": 0, "topic": "T"}


# -- reading: what Java writes ---------------------------------------------------------------


def test_strict_json_is_plain_json() -> None:
    text = '{"a":[1,2.5,"x",true,false,null],"b":{"c":"\\u00fc"}}'
    assert loads(text) == json.loads(text)
    assert loads(text.encode()) == json.loads(text)


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview, str])
def test_input_types(kind: type) -> None:
    text = '{0:"a"}'
    data = text if kind is str else kind(text.encode())
    assert loads(data) == {0: "a"}


def test_bare_integer_keys_become_ints() -> None:
    body = b'{"brokerAddrs":{0:"127.0.0.1:40911",1:"127.0.0.2:40911",-1:"x",2.5:"y"}}'
    assert loads(body) == {
        "brokerAddrs": {0: "127.0.0.1:40911", 1: "127.0.0.2:40911", -1: "x", 2.5: "y"}
    }


def test_quoted_integer_keys_stay_strings() -> None:
    assert loads(b'{"brokerAddrs":{"0":"a"}}') == {"brokerAddrs": {"0": "a"}}


def test_object_keys() -> None:
    body = (
        b'{"offsetTable":{{"brokerName":"b","queueId":0,"topic":"T"}:'
        b'{"lastUpdateTimestamp":1,"maxOffset":5,"minOffset":0}},"topicPutTps":0.0}'
    )
    value = loads(body)
    key = ObjectKey(MQ)
    assert value["offsetTable"][key] == {"lastUpdateTimestamp": 1, "maxOffset": 5, "minOffset": 0}
    assert value["topicPutTps"] == 0.0
    (only,) = value["offsetTable"]
    assert only.to_dict() == MQ
    assert only.get("queueId") == 0
    assert only.get("missing", "dflt") == "dflt"


def test_object_key_is_order_insensitive_and_hashable() -> None:
    a = ObjectKey({"topic": "T", "queueId": 0, "brokerName": "b"})
    b = ObjectKey([("brokerName", "b"), ("queueId", 0), ("topic", "T")])
    assert a == b
    assert hash(a) == hash(b)
    assert a.items == (("brokerName", "b"), ("queueId", 0), ("topic", "T"))
    assert a != ObjectKey({**MQ, "queueId": 1})
    assert a != MQ
    assert {a: 1}[b] == 1
    assert repr(a) == "ObjectKey({'brokerName': 'b', 'queueId': 0, 'topic': 'T'})"
    with pytest.raises(AttributeError):
        a.items = ()  # type: ignore[misc]


def test_nested_object_and_array_keys_are_frozen() -> None:
    value = loads(b'{{"a":{"b":[1,{"c":2}]}}:1,[1,[2,3]]:2}')
    key = ObjectKey({"a": {"b": [1, {"c": 2}]}})
    assert value[key] == 1
    assert value[(1, (2, 3))] == 2
    assert key.to_dict() == {"a": {"b": [1, {"c": 2}]}}
    inner = key.get("a")
    assert isinstance(inner, ObjectKey)
    assert inner.get("b") == (1, ObjectKey({"c": 2}))


def test_object_key_with_mixed_member_keys() -> None:
    key = ObjectKey({1: "x", "b": "y", "a": "z"})
    assert [k for k, _ in key.items] == ["a", "b", 1]


def test_fastjson_parser_leniencies() -> None:
    text = (
        "\ufeff{ 'single' : 'it''s', unquoted_$1 : 1L, \u00e9t\u00e9: 2, \"f\": 1.5F, "
        '"d": 2D, "e": 1E3, list: [1, 2, ], "n": undefined, "esc": "\\x41\\/\\\'\\v\\0",'
        "\b\f}"
    )
    with pytest.raises(RemoteProtocolError):
        loads(text)  # 'it''s' is not a thing, even for fastjson
    text = text.replace("'it''s'", "'it\\'s'")
    assert loads(text) == {
        "single": "it's",
        "unquoted_$1": 1,
        "\u00e9t\u00e9": 2,
        "f": 1.5,
        "d": 2.0,
        "e": 1000.0,
        "list": [1, 2],
        "n": None,
        "esc": "A/'\v\0",
    }


def test_ref_objects_stay_dicts() -> None:
    body = b'{"a":{"x":1},"b":{"$ref":"$.a"},"c":[{"$ref":".."}],0:1}'
    assert loads(body) == {"a": {"x": 1}, "b": {"$ref": "$.a"}, "c": [{"$ref": ".."}], 0: 1}


def test_unicode_escapes_and_surrogates() -> None:
    assert loads('{0:"\\ud83d\\ude00 \\u00FC"}') == {0: "\U0001f600 \u00fc"}
    assert loads('{0:"\\ud83d!"}') == {0: "\ufffd!"}  # a lone half, as Java would send it
    assert loads('{0:"raw \U0001f600 \u00fc"}'.encode()) == {0: "raw \U0001f600 \u00fc"}


def test_invalid_utf8_is_replaced_like_java() -> None:
    assert loads(b'{0:"a\xff"}') == {0: "a\ufffd"}


def test_whitespace_everywhere() -> None:
    assert loads(b" \n{ 0 : [ 1 , { } , [ ] ] , 1 : { } } \r\n") == {0: [1, {}, []], 1: {}}
    assert loads(b"[]") == []
    assert loads(b"{}") == {}
    assert loads(b" 7 ") == 7
    assert loads(b"'s'") == "s"


def test_top_level_values_after_objects() -> None:
    # A value that closes several containers at once must pop each of them exactly once.
    assert loads(b"{0:{1:{2:[[{3:4}]]}},5:6}") == {0: {1: {2: [[{3: 4}]]}}, 5: 6}


@pytest.mark.parametrize(
    ("data", "position"),
    [
        (b"", 0),
        (b"   ", 3),
        (b"{", 1),
        (b"[", 1),
        (b'{"a"}', 4),
        (b'{"a":}', 5),
        (b'{"a" 1}', 5),
        (b"{0:1 1:2}", 5),
        (b"[1 2]", 3),
        (b"[1,,2]", 3),
        (b"{,}", 1),
        (b'"abc', 0),
        (b"'abc", 0),
        (b'{"a":1}}', 7),
        (b"[1]x", 3),
        (b"tru", 0),
        (b"nul", 0),
        (b"{a:b}", 3),
        (b'{"a":"\\q"}', 6),
        (b'{"a":"\\u12"}', 6),
        (b'{"a":"\\', 6),
        (b"-", 0),
        (b"{-:1}", 1),
        (b"[.5]", 1),
        (b"{@:1}", 1),
        (b"\xff\xfe", 0),
    ],
)
def test_malformed_input_names_the_position(data: bytes, position: int) -> None:
    with pytest.raises(RemoteProtocolError, match=f"at character {position}\\b"):
        loads(data)


def test_nesting_is_bounded() -> None:
    # Bare keys force the hand-written reader; it is iterative, so depth costs no stack.
    ok = b"{0:" * MAX_DEPTH + b"1" + b"}" * MAX_DEPTH
    value = loads(ok)
    for _ in range(MAX_DEPTH):
        value = value[0]
    assert value == 1
    too_deep = b"{0:" * (MAX_DEPTH + 1) + b"1" + b"}" * (MAX_DEPTH + 1)
    with pytest.raises(RemoteProtocolError, match="nesting deeper than 512"):
        loads(too_deep)


@pytest.mark.parametrize("opener", [b"[", b'{"a":', b"{0:", b"{", b"[{"])
def test_hostile_nesting_raises_protocol_error(opener: bytes) -> None:
    with pytest.raises(RemoteProtocolError, match=r"nest(ing|ed) deeper"):
        loads(opener * 200_000)


def test_object_key_nesting_is_bounded_tighter() -> None:
    ok = b"{" + b"{0:" * MAX_KEY_DEPTH + b"1" + b"}" * MAX_KEY_DEPTH + b":2}"
    (key,) = loads(ok)
    assert isinstance(key, ObjectKey)
    too_deep = b"{" + b"{0:" * (MAX_KEY_DEPTH + 1) + b"1" + b"}" * (MAX_KEY_DEPTH + 1) + b":2}"
    with pytest.raises(RemoteProtocolError, match="object key nested deeper than 32"):
        loads(too_deep)
    with pytest.raises(RemoteProtocolError, match="object key nested deeper than 32"):
        loads(b"[" + b"{" * 10_000)


def test_hostile_nesting_of_valid_json() -> None:
    # Valid strict JSON deeper than any parser allows still ends as RemoteProtocolError.
    with pytest.raises(RemoteProtocolError):
        loads(b"[" * 100_000 + b"]" * 100_000)


@settings(max_examples=300)
@given(st.binary(max_size=64))
def test_garbage_never_raises_anything_else(data: bytes) -> None:
    with contextlib.suppress(RemoteProtocolError):
        loads(data)


@settings(max_examples=300)
@given(st.text(alphabet="{}[]:,'\"0123456789-.eE tfrunl\\ab_$L", max_size=40))
def test_json_like_garbage_never_raises_anything_else(text: str) -> None:
    with contextlib.suppress(RemoteProtocolError):
        loads(text)


# -- writing ----------------------------------------------------------------------------------


class Color(enum.Enum):
    RED = 1


class Hooked:
    def to_json_value(self) -> Any:
        return {"b": 1, "a": [True, None]}


def test_dumps_compact_and_in_given_order() -> None:
    assert dumps({"b": 1, "a": [1, 2], "c": {"z": None, "y": False}}) == (
        b'{"b":1,"a":[1,2],"c":{"z":null,"y":false}}'
    )


def test_dumps_int_keys() -> None:
    value = {"brokerAddrs": {0: "127.0.0.1:10911", 1: "127.0.0.2:10911"}}
    assert dumps(value) == b'{"brokerAddrs":{0:"127.0.0.1:10911",1:"127.0.0.2:10911"}}'
    assert dumps(value, bare_int_keys=False) == (
        b'{"brokerAddrs":{"0":"127.0.0.1:10911","1":"127.0.0.2:10911"}}'
    )
    assert dumps(value, standard=True) == dumps(value, bare_int_keys=False)
    assert dumps({None: 1, True: 2, 1.5: 3}) == b"{null:1,true:2,1.5:3}"
    assert dumps({None: 1, True: 2, 1.5: 3}, standard=True) == b'{"null":1,"true":2,"1.5":3}'


def test_dumps_object_keys() -> None:
    value = {"offsetTable": {ObjectKey(MQ): {"maxOffset": 5}}}
    assert dumps(value) == (
        b'{"offsetTable":{{"brokerName":"b","queueId":0,"topic":"T"}:{"maxOffset":5}}}'
    )
    assert dumps(value, bare_int_keys=False) == dumps(value)
    standard = dumps(value, standard=True)
    assert standard == (
        b'{"offsetTable":{"{\\"brokerName\\":\\"b\\",\\"queueId\\":0,\\"topic\\":\\"T\\"}"'
        b':{"maxOffset":5}}}'
    )
    assert json.loads(standard) == {
        "offsetTable": {'{"brokerName":"b","queueId":0,"topic":"T"}': {"maxOffset": 5}}
    }
    assert dumps({(1, 2): "x"}) == b'{[1,2]:"x"}'
    assert dumps({(1, 2): "x"}, standard=True) == b'{"[1,2]":"x"}'
    assert dumps(ObjectKey(MQ)) == b'{"brokerName":"b","queueId":0,"topic":"T"}'


def test_dumps_non_ascii_is_raw_utf8() -> None:
    assert dumps({"t": '\u00fc\U0001f600"\\\n\x01'}) == (
        '{"t":"\u00fc\U0001f600\\"\\\\\\n\\u0001"}'.encode()
    )


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.0, "0.0"),
        (-0.0, "-0.0"),
        (1.0, "1.0"),
        (1.5, "1.5"),
        (-2.25, "-2.25"),
        (100.0, "100.0"),
        (0.001, "0.001"),
        (0.0001, "1.0E-4"),
        (1.2345e-5, "1.2345E-5"),
        (9999999.0, "9999999.0"),
        (1e7, "1.0E7"),
        (12345678.9, "1.23456789E7"),
        (1e20, "1.0E20"),
        (0.1 + 0.2, "0.30000000000000004"),
        (math.nan, "null"),
        (math.inf, "null"),
        (-math.inf, "null"),
    ],
)
def test_dumps_doubles_like_java(value: float, text: str) -> None:
    assert dumps(value) == text.encode()


def test_dumps_other_types() -> None:
    assert dumps([b"\x00\x01", Color.RED, Hooked(), {1}, frozenset()]) == (
        b'["AAE=","RED",{"b":1,"a":[true,null]},[1],[]]'
    )
    assert dumps({Color.RED: 1}) == b'{"RED":1}'


def test_dumps_mapping_that_is_not_a_dict() -> None:
    from types import MappingProxyType

    assert dumps(MappingProxyType({1: "a"})) == b'{1:"a"}'


@pytest.mark.parametrize("bad", [object(), {"a": {1j}}, [range(3)]])
def test_dumps_unsupported(bad: Any) -> None:
    with pytest.raises(LocalProtocolError, match="cannot encode"):
        dumps(bad)


def test_dumps_depth() -> None:
    value: Any = 1
    for _ in range(MAX_DEPTH):
        value = [value]
    assert dumps(value) == b"[" * MAX_DEPTH + b"1" + b"]" * MAX_DEPTH
    assert loads(dumps({0: value[0]})) == {0: value[0]}  # bare key: the hand-written reader
    with pytest.raises(LocalProtocolError, match="deeper than 512"):
        dumps([value])


def test_dumps_cycle_is_bounded() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(LocalProtocolError, match="deeper than 512"):
        dumps(loop)
    cycle: dict[str, Any] = {}
    cycle["self"] = cycle
    with pytest.raises(LocalProtocolError, match="deeper than 512"):
        dumps(cycle)


def test_dumps_lone_surrogate() -> None:
    with pytest.raises(LocalProtocolError):
        dumps("\ud800")


# -- round trips ------------------------------------------------------------------------------

_text = st.text(max_size=8)
_scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | _text
_floats = st.floats(allow_nan=False, allow_infinity=False)


def _json_values(keys: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        _scalars | _floats,
        lambda children: (
            st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4)
        ),
        max_leaves=20,
    )


@settings(max_examples=300)
@given(_json_values(_text | st.integers(-(2**31), 2**31 - 1)))
def test_round_trip_fastjson_form(value: Any) -> None:
    assert loads(dumps(value)) == value


@settings(max_examples=300)
@given(_json_values(_text))
def test_round_trip_standard_form(value: Any) -> None:
    text = dumps(value, standard=True)
    assert json.loads(text) == value
    assert loads(text) == value


@settings(max_examples=300)
@given(_json_values(_text))
def test_hand_written_reader_agrees_with_json(value: Any) -> None:
    # The strict fast path would hide the hand-written reader: call it directly.
    for text in (json.dumps(value), json.dumps(value, indent=1, ensure_ascii=False)):
        assert fastjson._parse_lenient(text) == value


_mq_keys = st.builds(
    lambda topic, broker, qid: ObjectKey({"brokerName": broker, "queueId": qid, "topic": topic}),
    _text,
    _text,
    st.integers(0, 1000),
)


@settings(max_examples=200)
@given(st.dictionaries(_mq_keys, st.dictionaries(_text, st.integers()), max_size=5))
def test_round_trip_object_keys(table: dict[ObjectKey, Any]) -> None:
    value = {"offsetTable": table, "topicPutTps": 0.5}
    assert loads(dumps(value)) == value
