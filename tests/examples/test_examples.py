"""Every example in ``examples/`` runs to completion (a new example is picked up automatically)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
# What an example must print to prove it did its job, beyond exiting 0.
EXPECTED_OUTPUT = {
    "quickstart.py": "quickstart OK",
    "lite_pull.py": "lite pull OK",
    "push_consumer.py": "push consumer OK",
    "sync_client.py": "sync client OK",
    "mqadmin_usage.py": "mqadmin usage OK",
    "transaction_producer.py": "transaction producer OK",
    "traced_pipeline.py": "traced pipeline OK",
    "decorator_app.py": "decorator app OK",
    "many_in_flight.py": "many in flight OK",
}


def test_examples_exist() -> None:
    assert EXAMPLES, "examples/ has no scripts"
    assert set(EXPECTED_OUTPUT) <= {path.name for path in EXAMPLES}


def _text(output: str | bytes | None) -> str:
    # TimeoutExpired holds bytes even when the run used text=True.
    if isinstance(output, bytes):
        return output.decode(errors="replace")
    return output or ""


@pytest.mark.parametrize("example", EXAMPLES, ids=[path.name for path in EXAMPLES])
def test_example_runs(example: Path, tmp_home: Path) -> None:
    env = {**os.environ, "HOME": str(tmp_home)}
    env.pop("NAMESRV_ADDR", None)
    try:
        proc = subprocess.run(
            [sys.executable, str(example)],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            timeout=180,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(
            f"{example.name} did not finish in {exc.timeout} s:\n"
            f"{_text(exc.stdout)}\n{_text(exc.stderr)}"
        )
    assert proc.returncode == 0, (
        f"{example.name} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    expected = EXPECTED_OUTPUT.get(example.name)
    if expected is not None:
        assert expected in proc.stdout, proc.stdout
