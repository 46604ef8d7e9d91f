"""Flushing: SYNC_FLUSH group commit, the timeout path, ASYNC_FLUSH and the checkpoint."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import pytest

from broker.store import FlushDiskType, MessageStore, PutStatus
from tests.broker.store.helpers import Clock, make_config, make_record

pytestmark = pytest.mark.anyio


def _store(tmp_path: Path, **overrides: object) -> MessageStore:
    config = make_config(tmp_path, flush_disk_type=FlushDiskType.SYNC_FLUSH, **overrides)
    store = MessageStore(config, Clock())
    assert store.load()
    store.start(asyncio.get_running_loop())
    return store


class _CountingSync:
    """Wraps ``os.fdatasync``; can hold every call until released."""

    def __init__(self, real: object) -> None:
        self.real = real
        self.calls = 0
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()

    def __call__(self, fd: int) -> None:
        self.calls += 1
        self.entered.set()
        self.gate.wait(30)
        self.real(fd)  # type: ignore[operator]


async def test_group_commit_shares_fsyncs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    counter = _CountingSync(os.fdatasync)
    monkeypatch.setattr(os, "fdatasync", counter)
    store = _store(tmp_path)
    try:
        before = store.flush_count
        calls_before = counter.calls
        results = [store.put_message(make_record(body=b"x" * 512)) for _ in range(500)]
        assert all(r.ok for r in results)
        flushed = await asyncio.gather(*(store.wait_flushed(r) for r in results))
        assert all(flushed)
        rounds = store.flush_count - before
        assert 1 <= rounds <= 5, rounds
        assert counter.calls - calls_before <= 10
        assert store.commitlog.flushed >= results[-1].end_offset
    finally:
        store.shutdown()


async def test_waiters_released_in_offset_order_even_if_awaited_out_of_order(
    tmp_path: Path,
) -> None:
    store = _store(tmp_path)
    try:
        first = store.put_message(make_record())
        second = store.put_message(make_record())
        late = asyncio.ensure_future(store.wait_flushed(second))
        assert await store.wait_flushed(first)
        assert await late
    finally:
        store.shutdown()


async def test_sync_flush_timeout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gate = _CountingSync(os.fdatasync)
    monkeypatch.setattr(os, "fdatasync", gate)
    store = _store(tmp_path, sync_flush_timeout_ms=50)
    try:
        gate.gate.clear()  # the disk "hangs"
        result = store.put_message(make_record())
        assert not await store.wait_flushed(result)
        timed_out = await store.put_message_and_wait(make_record())
        assert timed_out.status is PutStatus.FLUSH_DISK_TIMEOUT
        assert store.look_message_by_offset(timed_out.wrote_offset) is not None  # still stored
        no_wait = make_record(extra={"WAIT": "false"})
        assert (await store.put_message_and_wait(no_wait)).status is PutStatus.PUT_OK
        gate.gate.set()
        assert (await store.put_message_and_wait(make_record())).status is PutStatus.PUT_OK
        assert await store.wait_flushed(result)
    finally:
        gate.gate.set()
        store.shutdown()


async def test_shutdown_releases_waiters(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gate = _CountingSync(os.fdatasync)
    monkeypatch.setattr(os, "fdatasync", gate)
    store = _store(tmp_path)
    gate.gate.clear()
    gate.entered.clear()
    waiter = asyncio.ensure_future(store.wait_flushed(store.put_message(make_record())))
    await asyncio.sleep(0)
    await asyncio.get_running_loop().run_in_executor(None, gate.entered.wait, 10)
    gate.gate.set()
    store.shutdown()
    assert await waiter


async def test_async_flush_returns_at_once_and_flushes_in_background(tmp_path: Path) -> None:
    config = make_config(tmp_path, flush_interval_commit_log_ms=5, flush_commit_log_least_pages=1)
    store = MessageStore(config, Clock())
    assert store.load()
    store.start(asyncio.get_running_loop())
    try:
        results = [store.put_message(make_record(body=b"y" * 1000)) for _ in range(20)]
        assert await store.wait_flushed(results[-1])
        end = results[-1].end_offset
        for _ in range(2000):
            if store.commitlog.flushed >= end:
                break
            await asyncio.sleep(0.005)
        assert store.commitlog.flushed >= end
        assert store.remain_how_many_data_to_flush() == 0
    finally:
        store.shutdown()


async def test_periodic_checkpoint_moves_forward(tmp_path: Path) -> None:
    config = make_config(
        tmp_path,
        flush_interval_consume_queue_ms=5,
        flush_consume_queue_thorough_interval_ms=5,
        flush_interval_commit_log_ms=5,
        flush_commit_log_least_pages=0,
    )
    store = MessageStore(config, Clock())
    assert store.load()
    store.start(asyncio.get_running_loop())
    try:
        results = [store.put_message(make_record()) for _ in range(10)]
        end = results[-1].end_offset
        for _ in range(2000):
            cp = store.checkpoint
            if cp.logics_offset >= end and cp.physic_offset >= end:
                break
            await asyncio.sleep(0.005)
        assert store.checkpoint.logics_offset >= end
        assert store.checkpoint.physic_offset >= end
    finally:
        store.shutdown()
