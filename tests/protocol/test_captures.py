"""Every golden frame captured from real Java/C++/Node clients and the Apache 4.9.8 servers.

Each line of ``shared/captures/*.jsonl`` is one frame exactly as it crossed the wire (see the
README there). For every frame: the connection decodes it, whole and (for a sample) one byte at a
time, into the command the capture describes; its typed header (when one is registered) decodes
and re-encodes to the same extFields; and encoding the command again gives a frame that decodes
to the same command, and that is the captured frame byte for byte whenever a Java peer wrote it.
"""

from __future__ import annotations

import base64
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from rocketmq_py.protocol.codes import SerializeType
from rocketmq_py.protocol.command import FLAG_ONEWAY, FLAG_RESPONSE, RemotingCommand
from rocketmq_py.protocol.connection import CLOSED, NEED_DATA, RemotingConnection
from rocketmq_py.protocol.headers import (
    CommandHeader,
    header_for_request,
    registered_headers,
)

CAPTURES = Path(__file__).resolve().parents[2].parent / "shared" / "captures"

# protocol.md (section 14) speaks of 813 frames, but the six files hold 713 lines and their
# *.summary.json files count 713 (155 + 89 + 156 + 97 + 94 + 122): 713 is what was captured.
EXPECTED_FRAMES = 713

# Keys some peers add that no header models: ACL signing (mqadmin with credentials; the cpp
# client signs with an empty AccessKey) and the cpp client's Aliyun channel marker.
UNMODELLED_KEYS = {"AccessKey", "Signature", "OnsChannel"}

# Every BYTEWISE_EVERY-th frame of a file is also fed one byte at a time.
BYTEWISE_EVERY = 5

pytestmark = pytest.mark.skipif(
    not CAPTURES.is_dir(), reason=f"golden captures not found at {CAPTURES}"
)


def _load() -> list[tuple[str, int, dict[str, Any]]]:
    frames = []
    if CAPTURES.is_dir():
        for path in sorted(CAPTURES.glob("*.jsonl")):
            with path.open(encoding="utf-8") as lines:
                for index, line in enumerate(lines):
                    frames.append((path.name, index, json.loads(line)))
    return frames


FRAMES = _load()


def _frame_id(name: str, index: int, record: dict[str, Any]) -> str:
    if record["kind"] == "response":
        what = f"resp{record['code']}-to-{record['requestCode']}"
    else:
        what = f"{record['kind']}{record['code']}"
    return f"{Path(name).stem}:{index}:{what}"


FRAME_PARAMS = [
    pytest.param(name, index, record, id=_frame_id(name, index, record))
    for name, index, record in FRAMES
]


def _response_headers() -> dict[int, type[CommandHeader]]:
    by_request: dict[int, type[CommandHeader]] = {}
    for cls in registered_headers():
        if not cls.__module__.startswith("rocketmq_py.protocol.headers."):
            continue  # a throwaway header registered by some other test
        for code in cls.RESPONSE_TO:
            assert code not in by_request, f"two response headers for request {code}"
            by_request[code] = cls
    return by_request


RESPONSE_HEADERS = _response_headers()


def java_text(value: object) -> str:
    """What fastjson makes of an extFields value that a Node client sent as a JSON scalar."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    assert isinstance(value, str), value
    return value


def written_by_java(record: dict[str, Any]) -> bool:
    """True for frames from Java peers: binary headers, or fastjson's (serializeTypeCurrentRPC).

    The cpp client ends its JSON header with a newline and writes some numbers unquoted; ali-ons
    orders keys its own way and omits serializeTypeCurrentRPC. Everything Java wrote (clients,
    broker, name server, mqadmin) we reproduce exactly: same key order, same escapes.
    """
    if record["serializeType"] == SerializeType.ROCKETMQ:
        return True
    return "serializeTypeCurrentRPC" in record["headerKeys"]


def decode_whole(frame: bytes) -> RemotingCommand:
    conn = RemotingConnection()
    conn.receive_data(frame)
    cmd = conn.next_command()
    assert isinstance(cmd, RemotingCommand)
    assert conn.next_command() is NEED_DATA
    assert conn.buffered == 0
    conn.receive_data(b"")
    assert conn.next_command() is CLOSED
    return cmd


def decode_bytewise(frame: bytes) -> RemotingCommand:
    conn = RemotingConnection()
    for i in range(len(frame) - 1):
        conn.receive_data(frame[i : i + 1])
        assert conn.next_command() is NEED_DATA
    conn.receive_data(frame[-1:])
    cmd = conn.next_command()
    assert isinstance(cmd, RemotingCommand)
    return cmd


def check_against_record(cmd: RemotingCommand, record: dict[str, Any]) -> None:
    assert cmd.code == record["code"]
    assert cmd.flag == record["flag"]
    assert cmd.opaque == record["opaque"]
    assert cmd.language.name == record["language"]
    assert cmd.version == record["version"]
    assert cmd.remark == record["remark"]
    assert cmd.serialize_type == SerializeType(record["serializeType"])
    captured_ext = record["extFields"]
    if captured_ext is None:
        assert cmd.ext_fields is None
    else:
        assert cmd.ext_fields == {k: java_text(v) for k, v in captured_ext.items()}
    body = base64.b64decode(record["body_b64"])
    assert len(body) == record["body_len"]
    assert cmd.body == (body or None)
    assert cmd.is_response == (record["kind"] == "response") == bool(record["flag"] & FLAG_RESPONSE)
    assert cmd.is_oneway == (record["kind"] == "oneway") == bool(record["flag"] & FLAG_ONEWAY)


def expected_text(kind: type, raw: str) -> str:
    """The text a faithful re-encoding must give for ``raw``.

    Only one normalisation is allowed: the cpp client writes booleans as ``"0"``/``"1"``
    (batch, unitMode, fromTransactionCheck), which we read as booleans and write back Java style.
    """
    if kind is bool and raw in ("0", "1"):
        return "true" if raw == "1" else "false"
    return raw


def check_header(cls: type[CommandHeader], cmd: RemotingCommand) -> None:
    ext = cmd.ext_fields or {}
    header = cmd.read_header(cls)
    again = header.to_ext_fields()
    known = {spec.wire: spec for spec in cls.field_specs()}
    assert set(again) == set(ext) & set(known)
    for wire, text in again.items():
        assert text == expected_text(known[wire].kind, ext[wire]), wire
    unknown = set(ext) - set(known) - UNMODELLED_KEYS
    assert not unknown, f"{cls.__name__} does not model {sorted(unknown)}"
    assert cls.from_ext_fields(again) == header


def test_frame_count() -> None:
    summaries = sorted(CAPTURES.glob("*.summary.json"))
    assert len(summaries) == len({name for name, _, _ in FRAMES}) == 6
    counted = sum(json.loads(path.read_text())["frames_total"] for path in summaries)
    assert len(FRAMES) == counted == EXPECTED_FRAMES


def test_every_frame_is_checked() -> None:
    assert len(FRAME_PARAMS) == len(FRAMES)
    assert len({p.id for p in FRAME_PARAMS}) == len(FRAMES)


@pytest.mark.parametrize(("name", "index", "record"), FRAME_PARAMS)
def test_frame(name: str, index: int, record: dict[str, Any]) -> None:
    frame = base64.b64decode(record["frame_b64"])
    assert len(frame) == record["frame_len"]
    header_raw = base64.b64decode(record["header_raw_b64"])
    assert frame[8 : 8 + len(header_raw)] == header_raw

    cmd = decode_whole(frame)
    check_against_record(cmd, record)
    if index % BYTEWISE_EVERY == 0:
        assert decode_bytewise(frame) == cmd

    if record["kind"] in ("request", "oneway"):
        request_cls = header_for_request(record["code"])
        if request_cls is not None:
            check_header(request_cls, cmd)
    elif record["code"] == 0 and record["requestCode"] in RESPONSE_HEADERS:
        check_header(RESPONSE_HEADERS[record["requestCode"]], cmd)

    encoded = cmd.encode()
    assert decode_whole(encoded) == cmd
    if written_by_java(record):
        assert encoded == frame, "a frame written by Java must re-encode byte for byte"


def _streams() -> list[Any]:
    """Each file's frames grouped into the byte streams they travelled in (per connection, way)."""
    streams: dict[tuple[str, int, str], list[dict[str, Any]]] = defaultdict(list)
    for name, _, record in FRAMES:
        streams[(name, record["conn"], record["direction"])].append(record)
    return [
        pytest.param(records, id=f"{Path(name).stem}:conn{conn}:{direction}")
        for (name, conn, direction), records in streams.items()
    ]


@pytest.mark.parametrize("records", _streams())
def test_stream_in_odd_chunks(records: list[dict[str, Any]]) -> None:
    stream = b"".join(base64.b64decode(r["frame_b64"]) for r in records)
    conn = RemotingConnection()
    got: list[RemotingCommand] = []
    pos, step = 0, 1
    while pos < len(stream):
        conn.receive_data(stream[pos : pos + step])
        got.extend(conn.commands())
        pos += step
        step = step * 7 % 251 + 1
    conn.receive_data(b"")
    assert conn.next_command() is CLOSED
    assert [(c.code, c.opaque, c.flag) for c in got] == [
        (r["code"], r["opaque"], r["flag"]) for r in records
    ]
