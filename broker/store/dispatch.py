"""Dispatch: what a stored record contributes to the consume queues and the index.

The put path writes queue entries and index keys right after the commitlog write of the
records (:meth:`Dispatcher.put`); recovery replays records it finds in the commitlog
(:meth:`Dispatcher.replay`, fed by :func:`~broker.store.record_check.check_record`).
Prepared (4) and rolled-back (12) transactional messages get no queue entry; rolled-back
ones get no index keys either (Java's ``CommitLogDispatcherBuildConsumeQueue`` and
``IndexService.buildIndex``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Final, NamedTuple

from broker.store.consume_queue import ConsumeQueue, ConsumeQueueTable, is_valid_topic_dir
from broker.store.index import IndexKey, IndexService, add_message_keys, topic_key_hash
from rocketmq_py.protocol.message import MessageConst, MessageRecord, MessageSysFlag, tags_hash
from rocketmq_py.protocol.topics import RMQ_SYS_SCHEDULE_TOPIC

__all__ = [
    "SCHEDULE_TOPIC",
    "DispatchRequest",
    "Dispatcher",
    "compute_tags_code",
    "is_dispatched",
    "store_timestamp_position",
]

SCHEDULE_TOPIC: Final = RMQ_SYS_SCHEDULE_TOPIC
_PREFIX_SIZE: Final = 48  # the fixed fields up to BORNTIMESTAMP
_TAGS: Final = MessageConst.PROPERTY_TAGS
_KEYS: Final = MessageConst.PROPERTY_KEYS
_UNIQ_KEY: Final = MessageConst.PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX
_TRANSACTION_TYPE_MASK: Final = int(MessageSysFlag.TRANSACTION_TYPE_MASK)
_TRANSACTION_ROLLBACK_TYPE: Final = int(MessageSysFlag.TRANSACTION_ROLLBACK_TYPE)
_DISPATCHED: Final = frozenset(
    (MessageSysFlag.TRANSACTION_NOT_TYPE, MessageSysFlag.TRANSACTION_COMMIT_TYPE)
)


def is_dispatched(sys_flag: int) -> bool:
    """Whether a message with this sysFlag gets a consume-queue entry."""
    return (sys_flag & MessageSysFlag.TRANSACTION_TYPE_MASK) in _DISPATCHED


class DispatchRequest(NamedTuple):
    """One record's consume-queue and index facts."""

    topic: str
    queue_id: int
    commit_log_offset: int
    size: int
    tags_code: int
    store_timestamp: int
    queue_offset: int
    sys_flag: int
    keys: str | None
    uniq_key: str | None


def store_timestamp_position(sys_flag: int) -> int:
    """Where ``STORETIMESTAMP`` sits in a record with this sysFlag (after the born host)."""
    return _PREFIX_SIZE + (20 if sys_flag & MessageSysFlag.BORNHOST_V6_FLAG else 8)


def compute_tags_code(
    topic: str, properties: Mapping[str, str], store_timestamp: int, delay_table: Mapping[int, int]
) -> int:
    """The consume-queue tags code: the ``TAGS`` hash, or for ``SCHEDULE_TOPIC_XXXX`` the
    delivery time (store time plus the delay of the ``DELAY`` level, as Java computes it)."""
    if topic == SCHEDULE_TOPIC:
        level_text = properties.get(MessageConst.PROPERTY_DELAY_TIME_LEVEL)
        if level_text:
            try:
                level = int(level_text)
            except ValueError:
                level = 0
            if delay_table:
                level = min(level, max(delay_table))
            if level > 0:
                return store_timestamp + delay_table.get(level, 1000)
    return tags_hash(properties.get(MessageConst.PROPERTY_TAGS))


class Dispatcher:
    """Writes queue entries and index keys for stored records (event-loop thread)."""

    def __init__(
        self,
        table: ConsumeQueueTable,
        index: IndexService | None,
        delay_table: Mapping[int, int],
        clock_ms: Callable[[], int],
    ) -> None:
        self.table = table
        self.index = index
        self.delay_table = delay_table
        self.clock_ms = clock_ms
        self.dispatched: tuple[int, int] = (0, 0)
        """``(offset, store time)``: every record below the offset is dispatched."""

    def put(self, puts: Sequence[tuple[list[MessageRecord], ConsumeQueue | None, int]]) -> None:
        """Dispatch just-written puts, each ``(records, queue or None, store time)``, in order
        (the store has set the records' offsets, sizes and sysFlag).

        Queue entries go first, each put's in one write, then the index keys of every record
        together (one index header write for the lot), then ``dispatched`` moves past the
        last record.

        Raises:
            OSError: a queue or index file could not be created; ``dispatched`` is unchanged.
        """
        index = self.index
        delay_table = self.delay_table
        keys: list[IndexKey] = []
        last = None
        # The index's newest file, to test "beyond what it holds" (IndexService.wants)
        # without a call per put: only put_keys, after this loop, changes it.
        newest = index.files[-1] if index is not None and index.files else None
        for records, cq, store_ts in puts:
            first = records[0]
            if len(records) == 1:  # a single send: no lists, the common calls inlined
                props = first.properties
                phy = first.commit_log_offset
                if cq is not None:
                    if first.topic == SCHEDULE_TOPIC:
                        tags = compute_tags_code(first.topic, props, store_ts, delay_table)
                    else:
                        tags = tags_hash(props.get(_TAGS))
                    cq.put(phy, first.store_size, tags, first.queue_offset)
                if (
                    index is not None
                    and first.sys_flag & _TRANSACTION_TYPE_MASK != _TRANSACTION_ROLLBACK_TYPE
                    and (newest is None or phy >= newest.end_phy_offset)
                ):
                    uniq_key = props.get(_UNIQ_KEY)
                    if uniq_key:
                        keys.append((topic_key_hash(first.topic, uniq_key), phy, store_ts))
                    message_keys = props.get(_KEYS)
                    if message_keys:
                        add_message_keys(
                            keys, first.topic, phy, store_ts, uniq_key=None, keys=message_keys
                        )
                last = first
                continue
            if cq is not None:
                cq.put_many(
                    first.queue_offset,
                    [
                        (
                            r.commit_log_offset,
                            r.store_size,
                            compute_tags_code(r.topic, r.properties, store_ts, delay_table),
                        )
                        for r in records
                    ],
                )
            # The records of a put share their transaction type and follow each other.
            if index is not None and index.wants(first.commit_log_offset, first.sys_flag):
                for r in records:
                    props = r.properties
                    add_message_keys(
                        keys,
                        r.topic,
                        r.commit_log_offset,
                        store_ts,
                        uniq_key=props.get(MessageConst.PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX),
                        keys=props.get(MessageConst.PROPERTY_KEYS),
                    )
            last = records[-1]
        if index is not None and keys:
            index.put_keys(keys, keys[0][2])
        if last is not None:
            self.dispatched = (last.commit_log_offset + last.store_size, last.store_timestamp)

    def replay(self, req: DispatchRequest) -> None:
        """Dispatch one record found by recovery."""
        if is_dispatched(req.sys_flag) and is_valid_topic_dir(req.topic):
            cq = self.table.find_or_create(req.topic, req.queue_id)
            cq.put(req.commit_log_offset, req.size, req.tags_code, req.queue_offset)
        if self.index is not None:
            self.index.build_index(
                topic=req.topic,
                phy_offset=req.commit_log_offset,
                store_timestamp=req.store_timestamp,
                sys_flag=req.sys_flag,
                uniq_key=req.uniq_key,
                keys=req.keys,
                now_ms=self.clock_ms(),
            )
