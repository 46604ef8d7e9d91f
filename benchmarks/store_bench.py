"""Message store benchmark: puts, pulls and recovery of ``broker.store.MessageStore``.

Cases (1 KiB bodies by default, ``UNIQ_KEY``/``TAGS``/``KEYS`` properties as a Java producer
sends them, so every put also writes a consume-queue entry and two index keys):

* ``put single``: one ``put_message`` per message.
* ``put batch``: ``put_messages`` of ``--batch`` messages (one write per batch).
* ``ASYNC_FLUSH``: puts return when the bytes are in the page cache; a thread flushes.
* ``SYNC_FLUSH``: puts are issued in waves of ``--window`` and each wave awaits
  ``wait_flushed`` for all of them (group commit: one ``fdatasync`` serves many puts);
  the fsync rounds column counts the commitlog flushes.
* ``get``: ``get_message`` of 32 messages at a time over everything written, per queue.
* ``recovery``: reopening a store holding ``--recovery-mb`` MiB after a clean shutdown, and
  after a crash whose checkpoint is lost (every record replayed: CRC check, queue entries
  and index keys rebuilt).

Run ``python benchmarks/store_bench.py --help``. Not a test: nothing here asserts speed.
Numbers move with the page cache and the disk; run twice and compare.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import platform
import shutil
import struct
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from _args import OneLineErrorParser

from broker.store import FlushDiskType, GetMessageStatus, MessageStore, StoreConfig
from rocketmq_py.protocol.message import MessageConst, MessageRecord

QUEUES = 8


@dataclass
class Row:
    case: str
    flush: str
    messages: int
    seconds: float
    fsyncs: int | None = None

    def cells(self, size: int) -> list[str]:
        rate = self.messages / self.seconds if self.seconds else 0.0
        mb = rate * size / 1e6
        return [
            self.case,
            self.flush,
            f"{self.messages:,}",
            f"{self.seconds:.3f}",
            f"{rate:,.0f}",
            f"{mb:,.1f}",
            f"{self.seconds / self.messages * 1e6:.2f}" if self.messages else "-",
            "-" if self.fsyncs is None else f"{self.fsyncs:,}",
        ]


def _records(n: int, size: int, batch: int, prefix: str) -> list[MessageRecord]:
    body = os.urandom(size)
    out = []
    for i in range(n):
        queue_id = (i // batch) % QUEUES if batch > 1 else i % QUEUES
        uniq = f"{prefix}{i:026d}"
        out.append(
            MessageRecord(
                topic="BenchTopic",
                body=body,
                properties={
                    MessageConst.PROPERTY_KEYS: f"order-{i}",
                    MessageConst.PROPERTY_TAGS: "TagA",
                    MessageConst.PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX: uniq,
                    MessageConst.PROPERTY_WAIT_STORE_MSG_OK: "true",
                },
                queue_id=queue_id,
                born_timestamp=1_700_000_000_000,
                born_host=("10.0.0.2", 50000),
            )
        )
    return out


def _config(root: Path, flush: FlushDiskType, args: argparse.Namespace) -> StoreConfig:
    return StoreConfig(
        store_path_root_dir=str(root),
        flush_disk_type=flush,
        mapped_file_size_commit_log=args.segment_mb * 1024 * 1024,
    )


async def _put_case(
    root: Path, flush: FlushDiskType, batch: int, args: argparse.Namespace, label: str
) -> Row:
    store = MessageStore(_config(root, flush, args))
    assert store.load()
    store.start(asyncio.get_running_loop())
    n = args.messages if flush is FlushDiskType.ASYNC_FLUSH else args.sync_messages
    records = _records(n, args.size, batch, label)
    groups = [records[i : i + batch] for i in range(0, n, batch)]
    gc.collect()
    gc.freeze()
    before = store.flush_count
    began = time.perf_counter()
    if flush is FlushDiskType.ASYNC_FLUSH:
        for group in groups:
            result = store.put_messages(group) if batch > 1 else store.put_message(group[0])
            assert result.ok  # type: ignore[attr-defined]
    else:
        window = max(args.window // batch, 1)
        for w in range(0, len(groups), window):
            wave = [
                store.put_messages(g) if batch > 1 else store.put_message(g[0])
                for g in groups[w : w + window]
            ]
            done = await asyncio.gather(*(store.wait_flushed(r) for r in wave))
            assert all(done)
    elapsed = time.perf_counter() - began
    fsyncs = store.flush_count - before
    gc.unfreeze()
    store.shutdown()
    name = "put single" if batch == 1 else f"put batch {batch}"
    return Row(name, flush.value, n, elapsed, fsyncs if flush is FlushDiskType.SYNC_FLUSH else None)


def _get_case(root: Path, args: argparse.Namespace) -> Row:
    store = MessageStore(_config(root, FlushDiskType.ASYNC_FLUSH, args))
    assert store.load()
    store.start()
    total = 0
    began = time.perf_counter()
    for queue_id in range(QUEUES):
        offset = 0
        while True:
            got = store.get_message("BenchTopic", queue_id, offset, 32)
            if got.status is not GetMessageStatus.FOUND:
                break
            total += got.message_count
            offset = got.next_begin_offset
    elapsed = time.perf_counter() - began
    store.shutdown()
    return Row("get 32/pull", "-", total, elapsed)


def _fill_for_recovery(root: Path, args: argparse.Namespace) -> int:
    config = _config(root, FlushDiskType.ASYNC_FLUSH, args)
    config.flush_consume_queue_thorough_interval_ms = 10**9
    store = MessageStore(config)
    assert store.load()
    store.start()
    target = args.recovery_mb * 1024 * 1024
    n = 0
    while store.max_phy_offset < target:
        chunk = _records(4096, args.size, 32, f"R{n:08d}")
        for i in range(0, len(chunk), 32):
            assert store.put_messages(chunk[i : i + 32]).ok
        n += len(chunk)
    store.shutdown()
    return n


def _recovery_cases(root: Path, args: argparse.Namespace) -> list[Row]:
    n = _fill_for_recovery(root, args)
    rows = []
    config = _config(root, FlushDiskType.ASYNC_FLUSH, args)
    began = time.perf_counter()
    store = MessageStore(config)
    assert store.load()
    elapsed = time.perf_counter() - began
    store.shutdown()
    rows.append(Row(f"recover {args.recovery_mb} MiB, clean", "-", n, elapsed))
    # A crash that also lost the checkpoint's offsets: everything is replayed.
    with open(config.checkpoint_path, "r+b") as fh:
        fh.seek(256)
        fh.write(struct.pack(">8sqqqqq", b"RMQPYCK1", 0, 0, 0, -1, -1))
    Path(config.abort_path).touch()
    began = time.perf_counter()
    store = MessageStore(config)
    assert store.load()
    elapsed = time.perf_counter() - began
    report = store.last_recovery
    store.shutdown()
    assert report is not None
    assert report.records_replayed == n
    rows.append(Row(f"recover {args.recovery_mb} MiB, crash, replay all", "-", n, elapsed))
    return rows


def _print(rows: list[Row], size: int) -> None:
    header = ["case", "flush", "messages", "seconds", "msgs/s", "MB/s", "us/msg", "fsync rounds"]
    table = [header] + [r.cells(size) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for k, row in enumerate(table):
        print(
            "  ".join(
                c.ljust(w) if i < 2 else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if k == 0:
            print("  ".join("-" * w for w in widths))


async def _main(args: argparse.Namespace) -> None:
    base = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="store_bench_"))
    print(
        f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cpus; "
        f"dir {base}; body {args.size} B; segment {args.segment_mb} MiB"
    )
    rows: list[Row] = []
    try:
        for flush in (FlushDiskType.ASYNC_FLUSH, FlushDiskType.SYNC_FLUSH):
            for batch in (1, args.batch):
                root = base / f"put-{flush.value}-{batch}"
                rows.append(await _put_case(root, flush, batch, args, f"{flush.value[0]}{batch}"))
                if flush is FlushDiskType.ASYNC_FLUSH and batch == 1:
                    rows.append(_get_case(root, args))
                shutil.rmtree(root)
        if args.recovery_mb:
            root = base / "recovery"
            rows += _recovery_cases(root, args)
            shutil.rmtree(root)
    finally:
        if not args.dir:
            shutil.rmtree(base, ignore_errors=True)
    _print(rows, args.size)


def main() -> None:
    parser = OneLineErrorParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000, help="messages per ASYNC case")
    parser.add_argument("--sync-messages", type=int, default=50_000, help="messages per SYNC case")
    parser.add_argument("--size", type=int, default=1024, help="body bytes")
    parser.add_argument("--batch", type=int, default=32, help="messages per batch put")
    parser.add_argument("--window", type=int, default=256, help="SYNC: puts per wait wave")
    parser.add_argument("--segment-mb", type=int, default=1024, help="commitlog segment MiB")
    parser.add_argument("--recovery-mb", type=int, default=256, help="MiB to recover (0: skip)")
    parser.add_argument("--dir", help="work directory (default: a temporary one, removed)")
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
