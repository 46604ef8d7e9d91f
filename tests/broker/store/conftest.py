"""Fixtures for the message store tests: a started store on tiny files in tmp_path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from broker.store import MessageStore, StoreConfig
from tests.broker.store.helpers import TINY, Clock, make_config, open_store


@pytest.fixture
def store_clock() -> Clock:
    return Clock()


@pytest.fixture
def tiny_config(tmp_path: Path) -> StoreConfig:
    return make_config(tmp_path / "store", **TINY)


@pytest.fixture
def store(tiny_config: StoreConfig, store_clock: Clock) -> Iterator[MessageStore]:
    s = open_store(tiny_config, store_clock)
    try:
        yield s
    finally:
        s.shutdown()
