"""What ``mqnamesrv`` and ``mqbroker`` share: config loading, logging, boot and shutdown."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager

from broker._config import Settings, read_properties_file
from broker._logging import setup_logging
from broker._server.runner import run, termination_signals
from rocketmq_py.exceptions import ConfigError

__all__ = ["OneLineErrorParser", "run_server_cli"]

log = logging.getLogger("broker")

#: Given the log file path, an async context manager that serves and yields its boot line.
Server = Callable[[str], AbstractAsyncContextManager[str]]


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse that reports a bad argument in one line (no usage dump)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def run_server_cli(
    prog: str,
    log_name: str,
    settings: Settings,
    *,
    config_file: str | None,
    overrides: Mapping[str, str],
    print_config: bool,
    server: Server,
    bind_error: Callable[[OSError], str],
) -> int:
    """Load the config, then serve until SIGTERM/SIGINT; returns the exit status.

    User mistakes (bad values, missing files, a taken port) end with one line on stderr.
    """
    try:
        if config_file:
            settings.update(read_properties_file(config_file))
        settings.update(overrides)
    except ConfigError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    for key in settings.unknown:
        print(f"{prog}: warning: unknown config key {key!r} ignored", file=sys.stderr)
    if print_config:
        print(settings.dump())
        return 0
    log_path = setup_logging(log_name)
    for key in settings.unknown:
        log.warning("unknown config key %r ignored", key)

    async def serve() -> None:
        with termination_signals() as next_signal:
            async with server(str(log_path)) as boot_line:
                log.info(boot_line)
                print(f"{boot_line} (log {log_path})", flush=True)
                signum = await next_signal()
                log.info("received %s, shutting down", signum.name)

    try:
        run(serve)
    except OSError as exc:
        print(f"{prog}: error: {bind_error(exc)}", file=sys.stderr)
        return 1
    except RuntimeError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # pragma: no cover - SIGINT before the handler is installed
        return 130
    return 0
