"""Name server settings, with Apache's keys (``NamesrvConfig`` + ``NettyServerConfig``)."""

from __future__ import annotations

from typing import Any

from broker._config import Setting, Settings, port_number, positive

__all__ = ["NAMESRV_SETTINGS", "namesrv_settings"]

NAMESRV_SETTINGS: tuple[Setting[Any], ...] = (
    Setting("listenPort", int, 9876, "TCP port to listen on (0 picks a free port)", port_number),
    Setting("bindAddress", str, "0.0.0.0", "address to bind"),
    Setting(
        "kvConfigPath",
        str,
        "${user.home}/namesrv/kvConfig.json",
        "where KV config (order topic config, ...) is persisted",
    ),
    Setting(
        "configStorePath", str, "${user.home}/namesrv/namesrv.properties", "unused", used=False
    ),
    Setting("rocketmqHome", str, "", "unused: rocketmq-py needs no ROCKETMQ_HOME", used=False),
    Setting("productEnvName", str, "center", "unused", used=False),
    Setting("clusterTest", bool, False, "unused", used=False),
    Setting(
        "orderMessageEnable",
        bool,
        False,
        "add orderTopicConf from the ORDER_TOPIC_CONFIG KV namespace to topic routes",
    ),
    Setting(
        "scanNotActiveBrokerInterval",
        int,
        5000,
        "ms between scans for brokers that stopped registering",
        positive,
    ),
    Setting(
        "brokerChannelExpiredTime",
        int,
        120000,
        "ms without REGISTER_BROKER after which a broker is removed (unless it sent its own)",
        positive,
    ),
    Setting("serverChannelMaxIdleTimeSeconds", int, 120, "unused", used=False),
    Setting("serverWorkerThreads", int, 8, "unused: one event loop", used=False),
    Setting("serverCallbackExecutorThreads", int, 0, "unused", used=False),
    Setting("serverSelectorThreads", int, 3, "unused", used=False),
    Setting("serverOnewaySemaphoreValue", int, 256, "unused", used=False),
    Setting("serverAsyncSemaphoreValue", int, 64, "unused", used=False),
    Setting("serverSocketSndBufSize", int, 0, "unused", used=False),
    Setting("serverSocketRcvBufSize", int, 0, "unused", used=False),
    Setting("serverPooledByteBufAllocatorEnable", bool, True, "unused", used=False),
    Setting("useEpollNativeSelector", bool, False, "unused", used=False),
)


def namesrv_settings() -> Settings:
    """Fresh settings holding the defaults."""
    return Settings(NAMESRV_SETTINGS)
