"""Recovery: clean restarts, crashes with the checkpoint behind, torn and garbage tails."""

from __future__ import annotations

import os
import shutil
import struct
from collections import Counter
from pathlib import Path

from broker.store import MessageStore, StoreConfig
from broker.store.checkpoint import StoreCheckpoint
from rocketmq_py.protocol.message import decode_record
from tests.broker.store.helpers import (
    START_MS,
    TINY,
    Clock,
    make_config,
    make_record,
    open_store,
    put_ok,
    read_queue,
)
from tests.broker.store.verify import scan_commitlog

# Checkpoints only at load and shutdown, so a copy taken while running is "behind".
NO_CHECKPOINTS = {**TINY, "flush_consume_queue_thorough_interval_ms": 10**9}


def _fill(store: MessageStore, n: int, prefix: str = "M") -> list[str]:
    uniqs = []
    for i in range(n):
        uniq = f"{prefix}{i:05d}"
        record = make_record(
            body=os.urandom(50 + (i * 37) % 700),
            uniq=uniq,
            keys=f"key{i % 5} {uniq}-k",
            queue_id=i % 3,
            tags=f"T{i % 2}",
        )
        if i % 10 == 9:
            batch = [record, make_record(uniq=uniq + "b", queue_id=i % 3, keys=f"{uniq}-k")]
            assert store.put_messages(batch).ok
            uniqs += [uniq, uniq + "b"]
        else:
            put_ok(store, record)
            uniqs.append(uniq)
    return uniqs


def _crash_copy(config: StoreConfig, dst: Path) -> StoreConfig:
    """The files as a crash would leave them (everything written is in the page cache)."""
    shutil.copytree(config.store_path_root_dir, dst)
    return make_config(dst, **{k: getattr(config, k) for k in NO_CHECKPOINTS})


def _assert_consistent(store: MessageStore, uniqs: list[str]) -> None:
    seen: Counter[str] = Counter()
    for queue_id in range(3):
        for record in read_queue(store, "TopicA", queue_id):
            assert record.queue_id == queue_id
            seen[record.unique_key or ""] += 1
    assert seen == Counter(uniqs)
    for uniq in uniqs:
        found = store.query_message("TopicA", uniq, 32, 0, 2**62)
        hits = [r for r, _ in map(decode_record, found.buffers) if r.unique_key == uniq]
        assert len(hits) == 1, uniq
    per_queue: Counter[int] = Counter()
    for record in scan_commitlog(store):
        per_queue[record.queue_id] += 1
        entry = store.consume_queue_entries("TopicA", record.queue_id, record.queue_offset, 1)
        assert entry[0][:2] == (record.commit_log_offset, record.store_size)
    for queue_id in range(3):
        assert store.get_max_offset_in_queue("TopicA", queue_id) == per_queue[queue_id]


def test_clean_restart_keeps_everything(tiny_config: StoreConfig) -> None:
    store = open_store(tiny_config)
    uniqs = _fill(store, 60)
    end = store.max_phy_offset
    store.shutdown()
    assert not Path(tiny_config.abort_path).exists()
    store = open_store(tiny_config)
    try:
        report = store.last_recovery
        assert report is not None
        assert not report.abnormal
        assert report.records_replayed == 0
        assert report.start_offset == report.end_offset == end == store.max_phy_offset
        _assert_consistent(store, uniqs)
        more = _fill(store, 10, "N")
        _assert_consistent(store, uniqs + more)
    finally:
        store.shutdown()


def test_checkpoint_has_java_fields(tiny_config: StoreConfig) -> None:
    clock = Clock()
    store = open_store(tiny_config, clock)
    put_ok(store, make_record())
    clock.advance(5000)
    put_ok(store, make_record())
    store.shutdown()
    data = Path(tiny_config.checkpoint_path).read_bytes()
    assert len(data) == 4096
    physic, logics, index = struct.unpack_from(">qqq", data, 0)
    assert physic == logics == index == START_MS + 5000


def test_crash_with_checkpoint_behind_replays_without_duplicates(
    tiny_config: StoreConfig, tmp_path: Path
) -> None:
    config = make_config(tiny_config.store_path_root_dir, **NO_CHECKPOINTS)
    store = open_store(config)
    uniqs = _fill(store, 80)
    copy = _crash_copy(config, tmp_path / "crashed")
    store.shutdown()
    assert Path(copy.abort_path).exists()
    crashed = open_store(copy)
    try:
        report = crashed.last_recovery
        assert report is not None and report.abnormal
        assert report.start_offset == 0
        assert report.records_replayed == len(uniqs)
        assert report.consume_queue_entries_dropped == len(uniqs)
        assert report.index_entries_dropped == 3 * len(uniqs) - len(uniqs) // 11
        _assert_consistent(crashed, uniqs)
    finally:
        crashed.shutdown()


def test_crash_rebuilds_lost_queues_and_index(tiny_config: StoreConfig, tmp_path: Path) -> None:
    config = make_config(tiny_config.store_path_root_dir, **NO_CHECKPOINTS)
    store = open_store(config)
    uniqs = _fill(store, 50)
    copy = _crash_copy(config, tmp_path / "crashed")
    store.shutdown()
    shutil.rmtree(copy.consume_queue_dir)
    shutil.rmtree(copy.index_dir)
    crashed = open_store(copy)
    try:
        _assert_consistent(crashed, uniqs)
    finally:
        crashed.shutdown()


def test_crash_drops_queue_entries_past_a_torn_commitlog(
    tiny_config: StoreConfig, tmp_path: Path
) -> None:
    config = make_config(tiny_config.store_path_root_dir, **NO_CHECKPOINTS)
    store = open_store(config)
    uniqs = _fill(store, 30)
    last = store.commitlog.last_record_offset
    copy = _crash_copy(config, tmp_path / "crashed")
    store.shutdown()
    _tear(copy, last)
    crashed = open_store(copy)
    try:
        assert crashed.max_phy_offset == last
        assert crashed.look_message_by_offset(last) is None
        _assert_consistent(crashed, uniqs[:-1])
        assert crashed.query_message("TopicA", uniqs[-1], 32, 0, 2**62).buffers == []
        put_ok(crashed, make_record(uniq="after"))
        assert crashed.look_message_by_offset(last) is not None
    finally:
        crashed.shutdown()


def _tear(config: StoreConfig, offset: int) -> None:
    """Zero the second half of the record at ``offset`` on disk."""
    size = config.mapped_file_size_commit_log
    path = Path(config.commit_log_dir) / f"{offset - offset % size:020d}"
    with open(path, "r+b") as fh:
        fh.seek(offset % size)
        (length,) = struct.unpack(">i", fh.read(4))
        fh.seek(offset % size + length // 2)
        fh.write(bytes(length - length // 2))


def test_torn_last_record_after_clean_shutdown(tiny_config: StoreConfig) -> None:
    store = open_store(tiny_config)
    uniqs = _fill(store, 25)
    last = store.commitlog.last_record_offset
    store.shutdown()
    _tear(tiny_config, last)
    store = open_store(tiny_config)
    try:
        report = store.last_recovery
        assert report is not None and not report.abnormal
        assert report.end_offset == last
        assert store.max_phy_offset == last
        _assert_consistent(store, uniqs[:-1])
        assert put_ok(store, make_record()).wrote_offset == last
    finally:
        store.shutdown()


def test_garbage_after_the_end_is_erased(tiny_config: StoreConfig) -> None:
    store = open_store(tiny_config)
    uniqs = _fill(store, 12)
    end = store.max_phy_offset
    store.shutdown()
    size = tiny_config.mapped_file_size_commit_log
    path = Path(tiny_config.commit_log_dir) / f"{end - end % size:020d}"
    with open(path, "r+b") as fh:
        fh.seek(end % size)
        fh.write(b"\xda\xa3\x20\xa7" * 20)  # looks like magic codes
    Path(tiny_config.abort_path).touch()  # and pretend it crashed
    store = open_store(tiny_config)
    try:
        assert store.max_phy_offset == end
        _assert_consistent(store, uniqs)
        with open(path, "rb") as fh:
            fh.seek(end % size)
            assert fh.read().strip(b"\0") == b""
    finally:
        store.shutdown()


def test_java_style_checkpoint_without_offsets(tiny_config: StoreConfig, tmp_path: Path) -> None:
    config = make_config(tiny_config.store_path_root_dir, **NO_CHECKPOINTS)
    store = open_store(config)
    uniqs = _fill(store, 40)
    copy = _crash_copy(config, tmp_path / "crashed")
    store.shutdown()
    with open(copy.checkpoint_path, "r+b") as fh:  # keep Java's fields, drop ours
        fh.seek(256)
        fh.write(bytes(64))
    checkpoint = StoreCheckpoint(copy.checkpoint_path)
    checkpoint.load()
    assert not checkpoint.has_offsets
    checkpoint.close()
    crashed = open_store(copy)
    try:
        assert crashed.last_recovery is not None and crashed.last_recovery.start_offset == 0
        _assert_consistent(crashed, uniqs)
    finally:
        crashed.shutdown()


def test_zero_length_segment_left_by_a_crash(tiny_config: StoreConfig) -> None:
    store = open_store(tiny_config)
    uniqs = _fill(store, 10)
    end = store.max_phy_offset
    store.shutdown()
    size = tiny_config.mapped_file_size_commit_log
    next_start = end - end % size + size
    (Path(tiny_config.commit_log_dir) / f"{next_start:020d}").touch()
    Path(tiny_config.abort_path).touch()
    store = open_store(tiny_config)
    try:
        _assert_consistent(store, uniqs)
        assert store.max_phy_offset == end
        assert put_ok(store, make_record()).wrote_offset == end
    finally:
        store.shutdown()


def test_restart_in_the_same_process_many_times(tiny_config: StoreConfig) -> None:
    uniqs: list[str] = []
    for round_ in range(4):
        store = open_store(tiny_config)
        uniqs += _fill(store, 15, f"R{round_}")
        store.shutdown()
    store = open_store(tiny_config)
    try:
        seen = Counter(r.unique_key for q in range(3) for r in read_queue(store, "TopicA", q))
        assert seen == Counter(uniqs)
    finally:
        store.shutdown()


def test_replay_recreates_a_deleted_queue_from_the_checkpoint(
    tiny_config: StoreConfig, tmp_path: Path
) -> None:
    config = make_config(tiny_config.store_path_root_dir, **NO_CHECKPOINTS)
    store = open_store(config)
    for i in range(5):
        put_ok(store, make_record("Gone", uniq=f"G{i}"))
    store.commitlog.flush()
    store._logics_flusher.flush(thorough=True)  # the checkpoint now covers G0..G4
    for i in range(5, 9):
        put_ok(store, make_record("Gone", uniq=f"G{i}"))
    store.delete_topics({"Gone"})
    copy = _crash_copy(config, tmp_path / "crashed")
    store.shutdown()
    crashed = open_store(copy)
    try:
        # Java does the same: records after the checkpoint are dispatched again.
        assert crashed.get_min_offset_in_queue("Gone", 0) == 5
        assert crashed.get_max_offset_in_queue("Gone", 0) == 9
        assert [r.unique_key for r in read_queue(crashed, "Gone")] == [f"G{i}" for i in range(5, 9)]
    finally:
        crashed.shutdown()


def test_clean_restart_at_a_segment_end_needs_no_rescan(tiny_config: StoreConfig) -> None:
    store = open_store(tiny_config)
    big = put_ok(store, make_record(body=b"x" * 3000, uniq="big"))
    # A put that rolls the segment but fails to write leaves the end at the segment end.
    store.commitlog.reserve(2000)
    end = store.max_phy_offset
    assert end == tiny_config.mapped_file_size_commit_log
    store.shutdown()
    store = open_store(tiny_config)
    try:
        report = store.last_recovery
        assert report is not None
        # Walked from the last record's end over the filler: no rescan of the segment.
        assert report.start_offset == big.end_offset
        assert (report.end_offset, report.records_replayed) == (end, 0)
        assert put_ok(store, make_record()).wrote_offset == end
        assert read_queue(store, "TopicA")[0].unique_key == "big"
    finally:
        store.shutdown()


def test_a_changed_file_size_is_refused_not_applied(tiny_config: StoreConfig) -> None:
    store = open_store(tiny_config)
    _fill(store, 5)
    store.shutdown()
    changed = make_config(
        tiny_config.store_path_root_dir, **{**TINY, "mapped_file_size_commit_log": 8192}
    )
    store = MessageStore(changed, Clock())
    assert not store.load()
    store = open_store(tiny_config)  # the files are untouched
    try:
        assert len(read_queue(store, "TopicA", 0)) == 2
    finally:
        store.shutdown()
