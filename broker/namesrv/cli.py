"""``mqnamesrv``: start a name server, Apache style (``mqnamesrv [-c namesrv.conf] [-p]``)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from broker._config import read_properties_file
from broker._logging import setup_logging
from broker._server import run, run_until_signalled
from broker.namesrv.config import NAMESRV_SETTINGS, namesrv_settings
from broker.namesrv.controller import NamesrvController
from rocketmq_py.exceptions import ConfigError

__all__ = ["main"]

log = logging.getLogger("broker.namesrv")


def _parser() -> argparse.ArgumentParser:
    keys = "\n".join(f"  {s.key:<34} {s.doc}" for s in NAMESRV_SETTINGS if s.used)
    parser = argparse.ArgumentParser(
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
    parser = _parser()
    args = parser.parse_args(argv)
    settings = namesrv_settings()
    try:
        if args.configFile:
            settings.update(read_properties_file(args.configFile))
        if args.listenPort is not None:
            settings.update({"listenPort": str(args.listenPort)})
    except ConfigError as exc:
        print(f"mqnamesrv: error: {exc}", file=sys.stderr)
        return 2
    for key in settings.unknown:
        print(f"mqnamesrv: warning: unknown config key {key!r} ignored", file=sys.stderr)
    if args.printConfigItem:
        print(settings.dump())
        return 0
    log_path = setup_logging("namesrv")
    for key in settings.unknown:
        log.warning("unknown config key %r ignored", key)

    async def serve() -> None:
        async with NamesrvController(settings) as controller:
            log.info("The Name Server boot success. serializeType=JSON, port %d", controller.port)
            print(
                f"The Name Server boot success. serializeType=JSON (port {controller.port}, "
                f"log {log_path})",
                flush=True,
            )
            signum = await run_until_signalled()
            log.info("received %s, shutting down", signum.name)

    try:
        run(serve)
    except OSError as exc:
        print(
            f"mqnamesrv: error: cannot listen on port {settings['listenPort']}: {exc.strerror}",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:  # pragma: no cover - SIGINT before the handler is installed
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
