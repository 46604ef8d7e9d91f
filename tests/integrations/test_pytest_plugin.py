"""The pytest plugin (entry point ``rocketmq_py``) in a pytest run of its own, via pytester."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

INNER_TEST = """
import anyio
import pytest

from rocketmq_py import AsyncProducer, Message, SendStatus


def test_cluster_fixtures(rocketmq_cluster, rocketmq_namesrv_addr):
    assert rocketmq_namesrv_addr == rocketmq_cluster.namesrv_addr

    async def send():
        async with AsyncProducer("PluginPG", rocketmq_namesrv_addr) as producer:
            return await producer.send(Message("PluginTopic", b"hello"))

    assert anyio.run(send).status is SendStatus.SEND_OK


def test_same_cluster_for_the_session(rocketmq_cluster, rocketmq_namesrv_addr):
    assert rocketmq_namesrv_addr.startswith("127.0.0.1:")
"""


def test_plugin_fixtures_start_a_real_cluster(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_inner=INNER_TEST)
    result = pytester.runpytest_subprocess("-v")  # the entry point loads the plugin
    result.assert_outcomes(passed=2)


def test_plugin_is_loaded_by_its_entry_point_and_starts_nothing_unused(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_unused="""
import sys

def test_nothing_imported(request):
    assert request.config.pluginmanager.has_plugin("rocketmq_py")
    assert "rocketmq_py.testing" not in sys.modules
    assert "rocketmq_py" not in sys.modules
"""
    )
    result = pytester.runpytest_subprocess("--fixtures")
    result.stdout.fnmatch_lines(["*rocketmq_cluster*", "*rocketmq_namesrv_addr*"])
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)
