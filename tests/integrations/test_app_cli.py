"""``rocketmq-py run module:app`` as a real subprocess against a real name server and broker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from rocketmq_py import AsyncProducer, Message
from rocketmq_py.testing import LocalCluster
from tests.conftest import ROOT
from tests.integrations.test_app import create_topics

SCRIPT = Path(sys.executable).parent / "rocketmq-py"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with LocalCluster(tmp_path_factory.mktemp("cli-cluster")) as c:
        yield c


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def test_help() -> None:
    proc = run_cli("run", "--help")
    assert proc.returncode == 0
    for option in ("MODULE:APP", "--namesrv", "--concurrency", "--log-level"):
        assert option in proc.stdout


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["run", "no_colon"], "expected MODULE:APP"),
        (["run", "no_such_module_xyz:app"], "no module named 'no_such_module_xyz'"),
        (["run", "tests.integrations.sample_app:missing"], "has no attribute 'missing'"),
        (["run", "tests.integrations.sample_app:not_an_app"], "is a object, not a RocketMQApp"),
        (["run", "tests.integrations.sample_app:app"], "no name server"),
        (
            ["run", "tests.integrations.sample_app:app", "--namesrv", "127.0.0.1:1"],
            "cannot reach name server 127.0.0.1:1",
        ),
        (["run", "x:app", "--concurrency", "0"], "must be at least 1"),
        (["run", "x:app", "--log-level", "loud"], "invalid choice: 'loud'"),
        (["bogus"], "invalid choice: 'bogus'"),
    ],
)
def test_user_mistakes_are_one_line_and_exit_2(args: list[str], error: str) -> None:
    proc = run_cli(*args)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert error in lines[0]


def _wait_for_output(path: Path, text: str, proc: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        out = path.read_text(errors="replace")
        if text in out:
            return out
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    pytest.fail(f"no {text!r} in the output:\n{path.read_text(errors='replace')}")


def test_run_prints_subscriptions_handles_messages_and_stops_on_sigterm(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    suffix = uuid.uuid4().hex[:8]
    orders, invoices = f"SampleOrders{suffix}", f"SampleInvoices{suffix}"

    async def prepare() -> None:
        await create_topics(cluster, orders, invoices)

    anyio.run(prepare)
    out = tmp_path / "out.txt"
    env = {**os.environ, "SAMPLE_APP_SUFFIX": suffix}
    with out.open("wb") as sink:
        proc = subprocess.Popen(
            [
                str(SCRIPT),
                "run",
                "tests.integrations.sample_app:app",
                "--namesrv",
                cluster.namesrv_addr,
                "--concurrency",
                "4",
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env=env,
        )
    try:
        started = _wait_for_output(out, "rocketmq-py: running", proc)

        async def publish() -> None:
            async with AsyncProducer(f"cli-test-{suffix}", cluster.namesrv_addr) as producer:
                await producer.send(Message(orders, b'{"id": 1, "total": 9.5}', tags="Created"))

        anyio.run(publish)
        _wait_for_output(out, "mail {'order': 1, 'amount': 9.5}", proc)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    output = out.read_text()
    assert (
        f"rocketmq-py: subscribed topic={orders} tags=Created || Paid "
        f"group=sample-billing{suffix} model=clustering "
        "handler=tests.integrations.sample_app.bill"
    ) in started
    assert (
        f"rocketmq-py: subscribed topic={orders} tags=* group=sample-audit{suffix} "
        "model=broadcasting handler=tests.integrations.sample_app.audit"
    ) in started
    assert f"topic={invoices} tags=Invoice group=sample-mail{suffix}" in started
    assert 'audit Created b\'{"id": 1, "total": 9.5}\'' in output
    assert "SIGTERM: stopping" in output
    assert output.rstrip().endswith("rocketmq-py: stopped")
    assert "Traceback" not in output
