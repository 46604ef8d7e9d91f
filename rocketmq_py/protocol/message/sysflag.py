"""Bit flags carried by messages, pulls, topics and permissions.

* :class:`MessageSysFlag`: the ``sysFlag`` of a send header and of a commitlog record
  (``protocol.md`` 4.2).
* :class:`PullSysFlag`: the ``sysFlag`` of a pull request (8.6).
* :class:`TopicSysFlag`: ``topicSysFlag`` of a topic config (4.2).
* :class:`PermName`: topic and broker permissions (10).

Java names are kept for the constants; helpers are static methods in snake_case.
"""

from __future__ import annotations

import enum
from typing import Final

__all__ = [
    "CompressionType",
    "MessageSysFlag",
    "PermName",
    "PullSysFlag",
    "TopicSysFlag",
]


class CompressionType(enum.IntEnum):
    """The compression type stored in bits 8-10 of a message sysFlag (Java 5.x)."""

    LZ4 = 1
    ZSTD = 2
    ZLIB = 3


class MessageSysFlag:
    """``MessageSysFlag.java``: the sysFlag of a message."""

    COMPRESSED_FLAG: Final = 0x1
    MULTI_TAGS_FLAG: Final = 0x2
    TRANSACTION_NOT_TYPE: Final = 0x0
    TRANSACTION_PREPARED_TYPE: Final = 0x4
    TRANSACTION_COMMIT_TYPE: Final = 0x8
    TRANSACTION_ROLLBACK_TYPE: Final = 0xC
    TRANSACTION_TYPE_MASK: Final = 0xC
    BORNHOST_V6_FLAG: Final = 0x10
    STOREHOSTADDRESS_V6_FLAG: Final = 0x20
    NEED_UNWRAP_FLAG: Final = 0x40
    INNER_BATCH_FLAG: Final = 0x80
    COMPRESSION_LZ4_TYPE: Final = CompressionType.LZ4 << 8
    COMPRESSION_ZSTD_TYPE: Final = CompressionType.ZSTD << 8
    COMPRESSION_ZLIB_TYPE: Final = CompressionType.ZLIB << 8
    COMPRESSION_TYPE_COMPARATOR: Final = 0x7 << 8

    @staticmethod
    def get_transaction_value(flag: int) -> int:
        """The transaction type bits (``TRANSACTION_*_TYPE``) of ``flag``."""
        return flag & MessageSysFlag.TRANSACTION_TYPE_MASK

    @staticmethod
    def reset_transaction_value(flag: int, transaction_type: int) -> int:
        """``flag`` with its transaction type replaced by ``transaction_type``."""
        mask = MessageSysFlag.TRANSACTION_TYPE_MASK
        return (flag & ~mask) | (transaction_type & mask)

    @staticmethod
    def is_compressed(flag: int) -> bool:
        """Whether the body is compressed."""
        return bool(flag & MessageSysFlag.COMPRESSED_FLAG)

    @staticmethod
    def clear_compressed_flag(flag: int) -> int:
        """``flag`` without ``COMPRESSED_FLAG`` (the type bits are kept, as Java does)."""
        return flag & ~MessageSysFlag.COMPRESSED_FLAG

    @staticmethod
    def get_compression_type(flag: int) -> int:
        """The raw value of bits 8-10 (0 from clients before 5.x means zlib)."""
        return (flag & MessageSysFlag.COMPRESSION_TYPE_COMPARATOR) >> 8

    @staticmethod
    def set_compression_type(flag: int, compression_type: CompressionType) -> int:
        """``flag`` with bits 8-10 set to ``compression_type``."""
        return (flag & ~MessageSysFlag.COMPRESSION_TYPE_COMPARATOR) | (int(compression_type) << 8)

    @staticmethod
    def with_hosts(flag: int, *, born_v6: bool, store_v6: bool) -> int:
        """``flag`` with the born/store host IPv6 bits set to match the addresses."""
        flag &= ~(MessageSysFlag.BORNHOST_V6_FLAG | MessageSysFlag.STOREHOSTADDRESS_V6_FLAG)
        if born_v6:
            flag |= MessageSysFlag.BORNHOST_V6_FLAG
        if store_v6:
            flag |= MessageSysFlag.STOREHOSTADDRESS_V6_FLAG
        return flag


class PullSysFlag:
    """``PullSysFlag.java``: the sysFlag of a pull request."""

    FLAG_COMMIT_OFFSET: Final = 0x1
    FLAG_SUSPEND: Final = 0x2
    FLAG_SUBSCRIPTION: Final = 0x4
    FLAG_CLASS_FILTER: Final = 0x8
    FLAG_LITE_PULL_MESSAGE: Final = 0x10

    @staticmethod
    def build_sys_flag(
        commit_offset: bool,
        suspend: bool,
        subscription: bool,
        class_filter: bool = False,
        lite_pull: bool = False,
    ) -> int:
        """Combine the pull options into a sysFlag."""
        flag = 0
        if commit_offset:
            flag |= PullSysFlag.FLAG_COMMIT_OFFSET
        if suspend:
            flag |= PullSysFlag.FLAG_SUSPEND
        if subscription:
            flag |= PullSysFlag.FLAG_SUBSCRIPTION
        if class_filter:
            flag |= PullSysFlag.FLAG_CLASS_FILTER
        if lite_pull:
            flag |= PullSysFlag.FLAG_LITE_PULL_MESSAGE
        return flag

    @staticmethod
    def clear_commit_offset_flag(flag: int) -> int:
        """``flag`` without ``FLAG_COMMIT_OFFSET``."""
        return flag & ~PullSysFlag.FLAG_COMMIT_OFFSET

    @staticmethod
    def has_commit_offset_flag(flag: int) -> bool:
        """The request piggy-backs a consumer offset commit."""
        return bool(flag & PullSysFlag.FLAG_COMMIT_OFFSET)

    @staticmethod
    def has_suspend_flag(flag: int) -> bool:
        """The broker may hold the request (long polling)."""
        return bool(flag & PullSysFlag.FLAG_SUSPEND)

    @staticmethod
    def has_subscription_flag(flag: int) -> bool:
        """The request carries ``subscription`` and ``expressionType``."""
        return bool(flag & PullSysFlag.FLAG_SUBSCRIPTION)

    @staticmethod
    def has_class_filter_flag(flag: int) -> bool:
        """Obsolete filter-server mode."""
        return bool(flag & PullSysFlag.FLAG_CLASS_FILTER)

    @staticmethod
    def has_lite_pull_flag(flag: int) -> bool:
        """The request comes from a lite pull consumer."""
        return bool(flag & PullSysFlag.FLAG_LITE_PULL_MESSAGE)


class TopicSysFlag:
    """``TopicSysFlag.java``: unit-mode bits of a topic config."""

    FLAG_UNIT: Final = 0x1
    FLAG_UNIT_SUB: Final = 0x2

    @staticmethod
    def build_sys_flag(unit: bool, has_unit_sub: bool) -> int:
        """Combine the unit options into a topicSysFlag."""
        flag = 0
        if unit:
            flag |= TopicSysFlag.FLAG_UNIT
        if has_unit_sub:
            flag |= TopicSysFlag.FLAG_UNIT_SUB
        return flag

    @staticmethod
    def set_unit_flag(flag: int) -> int:
        """``flag`` with ``FLAG_UNIT``."""
        return flag | TopicSysFlag.FLAG_UNIT

    @staticmethod
    def clear_unit_flag(flag: int) -> int:
        """``flag`` without ``FLAG_UNIT``."""
        return flag & ~TopicSysFlag.FLAG_UNIT

    @staticmethod
    def has_unit_flag(flag: int) -> bool:
        """Whether ``FLAG_UNIT`` is set."""
        return bool(flag & TopicSysFlag.FLAG_UNIT)

    @staticmethod
    def set_unit_sub_flag(flag: int) -> int:
        """``flag`` with ``FLAG_UNIT_SUB``."""
        return flag | TopicSysFlag.FLAG_UNIT_SUB

    @staticmethod
    def clear_unit_sub_flag(flag: int) -> int:
        """``flag`` without ``FLAG_UNIT_SUB``."""
        return flag & ~TopicSysFlag.FLAG_UNIT_SUB

    @staticmethod
    def has_unit_sub_flag(flag: int) -> bool:
        """Whether ``FLAG_UNIT_SUB`` is set."""
        return bool(flag & TopicSysFlag.FLAG_UNIT_SUB)


class PermName:
    """``PermName.java``: permission bits of topics and brokers."""

    PERM_PRIORITY: Final = 0x8
    PERM_READ: Final = 0x4
    PERM_WRITE: Final = 0x2
    PERM_INHERIT: Final = 0x1

    @staticmethod
    def perm_to_string(perm: int) -> str:
        """Java's ``perm2String``: ``R``, ``W``, ``X`` (inherit) or ``-`` each, e.g. ``"RW-"``."""
        return (
            ("R" if perm & PermName.PERM_READ else "-")
            + ("W" if perm & PermName.PERM_WRITE else "-")
            + ("X" if perm & PermName.PERM_INHERIT else "-")
        )

    @staticmethod
    def is_readable(perm: int) -> bool:
        """Whether ``PERM_READ`` is set."""
        return bool(perm & PermName.PERM_READ)

    @staticmethod
    def is_writeable(perm: int) -> bool:
        """Whether ``PERM_WRITE`` is set."""
        return bool(perm & PermName.PERM_WRITE)

    @staticmethod
    def is_inherited(perm: int) -> bool:
        """Whether ``PERM_INHERIT`` is set."""
        return bool(perm & PermName.PERM_INHERIT)

    @staticmethod
    def is_priority(perm: int) -> bool:
        """Whether ``PERM_PRIORITY`` is set."""
        return bool(perm & PermName.PERM_PRIORITY)
