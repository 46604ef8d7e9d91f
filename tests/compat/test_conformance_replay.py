"""Replay the client requests of the golden captures against our name server and broker.

For every request a real client sent to the real Apache 4.9.8 servers (scenario by scenario, in
capture order, each captured connection mapped to a fresh connection of ours) our answer must
carry the same response code, the same set of extFields keys and a body of the same shape
(JSON bodies: the same top-level keys; message bodies: records). Values may differ where they
carry addresses, offsets, ids or times.

The Java broker's own registration frames are not replayed (our broker registers itself).
"""

from __future__ import annotations

import base64
import json
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest

from rocketmq_py._transport import ConnectionPool
from rocketmq_py._transport.connection import ClientConnection, PendingResponse
from rocketmq_py.protocol import fastjson
from rocketmq_py.protocol.codes import RequestCode
from rocketmq_py.protocol.command import RemotingCommand
from rocketmq_py.protocol.connection import RemotingConnection
from rocketmq_py.protocol.message import decode_offset_msg_id, decode_properties, iter_records
from tests.conftest import SHARED

pytestmark = pytest.mark.anyio

CAPTURES = SHARED / "captures"
SKIP_CODES = {
    RequestCode.REGISTER_BROKER,  # the Java broker's own frames
    RequestCode.UNREGISTER_BROKER,
}
# Long polls are shortened so the replay does not wait 15 s per empty queue.
SUSPEND_MS = "300"
MAX_GAP = 3.0


def _scenarios() -> list[Path]:
    if not CAPTURES.is_dir():
        return []
    return sorted(CAPTURES.glob("*.jsonl"))


def _decode_frame(b64: str) -> Any:
    conn = RemotingConnection()
    conn.receive_data(base64.b64decode(b64))
    return conn.next_command()


def _body_shape(request_code: int, body: bytes | None) -> object:
    if not body:
        return None
    if request_code in (
        RequestCode.PULL_MESSAGE,
        RequestCode.QUERY_MESSAGE,
        RequestCode.VIEW_MESSAGE_BY_ID,
    ):
        return ("records", len(list(iter_records(body))) > 0)
    try:
        value = fastjson.loads(body)
    except Exception:
        return ("bytes",)
    if isinstance(value, dict):
        return ("json", frozenset(str(k) for k in value))
    return ("json", type(value).__name__)


async def test_replay_matches_apache(namesrv: Any, broker: Any) -> None:
    """All scenarios in order against one name server and broker, as they were captured."""
    mismatches: list[str] = []
    replayed: dict[int, int] = defaultdict(int)
    for capture in _scenarios():
        if capture.stem.startswith("04_"):
            # mqadmin created CapAliOns (8 queues, its default) before this capture started.
            await _create_topic(broker, "CapAliOns", 8)
        await _replay(capture, namesrv, broker, mismatches, replayed)
    assert sum(replayed.values()) > 300
    assert replayed[RequestCode.LOCK_BATCH_MQ] and replayed[RequestCode.UNLOCK_BATCH_MQ]
    assert not mismatches, f"{len(mismatches)} differences:\n" + "\n".join(mismatches)


async def _create_topic(broker: Any, topic: str, queues: int) -> None:
    async with ConnectionPool() as pool:
        resp = await pool.request(
            f"127.0.0.1:{broker.port}",
            RemotingCommand.request(
                RequestCode.UPDATE_AND_CREATE_TOPIC,
                {
                    "topic": topic,
                    "defaultTopic": "TBW102",
                    "readQueueNums": queues,
                    "writeQueueNums": queues,
                    "perm": 6,
                    "topicFilterType": "SINGLE_TAG",
                    "topicSysFlag": 0,
                    "order": "false",
                },
            ),
        )
        assert resp.code == 0, resp.remark
        await broker.register_all()


async def _replay(
    capture: Path, namesrv: Any, broker: Any, mismatches: list[str], replayed: dict[int, int]
) -> None:
    rows = [json.loads(line) for line in capture.read_text().splitlines()]
    responses = {
        (r["server"], r["conn"], r["opaque"]): r
        for r in rows
        if r["kind"] == "response" and r["direction"] == "s2c"
    }
    requests = sorted(
        (r for r in rows if r["direction"] == "c2s" and r["kind"] in ("request", "oneway")),
        key=lambda r: r["ts"],
    )
    addresses = {"namesrv": f"127.0.0.1:{namesrv.port}", "broker": f"127.0.0.1:{broker.port}"}
    # Our commitlog offsets differ from Apache's (records are not byte-identical), so requests
    # that echo offsets from earlier answers (END_TRANSACTION) are rewritten with ours, found
    # by the message's UNIQ_KEY.
    half_offsets: dict[str, tuple[int, int]] = {}
    started = time.monotonic()
    first_ts = requests[0]["ts"] if requests else 0.0
    lag = 0.0
    connections: dict[tuple[str, int], ClientConnection] = {}
    async with anyio.create_task_group() as tg:
        async with anyio.create_task_group() as work:
            for row in requests:
                if row["code"] in SKIP_CODES:
                    continue
                # Keep the capture's pace (delayed messages and long polls depend on it), but do
                # not wait more than MAX_GAP seconds for any one gap.
                target = row["ts"] - first_ts - lag
                ahead = target - (time.monotonic() - started)
                if ahead > MAX_GAP:
                    lag += ahead - MAX_GAP
                    ahead = MAX_GAP
                if ahead > 0:
                    await anyio.sleep(ahead)
                command = _decode_frame(row["frame_b64"])
                if command.code == RequestCode.END_TRANSACTION and command.ext_fields:
                    mapped = half_offsets.get(command.ext_fields.get("msgId", ""))
                    if mapped is not None:
                        command.ext_fields["commitLogOffset"] = str(mapped[0])
                        command.ext_fields["tranStateTableOffset"] = str(mapped[1])
                expected = responses.get((row["server"], row["conn"], row["opaque"]))
                is_pull = command.code in (RequestCode.PULL_MESSAGE, RequestCode.LITE_PULL_MESSAGE)
                if is_pull and command.ext_fields:
                    # Hold a pull about as long as Apache held it (plus 1 s), not 15 s.
                    held = (expected["ts"] - row["ts"]) if expected is not None else 0.0
                    command.ext_fields["suspendTimeoutMillis"] = str(
                        int(held * 1000) + 1000 if held > 0.2 else SUSPEND_MS
                    )
                key = (row["server"], row["conn"])
                conn = connections.get(key)
                if conn is None:
                    conn = await ClientConnection.connect(addresses[row["server"]], tg)
                    connections[key] = conn
                replayed[command.code] += 1
                if command.is_oneway:
                    await conn.oneway(command)
                    continue
                if expected is None:
                    # Apache never answered: a long poll parked when the capture ended, or an
                    # END_TRANSACTION with state UNKNOWN (never answered). Ours must not either.
                    work.start_soon(_expect_no_answer, conn, command, mismatches, capture.stem)
                    continue
                pending = await conn.send_request(command)  # on the wire before what follows
                check = _Check(capture.stem, row["conn"], command, expected, mismatches)
                if is_pull:
                    # Long polls wait for later sends: answer them in the background.
                    work.start_soon(check.compare, pending, None)
                else:
                    await check.compare(pending, half_offsets)
        for conn in connections.values():
            await conn.aclose()
        tg.cancel_scope.cancel()


async def _expect_no_answer(
    conn: ClientConnection, command: Any, mismatches: list[str], stem: str
) -> None:
    with anyio.move_on_after(0.5):
        ours = await conn.request(command, timeout=10)
        if command.code == RequestCode.END_TRANSACTION:
            mismatches.append(f"{stem}: END_TRANSACTION(unknown) was answered {ours.code}")


@dataclass
class _Check:
    """Compares our answer to one request with Apache's."""

    stem: str
    conn_no: int
    command: Any
    expected: dict[str, Any]
    mismatches: list[str]

    async def compare(
        self, pending: PendingResponse, half_offsets: dict[str, tuple[int, int]] | None
    ) -> None:
        command, expected = self.command, self.expected
        ours = await pending.wait(timeout=30)
        if half_offsets is not None:
            _remember_send(command, ours, half_offsets)
        raw_body = base64.b64decode(expected["body_b64"] or "")
        want = (
            expected["code"],
            sorted(expected["extFields"] or {}),
            _body_shape(command.code, raw_body),
        )
        got = (ours.code, sorted(ours.ext_fields or {}), _body_shape(command.code, ours.body))
        if want != got:
            self.mismatches.append(
                f"{self.stem} conn {self.conn_no} code {command.code} {command.ext_fields}: "
                f"Apache {want} remark={expected['remark']!r} / ours {got} remark={ours.remark!r}"
            )


def _remember_send(request: Any, response: Any, half_offsets: dict[str, tuple[int, int]]) -> None:
    if (
        request.code not in (RequestCode.SEND_MESSAGE, RequestCode.SEND_MESSAGE_V2)
        or response.code != 0
    ):
        return
    ext = request.ext_fields or {}
    props = decode_properties(ext.get("properties", ext.get("i")))
    unique = props.get("UNIQ_KEY")
    got = response.ext_fields or {}
    if unique and "msgId" in got:
        half_offsets[unique] = (decode_offset_msg_id(got["msgId"])[2], int(got["queueOffset"]))


def test_captures_present() -> None:
    assert _scenarios(), f"no captures under {CAPTURES}"
