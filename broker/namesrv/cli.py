"""``mqnamesrv``: start a name server, Apache style (``mqnamesrv [-c namesrv.conf] [-p]``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from broker._cli import OneLineErrorParser, run_server_cli
from broker.namesrv.config import NAMESRV_SETTINGS, namesrv_settings
from broker.namesrv.controller import NamesrvController

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    keys = "\n".join(f"  {s.key:<34} {s.doc}" for s in NAMESRV_SETTINGS if s.used)
    parser = OneLineErrorParser(
        prog="mqnamesrv",
        description="Start a RocketMQ name server (routing registry).",
        epilog=f"config file keys (Apache names; others are accepted and ignored):\n{keys}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-c", "--configFile", metavar="FILE", help="namesrv config properties file")
    parser.add_argument(
        "-p", "--printConfigItem", action="store_true", help="print the effective config and exit"
    )
    parser.add_argument(
        "-l",
        "--listenPort",
        type=int,
        metavar="PORT",
        help="override listenPort (0 = any free port)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``mqnamesrv``; returns the exit status."""
    args = _parser().parse_args(argv)
    settings = namesrv_settings()

    @asynccontextmanager
    async def server(log_path: str) -> AsyncIterator[str]:
        async with NamesrvController(settings) as controller:
            yield f"The Name Server boot success. serializeType=JSON (port {controller.port})"

    def bind_error(exc: OSError) -> str:
        return f"cannot listen on port {settings['listenPort']}: {exc.strerror or exc}"

    overrides = {} if args.listenPort is None else {"listenPort": str(args.listenPort)}
    return run_server_cli(
        "mqnamesrv",
        "namesrv",
        settings,
        config_file=args.configFile,
        overrides=overrides,
        print_config=args.printConfigItem,
        server=server,
        bind_error=bind_error,
    )


if __name__ == "__main__":
    sys.exit(main())
