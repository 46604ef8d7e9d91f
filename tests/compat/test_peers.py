"""Real RocketMQ clients (rocketmq-client-cpp and ali-ons) against our name server and broker.

The peers are installed by ``../shared/peers/install.sh`` (``.ci/run`` does it); each run
produces, consumes with a fresh group, and exits 0 only if every expected message arrived.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.conftest import SHARED, ServerProcess

PEERS = SHARED / "peers"
PEERS_DIR = Path(os.environ.get("PEERS_DIR", "/tmp/peers"))

pytestmark = pytest.mark.peers


def _require(peer: str) -> None:
    marker = PEERS_DIR / ("venv-cpp" if peer == "cpp" else "node-ali-ons")
    if not marker.exists():
        pytest.fail(f"peer {peer} is not installed: run `bash {PEERS}/install.sh` (CI does)")


def _run(peer: str, namesrv: ServerProcess, *args: str, timeout: float = 120) -> None:
    _require(peer)
    topic = f"Peer{peer.replace('-', '')}{uuid.uuid4().hex[:8]}"
    if peer == "ali-ons":
        # ali-ons does not publish through TBW102: like the captured run, create the topic first.
        subprocess.run(
            [
                sys.executable,
                "-m",
                "rocketmq_py.admin.cli",
                "updateTopic",
                "-n",
                namesrv.addr,
                "-c",
                "DefaultCluster",
                "-t",
                topic,
                "-r",
                "4",
                "-w",
                "4",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
    env = {**os.environ, "NAMESRV": namesrv.addr, "TOPIC": topic, "PEERS_DIR": str(PEERS_DIR)}
    proc = subprocess.run(  # noqa: PLW1510 - the exit status is what the test checks
        ["bash", str(PEERS / "run_peer.sh"), peer, *args, "--timeout", "60"],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, (
        f"{peer} {' '.join(args)} exited {proc.returncode}\nstdout:\n{proc.stdout[-4000:]}\n"
        f"stderr:\n{proc.stderr[-4000:]}"
    )


@pytest.mark.parametrize("consume", ["push", "pull"])
def test_cpp_peer(cluster_processes: tuple[ServerProcess, ServerProcess], consume: str) -> None:
    namesrv, _ = cluster_processes
    _run("cpp", namesrv, "-n", "10", "--features", "sync,oneway,batch,delay", "--consume", consume)


def test_ali_ons_peer(cluster_processes: tuple[ServerProcess, ServerProcess]) -> None:
    namesrv, _ = cluster_processes
    _run("ali-ons", namesrv, "-n", "10", "--features", "sync,delay")


def test_cpp_orderly_peer(cluster_processes: tuple[ServerProcess, ServerProcess]) -> None:
    """Sharding-key sends consumed by cpp's orderly push consumer (LOCK/UNLOCK_BATCH_MQ)."""
    namesrv, _ = cluster_processes
    _run("cpp", namesrv, "-n", "12", "--features", "orderly", "--consume", "orderly")


def test_ali_ons_orderly_peer(cluster_processes: tuple[ServerProcess, ServerProcess]) -> None:
    """ali-ons sharding-key sends: each key stays on one queue, in order."""
    namesrv, _ = cluster_processes
    _run("ali-ons", namesrv, "-n", "12", "--features", "orderly")
