"""Latency-based fault avoidance in queue selection."""

from __future__ import annotations

from rocketmq_py._async.fault import FaultTracker
from rocketmq_py.message import MessageQueueRef

QUEUES = [MessageQueueRef("T", b, i) for b in ("broker-a", "broker-b") for i in range(2)]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_slow_or_failing_brokers_are_avoided_for_javas_durations() -> None:
    clock = Clock()
    tracker = FaultTracker(clock)
    tracker.record("broker-a", 20)
    assert tracker.is_available("broker-a")
    tracker.record("broker-a", 600)  # >= 550 ms: avoided 30 s
    assert not tracker.is_available("broker-a")
    assert tracker.choose(QUEUES, 0).broker_name == "broker-b"
    clock.now = 30_000
    assert tracker.is_available("broker-a")
    tracker.record("broker-b", 0, failed=True)  # a failure counts as 30 s latency: 10 minutes
    clock.now = 30_000 + 599_999
    assert not tracker.is_available("broker-b")
    clock.now = 30_000 + 600_000
    assert tracker.is_available("broker-b")


def test_choose_round_robins_skips_the_last_failed_broker_and_falls_back() -> None:
    clock = Clock()
    tracker = FaultTracker(clock)
    assert [tracker.choose(QUEUES, i) for i in range(4)] == QUEUES
    assert tracker.choose(QUEUES, 0, avoid_broker="broker-a").broker_name == "broker-b"
    tracker.record("broker-a", 2000)  # 120 s
    tracker.record("broker-b", 1000)  # 60 s
    # Nothing available: the broker that recovers soonest.
    assert tracker.choose(QUEUES, 0).broker_name == "broker-b"
    tracker.record("broker-b", 10)  # recovered
    assert tracker.choose(QUEUES, 0).broker_name == "broker-b"
