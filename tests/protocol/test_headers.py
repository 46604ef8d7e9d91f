"""Header classes: the registry, round trips, strict decoding and Java's lenient parsing."""

from __future__ import annotations

import dataclasses
import importlib
import json
import pkgutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rocketmq_py.exceptions import RemoteProtocolError
from rocketmq_py.protocol import headers
from rocketmq_py.protocol.codes import RequestCode, SerializeType
from rocketmq_py.protocol.command import RemotingCommand, decode_command
from rocketmq_py.protocol.connection import RemotingConnection
from rocketmq_py.protocol.headers import (
    CommandHeader,
    ConsumerSendMsgBackRequestHeader,
    CreateTopicRequestHeader,
    FieldSpec,
    HeartbeatRequestHeader,
    PullMessageRequestHeader,
    QueryConsumerOffsetRequestHeader,
    QueryMessageRequestHeader,
    ResetOffsetRequestHeader,
    SendMessageRequestHeader,
    SendMessageRequestHeaderV2,
    SendMessageResponseHeader,
    UnregisterClientRequestHeader,
    header_for_request,
    registered_headers,
)

# Hypothesis complains about function-scoped fixtures; the only one here is conftest's autouse
# tmp_home, which these pure tests never look at.
HYPOTHESIS = settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)

# Only the package's own classes: other tests may register throwaway headers of their own.
ALL_HEADERS = [
    cls for cls in registered_headers() if cls.__module__.startswith(f"{headers.__name__}.")
]
REQUEST_HEADERS = [cls for cls in ALL_HEADERS if cls.REQUEST_CODES]

# Every request code the broker and the clients exchange headers for must have a class.
CODES_WITH_HEADERS = [
    RequestCode.SEND_MESSAGE,
    RequestCode.PULL_MESSAGE,
    RequestCode.QUERY_MESSAGE,
    RequestCode.QUERY_CONSUMER_OFFSET,
    RequestCode.UPDATE_CONSUMER_OFFSET,
    RequestCode.UPDATE_AND_CREATE_TOPIC,
    RequestCode.GET_BROKER_CONFIG,
    RequestCode.GET_BROKER_RUNTIME_INFO,
    RequestCode.SEARCH_OFFSET_BY_TIMESTAMP,
    RequestCode.GET_MAX_OFFSET,
    RequestCode.GET_MIN_OFFSET,
    RequestCode.GET_EARLIEST_MSG_STORETIME,
    RequestCode.VIEW_MESSAGE_BY_ID,
    RequestCode.HEART_BEAT,
    RequestCode.UNREGISTER_CLIENT,
    RequestCode.CONSUMER_SEND_MSG_BACK,
    RequestCode.END_TRANSACTION,
    RequestCode.GET_CONSUMER_LIST_BY_GROUP,
    RequestCode.CHECK_TRANSACTION_STATE,
    RequestCode.NOTIFY_CONSUMER_IDS_CHANGED,
    RequestCode.LOCK_BATCH_MQ,
    RequestCode.UNLOCK_BATCH_MQ,
    RequestCode.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP,
    RequestCode.GET_TOPIC_STATS_INFO,
    RequestCode.GET_CONSUMER_CONNECTION_LIST,
    RequestCode.GET_PRODUCER_CONNECTION_LIST,
    RequestCode.DELETE_SUBSCRIPTIONGROUP,
    RequestCode.GET_CONSUME_STATS,
    RequestCode.DELETE_TOPIC_IN_BROKER,
    RequestCode.RESET_CONSUMER_CLIENT_OFFSET,
    RequestCode.INVOKE_BROKER_TO_RESET_OFFSET,
    RequestCode.QUERY_TOPIC_CONSUME_BY_WHO,
    RequestCode.GET_CONSUMER_RUNNING_INFO,
    RequestCode.CONSUME_MESSAGE_DIRECTLY,
    RequestCode.SEND_MESSAGE_V2,
    RequestCode.SEND_BATCH_MESSAGE,
    RequestCode.LITE_PULL_MESSAGE,
    RequestCode.RECALL_MESSAGE,
]

# Requests whose answers carry a typed header.
RESPONSES_WITH_HEADERS = [
    RequestCode.SEND_MESSAGE,
    RequestCode.SEND_MESSAGE_V2,
    RequestCode.SEND_BATCH_MESSAGE,
    RequestCode.PULL_MESSAGE,
    RequestCode.LITE_PULL_MESSAGE,
    RequestCode.QUERY_MESSAGE,
    RequestCode.QUERY_CONSUMER_OFFSET,
    RequestCode.SEARCH_OFFSET_BY_TIMESTAMP,
    RequestCode.GET_MAX_OFFSET,
    RequestCode.GET_MIN_OFFSET,
    RequestCode.GET_EARLIEST_MSG_STORETIME,
    RequestCode.GET_BROKER_CONFIG,
    RequestCode.RECALL_MESSAGE,
]


def _id(cls: type[CommandHeader]) -> str:
    return cls.__name__


def _value(kind: type, *, nonempty: bool = False) -> st.SearchStrategy[object]:
    if kind is str:
        return st.text(min_size=1 if nonempty else 0)
    if kind is bool:
        return st.booleans()
    if kind is int:
        return st.integers(-(2**63), 2**63 - 1)
    return st.floats(allow_nan=False, allow_infinity=False)


def instances(
    cls: type[CommandHeader], *, nonempty: bool = False
) -> st.SearchStrategy[CommandHeader]:
    """Headers of ``cls`` with every required field set and optional ones set or None."""
    fields = {}
    for spec in cls.field_specs():
        value = _value(spec.kind, nonempty=nonempty)
        fields[spec.name] = value if spec.required else st.none() | value
    return st.builds(cls, **fields)


_SAMPLE_TEXT = {str: "x", int: "7", bool: "true", float: "1.5"}


def sample_ext(cls: type[CommandHeader]) -> dict[str, str]:
    """Valid extFields for ``cls`` with every field present."""
    return {spec.wire: _SAMPLE_TEXT[spec.kind] for spec in cls.field_specs()}


def _specs(predicate) -> list:
    return [
        pytest.param(cls, spec, id=f"{cls.__name__}.{spec.name}")
        for cls in ALL_HEADERS
        for spec in cls.field_specs()
        if predicate(spec)
    ]


# -- the registry and the package surface --------------------------------------------------------


def test_package_imports_every_module() -> None:
    modules = [m.name for m in pkgutil.iter_modules(headers.__path__) if not m.name.startswith("_")]
    assert {"admin", "consumer", "namesrv", "pull", "query", "send", "transaction"} <= set(modules)
    for name in modules:
        module = importlib.import_module(f"rocketmq_py.protocol.headers.{name}")
        assert module.__all__ == sorted(module.__all__)
        for public in module.__all__:
            cls = getattr(module, public)
            assert cls in ALL_HEADERS, f"{name}.{public} is not registered"
            assert getattr(headers, public) is cls, f"{public} is not re-exported"


def test_package_all_is_sorted_and_complete() -> None:
    assert headers.__all__ == sorted(headers.__all__)
    # "@py_builtins"/"@pytest_ar": pytest rewrites the asserts of every module of a
    # distribution that ships a pytest plugin (ours: integrations.pytest_plugin).
    public = {name for name in vars(headers) if not name.startswith(("_", "@"))}
    public -= {"annotations"} | {m.name for m in pkgutil.iter_modules(headers.__path__)}
    assert set(headers.__all__) == public
    for helper in (
        "CommandHeader",
        "header_for_request",
        "registered_headers",
        "request_header",
        "response_header",
    ):
        assert helper in headers.__all__
    assert {cls.__name__ for cls in ALL_HEADERS} <= set(headers.__all__)


@pytest.mark.parametrize("code", CODES_WITH_HEADERS, ids=lambda c: f"{c.name}={int(c)}")
def test_every_request_code_has_a_header(code: RequestCode) -> None:
    cls = header_for_request(code)
    assert cls is not None
    assert int(code) in cls.REQUEST_CODES


@pytest.mark.parametrize("code", RESPONSES_WITH_HEADERS, ids=lambda c: f"{c.name}={int(c)}")
def test_answers_have_exactly_one_response_header(code: RequestCode) -> None:
    found = [cls for cls in ALL_HEADERS if int(code) in cls.RESPONSE_TO]
    assert len(found) == 1, found


@pytest.mark.parametrize("cls", ALL_HEADERS, ids=_id)
def test_declaration(cls: type[CommandHeader]) -> None:
    assert dataclasses.is_dataclass(cls)
    instance = cls.from_ext_fields(sample_ext(cls))
    assert not hasattr(instance, "__dict__"), "declare headers with @dataclass(slots=True)"
    # @dataclass writes "Name(field: type, ...)" into __doc__ when the class has no docstring.
    doc = cls.__doc__ or ""
    assert not doc.startswith(f"{cls.__name__}("), f"{cls.__name__} needs a docstring"
    summary = doc.splitlines()[0]
    for code in cls.REQUEST_CODES:
        assert f"{RequestCode(code).name} ({code}" in summary, "summary names each code"
    if cls.RESPONSE_TO:
        assert summary.startswith(f"Answer to {RequestCode(cls.RESPONSE_TO[0]).name}")
    assert bool(cls.REQUEST_CODES) != bool(cls.RESPONSE_TO)
    wires = [spec.wire for spec in cls.field_specs()]
    assert len(wires) == len(set(wires))
    # Required fields come first: dataclasses insist, and the constructor reads like Java's NN list.
    required = [spec.required for spec in cls.field_specs()]
    assert required == sorted(required, reverse=True)


@pytest.mark.parametrize(
    ("cls", "wire_names"),
    [
        (
            SendMessageRequestHeaderV2,
            {
                "producer_group": "a",
                "topic": "b",
                "default_topic": "c",
                "default_topic_queue_nums": "d",
                "queue_id": "e",
                "sys_flag": "f",
                "born_timestamp": "g",
                "flag": "h",
                "properties": "i",
                "reconsume_times": "j",
                "unit_mode": "k",
                "max_reconsume_times": "l",
                "batch": "m",
                "broker_name": "n",
            },
        ),
        (SendMessageRequestHeader, {"bname": "bname", "broker_name": "brokerName"}),
        (SendMessageResponseHeader, {"msg_region": "MSG_REGION", "trace_on": "TRACE_ON"}),
        (PullMessageRequestHeader, {"proxy_forward_client_id": "proxyFrowardClientId"}),
        (QueryMessageRequestHeader, {"unique_key_query": "_UNIQUE_KEY_QUERY"}),
        (UnregisterClientRequestHeader, {"client_id": "clientID"}),
        (
            HeartbeatRequestHeader,
            {"namespace": "ns", "namespaced": "nsd", "bname": "bname", "oneway": "oway"},
        ),
        (ResetOffsetRequestHeader, {"is_force": "isForce", "queue_id": "queueId"}),
        (ConsumerSendMsgBackRequestHeader, {"origin_msg_id": "originMsgId"}),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else "",
)
def test_wire_names(cls: type[CommandHeader], wire_names: dict[str, str]) -> None:
    wires = {spec.name: spec.wire for spec in cls.field_specs()}
    for name, wire in wire_names.items():
        assert wires[name] == wire


# -- round trips ---------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", ALL_HEADERS, ids=_id)
@HYPOTHESIS
@given(data=st.data())
def test_ext_fields_round_trip(cls: type[CommandHeader], data: st.DataObject) -> None:
    header = data.draw(instances(cls))
    ext = header.to_ext_fields()
    assert all(isinstance(v, str) for v in ext.values())
    present = {spec.wire for spec in cls.field_specs() if getattr(header, spec.name) is not None}
    assert set(ext) == present
    assert cls.from_ext_fields(ext) == header


@pytest.mark.parametrize("cls", REQUEST_HEADERS, ids=_id)
@pytest.mark.parametrize("serialize_type", list(SerializeType), ids=lambda s: s.name)
@HYPOTHESIS
@given(data=st.data())
def test_round_trip_through_a_frame(
    cls: type[CommandHeader], serialize_type: SerializeType, data: st.DataObject
) -> None:
    # Non-empty strings: the binary layout reads a zero-length value as null, as Java does.
    header = data.draw(instances(cls, nonempty=True))
    request = RemotingCommand.request(
        cls.REQUEST_CODES[0], header, b"body", opaque=9, serialize_type=serialize_type
    )
    conn = RemotingConnection()
    conn.receive_data(request.encode())
    decoded = conn.next_command()
    assert isinstance(decoded, RemotingCommand)
    assert decoded.serialize_type == serialize_type
    assert decoded.read_header(cls) == header


def test_none_fields_are_left_out() -> None:
    header = UnregisterClientRequestHeader(client_id="127.0.0.1@1#2", consumer_group="CG")
    assert header.to_ext_fields() == {"clientID": "127.0.0.1@1#2", "consumerGroup": "CG"}


def test_values_encode_like_java() -> None:
    header = CreateTopicRequestHeader(
        topic="T",
        default_topic="TBW102",
        read_queue_nums=4,
        write_queue_nums=4,
        perm=6,
        topic_filter_type="SINGLE_TAG",
        order=False,
        force=True,
    )
    assert header.to_ext_fields() == {
        "topic": "T",
        "defaultTopic": "TBW102",
        "readQueueNums": "4",
        "writeQueueNums": "4",
        "perm": "6",
        "topicFilterType": "SINGLE_TAG",
        "order": "false",
        "force": "true",
    }


# -- strict decoding -----------------------------------------------------------------------------


@pytest.mark.parametrize(("cls", "spec"), _specs(lambda spec: spec.required))
def test_missing_required_field(cls: type[CommandHeader], spec: FieldSpec) -> None:
    ext = sample_ext(cls)
    cls.from_ext_fields(ext)
    del ext[spec.wire]
    with pytest.raises(RemoteProtocolError, match=f"{cls.__name__}.*'{spec.wire}'.*missing"):
        cls.from_ext_fields(ext)


@pytest.mark.parametrize("cls", [c for c in ALL_HEADERS if c.field_specs()], ids=_id)
def test_no_ext_fields_at_all(cls: type[CommandHeader]) -> None:
    required = [spec for spec in cls.field_specs() if spec.required]
    if not required:
        assert cls.from_ext_fields(None) == cls()
        return
    with pytest.raises(RemoteProtocolError, match=f"'{required[0].wire}'"):
        cls.from_ext_fields(None)


@pytest.mark.parametrize(("cls", "spec"), _specs(lambda spec: spec.kind is int))
@pytest.mark.parametrize("raw", ["", "abc", "12x", "1.5", "9223372036854775808"])
def test_bad_integer(cls: type[CommandHeader], spec: FieldSpec, raw: str) -> None:
    ext = sample_ext(cls)
    ext[spec.wire] = raw
    with pytest.raises(RemoteProtocolError, match=f"{cls.__name__}: field '{spec.wire}'") as info:
        cls.from_ext_fields(ext)
    assert repr(raw) in str(info.value)


def test_int64_bounds_are_accepted() -> None:
    ext = sample_ext(ConsumerSendMsgBackRequestHeader)
    for raw in ("-9223372036854775808", "9223372036854775807", " 42 ", "-1"):
        ext["offset"] = raw
        assert ConsumerSendMsgBackRequestHeader.from_ext_fields(ext).offset == int(raw)


def test_unknown_keys_are_ignored() -> None:
    ext = {**sample_ext(UnregisterClientRequestHeader), "AccessKey": "ak", "Signature": "s"}
    assert UnregisterClientRequestHeader.from_ext_fields(ext).client_id == "x"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        ("True", True),
        ("1", True),
        ("false", False),
        ("FALSE", False),
        ("0", False),
        ("", False),
        ("yes", False),
    ],
)
def test_bool_parsing(raw: str, expected: bool) -> None:
    # Java's Boolean.parseBoolean, plus "1": the cpp client sends batch="1" and means it.
    v1 = {**sample_ext(SendMessageRequestHeader), "batch": raw}
    assert SendMessageRequestHeader.from_ext_fields(v1).batch is expected
    v2 = {**sample_ext(SendMessageRequestHeaderV2), "m": raw}
    assert SendMessageRequestHeaderV2.from_ext_fields(v2).batch is expected


# -- ali-ons style JSON headers ------------------------------------------------------------------


def test_json_numbers_and_booleans_become_strings() -> None:
    raw = {
        "code": 310,
        "language": "JAVA",
        "opaque": 5,
        "flag": 0,
        "version": 121,
        "extFields": {
            "a": "PG",
            "b": "CapAliOns",
            "c": "TBW102",
            "d": 4,
            "e": 0,
            "f": 0,
            "g": 1700000000000,
            "h": 0,
            "i": "TAGS\u0001TagA\u0002",
            "j": 0,
            "k": False,
            "l": 16,
            "m": True,
            "n": None,
        },
    }
    cmd = decode_command(SerializeType.JSON, json.dumps(raw).encode(), b"hello")
    assert cmd.ext_fields == {
        "a": "PG",
        "b": "CapAliOns",
        "c": "TBW102",
        "d": "4",
        "e": "0",
        "f": "0",
        "g": "1700000000000",
        "h": "0",
        "i": "TAGS\u0001TagA\u0002",
        "j": "0",
        "k": "false",
        "l": "16",
        "m": "true",
    }
    header = cmd.read_header(SendMessageRequestHeaderV2)
    assert header == SendMessageRequestHeaderV2(
        producer_group="PG",
        topic="CapAliOns",
        default_topic="TBW102",
        default_topic_queue_nums=4,
        queue_id=0,
        sys_flag=0,
        born_timestamp=1700000000000,
        flag=0,
        properties="TAGS\u0001TagA\u0002",
        reconsume_times=0,
        unit_mode=False,
        max_reconsume_times=16,
        batch=True,
    )


def test_json_float_that_is_an_integer() -> None:
    raw = b'{"code":14,"extFields":{"consumerGroup":"CG","topic":"T","queueId":3.0},"flag":0}'
    cmd = decode_command(SerializeType.JSON, raw, None)
    assert cmd.read_header(QueryConsumerOffsetRequestHeader).queue_id == 3


# -- V2 <-> V1 -----------------------------------------------------------------------------------

_V1_WIRE_OF_V2 = {
    "a": "producerGroup",
    "b": "topic",
    "c": "defaultTopic",
    "d": "defaultTopicQueueNums",
    "e": "queueId",
    "f": "sysFlag",
    "g": "bornTimestamp",
    "h": "flag",
    "i": "properties",
    "j": "reconsumeTimes",
    "k": "unitMode",
    "l": "maxReconsumeTimes",
    "m": "batch",
    "n": "bname",
}


@HYPOTHESIS
@given(v2=instances(SendMessageRequestHeaderV2))
def test_v2_to_v1_and_back(v2: SendMessageRequestHeaderV2) -> None:
    v1 = v2.to_v1()
    assert isinstance(v1, SendMessageRequestHeader)
    assert v1.broker_name is None
    # Same values under long names: the renaming of Java's createSendMessageRequestHeaderV1.
    assert v1.to_ext_fields() == {_V1_WIRE_OF_V2[k]: v for k, v in v2.to_ext_fields().items()}
    assert SendMessageRequestHeaderV2.from_v1(v1) == v2


def test_v1_to_v2_broker_name() -> None:
    base = {
        "producer_group": "PG",
        "topic": "T",
        "default_topic": "TBW102",
        "default_topic_queue_nums": 4,
        "queue_id": 1,
        "sys_flag": 0,
        "born_timestamp": 1,
        "flag": 0,
    }
    assert SendMessageRequestHeaderV2.from_v1(SendMessageRequestHeader(**base)).broker_name is None
    with_bname = SendMessageRequestHeader(**base, bname="broker-a", broker_name="other")
    assert SendMessageRequestHeaderV2.from_v1(with_bname).broker_name == "broker-a"
    spelled_out = SendMessageRequestHeader(**base, broker_name="broker-b")
    v2 = SendMessageRequestHeaderV2.from_v1(spelled_out)
    assert v2.broker_name == "broker-b"
    assert v2.to_ext_fields()["n"] == "broker-b"
    assert v2.to_v1().bname == "broker-b"


# -- the compiled decoders and encoders agree with the field-by-field path --------------------

_VALUES = st.one_of(
    st.none(),
    st.sampled_from(["0", "1", "-7", " 42 ", "true", "FALSE", "1_0", "x", "", "1.5", "9" * 20]),
    st.text(max_size=6),
)


def _outcome(decode: object, ext: dict[str, str]) -> object:
    try:
        return decode(ext)  # type: ignore[operator]
    except RemoteProtocolError as exc:
        return ("error", str(exc))


@HYPOTHESIS
@given(st.data())
def test_compiled_decoder_equals_the_checked_path(data: st.DataObject) -> None:
    cls = data.draw(st.sampled_from(registered_headers()))
    ext = {}
    for spec in cls.field_specs():
        value = data.draw(_VALUES)
        if value is not None:
            ext[spec.wire] = value
    assert _outcome(cls.from_ext_fields, ext) == _outcome(cls._decode_checked, ext)


def test_compiled_encoder_writes_declared_order_and_java_text() -> None:
    header = SendMessageResponseHeader(
        msg_id="ID", queue_id=3, queue_offset=7, msg_region="R", trace_on=False
    )
    assert list(header.to_ext_fields().items()) == [
        ("msgId", "ID"),
        ("queueId", "3"),
        ("queueOffset", "7"),
        ("MSG_REGION", "R"),
        ("TRACE_ON", "false"),
    ]
    assert SendMessageResponseHeader.stored_fields("ID", 3, 7, "R", False) == (
        header.to_ext_fields()
    )


# -- the JSON header decoder's fast path agrees with the general one -------------------------

_JSON_VALUES = st.one_of(
    st.integers(min_value=-(2**33), max_value=2**33),
    st.booleans(),
    st.none(),
    st.text(max_size=4),
    st.floats(allow_nan=False, allow_infinity=False),
)


@HYPOTHESIS
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "code": _JSON_VALUES,
            "flag": _JSON_VALUES,
            "opaque": _JSON_VALUES,
            "version": _JSON_VALUES,
            "language": st.one_of(st.sampled_from(["JAVA", "CPP", "PYTHON", "nope"]), _JSON_VALUES),
            "remark": _JSON_VALUES,
            "extFields": st.one_of(
                st.none(), st.dictionaries(st.text(max_size=3), _JSON_VALUES, max_size=4)
            ),
        },
    )
)
def test_json_header_fast_path_equals_the_general_decoder(obj: dict[str, object]) -> None:
    from rocketmq_py.protocol import command

    def outcome(decode: object) -> object:
        try:
            return decode()  # type: ignore[operator]
        except RemoteProtocolError as exc:
            return ("error", str(exc))

    raw = json.dumps(obj).encode()
    assert outcome(lambda: command.decode_command(0, raw, None)) == outcome(
        lambda: command._decode_json_object(command._json.loads(raw), None)
    )
