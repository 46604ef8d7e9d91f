"""Polling a condition with a deadline: what tests wait on instead of a fixed sleep."""

from __future__ import annotations

from collections.abc import Callable

import anyio
import pytest

__all__ = ["wait_for"]


async def wait_for(condition: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
    """Poll ``condition`` until true; fail the test after ``timeout`` seconds."""
    with anyio.move_on_after(timeout):
        while not condition():
            await anyio.sleep(0.02)
        return
    pytest.fail(f"timed out after {timeout}s waiting for {what or condition}")
