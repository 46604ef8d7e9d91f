"""Static checks as part of the suite: ruff lint, ruff format and mypy (strict) are clean.

The tools come from the venv running the tests (``sys.executable``'s directory), so the versions
pinned by the ``dev`` extra are the ones that judge.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

BIN = Path(sys.executable).parent


def _run_tool(name: str, *args: str) -> None:
    tool = BIN / name
    if not tool.is_file():
        pytest.skip(f"{name} is not installed in {BIN} (pip install -e '.[dev]')")
    proc = subprocess.run(
        [str(tool), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(
            f"{name} {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}",
            pytrace=False,
        )


def test_ruff_check() -> None:
    _run_tool("ruff", "check", "--no-cache", ".")


def test_ruff_format() -> None:
    _run_tool("ruff", "format", "--no-cache", "--check", ".")


def test_mypy() -> None:
    _run_tool("mypy")
