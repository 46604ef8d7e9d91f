"""A real crash: SIGKILL a writer process at random moments, reopen, check every ack."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from broker.store import MessageStore
from broker.store.consume_queue import ENTRY
from rocketmq_py.protocol.message import decode_record
from tests.broker.store._writer import QUEUES, TOPICS, body_for, writer_config
from tests.broker.store.verify import scan_commitlog

ROOT = Path(__file__).resolve().parents[3]


def _run_and_kill(root: Path, seed: int, rnd: random.Random) -> list[tuple[int, str, str, int]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.broker.store._writer", str(root), str(seed)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    acks: list[tuple[int, str, str, int]] = []
    try:
        first = proc.stdout.readline()
        assert first == "READY\n", (first, proc.stderr.read() if proc.stderr else "")
        target = rnd.randint(30, 400)
        while len(acks) < target:
            line = proc.stdout.readline()
            assert line, proc.stderr.read() if proc.stderr else ""
            _ack, offset, uniq, topic, queue_id = line.split()
            acks.append((int(offset), uniq, topic, int(queue_id)))
        os.kill(proc.pid, signal.SIGKILL)
        # Lines already in the pipe were acknowledged before the kill: they count too.
        for line in proc.stdout:
            if line.startswith("ACK ") and line.endswith("\n"):
                _ack, offset, uniq, topic, queue_id = line.split()
                acks.append((int(offset), uniq, topic, int(queue_id)))
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stdout.close()
        if proc.stderr is not None:
            proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    return acks


def _check(store: MessageStore, acked: list[tuple[int, str, str, int]]) -> None:
    # 1. Every acknowledged message is at its offset, intact.
    for offset, uniq, topic, queue_id in acked:
        raw = store.look_message_by_offset(offset)
        assert raw is not None, (offset, uniq)
        record, _ = decode_record(raw, check_crc=True)
        assert record.unique_key == uniq
        assert (record.topic, record.queue_id) == (topic, queue_id)
        assert record.body == body_for(uniq, int(record.properties["BLEN"]))
        assert record.keys == f"key-{uniq} shared"
    # 2. Through the consume queues: each message exactly once.
    seen: Counter[str] = Counter()
    for topic in TOPICS:
        for queue_id in range(QUEUES):
            offset = store.get_min_offset_in_queue(topic, queue_id)
            max_offset = store.get_max_offset_in_queue(topic, queue_id)
            while 0 <= offset < max_offset:
                result = store.get_message(topic, queue_id, offset, 32)
                for buf, q in zip(result.buffers, result.queue_offsets, strict=True):
                    record, _ = decode_record(buf, check_crc=True)
                    assert record.queue_offset == q
                    assert (record.topic, record.queue_id) == (topic, queue_id)
                    seen[record.unique_key or ""] += 1
                assert result.next_begin_offset > offset
                offset = result.next_begin_offset
    assert all(n == 1 for n in seen.values()), [k for k, n in seen.items() if n > 1][:5]
    missing = [uniq for _o, uniq, _t, _q in acked if seen[uniq] != 1]
    assert not missing, missing[:5]
    # 3. Through the index: each acknowledged id exactly once.
    for _offset, uniq, topic, _queue_id in acked:
        found = store.query_message(topic, uniq, 32, 0, 2**62)
        matching = [r for r, _ in (decode_record(b) for b in found.buffers) if r.unique_key == uniq]
        assert len(matching) == 1, (uniq, len(matching))
    # 4. Queues and commitlog agree, record by record.
    counts: Counter[tuple[str, int]] = Counter()
    for record in scan_commitlog(store):
        key = (record.topic, record.queue_id)
        counts[key] += 1
        cq = store.consume_queues.find(*key)
        assert cq is not None
        assert cq.entry(record.queue_offset) is not None
        phy, size, _tags = cq.entry(record.queue_offset)  # type: ignore[misc]
        assert (phy, size) == (record.commit_log_offset, record.store_size)
    for topic in TOPICS:
        for queue_id in range(QUEUES):
            cq = store.consume_queues.find(topic, queue_id)
            total = cq.max_offset if cq is not None else 0
            assert counts[(topic, queue_id)] == total
            if cq is not None and total:
                last = cq.read_from(total - 1, 20)
                assert last is not None
                assert ENTRY.unpack(last)[0] < store.max_phy_offset


@pytest.mark.timeout(240)
def test_kill_minus_9_keeps_every_acknowledged_message(tmp_path: Path) -> None:
    rnd = random.Random(20240607)
    root = tmp_path / "store"
    acked: list[tuple[int, str, str, int]] = []
    for run in range(4):
        acked.extend(_run_and_kill(root, run, rnd))
        assert (root / "abort").exists()
        store = MessageStore(writer_config(str(root)))
        assert store.load()
        assert store.last_recovery is not None and store.last_recovery.abnormal
        try:
            _check(store, acked)
        finally:
            store.shutdown()
    assert len({uniq for _o, uniq, _t, _q in acked}) == len(acked) > 100
    # A clean reopen after all that still agrees.
    store = MessageStore(writer_config(str(root)))
    assert store.load()
    try:
        assert store.last_recovery is not None and not store.last_recovery.abnormal
        assert store.last_recovery.records_replayed == 0
        _check(store, acked)
    finally:
        store.shutdown()
