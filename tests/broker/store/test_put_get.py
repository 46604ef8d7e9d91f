"""Puts and pulls: offsets, ids, segment rolls, batches, filters and every get status."""

from __future__ import annotations

import itertools
import os
import struct
from pathlib import Path

import pytest

from broker.store import (
    GetMessageStatus,
    MessageStore,
    PutStatus,
    StoreConfig,
)
from broker.store.dispatch import SCHEDULE_TOPIC
from rocketmq_py.protocol.message import (
    BLANK_MAGIC_CODE,
    MessageConst,
    MessageSysFlag,
    decode_record,
    encode_offset_msg_id,
    tags_hash,
)
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


def test_put_assigns_offsets_ids_and_store_fields(store: MessageStore) -> None:
    results = [put_ok(store, make_record(body=b"m%d" % i, tags="T")) for i in range(5)]
    offset = 0
    for i, result in enumerate(results):
        assert result.wrote_offset == offset
        assert result.queue_offset == i
        assert result.msg_num == 1
        assert result.store_timestamp == START_MS
        assert result.msg_id == encode_offset_msg_id("127.0.0.1", 10911, offset)
        raw = store.look_message_by_offset(offset)
        assert raw is not None and len(raw) == result.wrote_bytes
        record, _ = decode_record(raw, check_crc=True)
        assert record.commit_log_offset == offset
        assert record.queue_offset == i
        assert record.store_host == ("127.0.0.1", 10911)
        assert record.born_host == ("10.0.0.2", 54321)
        assert record.store_timestamp == START_MS
        assert record.body == b"m%d" % i
        assert record.offset_msg_id == result.msg_id
        offset += result.wrote_bytes
    assert store.max_phy_offset == offset
    assert store.get_max_offset_in_queue("TopicA", 0) == 5
    assert store.get_min_offset_in_queue("TopicA", 0) == 0


def test_put_sets_the_store_fields_on_the_callers_record(store: MessageStore) -> None:
    record = make_record(body=b"abc")
    result = put_ok(store, record)
    assert record.commit_log_offset == result.wrote_offset
    assert record.store_size == result.wrote_bytes
    assert record.store_timestamp == START_MS
    assert record.body_crc == decode_record(store.look_message_by_offset(0) or b"")[0].body_crc


def test_segments_roll_with_a_blank_filler(store: MessageStore, tiny_config: StoreConfig) -> None:
    size = tiny_config.mapped_file_size_commit_log
    results = [put_ok(store, make_record(body=os.urandom(300 + i * 13))) for i in range(60)]
    directory = Path(tiny_config.commit_log_dir)
    names = sorted(os.listdir(directory))
    assert len(names) > 5
    assert all(len(n) == 20 and int(n) % size == 0 for n in names)
    assert names[0] == "00000000000000000000"
    # Every record lies inside one segment; every full segment ends with a blank filler.
    for result in results:
        assert result.wrote_offset // size == (result.end_offset - 1) // size
    ends = {r.end_offset for r in results}
    for name in names[:-1]:
        start = int(name)
        last_end = max(e for e in ends if start < e <= start + size)
        data = (directory / name).read_bytes()
        length, magic = struct.unpack_from(">iI", data, last_end - start)
        assert magic == BLANK_MAGIC_CODE
        assert length == start + size - last_end
    records = read_queue(store, "TopicA")
    assert [r.commit_log_offset for r in records] == [r.wrote_offset for r in results]


def test_queue_files_roll_at_their_size(store: MessageStore, tiny_config: StoreConfig) -> None:
    for i in range(20):
        put_ok(store, make_record(body=b"x" * i))
    directory = Path(tiny_config.consume_queue_dir) / "TopicA" / "0"
    assert sorted(os.listdir(directory)) == [f"{n:020d}" for n in (0, 160, 320)]
    assert [r.queue_offset for r in read_queue(store, "TopicA")] == list(range(20))
    entries = store.consume_queue_entries("TopicA", 0, 8, 100)
    assert len(entries) == 8  # one file per read, as Java's getIndexBuffer
    assert entries[0][0] == store.get_commit_log_offset_in_queue("TopicA", 0, 8)


def test_batch_is_contiguous_with_one_result(store: MessageStore) -> None:
    put_ok(store, make_record(queue_id=1))
    batch = [make_record(body=b"b%d" % i, queue_id=1, keys=f"bk{i}") for i in range(5)]
    result = store.put_messages(batch)
    assert result.status is PutStatus.PUT_OK
    assert result.msg_num == 5
    assert result.queue_offset == 1
    ids = result.msg_id.split(",")
    assert ids == [encode_offset_msg_id("127.0.0.1", 10911, r.commit_log_offset) for r in batch]
    assert result.wrote_offset == batch[0].commit_log_offset
    assert result.wrote_bytes == sum(r.store_size for r in batch)
    for a, b in itertools.pairwise(batch):
        assert b.commit_log_offset == a.commit_log_offset + a.store_size
    got = store.get_message("TopicA", 1, 1, 32)
    assert got.status is GetMessageStatus.FOUND
    assert [decode_record(b)[0].body for b in got.buffers] == [b"b%d" % i for i in range(5)]
    assert got.queue_offsets == [1, 2, 3, 4, 5]


def test_batch_that_does_not_fit_moves_to_the_next_segment(store: MessageStore) -> None:
    put_ok(store, make_record(body=b"x" * 3000))
    batch = [make_record(body=b"y" * 300) for _ in range(4)]
    result = store.put_messages(batch)
    assert result.ok
    assert result.wrote_offset == 4096
    assert len(read_queue(store, "TopicA")) == 5


def test_batch_rules(store: MessageStore) -> None:
    assert store.put_messages([]).status is PutStatus.MESSAGE_ILLEGAL
    mixed = [make_record(queue_id=0), make_record(queue_id=1)]
    assert store.put_messages(mixed).status is PutStatus.MESSAGE_ILLEGAL
    topics = [make_record("A"), make_record("B")]
    assert store.put_messages(topics).status is PutStatus.MESSAGE_ILLEGAL
    prepared = [make_record(sys_flag=4), make_record(sys_flag=4)]
    assert store.put_messages(prepared).status is PutStatus.MESSAGE_ILLEGAL
    too_big = [make_record(body=b"z" * 1500) for _ in range(3)]
    assert store.put_messages(too_big).status is PutStatus.MESSAGE_ILLEGAL
    assert store.max_phy_offset == 0


def test_tag_filter_uses_the_queue_tags_code(store: MessageStore) -> None:
    for i in range(10):
        put_ok(store, make_record(body=b"%d" % i, tags="TagA" if i % 3 == 0 else "TagB"))
    wanted = tags_hash("TagA")
    got = store.get_message("TopicA", 0, 0, 32, message_filter=lambda code: code == wanted)
    assert got.status is GetMessageStatus.FOUND
    # One queue file (8 entries) per get, as Java's getIndexBuffer.
    assert [decode_record(b)[0].body for b in got.buffers] == [b"0", b"3", b"6"]
    assert got.queue_offsets == [0, 3, 6]
    assert got.next_begin_offset == 8
    got = store.get_message("TopicA", 0, 8, 32, message_filter=lambda code: code == wanted)
    assert [decode_record(b)[0].body for b in got.buffers] == [b"9"]


def test_filter_matching_nothing(store: MessageStore) -> None:
    for _ in range(5):
        put_ok(store, make_record(tags="TagB"))
    got = store.get_message("TopicA", 0, 1, 32, message_filter=lambda code: False)
    assert got.status is GetMessageStatus.NO_MATCHED_MESSAGE
    assert got.next_begin_offset == 5
    assert got.buffers == []


def test_get_status_by_offset(store: MessageStore) -> None:
    got = store.get_message("Nope", 0, 5, 32)
    assert (got.status, got.next_begin_offset) == (GetMessageStatus.NO_MATCHED_LOGIC_QUEUE, 0)
    store.consume_queues.find_or_create("Empty", 0)
    got = store.get_message("Empty", 0, 3, 32)
    assert (got.status, got.next_begin_offset) == (GetMessageStatus.NO_MESSAGE_IN_QUEUE, 0)
    for _ in range(3):
        put_ok(store, make_record())
    got = store.get_message("TopicA", 0, 3, 32)
    assert (got.status, got.next_begin_offset) == (GetMessageStatus.OFFSET_OVERFLOW_ONE, 3)
    assert (got.min_offset, got.max_offset) == (0, 3)
    got = store.get_message("TopicA", 0, 9, 32)
    assert (got.status, got.next_begin_offset) == (GetMessageStatus.OFFSET_OVERFLOW_BADLY, 3)
    got = store.get_message("TopicA", 0, 1, 32)
    assert (got.status, got.next_begin_offset) == (GetMessageStatus.FOUND, 3)
    assert got.message_count == 2
    assert got.buffer_total_size == sum(len(b) for b in got.buffers)


def test_offset_too_small_after_cleanup(store: MessageStore) -> None:
    for _ in range(40):
        put_ok(store, make_record(body=b"q" * 400))
    deleted = store.clean_expired_files(now_ms=store.clock_ms() + 10**12, force=True)
    assert deleted > 0
    min_offset = store.get_min_offset_in_queue("TopicA", 0)
    assert min_offset > 0
    got = store.get_message("TopicA", 0, 0, 32)
    assert (got.status, got.next_begin_offset) == (GetMessageStatus.OFFSET_TOO_SMALL, min_offset)
    got = store.get_message("TopicA", 0, min_offset, 32)
    assert got.status is GetMessageStatus.FOUND
    assert decode_record(got.buffers[0])[0].commit_log_offset >= store.min_phy_offset


def test_message_was_removing(store: MessageStore) -> None:
    for _ in range(20):
        put_ok(store, make_record(body=b"r" * 400))
    # Delete the oldest segment but leave the queue's min offset behind (the cleanup of
    # queues runs after the commitlog's; a pull can land in between).
    store.commitlog.delete_files(store.commitlog.queue.files[:2])
    got = store.get_message("TopicA", 0, 0, 32)
    assert got.status is GetMessageStatus.MESSAGE_WAS_REMOVING
    assert got.buffers == []
    assert got.next_begin_offset == 8
    # In the next queue file, entries of the deleted segments are skipped, the rest found.
    got = store.get_message("TopicA", 0, 8, 32)
    assert got.status is GetMessageStatus.FOUND
    assert got.queue_offsets == [14, 15]


def test_offset_found_null(store: MessageStore) -> None:
    for _ in range(12):
        put_ok(store, make_record())
    cq = store.consume_queues.find("TopicA", 0)
    assert cq is not None
    cq.queue.delete_first(1)  # a queue file missing under the min offset
    got = store.get_message("TopicA", 0, 2, 32)
    assert (got.status, got.next_begin_offset) == (GetMessageStatus.OFFSET_FOUND_NULL, 8)


def test_count_and_size_limits(tmp_path: Path) -> None:
    s = open_store(make_config(tmp_path, max_transfer_count_on_message_in_memory=4))
    try:
        for _ in range(10):
            put_ok(s, make_record(body=b"x" * 100))
        assert s.get_message("TopicA", 0, 0, 32).message_count == 4
        assert s.get_message("TopicA", 0, 0, 3).message_count == 3
        one = s.get_message("TopicA", 0, 0, 32, max_total_bytes=10)
        assert one.message_count == 1  # at least one record
        assert one.next_begin_offset == 1
        size = one.buffer_total_size
        two = s.get_message("TopicA", 0, 0, 32, max_total_bytes=2 * size)
        assert two.message_count == 2
    finally:
        s.shutdown()


def test_transactions_prepared_and_rollback_are_not_dispatched(store: MessageStore) -> None:
    half = put_ok(store, make_record(sys_flag=MessageSysFlag.TRANSACTION_PREPARED_TYPE, uniq="H1"))
    assert half.queue_offset == 0
    assert store.get_max_offset_in_queue("TopicA", 0) == 0
    record, _ = decode_record(store.look_message_by_offset(half.wrote_offset) or b"")
    assert record.queue_offset == 0
    assert len(store.query_message("TopicA", "H1", 32, 0, 2**62).buffers) == 1
    back = put_ok(store, make_record(sys_flag=MessageSysFlag.TRANSACTION_ROLLBACK_TYPE, uniq="R1"))
    assert back.queue_offset == 0
    assert store.query_message("TopicA", "R1", 32, 0, 2**62).buffers == []
    commit = put_ok(store, make_record(sys_flag=MessageSysFlag.TRANSACTION_COMMIT_TYPE))
    assert commit.queue_offset == 0
    assert store.get_max_offset_in_queue("TopicA", 0) == 1
    normal = put_ok(store, make_record())
    assert normal.queue_offset == 1


def test_size_and_property_limits(tmp_path: Path) -> None:
    s = open_store(make_config(tmp_path, max_message_size=1000))
    try:
        assert s.put_message(make_record(body=b"x" * 1000)).status is PutStatus.MESSAGE_ILLEGAL
        big = make_record(extra={"P": "v" * 40000})
        assert s.put_message(big).status is PutStatus.PROPERTIES_SIZE_EXCEEDED
        bad = make_record(extra={"P": "a\x01b"})
        assert s.put_message(bad).status is PutStatus.MESSAGE_ILLEGAL
        assert s.put_message(make_record("../evil")).status is PutStatus.MESSAGE_ILLEGAL
        assert s.max_phy_offset == 0
        assert s.stats()["putMessageFailedTimes"] == 4
        assert put_ok(s, make_record(body=b"x" * 500)).ok
    finally:
        s.shutdown()


def test_a_batch_over_max_message_size_together_is_refused_whole(tmp_path: Path) -> None:
    # Java's MessageExtBatchEncoder: every record within the limit, and all of them together.
    s = open_store(make_config(tmp_path, max_message_size=1000))
    try:
        records = [make_record(body=b"x" * 300) for _ in range(3)]
        assert put_ok(s, records[0]).ok  # one alone is well within the limit
        assert s.put_messages(records).status is PutStatus.MESSAGE_ILLEGAL
        assert s.get_max_offset_in_queue("TopicA", 0) == 1  # nothing of the batch stored
        pair = s.put_messages([make_record(body=b"x" * 300) for _ in range(2)])
        assert pair.status is PutStatus.PUT_OK
        assert s.get_max_offset_in_queue("TopicA", 0) == 3
    finally:
        s.shutdown()


def test_disk_ratio_guard_refuses_without_writing(tmp_path: Path) -> None:
    s = open_store(make_config(tmp_path, disk_max_used_space_ratio=0))
    try:
        assert s.put_message(make_record()).status is PutStatus.SERVICE_NOT_AVAILABLE
        assert s.put_messages([make_record()]).status is PutStatus.SERVICE_NOT_AVAILABLE
        assert s.max_phy_offset == 0
        assert 0 < s.disk_used_ratio() < 1
    finally:
        s.shutdown()


def test_lifecycle_refusals(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    s = MessageStore(config, Clock())
    assert s.put_message(make_record()).status is PutStatus.SERVICE_NOT_AVAILABLE
    assert s.load()
    assert s.put_message(make_record()).status is PutStatus.SERVICE_NOT_AVAILABLE
    second = MessageStore(config, Clock())
    assert not second.load()  # the directory is locked
    s.start()
    put_ok(s, make_record())
    s.shutdown()
    assert s.put_message(make_record()).status is PutStatus.SERVICE_NOT_AVAILABLE
    got = s.get_message("TopicA", 0, 0, 32)
    assert got.status is GetMessageStatus.NO_MATCHED_LOGIC_QUEUE
    s.shutdown()  # twice is fine
    third = open_store(config)
    assert third.get_max_offset_in_queue("TopicA", 0) == 1
    third.shutdown()


def test_raw_properties_are_kept_only_while_they_match(store: MessageStore) -> None:
    record = make_record(uniq="U1", tags="T")
    raw = b"TAGS\x01T\x02UNIQ_KEY\x01U1\x02"  # other order, trailing separator
    record.raw_properties = raw
    record.properties = {"UNIQ_KEY": "U1", "TAGS": "T"}
    result = put_ok(store, record)
    stored = store.look_message_by_offset(result.wrote_offset) or b""
    assert stored.endswith(raw)
    stale = make_record(uniq="U2", tags="T")
    stale.raw_properties = b"TAGS\x01OLD"
    result = put_ok(store, stale)
    decoded, _ = decode_record(store.look_message_by_offset(result.wrote_offset) or b"")
    assert decoded.properties == stale.properties


def test_schedule_topic_tags_code_is_the_delivery_time(store: MessageStore) -> None:
    record = make_record(
        SCHEDULE_TOPIC, queue_id=2, extra={MessageConst.PROPERTY_DELAY_TIME_LEVEL: "3"}
    )
    put_ok(store, record)
    [(phy, size, tags)] = store.consume_queue_entries(SCHEDULE_TOPIC, 2, 0, 10)
    assert tags == START_MS + 10_000
    assert (phy, size) == (record.commit_log_offset, record.store_size)


def test_arrival_listener(store: MessageStore) -> None:
    seen: list[tuple[str, int, int]] = []
    store.add_arrival_listener(lambda *args: seen.append(args))
    put_ok(store, make_record(queue_id=3))
    store.put_messages([make_record(queue_id=3), make_record(queue_id=3)])
    put_ok(store, make_record(sys_flag=MessageSysFlag.TRANSACTION_PREPARED_TYPE))
    assert seen == [("TopicA", 3, 1), ("TopicA", 3, 3)]


def test_time_and_offset_lookups(store: MessageStore, store_clock: Clock) -> None:
    times = []
    for _ in range(10):
        times.append(store_clock.now)
        put_ok(store, make_record())
        store_clock.advance(1000)
    assert store.get_earliest_message_time("TopicA", 0) == times[0]
    assert store.get_earliest_message_time() == times[0]
    assert store.get_earliest_message_time("Nope", 0) == -1
    assert store.get_message_store_timestamp("TopicA", 0, 4) == times[4]
    assert store.get_message_store_timestamp("TopicA", 0, 99) == -1
    assert store.get_offset_in_queue_by_time("TopicA", 0, times[4]) == 4
    assert store.get_offset_in_queue_by_time("TopicA", 0, times[4] + 1) == 5
    assert store.get_offset_in_queue_by_time("TopicA", 0, times[4] + 1, boundary_upper=True) == 4
    assert store.get_offset_in_queue_by_time("TopicA", 0, 0) == 0
    assert store.get_offset_in_queue_by_time("TopicA", 0, 2**62) == 10
    assert store.get_offset_in_queue_by_time("TopicA", 0, 2**62, boundary_upper=True) == 9
    assert store.get_offset_in_queue_by_time("Nope", 0, 0) == 0
    offset = store.get_commit_log_offset_in_queue("TopicA", 0, 3)
    record, _ = decode_record(store.look_message_by_offset(offset) or b"")
    assert record.queue_offset == 3
    assert store.get_commit_log_offset_in_queue("TopicA", 0, 10) == 0
    assert store.check_in_mem_by_consume_offset("TopicA", 0, 0)
    assert not store.check_in_mem_by_consume_offset("TopicA", 0, 10)
    assert not store.check_in_mem_by_consume_offset("Nope", 0, 0)
    assert not store.check_in_disk_by_consume_offset("TopicA", 0, 0)
    assert store.get_message_total_in_queue("TopicA", 0) == 10


def test_look_message_by_offset_rejects_non_record_offsets(store: MessageStore) -> None:
    result = put_ok(store, make_record(body=b"abcdef"))
    assert store.look_message_by_offset(result.wrote_offset, result.wrote_bytes) is not None
    assert store.look_message_by_offset(result.wrote_offset, result.wrote_bytes + 1) is None
    assert store.select_one_message_by_offset(result.wrote_offset) is not None
    for bad in (1, 4, 28, result.wrote_bytes, -1, 10**9):
        assert store.look_message_by_offset(bad) is None


def test_topics_and_delete(store: MessageStore, tiny_config: StoreConfig) -> None:
    put_ok(store, make_record("A", queue_id=0))
    put_ok(store, make_record("A", queue_id=2))
    put_ok(store, make_record("B", queue_id=1))
    assert store.topics_and_queues() == {"A": [0, 2], "B": [1]}
    store.delete_topics({"A", "missing"})
    assert store.topics_and_queues() == {"B": [1]}
    assert not (Path(tiny_config.consume_queue_dir) / "A").exists()
    assert store.get_message("A", 0, 0, 32).status is GetMessageStatus.NO_MATCHED_LOGIC_QUEUE
    assert put_ok(store, make_record("A")).queue_offset == 0


def test_stats(store: MessageStore) -> None:
    put_ok(store, make_record())
    store.get_message("TopicA", 0, 0, 32)
    store.get_message("TopicA", 0, 5, 32)
    stats = store.stats()
    assert stats["putMessageTimesTotal"] == 1
    assert stats["getMessageTimesTotalFound"] == 1
    assert stats["getMessageTimesTotalMiss"] == 1
    assert stats["getMessageTransferedMsgCount"] == 1
    assert dict(stats)["putMessageSizeTotal"] == store.max_phy_offset
    info = stats.runtime_info(START_MS + 1000)
    assert info["putMessageTimesTotal"] == "1"
    assert info["runtime"] == "[ 0 days, 0 hours, 0 minutes, 1 seconds ]"
    assert info["putMessageDistributeTime"].startswith("[<=0ms]:")
    assert store.remain_how_many_data_to_flush() >= 0


@pytest.mark.parametrize("ip", ["::1", "10.1.2.3"])
def test_ipv6_and_ipv4_store_hosts(tmp_path: Path, ip: str) -> None:
    s = open_store(make_config(tmp_path, store_host=(ip, 10911), **TINY))
    try:
        record = make_record()
        record.born_host = ("fe80::1", 7) if ip == "::1" else ("10.0.0.9", 7)
        result = put_ok(s, record)
        decoded, _ = decode_record(s.look_message_by_offset(result.wrote_offset) or b"")
        assert decoded.store_host[0] == ip
        assert result.msg_id == encode_offset_msg_id(ip, 10911, result.wrote_offset)
        assert s.get_message_store_timestamp("TopicA", 0, 0) == START_MS
    finally:
        s.shutdown()


def test_queue_gap_is_filled_with_blank_entries(store: MessageStore) -> None:
    cq = store.consume_queues.find_or_create("Gap", 0)
    first = put_ok(store, make_record("Other"))
    second = put_ok(store, make_record("Other"))
    assert cq.put(first.wrote_offset, first.wrote_bytes, 0, 0)
    assert cq.put(second.wrote_offset, second.wrote_bytes, 0, 3)  # 1 and 2 missing
    assert not cq.put(second.wrote_offset, second.wrote_bytes, 0, 2)  # already past
    got = store.get_message("Gap", 0, 0, 32)
    assert got.queue_offsets == [0, 3]
    assert got.next_begin_offset == 4
    assert not store.check_in_mem_by_consume_offset("Gap", 0, 1)


def test_queue_starting_past_zero_is_pre_blanked(store: MessageStore) -> None:
    cq = store.consume_queues.find_or_create("Late", 0)
    result = put_ok(store, make_record("Other"))
    assert cq.put(result.wrote_offset, result.wrote_bytes, 0, 11)
    assert (store.get_min_offset_in_queue("Late", 0), store.get_max_offset_in_queue("Late", 0)) == (
        11,
        12,
    )
    assert store.get_message("Late", 0, 3, 32).status is GetMessageStatus.OFFSET_TOO_SMALL
    assert store.get_message("Late", 0, 11, 32).queue_offsets == [11]


def test_python_memory_does_not_grow_with_messages(tmp_path: Path) -> None:
    import gc
    import tracemalloc

    s = open_store(make_config(tmp_path, mapped_file_size_commit_log=1 << 20))
    try:
        records = [make_record(body=b"m" * 200, keys=f"k{i}", tags="T") for i in range(64)]
        for i in range(2000):
            s.put_message(records[i % 64])
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for i in range(8000):
            s.put_message(records[i % 64])
            if i % 100 == 0:
                s.get_message("TopicA", 0, i, 32)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        assert grown < 100_000, grown  # 8,000 messages (1.9 MB stored): ~nothing kept
    finally:
        s.shutdown()
