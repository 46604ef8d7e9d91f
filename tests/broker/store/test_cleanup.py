"""Retention: expired segments with an injected clock, the force flag, the disk ratio."""

from __future__ import annotations

import os
import time
from pathlib import Path

from broker.store import GetMessageStatus, MessageStore, StoreConfig
from broker.store.cleanup import DiskUsage, is_time_to_delete
from tests.broker.store.helpers import (
    TINY,
    make_config,
    make_record,
    open_store,
    put_ok,
    read_queue,
)

HOUR = 3_600_000


def _at_hour(hour: int, after_ms: int) -> int:
    """The first local time at ``hour`` o'clock at least ``after_ms``."""
    t = after_ms
    while time.localtime(t / 1000).tm_hour != hour:
        t += HOUR // 4
    return t


def _fill(store: MessageStore) -> None:
    for i in range(60):
        put_ok(store, make_record(body=b"c" * 300, uniq=f"C{i}", queue_id=i % 2))


def test_nothing_expires_before_the_reserved_time(store: MessageStore) -> None:
    _fill(store)
    now = int(time.time() * 1000)
    assert store.clean_expired_files(now_ms=now, force=True) == 0
    assert store.clean_expired_files(now_ms=_at_hour(4, now)) == 0


def test_expired_segments_go_at_the_delete_hour_or_when_forced(
    store: MessageStore, tiny_config: StoreConfig
) -> None:
    _fill(store)
    segments = len(os.listdir(tiny_config.commit_log_dir))
    later = int(time.time() * 1000) + 73 * HOUR
    not_four = _at_hour(5, later)
    assert store.clean_expired_files(now_ms=not_four) == 0  # not the hour, not forced
    deleted = store.clean_expired_files(now_ms=_at_hour(4, later))
    assert deleted == min(10, segments - 1)
    while store.clean_expired_files(now_ms=not_four, force=True):
        pass
    assert len(os.listdir(tiny_config.commit_log_dir)) == 1  # never the newest
    assert store.min_phy_offset == store.commitlog.queue.files[0].start
    for queue_id in (0, 1):
        records = read_queue(store, "TopicA", queue_id)
        assert records
        assert all(r.commit_log_offset >= store.min_phy_offset for r in records)
        min_offset = store.get_min_offset_in_queue("TopicA", queue_id)
        assert records[0].queue_offset == min_offset
        got = store.get_message("TopicA", queue_id, 0, 32)
        assert got.status is GetMessageStatus.OFFSET_TOO_SMALL
    cq_files = os.listdir(Path(tiny_config.consume_queue_dir) / "TopicA" / "0")
    assert len(cq_files) < 4
    assert len(os.listdir(tiny_config.index_dir)) <= 2
    assert store.query_message("TopicA", "C0", 32, 0, 2**62).buffers == []
    assert len(store.query_message("TopicA", "C59", 32, 0, 2**62).buffers) == 1


def test_cleanup_survives_restart(tiny_config: StoreConfig) -> None:
    store = open_store(tiny_config)
    _fill(store)
    later = int(time.time() * 1000) + 73 * HOUR
    assert store.clean_expired_files(now_ms=later, force=True) > 0
    min_offsets = [store.get_min_offset_in_queue("TopicA", q) for q in (0, 1)]
    store.shutdown()
    store = open_store(tiny_config)
    try:
        assert [store.get_min_offset_in_queue("TopicA", q) for q in (0, 1)] == min_offsets
    finally:
        store.shutdown()


def test_full_disk_triggers_cleanup_without_force(tmp_path: Path) -> None:
    store = open_store(make_config(tmp_path, **TINY))
    _fill(store)
    store.shutdown()
    full = make_config(tmp_path, disk_max_used_space_ratio=0, **TINY)
    store = open_store(full)
    try:
        later = _at_hour(5, int(time.time() * 1000) + 73 * HOUR)
        assert store.clean_expired_files(now_ms=later) > 0
    finally:
        store.shutdown()


def test_delete_when_and_disk_usage_helpers(tmp_path: Path) -> None:
    four = _at_hour(4, 0)
    assert is_time_to_delete("04", four)
    assert is_time_to_delete("03;04", four)
    assert not is_time_to_delete("05; 06", four)
    ticks = iter([0.0, 1.0, 5.0])
    usage = DiskUsage(str(tmp_path), 2000, monotonic=lambda: next(ticks))
    first = usage.ratio()
    assert 0 < first < 1
    assert usage.ratio() == first  # cached
    assert usage.ratio() > 0  # refreshed
