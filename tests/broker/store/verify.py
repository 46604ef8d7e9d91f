"""Independent readers of the store's files, for the tests' consistency checks."""

from __future__ import annotations

import os
from collections.abc import Iterator

from broker.store import MessageStore
from rocketmq_py.protocol.message import (
    BLANK_MAGIC_CODE,
    MAGIC_CODE_V1,
    MAGIC_CODE_V2,
    MessageRecord,
    decode_record,
    read_record_header,
)


def scan_commitlog(store: MessageStore) -> Iterator[MessageRecord]:
    """Every record of the commitlog read straight from the files, checking the chain
    (sizes, blank fillers, stored offsets and CRCs) up to the store's max offset."""
    directory = store.config.commit_log_dir
    size = store.config.mapped_file_size_commit_log
    names = sorted(n for n in os.listdir(directory) if n.isdigit())
    end = store.max_phy_offset
    offset = store.min_phy_offset
    for name in names:
        start = int(name)
        if start + size <= offset:
            continue
        with open(os.path.join(directory, name), "rb") as fh:
            data = fh.read()
        assert len(data) == size
        pos = offset - start
        while start + pos < end:
            length, magic = read_record_header(data, pos)
            if magic == BLANK_MAGIC_CODE:
                assert length == size - pos
                break
            assert magic in (MAGIC_CODE_V1, MAGIC_CODE_V2), (start + pos, hex(magic))
            record, pos = decode_record(data, pos, check_crc=True)
            assert record.commit_log_offset == start + pos - record.store_size
            yield record
        offset = start + size
        if offset >= end:
            break
    # Nothing but zeros after the end.
    last = os.path.join(directory, names[-1]) if names else None
    if last is not None and int(names[-1]) <= end < int(names[-1]) + size:
        with open(last, "rb") as fh:
            fh.seek(end - int(names[-1]))
            assert fh.read().strip(b"\0") == b""
