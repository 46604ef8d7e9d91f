"""Shared helpers for the message store tests."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from broker.store import (
    GetMessageStatus,
    MessageStore,
    PutStatus,
    StoreConfig,
)
from rocketmq_py.protocol.message import MessageConst, MessageRecord, decode_record

START_MS = 1_700_000_000_000

TINY = {
    "mapped_file_size_commit_log": 4096,
    "mapped_file_size_consume_queue": 20 * 8,
    "max_hash_slot_num": 16,
    "max_index_num": 64,
    "flush_interval_commit_log_ms": 10,
    "flush_interval_consume_queue_ms": 10,
}


class Clock:
    """A settable millisecond clock."""

    def __init__(self, start: int = START_MS) -> None:
        self.now = start

    def __call__(self) -> int:
        return self.now

    def advance(self, ms: int) -> None:
        self.now += ms


_uniq = itertools.count()


# Files are preallocated: keep test stores small unless a test says otherwise.
SMALL = {
    "mapped_file_size_commit_log": 1 << 20,
    "mapped_file_size_consume_queue": 20 * 1024,
    "max_hash_slot_num": 1024,
    "max_index_num": 4096,
}


def make_config(root: Path | str, **overrides: Any) -> StoreConfig:
    return StoreConfig(store_path_root_dir=str(root), **{**SMALL, **overrides})


def make_record(
    topic: str = "TopicA",
    body: bytes = b"hello",
    *,
    queue_id: int = 0,
    tags: str | None = None,
    keys: str | None = None,
    uniq: str | None = None,
    sys_flag: int = 0,
    extra: dict[str, str] | None = None,
) -> MessageRecord:
    props: dict[str, str] = {}
    if tags is not None:
        props[MessageConst.PROPERTY_TAGS] = tags
    if keys is not None:
        props[MessageConst.PROPERTY_KEYS] = keys
    props[MessageConst.PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX] = uniq or f"UNIQ{next(_uniq):08d}"
    if extra:
        props.update(extra)
    return MessageRecord(
        topic=topic,
        body=body,
        properties=props,
        queue_id=queue_id,
        sys_flag=sys_flag,
        born_timestamp=START_MS - 5,
        born_host=("10.0.0.2", 54321),
    )


def open_store(config: StoreConfig, clock: Clock | None = None, start: bool = True) -> MessageStore:
    store = MessageStore(config, clock or Clock())
    assert store.load()
    if start:
        store.start()
    return store


def put_ok(store: MessageStore, record: MessageRecord) -> Any:
    result = store.put_message(record)
    assert result.status is PutStatus.PUT_OK, result
    return result


def read_queue(store: MessageStore, topic: str, queue_id: int = 0) -> list[MessageRecord]:
    """Every record of a queue from its min offset, decoded."""
    out: list[MessageRecord] = []
    offset = store.get_min_offset_in_queue(topic, queue_id)
    while True:
        result = store.get_message(topic, queue_id, offset, 32)
        if result.status is not GetMessageStatus.FOUND:
            if result.next_begin_offset > offset and result.status in (
                GetMessageStatus.NO_MATCHED_MESSAGE,
                GetMessageStatus.OFFSET_FOUND_NULL,
                GetMessageStatus.MESSAGE_WAS_REMOVING,
            ):
                offset = result.next_begin_offset
                continue
            return out
        for buf in result.buffers:
            record, end = decode_record(buf, check_crc=True)
            assert end == len(buf)
            out.append(record)
        offset = result.next_begin_offset
