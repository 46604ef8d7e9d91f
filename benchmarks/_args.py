"""What every benchmark CLI here shares: an argument parser whose errors take one line.

Not a benchmark itself (the leading underscore); the scripts import it from their own folder,
which Python puts first on ``sys.path`` when one of them runs.
"""

from __future__ import annotations

import argparse
from typing import NoReturn


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse that reports a bad argument in one line (no usage dump) and exits with 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")
