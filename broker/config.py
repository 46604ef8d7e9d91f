"""Broker settings with Apache's ``broker.conf`` keys (BrokerConfig + MessageStoreConfig)."""

from __future__ import annotations

import re
import socket
from typing import Any

from broker._config import Setting, Settings, port_number, positive

__all__ = [
    "BROKER_SETTINGS",
    "DEFAULT_DELAY_LEVELS",
    "broker_settings",
    "local_ip",
    "parse_delay_levels",
]

DEFAULT_DELAY_LEVELS = "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h"
_UNITS_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_LEVEL = re.compile(r"^(\d+)([smhd])$")


def parse_delay_levels(text: str) -> dict[int, int]:
    """``"1s 5s ... 2h"`` -> {level: delay ms}, levels numbered from 1."""
    levels: dict[int, int] = {}
    for i, token in enumerate(text.split(), start=1):
        match = _LEVEL.match(token)
        if match is None:
            raise ValueError(f"bad delay level {token!r} (expected e.g. 10s, 5m, 2h, 1d)")
        levels[i] = int(match.group(1)) * _UNITS_MS[match.group(2)]
    if not levels:
        raise ValueError("no delay levels")
    return levels


def _check_delay_levels(text: str) -> str | None:
    try:
        parse_delay_levels(text)
    except ValueError as exc:
        return str(exc)
    return None


def _check_timer_precision(value: int) -> str | None:
    return None if 1 <= value <= 60_000 else "must be 1..60000 ms"


def _check_flush_type(value: str) -> str | None:
    return None if value in ("ASYNC_FLUSH", "SYNC_FLUSH") else "must be ASYNC_FLUSH or SYNC_FLUSH"


def _check_role(value: str) -> str | None:
    if value in ("ASYNC_MASTER", "SYNC_MASTER", "SLAVE"):
        return None
    return "must be ASYNC_MASTER, SYNC_MASTER or SLAVE"


def _check_ratio(value: int) -> str | None:
    return None if 10 <= value <= 95 or value in (0, 1, 100) else "must be a percentage 10..95"


def _check_delete_when(value: str) -> str | None:
    for part in value.split(";"):
        if not part.strip().isdigit() or not 0 <= int(part) <= 23:
            return "must be hours 00..23 separated by ';'"
    return None


def _check_name(value: str) -> str | None:
    return (
        None
        if re.fullmatch(r"[%|a-zA-Z0-9_-]{1,127}", value)
        else "allowed: [%|a-zA-Z0-9_-]{1,127}"
    )


BROKER_SETTINGS: tuple[Setting[Any], ...] = (
    Setting(
        "brokerClusterName", str, "DefaultCluster", "cluster this broker belongs to", _check_name
    ),
    Setting("brokerName", str, "broker-a", "broker name (master and slaves share it)", _check_name),
    Setting("brokerId", int, 0, "0 = master, >= 1 = slave"),
    Setting("brokerRole", str, "ASYNC_MASTER", "ASYNC_MASTER, SYNC_MASTER or SLAVE", _check_role),
    Setting(
        "listenPort", int, 10911, "client port; listenPort-2 is the fast (VIP) port", port_number
    ),
    Setting("namesrvAddr", str, "", "name servers, ';'-separated (-n overrides)"),
    Setting("brokerIP1", str, "", "address advertised to clients (default: this host's IP)"),
    Setting("brokerIP2", str, "", "HA address (default brokerIP1)"),
    Setting("storePathRootDir", str, "${user.home}/store", "store root directory"),
    Setting("storePathCommitLog", str, "", "commitlog directory (default <root>/commitlog)"),
    Setting("mappedFileSizeCommitLog", int, 1073741824, "bytes per commitlog segment", positive),
    Setting("mappedFileSizeConsumeQueue", int, 6000000, "bytes per consume queue file", positive),
    Setting("flushDiskType", str, "ASYNC_FLUSH", "ASYNC_FLUSH or SYNC_FLUSH", _check_flush_type),
    Setting("flushIntervalCommitLog", int, 500, "ms between async commitlog flushes", positive),
    Setting("flushCommitLogLeastPages", int, 4, "dirty pages before an async flush"),
    Setting(
        "flushCommitLogThoroughInterval", int, 10000, "ms between forced async flushes", positive
    ),
    Setting("syncFlushTimeout", int, 5000, "ms a SYNC_FLUSH send waits for fsync", positive),
    Setting("flushIntervalConsumeQueue", int, 1000, "ms between consume queue flushes", positive),
    Setting(
        "flushConsumeQueueThoroughInterval",
        int,
        1000,
        "ms between checkpoints (consume queues and index fully synced), which bounds the "
        "replay after a crash; Apache uses 60000, 1 s keeps a restart after kill -9 near 1 s",
        positive,
    ),
    Setting(
        "deleteWhen",
        str,
        "04",
        "hours (00-23, ';'-separated) when expired files are deleted",
        _check_delete_when,
    ),
    Setting("fileReservedTime", int, 72, "hours commitlog files are kept", positive),
    Setting(
        "diskMaxUsedSpaceRatio", int, 75, "refuse writes above this disk usage %", _check_ratio
    ),
    Setting("autoCreateTopicEnable", bool, True, "create unknown topics on send from TBW102"),
    Setting("autoCreateSubscriptionGroup", bool, True, "create unknown consumer groups"),
    Setting(
        "defaultTopicQueueNums",
        int,
        8,
        "queues of TBW102 and so the cap for auto-created topics",
        positive,
    ),
    Setting("maxMessageSize", int, 4194304, "largest stored record in bytes", positive),
    Setting(
        "messageDelayLevel",
        str,
        DEFAULT_DELAY_LEVELS,
        "delay levels (s/m/h/d)",
        _check_delay_levels,
    ),
    Setting("timerWheelEnable", bool, True, "accept 5.x timer messages (TIMER_* properties)"),
    Setting(
        "timerPrecisionMs",
        int,
        1000,
        "timer slot length in ms: a timer message arrives at most this much after its time",
        _check_timer_precision,
    ),
    Setting("timerMaxDelaySec", int, 259200, "longest timer delay in seconds (3 days)", positive),
    Setting(
        "timerFlushIntervalMs",
        int,
        1000,
        "ms between timer checkpoints (the replay window after kill -9)",
        positive,
    ),
    Setting(
        "timerProgressLogIntervalMs", int, 10000, "ms between timer progress log lines", positive
    ),
    Setting("messageIndexEnable", bool, True, "index KEYS and UNIQ_KEY"),
    Setting("maxHashSlotNum", int, 5000000, "index hash slots per file", positive),
    Setting("maxIndexNum", int, 20000000, "index entries per file", positive),
    Setting("checkCRCOnRecover", bool, True, "verify body CRCs during recovery"),
    Setting("longPollingEnable", bool, True, "hold pulls until messages arrive"),
    Setting("shortPollingTimeMills", int, 1000, "hold time when long polling is off", positive),
    Setting(
        "registerNameServerPeriod",
        int,
        30000,
        "ms between registrations with name servers",
        positive,
    ),
    Setting(
        "channelExpiredTimeout",
        int,
        120000,
        "ms without heartbeat before a client is dropped",
        positive,
    ),
    Setting("maxReconsumeTimes", int, 16, "default retries before a message is dead-lettered"),
    Setting("regionId", str, "DefaultRegion", "MSG_REGION added to sent messages"),
    Setting("traceOn", bool, True, "TRACE_ON added to sent messages"),
    Setting("brokerPermission", int, 6, "broker-wide permission (RW = 6)"),
    Setting("rejectTransactionMessage", bool, False, "refuse transactional (half) messages"),
    Setting(
        "transactionCheckInterval",
        int,
        30000,
        "ms between transaction check-back passes over the half messages",
        positive,
    ),
    Setting(
        "transactionTimeOut",
        int,
        6000,
        "ms after its birth before an unresolved half message is checked back",
        positive,
    ),
    Setting(
        "transactionCheckMax",
        int,
        15,
        "check-backs before a half message goes to TRANS_CHECK_MAX_TIME_TOPIC",
        positive,
    ),
    Setting("fetchNamesrvAddrByAddressServer", bool, False, "unused", used=False),
    Setting("rocketmqHome", str, "", "unused: rocketmq-py needs no ROCKETMQ_HOME", used=False),
    Setting("serverWorkerThreads", int, 8, "unused: one event loop", used=False),
    Setting("sendMessageThreadPoolNums", int, 1, "unused: one event loop", used=False),
    Setting("pullMessageThreadPoolNums", int, 16, "unused: one event loop", used=False),
    Setting("useReentrantLockWhenPutMessage", bool, False, "unused", used=False),
    Setting("waitTimeMillsInSendQueue", int, 200, "unused", used=False),
    Setting(
        "transientStorePoolEnable", bool, False, "unused: writes go through os.write", used=False
    ),
    Setting("haListenPort", int, 10912, "unused until replication lands", used=False),
)


def broker_settings() -> Settings:
    """Fresh settings holding the defaults."""
    return Settings(BROKER_SETTINGS)


def local_ip() -> str:
    """This host's outward-facing IPv4 address (Java picks a non-loopback one), else loopback."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # no packet is sent: this only selects a route
            ip = str(s.getsockname()[0])
            if not ip.startswith("0."):
                return ip
    except OSError:
        pass
    return "127.0.0.1"
