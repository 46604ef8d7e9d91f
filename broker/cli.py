"""``mqbroker``: the broker process (commitlog store, consume queues, ...)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``mqbroker``; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="mqbroker",
        description="Start a RocketMQ broker: mqbroker -n host:port -c broker.conf [-p]",
    )
    parser.add_argument("-n", "--namesrvAddr", metavar="ADDR", help="name server address list")
    parser.add_argument("-c", "--configFile", metavar="FILE", help="broker config properties file")
    parser.add_argument(
        "-p", "--printConfigItem", action="store_true", help="print config and exit"
    )
    parser.parse_args(argv)
    print(
        "mqbroker: not yet: the broker lands with the Broker issue; only mqnamesrv runs today",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
