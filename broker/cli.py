"""``mqbroker``: start a broker, Apache style (``mqbroker -n host:port -c broker.conf [-p]``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from broker._cli import OneLineErrorParser, run_server_cli
from broker.config import BROKER_SETTINGS, broker_settings
from broker.controller import BrokerController

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    keys = "\n".join(f"  {s.key:<34} {s.doc}" for s in BROKER_SETTINGS if s.used)
    parser = OneLineErrorParser(
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

    @asynccontextmanager
    async def server(log_path: str) -> AsyncIterator[str]:
        async with BrokerController(settings) as broker:
            yield (
                f"The broker[{broker.broker_name}, {broker.broker_addr}] boot success. "
                f"serializeType=JSON and name server is {settings['namesrvAddr'] or 'not set'}"
            )

    def bind_error(exc: OSError) -> str:
        port = int(settings["listenPort"])
        return (
            f"cannot start: {exc.strerror or exc} (listenPort {port} and {port - 2} must be free)"
        )

    overrides = {} if args.namesrvAddr is None else {"namesrvAddr": args.namesrvAddr}
    return run_server_cli(
        "mqbroker",
        "broker",
        settings,
        config_file=args.configFile,
        overrides=overrides,
        print_config=args.printConfigItem,
        server=server,
        bind_error=bind_error,
    )


if __name__ == "__main__":
    sys.exit(main())
