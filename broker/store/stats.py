"""Store counters for ``GET_BROKER_RUNTIME_INFO`` (Java ``StoreStatsService``).

:class:`StoreStats` is live: the put and read paths bump its counters, a once-a-second
sample feeds the ``putTps``-style windows (10 s, 60 s, 600 s), and it reads as a mapping of
the plain counters (``stats["putMessageTimesTotal"]``). :meth:`StoreStats.runtime_info`
renders Java's string table.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Final

__all__ = ["StoreStats", "java_double"]

_WINDOWS: Final = (10, 60, 600)
_MAX_SAMPLES: Final = 600 + 2
# Upper bounds (ms, inclusive) of Java's put-latency buckets and their names.
_BOUNDS: Final = (0, 10, 50, 100, 200, 500, 1000, 2000, 3000, 4000, 5000, 10000)
_BUCKET_NAMES: Final = (
    "[<=0ms]",
    "[0~10ms]",
    "[10~50ms]",
    "[50~100ms]",
    "[100~200ms]",
    "[200~500ms]",
    "[500ms~1s]",
    "[1~2s]",
    "[2~3s]",
    "[3~4s]",
    "[4~5s]",
    "[5~10s]",
    "[10s~]",
)


def java_double(value: float) -> str:
    """``Double.toString``: ``1.0``, ``0.5``, ``1.2345678E7`` (shortest round-trip digits)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0 or 1e-3 <= abs(value) < 1e7:
        return repr(float(value))
    mantissa, exponent = f"{Decimal(repr(float(value))):E}".split("E")
    if "." not in mantissa:
        mantissa += ".0"
    return f"{mantissa}E{int(exponent)}"


class StoreStats(Mapping[str, int]):
    """Live counters of one store.

    Attributes:
        boot_timestamp: when the store was created, epoch ms.
        put_message_times_total: messages stored.
        put_message_size_total: bytes stored.
        put_message_failed_times: puts refused.
        put_message_entire_time_max: slowest put, ms.
        get_message_times_total_found: gets that found messages.
        get_message_times_total_miss: gets that found none.
        get_message_transferred_msg_count: messages returned by gets.
        get_message_entire_time_max: slowest get, ms.
    """

    def __init__(self, boot_timestamp: int) -> None:
        self.boot_timestamp = boot_timestamp
        self.put_message_times_total = 0
        self.put_message_size_total = 0
        self.put_message_failed_times = 0
        self.put_message_entire_time_max = 0
        self.get_message_times_total_found = 0
        self.get_message_times_total_miss = 0
        self.get_message_transferred_msg_count = 0
        self.get_message_entire_time_max = 0
        self.put_latency_buckets = [0] * len(_BUCKET_NAMES)
        self._samples: deque[tuple[int, int, int, int, int]] = deque(maxlen=_MAX_SAMPLES)

    # -- recording ------------------------------------------------------------------------------

    def record_put(self, messages: int, size: int, elapsed_ms: float) -> None:
        """Count a stored put and its latency."""
        self.put_message_times_total += messages
        self.put_message_size_total += size
        if elapsed_ms <= 0.5:  # the common case: skip the search
            self.put_latency_buckets[0 if elapsed_ms <= 0 else 1] += 1
            return
        ms = int(elapsed_ms)
        self.put_message_entire_time_max = max(self.put_message_entire_time_max, ms)
        self.put_latency_buckets[bisect.bisect_left(_BOUNDS, elapsed_ms)] += 1

    def sample(self, now_ms: int) -> None:
        """Record the counters now (Java samples once a second)."""
        self._samples.append(
            (
                now_ms,
                self.put_message_times_total,
                self.get_message_times_total_found,
                self.get_message_times_total_miss,
                self.get_message_transferred_msg_count,
            )
        )

    # -- mapping view ---------------------------------------------------------------------------

    def _counters(self) -> dict[str, int]:
        return {
            "putMessageTimesTotal": self.put_message_times_total,
            "putMessageSizeTotal": self.put_message_size_total,
            "putMessageFailedTimes": self.put_message_failed_times,
            "putMessageEntireTimeMax": self.put_message_entire_time_max,
            "getMessageTimesTotalFound": self.get_message_times_total_found,
            "getMessageTimesTotalMiss": self.get_message_times_total_miss,
            "getMessageTransferedMsgCount": self.get_message_transferred_msg_count,
            "getMessageEntireTimeMax": self.get_message_entire_time_max,
            "bootTimestamp": self.boot_timestamp,
        }

    def __getitem__(self, key: str) -> int:
        return self._counters()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._counters())

    def __len__(self) -> int:
        return len(self._counters())

    # -- Java's table ---------------------------------------------------------------------------

    def _tps(self, field: int, window: int) -> float | None:
        samples = self._samples
        if len(samples) <= window:
            return None
        begin, end = samples[-(window + 1)], samples[-1]
        if end[0] == begin[0]:
            return 0.0
        return (end[field] - begin[field]) / (end[0] - begin[0]) * 1000

    def _tps_text(self, field: int) -> str:
        parts = []
        for window in _WINDOWS:
            tps = self._tps(field, window)
            parts.append("" if tps is None else java_double(tps))
        return " ".join(parts)

    def _get_total_tps_text(self) -> str:
        parts = []
        for window in _WINDOWS:
            found = self._tps(2, window) or 0.0
            miss = self._tps(3, window) or 0.0
            parts.append(java_double(found + miss))
        return " ".join(parts)

    def _percentile(self, fraction: float) -> float:
        total = sum(self.put_latency_buckets)
        if not total:
            return 0.0
        target = total * fraction
        running = 0
        for i, count in enumerate(self.put_latency_buckets):
            running += count
            if running >= target:
                return float(_BOUNDS[i]) if i < len(_BOUNDS) else float(_BOUNDS[-1])
        return float(_BOUNDS[-1])

    def runtime_info(self, now_ms: int) -> dict[str, str]:
        """Java ``StoreStatsService.getRuntimeInfo``: every value a string, Java-formatted."""
        if not self._samples or self._samples[-1][0] < now_ms:
            self.sample(now_ms)
        total = self.put_message_times_total or 1
        uptime = max(now_ms - self.boot_timestamp, 0)
        days, rest = divmod(uptime, 86_400_000)
        hours, rest = divmod(rest, 3_600_000)
        minutes, rest = divmod(rest, 60_000)
        distribution = "".join(
            f"{name}:{count} "
            for name, count in zip(_BUCKET_NAMES, self.put_latency_buckets, strict=True)
        )
        return {
            "bootTimestamp": str(self.boot_timestamp),
            "runtime": f"[ {days} days, {hours} hours, {minutes} minutes, {rest // 1000} seconds ]",
            "putMessageEntireTimeMax": str(self.put_message_entire_time_max),
            "putMessageTimesTotal": str(total),
            "putMessageFailedTimes": str(self.put_message_failed_times),
            "putMessageSizeTotal": str(self.put_message_size_total),
            "putMessageDistributeTime": distribution,
            "putMessageAverageSize": java_double(self.put_message_size_total / total),
            "dispatchMaxBuffer": "0",
            "getMessageEntireTimeMax": str(self.get_message_entire_time_max),
            "putTps": self._tps_text(1),
            "getFoundTps": self._tps_text(2),
            "getMissTps": self._tps_text(3),
            "getTotalTps": self._get_total_tps_text(),
            "getTransferedTps": self._tps_text(4),
            "putLatency99": f"{self._percentile(0.99):.2f}",
            "putLatency999": f"{self._percentile(0.999):.2f}",
        }
