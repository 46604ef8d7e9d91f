"""``mqbroker``: start a broker, Apache style (``mqbroker -n host:port -c broker.conf [-p]``)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from broker._config import read_properties_file
from broker._logging import setup_logging
from broker._server import run, run_until_signalled
from broker.config import BROKER_SETTINGS, broker_settings
from broker.controller import BrokerController
from rocketmq_py.exceptions import ConfigError

__all__ = ["main"]

log = logging.getLogger("broker")


class _ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    keys = "\n".join(f"  {s.key:<34} {s.doc}" for s in BROKER_SETTINGS if s.used)
    parser = _ArgumentParser(
        prog="mqbroker",
        description="Start a RocketMQ broker (commitlog, consume queues, index, delay levels).",
        epilog=f"config file keys (Apache names; others are accepted and ignored):\n{keys}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-c", "--configFile", metavar="FILE", help="broker config properties file")
    parser.add_argument(
        "-n",
        "--namesrvAddr",
        metavar="ADDR",
        help="name server list 'host:port;host:port' (overrides the file)",
    )
    parser.add_argument(
        "-p", "--printConfigItem", action="store_true", help="print the effective config and exit"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``mqbroker``; returns the exit status."""
    args = _parser().parse_args(argv)
    settings = broker_settings()
    try:
        if args.configFile:
            settings.update(read_properties_file(args.configFile))
        if args.namesrvAddr is not None:
            settings.update({"namesrvAddr": args.namesrvAddr})
    except ConfigError as exc:
        print(f"mqbroker: error: {exc}", file=sys.stderr)
        return 2
    for key in settings.unknown:
        print(f"mqbroker: warning: unknown config key {key!r} ignored", file=sys.stderr)
    if args.printConfigItem:
        print(settings.dump())
        return 0
    log_path = setup_logging("broker")
    for key in settings.unknown:
        log.warning("unknown config key %r ignored", key)

    async def serve() -> None:
        async with BrokerController(settings) as broker:
            line = (
                f"The broker[{broker.broker_name}, {broker.broker_addr}] boot success. "
                f"serializeType=JSON and name server is {settings['namesrvAddr'] or 'not set'}"
            )
            log.info(line)
            print(f"{line} (log {log_path})", flush=True)
            signum = await run_until_signalled()
            log.info("received %s, shutting down", signum.name)

    try:
        run(serve)
    except OSError as exc:
        print(
            f"mqbroker: error: cannot start: {exc.strerror or exc} "
            f"(listenPort {settings['listenPort']} "
            f"and {int(settings['listenPort']) - 2} must be free)",
            file=sys.stderr,
        )
        return 1
    except RuntimeError as exc:
        print(f"mqbroker: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # pragma: no cover - SIGINT before the handler is installed
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
