"""The benchmark scripts as a user runs them: ``--help``, a bad argument, one small real run.

Nothing here measures speed (benchmarks print figures; tests never assert them). What is
checked is that every script in ``benchmarks/`` still starts, documents itself, refuses a bad
argument in one line without a traceback, and that the producer benchmark still produces its
table against real servers, so a change elsewhere cannot quietly break the tools the figures in
``docs/benchmarks.md`` come from.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.test_cli import assert_one_line_error

BENCHMARKS = ROOT / "benchmarks"
SCRIPTS = sorted(p.name for p in BENCHMARKS.glob("*.py") if not p.name.startswith("_"))


def run_script(
    home: Path, name: str, *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``python benchmarks/<name> args`` with HOME = ``home`` (brokers log under it)."""
    env = {**os.environ, "HOME": str(home)}
    env.pop("NAMESRV_ADDR", None)
    return subprocess.run(
        [sys.executable, str(BENCHMARKS / name), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=timeout,
        check=False,
    )


def test_every_benchmark_is_found() -> None:
    # A glob that matched nothing would make the parametrized tests below vacuous.
    assert {"producer_bench.py", "send_path_bench.py", "cpp_producer_driver.py"} <= set(SCRIPTS)


@pytest.mark.parametrize("name", SCRIPTS)
def test_help_documents_the_script(name: str, tmp_path: Path) -> None:
    proc = run_script(tmp_path, name, "--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: "), proc.stdout
    assert name in proc.stdout
    assert proc.stderr == ""


@pytest.mark.parametrize("name", SCRIPTS)
def test_bad_argument_is_one_line(name: str, tmp_path: Path) -> None:
    # The cpp driver checks its two required options first: give them.
    required = (
        ["--namesrv", "127.0.0.1:1", "--topic", "T"] if name == "cpp_producer_driver.py" else []
    )
    proc = run_script(tmp_path, name, *required, "--no-such-option")
    assert proc.returncode == 2
    assert_one_line_error(proc, f"{name}: error:", "--no-such-option")


def test_cpp_driver_without_the_binding_says_where_to_run_it(tmp_path: Path) -> None:
    # This interpreter has no rocketmq-client-python: the driver says so in one line.
    proc = run_script(
        tmp_path, "cpp_producer_driver.py", "--namesrv", "127.0.0.1:1", "--topic", "T"
    )
    assert proc.returncode == 2
    assert_one_line_error(proc, "rocketmq", "venv-cpp")


def test_producer_bench_small_run_prints_every_row(tmp_path: Path) -> None:
    proc = run_script(
        tmp_path,
        "producer_bench.py",
        "--sync-messages", "40",
        "--async-messages", "64",
        "--inflight", "8",
        "--batch-messages", "64",
        "--batch-size", "8",
        "--warmup", "4",
        "--no-cpp",
        "--json",
        timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    rows = {(row["client"], row["mode"]): row for row in report["rows"]}
    assert set(rows) == {
        ("rocketmq-py", "sync"),
        ("rocketmq-py", "sync (blocking)"),
        ("floor", "sync"),
        ("rocketmq-py", "async x8"),
        ("rocketmq-py", "async x8 auto-batch"),
        ("rocketmq-py", "batch 8"),
    }
    assert rows["rocketmq-py", "sync"]["messages"] == 40
    assert rows["rocketmq-py", "async x8"]["messages"] == 64
    assert rows["rocketmq-py", "async x8 auto-batch"]["messages"] == 64
    assert rows["rocketmq-py", "batch 8"]["messages"] == 64
    for row in rows.values():
        assert row["msgs_per_s"] > 0
        assert row["p99_us"] >= row["p50_us"] > 0


def test_producer_bench_table(tmp_path: Path) -> None:
    proc = run_script(
        tmp_path,
        "producer_bench.py",
        "--sync-messages", "20",
        "--async-messages", "16",
        "--inflight", "4",
        "--batch-messages", "16",
        "--batch-size", "4",
        "--warmup", "2",
        "--no-cpp",
        "--no-floor",
        timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("client "))
    assert set(lines[header + 1]) == {"-"}
    body = lines[header + 2 : header + 7]
    assert [line.split()[:2] for line in body] == [
        ["rocketmq-py", "sync"],
        ["rocketmq-py", "sync"],  # "sync (blocking)"
        ["rocketmq-py", "async"],
        ["rocketmq-py", "async"],  # "async x4 auto-batch"
        ["rocketmq-py", "batch"],
    ]
    # Columns line up: every row's msgs/s ends where the header's does.
    end = lines[header].index("msgs/s") + len("msgs/s")
    for line in body:
        assert line[end - 1].isdigit() and line[end] == " ", line
