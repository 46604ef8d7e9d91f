"""The key index: Java's IndexFile layout, queries by key and UNIQ_KEY, windows, collisions."""

from __future__ import annotations

import os
import random
import string
import struct
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from broker.store import MessageStore, StoreConfig
from broker.store.index import IndexService, fast_index_key_hash, topic_key_hash
from rocketmq_py.protocol.message import decode_record, index_key_hash, java_string_hash
from tests.broker.store.helpers import START_MS, Clock, make_config, make_record, open_store, put_ok


def _keys(store: MessageStore, topic: str, key: str, begin: int = 0, end: int = 2**62) -> list[str]:
    found = store.query_message(topic, key, 32, begin, end)
    return [decode_record(b)[0].properties.get("UNIQ_KEY", "") for b in found.buffers]


def test_query_by_key_and_unique_key(store: MessageStore) -> None:
    put_ok(store, make_record(uniq="U1", keys="order-1 customer-7"))
    put_ok(store, make_record(uniq="U2", keys="order-2 customer-7"))
    put_ok(store, make_record("Other", uniq="U3", keys="order-1"))
    assert _keys(store, "TopicA", "U1") == ["U1"]
    assert _keys(store, "TopicA", "order-1") == ["U1"]
    assert _keys(store, "TopicA", "customer-7") == ["U1", "U2"]
    assert _keys(store, "Other", "order-1") == ["U3"]
    assert _keys(store, "TopicA", "U3") == []
    result = store.query_message("TopicA", "U2", 32, 0, 2**62)
    assert result.index_last_update_phyoffset == store.commitlog.last_record_offset
    assert result.index_last_update_timestamp == START_MS
    assert result.buffer_total_size == len(result.buffers[0])


def test_a_message_indexed_again_by_recovery_is_found_once(store: MessageStore) -> None:
    # Recovery replays from the checkpoint and indexes the newest indexed message again
    # (phy == end_phy_offset, Java's guard); a query must still return it once.
    result = put_ok(store, make_record(uniq="R1", keys="again"))
    index = store.index
    assert index is not None
    record, _ = decode_record(store.look_message_by_offset(result.wrote_offset) or b"")
    for _ in range(2):
        index.build_index(
            topic="TopicA",
            phy_offset=result.wrote_offset,
            store_timestamp=record.store_timestamp,
            sys_flag=record.sys_flag,
            uniq_key="R1",
            keys="again",
            now_ms=START_MS,
        )
    assert index.files[-1].index_count == 1 + 2 * 3  # the keys really are there three times
    assert _keys(store, "TopicA", "R1") == ["R1"]
    assert _keys(store, "TopicA", "again") == ["R1"]


def test_time_window(store: MessageStore, store_clock: Clock) -> None:
    stamps = []
    for i in range(6):
        stamps.append(store_clock.now)
        put_ok(store, make_record(uniq=f"W{i}", keys="same"))
        store_clock.advance(10_000)
    assert _keys(store, "TopicA", "same", stamps[2], stamps[4]) == ["W2", "W3", "W4"]
    assert _keys(store, "TopicA", "same", stamps[5] + 1000, 2**62) == []
    assert _keys(store, "TopicA", "same", 0, stamps[0] - 1000) == []
    assert store.query_message("TopicA", "same", 2, 0, 2**62).buffers.__len__() == 2


def test_hash_collisions_and_shared_slots(tmp_path: Path) -> None:
    assert java_string_hash("T#Aa") == java_string_hash("T#BB")
    s = open_store(make_config(tmp_path, max_hash_slot_num=2, max_index_num=1000))
    try:
        for i in range(20):
            put_ok(s, make_record("T", uniq=f"N{i}"))
        put_ok(s, make_record("T", uniq="Q1", keys="Aa"))
        put_ok(s, make_record("T", uniq="Q2", keys="BB"))
        # Same Java hash: both come back, the client compares keys.
        assert _keys(s, "T", "Aa") == ["Q1", "Q2"]
        assert _keys(s, "T", "BB") == ["Q1", "Q2"]
        # Same slot, other hash: walked past.
        for i in range(20):
            assert _keys(s, "T", f"N{i}") == [f"N{i}"]
    finally:
        s.shutdown()


def test_new_file_when_full_and_queries_across_files(
    store: MessageStore, tiny_config: StoreConfig, store_clock: Clock
) -> None:
    for i in range(100):  # two keys each, 63 per file
        put_ok(store, make_record(uniq=f"K{i}", keys=f"key{i % 7}"))
        store_clock.advance(500)
    names = sorted(os.listdir(tiny_config.index_dir))
    assert len(names) == 4
    assert all(len(n) == 17 and n.isdigit() for n in names)
    for i in range(100):
        assert _keys(store, "TopicA", f"K{i}") == [f"K{i}"]
    assert len(_keys(store, "TopicA", "key3")) == len(range(3, 100, 7))


def test_file_layout_matches_java(store: MessageStore, tiny_config: StoreConfig) -> None:
    first = put_ok(store, make_record(uniq="L1"))
    second = put_ok(store, make_record(uniq="L2", keys="k"))
    [name] = os.listdir(tiny_config.index_dir)
    data = (Path(tiny_config.index_dir) / name).read_bytes()
    slots, entries = tiny_config.max_hash_slot_num, tiny_config.max_index_num
    assert len(data) == 40 + slots * 4 + entries * 20
    begin_ts, end_ts, begin_phy, end_phy, slot_count, count = struct.unpack_from(">qqqqii", data)
    assert (begin_ts, end_ts) == (START_MS, START_MS)
    assert (begin_phy, end_phy) == (first.wrote_offset, second.wrote_offset)
    assert count == 4  # entry 0 unused, then L1, L2, k
    expected = [("TopicA#L1", first), ("TopicA#L2", second), ("TopicA#k", second)]
    for number, (key, result) in enumerate(expected, start=1):
        h = index_key_hash(key)
        pos = 40 + slots * 4 + number * 20
        key_hash, phy, diff, prev = struct.unpack_from(">iqii", data, pos)
        assert (key_hash, phy, diff) == (h, result.wrote_offset, 0)
        (slot,) = struct.unpack_from(">i", data, 40 + (h % slots) * 4)
        assert slot >= number
        assert prev < number
    assert slot_count == len({index_key_hash(k) % slots for k, _ in expected})


def test_rollback_undoes_puts_exactly(tmp_path: Path) -> None:
    service = IndexService(str(tmp_path), 4, 100, 64)
    service.load()
    for i in range(30):
        service.build_index(
            topic="T",
            phy_offset=i * 10,
            store_timestamp=START_MS + i * 1000,
            sys_flag=0,
            uniq_key=f"u{i}",
            keys=f"k{i % 3}",
            now_ms=START_MS,
        )
    assert service.rollback(200) == 20
    f = service.files[-1]
    assert f.index_count == 41
    assert f.end_phy_offset == 190
    for i in range(30):
        offsets, _, _ = service.query("T", f"u{i}", 10, 0, 2**62)
        assert offsets == ([i * 10] if i < 20 else [])
    offsets, _, _ = service.query("T", "k1", 64, 0, 2**62)
    assert sorted(offsets) == [i * 10 for i in range(1, 20, 3)]
    service.close()


@given(st.text(max_size=80))
def test_fast_hash_equals_java(key: str) -> None:
    assert fast_index_key_hash(key) == index_key_hash(key)


def test_fast_hash_long_and_edge_keys() -> None:
    rnd = random.Random(7)
    for n in (0, 1, 511, 512, 513, 2000):
        key = "".join(rnd.choice(string.printable) for _ in range(n))
        assert fast_index_key_hash(key) == index_key_hash(key)


@given(st.text(max_size=30), st.text(max_size=40))
def test_topic_key_hash_equals_java(topic: str, key: str) -> None:
    assert topic_key_hash(topic, key) == index_key_hash(f"{topic}#{key}")


def test_topic_key_hash_reuses_heads_and_survives_new_ones() -> None:
    rnd = random.Random(11)
    for _ in range(2000):  # more distinct heads than the cache holds, then repeats
        topic = rnd.choice(["T", "bench-1795639382-5769", "é主题"])
        key = "".join(rnd.choice("0123456789ABCDEF") for _ in range(rnd.choice([4, 8, 9, 13, 32])))
        assert topic_key_hash(topic, key) == index_key_hash(f"{topic}#{key}")


def test_batched_keys_write_the_same_file_as_one_key_at_a_time(tmp_path: Path) -> None:
    rnd = random.Random(3)
    keys = [(rnd.randrange(2**31), 1000 + i * 10, START_MS + i * 700) for i in range(150)]
    one = IndexService(str(tmp_path / "one"), 7, 60, 64)
    batched = IndexService(str(tmp_path / "batched"), 7, 60, 64)
    for service in (one, batched):
        service.load()
    for key in keys:  # 7 slots, 60 entries per file: shared slots, and files fill up
        one.put_keys([key], START_MS)
    for start in range(0, len(keys), 16):
        batched.put_keys(keys[start : start + 16], START_MS)
    assert len(one.files) == len(batched.files) == 3
    for a, b in zip(one.files, batched.files, strict=True):
        assert bytes(a.map) == bytes(b.map)
    assert batched.rollback(keys[100][1]) == one.rollback(keys[100][1])
    for a, b in zip(one.files, batched.files, strict=True):
        assert bytes(a.map) == bytes(b.map)
    one.close()
    batched.close()
