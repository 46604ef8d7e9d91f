"""The command-line tools as a user runs them: mqnamesrv, mqadmin and mqbroker in real processes.

Each CLI runs as ``python -m <module>`` with HOME set to the test's temporary home; the console
scripts installed in the venv are checked too. A user mistake must end with one line on stderr
and a non-zero status, never a traceback.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from rocketmq_py._transport import ConnectionPool
from rocketmq_py.protocol.codes import ResponseCode
from tests.broker.namesrv_helpers import register_request
from tests.conftest import ROOT, ServerProcess, start_namesrv_process

NAMESRV = "broker.namesrv.cli"
MQADMIN = "rocketmq_py.admin.cli"
MQBROKER = "broker.cli"


def run_cli(
    home: Path, module: str, *args: str, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m module args`` with HOME = ``home``."""
    env = {**os.environ, "HOME": str(home)}
    env.pop("NAMESRV_ADDR", None)
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=60,
        check=False,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> str:
    """The error is exactly one stderr line, names every needle, and shows no traceback."""
    err = proc.stderr
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], err
    return lines[0]


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- mqnamesrv ------------------------------------------------------------------------------


def test_namesrv_help_lists_config_keys(tmp_home: Path) -> None:
    proc = run_cli(tmp_home, NAMESRV, "--help")
    assert proc.returncode == 0, proc.stderr
    for key in ("listenPort", "bindAddress", "kvConfigPath", "orderMessageEnable"):
        assert key in proc.stdout


def test_namesrv_print_config(tmp_home: Path) -> None:
    proc = run_cli(tmp_home, NAMESRV, "-p")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "listenPort=9876" in lines
    assert "bindAddress=0.0.0.0" in lines
    assert "brokerChannelExpiredTime=120000" in lines
    assert not (tmp_home / "logs").exists(), "-p must not start logging or a server"


def test_namesrv_print_config_applies_file_and_flag(tmp_home: Path, tmp_path: Path) -> None:
    conf = tmp_path / "namesrv.conf"
    conf.write_text("orderMessageEnable=true\nlistenPort=9000\n")
    proc = run_cli(tmp_home, NAMESRV, "-c", str(conf), "--listenPort", "9100", "-p")
    assert proc.returncode == 0, proc.stderr
    assert "orderMessageEnable=true" in proc.stdout.splitlines()
    assert "listenPort=9100" in proc.stdout.splitlines()


def test_namesrv_bad_value_is_one_line_error(tmp_home: Path, tmp_path: Path) -> None:
    conf = tmp_path / "bad.conf"
    conf.write_text("listenPort=abc\n")
    proc = run_cli(tmp_home, NAMESRV, "-c", str(conf))
    assert proc.returncode != 0
    assert_one_line_error(proc, "listenPort", "abc")
    assert proc.stdout == ""


def test_namesrv_missing_config_file_is_one_line_error(tmp_home: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.conf"
    proc = run_cli(tmp_home, NAMESRV, "-c", str(missing))
    assert proc.returncode != 0
    assert_one_line_error(proc, "nowhere.conf")


def test_namesrv_unknown_key_warns(tmp_home: Path, tmp_path: Path) -> None:
    conf = tmp_path / "namesrv.conf"
    conf.write_text("noSuchSetting=1\n")
    proc = run_cli(tmp_home, NAMESRV, "-c", str(conf), "-p")
    assert proc.returncode == 0, proc.stderr
    line = assert_one_line_error(proc, "noSuchSetting")
    assert "warning" in line
    assert "listenPort=9876" in proc.stdout.splitlines()


def test_namesrv_boots_logs_and_stops_cleanly_on_sigterm(tmp_home: Path) -> None:
    server = start_namesrv_process(tmp_home)
    try:
        assert server.proc.poll() is None
        log_file = tmp_home / "logs" / "rocketmqlogs" / "namesrv.log"
        assert log_file.is_file()
        assert "boot success" in log_file.read_text()
    finally:
        # stop() sends SIGTERM (terminate) and returns the exit status.
        returncode = server.stop()
    assert returncode == 0, "".join(server.lines)
    assert server.proc.returncode == 0


def test_namesrv_sigint_also_exits_zero(tmp_home: Path) -> None:
    server = start_namesrv_process(tmp_home)
    try:
        server.proc.send_signal(signal.SIGINT)
        returncode = server.proc.wait(timeout=20)
    finally:
        server.stop()
    assert returncode == 0, "".join(server.lines)


def test_namesrv_port_in_use_is_one_line_error(
    tmp_home: Path, namesrv_process: ServerProcess
) -> None:
    proc = run_cli(tmp_home, NAMESRV, "--listenPort", str(namesrv_process.port))
    assert proc.returncode != 0
    assert_one_line_error(proc, str(namesrv_process.port))


# -- mqadmin --------------------------------------------------------------------------------


def test_mqadmin_help_lists_subcommands(tmp_home: Path) -> None:
    proc = run_cli(tmp_home, MQADMIN, "--help")
    assert proc.returncode == 0, proc.stderr
    for command in ("clusterList", "topicList", "topicRoute", "updateKvConfig", "getKvConfig"):
        assert command in proc.stdout


def test_mqadmin_subcommand_help(tmp_home: Path) -> None:
    proc = run_cli(tmp_home, MQADMIN, "clusterList", "--help")
    assert proc.returncode == 0, proc.stderr
    assert "--namesrvAddr" in proc.stdout
    assert "--clusterName" in proc.stdout


def test_mqadmin_unreachable_namesrv_is_one_line_error(tmp_home: Path) -> None:
    addr = f"127.0.0.1:{closed_port()}"
    proc = run_cli(tmp_home, MQADMIN, "topicRoute", "-n", addr, "-t", "T")
    assert proc.returncode == 1
    assert_one_line_error(proc, "topicRoute", addr)


def test_mqadmin_without_address_is_one_line_error(tmp_home: Path) -> None:
    proc = run_cli(tmp_home, MQADMIN, "topicList")
    assert proc.returncode == 1
    assert_one_line_error(proc, "NAMESRV_ADDR")


def test_mqadmin_bad_address_is_one_line_error(tmp_home: Path) -> None:
    proc = run_cli(tmp_home, MQADMIN, "topicList", "-n", "not-an-address")
    assert proc.returncode == 1
    assert_one_line_error(proc, "not-an-address")


def test_mqadmin_unknown_command_is_one_line_error(tmp_home: Path) -> None:
    proc = run_cli(tmp_home, MQADMIN, "bogusCommand")
    assert proc.returncode == 2
    assert_one_line_error(proc, "bogusCommand")


def test_mqadmin_missing_required_option_is_one_line_error(tmp_home: Path) -> None:
    proc = run_cli(tmp_home, MQADMIN, "topicRoute", "-n", "127.0.0.1:9876")
    assert proc.returncode == 2
    assert_one_line_error(proc, "--topic")


def test_mqadmin_topic_route_of_unknown_topic_is_one_line_error(
    tmp_home: Path, namesrv_process: ServerProcess
) -> None:
    proc = run_cli(tmp_home, MQADMIN, "topicRoute", "-n", namesrv_process.addr, "-t", "Nope")
    assert proc.returncode == 1
    assert_one_line_error(proc, "Nope")


def test_mqadmin_topic_list(tmp_home: Path, namesrv_process: ServerProcess) -> None:
    proc = run_cli(tmp_home, MQADMIN, "topicList", "-n", namesrv_process.addr)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""


def test_mqadmin_kv_config_round_trip(tmp_home: Path, namesrv_process: ServerProcess) -> None:
    addr = namesrv_process.addr
    ns, key, value = "ORDER_TOPIC_CONFIG", "Orders", "broker-a:4;broker-b:4"

    proc = run_cli(
        tmp_home, MQADMIN, "updateKvConfig", "-n", addr, "-s", ns, "-k", key, "-v", value
    )
    assert proc.returncode == 0, proc.stderr
    assert "success" in proc.stdout

    proc = run_cli(tmp_home, MQADMIN, "getKvConfig", "-n", addr, "-s", ns, "-k", key)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == value

    proc = run_cli(tmp_home, MQADMIN, "getKvConfig", "-n", addr, "-s", ns)
    assert proc.returncode == 0, proc.stderr
    assert f"{key}={value}" in proc.stdout.splitlines()

    # The name server (same HOME) persisted it.
    assert value in (tmp_home / "namesrv" / "kvConfig.json").read_text()

    proc = run_cli(tmp_home, MQADMIN, "deleteKvConfig", "-n", addr, "-s", ns, "-k", key)
    assert proc.returncode == 0, proc.stderr
    assert "success" in proc.stdout

    proc = run_cli(tmp_home, MQADMIN, "getKvConfig", "-n", addr, "-s", ns, "-k", key)
    assert proc.returncode == 1
    assert_one_line_error(proc, key)


@pytest.mark.anyio
async def test_mqadmin_cluster_list_shows_registered_broker(
    tmp_home: Path, namesrv_process: ServerProcess
) -> None:
    # A broker address nobody listens on: clusterList must still print the row.
    broker_addr = f"127.0.0.1:{closed_port()}"
    async with ConnectionPool() as pool:
        response = await pool.request(
            namesrv_process.addr,
            register_request("broker-cli", broker_addr, {"CliTopic": 4}, cluster="CliCluster"),
            timeout=10,
        )
        assert response.code == ResponseCode.SUCCESS, response.remark
        # Keep the registering connection open: the name server forgets a broker whose
        # channel closes.
        proc = await anyio.to_thread.run_sync(
            lambda: run_cli(tmp_home, MQADMIN, "clusterList", "-n", namesrv_process.addr)
        )
        topics = await anyio.to_thread.run_sync(
            lambda: run_cli(tmp_home, MQADMIN, "topicList", "-n", namesrv_process.addr)
        )
        route = await anyio.to_thread.run_sync(
            lambda: run_cli(
                tmp_home, MQADMIN, "topicRoute", "-n", namesrv_process.addr, "-t", "CliTopic", "-l"
            )
        )
    assert proc.returncode == 0, proc.stderr
    rows = [line.split() for line in proc.stdout.splitlines()]
    assert rows[0][0] == "#Cluster"
    assert ["CliCluster", "broker-cli", "0", broker_addr] in [row[:4] for row in rows[1:]]

    assert topics.returncode == 0, topics.stderr
    assert "CliTopic" in topics.stdout.splitlines()

    assert route.returncode == 0, route.stderr
    assert "broker-cli" in route.stdout
    assert broker_addr in route.stdout


# -- mqbroker -------------------------------------------------------------------------------


def test_mqbroker_help(tmp_home: Path) -> None:
    proc = run_cli(tmp_home, MQBROKER, "--help")
    assert proc.returncode == 0, proc.stderr
    assert "mqbroker" in proc.stdout
    assert "--namesrvAddr" in proc.stdout


# -- console scripts ------------------------------------------------------------------------


@pytest.mark.parametrize("script", ["mqnamesrv", "mqadmin", "mqbroker"])
def test_console_script_installed(script: str) -> None:
    path = Path(sys.executable).parent / script
    assert path.is_file(), f"{path} missing: run pip install -e . in this venv"
    assert os.access(path, os.X_OK)


def test_console_script_mqadmin_help_runs(tmp_home: Path, tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "mqadmin"
    env = {**os.environ, "HOME": str(tmp_home)}
    # Run from outside the checkout so the installed package (not the cwd) is what answers.
    proc = subprocess.run(
        [str(script), "--help"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "clusterList" in proc.stdout


def test_console_script_mqnamesrv_print_config(tmp_home: Path, tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "mqnamesrv"
    env = {**os.environ, "HOME": str(tmp_home)}
    proc = subprocess.run(
        [str(script), "-p"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "listenPort=9876" in proc.stdout.splitlines()
