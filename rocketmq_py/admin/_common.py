"""What the ``mqadmin`` sub-command modules share."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable

from rocketmq_py._async.admin import AsyncAdmin
from rocketmq_py.exceptions import RocketMQError

__all__ = ["Command", "UserError", "runtime_info"]

#: A sub-command: runs with a connected admin and the parsed arguments.
Command = Callable[[AsyncAdmin, argparse.Namespace], Awaitable[None]]


class UserError(Exception):
    """A mistake reported in one line (bad combination of options, nothing found ...)."""


async def runtime_info(admin: AsyncAdmin, addr: str) -> dict[str, str]:
    try:
        return await admin.broker_runtime_info(addr)
    except RocketMQError:
        return {}
