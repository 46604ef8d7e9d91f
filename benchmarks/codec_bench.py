"""Remoting codec benchmark: frames per second through ``rocketmq_py.protocol``.

Measures what every send costs both peers before any I/O: a realistic 1 KiB SEND_MESSAGE_V2
request (all fourteen ``a``..``n`` header fields, a ``UNIQ_KEY``/``TAGS``/``KEYS``/``WAIT``
properties string) and its SendMessage response, with JSON and ROCKETMQ binary headers.

Operations (``--ops``):

* ``encode``: ``RemotingCommand.encode()`` of a prebuilt command (a new opaque each time).
* ``encode+header``: build the command from its typed header first (``to_ext_fields``), as a
  client does for a request and a broker for a response.
* ``decode``: frames out of a :class:`~rocketmq_py.protocol.connection.RemotingConnection` fed
  64 KiB chunks of pipelined frames (frames straddle chunk boundaries, as on a socket).
* ``decode+header``: the same, then ``read_header`` into the typed header class.

JSON headers run twice in the same process: with orjson (when installed) and with the stdlib
``json`` fallback, forced by pointing ``rocketmq_py.protocol._json.dumps/loads`` at its
``std_dumps/std_loads``. Binary headers use no JSON library.

Run ``python benchmarks/codec_bench.py --help``. Not a test: nothing here asserts speed.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass

from _args import OneLineErrorParser

from rocketmq_py.protocol import _json
from rocketmq_py.protocol.codes import RequestCode, SerializeType
from rocketmq_py.protocol.command import RemotingCommand
from rocketmq_py.protocol.connection import NEED_DATA, RemotingConnection
from rocketmq_py.protocol.headers._base import CommandHeader
from rocketmq_py.protocol.headers.send import (
    SendMessageRequestHeaderV2,
    SendMessageResponseHeader,
)
from rocketmq_py.protocol.message import (
    MessageConst,
    UniqueIdGenerator,
    encode_offset_msg_id,
    encode_properties,
)

CHUNK = 64 * 1024
STREAM_BYTES = 1024 * 1024  # pipelined frames fed per decode pass
ENCODE_BATCH = 500  # encodes between clock reads
BODY_SIZE = 1024
BORN_TS = 1_700_000_000_000

OPS = ("encode", "encode+header", "decode", "decode+header")
MESSAGES = ("request", "response")


@dataclass(frozen=True)
class Variant:
    """A header encoding plus the JSON library serving it."""

    header: str  # "JSON" or "ROCKETMQ"
    json_lib: str  # "orjson", "json" or "-" (binary headers use none)

    @property
    def serialize_type(self) -> SerializeType:
        return SerializeType.JSON if self.header == "JSON" else SerializeType.ROCKETMQ

    @property
    def label(self) -> str:
        return self.header if self.json_lib == "-" else f"{self.header}/{self.json_lib}"


@dataclass
class Result:
    """One measured case."""

    message: str
    op: str
    header: str
    json_lib: str
    frame_bytes: int
    header_bytes: int
    frames: int
    seconds: float

    @property
    def frames_per_s(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0

    @property
    def us_per_frame(self) -> float:
        return self.seconds / self.frames * 1e6 if self.frames else 0.0

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = asdict(self)
        out["frames_per_s"] = round(self.frames_per_s, 1)
        out["us_per_frame"] = round(self.us_per_frame, 3)
        return out


# -- sample messages -------------------------------------------------------------------------


def request_header() -> SendMessageRequestHeaderV2:
    """A SEND_MESSAGE_V2 header as a Java 4.9 producer fills it, every ``a``..``n`` field set."""
    uniq = UniqueIdGenerator("10.0.0.17", 4242, 0x1B6D3586).next_id(BORN_TS, BORN_TS - 86_400_000)
    properties = encode_properties(
        {
            MessageConst.PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX: uniq,
            MessageConst.PROPERTY_TAGS: "TagA",
            MessageConst.PROPERTY_KEYS: "OrderID188",
            MessageConst.PROPERTY_WAIT_STORE_MSG_OK: "true",
        },
        trailing_separator=False,
    )
    return SendMessageRequestHeaderV2(
        producer_group="please_rename_unique_group_name",
        topic="BenchmarkTopic",
        default_topic="TBW102",
        default_topic_queue_nums=4,
        queue_id=2,
        sys_flag=0,
        born_timestamp=BORN_TS,
        flag=0,
        properties=properties,
        reconsume_times=0,
        unit_mode=False,
        max_reconsume_times=16,
        batch=False,
        broker_name="broker-a",
    )


def response_header() -> SendMessageResponseHeader:
    """What a broker answers a successful send with."""
    return SendMessageResponseHeader(
        msg_id=encode_offset_msg_id("10.0.0.21", 10911, 123_456_789_012),
        queue_id=2,
        queue_offset=987_654,
        msg_region="DefaultRegion",
        trace_on=True,
    )


BODY = bytes(i & 0xFF for i in range(BODY_SIZE))


def make_request(serialize_type: SerializeType, opaque: int = 1) -> RemotingCommand:
    return RemotingCommand.request(
        RequestCode.SEND_MESSAGE_V2,
        request_header(),
        BODY,
        opaque=opaque,
        serialize_type=serialize_type,
    )


def make_response(serialize_type: SerializeType, opaque: int = 1) -> RemotingCommand:
    return make_request(serialize_type, opaque).make_response(header=response_header())


# -- JSON back ends --------------------------------------------------------------------------


@contextmanager
def json_backend(name: str) -> Iterator[None]:
    """Serve JSON with ``name``: "orjson", "json" (the stdlib fallback) or "-" (leave as is)."""
    saved = (_json.dumps, _json.loads)
    if name == "json":
        _json.dumps, _json.loads = _json.std_dumps, _json.std_loads
    elif name == "orjson" and not _json.using_orjson:
        raise RuntimeError("orjson is not installed")
    try:
        yield
    finally:
        _json.dumps, _json.loads = saved


# -- timing loops ----------------------------------------------------------------------------


def _timed(step: Callable[[], int], seconds: float) -> tuple[int, float]:
    """Call ``step`` (which returns how many frames it handled) until ``seconds`` elapse."""
    frames = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        frames += step()
        now = time.perf_counter()
        if now >= deadline:
            return frames, now - start


def encode_step(message: str, op: str, variant: Variant) -> Callable[[], int]:
    """One batch of encodes for ``encode`` / ``encode+header``."""
    st = variant.serialize_type
    if op == "encode":
        cmd = make_request(st) if message == "request" else make_response(st)
        encode = cmd.encode

        def step() -> int:
            for i in range(ENCODE_BATCH):
                cmd.opaque = i
                encode()
            return ENCODE_BATCH

        return step

    if message == "request":
        header = request_header()
        code = RequestCode.SEND_MESSAGE_V2
        build = RemotingCommand.request

        def step_request() -> int:
            for i in range(ENCODE_BATCH):
                build(code, header, BODY, opaque=i, serialize_type=st).encode()
            return ENCODE_BATCH

        return step_request

    requests = [make_request(st, i) for i in range(ENCODE_BATCH)]
    resp_header = response_header()

    def step_response() -> int:
        for request in requests:
            request.make_response(header=resp_header).encode()
        return ENCODE_BATCH

    return step_response


def decode_step(message: str, op: str, variant: Variant) -> Callable[[], int]:
    """One pass of ~1 MiB of pipelined frames, fed in 64 KiB chunks."""
    st = variant.serialize_type
    frame = (make_request(st) if message == "request" else make_response(st)).encode()
    per_pass = max(1, STREAM_BYTES // len(frame))
    stream = frame * per_pass
    chunks = [stream[i : i + CHUNK] for i in range(0, len(stream), CHUNK)]
    conn = RemotingConnection()
    receive = conn.receive_data
    next_command = conn.next_command
    header_cls: type[CommandHeader] | None = None
    if op == "decode+header":
        header_cls = (
            SendMessageRequestHeaderV2 if message == "request" else SendMessageResponseHeader
        )

    def step() -> int:
        n = 0
        for chunk in chunks:
            receive(chunk)
            while True:
                cmd = next_command()
                if cmd is NEED_DATA:
                    break
                assert isinstance(cmd, RemotingCommand)
                if header_cls is not None:
                    cmd.read_header(header_cls)
                n += 1
        if n != per_pass:
            raise AssertionError(f"decoded {n} frames of {per_pass}")
        return n

    return step


def run_case(message: str, op: str, variant: Variant, seconds: float) -> Result:
    """Measure one case (after a short warm-up) under the variant's JSON library."""
    with json_backend(variant.json_lib):
        make = decode_step if op.startswith("decode") else encode_step
        step = make(message, op, variant)
        _timed(step, min(0.1, seconds / 10))
        gc.collect()
        frames, elapsed = _timed(step, seconds)
        sample = make_request(variant.serialize_type)
        if message == "response":
            sample = make_response(variant.serialize_type)
        return Result(
            message=message,
            op=op,
            header=variant.header,
            json_lib=variant.json_lib,
            frame_bytes=len(sample.encode()),
            header_bytes=len(sample.encode_header()),
            frames=frames,
            seconds=elapsed,
        )


# -- sanity ----------------------------------------------------------------------------------


def check_codec() -> None:
    """Both JSON libraries produce the same bytes, and every variant round-trips."""
    for st in (SerializeType.JSON, SerializeType.ROCKETMQ):
        for cmd in (make_request(st), make_response(st)):
            with json_backend("json"):
                std = cmd.encode()
            if _json.using_orjson:
                with json_backend("orjson"):
                    fast = cmd.encode()
                if fast != std:
                    raise AssertionError(f"orjson and json encode {st.name} differently")
            conn = RemotingConnection()
            conn.receive_data(std)
            back = conn.next_command()
            assert isinstance(back, RemotingCommand)
            if back.ext_fields != cmd.ext_fields or back.body != cmd.body:
                raise AssertionError(f"{st.name} frame does not round-trip")


# -- output ----------------------------------------------------------------------------------


def variants(json_libs: list[str]) -> list[Variant]:
    out = [Variant("JSON", lib) for lib in json_libs]
    out.append(Variant("ROCKETMQ", "-"))
    return out


def ratios(results: list[Result]) -> list[tuple[str, float]]:
    """orjson over stdlib json, and JSON (orjson) over binary, per message and op."""
    by_key = {(r.message, r.op, r.header, r.json_lib): r.frames_per_s for r in results}
    out: list[tuple[str, float]] = []
    for message in MESSAGES:
        for op in OPS:
            fast = by_key.get((message, op, "JSON", "orjson"))
            std = by_key.get((message, op, "JSON", "json"))
            binary = by_key.get((message, op, "ROCKETMQ", "-"))
            if fast and std:
                out.append((f"{message} {op}: orjson / stdlib json", fast / std))
            if fast and binary:
                out.append((f"{message} {op}: JSON(orjson) / ROCKETMQ binary", fast / binary))
            if std and binary and not fast:
                out.append((f"{message} {op}: JSON(json) / ROCKETMQ binary", std / binary))
    return out


def meta(seconds: float) -> dict[str, object]:
    orjson_version = "not installed"
    if _json.using_orjson:
        import orjson

        orjson_version = str(orjson.__version__)
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "orjson": orjson_version,
        "seconds_per_case": seconds,
        "chunk_bytes": CHUNK,
        "body_bytes": BODY_SIZE,
    }


def print_table(results: list[Result], info: dict[str, object]) -> None:
    print(
        f"Remoting codec: Python {info['python']} ({info['machine']}, {info['cpus']} CPUs), "
        f"orjson {info['orjson']}, {info['seconds_per_case']} s per case"
    )
    sizes: dict[tuple[str, str], tuple[int, int]] = {}
    for r in results:
        sizes[(r.message, r.header)] = (r.frame_bytes, r.header_bytes)
    for (message, header), (frame, header_len) in sorted(sizes.items()):
        print(f"  {message:<8} {header:<8} frame {frame:>5} B (header {header_len} B)")
    print()
    title = f"{'message':<9} {'op':<14} {'header':<14} {'frames/s':>12} {'µs/frame':>9}"
    print(title)
    print("-" * len(title))
    for r in results:
        variant = Variant(r.header, r.json_lib)
        print(
            f"{r.message:<9} {r.op:<14} {variant.label:<14} "
            f"{r.frames_per_s:>12,.0f} {r.us_per_frame:>9.2f}"
        )
    rows = ratios(results)
    if rows:
        print()
        width = max(len(name) for name, _ in rows)
        for name, value in rows:
            print(f"{name:<{width}}  {value:5.2f}x")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = OneLineErrorParser(
        description=(
            "Benchmark the Remoting codec: encode/decode of a 1 KiB SEND_MESSAGE_V2 request and "
            "its response, JSON headers with orjson and with stdlib json, and ROCKETMQ binary "
            "headers. Decoding feeds 64 KiB chunks of pipelined frames to RemotingConnection."
        ),
    )
    parser.add_argument(
        "--seconds", type=float, default=1.0, help="measured duration per case (default 1.0)"
    )
    parser.add_argument(
        "--ops",
        default=",".join(OPS),
        help=f"comma-separated operations (default: {','.join(OPS)})",
    )
    parser.add_argument(
        "--messages",
        default=",".join(MESSAGES),
        help="comma-separated: request,response (default both)",
    )
    parser.add_argument(
        "--json-libs",
        default="orjson,json",
        help="JSON libraries for JSON headers (default orjson,json; orjson skipped if missing)",
    )
    parser.add_argument(
        "--no-binary", action="store_true", help="skip the ROCKETMQ binary header cases"
    )
    parser.add_argument(
        "--json", action="store_true", help="print machine-readable JSON instead of a table"
    )
    args = parser.parse_args(argv)
    if args.seconds <= 0:
        parser.error("--seconds must be positive")
    for name, allowed in (
        ("ops", OPS),
        ("messages", MESSAGES),
        ("json_libs", ("orjson", "json")),
    ):
        chosen = [v.strip() for v in getattr(args, name).split(",") if v.strip()]
        bad = [v for v in chosen if v not in allowed]
        if bad or not chosen:
            parser.error(f"--{name.replace('_', '-')}: choose from {', '.join(allowed)}")
        setattr(args, name, chosen)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    json_libs = [lib for lib in args.json_libs if lib != "orjson" or _json.using_orjson]
    if "orjson" in args.json_libs and not _json.using_orjson:
        print("note: orjson is not installed; JSON cases use the stdlib only", file=sys.stderr)
    chosen = variants(json_libs)
    if args.no_binary:
        chosen = [v for v in chosen if v.header != "ROCKETMQ"]
    check_codec()
    results: list[Result] = []
    for message in args.messages:
        for op in args.ops:
            for variant in chosen:
                results.append(run_case(message, op, variant, args.seconds))
                if not args.json:
                    print(".", end="", file=sys.stderr, flush=True)
    if not args.json:
        print(file=sys.stderr)
    info = meta(args.seconds)
    if args.json:
        print(
            json.dumps(
                {
                    "meta": info,
                    "results": [r.to_json() for r in results],
                    "ratios": {name: round(value, 3) for name, value in ratios(results)},
                },
                indent=2,
            )
        )
    else:
        print_table(results, info)
    return 0


if __name__ == "__main__":
    sys.exit(main())
