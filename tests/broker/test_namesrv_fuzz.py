"""Fuzzing the name server with malformed frames: it must keep serving, with bounded memory.

The server is a real ``mqnamesrv`` process, so a crash or a leak shows up as what it is.
"""

from __future__ import annotations

import random
import socket
import struct
from pathlib import Path

import pytest

from rocketmq_py.protocol.codes import RequestCode, ResponseCode
from rocketmq_py.protocol.command import RemotingCommand
from rocketmq_py.protocol.connection import NEED_DATA, RemotingConnection
from tests.conftest import ServerProcess

FRAMES = 10_000


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _frame(header: bytes, body: bytes = b"", serialize_type: int = 0) -> bytes:
    return (
        struct.pack(">iI", 4 + len(header) + len(body), (serialize_type << 24) | len(header))
        + header
        + body
    )


def _malformed(rng: random.Random) -> tuple[bytes, bool]:
    """One malformed input and whether the server should answer it (vs. closing)."""
    kind = rng.randrange(9)
    if kind == 0:  # random bytes
        return rng.randbytes(rng.randrange(1, 200)), False
    if kind == 1:  # length field smaller than the header-length word
        return struct.pack(">i", rng.randrange(-(2**31), 4)) + rng.randbytes(8), False
    if kind == 2:  # absurd length (2^31-1 or past the 16 MiB limit)
        length = rng.choice([2**31 - 1, 16 * 1024 * 1024 + 1, 2**30])
        return struct.pack(">iI", length, 10) + rng.randbytes(16), False
    if kind == 3:  # header length larger than the frame
        return struct.pack(">iI", 20, 5000) + rng.randbytes(16), False
    if kind == 4:  # length past the data actually sent, then the peer goes away
        return struct.pack(">iI", 1000, 10) + b'{"code":1' + rng.randbytes(5), False
    if kind == 5:  # invalid JSON header
        return _frame(
            rng.choice(
                [b"{", b"[1,2]", b'{"code":"x"}', b"\xff\xfe", b'{"code":105,"extFields":7}']
            )
        ), False
    if kind == 6:  # unknown serialize type
        return struct.pack(">iI", 8, (rng.randrange(2, 256) << 24) | 4) + b"abcd", False
    if kind == 7:  # valid frame, wrong field types in a known request
        cmd = RemotingCommand.request(
            rng.choice(
                [
                    RequestCode.REGISTER_BROKER,
                    RequestCode.GET_ROUTEINFO_BY_TOPIC,
                    RequestCode.PUT_KV_CONFIG,
                ]
            ),
            {"brokerId": "x" * rng.randrange(1, 5), "topic": "", "bodyCrc32": "NaN"},
            rng.randbytes(rng.randrange(0, 64)),
        )
        return cmd.encode(), True
    cmd = RemotingCommand.request(rng.randrange(1000, 30000))  # unknown request code
    return cmd.encode(), True


def _read_response(sock: socket.socket) -> RemotingCommand | None:
    conn = RemotingConnection()
    while True:
        cmd = conn.next_command()
        if cmd is not NEED_DATA:
            assert isinstance(cmd, RemotingCommand)
            return cmd
        try:
            data = sock.recv(65536)
        except ConnectionResetError:  # the server aborted the connection
            return None
        if not data:
            return None
        conn.receive_data(data)


def _healthy(addr: tuple[str, int]) -> None:
    with socket.create_connection(addr, timeout=10) as sock:
        sock.sendall(
            RemotingCommand.request(RequestCode.GET_ROUTEINFO_BY_TOPIC, {"topic": "Probe"}).encode()
        )
        resp = _read_response(sock)
    assert resp is not None and resp.code == ResponseCode.TOPIC_NOT_EXIST


@pytest.mark.slow
def test_namesrv_survives_10000_malformed_frames(namesrv_process: ServerProcess) -> None:
    rng = random.Random(20261125)
    addr = ("127.0.0.1", namesrv_process.port)
    _healthy(addr)
    answered = closed = 0
    rss_after_warmup = 0
    sock = socket.create_connection(addr, timeout=10)
    try:
        for i in range(FRAMES):
            data, expect_answer = _malformed(rng)
            sock.sendall(data)
            if expect_answer:
                resp = _read_response(sock)
                assert resp is not None and resp.code in (
                    ResponseCode.SYSTEM_ERROR,
                    ResponseCode.REQUEST_CODE_NOT_SUPPORTED,
                    ResponseCode.TOPIC_NOT_EXIST,
                    ResponseCode.SUCCESS,
                )
                assert resp.code == ResponseCode.SUCCESS or resp.remark
                answered += 1
            else:
                # A frame that cannot be framed closes that connection only; a frame that only
                # promises more bytes waits for them, so we hang up and start over.
                sock.shutdown(socket.SHUT_WR)
                assert _read_response(sock) is None
                sock.close()
                sock = socket.create_connection(addr, timeout=10)
                closed += 1
            if i == 1000:
                rss_after_warmup = _rss_kib(namesrv_process.proc.pid)
    finally:
        sock.close()
    _healthy(addr)
    assert namesrv_process.proc.poll() is None, "the name server died"
    growth = _rss_kib(namesrv_process.proc.pid) - rss_after_warmup
    assert growth < 20_000, f"RSS grew by {growth} KiB over {FRAMES} malformed frames"
    assert answered > 1000 and closed > 5000
    log = (namesrv_process.proc.args, Path.home() / "logs" / "rocketmqlogs" / "namesrv.log")
    assert "malformed frame from 127.0.0.1:" in log[1].read_text()
