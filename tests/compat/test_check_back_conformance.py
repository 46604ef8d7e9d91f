"""Our CHECK_TRANSACTION_STATE against the ones a real Apache 4.9.8 broker sent in the captures.

The captures hold three check-backs (Java, cpp and Java-with-binary-headers producers): a
oneway frame whose extFields name the re-appended half message and whose body is that message
with its real topic and queue restored. Ours must carry every field Apache's carry, with the
same relations between header and body, so that Java, cpp and Go producers answer it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from broker.controller import BrokerController
from rocketmq_py.protocol.command import RemotingCommand
from rocketmq_py.protocol.connection import RemotingConnection
from rocketmq_py.protocol.message import (
    MessageRecord,
    decode_offset_msg_id,
    decode_record,
)
from tests.broker.txn_client import UNKNOWN, CheckingProducer, end_request, send_half
from tests.conftest import ROOT, broker_settings_for
from tests.waiting import wait_for

pytestmark = pytest.mark.anyio

CAPTURES = ROOT.parent / "shared" / "captures"
# Properties the capturing producers set themselves (not the broker's doing).
USER_PROPERTIES = {"peer", "KEYS", "TAGS"}


def _captured_checks() -> list[RemotingCommand]:
    checks = []
    for path in sorted(CAPTURES.glob("*.jsonl")):
        for line in path.read_text().splitlines():
            row = json.loads(line)
            if row["code"] == 39:
                conn = RemotingConnection()
                conn.receive_data(base64.b64decode(row["frame_b64"]))
                [command] = list(conn.commands())
                assert isinstance(command, RemotingCommand)
                checks.append(command)
    return checks


def _relations(command: RemotingCommand, store_port: int | None = None) -> dict[str, Any]:
    """What must hold between a check's header and body, as values to compare."""
    ext = command.ext_fields or {}
    record: MessageRecord = decode_record(command.body or b"")[0]
    props = record.properties
    _host, port, offset = decode_offset_msg_id(ext["offsetMsgId"])
    return {
        "oneway": command.is_oneway,
        "msgId is the UNIQ_KEY": ext["msgId"] == props["UNIQ_KEY"],
        "transactionId is the UNIQ_KEY": ext["transactionId"] == props["UNIQ_KEY"],
        "commitLogOffset is the body's": int(ext["commitLogOffset"]) == record.commit_log_offset,
        "offsetMsgId names that offset": offset == record.commit_log_offset,
        "offsetMsgId names the store": store_port is None or port == store_port,
        "tranStateTableOffset is the body's queue offset": (
            int(ext["tranStateTableOffset"]) == record.queue_offset
        ),
        "body topic is REAL_TOPIC": record.topic == props["REAL_TOPIC"],
        "body queue is REAL_QID": str(record.queue_id) == props["REAL_QID"],
        "first check": props["TRANSACTION_CHECK_TIMES"] == "1",
        "transaction bits reset": record.sys_flag & 0b1100 == 0,
        "still a transaction message": props["TRAN_MSG"] == "true",
    }


CAPTURED = _captured_checks()


def test_the_captures_hold_check_backs() -> None:
    if not CAPTURES.is_dir():
        pytest.skip("../shared/captures is not beside the repository")
    assert len(CAPTURED) == 3
    for command in CAPTURED:  # the relations describe Apache's frames
        assert all(_relations(command).values()), _relations(command)


@pytest.fixture
async def txn_broker(namesrv: Any, tmp_path: Path) -> AsyncIterator[BrokerController]:
    settings = broker_settings_for(
        tmp_path / "store",
        f"127.0.0.1:{namesrv.port}",
        transactionCheckInterval="1000",
        transactionTimeOut="1000",
    )
    async with BrokerController(settings) as controller:  # type: ignore[arg-type]
        yield controller


async def test_our_check_back_carries_what_apache_sends(txn_broker: BrokerController) -> None:
    if not CAPTURED:
        pytest.skip("../shared/captures is not beside the repository")
    producer = CheckingProducer("PG_conformance", lambda check: None)
    async with anyio.create_task_group() as tg:
        conn = await producer.connect(f"127.0.0.1:{txn_broker.port}", tg)
        half = await send_half(
            conn, "CapConformance", b"undecided", group="PG_conformance", queue_id=2
        )
        await conn.oneway(end_request(half, UNKNOWN))
        await wait_for(lambda: bool(producer.checks), what="a check-back")
        await conn.aclose()
        tg.cancel_scope.cancel()
    ours = producer.checks[0].command
    assert ours is not None
    theirs = CAPTURED[0]
    assert set(theirs.ext_fields or {}) <= set(ours.ext_fields or {})
    assert _relations(ours, txn_broker.port) == _relations(theirs)
    our_props = set(decode_record(ours.body or b"")[0].properties)
    their_props = set(decode_record(theirs.body or b"")[0].properties) - USER_PROPERTIES
    assert their_props <= our_props
