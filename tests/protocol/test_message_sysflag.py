"""Message, pull and topic sysFlags and permission bits."""

from __future__ import annotations

import pytest

from rocketmq_py.protocol.message import (
    CompressionType,
    MessageSysFlag,
    PermName,
    PullSysFlag,
    TopicSysFlag,
)


def test_message_flag_values():
    assert MessageSysFlag.COMPRESSED_FLAG == 0x1
    assert MessageSysFlag.MULTI_TAGS_FLAG == 0x2
    assert MessageSysFlag.TRANSACTION_PREPARED_TYPE == 0x4
    assert MessageSysFlag.TRANSACTION_COMMIT_TYPE == 0x8
    assert MessageSysFlag.TRANSACTION_ROLLBACK_TYPE == 0xC
    assert MessageSysFlag.BORNHOST_V6_FLAG == 0x10
    assert MessageSysFlag.STOREHOSTADDRESS_V6_FLAG == 0x20
    assert MessageSysFlag.NEED_UNWRAP_FLAG == 0x40
    assert MessageSysFlag.INNER_BATCH_FLAG == 0x80
    assert MessageSysFlag.COMPRESSION_LZ4_TYPE == 0x100
    assert MessageSysFlag.COMPRESSION_ZSTD_TYPE == 0x200
    assert MessageSysFlag.COMPRESSION_ZLIB_TYPE == 0x300


@pytest.mark.parametrize("tx", [0x0, 0x4, 0x8, 0xC])
def test_transaction_type_get_and_reset(tx):
    flag = 0x31 | 0xC  # compressed, both v6 bits, rollback
    reset = MessageSysFlag.reset_transaction_value(flag, tx)
    assert MessageSysFlag.get_transaction_value(reset) == tx
    assert reset & ~0xC == flag & ~0xC


def test_compression_bits():
    flag = MessageSysFlag.set_compression_type(0x1, CompressionType.ZLIB)
    assert flag == 0x301
    assert MessageSysFlag.is_compressed(flag)
    assert MessageSysFlag.get_compression_type(flag) == CompressionType.ZLIB
    assert MessageSysFlag.get_compression_type(0x1) == 0
    assert MessageSysFlag.set_compression_type(flag, CompressionType.LZ4) == 0x101
    assert MessageSysFlag.clear_compressed_flag(flag) == 0x300


def test_with_hosts():
    assert MessageSysFlag.with_hosts(0x30 | 0x8, born_v6=False, store_v6=False) == 0x8
    assert MessageSysFlag.with_hosts(0, born_v6=True, store_v6=False) == 0x10
    assert MessageSysFlag.with_hosts(0, born_v6=False, store_v6=True) == 0x20


def test_pull_sys_flag():
    assert PullSysFlag.build_sys_flag(True, True, False) == 3  # Java push with an offset
    assert PullSysFlag.build_sys_flag(False, True, True) == 6  # ali-ons
    assert PullSysFlag.build_sys_flag(True, True, True, True, True) == 0x1F
    assert PullSysFlag.clear_commit_offset_flag(7) == 6
    assert PullSysFlag.has_commit_offset_flag(1)
    assert PullSysFlag.has_suspend_flag(2)
    assert PullSysFlag.has_subscription_flag(4)
    assert PullSysFlag.has_class_filter_flag(8)
    assert PullSysFlag.has_lite_pull_flag(16)
    assert not PullSysFlag.has_suspend_flag(5)


def test_topic_sys_flag():
    assert TopicSysFlag.build_sys_flag(True, True) == 3
    assert TopicSysFlag.build_sys_flag(False, False) == 0
    assert TopicSysFlag.set_unit_flag(0) == 1
    assert TopicSysFlag.clear_unit_flag(3) == 2
    assert TopicSysFlag.set_unit_sub_flag(0) == 2
    assert TopicSysFlag.clear_unit_sub_flag(3) == 1
    assert TopicSysFlag.has_unit_flag(1)
    assert TopicSysFlag.has_unit_sub_flag(2)
    assert not TopicSysFlag.has_unit_sub_flag(1)


@pytest.mark.parametrize(
    ("perm", "text"),
    [(0, "---"), (1, "--X"), (2, "-W-"), (4, "R--"), (6, "RW-"), (7, "RWX"), (8, "---")],
)
def test_perm_to_string(perm, text):
    assert PermName.perm_to_string(perm) == text


def test_perm_predicates():
    assert PermName.is_readable(6)
    assert PermName.is_writeable(6)
    assert not PermName.is_inherited(6)
    assert PermName.is_inherited(7)
    assert PermName.is_priority(8)
    assert not PermName.is_readable(2)
