"""The broker's send path without the network: how much broker CPU one message costs.

Starts a ``BrokerController`` in this process (temporary store, no name server, ASYNC_FLUSH
unless ``--flush SYNC_FLUSH``), opens one ``ServerProtocol`` over a stand-in transport and
feeds it pre-encoded requests the way socket reads deliver them:

* ``single``: SEND_MESSAGE_V2 frames (as ``remoting_bench.py`` builds them: 1 KiB body,
  ``UNIQ_KEY``/``TAGS``/``KEYS``/``WAIT``), ``--chunk`` (64) per ``data_received``, which is
  what 64 requests in flight deliver.
* ``oneway``: the same frames marked oneway, 256 per ``data_received``.
* ``batchN``: SEND_BATCH_MESSAGE of N messages, ``--batch-inflight`` (8) per ``data_received``.

Everything the broker does for a send is measured (frame and header decoding, the send
processor, the store's put, the commitlog write, consume-queue and index dispatch, building and
encoding the response), except the socket: the table reports the event-loop thread's CPU
time per message (``time.thread_time``, best of ``--rounds``). The flusher threads run as in a
real broker but are not counted. Because nothing else shares the loop, this is much steadier
than a loopback benchmark on a noisy machine; ``remoting_bench.py`` measures the real thing.
Not a test: nothing here asserts speed.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _args import OneLineErrorParser
from remoting_bench import Frames

from broker._server.protocol import ServerProtocol
from broker._server.runner import install_uvloop
from broker.config import broker_settings
from broker.controller import BrokerController

MODES = ("single", "oneway", "batch32", "batch256")


class _Transport:
    """Stands in for the socket: counts what the broker writes, never pushes back."""

    def __init__(self) -> None:
        self.writes = 0
        self.bytes = 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 5555), "sockname": ("127.0.0.1", 10911)}.get(
            name, default
        )

    def write(self, data: bytes) -> None:
        self.writes += 1
        self.bytes += len(data)

    def is_closing(self) -> bool:
        return False

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def close(self) -> None:
        pass


def _chunks(frames: Frames, mode: str, chunk: int, batch_inflight: int) -> tuple[list[bytes], int]:
    """The ``data_received`` payloads of a mode, and the messages in each."""
    if mode in ("single", "oneway"):
        per = chunk if mode == "single" else 256
        encoded = frames.single(per * 16, oneway=mode == "oneway")
        return [b"".join(encoded[i : i + per]) for i in range(0, len(encoded), per)], per
    size = int(mode.removeprefix("batch"))
    encoded = frames.batch(batch_inflight * 4, size)
    payloads = [
        b"".join(encoded[i : i + batch_inflight]) for i in range(0, len(encoded), batch_inflight)
    ]
    return payloads, batch_inflight * size


async def _measure(args: argparse.Namespace, mode: str, home: Path) -> tuple[float, int]:
    """Best main-thread CPU seconds per message over the rounds, and messages per round."""
    settings = broker_settings()
    settings.update(
        {
            "storePathRootDir": str(home / mode),
            "listenPort": "0",
            "namesrvAddr": "",
            "brokerIP1": "127.0.0.1",
            "flushDiskType": args.flush,
        }
    )
    async with BrokerController(settings) as broker:
        proto = ServerProtocol(broker.servers[0])
        proto.connection_made(_Transport())  # type: ignore[arg-type]
        payloads, per_payload = _chunks(
            Frames(f"send-path-{mode}", 4, args.body_size), mode, args.chunk, args.batch_inflight
        )
        for payload in payloads[:2]:  # warm up: topic creation, first files
            proto.data_received(payload)
        await asyncio.sleep(0.1)
        rounds = max(args.messages // per_payload, 1)
        best = float("inf")
        for _ in range(args.rounds):
            began = time.thread_time()
            for i in range(rounds):
                proto.data_received(payloads[i % len(payloads)])
                if i % 16 == 15:
                    await asyncio.sleep(0)  # let late responses and timers run, as a loop would
            best = min(best, (time.thread_time() - began) / (rounds * per_payload))
        return best, rounds * per_payload


def main() -> None:
    parser = OneLineErrorParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated")
    parser.add_argument("--messages", type=int, default=100_000, help="messages per round")
    parser.add_argument("--rounds", type=int, default=3, help="the best round is reported")
    parser.add_argument("--chunk", type=int, default=64, help="single sends per data_received")
    parser.add_argument("--batch-inflight", type=int, default=8, help="batches per data_received")
    parser.add_argument("--body-size", type=int, default=1024)
    parser.add_argument("--flush", choices=("ASYNC_FLUSH", "SYNC_FLUSH"), default="ASYNC_FLUSH")
    args = parser.parse_args()
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    for mode in modes:
        if mode not in ("single", "oneway") and not mode.removeprefix("batch").isdigit():
            parser.error(f"unknown mode {mode!r} (single, oneway, batchN)")
    home = Path(tempfile.mkdtemp(prefix="send_path_bench_"))
    rows = []
    try:
        for mode in modes:
            coro = _measure(args, mode, home)
            if install_uvloop():
                import uvloop

                seconds, count = uvloop.run(coro)
            else:
                seconds, count = asyncio.run(coro)
            rows.append((mode, count, seconds))
    finally:
        shutil.rmtree(home, ignore_errors=True)
    loop = "uvloop" if install_uvloop() else "asyncio"
    print(f"broker send path in-process, {args.flush}, {loop}, {args.body_size} B bodies")
    print(f"{'mode':<10} {'msgs/round':>11} {'CPU µs/msg':>11} {'msgs/s of CPU':>14}")
    for mode, count, seconds in rows:
        print(f"{mode:<10} {count:>11,} {seconds * 1e6:>11.1f} {1 / seconds:>14,.0f}")


if __name__ == "__main__":
    main()
