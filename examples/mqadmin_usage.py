"""``mqadmin`` against a local cluster: create a topic, send, look messages up, check progress.

Runs the real command line (``python -m rocketmq_py.admin.cli``, installed as ``mqadmin``).
``python examples/mqadmin_usage.py``.
"""

from __future__ import annotations

import subprocess
import sys

from rocketmq_py.testing import LocalCluster


def mqadmin(*args: str) -> str:
    """Run one sub-command, echo it and its output."""
    print(f"$ mqadmin {' '.join(args)}")
    out = subprocess.run(
        [sys.executable, "-m", "rocketmq_py.admin.cli", *args],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    print(out, end="")
    return out


def main() -> None:
    with LocalCluster() as cluster:
        n = cluster.namesrv_addr
        mqadmin("clusterList", "-n", n)
        mqadmin(
            "updateTopic", "-n", n, "-c", "DefaultCluster", "-t", "AdminDemo", "-r", "4", "-w", "4"
        )
        mqadmin(
            "sendMessage",
            "-n",
            n,
            "-t",
            "AdminDemo",
            "-p",
            "hello admin",
            "-k",
            "demo-key",
            "-c",
            "TagA",
        )
        assert "AdminDemo" in mqadmin("topicList", "-n", n)
        mqadmin("topicStatus", "-n", n, "-t", "AdminDemo")
        assert "#Message ID" in mqadmin(
            "queryMsgByKey", "-n", n, "-t", "AdminDemo", "-k", "demo-key"
        )
        mqadmin("consumeMessage", "-n", n, "-t", "AdminDemo", "-c", "1")
    print("mqadmin usage OK")


if __name__ == "__main__":
    main()
