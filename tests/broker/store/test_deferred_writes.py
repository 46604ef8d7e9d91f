"""Deferred puts: one commitlog write per batch, and never an acknowledged put that was lost.

A deferred put (``defer=True``, what the send processor does) leaves its records in the
commitlog's pending bytes; :meth:`MessageStore.commit_deferred` (the server's write barrier,
run before responses are written) writes them with one ``pwrite`` and only then dispatches
them. These tests pin the rules that make that safe.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from broker.store import FlushDiskType, MessageStore, PutStatus, StoreConfig
from tests.broker.store.helpers import TINY, Clock, make_config, make_record, read_queue

pytestmark = pytest.mark.anyio


class _Writes:
    """Counts ``os.pwrite`` calls; fails the next ``fail`` of them with EIO."""

    def __init__(self, real: object) -> None:
        self.real = real
        self.calls = 0
        self.fail = 0

    def __call__(self, fd: int, data: object, pos: int) -> int:
        self.calls += 1
        if self.fail:
            self.fail -= 1
            raise OSError(5, "Input/output error (test)")
        return self.real(fd, data, pos)  # type: ignore[operator,no-any-return]


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> _Writes:
    counter = _Writes(os.pwrite)
    monkeypatch.setattr(os, "pwrite", counter)
    return counter


def _started(config: StoreConfig) -> MessageStore:
    store = MessageStore(config, Clock())
    assert store.load()
    store.start(asyncio.get_running_loop())
    return store


async def test_deferred_puts_share_one_write_and_stay_invisible_until_it(
    tmp_path: Path, writes: _Writes
) -> None:
    store = _started(make_config(tmp_path))
    try:
        end = store.max_phy_offset
        before = writes.calls
        results = [store.put_message(make_record(queue_id=0), defer=True) for _ in range(20)]
        assert all(r.ok and r.write is not None and r.write.ok is None for r in results)
        assert [r.queue_offset for r in results] == list(range(20))
        assert writes.calls == before
        # Nothing is readable, dispatched or flushable before the write.
        assert store.max_phy_offset == end
        assert store.get_max_offset_in_queue("TopicA", 0) == 0
        assert store.look_message_by_offset(results[0].wrote_offset) is None
        assert store.commit_deferred()
        assert writes.calls == before + 1
        assert all(r.write is not None and r.write.ok for r in results)
        assert store.max_phy_offset == results[-1].end_offset
        assert len(read_queue(store, "TopicA", 0)) == 20
        assert store.commit_deferred()  # nothing pending: no write
        assert writes.calls == before + 1
    finally:
        store.shutdown()


async def test_a_failed_deferred_write_drops_its_puts_and_says_so(
    tmp_path: Path, writes: _Writes
) -> None:
    config = make_config(tmp_path)
    store = _started(config)
    try:
        kept = store.put_message(make_record(uniq="kept"))
        writes.fail = 1
        lost = [store.put_message(make_record(uniq=f"lost{i}"), defer=True) for i in range(3)]
        assert not store.commit_deferred()
        assert all(r.lost for r in lost)
        assert store.commit_deferred()  # the failure is reported once
        # Nothing of them was dispatched; the next put reuses their offsets.
        assert store.get_max_offset_in_queue("TopicA", 0) == 1
        again = store.put_message(make_record(uniq="again"), defer=True)
        assert again.wrote_offset == lost[0].wrote_offset
        assert again.queue_offset == 1
        assert store.commit_deferred()
        assert not again.lost
        assert not await store.wait_flushed(lost[0])
    finally:
        store.shutdown()
    store = _started(config)
    try:
        stored = [r.unique_key for r in read_queue(store, "TopicA", 0)]
        assert stored == ["kept", "again"]
        assert kept.ok
    finally:
        store.shutdown()


async def test_a_plain_put_writes_the_pending_ones_with_it(tmp_path: Path, writes: _Writes) -> None:
    store = _started(make_config(tmp_path))
    try:
        before = writes.calls
        deferred = store.put_message(make_record(uniq="a"), defer=True)
        plain = store.put_message(make_record(uniq="b"))
        assert writes.calls == before + 1
        assert deferred.write is not None and deferred.write.ok
        assert plain.write is None
        assert [r.unique_key for r in read_queue(store, "TopicA", 0)] == ["a", "b"]
        assert store.commit_deferred()
    finally:
        store.shutdown()


async def test_a_failed_plain_put_fails_the_deferred_ones_before_it(
    tmp_path: Path, writes: _Writes
) -> None:
    store = _started(make_config(tmp_path))
    try:
        deferred = store.put_message(make_record(), defer=True)
        writes.fail = 1
        assert store.put_message(make_record()).status is PutStatus.UNKNOWN_ERROR
        assert deferred.lost
        assert not store.commit_deferred()
        assert store.put_message(make_record()).ok
    finally:
        store.shutdown()


async def test_pending_records_are_written_by_the_next_loop_iteration(tmp_path: Path) -> None:
    store = _started(make_config(tmp_path))
    try:
        result = store.put_message(make_record(), defer=True)
        for _ in range(3):
            await asyncio.sleep(0)
        assert result.write is not None and result.write.ok
        assert store.max_phy_offset == result.end_offset
    finally:
        store.shutdown()


async def test_shutdown_writes_what_is_pending(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    store = _started(config)
    result = store.put_message(make_record(uniq="late"), defer=True)
    store.shutdown()
    assert result.write is not None and result.write.ok
    store = _started(config)
    try:
        assert [r.unique_key for r in read_queue(store, "TopicA", 0)] == ["late"]
    finally:
        store.shutdown()


async def test_segment_rolls_write_the_pending_records_first(tmp_path: Path) -> None:
    config = make_config(tmp_path, **TINY)  # 4 KiB commitlog segments
    store = _started(config)
    try:
        results = [
            store.put_message(make_record(body=b"x" * 700, uniq=f"m{i}"), defer=True)
            for i in range(12)
        ]
        assert store.commit_deferred()
        segments = {r.wrote_offset // 4096 for r in results}
        assert len(segments) >= 3
        for r in results:
            assert r.wrote_offset // 4096 == (r.end_offset + 7) // 4096  # never split
        got = [r.unique_key for r in read_queue(store, "TopicA", 0)]
        assert got == [f"m{i}" for i in range(12)]
    finally:
        store.shutdown()


async def test_sync_flush_waits_start_after_the_write(tmp_path: Path, writes: _Writes) -> None:
    config = make_config(tmp_path, flush_disk_type=FlushDiskType.SYNC_FLUSH)
    store = _started(config)
    try:
        result = store.put_message(make_record(), defer=True)
        waiting = store.flushed(result)
        assert isinstance(waiting, asyncio.Future)
        assert not waiting.done()
        assert store.commit_deferred()
        assert await waiting
        writes.fail = 1
        lost = store.put_message(make_record(), defer=True)
        waiting = store.flushed(lost)
        assert isinstance(waiting, asyncio.Future)
        assert not store.commit_deferred()
        assert await waiting is False  # at once, not after a timeout
        assert lost.lost
    finally:
        store.shutdown()
